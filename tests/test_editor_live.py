"""The editor and the playing engine stay in step: what the editor shows is what plays.

The player is the real one, its callback driven block by block (``CallbackDrivenPlayer``);
after each sequence the engine's patch and running nodes are compared with the editor's.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from patcher.audiofile import write_audio
from patcher.editor.model import EditorModel
from patcher.model import Patch
from patcher.patchfile import load, save
from tests.editor_sessions import crashed_session
from tests.test_editor_workflow import CallbackDrivenPlayer

RATE = 48000


def tone(path: Path, frequency_hz: float, seconds: float = 0.5) -> None:
    t = np.arange(round(seconds * RATE)) / RATE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_audio(path, np.repeat(0.5 * np.sin(2 * np.pi * frequency_hz * t)[:, None], 2, 1), RATE)


def file_patch(folder: Path) -> Path:
    """``folder/voice.json``: media/low.wav through a gain to the output (media/high.wav beside)."""
    tone(folder / "media" / "low.wav", 220.0)
    tone(folder / "media" / "high.wav", 880.0)
    patch = Patch(base_dir=folder)
    patch.add_node("input", "voice", (40.0, 40.0), file="media/low.wav", loop=True)
    patch.add_node("gain", "level", (280.0, 40.0))
    patch.add_node("output", "out", (520.0, 40.0))
    patch.connect("voice.out", "level.in")
    patch.connect("level.out", "out.left")
    save(patch, folder / "voice.json")
    return folder / "voice.json"


@pytest.fixture
def editor(tmp_path: Path) -> EditorModel:
    model = EditorModel(state_dir=tmp_path / "state", player_factory=CallbackDrivenPlayer)
    assert model.open(file_patch(tmp_path / "a"))
    assert model.play()
    return model


def playing_file(editor: EditorModel, node_id: str) -> Path:
    """The file the running node plays, and check the editor names the same one."""
    player = editor.player
    editor.poll()  # the callback runs: queued changes are in
    running = Path(player.engine.schedule.nodes[node_id].params["file"])
    shown = Path(editor.patch.base_dir) / editor.patch.nodes[node_id].params["file"]
    playing = running if running.is_absolute() else Path(editor.patch.base_dir) / running
    assert playing.resolve() == shown.resolve(), "the editor shows one file, the engine plays another"
    return playing.resolve()


def test_after_save_as_elsewhere_undo_paste_and_new_files_reach_the_engine(
    editor: EditorModel, tmp_path: Path
) -> None:
    media = tmp_path / "a" / "media"
    assert editor.set_param("voice", "file", "media/high.wav")
    saved = tmp_path / "b" / "deeper" / "voice.json"
    saved.parent.mkdir(parents=True)
    assert editor.save_as(saved)
    assert editor.undo() and editor.status.text.startswith("undid")  # back to the low tone
    assert playing_file(editor, "voice") == (media / "low.wav").resolve()
    editor.select(["voice"])
    assert editor.copy_selection()
    (pasted,) = editor.paste()
    assert editor.connect(f"{pasted}.out", "out.right")  # heard, so running
    assert playing_file(editor, pasted) == (media / "low.wav").resolve()
    assert editor.set_param("voice", "file", "media/high.wav")  # chosen again, after the move
    assert playing_file(editor, "voice") == (media / "high.wav").resolve()
    assert editor.save()
    reopened = load(saved, allow_outside_files=True)  # its media stayed in a/, outside b/deeper/
    assert (saved.parent / reopened.nodes["voice"].params["file"]).resolve() == (media / "high.wav").resolve()


def test_an_edit_the_engine_refuses_is_taken_back(editor: EditorModel, tmp_path: Path) -> None:
    """An impulse response soundfile opens but the convolver refuses (no samples): the editor
    used to keep it, and every later edit was then refused by the engine."""
    empty = tmp_path / "a" / "media" / "empty.wav"
    write_audio(empty, np.zeros((0, 1)), RATE)
    room = editor.add_node("convolver", source="file")
    assert room and editor.connect("voice.out", f"{room}.in") and editor.connect(f"{room}.out", "out.right")
    assert not editor.set_param(room, "file", "media/empty.wav")
    assert "refused by the engine, so nothing changed" in editor.status.text
    assert editor.patch.nodes[room].params["file"] == ""
    assert editor.add_node("gain") == "gain1"  # the next edit goes through
    editor.poll()
    assert sorted(editor.player.engine.patch.nodes) == sorted(editor.patch.nodes)


def test_an_undo_the_engine_refuses_leaves_the_edit_in_place(editor: EditorModel, tmp_path: Path) -> None:
    editor.select(["voice"])
    assert editor.delete_selection()
    os.remove(tmp_path / "a" / "media" / "low.wav")  # gone since
    assert not editor.undo()
    assert editor.status.text.startswith("cannot undo delete") and "no such audio file" in editor.status.text
    assert "voice" not in editor.patch.nodes and editor.undo_stack
    assert editor.add_node("gain") == "gain1"
    editor.poll()
    assert sorted(editor.player.engine.patch.nodes) == sorted(editor.patch.nodes)


def test_opening_a_patch_that_cannot_play_stops_the_old_one(editor: EditorModel, tmp_path: Path) -> None:
    other = file_patch(tmp_path / "c")
    os.remove(tmp_path / "c" / "media" / "low.wav")
    assert editor.open(other)
    assert not editor.playing  # the old patch does not play on under the new one's name
    assert editor.status.level == "error" and "stopped playing" in editor.status.text
    assert "no such audio file" in editor.status.text


def test_an_untitled_autosave_is_recovered_with_its_folder(tmp_path: Path, monkeypatch) -> None:
    tone(tmp_path / "a" / "media" / "low.wav", 220.0)
    crashed = crashed_session(
        tmp_path / "state", None, "input", {"file": "media/low.wav"}, cwd=tmp_path / "a"
    )
    assert '"id": "input1"' in crashed
    monkeypatch.chdir(tmp_path)  # the next session starts elsewhere
    fresh = EditorModel(state_dir=tmp_path / "state", player_factory=CallbackDrivenPlayer)
    assert fresh.recover()
    assert Path(fresh.patch.base_dir) == (tmp_path / "a").resolve()
    assert fresh.play(), fresh.status.text


def test_choosing_the_same_file_again_reads_it_again(editor: EditorModel, tmp_path: Path) -> None:
    """Edited on disk since (an IR trimmed in an audio editor): choosing it again reloads it."""
    tone(tmp_path / "a" / "media" / "low.wav", 220.0, seconds=0.01)
    assert editor.set_param("voice", "file", "media/low.wav")
    assert "again" in editor.status.text
    editor.poll()
    assert len(editor.player.engine.schedule.nodes["voice"].audio) == 480


def test_switching_an_input_to_the_sound_card_reopens_the_stream_with_its_input(editor: EditorModel) -> None:
    """A stream's input is opened with it: the editor plays again, as a user would have to."""
    before = editor.player
    assert editor.set_param("voice", "source", "live")
    assert editor.playing and editor.player is not before
    assert "restarted playing" in editor.status.text and editor.player.uses_live_input


