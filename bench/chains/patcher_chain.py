"""The reference chain as a patcher patch, rendered by the engine block by block."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

import numpy as np

import patcher
from bench.chains import common


def chain(ir: str | None) -> patcher.Patch:
    patch = patcher.Patch()
    patch.add_node("noise", "noise", amplitude=1.0, seed=1)
    patch.add_node("gain", "gain", gain_db=12.04)
    patch.add_node("waveshaper", "shaper", shape="tanh", oversampling="1x")
    patch.add_node("filter", "lowpass", type="lowpass", cutoff_hz=common.CUTOFF_HZ, q=common.Q)
    patch.add_node("lfo", "lfo", rate_hz=common.CHORUS_RATE_HZ, depth=common.CHORUS_DEPTH_MS)
    patch.add_node("delay", "chorus", time_ms=common.CHORUS_MS, mix=common.CHORUS_MIX)
    patch.add_node(
        "delay", "echo", time_ms=common.ECHO_MS, feedback=common.ECHO_FEEDBACK, mix=common.ECHO_MIX
    )
    patch.add_node("output", "out")
    for source, target in [
        ("noise.out", "gain.in"),
        ("gain.out", "shaper.in"),
        ("shaper.out", "lowpass.in"),
        ("lowpass.out", "chorus.in"),
        ("lfo.out", "chorus.time_ms"),
        ("chorus.out", "echo.in"),
    ]:
        patch.connect(source, target)
    last = "echo.out"
    if ir is not None:
        patch.add_node("convolver", "room", source="file", file=str(Path(ir).resolve()), normalize="none")
        patch.connect(last, "room.in")
        last = "room.out"
    patch.connect(last, "out.left")
    return patch


def main() -> None:
    args = common.arguments()
    engine = patcher.Engine(chain(args.ir), common.SAMPLE_RATE, args.block)
    engine.render(0.5)  # first calls: caches, kernels loaded
    blocks = round(args.seconds * common.SAMPLE_RATE / args.block)
    peak = 0.0
    # As the real-time player runs it: numpy's warnings off once for the thread (the engine
    # catches NaN itself), not per block as ``process_block`` turns them off for a caller.
    with np.errstate(all="ignore"):
        started = time.process_time()
        for _ in range(blocks):
            block = engine.run_block()
    peak = float(abs(block).max())
    common.report(started, peak)


if __name__ == "__main__":
    main()
