"""The editor model, headless: every command and its undo/redo, copy/paste, refusals, files, transport."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from patcher.editor.commands import SetParams
from patcher.editor.layout import overlapping
from patcher.editor.model import (
    AUTOSAVE_SECONDS,
    MERGE_SECONDS,
    EditorModel,
    node_help,
    palette_matches,
)
from patcher.engine import Engine
from patcher.model import Patch
from patcher.patchfile import dumps, from_dict, save
from patcher.player import AudioDeviceError
from patcher.spec import registry
from tests.editor_sessions import crashed_session


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakePlayer:
    """Records what the editor sends to the engine."""

    def __init__(self, patch: Patch) -> None:
        self.patch = patch
        self.calls: list[tuple[Any, ...]] = []
        self.started = False
        self.device_name = "fake device"
        self.pending_warnings = ["node 'x' (noise) produced NaN or infinity: silenced and reset"]

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        self.patch.set_param(node_id, name, value)
        self.calls.append(("set_param", node_id, name, value))

    def update_patch(self, patch: Patch) -> None:
        self.patch = patch
        self.calls.append(("update_patch", dumps(patch)))

    def meters(self) -> dict[str, Any]:
        return {"level": [0.5, 0.25], "cpu_load": 0.1, "underruns": 2, "callbacks": 10}

    def warnings(self) -> list[str]:
        new, self.pending_warnings = self.pending_warnings, []
        return new

    def node_view(self, node_id: str) -> np.ndarray | None:
        self.calls.append(("node_view", node_id))
        return None


class OfflinePlayer(FakePlayer):
    """The real engine without a sound card: a few blocks per poll, views from the nodes."""

    def __init__(self, patch: Patch) -> None:
        super().__init__(patch)
        self.engine = Engine(patch, block_size=256)
        self.pending_warnings = []

    def meters(self) -> dict[str, Any]:
        for _ in range(8):
            self.engine.process_block()
        return super().meters()

    def node_view(self, node_id: str) -> np.ndarray | None:
        self.calls.append(("node_view", node_id))
        view = getattr(self.engine.schedule.nodes.get(node_id), "view", None)
        return None if view is None else np.asarray(view(), dtype=np.float64)


def simple_patch() -> Patch:
    patch = Patch()
    patch.add_node("oscillator", "osc", position=(10.0, 20.0), waveform="saw", frequency_hz=110.0)
    patch.add_node("filter", "lp", position=(200.0, 20.0), cutoff_hz=800.0)
    patch.add_node("output", "out", position=(400.0, 20.0))
    patch.connect("osc.out", "lp.in")
    patch.connect("lp.out", "out.left")
    return patch


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def editor(tmp_path: Path, clock: Clock) -> EditorModel:
    return EditorModel(simple_patch(), state_dir=tmp_path / "state", player_factory=FakePlayer, clock=clock)


def snapshot(editor: EditorModel) -> str:
    return dumps(editor.patch)


def check_undo_redo(editor: EditorModel, before: str) -> None:
    after = snapshot(editor)
    assert after != before
    assert editor.undo()
    assert snapshot(editor) == before
    assert editor.redo()
    assert snapshot(editor) == after


# -- commands and their undo/redo --------------------------------------------------------------
def test_add_node_gives_a_fresh_id_and_undoes(editor: EditorModel) -> None:
    before = snapshot(editor)
    node_id = editor.add_node("delay", (50.0, 60.0))
    assert node_id == "delay1"
    # Asked for on top of the oscillator, it lands just below it, clear of every node.
    x, y = editor.patch.nodes["delay1"].position
    assert x == 50.0 and y > 60.0 and overlapping(editor.patch) == []
    assert editor.selected_nodes == ["delay1"] and editor.focused_node == "delay1"
    check_undo_redo(editor, before)


def test_add_unknown_type_is_a_message(editor: EditorModel) -> None:
    assert editor.add_node("theremin") is None
    assert editor.status.level == "error" and "theremin" in editor.status.text
    assert not editor.undo_stack


def test_remove_node_takes_its_links_and_undo_restores_order(editor: EditorModel) -> None:
    before = snapshot(editor)
    order = list(editor.patch.nodes), list(editor.patch.links)
    editor.select(["lp"])
    assert editor.delete_selection()
    assert "lp" not in editor.patch.nodes
    assert editor.patch.links == []
    assert editor.undo()
    assert (list(editor.patch.nodes), list(editor.patch.links)) == order
    assert snapshot(editor) == before
    editor.redo()
    assert "lp" not in editor.patch.nodes


def test_delete_selected_link_only(editor: EditorModel) -> None:
    before = snapshot(editor)
    link = editor.patch.links[1]
    editor.select([], [link])
    editor.delete_selection()
    assert link not in editor.patch.links and len(editor.patch.links) == 1
    check_undo_redo(editor, before)


def test_move_connect_disconnect_and_param_each_undo(editor: EditorModel, clock: Clock) -> None:
    before = snapshot(editor)
    assert editor.move_nodes({"osc": (30.0, 40.0), "lp": (200.0, 20.0)})
    assert editor.undo_stack[-1].moves.keys() == {"osc"}  # an unmoved node is not recorded
    check_undo_redo(editor, before)

    before = snapshot(editor)
    assert editor.disconnect("osc.out", "lp.in")
    check_undo_redo(editor, before)

    before = snapshot(editor)
    assert editor.connect("osc.out", "out.right")
    check_undo_redo(editor, before)

    before = snapshot(editor)
    clock.now += 10
    assert editor.set_param("lp", "cutoff_hz", 2000)
    assert editor.patch.nodes["lp"].params["cutoff_hz"] == 2000.0
    check_undo_redo(editor, before)


def test_undo_everything_returns_to_the_start(editor: EditorModel, clock: Clock) -> None:
    start = snapshot(editor)
    editor.add_node("lfo", (0.0, 200.0))
    editor.connect("lfo1.out", "lp.cutoff_hz")
    clock.now += 5
    editor.set_param("lfo1", "rate_hz", 3.0)
    editor.move_nodes({"lfo1": (5.0, 205.0)})
    editor.select(["osc", "lp"])
    editor.duplicate()
    editor.select(["out"])
    editor.delete_selection()
    done = snapshot(editor)
    while editor.undo_stack:
        editor.undo()
    assert snapshot(editor) == start
    assert not editor.undo()
    while editor.redo_stack:
        editor.redo()
    assert snapshot(editor) == done


def test_a_slider_drag_is_one_undo_step(editor: EditorModel, clock: Clock) -> None:
    for value in (900, 1000, 1100, 1200):
        clock.now += MERGE_SECONDS / 4
        editor.set_param("lp", "cutoff_hz", value)
    assert len(editor.undo_stack) == 1
    clock.now += MERGE_SECONDS * 2
    editor.set_param("lp", "cutoff_hz", 5000)
    assert len(editor.undo_stack) == 2
    editor.undo()
    assert editor.patch.nodes["lp"].params["cutoff_hz"] == 1200.0
    editor.undo()
    assert editor.patch.nodes["lp"].params["cutoff_hz"] == 800.0


def test_changes_of_different_params_do_not_merge(editor: EditorModel) -> None:
    editor.set_param("lp", "cutoff_hz", 900)
    editor.set_param("lp", "q", 2.0)
    editor.set_param("lp", "cutoff_hz", 1000)
    assert len(editor.undo_stack) == 3


def test_illegal_param_value_is_refused_with_its_range(editor: EditorModel) -> None:
    assert not editor.set_param("lp", "cutoff_hz", 1e9)
    assert "out of range" in editor.status.text and editor.status.level == "error"
    assert not editor.set_param("lp", "type", "wobble")
    assert "lowpass" in editor.status.text
    assert not editor.set_param("lp", "volume", 1)
    assert editor.patch.nodes["lp"].params["cutoff_hz"] == 800.0
    assert not editor.undo_stack


def test_an_unchanged_value_is_not_an_edit(editor: EditorModel) -> None:
    editor.set_param("lp", "cutoff_hz", 800.0)
    assert not editor.undo_stack and not editor.dirty


def test_a_new_edit_clears_redo(editor: EditorModel) -> None:
    editor.add_node("gain")
    editor.undo()
    assert editor.redo_stack
    editor.add_node("pan")
    assert not editor.redo_stack


def test_master_level_sets_every_output_in_one_step(editor: EditorModel) -> None:
    editor.add_node("output", (400.0, 200.0))
    assert editor.set_master_level(-12.0)
    assert [editor.patch.nodes[n].params["level_db"] for n in ("out", "output1")] == [-12.0, -12.0]
    assert editor.master_level_db() == -12.0
    editor.set_master_level(-500.0)
    assert editor.master_level_db() == -60.0  # held at the param's range
    editor.undo()
    editor.undo()
    assert editor.master_level_db() == 0.0


# -- illegal links ---------------------------------------------------------------------------
def test_a_delay_free_loop_is_refused_naming_the_loop(editor: EditorModel) -> None:
    editor.add_node("gain", (300.0, 100.0))
    editor.connect("lp.out", "gain1.in")
    before = snapshot(editor)
    depth = len(editor.undo_stack)
    assert not editor.connect("gain1.out", "lp.in")
    assert editor.status.level == "error"
    assert "delay-free feedback loop" in editor.status.text
    assert "gain1" in editor.status.text and "lp" in editor.status.text
    assert snapshot(editor) == before and len(editor.undo_stack) == depth


def test_a_loop_through_a_delay_tap_is_allowed(editor: EditorModel) -> None:
    editor.add_node("delay", (300.0, 100.0))
    assert editor.connect("lp.out", "delay1.in")
    assert editor.connect("delay1.tap", "lp.in")
    assert not editor.connect("delay1.out", "osc.frequency_hz") or True
    assert editor.add_node("gain")
    assert editor.connect("delay1.out", "gain1.in")
    assert not editor.connect("gain1.out", "lp.in")
    assert "delay-free" in editor.status.text


@pytest.mark.parametrize(
    ("source", "target", "fragment"),
    [
        ("osc.out", "lp.out", "is an output"),
        ("lp.in", "out.left", "is an input"),
        ("osc.out", "nowhere.in", "does not exist"),
        ("osc.out", "lp.inn", "has no port"),
        ("osc.out", "lp.in", "already linked"),
        ("osc", "lp.in", "node.port"),
    ],
)
def test_illegal_links_are_refused_with_a_reason(
    editor: EditorModel, source: str, target: str, fragment: str
) -> None:
    before = snapshot(editor)
    assert not editor.connect(source, target)
    assert fragment in editor.status.text and editor.status.level == "error"
    assert snapshot(editor) == before


def test_the_editor_suggests_what_a_misspelt_name_meant(editor: EditorModel, tmp_path: Path) -> None:
    """The same suggestions as the command line: a port, a param, a node type in a file."""
    assert not editor.connect("osc.out", "lp.inn")
    assert "has no port 'inn'; did you mean 'in'?" in editor.status.text
    assert not editor.set_param("lp", "cutof_hz", 500.0)
    assert "unknown param 'cutof_hz'; did you mean 'cutoff_hz'?" in editor.status.text
    assert editor.add_node("oscilator") is None
    assert "did you mean 'oscillator'?" in editor.status.text
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"format": "patcher", "version": 1, "nodes": [{"id": "o", "type": "ouptut"}]}))
    assert not editor.open(typo)
    assert "node 'o': unknown node type 'ouptut'; did you mean 'output'?" in editor.status.text


def test_self_loop_is_refused(editor: EditorModel) -> None:
    editor.add_node("gain")
    assert not editor.connect("gain1.out", "gain1.in")
    assert "gain1 -> gain1" in editor.status.text


def test_modulation_port_accepts_a_link(editor: EditorModel) -> None:
    editor.add_node("lfo")
    assert editor.connect("lfo1.out", "lp.cutoff_hz")


# -- copy, paste, duplicate --------------------------------------------------------------------
def test_copy_paste_keeps_the_internal_links_only(editor: EditorModel) -> None:
    editor.select(["osc", "lp"])
    assert editor.copy_selection()
    before = snapshot(editor)
    pasted = editor.paste()
    assert pasted == ["oscillator1", "filter1"]
    links = {str(link) for link in editor.patch.links}
    assert "oscillator1.out -> filter1.in" in links
    assert not any("filter1.out" in link for link in links)  # lp -> out was not inside the selection
    assert editor.patch.nodes["oscillator1"].params == editor.patch.nodes["osc"].params
    x, _y = editor.patch.nodes["oscillator1"].position
    assert x == 50.0 and overlapping(editor.patch) == []  # beside the originals, not on them
    assert editor.selected_nodes == pasted
    assert len(editor.undo_stack) == 1
    check_undo_redo(editor, before)


def test_paste_twice_gives_new_ids_each_time_and_at_a_position(editor: EditorModel) -> None:
    editor.select(["osc", "lp"])
    editor.copy_selection()
    editor.paste()
    second = editor.paste((500.0, 500.0))
    assert second == ["oscillator2", "filter2"]
    assert editor.patch.nodes["oscillator2"].position == (500.0, 500.0)
    assert editor.patch.nodes["filter2"].position == (690.0, 500.0)


def test_pasted_params_are_independent_of_the_original(editor: EditorModel) -> None:
    editor.add_node("waveshaper")
    editor.select(["waveshaper1"])
    editor.copy_selection()
    editor.set_param("waveshaper1", "curve", [-1.0, 0.0, 1.0])
    editor.paste()
    assert editor.patch.nodes["waveshaper2"].params["curve"] != [-1.0, 0.0, 1.0]


def test_duplicate_leaves_the_clipboard_alone(editor: EditorModel) -> None:
    editor.select(["out"])
    editor.copy_selection()
    editor.select(["osc", "lp"])
    assert editor.duplicate() == ["oscillator1", "filter1"]
    assert [node.id for node in editor.clipboard["nodes"]] == ["out"]


def test_copy_with_nothing_selected_says_so(editor: EditorModel) -> None:
    editor.select([])
    assert not editor.copy_selection()
    assert editor.paste() == []
    assert not editor.duplicate()
    assert not editor.delete_selection()


def test_selection_forgets_deleted_items_after_undo(editor: EditorModel) -> None:
    editor.add_node("gain")
    editor.undo()
    assert editor.selected_nodes == [] and editor.focused_node is None


def test_select_all(editor: EditorModel) -> None:
    editor.select_all()
    assert editor.selected_nodes == ["osc", "lp", "out"] and len(editor.selected_links) == 2


# -- palette and help ----------------------------------------------------------------------------
def test_palette_matches_by_name_family_and_doc() -> None:
    assert palette_matches("osc")[0] == "oscillator"
    assert palette_matches("filter")[0] == "filter"
    assert "scope" in palette_matches("meters")
    assert "convolver" in palette_matches("reverb")
    assert palette_matches("nothing-like-this") == []
    assert len(palette_matches("")) >= 14


def test_palette_types_moves_and_places_at_its_position(editor: EditorModel) -> None:
    editor.open_palette((123.0, 45.0))
    editor.type_in_palette("del")
    assert editor.palette.matches[0] == "delay"
    node_id = editor.accept_palette()
    assert node_id == "delay1" and editor.patch.nodes["delay1"].position[0] == 123.0
    assert overlapping(editor.patch) == []
    assert editor.palette is None

    editor.open_palette((0.0, 0.0))
    editor.type_in_palette("")
    editor.move_palette_highlight(1)
    second = editor.palette.matches[1]
    assert editor.accept_palette().startswith(second)
    editor.open_palette((0.0, 0.0))
    editor.type_in_palette("zzz")
    assert editor.accept_palette() is None and editor.palette is not None  # stays open to fix the typing
    assert "zzz" in editor.status.text
    editor.close_palette()
    assert editor.palette is None


def test_node_help_comes_from_the_spec() -> None:
    text = node_help("filter")
    assert "cutoff_hz" in text and "Hz" in text and "log scale" in text
    assert "modulation inputs" in text


# -- files -----------------------------------------------------------------------------------------
def test_dirty_flag_and_title_follow_edits_saves_and_undo(editor: EditorModel, tmp_path: Path) -> None:
    assert not editor.dirty and editor.title().startswith("untitled -")
    editor.add_node("gain")
    assert editor.dirty and editor.title().startswith("untitled *")
    assert not editor.save()  # no file yet: the view asks for one
    path = tmp_path / "mine.json"
    assert editor.save_as(path)
    assert not editor.dirty and editor.title().startswith("mine.json (")
    editor.set_param("gain1", "gain_db", -3.0)
    assert editor.dirty
    editor.undo()
    assert not editor.dirty  # back at the saved state
    editor.undo()
    assert editor.dirty
    editor.redo()
    assert not editor.dirty


def test_a_param_change_after_saving_is_its_own_undo_step(editor: EditorModel, tmp_path: Path) -> None:
    editor.set_param("lp", "cutoff_hz", 900)
    editor.save_as(tmp_path / "a.json")
    editor.set_param("lp", "cutoff_hz", 1000)  # within the merge time, but after a save
    assert editor.dirty
    editor.undo()
    assert not editor.dirty and editor.patch.nodes["lp"].params["cutoff_hz"] == 900.0


def test_save_writes_the_patch_file_and_open_reads_it(editor: EditorModel, tmp_path: Path) -> None:
    path = tmp_path / "saved"
    editor.save_as(path)
    assert (tmp_path / "saved.json").is_file()
    text = (tmp_path / "saved.json").read_text()
    editor.add_node("gain")
    other = EditorModel(state_dir=tmp_path / "state2")
    assert other.open(tmp_path / "saved.json")
    assert dumps(other.patch) == text
    assert not other.dirty and not other.undo_stack


def test_save_into_a_missing_folder_is_a_message(editor: EditorModel, tmp_path: Path) -> None:
    assert not editor.save_as(tmp_path / "no" / "such" / "folder.json")
    assert editor.status.level == "error" and "folder.json" in editor.status.text


def test_opening_a_bad_patch_keeps_the_current_one(editor: EditorModel, tmp_path: Path) -> None:
    editor.add_node("gain")
    before, depth = snapshot(editor), len(editor.undo_stack)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "patcher", "version": 1, "nodes": [{"id": "x", "type": "nope"}]}))
    assert not editor.open(bad)
    assert editor.status.level == "error"
    assert "unknown node type 'nope'" in editor.status.text and "bad.json" in editor.status.text
    assert snapshot(editor) == before and len(editor.undo_stack) == depth and editor.dirty
    assert not editor.open(tmp_path / "missing.json")
    assert "no such patch file" in editor.status.text


def test_the_status_line_shows_a_hostile_patch_short_and_visible(editor: EditorModel, tmp_path: Path) -> None:
    """A shared file's name and ids reach the status line made visible and short."""
    bad = tmp_path / "\x1b]0;title\x07.json"
    long_id = "a" + "x" * 999_999
    document = {"format": "patcher", "version": 1, "nodes": [{"id": long_id, "type": "nope"}]}
    bad.write_text(json.dumps(document))
    assert not editor.open(bad)
    text = editor.status.text
    assert "\\x1b]0;title\\x07.json" in text and "unknown node type 'nope'" in text
    assert "\x1b" not in text and "\x07" not in text and len(text) < 2000


