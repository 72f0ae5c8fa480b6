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
    from patcher.compiler import Group, Schedule, Step
    from patcher.spec import Node

Signals = Mapping[str, np.ndarray]


class BlockPlan:
    """A schedule's whole-block calls (audio thread only)."""

    def __init__(self, schedule: Schedule) -> None:
        # Not the schedule itself: a cycle would outlive the last reference to a replaced
        # schedule until the garbage collector ran (on the audio thread, maybe).
        self.groups = schedule.groups
        #: Rebuild before the next whole block (set by whoever changes a node's params).
        self.dirty = True
        self.calls: list[Callable[[], None]] = []
        #: The step or loop behind each call, in the same order.
        self.owners: list[Step | Group] = []
        #: Nodes gliding when the plan was made: the plan is made again once they arrive.
        self.ramping: list = []
        self.block_size = schedule.block_size
        self.outputs = schedule.arena.reshape(-1)
        #: The output nodes: their ``stereo`` is checked by the engine, as no step's output.
        self.sinks = set(schedule.sinks)

    def run(self) -> None:
        """Run a whole block."""
        if self.dirty or self._ramps_ended():
            self._rebuild()
        call = None
        try:
            for call in self.calls:
                call()
        except Exception as error:  # the audio must go on: mute that node, run the rest safely
            self._recover(call, error)
        if not all_finite(self.outputs):
            self._silence_nonfinite()

    def _ramps_ended(self) -> bool:
        return any(not node.ramps for node in self.ramping) if self.ramping else False

    def _rebuild(self) -> None:
        self.dirty = False
        self.calls, self.owners, self.ramping = [], [], []
        for group in self.groups:
            if group.loop_nodes:
                self.calls.append(functools.partial(group.run, self.block_size))
                self.owners.append(group)
                self.ramping.extend(node for node in group.loop_nodes if node.ramps)
                continue
            step = group.steps[0]
            call = self._call(step)  # may add calls before it (sums)
            self.calls.append(call)
            self.owners.append(step)
            if step.node.ramps:
                self.ramping.append(step.node)

    def _call(self, step: Step) -> Callable[[], None]:
        """The step's node bound to its buffers, if nothing is to be done per block, else the step."""
        node = step.node
        if node.fault is not None or node.ramps:
            return functools.partial(step.run, self.block_size)
        step.use_whole_buffers()
        for _port, sources, summed in step.summed_inputs:  # fan-in: summed first
            self.calls.append(functools.partial(np.copyto, summed, sources[0]))
            self.calls.extend(functools.partial(_add, summed, source, summed) for source in sources[1:])
        for name, sources, buffer in step.driven_params:  # the set value plus the signals
            self.calls.append(functools.partial(_add_value, sources[0], float(node.params[name]), buffer))
            self.calls.extend(functools.partial(_add, buffer, source, buffer) for source in sources[1:])
        self.owners.extend(step for _ in range(len(self.calls) - len(self.owners)))
        if step.whole_node:
            return functools.partial(_process, node, step.whole_inputs, step.params, step.whole_outputs)
        if step.reads:
            return functools.partial(_read, node, step.params, step.whole_outputs)
        return functools.partial(_write, node, step.whole_inputs, step.params, step.whole_outputs)

    def _recover(self, failed: Callable[[], None] | None, error: Exception) -> None:
        """A bound call raised: mute its node as its step would, then run the rest by steps."""
        self.dirty = True
        index = next(i for i, call in enumerate(self.calls) if call is failed)
        self.owners[index].fail(error)
        for rest in self.owners[index + 1 :]:
            rest.run(self.block_size)

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
        self.dirty = True


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
