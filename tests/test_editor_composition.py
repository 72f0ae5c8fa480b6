"""The editor model, headless: subpatches opened and edited, group and ungroup, comments,
presets and abstractions; each one undo step, each heard while playing, the sound unchanged
where it must be."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from patcher.editor.model import EditorModel
from patcher.engine import Engine
from patcher.model import Patch
from patcher.patchfile import dumps, load, save

BLOCK = 64


class EnginePlayer:
    """The real engine without a sound card, recording what the editor sent it."""

    def __init__(self, patch: Patch) -> None:
        self.engine = Engine(patch, block_size=BLOCK)
        self.device_name = "offline"
        self.calls: list[tuple[Any, ...]] = []

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        self.calls.append(("set_param", node_id, name, value))
        self.engine.set_param(node_id, name, value)

    def recall_preset(self, name: str, glide_s: float = 0.0) -> None:
        self.calls.append(("recall_preset", name, glide_s))
        self.engine.recall_preset(name, glide_s)

    def update_patch(self, patch: Patch) -> None:
        self.calls.append(("update_patch",))
        self.engine.update_patch(patch)

    def meters(self) -> dict[str, Any]:
        return {"level": [0.0, 0.0], "cpu_load": 0.0, "underruns": 0, "callbacks": 1}

    def warnings(self) -> list[str]:
        return []

    def node_view(self, node_id: str) -> np.ndarray | None:
        return None


def chain_patch(folder: Path) -> Patch:
    """A saw through a swept filter and a gain, the filter also heard on the right."""
    patch = Patch(base_dir=folder)
    patch.add_node("oscillator", "osc", (0.0, 0.0), waveform="saw", frequency_hz=110.0)
    patch.add_node("lfo", "lfo", (0.0, 200.0), rate_hz=3.0, depth=400.0)
    patch.add_node("filter", "lp", (200.0, 0.0), cutoff_hz=800.0, q=3.0)
    patch.add_node("gain", "g", (400.0, 0.0), gain_db=-3.0)
    patch.add_node("output", "out", (600.0, 0.0))
    for source, target in (
        ("osc.out", "lp.in"),
        ("lfo.out", "lp.cutoff_hz"),
        ("lp.out", "g.in"),
        ("osc.out", "g.in"),
        ("g.out", "out.left"),
        ("lp.out", "out.right"),
    ):
        patch.connect(source, target)
    return patch


def render(patch: Patch, seconds: float = 0.25) -> np.ndarray:
    return Engine(copy.deepcopy(patch), block_size=BLOCK).render(seconds)


@pytest.fixture
def editor(tmp_path: Path) -> EditorModel:
    return EditorModel(chain_patch(tmp_path), state_dir=tmp_path / "state", player_factory=EnginePlayer)


def test_group_then_ungroup_sound_sample_for_sample_the_same_and_undo_exactly(editor: EditorModel) -> None:
    before_text, before_sound = dumps(editor.root), render(editor.root)
    editor.select(["lp", "g"])
    group_id = editor.group_selection()
    assert group_id == "group1" and set(editor.patch.nodes) == {"osc", "lfo", "group1", "out"}
    inner = editor.patch.nodes["group1"].inner
    assert inner is not None
    # One inlet per distinct outside port feeding in, one outlet per inside port feeding out.
    assert inner.ports("inlet") == ("osc_out", "lfo_out")
    assert inner.ports("outlet") == ("g_out", "lp_out")
    np.testing.assert_array_equal(render(editor.root), before_sound)
    editor.select(["group1"])
    assert set(editor.ungroup_selection()) == {"lp", "g"}
    assert "group1" not in editor.patch.nodes
    np.testing.assert_array_equal(render(editor.root), before_sound)
    assert editor.undo() and "group1" in editor.patch.nodes  # the ungroup: one step
    assert editor.undo() and dumps(editor.root) == before_text  # the group: one step
    assert editor.redo() and editor.redo() and "group1" not in editor.root.nodes


def test_grouping_nothing_or_an_inlet_is_refused_with_a_reason(editor: EditorModel) -> None:
    editor.select([])
    assert editor.group_selection() is None and "select" in editor.status.text
    editor.select(["lp"])
    editor.group_selection()
    assert editor.open_subpatch("group1")
    editor.select(["osc_out", "lp"])
    assert editor.group_selection() is None and "inlet or outlet" in editor.status.text


def test_an_edit_inside_that_takes_away_a_port_linked_outside_is_refused(editor: EditorModel) -> None:
    editor.select(["lp", "g"])
    editor.group_selection()
    assert editor.open_subpatch("group1")
    editor.select(["osc_out"])
    assert not editor.delete_selection()
    assert "osc_out" in editor.patch.nodes and "osc.out -> group1.osc_out" in editor.status.text
    assert editor.rename_node("g_out", "loud") is False and "g_out" in editor.patch.nodes


def test_open_a_subpatch_edit_inside_heard_while_playing_undo_goes_back_inside(editor: EditorModel) -> None:
    editor.select(["lp", "g"])
    editor.group_selection()
    assert editor.play()
    assert editor.open_subpatch("group1")
    assert editor.breadcrumb() == ["untitled", "group1"] and "lp" in editor.patch.nodes
    assert editor.set_param("lp", "cutoff_hz", 2000.0)
    player = editor.player
    assert isinstance(player, EnginePlayer)
    assert player.calls[-1] == ("set_param", "group1/lp", "cutoff_hz", 2000.0)
    assert player.engine.patch.find("group1/lp").params["cutoff_hz"] == 2000.0
    editor.add_node("gain")  # a graph edit inside recompiles the whole document
    assert player.calls[-1] == ("update_patch",) and "gain1" in player.engine.patch.find("group1").inner.nodes
    assert editor.close_subpatch() and editor.opened == [] and "group1" in editor.patch.nodes
    assert editor.undo() and editor.opened == ["group1"]  # undo shows where it happened
    assert "gain1" not in editor.patch.nodes
    assert editor.undo() and editor.patch.nodes["lp"].params["cutoff_hz"] == 800.0
    assert player.engine.patch.find("group1/lp").params["cutoff_hz"] == 800.0
    editor.stop()


def test_comments_added_edited_moved_deleted_undone_and_saved(editor: EditorModel, tmp_path: Path) -> None:
    assert editor.add_comment("a saw, swept", (10.0, -80.0)) == 0
    assert editor.edit_comment(0, "a saw,\nswept by an LFO")
    assert editor.move_comment(0, (30.0, -90.0))
    comment = editor.patch.comments[0]
    assert (comment.text, comment.position) == ("a saw,\nswept by an LFO", (30.0, -90.0))
    assert editor.add_comment("bad\x07") is None and editor.status.level == "error"
    assert editor.undo() and editor.patch.comments[0].position == (10.0, -80.0)
    assert editor.redo()
    assert editor.save_as(tmp_path / "noted.json")
    assert load(tmp_path / "noted.json").comments[0].text == "a saw,\nswept by an LFO"
    assert editor.delete_comment(0) and editor.patch.comments == []
    assert editor.undo() and editor.patch.comments[0].text.startswith("a saw")


def test_presets_store_recall_delete_undo_and_glide_while_playing(editor: EditorModel) -> None:
    assert editor.store_preset("dark")
    editor.set_param("g", "gain_db", -30.0)
    assert editor.store_preset("quiet") and editor.preset_names() == ["dark", "quiet"]
    assert editor.recall_preset("dark", glide_s=0.0) and editor.root.nodes["g"].params["gain_db"] == -3.0
    assert editor.undo() and editor.root.nodes["g"].params["gain_db"] == -30.0
    assert editor.play()
    player = editor.player
    assert isinstance(player, EnginePlayer)
    assert editor.recall_preset("dark", glide_s=0.5)
    assert player.calls[-1] == ("recall_preset", "dark", 0.5)
    # The level rises over the glide, block by block, not at once.
    engine = player.engine
    peaks = [float(np.max(np.abs(engine.process_block()[0]))) for _ in range(int(0.6 * 48000 / BLOCK))]
    tenth = len(peaks) // 10
    assert peaks[tenth] < peaks[5 * tenth] < peaks[-1]
    assert peaks[-1] > 5 * peaks[0]
    assert editor.delete_preset("quiet") and editor.preset_names() == ["dark"]
    assert editor.undo() and editor.preset_names() == ["dark", "quiet"]
    editor.stop()


def voice_abstraction(folder: Path) -> Path:
    voice = Patch(base_dir=folder)
    voice.add_node("inlet", "in", (0.0, 0.0))
    voice.add_node("filter", "lp", (200.0, 0.0), cutoff_hz=500.0)
    voice.add_node("outlet", "out", (400.0, 0.0))
    voice.connect("in.out", "lp.in")
    voice.connect("lp.out", "out.in")
    path = folder / "voice.json"
    save(voice, path)
    return path


def test_save_abstraction_writes_the_file_and_reloads_every_instance(tmp_path: Path) -> None:
    voice_abstraction(tmp_path)
    document = Patch(base_dir=tmp_path)
    document.add_node("oscillator", "osc", waveform="saw")
    document.add_subpatch(load(tmp_path / "voice.json"), "left", (200.0, 0.0), file="voice.json")
    document.add_subpatch(load(tmp_path / "voice.json"), "right", (200.0, 200.0), file="voice.json")
    document.add_node("output", "out", (400.0, 0.0))
    for source, target in (
        ("osc.out", "left.in"),
        ("osc.out", "right.in"),
        ("left.out", "out.left"),
        ("right.out", "out.right"),
    ):
        document.connect(source, target)
    save(document, tmp_path / "stereo.json")
    editor = EditorModel(state_dir=tmp_path / "state", player_factory=EnginePlayer)
    assert editor.open(tmp_path / "stereo.json") and editor.play()
    assert editor.open_subpatch("left") and editor.set_param("lp", "cutoff_hz", 3000.0)
    assert editor.root.find("right/lp").params["cutoff_hz"] == 500.0  # this instance's copy only
    assert editor.save_abstraction()
    assert load(tmp_path / "voice.json").nodes["lp"].params["cutoff_hz"] == 3000.0
    assert editor.root.find("right/lp").params["cutoff_hz"] == 3000.0
    player = editor.player
    assert isinstance(player, EnginePlayer)
    assert player.engine.patch.find("right/lp").params["cutoff_hz"] == 3000.0  # heard
    sound = render(editor.root)
    np.testing.assert_array_equal(sound[:, 0], sound[:, 1])  # both instances the same again
    assert editor.undo() and editor.root.find("right/lp").params["cutoff_hz"] == 500.0
    editor.stop()


def test_save_as_abstraction_writes_the_inner_patch_and_the_node_names_it(
    editor: EditorModel, tmp_path: Path
) -> None:
    sound = render(editor.root)
    editor.select(["lp", "g"])
    editor.group_selection()
    (tmp_path / "lib").mkdir()
    assert editor.save_as_abstraction("group1", tmp_path / "lib" / "tone"), editor.status.text
    node = editor.root.nodes["group1"]
    assert node.file == "lib/tone.json" and (tmp_path / "lib" / "tone.json").is_file()
    assert set(load(tmp_path / "lib" / "tone.json").nodes) == set(node.inner.nodes)
    np.testing.assert_array_equal(render(editor.root), sound)
    assert editor.save_as(tmp_path / "doc.json")
    reopened = load(tmp_path / "doc.json")
    assert reopened.nodes["group1"].file == "lib/tone.json"
    np.testing.assert_array_equal(render(reopened), sound)
    assert editor.undo() and editor.root.nodes["group1"].file == ""


def test_save_abstraction_refused_by_another_instance_leaves_its_file_as_it_was(tmp_path: Path) -> None:
    """The left instance drops an outlet the right one's link uses: the save is refused, and
    the file still has the outlet (it was once written before the check, leaving a document
    that named a port its file no longer had)."""
    path = voice_abstraction(tmp_path)
    voice = load(path)
    voice.add_node("outlet", "aux", (400.0, 200.0), index=1)
    voice.connect("lp.out", "aux.in")
    save(voice, path)
    before = path.read_text()
    document = Patch(base_dir=tmp_path)
    document.add_node("oscillator", "osc", waveform="saw")
    document.add_subpatch(load(path), "left", (200.0, 0.0), file="voice.json")
    document.add_subpatch(load(path), "right", (200.0, 200.0), file="voice.json")
    document.add_node("output", "out", (400.0, 0.0))
    for source, target in (("osc.out", "left.in"), ("osc.out", "right.in"), ("right.aux", "out.right")):
        document.connect(source, target)
    save(document, tmp_path / "stereo.json")
    editor = EditorModel(state_dir=tmp_path / "state")
    assert editor.open(tmp_path / "stereo.json") and editor.open_subpatch("left")
    editor.select(["aux"])
    assert editor.delete_selection()
    assert not editor.save_abstraction()
    assert "right.aux" in editor.status.text
    assert path.read_text() == before
    assert "aux" in editor.root.find("right").inner.nodes


def test_save_as_abstraction_does_not_overwrite_a_file(editor: EditorModel, tmp_path: Path) -> None:
    """An abstraction file may be used by other patches: a name taken is refused."""
    taken = voice_abstraction(tmp_path)
    before = taken.read_text()
    editor.select(["lp", "g"])
    editor.group_selection()
    assert not editor.save_as_abstraction("group1", taken)
    assert "exists" in editor.status.text and taken.read_text() == before
    assert editor.root.nodes["group1"].file == ""


def test_rename_and_delete_carry_mappings_and_presets_with_the_node(tmp_path: Path) -> None:
    """A file naming a node it does not hold cannot be opened: a renamed node's mappings and
    preset values follow it, a deleted node's go with it (and come back on undo)."""
    from patcher.model import ControlMapping

    patch = Patch(base_dir=tmp_path)
    patch.add_node("noise", "src")
    patch.add_node("gain", "g", gain_db=-20.0)
    patch.add_node("output", "out")
    patch.connect("src.out", "g.in")
    patch.connect("g.out", "out.left")
    patch.mappings = [ControlMapping("g.gain_db", midi_cc=7)]
    patch.set_param("g", "gain_db", -3.0)
    patch.store_preset("loud")
    patch.set_param("g", "gain_db", -20.0)
    save(patch, tmp_path / "doc.json")
    editor = EditorModel(state_dir=tmp_path / "state")
    assert editor.open(tmp_path / "doc.json")
    assert editor.rename_node("g", "amp")
    assert editor.save()
    reopened = load(tmp_path / "doc.json")
    assert [m.param for m in reopened.mappings] == ["amp.gain_db"]
    assert reopened.presets["loud"]["amp"] == {"gain_db": -3.0}
    editor.select(["amp"])
    assert editor.delete_selection() and editor.save()
    reopened = load(tmp_path / "doc.json")
    assert reopened.mappings == [] and "amp" not in reopened.presets.get("loud", {})
    assert editor.undo() and editor.undo()
    assert [m.param for m in editor.root.mappings] == ["g.gain_db"] and "g" in editor.root.presets["loud"]


def test_group_and_ungroup_carry_mappings_into_and_out_of_the_subpatch(tmp_path: Path) -> None:
    from patcher.model import ControlMapping

    patch = Patch(base_dir=tmp_path)
    patch.add_node("noise", "src")
    patch.add_node("gain", "g", gain_db=-20.0)
    patch.add_node("output", "out")
    patch.connect("src.out", "g.in")
    patch.connect("g.out", "out.left")
    patch.mappings = [ControlMapping("g.gain_db", midi_cc=7), ControlMapping("src.seed", osc="/s")]
    save(patch, tmp_path / "doc.json")
    editor = EditorModel(state_dir=tmp_path / "state")
    assert editor.open(tmp_path / "doc.json")
    editor.select(["g"])
    group_id = editor.group_selection()
    assert group_id and editor.save()
    assert [m.param for m in load(tmp_path / "doc.json").mappings] == [f"{group_id}/g.gain_db", "src.seed"]
    editor.select([group_id])
    assert editor.ungroup_selection() and editor.save()
    assert [m.param for m in load(tmp_path / "doc.json").mappings] == ["g.gain_db", "src.seed"]
    assert editor.undo() and editor.root.mappings[0].param == f"{group_id}/g.gain_db"
