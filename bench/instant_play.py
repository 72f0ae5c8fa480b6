"""Space to sound: from the editor's Play command to the first block with sound in it.

The editor keeps one engine process for the session (``patcher.server.EngineProcess`` with
``keep_alive=True``), launched when its window opens: a Play then only builds the patch's
player in that process and starts the stream. This measures, on the JACK dummy device at
block 256, through the editor's model as Space drives it:

* the front end's cost of launching the process (what the window's first frames wait for),
  and a Play pressed at once, while the process still loads the engine;
* for every example, over several rounds: Play to the first block the engine computed with
  sound in it (the player notes it; the same clock in both processes), and Play to the first
  frame whose meters move (the editor polls every 1 ms here; the engine publishes its meters
  every 20 ms or sooner); then Stop;
* for comparison, what each Play cost before: a new process per Play.

The examples' material may start with silence (vowels.wav 120 ms, pluck.wav 50 ms): it counts
here as it would to a listener, and its own column says how much of each figure it is.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import patcher  # noqa: E402
from patcher.editor.model import EditorModel  # noqa: E402
from patcher.server import EngineProcess  # noqa: E402
from tests.jack_server import JackServer  # noqa: E402

RATE = 48000
BLOCK = 256
PATIENCE_S = 120.0


def meters_move(editor: EditorModel) -> float:
    """Poll as the window does, every 1 ms, until the meters show sound: when they did."""
    deadline = time.perf_counter() + PATIENCE_S
    while time.perf_counter() < deadline:
        meters = editor.poll()
        if meters is not None and max(meters["level"]) > 0.0:
            return time.perf_counter()
        time.sleep(0.001)
    raise RuntimeError(f"no sound in {PATIENCE_S:g} s: {editor.status.text}")


def play_once(editor: EditorModel) -> tuple[float, float]:
    """One Play and Stop: seconds from Play to the first block with sound, and to the meters."""
    pressed = time.perf_counter()
    if not editor.play():
        raise RuntimeError(editor.status.text)
    engine = editor.player
    seen = meters_move(editor)
    editor.stop()
    report = engine.last_report
    computed = engine.requested_at + report.first_sound_s
    return computed - pressed, seen - pressed


def lead_in_ms(patch: patcher.Patch) -> float:
    """How long the patch's material is silent at its start (its earliest file player)."""
    from patcher.audiofile import read_audio

    starts = []
    for node in patch.nodes.values():
        if node.type == "input" and node.params["source"] == "file":
            audio = read_audio(patch.base_dir / node.params["file"], RATE)
            heard = np.flatnonzero(np.abs(audio).max(axis=1) > 0.0)
            starts.append(1000.0 * heard[0] / RATE if len(heard) else 0.0)
    return min(starts, default=0.0)


def print_launch(jack: JackServer, state: Path) -> None:
    print("\n## Launch (the editor opens; Space at once)\n")
    editor = editor_on(jack, state, ROOT / "patches" / "default.json")
    try:
        started = time.perf_counter()
        editor.start_engine()
        launched = time.perf_counter()
        computed, seen = play_once(editor)
        print(f"launching the process, in the window's thread: {1000 * (launched - started):.1f} ms")
        print(f"Play pressed at once, to the first sound:       {computed + launched - started:.2f} s")
        print(f"  (the process imports the engine and loads every node's kernel first; meters {seen:.2f} s)")
    finally:
        editor.shutdown()


def print_examples(jack: JackServer, state: Path, paths: list[Path], rounds: int) -> None:
    print(f"\n## Play to sound, engine process running ({rounds} rounds, ms: median / max)\n")
    print(f"{'patch':<20}{'first sound block':>20}{'meters move':>16}{'silent lead-in':>16}")
    editor = editor_on(jack, state, paths[0])
    every: list[float] = []
    try:
        editor.start_engine()
        play_once(editor)  # the process is up: the figures below are Space pressed later
        for path in paths:
            if not editor.open(path):
                raise RuntimeError(editor.status.text)
            times = [play_once(editor) for _ in range(rounds)]
            computed = [1000 * c for c, _ in times]
            seen = [1000 * s for _, s in times]
            every += computed
            print(
                f"{path.stem:<20}{statistics.median(computed):>11.0f} / {max(computed):<6.0f}"
                f"{statistics.median(seen):>9.0f} / {max(seen):<6.0f}{lead_in_ms(editor.patch):>10.0f}",
                flush=True,
            )
        pid = editor.idle_engine.pid
    finally:
        editor.shutdown()
    median, longest = statistics.median(every), max(every)
    print(f"\nall examples: median {median:.0f} ms, max {longest:.0f} ms (all in one process, pid {pid})")


def print_before(jack: JackServer, runs: int) -> None:
    print(f"\n## Before: a new engine process per Play (default.json, {runs} runs)\n")
    patch = patcher.load(ROOT / "patches" / "default.json")
    for _ in range(runs):
        engine = EngineProcess(patch, device=jack.device)
        engine.start()
        report = engine.stop()
        print(f"Play to the first sound: {report.first_sound_s:.2f} s")


def editor_on(jack: JackServer, state: Path, path: Path) -> EditorModel:
    editor = EditorModel(
        state_dir=state,
        player_factory=lambda patch: EngineProcess(patch, device=jack.device, keep_alive=True),
    )
    if not editor.open(path):
        raise RuntimeError(editor.status.text)
    return editor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="plays of each example")
    parser.add_argument("--patch", action="append", help="only these patches (file stems)")
    parser.add_argument("--before", type=int, default=3, help="plays in a new process each, for comparison")
    args = parser.parse_args()
    paths = sorted((ROOT / "patches").glob("*.json"))
    if args.patch:
        paths = [p for p in paths if p.stem in args.patch]
    with JackServer(RATE, BLOCK) as jack, tempfile.TemporaryDirectory() as state:
        print_launch(jack, Path(state))
        print_examples(jack, Path(state), paths, args.rounds)
        if args.before:
            print_before(jack, args.before)


if __name__ == "__main__":
    main()