def test_unsaved_changes_are_asked_about_before_new_open_and_quit(
    editor: EditorModel, tmp_path: Path
) -> None:
    other = tmp_path / "other.json"
    save(simple_patch(), other)
    editor.add_node("gain")
    assert not editor.request("open", other)
    assert editor.pending is not None and editor.pending.action == "open"
    assert not editor.resolve_pending("cancel")
    assert "gain1" in editor.patch.nodes and editor.pending is None

    editor.request("new")
    assert not editor.resolve_pending("save")  # no file yet: it stays pending for Save As
    assert editor.pending is not None
    editor.save_as(tmp_path / "first.json")
    assert editor.resolve_pending("save")
    assert list(editor.patch.nodes) == ["out"] and editor.path is None

    editor.add_node("gain")
    editor.request("open", other)
    assert editor.resolve_pending("discard")
    assert editor.path == other and "gain1" not in editor.patch.nodes

    editor.add_node("pan")
    editor.request("quit")
    assert not editor.quit_requested
    editor.resolve_pending("discard")
    assert editor.quit_requested


def test_actions_run_at_once_without_unsaved_changes(editor: EditorModel, tmp_path: Path) -> None:
    assert editor.request("new") and editor.pending is None
    assert editor.request("quit") and editor.quit_requested


