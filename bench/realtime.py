"""Real-time benchmark on the JACK dummy device: CPU load per block and underruns.

For each example patch: the CPU load of one block (time to compute it over its duration) at
blocks 64, 128, 256 and 512, then underruns while playing in real time at block 64, alone and
beside a GUI-like busy thread — with the engine in this process (sharing the GIL with the busy
thread) and in its own process (patcher.server.EngineProcess). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import patcher  # noqa: E402
from patcher.player import Player, quiet_interpreter  # noqa: E402
from patcher.server import EngineProcess  # noqa: E402
from tests.jack_server import JackServer  # noqa: E402

RATE = 48000


def block_loads(patch: patcher.Patch, block: int, seconds: float = 2.0) -> tuple[float, float]:
    """Mean and 99th-percentile CPU load of one block, rendered offline."""
    engine = patcher.Engine(patch, block_size=block)
    durations = []
    for _ in range(round(seconds * RATE / block)):
        started = time.perf_counter()
        engine.process_block()
        durations.append(time.perf_counter() - started)
    loads = np.array(durations) * RATE / block
    return float(loads.mean()), float(np.percentile(loads, 99))


class BusyThread(threading.Thread):
    """What an editor does between frames: Python-level work holding the GIL, plus numpy."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.running = True

    def run(self) -> None:
        points = np.random.default_rng(0).standard_normal(4096)
        while self.running:
            widgets = [{"x": i, "y": i * 0.5, "label": str(i)} for i in range(2000)]  # layout
            sorted(widgets, key=lambda w: -w["y"])
            np.abs(np.fft.rfft(points))  # a spectrum view

    def stop(self) -> None:
        self.running = False
        self.join()


def underruns(patch: patcher.Patch, jack: JackServer, seconds: float, busy: bool, separate: bool) -> int:
    busy_thread = BusyThread() if busy else None
    jack.mark_xruns()
    if separate:
        player = EngineProcess(patch, device=jack.device, block_size=jack.period)
    else:
        player = Player(patch, device=jack.device, block_size=jack.period)
        quiet_interpreter()  # after building the player, as `patcher play` does
    player.start()
    if busy_thread:
        busy_thread.start()
    try:
        time.sleep(seconds)
    finally:
        if busy_thread:
            busy_thread.stop()
        player.stop()
    time.sleep(0.2)
    return jack.xruns_since_mark()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="playing time per measurement")
    parser.add_argument("--block", type=int, default=64, help="block (JACK period) for the underrun runs")
    parser.add_argument("--patch", action="append", help="only these patches (file stems)")
    args = parser.parse_args()
    paths = sorted((ROOT / "patches").glob("*.json"))
    if args.patch:
        paths = [p for p in paths if p.stem in args.patch]
    blocks = (64, 128, 256, 512)
    print("\n## CPU load of one block (mean / p99), offline\n")
    print(f"{'patch':<20}" + "".join(f"{'block ' + str(b):>16}" for b in blocks))
    for path in paths:
        patch = patcher.load(path)
        cells = [block_loads(patch, block) for block in blocks]
        print(f"{path.stem:<20}" + "".join(f"{m:>8.1%}/{p:>6.1%}" for m, p in cells))
    print(f"\n## Underruns (JACK xruns) in {args.seconds:g} s at block {args.block}\n")
    header = ("alone", "busy thread, same process", "busy thread, engine process")
    print(f"{'patch':<20}" + "".join(f"{h:>30}" for h in header))
    with JackServer(RATE, args.block) as jack:
        for path in paths:
            patch = patcher.load(path)
            cells = [
                underruns(patch, jack, args.seconds, busy=False, separate=False),
                underruns(patch, jack, args.seconds, busy=True, separate=False),
                underruns(patch, jack, args.seconds, busy=True, separate=True),
            ]
            print(f"{path.stem:<20}" + "".join(f"{c:>30}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