def test_a_file_chosen_next_to_the_file_saved_elsewhere_is_saved_relative(
    editor: EditorModel, tmp_path: Path
) -> None:
    saved = tmp_path / "b" / "voice.json"
    saved.parent.mkdir()
    assert editor.save_as(saved)
    tone(tmp_path / "b" / "media" / "new.wav", 330.0)
    value = editor.file_param_value(tmp_path / "b" / "media" / "new.wav")
    assert not os.path.isabs(value) and editor.set_param("voice", "file", value)
    assert playing_file(editor, "voice") == (tmp_path / "b" / "media" / "new.wav").resolve()
    assert editor.save()
    assert load(saved).nodes["voice"].params["file"] == "media/new.wav"


def test_opening_a_patch_with_a_live_input_while_playing_opens_the_input(
    editor: EditorModel, tmp_path: Path
) -> None:
    patch = load(file_patch(tmp_path / "c"))
    patch.set_param("voice", "source", "live")
    save(patch, tmp_path / "c" / "live.json")
    assert editor.open(tmp_path / "c" / "live.json")
    assert editor.playing and editor.player.uses_live_input and "restarted playing" in editor.status.text


class Failing(CallbackDrivenPlayer):
    """An engine failing in a way nobody planned for (not a PatchError)."""

    def update_patch(self, patch: Patch) -> None:
        raise RuntimeError("engine bug")


def test_an_engine_that_fails_unexpectedly_takes_the_edit_back(tmp_path: Path) -> None:
    editor = EditorModel(state_dir=tmp_path / "state", player_factory=Failing)
    assert editor.open(file_patch(tmp_path / "a")) and editor.play()
    assert editor.add_node("noise") is None
    assert "noise1" not in editor.patch.nodes and not editor.undo_stack
    assert "the engine failed: RuntimeError('engine bug')" in editor.status.text
