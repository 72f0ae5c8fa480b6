"""MIDI learn and live control in the editor model, headless: which port and OSC port the
engine is told, learning and forgetting a mapping (undoable, saved with the patch), and the
patch following what the controls move. The real engine, ports and window are in
``test_editor_window.py`` (``test_real_input_midi_learn_...``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from patcher.editor.live_control import DEFAULT_OSC_PORT
from patcher.editor.model import EditorModel
from patcher.live import LiveReport
from patcher.model import ControlMapping, Patch
from patcher.patchfile import load
from tests.test_editor_model import FakePlayer


class LivePlayer(FakePlayer):
    """A fake engine process that listens to what it is told and reports what is queued."""

    def __init__(self, patch: Patch) -> None:
        super().__init__(patch)
        self.pending_warnings = []
        self.told: list[tuple[str | None, int | None]] = []
        self.report = LiveReport()

    def set_live_inputs(self, midi_input: str | None, osc_port: int | None) -> None:
        self.told.append((midi_input, osc_port))

    def take_live(self) -> LiveReport:
        report, self.report = self.report, LiveReport()
        return report


def synth(folder: Path) -> Path:
    patch = Patch(base_dir=folder)
    patch.add_node("oscillator", "osc", (0.0, 0.0), waveform="saw", frequency_hz=110.0)
    patch.add_node("filter", "lp", (200.0, 0.0), cutoff_hz=900.0)
    patch.add_node("filter", "hp", (400.0, 0.0), type="highpass", cutoff_hz=40.0)
    patch.add_node("output", "out", (600.0, 0.0))
    patch.connect("osc.out", "lp.in")
    patch.connect("lp.out", "hp.in")
    patch.connect("hp.out", "out.left")
    patch.mappings.append(ControlMapping("hp.cutoff_hz", 74, None))  # CC 74 on any channel
    path = folder / "synth.json"
    from patcher.patchfile import save

    save(patch, path)
    return path


@pytest.fixture
def editor(tmp_path: Path) -> EditorModel:
    model = EditorModel(state_dir=tmp_path / "state", player_factory=LivePlayer)
    assert model.open(synth(tmp_path))
    assert model.play()
    return model


def heard(editor: EditorModel, *controls: tuple[Any, ...]) -> None:
    """The engine reports ``controls`` coming in; the editor polls."""
    editor.player.report.heard += list(controls)
    editor.poll()


def test_learning_maps_the_next_cc_undo_takes_it_back_and_save_keeps_it(editor: EditorModel) -> None:
    assert editor.live.start_learning("lp", "cutoff_hz")
    assert editor.status.text.startswith("Move a MIDI control to map lp.cutoff_hz")
    assert editor.status.level == "warning" and "no MIDI input is open" in editor.status.text
    heard(editor, ("cc", 2, 21))
    assert editor.live.learning is None
    assert ControlMapping("lp.cutoff_hz", 21, 2) in editor.root.mappings
    assert editor.status.text == "mapped CC 21 ch 2 to lp.cutoff_hz"
    assert editor.player.patch.mappings == editor.root.mappings  # the engine maps it too
    assert editor.dirty and editor.undo_stack[-1].label == "map CC 21 ch 2 to lp.cutoff_hz"
    assert [f"{m}" for m in editor.live.mappings_of("lp", "cutoff_hz")] == [
        "ControlMapping(param='lp.cutoff_hz', midi_cc=21, channel=2, osc=None)"
    ]
    assert editor.undo() and editor.live.mappings_of("lp", "cutoff_hz") == []
    assert editor.player.patch.mappings == editor.root.mappings
    assert editor.redo()
    assert editor.save()
    saved = load(editor.path)
    assert ControlMapping("lp.cutoff_hz", 21, 2) in saved.mappings
    assert ControlMapping("hp.cutoff_hz", 74, None) in saved.mappings


def test_a_cc_mapped_elsewhere_moves_both_and_a_param_answers_one_cc(editor: EditorModel) -> None:
    """As VCV Rack's MIDI-Map: learning replaces the param's own CC; a CC may move several."""
    editor.live.start_learning("lp", "cutoff_hz")
    heard(editor, ("cc", 1, 74))
    assert "it also moves hp.cutoff_hz" in editor.status.text
    editor.live.start_learning("lp", "cutoff_hz")
    heard(editor, ("cc", 1, 75), ("cc", 1, 76))  # the first one counts
    assert [m.midi_cc for m in editor.live.mappings_of("lp", "cutoff_hz")] == [75]
    assert [m.midi_cc for m in editor.live.mappings_of("hp", "cutoff_hz")] == [74]


def test_controls_heard_before_learning_do_not_count_and_escape_cancels(editor: EditorModel) -> None:
    editor.player.report.heard.append(("cc", 1, 10))  # came in before the right click
    editor.live.start_learning("lp", "q")
    editor.poll()
    assert editor.live.learning == "lp.q" and editor.live.mappings_of("lp", "q") == []
    editor.live.cancel_learning()
    assert editor.live.learning is None and editor.status.text == "MIDI learn for lp.q cancelled"
    heard(editor, ("cc", 1, 11))
    assert editor.live.mappings_of("lp", "q") == [] and not editor.undo_stack


def test_only_number_params_can_learn(editor: EditorModel) -> None:
    assert not editor.live.start_learning("lp", "type")
    assert "only a number param" in editor.status.text and editor.live.learning is None
    assert not editor.live.start_learning("nothing", "q")


def test_an_osc_address_learns_too_but_not_a_params_own(editor: EditorModel) -> None:
    editor.live.start_learning("lp", "q")
    heard(editor, ("osc", "/patcher/lp/q"), ("osc", "/fader 1"), ("osc", "/fader/1"))
    assert editor.live.mappings_of("lp", "q") == [ControlMapping("lp.q", osc="/fader/1")]
    editor.live.start_learning("hp", "q")  # an address moves one param: it moves over
    heard(editor, ("osc", "/fader/1"))
    assert editor.live.mappings_of("lp", "q") == []
    assert editor.live.mappings_of("hp", "q") == [ControlMapping("hp.q", osc="/fader/1")]


def test_forget_takes_the_params_mappings_away_undoably(editor: EditorModel) -> None:
    assert editor.live.forget("hp", "cutoff_hz")
    assert editor.status.text == "hp.cutoff_hz no longer follows CC 74" and editor.root.mappings == []
    assert not editor.live.forget("hp", "cutoff_hz")
    assert editor.undo() and editor.root.mappings == [ControlMapping("hp.cutoff_hz", 74, None)]


def test_what_a_control_moves_is_in_the_patch_unsaved_and_no_undo_step(editor: EditorModel) -> None:
    editor.player.report.moved[("hp", "cutoff_hz")] = 2000.0
    editor.player.report.moved[("gone", "q")] = 2.0  # deleted since: nothing
    editor.poll()
    assert editor.root.nodes["hp"].params["cutoff_hz"] == 2000.0
    assert editor.dirty and not editor.undo_stack and "*" in editor.title()
    assert editor.save()
    assert load(editor.path).nodes["hp"].params["cutoff_hz"] == 2000.0


def test_inside_a_subpatch_the_mapping_names_the_path(editor: EditorModel) -> None:
    editor.select(["lp", "hp"])
    assert editor.group_selection()
    (group,) = [node_id for node_id, node in editor.root.nodes.items() if node.inner is not None]
    assert editor.root.mappings == [ControlMapping(f"{group}/hp.cutoff_hz", 74, None)]
    assert editor.open_subpatch(group)
    editor.live.start_learning("lp", "cutoff_hz")
    heard(editor, ("cc", 1, 1))
    assert ControlMapping(f"{group}/lp.cutoff_hz", 1, 1) in editor.root.mappings
    editor.player.report.moved[(f"{group}/lp", "cutoff_hz")] = 300.0
    editor.poll()
    assert editor.patch.nodes["lp"].params["cutoff_hz"] == 300.0


def test_mappings_follow_a_rename_or_a_delete_inside_a_subpatch_and_undo(editor: EditorModel) -> None:
    """The document's mappings name nodes inside a subpatch by path: renaming one there
    renames the mapping, deleting one drops it (the file still opens), undo brings it back."""
    editor.select(["lp", "hp"])
    assert editor.group_selection()
    (group,) = [node_id for node_id, node in editor.root.nodes.items() if node.inner is not None]
    assert editor.open_subpatch(group)
    assert editor.rename_node("hp", "hp9")
    assert editor.root.mappings == [ControlMapping(f"{group}/hp9.cutoff_hz", 74, None)]
    editor.select(["hp9"])
    assert editor.delete_selection()
    assert editor.root.mappings == []
    assert editor.save()
    assert load(editor.path).mappings == []
    assert editor.undo() and editor.undo()
    assert editor.root.mappings == [ControlMapping(f"{group}/hp.cutoff_hz", 74, None)]


def test_the_ports_chosen_are_told_to_every_engine_and_remembered(tmp_path: Path) -> None:
    model = EditorModel(state_dir=tmp_path / "state", player_factory=LivePlayer)
    assert model.live.osc_port == DEFAULT_OSC_PORT and not model.live.osc_on
    model.live.choose_midi_input("keyboard")
    assert "opened when the audio engine starts" in model.status.text
    assert model.live.set_osc(True, 9100)
    assert not model.live.set_osc(True, 70000) and "1..65535" in model.status.text
    assert model.play() and model.player.told[-1] == ("keyboard", 9100)
    model.player.report.inputs += [
        ("midi", "keyboard:keys", None),
        ("osc", None, "OSC port 9100 cannot be opened: x"),
    ]
    model.poll()
    assert model.live.midi_opened == "keyboard:keys" and model.live.osc_opened is None
    assert model.status.level == "warning" and model.status.text == "OSC port 9100 cannot be opened: x"
    assert any(m.text == "listening to MIDI from 'keyboard:keys'" for m in model.messages)
    model.stop()
    assert model.play() and model.player.told[-1] == ("keyboard", 9100)  # a new player is told too
    model.live.choose_midi_input(None)
    assert model.player.told[-1] == (None, 9100) and model.status.text == "not listening to MIDI"

    later = EditorModel(state_dir=tmp_path / "state", player_factory=LivePlayer)
    assert (later.live.midi_input, later.live.osc_port, later.live.osc_on) == (None, 9100, True)
    later.live.choose_midi_input("keyboard", remember=False)  # `patcher edit --midi`: this session
    again = EditorModel(state_dir=tmp_path / "state", player_factory=LivePlayer)
    assert again.live.midi_input is None


@pytest.mark.kills_jack_clients  # the engine process's PortAudio is a client of the JACK server
def test_the_engine_process_learns_while_stopped_and_a_new_one_listens_again(
    jack: Any, tmp_path: Path
) -> None:
    """The real engine process, not playing: OSC opened while it waits, an address learned
    without playing, and the port opened again by the process that replaces a killed one."""
    import multiprocessing
    import os
    import signal
    import time

    from pythonosc.udp_client import SimpleUDPClient

    from patcher.server import EngineProcess
    from tests.test_live import free_udp_port

    model = EditorModel(
        state_dir=tmp_path / "state", player_factory=lambda patch: EngineProcess(patch, keep_alive=True)
    )
    assert model.open(synth(tmp_path))
    port = free_udp_port()

    def frames_until(condition: Any, what: str) -> None:
        deadline = time.monotonic() + 120.0  # an engine process loads every kernel first
        while not condition():
            assert time.monotonic() < deadline, f"{what} did not come: {model.status.text}"
            model.poll()
            time.sleep(0.02)

    try:
        model.live.set_osc(True, port)
        model.start_engine()
        frames_until(lambda: model.live.osc_opened == port, "the OSC port open")
        assert not model.playing
        model.live.start_learning("lp", "q")
        SimpleUDPClient("127.0.0.1", port).send_message("/fader/2", 0.5)
        frames_until(lambda: model.live.learning is None, "the address learned")
        assert model.live.mappings_of("lp", "q") == [ControlMapping("lp.q", osc="/fader/2")]
        first = model.idle_engine.pid
        os.kill(first, signal.SIGKILL)
        frames_until(lambda: model.idle_engine is not None and model.idle_engine.pid != first, "a new engine")
        assert "a new one is starting" in model.status.text
        assert model.live.osc_opened is None  # just launched: it is still loading
        frames_until(lambda: model.live.osc_opened == port, "the OSC port open again")
    finally:
        model.shutdown()
    assert multiprocessing.active_children() == []
