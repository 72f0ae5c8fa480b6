"""Benchmark: the CPU of a 16-voice synth (poly_synth.json's voice, 16 copies) per block, with
all 16 voices sounding and with none, at blocks of 64 and 256 samples.

Prints figures; asserts nothing. Run with ``make bench`` (``--quick`` measures fewer blocks).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import patcher  # noqa: E402
from patcher.events import NOTE_ON, Event, EventTimeline  # noqa: E402

VOICES = 16
RATE = 48000


def synth() -> patcher.Patch:
    patch = patcher.load(ROOT / "patches" / "poly_synth.json")
    patch.set_param("synth", "voices", VOICES)
    return patch


def block_cost(block: int, sounding: bool, blocks: int) -> tuple[float, int]:
    """Seconds of CPU per block (this process's CPU time, so other programs on the machine count
    little: the median of ten runs of ``blocks // 10``), and the voices sounding."""
    engine = patcher.Engine(synth(), RATE, block)
    if sounding:  # sixteen notes, two octaves of a whole-tone cluster, held throughout
        engine.play_events(
            EventTimeline(Event(0, NOTE_ON, 1, 48 + 2 * index, 0.8) for index in range(VOICES))
        )
    for _ in range(RATE // block):  # a second to settle (and compile nothing later)
        engine.process_block()
    runs = []
    for _ in range(10):
        started = time.process_time()
        for _ in range(blocks // 10):
            engine.process_block()
        runs.append((time.process_time() - started) / (blocks // 10))
    poly = engine.schedule.nodes["synth"]
    return sorted(runs)[len(runs) // 2], sum(poly.active)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer blocks")
    args = parser.parse_args()
    print(f"\n## A {VOICES}-voice synth (poly_synth.json's voice): CPU per block at {RATE} Hz\n")
    print(
        f"{'block':>6} {'voices sounding':>16} {'µs per block':>14} {'of the budget':>14} {'real time':>11}"
    )
    for block in (64, 256):
        for sounding in (True, False):
            blocks = (2000 if args.quick else 10000) * 64 // block
            cost, active = block_cost(block, sounding, blocks)
            budget = block / RATE
            print(
                f"{block:>6} {active:>16} {cost * 1e6:>14.1f} {cost / budget:>14.1%} {budget / cost:>10.1f}x"
            )


if __name__ == "__main__":
    main()
