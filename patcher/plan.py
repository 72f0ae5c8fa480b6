"""The fast path of a whole block: one flat list of prepared calls, checked once at the end.

A :class:`~patcher.compiler.Step` does, every block, what a node *might* need: sum its fan-in,
refill its params' buffers, glide a ramp, catch an exception, check each output for NaN. Most
blocks need none of it: nothing was edited, nothing glides. At block 64 that bookkeeping cost
as much as the nodes' kernels (about 1 µs a step). So a whole block runs from a plan, made
again when something changes (an edit, a param change, a ramp's start and end, a fault, a
short block, a reset): a node is its ``process`` with its buffers bound, after a kernel call
per fan-in sum or modulated param; a gliding node, a muted one or a feedback loop runs its
step as before. NaN is looked for once, over every output buffer at once (they are rows of
one array); a node that produced some is then found in running order, silenced and reset as
its step would have done, and the nodes after it that read its NaN are reset too (their
memory holds it), without being blamed."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from patcher.kernels import all_finite, kernel
from patcher.protection import scrub

if TYPE_CHECKING:
    from patcher.compiler import Group, Schedule
    from patcher.spec import Node

Signals = Mapping[str, np.ndarray]


class BlockPlan:
    """A schedule's whole-block calls, one per group (audio thread only)."""

    def __init__(self, schedule: Schedule, groups: list[Group] | None = None) -> None:
        """The plan of ``schedule``'s ``groups`` (all of them by default; a poly's voice
        leaves out the inlets it writes itself)."""
        # Not the schedule itself: a cycle would outlive the last reference to a replaced
        # schedule until the garbage collector ran (on the audio thread, maybe).
        self.groups = schedule.groups if groups is None else groups
        self.block_size = schedule.block_size
        self.outputs = schedule.arena.reshape(-1)
        #: The output nodes: their ``stereo`` is checked by the engine, as no step's output.
        self.sinks = set(schedule.sinks)
        #: Each node's groups (a loop's nodes share one), by index.
        self.places: dict[Node, list[int]] = {}
        for index, group in enumerate(self.groups):
            for node in dict.fromkeys(step.node for step in group.steps):
                self.places.setdefault(node, []).append(index)
        self.calls: list[Callable[[], None]] = []
        #: Make every call again before the next whole block (a short block, a reset).
        self.dirty = True
        #: Nodes whose calls are made again before the next whole block (a param changed).
        self.touched: list[Node] = []
        #: Nodes gliding when their calls were made: made again once they arrive.
        self.ramping: list[Node] = []

    def touch(self, node: Node) -> None:
        """``node``'s params are changing: its calls are made again before the next block."""
        self.touched.append(node)

    def run(self) -> None:
        """Run a whole block."""
        if self.dirty:
            self._make_all()
        elif self.touched or self.ramping:
            self._make_touched()
        call = None
        try:
            for call in self.calls:
                call()
        except Exception as error:  # the audio must go on: mute that node, run the rest safely
            self._recover(call, error)
        if not all_finite(self.outputs):
            self._silence_nonfinite()

    def _make_all(self) -> None:
        self.dirty = False
        self.touched, self.ramping = [], []
        self.calls = [self._call(group) for group in self.groups]

    def _make_touched(self) -> None:
        """Only the calls of the nodes touched, or whose glides ended (a glide may go on)."""
        touched = self.touched + [node for node in self.ramping if not node.ramps]
        self.touched = []
        self.ramping = [node for node in self.ramping if node.ramps]
        for node in dict.fromkeys(touched):
            for index in self.places.get(node, ()):
                self.calls[index] = self._call(self.groups[index])

    def _call(self, group: Group) -> Callable[[], None]:
        """A group's block: a node bound to its buffers when nothing is to be done per block
        but sums, else its step (a glide, a muted node) or its loop."""
        gliding = [node for node in dict.fromkeys(step.node for step in group.steps) if node.ramps]
        self.ramping.extend(node for node in gliding if node not in self.ramping)
        step = group.steps[0]
        node = step.node
        if group.loop_nodes or gliding or node.fault is not None:
            return functools.partial(group.run, self.block_size)
        step.use_whole_buffers()
        process = functools.partial(_process, node, step.whole_inputs, step.params, step.whole_outputs)
        first: list[Callable[[], None]] = []
        for _port, sources, summed in step.summed_inputs:  # fan-in: summed first
            first.append(functools.partial(np.copyto, summed, sources[0]))
            first.extend(functools.partial(_add, summed, source, summed) for source in sources[1:])
        for name, sources, buffer in step.driven_params:  # the set value plus the signals
            first.append(functools.partial(_add_value, sources[0], float(node.params[name]), buffer))
            first.extend(functools.partial(_add, buffer, source, buffer) for source in sources[1:])
        return functools.partial(_in_turn, (*first, process)) if first else process

    def _recover(self, failed: Callable[[], None] | None, error: Exception) -> None:
        """A prepared call raised: mute its node as its step would, then run the rest by steps."""
        self.dirty = True
        index = next(i for i, call in enumerate(self.calls) if call is failed)
        self.groups[index].fail(error)
        for group in self.groups[index + 1 :]:
            group.run(self.block_size)

    def _silence_nonfinite(self) -> None:
        """After a block with NaN or infinity somewhere: silence it where it was made, reset
        that node (counted, for the report), and reset the nodes that read it (not counted)."""
        poisoned: set[int] = set()
        for group in self.groups:
            for step in group.steps:
                made = step.output_arrays + ([step.node.stereo] if step.node in self.sinks else [])
                bad = [buffer for buffer in made if not all_finite(buffer)]
                if not bad:
                    continue
                victim = any(id(source) in poisoned for source in step.source_arrays())
                poisoned.update(id(buffer) for buffer in made)
                for buffer in bad:
                    scrub(buffer)
                if not victim:
                    step.node.nonfinite_blocks += 1
                step.node.reset()


def _in_turn(calls: tuple[Callable[[], None], ...]) -> None:
    for call in calls:
        call()


# The node's method is looked up at each call, not when the plan is made, so that one swapped
# on the instance (a test's failing node) is the one called.
def _process(node: Node, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
    node.process(inputs, params, outputs)


def _read(node: Node, params: Mapping[str, Any], outputs: Signals) -> None:
    node.read(params, outputs)


def _write(node: Node, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
    node.write(inputs, params, outputs)


@kernel
def _add(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    for i in range(len(out)):
        out[i] = a[i] + b[i]


@kernel
def _add_value(signal: np.ndarray, value: float, out: np.ndarray) -> None:
    for i in range(len(out)):
        out[i] = signal[i] + value
