"""Edits while playing: underruns over graph edits of a large patch in the editor's engine process.

The editor plays through ``patcher.server.EngineProcess``; every graph edit (a node added,
a link made) is compiled in that process while its audio callback runs. This plays a chain of
N gains on the JACK dummy device at block 256 and makes 100 edits (each adds or removes a
gain in the chain), counting the engine's underruns and JACK's xruns during the edits and
during as long a time without edits. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import patcher  # noqa: E402
from patcher.server import EngineProcess  # noqa: E402
from tests.jack_server import JackServer  # noqa: E402

RATE = 48000


def chain(gains: int) -> patcher.Patch:
    patch = patcher.Patch()
    patch.add_node("oscillator", "osc", frequency_hz=220.0, amplitude=0.2)
    previous = "osc"
    for index in range(gains):
        patch.add_node("gain", f"g{index}")
        patch.connect(f"{previous}.out", f"g{index}.in")
        previous = f"g{index}"
    patch.add_node("output", "out")
    patch.connect(f"{previous}.out", "out.left")
    return patch


def edited(patch: patcher.Patch, number: int) -> patcher.Patch:
    """Even edits put an extra gain between the first two, odd ones take it out again."""
    new = copy.deepcopy(patch)
    if number % 2 == 0:
        new.add_node("gain", "extra")
        new.disconnect("g0.out", "g1.in")
        new.connect("g0.out", "extra.in")
        new.connect("extra.out", "g1.in")
    else:
        new.remove_node("extra")
        new.connect("g0.out", "g1.in")
    return new


def measure(jack: JackServer, gains: int, edits: int, interval_s: float, buffer_ms: float) -> str:
    patch = chain(gains)
    engine = EngineProcess(patch, device=jack.device, block_size=jack.period, buffer_ms=buffer_ms)
    engine.start()
    try:
        time.sleep(1.0)
        before = engine.meters()["underruns"]
        jack.mark_xruns()
        time.sleep(edits * interval_s)  # the same time without edits: the floor
        idle = engine.meters()["underruns"] - before, jack.xruns_since_mark()
        before = engine.meters()["underruns"]
        jack.mark_xruns()
        compile_seconds = []
        for number in range(edits):
            patch = edited(patch, number)
            started = time.perf_counter()
            engine.update_patch(patch)
            compile_seconds.append(time.perf_counter() - started)
            time.sleep(max(0.0, interval_s - compile_seconds[-1]))
        time.sleep(0.5)
        during = engine.meters()["underruns"] - before, jack.xruns_since_mark()
        load = engine.meters()["cpu_load"]
    finally:
        engine.stop()
    front = 1000 * sum(compile_seconds) / len(compile_seconds)
    return (
        f"{gains:>6} {buffer_ms:>7g} {load:>7.1%} {idle[0]:>6}/{idle[1]:<5} {during[0]:>6}/{during[1]:<5}"
        f" {front:>9.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gains", type=int, action="append", help="chain lengths (default 150, 300)")
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between edits")
    parser.add_argument("--buffer", type=float, action="append", help="safety buffers in ms (default 0)")
    parser.add_argument("--block", type=int, default=256)
    args = parser.parse_args()
    print(f"\n## {args.edits} graph edits while playing, block {args.block}, engine process\n")
    print("underruns / JACK xruns, while idle and over the edits; the front end's ms per edit\n")
    print(f"{'gains':>6} {'buffer':>7} {'load':>7} {'idle':>12} {'edits':>12} {'front ms':>9}")
    with JackServer(RATE, args.block) as jack:
        for gains in args.gains or [150, 300]:
            for buffer_ms in args.buffer or [0.0]:
                print(measure(jack, gains, args.edits, args.interval, buffer_ms), flush=True)


if __name__ == "__main__":
    main()
