"""Benchmarks: real-time factor of the examples, compile time, per-node cost per block, and
the temporary arrays one audio callback allocates.

Prints figures and ratios; asserts nothing (timing targets do not belong in unit tests).
Run with ``make bench``; ``--quick`` runs shorter measurements.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import patcher  # noqa: E402
from patcher.compiled import SKIP, Program, split  # noqa: E402
from patcher.compiler import compile_patch  # noqa: E402
from patcher.spec import registry  # noqa: E402
from tests.nodetools import probe_signal  # noqa: E402


def realtime_factors(seconds: float) -> None:
    blocks = (64, 256, 1024)
    print(f"\n## Real-time factor (seconds of audio per second of CPU; {seconds:g} s rendered)\n")
    print(f"{'patch':<22}" + "".join(f"{'block ' + str(b):>14}" for b in blocks))
    for path in sorted((ROOT / "patches").glob("*.json")):
        patch = patcher.load(path)
        cells = []
        for block in blocks:
            engine = patcher.Engine(patch, block_size=block)
            started = time.process_time()
            engine.render(seconds)
            elapsed = time.process_time() - started
            cells.append(f"{seconds / max(elapsed, 1e-9):>13.1f}x")
        print(f"{path.stem:<22}" + "".join(cells))


def generated_patch(node_count: int, seed: int = 0) -> patcher.Patch:
    """A random acyclic patch: mixers fed by earlier nodes, one source, one output."""
    rng = random.Random(seed)
    patch = patcher.Patch()
    ids = [patch.add_node("math", "source", op="constant", b=0.1)]
    for _ in range(node_count - 2):
        node_id = patch.add_node("mix")
        for port in rng.sample(["in1", "in2", "in3", "in4"], k=2):
            patch.connect(f"{rng.choice(ids)}.out", f"{node_id}.{port}")
        ids.append(node_id)
    patch.add_node("output", "out")
    patch.connect(f"{ids[-1]}.out", "out.left")
    return patch


def compile_times() -> None:
    print("\n## Compile time of generated patches\n")
    print(f"{'nodes':>6} {'links':>7} {'compile':>12} {'per node':>12}")
    for count in (10, 100, 1000):
        patch = generated_patch(count)
        runs = 5 if count < 1000 else 2
        started = time.perf_counter()
        for _ in range(runs):
            compile_patch(patch)
        elapsed = (time.perf_counter() - started) / runs
        print(f"{count:>6} {len(patch.links):>7} {elapsed * 1e3:>10.2f} ms {elapsed / count * 1e6:>9.1f} µs")


def node_costs(repeats: int) -> None:
    rate = 48000
    print("\n## Cost of one block per node, µs (% of the block's budget at 48000 Hz)\n")
    print("static: params at their defaults; modulated: every modulatable param driven by a signal;")
    print("through process (as a step runs it), and as an entry of the compiled program (as a")
    print("whole block runs it; - for a node that has none)\n")
    header = "".join(f"{f'{label} {block}':>18}" for block in (64, 256) for label in ("static", "modulated"))
    compiled = "".join(f"{f'program {block}':>13}" for block in (64, 256))
    print(f"{'node':<12}{header}{compiled}")
    for type_name, cls in sorted(registry().items()):
        cells = []
        for block in (64, 256):
            for modulated in (False, True):
                cost = _block_cost(cls, block, rate, repeats, modulated)
                cells.append(f"{cost * 1e6:>9.1f} ({cost / (block / rate):>5.1%})")
        for block in (64, 256):
            cost = _program_cost(cls, block, rate, repeats)
            cells.append(f"{'-' if cost is None else f'{cost * 1e6:.2f}':>13}")
        print(f"{type_name:<12}" + "".join(cells))


def _node_with_buffers(cls: type, block: int, rate: int, modulated: bool) -> tuple[Any, dict, dict, dict]:
    """A prepared node, its inputs fed with a test signal, its outputs, and its params: a
    modulatable one as an array (the engine's contract), of its set value when static."""
    node = cls()
    node.linked = frozenset(cls.input_ports() if modulated else cls.INPUTS)
    node.prepare(rate, block)
    inputs = {port: probe_signal(block, seed=i) for i, port in enumerate(cls.INPUTS)}
    outputs = {port: np.zeros(block) for port in cls.OUTPUTS}
    params = dict(node.block_params)
    wobble = 0.1 * np.sin(np.linspace(0.0, np.pi, block))  # a slow, small modulation
    for name, param in cls.PARAMS.items():
        if param.modulatable:
            value = float(node.params[name])
            params[name] = value * (1.0 + wobble) + wobble if modulated else np.full(block, value)
    return node, inputs, params, outputs


def _block_cost(cls: type, block: int, rate: int, repeats: int, modulated: bool) -> float:
    """Seconds per process() call."""
    node, inputs, params, outputs = _node_with_buffers(cls, block, rate, modulated)
    node.process(inputs, params, outputs)  # warm up caches
    started = time.perf_counter()
    for _ in range(repeats):
        node.process(inputs, params, outputs)
    return (time.perf_counter() - started) / repeats


def _program_cost(cls: type, block: int, rate: int, repeats: int) -> float | None:
    """Seconds a static node's entry adds to a compiled program's block (None: no entry)."""
    node, inputs, params, outputs = _node_with_buffers(cls, block, rate, False)
    arguments = node.kernel_arguments(inputs, params, outputs) if cls.ENTRY is not None else None
    bound = split(arguments) if arguments is not None else None
    if bound is None:
        return None
    program, empty = Program(1), Program(1)
    program.set(0, cls.ENTRY, *bound)
    empty.kinds[0] = SKIP
    times = []
    for runner in (program, empty):
        runner.run(0)
        started = time.perf_counter()
        for _ in range(repeats):
            runner.run(0)
        times.append((time.perf_counter() - started) / repeats)
    return max(times[0] - times[1], 0.0)


def callback_allocations(blocks: int) -> None:
    """Peak bytes a callback allocates (tracemalloc) once warmed up: numpy temporaries that
    nodes make, which the audio thread would rather not (0 is the goal; Python's own small
    objects, a float here and there, count too)."""
    import tracemalloc
    import types

    from patcher.player import Player

    clean = types.SimpleNamespace(output_underflow=False, input_overflow=False)
    print("\n## Temporary memory per audio callback (peak bytes, median over blocks)\n")
    print(f"{'patch':<22}{'block 64':>12}{'block 256':>12}")
    for path in sorted((ROOT / "patches").glob("*.json")):
        cells = []
        for block in (64, 256):
            player = Player(patcher.load(path), block_size=block)
            player._warm_up()
            out = np.zeros((block, 2), dtype=np.float32)
            for _ in range(10):
                player._output_callback(out, block, None, clean)
            peaks = []
            tracemalloc.start()
            for _ in range(blocks):
                before = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
                player._output_callback(out, block, None, clean)
                peaks.append(tracemalloc.get_traced_memory()[1] - before)
            tracemalloc.stop()
            cells.append(f"{int(np.median(peaks)):>12,}")
        print(f"{path.stem:<22}" + "".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args()
    print("# patcher benchmarks")
    realtime_factors(2.0 if args.quick else 10.0)
    compile_times()
    node_costs(200 if args.quick else 2000)
    callback_allocations(50 if args.quick else 400)


if __name__ == "__main__":
    main()
