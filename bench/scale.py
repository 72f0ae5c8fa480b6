"""How far patcher scales: voices in real time, the shortest feedback loop, start-up, and
building, loading, compiling and live-editing large patches.

Prints figures and the targets they are held to; asserts nothing (timing targets do not belong
in unit tests). Run with ``make bench``; ``--quick`` runs shorter measurements.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import patcher  # noqa: E402
from patcher.compiler import compile_patch  # noqa: E402

SAMPLE_RATE = 48000


def voices_patch(count: int) -> patcher.Patch:
    """``count`` oscillator -> filter -> gain voices, summed eight at a time by mix nodes."""
    patch = patcher.Patch()
    patch.add_node("output", "out")
    gains = []
    for voice in range(count):
        osc = patch.add_node("oscillator", waveform="saw", frequency_hz=55.0 * (1 + voice % 48) ** 0.5)
        lowpass = patch.add_node("filter", type="lowpass", cutoff_hz=1000.0 + 10 * (voice % 1000))
        gain = patch.add_node("gain", gain_db=-60.0)
        patch.connect(f"{osc}.out", f"{lowpass}.in")
        patch.connect(f"{lowpass}.out", f"{gain}.in")
        gains.append(gain)
    level = gains
    while len(level) > 1:  # a tree of mixes, as a user sums many voices
        mixes = []
        for first in range(0, len(level), 4):
            mix = patch.add_node("mix")
            for port, source in enumerate(level[first : first + 4], start=1):
                patch.connect(f"{source}.out", f"{mix}.in{port}")
            mixes.append(mix)
        level = mixes
    patch.connect(f"{level[0]}.out", "out.left")
    return patch


def realtime_factor(patch: patcher.Patch, block: int, seconds: float) -> float:
    """Seconds of audio per CPU second, the best of three runs (the machine's noise only slows)."""
    engine = patcher.Engine(patch, SAMPLE_RATE, block)
    engine.render(0.1)
    while engine.schedule.fast.made < len(engine.schedule.fast.groups):  # the plan made whole
        engine.process_block()
    blocks = max(1, round(seconds * SAMPLE_RATE / block))
    best = 0.0
    with np.errstate(all="ignore"):
        for _ in range(3):
            started = time.process_time()
            for _ in range(blocks):
                engine.run_block()
            elapsed = time.process_time() - started
            best = max(best, blocks * block / SAMPLE_RATE / max(elapsed, 1e-9))
    return best


def voices(seconds: float) -> None:
    print("\n## Voices in real time (oscillator -> filter -> gain, block 256; target: >= 1000)\n")
    print(f"{'voices':>7} {'nodes':>7} {'RTF':>8}")
    low, high = 0, None
    count = 250
    while high is None or high - low > max(25, low // 20):
        factor = realtime_factor(voices_patch(count), 256, seconds)
        print(f"{count:>7} {len(voices_patch(count).nodes):>7} {factor:>7.2f}x", flush=True)
        if factor >= 1.0:
            low = count
            count = count * 2 if high is None else (low + high) // 2
        else:
            high = count
            count = (low + high) // 2
    print(f"\nabout {low} voices in real time at block 256 (RTF >= 1.0 on one core)")


def feedback_loop(seconds: float) -> None:
    print("\n## The shortest feedback loop (2 samples through a delay's tap; target: >= 2x)\n")
    print(f"{'loop':>8} {'block':>6} {'RTF':>8}")
    for loop_samples in (2, 8, 64):
        patch = patcher.Patch()
        patch.add_node("oscillator", "osc", frequency_hz=220.0)
        delay_ms = 1000.0 * loop_samples / SAMPLE_RATE
        patch.add_node("delay", "line", time_ms=delay_ms, max_time_ms=1.0, feedback=0.0, mix=1.0)
        patch.add_node("gain", "back", gain_db=-6.0)
        patch.add_node("output", "out")
        for source, target in [
            ("osc.out", "line.in"),
            ("line.tap", "back.in"),
            ("back.out", "line.in"),
            ("line.out", "out.left"),
        ]:
            patch.connect(source, target)
        for block in (64, 256):
            factor = realtime_factor(patch, block, seconds)
            print(f"{loop_samples:>6} s {block:>6} {factor:>7.2f}x", flush=True)


def start_up(runs: int) -> None:
    print("\n## Start-up (wall seconds, warm kernel cache, median of runs)\n")
    with tempfile.TemporaryDirectory() as folder:
        wav = str(Path(folder) / "out.wav")
        commands = {
            "python -c 'import patcher'": [sys.executable, "-c", "import patcher"],
            "patcher check default.json": [sys.executable, "-m", "patcher", "check", "patches/default.json"],
            "patcher render default.json --seconds 1 (target <= 0.6)": [
                *[sys.executable, "-m", "patcher", "render", "patches/default.json"],
                *["-o", wav, "--seconds", "1"],
            ],
        }
        for name, command in commands.items():
            subprocess.run(command, cwd=ROOT, capture_output=True, check=True)  # caches warm
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                subprocess.run(command, cwd=ROOT, capture_output=True, check=True)
                times.append(time.perf_counter() - started)
            print(f"{statistics.median(times):>7.2f} s  {name}")


def chain_patch(count: int) -> patcher.Patch:
    """``count`` nodes: a source, a chain of gains, each also sent to a mix every few nodes."""
    patch = patcher.Patch()
    previous = patch.add_node("oscillator", "osc")
    for _ in range(count - 2):
        node = patch.add_node("gain", gain_db=-0.001)
        patch.connect(f"{previous}.out", f"{node}.in")
        previous = node
    patch.add_node("output", "out")
    patch.connect(f"{previous}.out", "out.left")
    return patch


def timed(action: Callable[[], object], runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def build_load_compile() -> None:
    print("\n## Build, load, compile (seconds, best of 3; target: < 1 s each at 10,000 nodes)\n")
    print(f"{'nodes':>7} {'links':>7} {'build':>8} {'load':>8} {'compile':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for count in (1000, 10_000):
            patch = chain_patch(count)
            path = Path(folder) / f"chain{count}.json"
            patch.save(path)
            build = timed(lambda count=count: chain_patch(count))
            load = timed(lambda path=path: patcher.load(path))
            compile_seconds = timed(lambda patch=patch: compile_patch(patch))
            cells = f"{build:>8.3f} {load:>8.3f} {compile_seconds:>8.3f}"
            print(f"{count:>7} {len(patch.links):>7} {cells}")
    live_edit()


def live_edit() -> None:
    """One edit of a 1000-node patch prepared while it plays (off the audio thread)."""
    patch = chain_patch(1000)
    engine = patcher.Engine(patch, SAMPLE_RATE, 256)
    engine.render(0.05)
    times = []
    for edit in range(5):
        edited = copy.deepcopy(patch)  # as the editor sends a whole patch
        edited.set_param("osc", "frequency_hz", 220.0 + edit)
        edited.add_node("gain", f"extra{edit}")
        edited.connect("osc.out", f"extra{edit}.in")
        edited.connect(f"extra{edit}.out", "out.right")
        started = time.perf_counter()
        schedule = engine.prepare_patch(edited)
        times.append(time.perf_counter() - started)
        engine.swap(schedule)
        engine.run_block()
        engine.release_retired()
    median_ms = statistics.median(times) * 1e3
    print(f"\na live edit of a 1000-node patch prepared in {median_ms:.0f} ms (target < 50)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args()
    print("# patcher at scale")
    build_load_compile()
    start_up(3 if args.quick else 7)
    feedback_loop(0.5 if args.quick else 2.0)
    voices(0.2 if args.quick else 1.0)


if __name__ == "__main__":
    main()
