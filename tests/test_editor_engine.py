"""The editor's engine process is the session's: launched once, in the background, it plays
every Play and every patch opened later; one that dies is replaced, and said; closing the
editor ends it. Real processes on the JACK dummy device; behaviour only (the time from Play to
sound is measured by ``bench/instant_play.py``).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from patcher.editor.model import EditorModel
from patcher.model import Patch, Settings
from patcher.patchfile import save
from patcher.server import EngineProcess
from tests.test_editor_window import display  # noqa: F401  (the fixture: a private Xvfb)

ROOT = Path(__file__).resolve().parent.parent
#: How long a test waits for something to happen before it fails: long enough for a busy machine.
PATIENCE_S = 60.0


def tone_patch(folder: Path, name: str, frequency_hz: float, block_size: int = 256) -> Path:
    patch = Patch(settings=Settings(block_size=block_size), base_dir=folder)
    patch.add_node("oscillator", "osc", (20.0, 40.0), frequency_hz=frequency_hz, amplitude=0.5)
    patch.add_node("output", "out", (260.0, 40.0))
    patch.connect("osc.out", "out.left")
    save(patch, folder / f"{name}.json")
    return folder / f"{name}.json"


@pytest.fixture
def editor(jack: Any, tmp_path: Path) -> Any:
    """An editor on a tone whose engine processes play on the JACK device; closed at the end,
    and then no engine process may be left."""
    model = EditorModel(
        state_dir=tmp_path / "state",
        player_factory=lambda patch: EngineProcess(patch, device=jack.device, keep_alive=True),
    )
    assert model.open(tone_patch(tmp_path, "low", 220.0))
    try:
        yield model
    finally:
        model.shutdown()
    assert multiprocessing.active_children() == [], "an engine process outlived the editor"


def wait_for_sound(editor: EditorModel) -> None:
    """Poll as the window does until the meters move: the engine plays and is heard."""
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        meters = editor.poll()
        assert editor.playing, editor.status.text
        if meters is not None and max(meters["level"]) > 0.1:
            return
        time.sleep(0.01)
    raise AssertionError("no sound came from the engine")


def wait_until_gone(pid: int) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1]
    except (OSError, IndexError):
        return False
    return not status.startswith("Z")


def test_play_stop_and_play_again_use_the_same_engine_process(editor: EditorModel, tmp_path: Path) -> None:
    editor.start_engine()  # as the window does once it shows
    pid = editor.idle_engine.pid
    assert pid is not None and not editor.playing
    assert editor.play(), editor.status.text
    assert editor.player.pid == pid
    wait_for_sound(editor)
    editor.stop()
    assert not editor.playing and editor.idle_engine.pid == pid and _alive(pid)
    assert editor.play(), editor.status.text  # the second Play: the same process, sound again
    assert editor.player.pid == pid
    wait_for_sound(editor)
    editor.stop()
    # A patch opened later, at another block size, plays in the same process too.
    assert editor.open(tone_patch(tmp_path, "high", 880.0, block_size=128))
    assert editor.play(), editor.status.text
    assert editor.player.pid == pid
    wait_for_sound(editor)
    engine = editor.player
    editor.stop()
    report = engine.last_report
    assert report.block_size == 128 and report.callbacks > 0 and report.first_sound_s is not None
    editor.shutdown()
    assert editor.idle_engine is None
    wait_until_gone(pid)


@pytest.mark.kills_jack_clients
def test_a_killed_engine_process_is_replaced_and_the_user_told(editor: EditorModel) -> None:
    # Killed while playing: said at the next frame, and a new one starts in the background.
    assert editor.play(), editor.status.text
    first = editor.player.pid
    wait_for_sound(editor)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + PATIENCE_S
    while editor.playing and time.monotonic() < deadline:
        editor.poll()
        time.sleep(0.01)
    assert not editor.playing
    assert editor.status.level == "error", editor.status.text
    assert "stopped unexpectedly (it was killed (SIGKILL))" in editor.status.text
    assert "a new one is starting" in editor.status.text
    second = editor.idle_engine.pid
    assert second not in (None, first)
    assert editor.play(), editor.status.text
    assert editor.player.pid == second
    wait_for_sound(editor)
    editor.stop()
    # Killed while waiting, and noticed by the next Play itself: a new one, and a word.
    os.kill(second, signal.SIGKILL)
    wait_until_gone(second)
    assert editor.play(), editor.status.text
    third = editor.player.pid
    assert third not in (first, second)
    assert "the audio engine was killed (SIGKILL): a new one was started" in editor.status.text
    wait_for_sound(editor)


#: The editor's window, closed by its loop ending after a Space (play) and sound on the JACK
#: device given; it prints the engine process's id.
EDITOR_SESSION = textwrap.dedent(
    """
    import sys, time
    from patcher.editor import run_editor
    from patcher.editor.view import EditorView
    from patcher.server import EngineProcess

    def run(view):
        engine = view.model.idle_engine  # launched once the window showed
        print(engine.pid, flush=True)
        view.perform("play")  # what Space does
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            meters = view.model.poll()
            if meters is not None and max(meters["level"]) > 0.1:
                print("sound from", view.model.player.pid, flush=True)
                break
            view.frame()
        # the loop ends as when the window is closed

    EditorView.run = run
    factory = lambda patch: EngineProcess(patch, device=int(sys.argv[2]), keep_alive=True)
    sys.exit(run_editor(sys.argv[1], player_factory=factory))
    """
)


def test_the_editor_starts_its_engine_process_with_it_and_ends_it_on_exit(
    display: str,  # noqa: F811
    jack: Any,
    tmp_path: Path,
) -> None:
    path = tone_patch(tmp_path, "tone", 440.0)
    done = subprocess.run(
        [sys.executable, "-c", EDITOR_SESSION, str(path), str(jack.device)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    pid, sound = done.stdout.splitlines()
    assert sound == f"sound from {pid}"
    wait_until_gone(int(pid))  # joined by the editor on its way out, not left to die


#: The editor in screenshot mode, counting the engine processes it launches.
SCREENSHOT_SESSION = textwrap.dedent(
    """
    import sys
    from patcher.editor import run_editor
    from patcher.server import EngineProcess

    launched = []
    launch = EngineProcess.launch
    EngineProcess.launch = lambda engine: launched.append(engine) or launch(engine)
    code = run_editor(sys.argv[1], screenshot=sys.argv[2])
    print("engine processes:", len(launched), flush=True)
    sys.exit(code)
    """
)


def test_a_screenshot_launches_no_engine_process(display: str, tmp_path: Path) -> None:  # noqa: F811
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [sys.executable, "-c", SCREENSHOT_SESSION, str(tone_patch(tmp_path, "tone", 440.0)), str(shot)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "engine processes: 0" and shot.is_file()


def wait_for_level(editor: EditorModel, below: float | None = None, above: float | None = None) -> float:
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        meters = editor.poll()
        level = max(meters["level"]) if meters is not None else None
        if level is not None and (below is None or level < below) and (above is None or level > above):
            return level
        time.sleep(0.01)
    raise AssertionError(f"the level never went below {below} and above {above}: it was {level}")


def test_an_edit_inside_a_subpatch_and_a_preset_recall_reach_the_engine_process(editor: EditorModel) -> None:
    editor.store_preset("loud")
    assert editor.play(), editor.status.text
    wait_for_sound(editor)
    editor.select(["osc"])
    assert editor.group_selection() == "group1"
    assert editor.open_subpatch("group1") and editor.set_param("osc", "amplitude", 0.01)
    assert editor.player.patch.find("group1/osc").params["amplitude"] == 0.01  # by its path
    wait_for_level(editor, below=0.02)
    editor.close_subpatch()
    editor.select(["group1"])
    editor.ungroup_selection()  # the preset names "osc" at the top level again
    # (the ungrouped patch is sent, then the recall: the patch sent must not be the one the
    # recall changes at once, or the engine would jump to the preset before it could glide)
    # Recall glides: the level passes between the two on its way up, then arrives.
    assert editor.recall_preset("loud", glide_s=1.0), editor.status.text
    wait_for_level(editor, below=0.4, above=0.05)
    wait_for_level(editor, above=0.45)
    editor.stop()
