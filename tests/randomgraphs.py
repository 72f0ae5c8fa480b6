"""Random valid patches, and the properties every one of them must keep.

A generated patch uses any node type, params anywhere in their range and at its ends, links
between any ports, legal feedback loops through a delay's ``tap``, the committed files in
``patches/media`` as inputs and impulse responses, rates of 8–96 kHz and blocks of 7–4096.
Graph ``index`` of ``seed`` is always the same patch. Each is checked offline at two block
sizes and through the real-time callback (see :func:`check_graph`).

The suite checks a few graphs (tests/test_random_graphs.py); a longer run is one command:

    python -m tests.randomgraphs --graphs 2000 --seed 7

and one graph again, with its patch: ``python -m tests.randomgraphs --seed 7 --index 42 --show``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import math
import sys
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from patcher.compiler import cycle_problems
from patcher.engine import Engine
from patcher.model import Patch, PatchError, Settings
from patcher.patchfile import dumps
from patcher.player import Player
from patcher.protection import RUNAWAY_LEVEL
from patcher.spec import Node, Param, registry

#: Relative file params are resolved against this folder, as for the example patches.
PATCHES_DIR = Path(__file__).resolve().parent.parent / "patches"
PROJECT_DIRS = (PATCHES_DIR.parent / "patcher", PATCHES_DIR.parent / "nodes")
MEDIA_FILES = ("media/drums.wav", "media/pluck.wav", "media/vowels.wav", "media/pedal_ir.wav")
COMMON_RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000)
LOWEST_RATE, HIGHEST_RATE = 8000, 96000
SMALLEST_BLOCK, LARGEST_BLOCK = 7, 4096
#: Nodes besides the output: small graphs keep a run fast and a failure readable.
MOST_NODES = 6
#: Audio per graph, in seconds (at least three blocks, so a state carries across blocks).
SHORTEST_S, LONGEST_S = 0.05, 0.3
#: With a short delay, at most this many frames per sample of its time (see ``_frames``).
FRAMES_PER_DELAY_SAMPLE = 1500
#: Block-size invariance: the two renders agree to this, relative to the louder of 1 and the peak.
INVARIANCE_TOLERANCE = 1e-9
#: A write input of a delay: a loop may come back into it (``time_ms`` is read before ``tap``).
DELAY_WRITE_INPUTS = ("in", "feedback", "mix")


@dataclass
class RandomGraph:
    """One generated patch and how to run it: ``frames`` at two block sizes."""

    seed: int
    index: int
    patch: Patch
    frames: int
    block_sizes: tuple[int, int]

    @property
    def sample_rate(self) -> int:
        return self.patch.settings.sample_rate

    def describe(self) -> str:
        """What reproduces this graph: its seed and number, the command and the patch."""
        rate, (block, other) = self.sample_rate, self.block_sizes
        return (
            f"random graph seed {self.seed} index {self.index} ({rate} Hz, blocks {block} and {other}, "
            f"{self.frames} frames); again: python -m tests.randomgraphs --seed {self.seed} "
            f"--index {self.index} --show; the patch (its files relative to patches/):\n{dumps(self.patch)}"
        )


@dataclass
class Run:
    """One offline render of a graph, and what its nodes reported."""

    output: np.ndarray
    faults: list[str] = field(default_factory=list)
    nonfinite_nodes: list[str] = field(default_factory=list)
    runaway: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """No node raised, scrubbed NaN or ran away: what the nodes did is block-size independent."""
        return not (self.faults or self.nonfinite_nodes or self.runaway)


# -- the generator ------------------------------------------------------------------------
def random_graph(seed: int, index: int) -> RandomGraph:
    """Graph ``index`` of ``seed``: the same patch every time."""
    rng = np.random.default_rng([seed, index])
    sample_rate = _random_rate(rng)
    block_size = _random_block(rng)
    other_block = _random_block(rng)
    while other_block == block_size:
        other_block = _random_block(rng)
    seconds = float(rng.uniform(SHORTEST_S, LONGEST_S))
    patch = Patch(base_dir=PATCHES_DIR)
    types = sorted(name for name in registry() if name != "output")
    for _ in range(int(rng.integers(1, MOST_NODES + 1))):
        _add_random_node(rng, patch, str(rng.choice(types)))
    _add_random_node(rng, patch, "output")
    _link_forward(rng, patch)
    for _ in range(int(rng.choice([0, 1, 1, 2, 3]))):
        if rng.random() < 0.6:
            _add_tap_loop(rng, patch)
        else:
            _add_back_link(rng, patch)
    frames = _frames(patch, seconds * sample_rate, sample_rate, block_size)
    patch.settings = Settings(sample_rate, block_size, round(frames / sample_rate, 6))
    return RandomGraph(seed, index, patch, frames, (block_size, other_block))


def _frames(patch: Patch, wanted: float, sample_rate: int, block_size: int) -> int:
    """At least three blocks, but few enough that a short delay, which runs in chunks of a
    few samples in a loop or with feedback, each a Python call, stays quick; one block and
    a sample at the least, so that something crosses a block boundary."""
    frames = max(round(wanted), 3 * block_size)
    for node in patch.nodes.values():
        if node.type == "delay":
            delay_samples = max(2.0, node.params["time_ms"] * sample_rate / 1000.0)
            frames = min(frames, round(FRAMES_PER_DELAY_SAMPLE * delay_samples))
    return max(frames, block_size + 1)


def _random_rate(rng: np.random.Generator) -> int:
    if rng.random() < 0.8:
        return int(rng.choice(COMMON_RATES))
    return int(rng.integers(LOWEST_RATE, HIGHEST_RATE + 1))


def _random_block(rng: np.random.Generator) -> int:
    """Log-uniform: small blocks as often as large ones."""
    low, high = math.log(SMALLEST_BLOCK), math.log(LARGEST_BLOCK + 1)
    return min(LARGEST_BLOCK, int(math.exp(rng.uniform(low, high))))


def _add_random_node(rng: np.random.Generator, patch: Patch, type_name: str) -> str:
    cls = registry()[type_name]
    params = {name: random_value(rng, param) for name, param in cls.PARAMS.items()}
    if type_name == "poly":  # a voice to play: its input through a gain, and a note's sine
        return patch.add_subpatch(_poly_voice(), type_name="poly", **params)
    return patch.add_node(type_name, **params)


def _poly_voice() -> Patch:
    voice = Patch()
    voice.add_node("inlet", "in")
    voice.add_node("gain", "through")
    voice.add_node("note", "keys")
    voice.add_node("oscillator", "osc", frequency_hz=0.1, waveform="sine")
    voice.add_node("outlet", "out")
    voice.connect("in.out", "through.in")
    voice.connect("through.out", "out.in")
    voice.connect("keys.pitch_hz", "osc.frequency_hz")
    voice.connect("osc.out", "out.in")
    voice.publish("gain_db", "through.gain_db")
    return voice


def random_value(rng: np.random.Generator, param: Param) -> Any:
    """A legal value: the default, an end of the range, or anywhere in it (log params log-uniform)."""
    if param.kind == "choice":
        return str(rng.choice(param.choices))
    if param.kind == "bool":
        return bool(rng.random() < 0.5)
    if param.kind == "path":
        return str(rng.choice((*MEDIA_FILES, "")))
    if param.kind == "table":
        size = int(rng.integers(2, 33))
        return [float(value) for value in rng.uniform(-2.0, 2.0, size)]
    roll = rng.random()
    if roll < 0.2:
        return param.default
    low, high = float(param.min), float(param.max)
    if roll < 0.5:
        value = low if rng.random() < 0.5 else high
    elif param.scale == "log" and low > 0.0:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = float(rng.uniform(low, high))
    return round(value) if param.kind == "int" else min(max(value, low), high)


def _spec(patch: Patch, node_id: str) -> type[Node]:
    return patch.nodes[node_id].spec


def _random_output(rng: np.random.Generator, patch: Patch, node_id: str) -> str:
    return f"{node_id}.{rng.choice(_spec(patch, node_id).OUTPUTS)}"


def _try_connect(patch: Patch, source: str, target: str) -> bool:
    """Link unless the link exists or closes a delay-free loop (then leave the patch as it was)."""
    try:
        patch.connect(source, target)
    except PatchError:  # already linked
        return False
    if cycle_problems(patch):
        patch.disconnect(source, target)
        return False
    return True


def _link_forward(rng: np.random.Generator, patch: Patch) -> None:
    """Links from earlier nodes to later ones (no loops), and most outputs used somewhere."""
    ids = list(patch.nodes)
    for position, node_id in enumerate(ids):
        cls = _spec(patch, node_id)
        earlier = [other for other in ids[:position] if _spec(patch, other).OUTPUTS]
        for port in cls.input_ports():
            chance = 0.75 if port in cls.INPUTS else 0.2
            if earlier and rng.random() < chance:
                source = _random_output(rng, patch, str(rng.choice(earlier)))
                _try_connect(patch, source, f"{node_id}.{port}")
    for position, node_id in enumerate(ids):
        cls = _spec(patch, node_id)
        feeds_something = any(link.source.node == node_id for link in patch.links)
        later = [other for other in ids[position + 1 :] if _spec(patch, other).input_ports()]
        if cls.OUTPUTS and later and not feeds_something and rng.random() < 0.9:
            target = str(rng.choice(later))
            port = rng.choice(_spec(patch, target).input_ports())
            _try_connect(patch, _random_output(rng, patch, node_id), f"{target}.{port}")


def _add_tap_loop(rng: np.random.Generator, patch: Patch) -> None:
    """A loop from a delay's tap through another node back into the delay (a delay is added,
    fed from the graph and heard at the output, if the patch has none)."""
    delays = [node_id for node_id, node in patch.nodes.items() if node.type == "delay"]
    if delays:
        delay = str(rng.choice(delays))
    else:
        delay = _add_random_node(rng, patch, "delay")
        sources = [node_id for node_id in patch.nodes if _spec(patch, node_id).OUTPUTS and node_id != delay]
        if sources:
            source = str(rng.choice(sources))
            _try_connect(patch, _random_output(rng, patch, source), f"{delay}.in")
        output = next(node_id for node_id, node in patch.nodes.items() if node.type == "output")
        _try_connect(patch, f"{delay}.{rng.choice(('out', 'tap'))}", f"{output}.left")
    through = [
        node_id
        for node_id, node in patch.nodes.items()
        if node.spec.OUTPUTS and node.spec.input_ports() and node_id != delay
    ]
    if not through or rng.random() < 0.2:  # the tap straight back into its own delay
        _try_connect(patch, f"{delay}.tap", f"{delay}.{rng.choice(DELAY_WRITE_INPUTS)}")
        return
    middle = str(rng.choice(through))
    cls = _spec(patch, middle)
    into_middle = f"{middle}.{rng.choice(cls.input_ports())}"
    added = _try_connect(patch, f"{delay}.tap", into_middle)
    back = _random_output(rng, patch, middle)
    if not _try_connect(patch, back, f"{delay}.{rng.choice(DELAY_WRITE_INPUTS)}") and added:
        patch.disconnect(f"{delay}.tap", into_middle)


def _add_back_link(rng: np.random.Generator, patch: Patch) -> None:
    """A link from a later node to an earlier one: kept only if every loop it makes is legal."""
    ids = list(patch.nodes)
    sources = [node_id for node_id in ids if _spec(patch, node_id).OUTPUTS]
    if not sources:
        return
    source = str(rng.choice(sources))
    targets = [node_id for node_id in ids[: ids.index(source) + 1] if _spec(patch, node_id).input_ports()]
    if targets:
        target = str(rng.choice(targets))
        port = rng.choice(_spec(patch, target).input_ports())
        _try_connect(patch, _random_output(rng, patch, source), f"{target}.{port}")


# -- the properties -----------------------------------------------------------------------
@dataclass
class Verdict:
    """Why a graph breaks a property, one sentence each (none: it keeps them all), and
    whether its two block sizes were compared (not when a node scrubbed NaN, raised or ran away)."""

    problems: list[str]
    blocks_compared: bool


def check_graph(graph: RandomGraph) -> Verdict:
    """Check ``graph``: the offline output is finite at both block sizes, and the same at
    both when no node scrubbed NaN, raised or ran away; the real-time callback's output is
    finite and within ±1.0 and the callback never failed; no node raised and nothing printed
    a warning while the engine ran."""
    problems = []
    runs = []
    for block_size in graph.block_sizes:
        where = f"offline at block {block_size}"
        try:
            run = render_offline(graph, block_size)
        except Exception as error:  # a legal patch must compile and render
            problems.append(f"{where}: {error!r}")
            continue
        runs.append(run)
        if not np.all(np.isfinite(run.output)):
            problems.append(f"{where}: the output holds NaN or infinity")
        problems += [f"{where}: {fault}" for fault in run.faults]
        problems += [f"{where}: the engine printed a warning: {text}" for text in run.warnings]
    compared = len(runs) == 2 and all(run.clean for run in runs)
    if compared:
        problems += _invariance_problems(graph, *runs)
    try:
        problems += _real_time_problems(graph)
    except Exception as error:
        problems.append(f"real time: {error!r}")
    return Verdict(problems, compared)


def render_offline(graph: RandomGraph, block_size: int) -> Run:
    """The engine's raw output, block by block as ``Engine.render`` runs it, watching the
    loops' delay taps for a runaway (as the player's protection does)."""
    engine = Engine(graph.patch, graph.sample_rate, block_size)
    output = np.empty((graph.frames, 2))
    runaway = False
    with noting_warnings() as noted:
        for start in range(0, graph.frames, block_size):
            frames = min(block_size, graph.frames - start)
            output[start : start + frames] = engine.process_block(frames).T
            runaway = runaway or any(
                np.max(np.abs(buffer[:frames])) > RUNAWAY_LEVEL
                for group in engine.schedule.loops
                for buffer in group.loop_buffers
            )
    nodes = engine.schedule.nodes
    nonfinite = [node_id for node_id, node in nodes.items() if node.nonfinite_blocks]
    return Run(output, node_faults(nodes), nonfinite, runaway, noted)


@contextlib.contextmanager
def noting_warnings() -> Iterator[list[str]]:
    """Note each warning once, at the line of patcher or nodes that caused it, instead of
    printing it (the engine promises that none is printed while it runs)."""
    noted: list[str] = []

    def note(message: Any, category: type[Warning], filename: str, lineno: int, *_rest: Any) -> None:
        ours = [frame for frame in traceback.extract_stack() if Path(frame.filename).parent in PROJECT_DIRS]
        where = f"{Path(filename).name}:{lineno}"
        if ours:
            where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno} in {ours[-1].name}"
        text = f"{where}: {category.__name__}: {message}"
        if text not in noted:
            noted.append(text)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = note
        yield noted


def node_faults(nodes: dict[str, Node]) -> list[str]:
    """A sentence for each node that raised inside the engine (our bug, whatever the patch)."""
    return [
        f"node {node_id!r} ({node.TYPE}) raised {node.fault_count} times: {node.last_fault!r}"
        for node_id, node in nodes.items()
        if node.fault_count
    ]


def _invariance_problems(graph: RandomGraph, first: Run, second: Run) -> list[str]:
    level = max(1.0, float(np.max(np.abs(first.output))))
    difference = np.abs(first.output - second.output)
    worst = int(np.argmax(np.max(difference, axis=1)))
    if difference[worst].max() <= INVARIANCE_TOLERANCE * level:
        return []
    (block, other), rate = graph.block_sizes, graph.sample_rate
    return [
        f"blocks {block} and {other} differ by {difference[worst].max():.3g} at frame {worst} "
        f"({worst / rate:.4f} s) on a peak of {level:.3g}"
    ]


def _real_time_problems(graph: RandomGraph) -> list[str]:
    """Drive the player's block path exactly as the audio callback does, without a device."""
    block = graph.block_sizes[0]
    player = Player(graph.patch, block_size=block, sample_rate=graph.sample_rate)
    outdata = np.zeros((block, 2), dtype=np.float32)
    problems = []
    worst = 0.0
    with noting_warnings() as noted:
        for _ in range(-(-graph.frames // block)):
            player._run_block(None, outdata, block, False, False)
            if not np.all(np.isfinite(outdata)):
                problems.append("real time: the callback's output holds NaN or infinity")
                break
            worst = max(worst, float(np.max(np.abs(outdata))))
    problems += [f"real time: the callback printed a warning: {text}" for text in noted]
    if worst > 1.0:
        problems.append(f"real time: the callback's output reached {worst:.6g}, beyond ±1.0")
    if player.callback_errors:
        failures, error = player.callback_errors, player.last_error
        problems.append(f"real time: the callback failed {failures} times: {error!r}")
    problems += [f"real time: {fault}" for fault in node_faults(player.engine.schedule.nodes)]
    return problems


# -- the long run -------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.randomgraphs",
        description="Check random valid patches: finite, bounded, block-size invariant, no node raising.",
    )
    parser.add_argument("--seed", type=int, default=7, help="which set of graphs (default 7)")
    parser.add_argument("--graphs", type=int, default=2000, help="how many graphs (default 2000)")
    parser.add_argument("--start", type=int, default=0, help="the first graph's index (default 0)")
    parser.add_argument("--index", type=int, help="check only this graph")
    parser.add_argument("--show", action="store_true", help="print each graph's patch, failing or not")
    args = parser.parse_args(argv)
    indices = [args.index] if args.index is not None else range(args.start, args.start + args.graphs)
    failures: collections.Counter[str] = collections.Counter()
    failed_graphs = compared = 0
    started = time.perf_counter()
    for count, index in enumerate(indices, 1):
        graph = random_graph(args.seed, index)
        verdict = check_graph(graph)
        problems = verdict.problems
        compared += verdict.blocks_compared
        if problems or args.show:
            print(f"{'FAIL' if problems else 'ok'}: {graph.describe()}", flush=True)
            print("\n".join(f"  - {problem}" for problem in problems) + "\n", flush=True)
        failed_graphs += bool(problems)
        failures.update(_kind(problem) for problem in problems)
        if count % 100 == 0:
            elapsed = time.perf_counter() - started
            print(f"... {count} graphs in {elapsed:.0f} s, {failed_graphs} failed", file=sys.stderr)
    elapsed = time.perf_counter() - started
    print(f"{len(indices)} graphs of seed {args.seed}: {failed_graphs} failed, {elapsed:.0f} s")
    print(f"  block sizes compared in {compared} (not where a node scrubbed NaN, raised or ran away)")
    for kind, number in failures.most_common():
        print(f"  {number} x {kind}")
    return 1 if failed_graphs else 0


def _kind(problem: str) -> str:
    """A problem without its numbers and node ids, to count alike ones together."""
    words = [word for word in problem.split() if not any(character.isdigit() for character in word)]
    return " ".join(word for word in words if not word.startswith("'"))[:120]


if __name__ == "__main__":
    sys.exit(main())