def test_recent_files_are_remembered_newest_first_across_sessions(
    editor: EditorModel, tmp_path: Path
) -> None:
    paths = [tmp_path / f"p{index}.json" for index in range(12)]
    for path in paths:
        save(simple_patch(), path)
        editor.open(path)
    editor.open(paths[3])
    again = EditorModel(state_dir=tmp_path / "state")
    assert again.recent_files[0] == paths[3].resolve()
    assert again.recent_files[1] == paths[11].resolve()
    assert len(again.recent_files) == 10


def test_a_corrupt_recent_list_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "recent.json").write_text("{not json")
    assert EditorModel(state_dir=tmp_path).recent_files == []


def test_autosave_is_written_when_due(editor: EditorModel, clock: Clock) -> None:
    editor.add_node("noise", (1.0, 2.0))
    assert not editor.autosave_if_due()  # not yet
    clock.now += AUTOSAVE_SECONDS + 1
    assert editor.autosave_if_due()
    saved = json.loads(editor.autosave_file.read_text(encoding="utf-8"))
    assert dumps(from_dict(saved["patch"])) == snapshot(editor)


def test_autosave_is_offered_back_after_a_crash(editor: EditorModel, tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "work.json"
    editor.save_as(path)
    crashed = crashed_session(tmp_path / "state", opened=path)
    fresh = EditorModel(state_dir=tmp_path / "state", clock=clock)
    info = fresh.recovery_available()
    assert info is not None and info.original == path.resolve()
    assert fresh.recover()
    assert snapshot(fresh) == crashed
    assert fresh.dirty and fresh.path == path.resolve() and "*" in fresh.title()
    assert fresh.save()
    assert fresh.recovery_available() is None
    assert EditorModel(state_dir=tmp_path / "state").recovery_available() is None


def test_a_clean_exit_or_save_leaves_no_autosave(editor: EditorModel, tmp_path: Path) -> None:
    editor.add_node("noise")
    assert editor.autosave() and editor.autosave_file.is_file()
    editor.shutdown()
    assert not editor.autosave_file.exists()
    fresh = EditorModel(state_dir=tmp_path / "state")
    assert fresh.recovery_available() is None
    assert not fresh.recover()
    assert list((tmp_path / "state").iterdir()) == []


def test_two_sessions_keep_their_own_autosaves(tmp_path: Path, clock: Clock) -> None:
    """Two editors open at once: neither overwrites the other's autosave, neither offers the
    other's (it is alive), and a clean exit of one leaves the other's unsaved work."""
    first = EditorModel(simple_patch(), state_dir=tmp_path / "state", player_factory=FakePlayer, clock=clock)
    second = EditorModel(simple_patch(), state_dir=tmp_path / "state", player_factory=FakePlayer, clock=clock)
    first.add_node("noise")
    second.add_node("delay")
    assert first.autosave() and second.autosave()
    assert "noise1" in autosaved_ids(first) and "delay1" not in autosaved_ids(first)
    assert "delay1" in autosaved_ids(second)
    assert first.recovery_available() is None and second.recovery_available() is None
    first.shutdown()
    assert "delay1" in autosaved_ids(second)
    assert EditorModel(state_dir=tmp_path / "state").recovery_available() is None, "a live session's work"


def autosaved_ids(editor: EditorModel) -> set[str]:
    document = json.loads(editor.autosave_file.read_text(encoding="utf-8"))
    return {node["id"] for node in document["patch"]["nodes"]}


def test_a_failed_autosave_leaves_no_temporary_file(editor: EditorModel, tmp_path: Path) -> None:
    editor.add_node("noise")
    editor.autosave_file.parent.mkdir(parents=True)
    editor.autosave_file.mkdir()  # in the way: the rename over it fails
    assert not editor.autosave()
    assert editor.status.level == "warning" and "autosave failed" in editor.status.text
    assert [path.name for path in (tmp_path / "state").iterdir() if path.suffix == ".tmp"] == []


def test_autosave_is_skipped_when_nothing_changed(editor: EditorModel, clock: Clock) -> None:
    clock.now += AUTOSAVE_SECONDS + 1
    assert not editor.autosave_if_due()
    editor.add_node("noise")
    clock.now += AUTOSAVE_SECONDS + 1
    assert editor.autosave_if_due()
    clock.now += AUTOSAVE_SECONDS + 1
    assert not editor.autosave_if_due()


def test_examples_are_listed(tmp_path: Path) -> None:
    save(simple_patch(), tmp_path / "b.json")
    save(simple_patch(), tmp_path / "a.json")
    editor = EditorModel(state_dir=tmp_path / "state", examples_dir=tmp_path)
    assert [p.name for p in editor.example_patches()] == ["a.json", "b.json"]


def test_new_patch_has_an_output(editor: EditorModel) -> None:
    editor.new()
    assert [node.type for node in editor.patch.nodes.values()] == ["output"]
    assert not editor.dirty and editor.path is None


# -- transport: edits reach the playing engine through the same path --------------------------------
def test_play_edits_and_undo_reach_the_player(editor: EditorModel, clock: Clock) -> None:
    assert editor.play()
    player = editor.player
    assert isinstance(player, FakePlayer) and player.started
    assert player.patch is not editor.patch  # the engine gets its own copy
    assert "fake device" in editor.status.text

    editor.set_param("lp", "cutoff_hz", 1500)
    assert player.calls[-1] == ("set_param", "lp", "cutoff_hz", 1500.0)
    editor.add_node("gain")
    assert player.calls[-1][0] == "update_patch" and "gain1" in player.calls[-1][1]
    editor.undo()
    assert player.calls[-1][0] == "update_patch" and "gain1" not in player.calls[-1][1]
    editor.undo()
    assert player.calls[-1] == ("set_param", "lp", "cutoff_hz", 800.0)
    calls = len(player.calls)
    editor.move_nodes({"osc": (0.0, 0.0)})
    assert len(player.calls) == calls  # moving is silent
    editor.set_master_level(-6.0)
    assert player.calls[-1] == ("set_param", "out", "level_db", -6.0)
    assert {n: node.params for n, node in player.patch.nodes.items()} == {
        n: node.params for n, node in editor.patch.nodes.items()
    }
    assert player.patch.links == editor.patch.links


def test_meters_and_warnings_come_from_the_player(editor: EditorModel) -> None:
    assert editor.poll() is None
    editor.play()
    meters = editor.poll()
    assert meters["underruns"] == 2
    assert editor.status.level == "warning" and "NaN" in editor.status.text
    editor.toggle_play()
    assert not editor.playing and editor.status.text == "stopped"


def test_no_audio_device_is_a_clear_message(tmp_path: Path) -> None:
    def no_device(patch: Patch) -> FakePlayer:
        raise AudioDeviceError("no audio output device found (PortAudio: No Default Output Device)")

    editor = EditorModel(simple_patch(), state_dir=tmp_path, player_factory=no_device)
    assert not editor.play()
    assert not editor.playing
    assert editor.status.level == "error" and "no audio output device" in editor.status.text
    editor.add_node("gain")  # editing goes on


def test_the_editor_plays_through_an_engine_process() -> None:
    from patcher.editor.model import default_player_factory
    from patcher.server import EngineProcess

    player = default_player_factory(simple_patch())
    assert isinstance(player, EngineProcess) and not player.running  # made, not started


def test_the_real_player_without_a_sound_card_does_not_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing

    # The engine process must see no sound card: not even the tests' own JACK server.
    monkeypatch.delenv("JACK_DEFAULT_SERVER", raising=False)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    editor = EditorModel(simple_patch(), state_dir=tmp_path)
    try:
        editor.start_engine()
        pid = editor.idle_engine.pid
        for _ in range(2):  # each Play says why; the same engine process waits for the next
            assert not editor.play()
            status = editor.status
            assert status.level == "error" and status.text.startswith("cannot play: no audio output"), status
            assert editor.idle_engine.pid == pid
        assert editor.add_node("gain") and editor.undo()  # editing goes on
    finally:
        editor.shutdown()
    assert multiprocessing.active_children() == []  # no engine process left behind


def test_a_player_that_fails_to_start_is_stopped_and_reported(tmp_path: Path) -> None:
    made: list[FakePlayer] = []

    class Broken(FakePlayer):
        def start(self) -> None:
            self.started = True
            made.append(self)
            raise RuntimeError("the engine process crashed")

    editor = EditorModel(simple_patch(), state_dir=tmp_path, player_factory=Broken)
    assert not editor.play() and not editor.playing
    assert not made[0].started  # stopped again: nothing left running
    assert editor.status.level == "error" and "crashed" in editor.status.text


def test_an_engine_that_died_is_reported_and_dropped(editor: EditorModel) -> None:
    editor.play()
    editor.player.running = False  # as EngineProcess says when its child has ended
    player = editor.player
    assert editor.poll() is None
    assert not editor.playing and not player.started
    assert editor.status.level == "error" and "stopped unexpectedly" in editor.status.text


def scope_patch() -> Patch:
    patch = simple_patch()
    patch.add_node("scope", "scope", position=(400.0, 200.0), time_ms=5.0)
    patch.add_node("spectrum", "spectrum", position=(600.0, 200.0), fft_size="1024")
    patch.connect("osc.out", "scope.in")
    patch.connect("osc.out", "spectrum.in")
    return patch


def test_live_pictures_come_from_the_players_node_views(tmp_path: Path) -> None:
    from patcher.editor.visuals import node_picture

    editor = EditorModel(scope_patch(), state_dir=tmp_path, player_factory=OfflinePlayer)
    assert editor.node_view("scope") is None  # silent: nothing to show
    editor.play()
    editor.poll()
    player = editor.player
    scope = editor.node_view("scope")
    assert scope is not None and scope.dtype == np.float64 and len(scope) == 240  # 5 ms
    assert len(editor.node_view("spectrum")) == 512  # fft_size / 2 bins, DC left out
    assert editor.node_view("lp") is None and editor.node_view("nope") is None
    assert [call[1] for call in player.calls if call[0] == "node_view"] == ["scope", "spectrum"]
    levels = editor.node_view("spectrum")
    assert abs((np.argmax(levels) + 1) * 48000 / 1024 - 110.0) < 48000 / 1024  # the saw's 110 Hz
    spectrum = node_picture("spectrum", editor.patch.nodes["spectrum"].params, 48000, levels)
    assert spectrum.live and spectrum.plots[0].caption.startswith("peak")
    editor.stop()
    assert editor.node_view("scope") is None


def test_an_edit_the_engine_refuses_is_reported(editor: EditorModel) -> None:
    class Refusing(FakePlayer):
        def update_patch(self, patch: Patch) -> None:
            from patcher.model import PatchError

            raise PatchError("node 'conv' (convolver): no such file")

    editor.player_factory = Refusing
    editor.play()
    steps = len(editor.undo_stack)
    assert editor.add_node("gain") is None
    assert "refused by the engine, so nothing changed" in editor.status.text and "conv" in editor.status.text
    assert "gain1" not in editor.patch.nodes and len(editor.undo_stack) == steps  # as the engine plays


def test_set_params_command_knows_its_key(editor: EditorModel) -> None:
    editor.set_param("lp", "q", 3.0)
    command = editor.undo_stack[-1]
    assert isinstance(command, SetParams) and command.key() == (("lp", "q"),)


# -- what the nodes draw (GUI-free) -----------------------------------------------------------------
@pytest.mark.parametrize(
    "type_name", ["oscillator", "lfo", "filter", "waveshaper", "convolver", "scope", "spectrum"]
)
def test_every_picture_fits_its_box(type_name: str) -> None:
    from patcher.editor.visuals import node_picture

    picture = node_picture(type_name, {}, 48000)
    assert picture is not None and picture.plots
    for plot in picture.plots:
        for curve in plot.curves:
            assert len(curve.points) >= 2
            assert all(0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 for x, y in curve.points)


def test_nodes_without_a_picture() -> None:
    from patcher.editor.visuals import node_picture

    assert node_picture("gain", {}, 48000) is None


def test_filter_picture_follows_the_cutoff() -> None:
    from patcher.editor.visuals import node_picture

    def height_at_2_khz(cutoff_hz: float) -> float:
        curve = node_picture("filter", {"cutoff_hz": cutoff_hz}, 48000).plots[0].curves[-1]
        x_at_2k = (np.log10(2000) - np.log10(20)) / (np.log10(24000) - np.log10(20))
        return min(curve.points, key=lambda point: abs(point[0] - x_at_2k))[1]

    assert height_at_2_khz(500.0) < height_at_2_khz(8000.0)


def test_waveshaper_picture_applies_the_drive() -> None:
    from patcher.editor.visuals import node_picture

    def slope_at_zero(drive_db: float) -> float:
        curve = node_picture("waveshaper", {"drive_db": drive_db}, 48000).plots[0].curves[-1]
        middle = len(curve.points) // 2
        (x0, y0), (x1, y1) = curve.points[middle], curve.points[middle + 1]
        return (y1 - y0) / (x1 - x0)

    assert slope_at_zero(12.0) > 2 * slope_at_zero(0.0)


def test_live_pictures_draw_the_running_meters_view() -> None:
    from patcher.editor.visuals import node_picture

    t = np.arange(48000) / 48000
    sine = 0.7 * np.sin(2 * np.pi * 1500 * t)
    meters = {}
    for type_name, params in (("scope", {"time_ms": 5.0}), ("spectrum", {"fft_size": "4096"})):
        node = registry()[type_name](params)
        node.prepare(48000, 256)
        for start in range(0, len(t), 256):
            node.process({"in": sine[start : start + 256]}, node.params, {})
        meters[type_name] = node
    scope = meters["scope"]
    picture = node_picture("scope", scope.params, 48000, view=scope.view())
    assert picture.live and "peak 0.70" in picture.plots[0].caption
    spectrum = meters["spectrum"]
    picture = node_picture("spectrum", spectrum.params, 48000, view=spectrum.view())
    assert picture.live and picture.plots[0].caption == "peak 1.5 kHz -3 dB"
    silent = node_picture("scope", scope.params, 48000, view=None)
    assert silent.live and silent.plots[0].caption == "shown while playing"


def test_the_convolver_picture_is_drawn_from_its_params_alone() -> None:
    from patcher.editor.visuals import node_picture

    picture = node_picture("convolver", {}, 48000, view=np.ones(10))
    assert not picture.live and picture.plots[0].caption.startswith("IR")


EXAMPLES = sorted((Path(__file__).parent.parent / "patches").glob("*.json"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_every_example_opens_and_draws(example: Path, tmp_path: Path) -> None:
    from patcher.editor.visuals import node_picture

    editor = EditorModel(state_dir=tmp_path)
    assert editor.open(example), editor.status.text
    original = dumps(editor.patch)
    for node in editor.patch.nodes.values():
        node_picture(
            node.type, node.params, editor.patch.settings.sample_rate, None, str(editor.patch.base_dir)
        )
    editor.select_all()
    editor.duplicate()
    while editor.undo_stack:
        editor.undo()
    assert dumps(editor.patch) == original


def test_opening_the_crashed_file_keeps_its_autosave_for_recovery(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "song.json"
    save(simple_patch(), path)
    crashed_session(tmp_path / "state", opened=path)
    # `patcher edit song.json` starts a new session on the same file.
    fresh = EditorModel(state_dir=tmp_path / "state", player_factory=FakePlayer, clock=clock)
    assert fresh.open(path)
    assert fresh.recovery_available() is not None, "opening the file deleted the crashed autosave"
    assert fresh.recover() and "noise1" in fresh.patch.nodes


def test_declining_recovery_removes_the_autosave(tmp_path: Path, clock: Clock) -> None:
    crashed_session(tmp_path / "state")
    fresh = EditorModel(state_dir=tmp_path / "state", player_factory=FakePlayer, clock=clock)
    assert fresh.recovery_available() is not None
    fresh.discard_autosave(declined=True)
    assert fresh.recovery_available() is None
    assert list((tmp_path / "state").iterdir()) == []


def test_a_broken_state_folder_is_a_warning_not_an_exception(tmp_path: Path, clock: Clock) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    editor = EditorModel(state_dir=blocker / "patcher", player_factory=FakePlayer, clock=clock)
    editor.add_node("noise")
    assert editor.save_as(tmp_path / "x.json")
    assert editor.new() and editor.open(tmp_path / "x.json")
    editor.shutdown()


def test_save_as_in_another_folder_keeps_relative_files_found(tmp_path: Path, clock: Clock) -> None:
    from patcher.render import render

    examples = Path(__file__).resolve().parent.parent / "patches"
    editor = EditorModel(state_dir=tmp_path / "state", player_factory=FakePlayer, clock=clock)
    assert editor.open(examples / "echo.json")
    elsewhere = tmp_path / "mine" / "echo.json"
    elsewhere.parent.mkdir()
    assert editor.save_as(elsewhere)
    # Its media stayed behind, outside its new folder: saving says so, opening must allow it.
    assert editor.status.level == "warning" and "outside its folder" in editor.status.text
    from patcher.patchfile import load

    saved = load(elsewhere, allow_outside_files=True)
    assert render(saved, 0.1).shape == (4800, 2)  # media/vowels.wav still found from there
    files = [node.params["file"] for node in saved.nodes.values() if node.type == "input"]
    assert all(
        (elsewhere.parent / file).resolve() == (examples / "media" / "vowels.wav").resolve() for file in files
    )
    # In memory the files keep naming the same files (and the undo history with them).
    vowels = (examples / "media" / "vowels.wav").resolve()
    inputs = [node for node in editor.patch.nodes.values() if node.type == "input"]
    assert all((Path(editor.patch.base_dir) / node.params["file"]).resolve() == vowels for node in inputs)


def test_a_file_param_must_name_a_readable_audio_file(tmp_path: Path, clock: Clock) -> None:
    examples = Path(__file__).resolve().parent.parent / "patches"
    editor = EditorModel(state_dir=tmp_path / "state", player_factory=FakePlayer, clock=clock)
    assert editor.open(examples / "echo.json")
    voice = next(node_id for node_id, node in editor.patch.nodes.items() if node.type == "input")
    before = editor.patch.nodes[voice].params["file"]
    assert not editor.set_param(voice, "file", "media/missing.wav")
    assert "is not a readable audio file" in editor.status.text
    (tmp_path / "notes.txt").write_text("not audio")
    assert not editor.set_param(voice, "file", str(tmp_path / "notes.txt"))
    assert editor.patch.nodes[voice].params["file"] == before
    assert editor.set_param(voice, "file", "media/drums.wav")


def test_new_pasted_and_duplicated_nodes_never_cover_others(editor: EditorModel) -> None:
    """Issue 14: they landed on top of existing nodes. Each lands clear of every node."""
    editor.add_node("gain", editor.patch.nodes["lp"].position)
    editor.select(["osc", "lp"])
    editor.copy_selection()
    editor.paste(editor.patch.nodes["osc"].position)
    editor.select(["osc"])
    editor.duplicate()
    editor.duplicate()
    assert len(editor.patch.nodes) == len(set(editor.patch.nodes)) and overlapping(editor.patch) == []


def test_choosing_a_file_for_a_convolver_switches_it_to_the_file(editor: EditorModel, tmp_path: Path) -> None:
    """Issue 14: an IR file chosen left the convolver on its generated room until `source`
    was switched by hand. Choosing a file is choosing to hear it: one undoable change."""
    import soundfile

    editor.patch.base_dir = tmp_path
    soundfile.write(tmp_path / "ir.wav", np.array([1.0, 0.5, 0.25]), 48000)
    room = editor.add_node("convolver", (900.0, 900.0))
    assert editor.patch.nodes[room].params["source"] != "file"
    depth = len(editor.undo_stack)
    assert editor.set_param(room, "file", "ir.wav")
    assert editor.patch.nodes[room].params["source"] == "file"
    assert len(editor.undo_stack) == depth + 1
    editor.undo()
    params = editor.patch.nodes[room].params
    assert params["source"] != "file" and params["file"] == ""


def test_rename_a_node_keeps_its_links_and_place_and_undoes(editor: EditorModel) -> None:
    before = snapshot(editor)
    order = list(editor.patch.nodes)
    editor.select(["lp"])
    assert editor.rename_node("lp", "tone")
    assert list(editor.patch.nodes) == [("tone" if n == "lp" else n) for n in order]
    assert {str(link) for link in editor.patch.links} >= {"osc.out -> tone.in", "tone.out -> out.left"}
    assert editor.selected_nodes == ["tone"] and editor.focused_node == "tone"
    check_undo_redo(editor, before)


@pytest.mark.parametrize("bad", ["osc", "9lives", "a b", ""])
def test_a_rename_to_a_used_or_illegal_id_is_refused_with_a_message(editor: EditorModel, bad: str) -> None:
    assert not editor.rename_node("lp", bad)
    assert "lp" in editor.patch.nodes and not editor.undo_stack
    if bad:
        assert editor.status.level == "error"


def test_description_and_settings_are_edited_and_undone(editor: EditorModel) -> None:
    before = snapshot(editor)
    assert editor.set_patch_info(description="A filtered saw.", duration_s=2.5, sample_rate=44100)
    assert editor.patch.description == "A filtered saw." and editor.patch.settings.sample_rate == 44100
    assert editor.patch.settings.duration_s == 2.5 and editor.dirty
    check_undo_redo(editor, before)
    assert not editor.set_patch_info(block_size=0) and editor.status.level == "error"
    assert not editor.set_patch_info(sample_rate="fast") and editor.status.level == "error"


def test_disconnect_all_removes_a_nodes_links_in_one_undoable_edit(editor: EditorModel) -> None:
    before = snapshot(editor)
    assert editor.disconnect_all("lp")
    assert not any("lp" in (link.source.node, link.target.node) for link in editor.patch.links)
    assert len(editor.undo_stack) == 1
    check_undo_redo(editor, before)
    editor.undo()
    editor.disconnect_all("lp")
    assert not editor.disconnect_all("lp") and "no links" in editor.status.text


def test_render_to_file_runs_in_the_background_and_reports(editor: EditorModel, tmp_path: Path) -> None:
    """File > Render to File: a process of its own renders the patch as it is; the model
    follows its progress and says where it wrote, with the peak."""
    import time

    import soundfile

    target = tmp_path / "saw.wav"
    assert editor.start_render(target, seconds=0.5)
    assert editor.render_job is not None and not editor.start_render(target)  # one at a time
    deadline = time.monotonic() + 120
    while editor.render_job is not None and time.monotonic() < deadline:
        editor.poll()
        time.sleep(0.05)
    assert editor.render_job is None and editor.status.level == "info", editor.status.text
    assert "rendered" in editor.status.text and "dBFS" in editor.status.text
    info = soundfile.info(str(target))
    assert info.frames == 24000 and info.channels == 2


def test_a_cancelled_render_leaves_no_file_and_a_bad_name_is_refused(
    editor: EditorModel, tmp_path: Path
) -> None:
    import time

    assert not editor.start_render(tmp_path / "saw.mp3") and editor.status.level == "error"
    assert not editor.start_render(tmp_path / "missing" / "saw.wav")
    assert editor.start_render(tmp_path / "long.wav", seconds=3000.0)
    deadline = time.monotonic() + 120
    while editor.render_job.progress == 0.0 and time.monotonic() < deadline:
        editor.poll()
        time.sleep(0.05)
    assert 0.0 < editor.render_job.progress < 1.0
    editor.cancel_render()
    assert editor.render_job is None and "cancelled" in editor.status.text
    assert list(tmp_path.iterdir()) == [tmp_path / "state"] or list(tmp_path.iterdir()) == []


def test_the_audio_device_chosen_is_played_on_and_remembered(tmp_path: Path, clock: Clock) -> None:
    """Transport > Audio Device: the engine opens the device chosen at the next Play (moving
    there at once while playing), and the next session starts with it."""

    opened: list[Any] = []

    class DevicePlayer(FakePlayer):
        def __init__(self, patch: Patch) -> None:
            super().__init__(patch)
            self.device = None

        def start(self) -> None:
            opened.append(self.device)
            super().start()

    editor = EditorModel(
        simple_patch(), state_dir=tmp_path / "state", player_factory=DevicePlayer, clock=clock
    )
    assert editor.play()
    editor.set_audio_device("USB Audio")
    assert editor.playing and opened == [None, "USB Audio"]
    assert "USB Audio" in editor.status.text
    later = EditorModel(
        simple_patch(), state_dir=tmp_path / "state", player_factory=DevicePlayer, clock=clock
    )
    assert later.audio_device == "USB Audio"
    later.set_audio_device(None)
    assert EditorModel(state_dir=tmp_path / "state").audio_device is None


def test_record_takes_what_plays_until_stopped_or_stop(tmp_path: Path, clock: Clock) -> None:
    """File > Record: only while playing; Stop Recording (or Stop) writes the file."""
    calls: list[Any] = []

    class RecordingPlayer(FakePlayer):
        def start_recording(self, path: Path) -> None:
            if not Path(path).parent.is_dir():
                raise OSError("no such folder")
            calls.append(("start", Path(path).name))

        def stop_recording(self) -> str:
            calls.append(("stop",))
            return "recorded 2.0 s into take.wav"

    editor = EditorModel(
        simple_patch(), state_dir=tmp_path / "state", player_factory=RecordingPlayer, clock=clock
    )
    assert not editor.start_recording(tmp_path / "take.wav") and "Play first" in editor.status.text
    assert editor.play()
    assert not editor.start_recording(tmp_path / "missing" / "take.wav") and editor.recording is None
    assert editor.start_recording(tmp_path / "take.wav") and editor.recording == tmp_path / "take.wav"
    assert editor.stop_recording() and "recorded 2.0 s" in editor.status.text and editor.recording is None
    assert editor.start_recording(tmp_path / "take.wav")
    editor.stop()  # Stop ends the recording first
    assert calls == [("start", "take.wav"), ("stop",), ("start", "take.wav"), ("stop",)]
    assert editor.recording is None


def test_space_while_the_engine_loads_plays_once_it_is_ready_without_waiting(
    tmp_path: Path, clock: Clock
) -> None:
    """Issue 14: a Space pressed while the session's engine process still loaded froze the
    window for its 4-5 s. The window's Space now returns at once; the Play starts at the first
    frame after the engine is ready, and Space again cancels it."""
    ready = [False]

    class LoadingEngine(FakePlayer):
        keep_alive = True
        running = True

        def launch(self) -> None:
            pass

        def is_loaded(self) -> bool:
            return ready[0]

        def start(self, patch: Patch | None = None) -> None:
            assert ready[0], "started before it was ready"
            self.started = True

    editor = EditorModel(
        simple_patch(), state_dir=tmp_path / "state", player_factory=LoadingEngine, clock=clock
    )
    editor.start_engine()
    assert not editor.toggle_play(wait=False) and editor.play_pending and not editor.playing
    assert "starting the audio engine" in editor.status.text
    editor.poll()
    assert not editor.playing
    assert not editor.toggle_play(wait=False) and not editor.play_pending  # cancelled
    editor.poll()
    assert not editor.playing
    editor.toggle_play(wait=False)
    ready[0] = True
    editor.poll()
    assert editor.playing and not editor.play_pending
