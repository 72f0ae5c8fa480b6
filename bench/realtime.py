"""Real-time benchmark on the JACK dummy device: CPU load per block and underruns.

First the machine's floor: JACK xruns under reference callbacks that do nothing or only
busy-wait a fixed time, which no engine can beat. Then, for each example patch: the CPU load of
one block (time to compute it over its duration) at blocks 64, 128, 256 and 512, and underruns
while playing in real time at block 64:

* in the device's callback, alone and beside a GUI-like busy thread, with the engine in this
  process (sharing the GIL with the busy thread) and in its own (patcher.server.EngineProcess);
* with a safety buffer (``Player(buffer_ms=...)``): the engine computes ahead in its own thread
  and the device's thread only copies, in C. Its cells read "FIFO underruns / JACK xruns".

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np
import sounddevice as sd

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


def floor_xruns(jack: JackServer, seconds: float, busy_us: float) -> int:
    """JACK xruns under a callback that only busy-waits ``busy_us`` (no numpy, no allocation)."""

    def callback(outdata: np.ndarray, _frames: int, _time: object, _status: object) -> None:
        until = time.perf_counter() + busy_us * 1e-6
        while time.perf_counter() < until:
            pass
        outdata.fill(0.0)

    jack.mark_xruns()
    with sd.OutputStream(
        device=jack.device, samplerate=RATE, blocksize=jack.period, channels=2, callback=callback
    ):
        time.sleep(seconds)
    time.sleep(0.2)
    return jack.xruns_since_mark()


def underruns(
    patch: patcher.Patch,
    jack: JackServer,
    seconds: float,
    busy: bool,
    separate: bool = False,
    buffer_ms: float = 0.0,
) -> str:
    busy_thread = BusyThread() if busy else None
    jack.mark_xruns()
    if separate:
        player = EngineProcess(patch, device=jack.device, block_size=jack.period, buffer_ms=buffer_ms)
    else:
        player = Player(patch, device=jack.device, block_size=jack.period, buffer_ms=buffer_ms)
        quiet_interpreter()  # after building the player, as `patcher play` does
    player.start()
    if busy_thread:
        busy_thread.start()
    try:
        time.sleep(seconds)
    finally:
        if busy_thread:
            busy_thread.stop()
        if separate:
            report = player.stop()  # the engine process's report, or None if it hung
        else:
            player.stop()
            report = player.report()
    time.sleep(0.2)
    xruns = jack.xruns_since_mark()
    if not buffer_ms:
        return str(xruns)
    return f"{'?' if report is None else report.underruns} / {xruns}"


# The underrun runs, one column each: (heading, busy thread, engine process, buffered).
RUNS = {
    "callback": ("callback, alone", False, False, False),
    "callback-busy": ("+ busy thread", True, False, False),
    "callback-busy-process": ("+ busy, engine process", True, True, False),
    "buffered": ("buffered {buffer} ms, alone", False, False, True),
    "buffered-busy": ("+ busy thread", True, False, True),
    "buffered-busy-process": ("+ busy, engine process", True, True, True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="playing time per measurement")
    parser.add_argument("--block", type=int, default=64, help="block (JACK period) for the underrun runs")
    parser.add_argument("--buffer", type=float, default=5.0, help="safety buffer (ms) for the buffered runs")
    parser.add_argument("--patch", action="append", help="only these patches (file stems)")
    parser.add_argument(
        "--run", action="append", choices=list(RUNS), help="only these underrun runs (default: all)"
    )
    parser.add_argument("--skip-loads", action="store_true", help="skip the offline CPU loads")
    parser.add_argument("--skip-floor", action="store_true", help="skip the machine's floor")
    args = parser.parse_args()
    paths = sorted((ROOT / "patches").glob("*.json"))
    if args.patch:
        paths = [p for p in paths if p.stem in args.patch]
    if not args.skip_loads:
        print_block_loads(paths)
    with JackServer(RATE, args.block) as jack:
        if not args.skip_floor:
            print_floor(jack, args)
        print_underruns(jack, paths, args.run or list(RUNS), args)


def print_block_loads(paths: list[Path]) -> None:
    blocks = (64, 128, 256, 512)
    print("\n## CPU load of one block (mean / p99), offline\n")
    print(f"{'patch':<20}" + "".join(f"{'block ' + str(b):>16}" for b in blocks))
    for path in paths:
        patch = patcher.load(path)
        cells = [block_loads(patch, block) for block in blocks]
        print(f"{path.stem:<20}" + "".join(f"{m:>8.1%}/{p:>6.1%}" for m, p in cells), flush=True)


def print_floor(jack: JackServer, args: argparse.Namespace) -> None:
    waits = (0, 50, 100, 200, 400)
    print(f"\n## The machine's floor: JACK xruns in {args.seconds:g} s at block {args.block}\n")
    print("a callback that busy-waits (us):  " + "  ".join(f"{us:>4}" for us in waits))
    floors = [floor_xruns(jack, args.seconds, us) for us in waits]
    print("xruns:                            " + "  ".join(f"{x:>4}" for x in floors), flush=True)


def print_underruns(jack: JackServer, paths: list[Path], runs: list[str], args: argparse.Namespace) -> None:
    print(f"\n## Underruns in {args.seconds:g} s at block {args.block}\n")
    print("In the callback: JACK xruns. Buffered: FIFO underruns / JACK xruns.\n")
    headings = [RUNS[run][0].format(buffer=f"{args.buffer:g}") for run in runs]
    print(f"{'patch':<20}" + "".join(f"{h:>24}" for h in headings))
    for path in paths:
        patch = patcher.load(path)
        cells = []
        for run in runs:
            _heading, busy, separate, buffered = RUNS[run]
            buffer_ms = args.buffer if buffered else 0.0
            cells.append(underruns(patch, jack, args.seconds, busy, separate, buffer_ms))
        print(f"{path.stem:<20}" + "".join(f"{c:>24}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
