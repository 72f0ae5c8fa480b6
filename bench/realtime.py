"""Real-time benchmark on the JACK dummy device: CPU load per block and underruns.

First the machine's floor: JACK xruns under reference callbacks that do nothing or only
busy-wait a fixed time (up to half the period), which no engine can beat, and how many callbacks
came against the clock's count (how well the machine keeps time: the tests only check that the
device is paced by its clock). Then, for each example patch: the CPU load of one block (time to
compute it over its duration) at blocks 64, 128, 256 and 512, and underruns while playing in
real time at block 64:

* in the device's callback, alone and beside a GUI-like busy thread, with the engine in this
  process (sharing the GIL with the busy thread) and in its own (patcher.server.EngineProcess);
* with a safety buffer (``Player(buffer_ms=...)``): the engine computes ahead in its own thread
  and the device's thread only copies, in C. Its cells read "FIFO underruns / JACK xruns";
* with the sound card's input too (a duplex stream, as a live input node has): its cells add
  the input's overruns, "+N over".

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


def floor_xruns(jack: JackServer, seconds: float, busy_us: float) -> tuple[int, float]:
    """JACK xruns under a callback that only busy-waits ``busy_us`` (no numpy, no allocation),
    and the callbacks counted over ``seconds`` as a fraction of the clock's count."""
    calls = [0]

    def callback(outdata: np.ndarray, _frames: int, _time: object, _status: object) -> None:
        calls[0] += 1
        until = time.perf_counter() + busy_us * 1e-6
        while time.perf_counter() < until:
            pass
        outdata.fill(0.0)

    jack.mark_xruns()
    with sd.OutputStream(
        device=jack.device, samplerate=RATE, blocksize=jack.period, channels=2, callback=callback
    ):
        started, calls_before = time.perf_counter(), calls[0]
        time.sleep(seconds)
        counted, elapsed = calls[0] - calls_before, time.perf_counter() - started
    time.sleep(0.2)
    return jack.xruns_since_mark(), counted / (elapsed * RATE / jack.period)


def underruns(
    patch: patcher.Patch,
    jack: JackServer,
    seconds: float,
    busy: bool,
    separate: bool = False,
    buffer_ms: float = 0.0,
    live_input: bool = False,
) -> str:
    busy_thread = BusyThread() if busy else None
    jack.mark_xruns()
    device = {"device": jack.device, "input_device": jack.device if live_input else None}
    if separate:
        player = EngineProcess(patch, **device, block_size=jack.period, buffer_ms=buffer_ms)
    else:
        player = Player(patch, **device, block_size=jack.period, buffer_ms=buffer_ms)
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
    cell = f"{'?' if report is None else report.underruns} / {xruns}" if buffer_ms else str(xruns)
    if live_input:  # on JACK an xrun is flagged as an overrun too, in the callback
        cell += f" +{'?' if report is None else report.overruns} over"
    return cell


# The underrun runs, one column each: (heading, busy thread, engine process, buffered, input).
RUNS = {
    "callback": ("callback, alone", False, False, False, False),
    "callback-busy": ("+ busy thread", True, False, False, False),
    "callback-busy-process": ("+ busy, engine process", True, True, False, False),
    "buffered": ("buffered {buffer} ms, alone", False, False, True, False),
    "buffered-busy": ("+ busy thread", True, False, True, False),
    "buffered-busy-process": ("+ busy, engine process", True, True, True, False),
    "callback-input": ("callback, with input", False, False, False, True),
    "buffered-input": ("buffered, with input", False, False, True, True),
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
    half_period_us = round(jack.period / RATE * 1e6 / 2)
    waits = (0, 50, 100, 200, 400, half_period_us)
    print(f"\n## The machine's floor: JACK xruns in {args.seconds:g} s at block {args.block}\n")
    print("a callback that busy-waits (us):  " + "  ".join(f"{us:>6}" for us in waits))
    floors = [floor_xruns(jack, args.seconds, us) for us in waits]
    print("xruns:                            " + "  ".join(f"{x:>6}" for x, _ in floors))
    print("callbacks, % of the clock's:      " + "  ".join(f"{r:>6.1%}" for _, r in floors), flush=True)


def print_underruns(jack: JackServer, paths: list[Path], runs: list[str], args: argparse.Namespace) -> None:
    print(f"\n## Underruns in {args.seconds:g} s at block {args.block}\n")
    print("In the callback: JACK xruns. Buffered: FIFO underruns / JACK xruns. With input: +overruns.\n")
    headings = [RUNS[run][0].format(buffer=f"{args.buffer:g}") for run in runs]
    print(f"{'patch':<20}" + "".join(f"{h:>24}" for h in headings))
    for path in paths:
        patch = patcher.load(path)
        cells = []
        for run in runs:
            _heading, busy, separate, buffered, live_input = RUNS[run]
            buffer_ms = args.buffer if buffered else 0.0
            cells.append(underruns(patch, jack, args.seconds, busy, separate, buffer_ms, live_input))
        print(f"{path.stem:<20}" + "".join(f"{c:>24}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
