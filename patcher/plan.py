"""The fast path of a whole block: one flat list of prepared calls, checked for NaN seldom.

A :class:`~patcher.compiler.Step` does, every block, what a node *might* need: sum its fan-in,
refill its params' buffers, glide a ramp, catch an exception, check each output for NaN. Most
blocks need none of it: nothing was edited, nothing glides. At block 64 that bookkeeping cost
as much as the nodes' kernels (about 1 µs a step). So a whole block runs from a plan of one
call per group: a node's ``process`` with its buffers bound, after a kernel call per fan-in
sum or modulated param; a gliding node, a muted one or a feedback loop runs its step. A call
is made again only when its node changes (a param change, a glide's start and end), and the
whole plan after a short block or a fault, ``MADE_PER_SAMPLE`` groups a sample of the block (the rest run by
their steps meanwhile), so that no block after an edit pays for making hundreds of calls.

NaN is looked for over every output buffer at once (they are rows of one array): before a
step (which checks its own outputs, and would be blamed for what it read), before a sink (an
output keeps every sample but the bad ones; a scope stores nothing bad), and at the block's
end. A node that produced NaN is then found in running order, silenced and reset as its step
would have done, and the nodes that read it since the last check are reset too (their
memory holds it), without being blamed."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from patcher.compiled import CHECK, NO_FLOATS, NO_INTS, SKIP, STOP, Program, entry, split, takes
from patcher.kernels import all_finite, all_finite_flat, kernel
from patcher.protection import scrub

if TYPE_CHECKING:
    from patcher.compiler import Group, Schedule, Step
    from patcher.spec import Node

Signals = Mapping[str, np.ndarray]

#: Groups whose fast calls are made in one block after an edit, per sample of the block (about
#: 10 µs each with their compiled entries: 8 a block of 64, 6% of its time; a larger block
#: makes more at once).
MADE_PER_SAMPLE = 0.125
#: Param changes remembered between blocks; more (while metering) remake the whole plan.
MAX_TOUCHED = 64


class BlockPlan:
    """A schedule's whole-block calls, one per group (audio thread only, but for ``__init__``).

    A group whose node has a compiled entry (:mod:`patcher.compiled`) runs inside the plan's
    program, its fan-in sums and modulated params too; the program stops where a group runs
    by Python (a step, a loop, a sink, a node without an entry), runs that, and goes on."""

    def __init__(self, schedule: Schedule, groups: list[Group] | None = None) -> None:
        """The plan of ``schedule``'s ``groups`` (all of them by default; a poly's voice
        leaves out the inlets it writes itself). It starts with every group run by its step,
        and becomes the fast plan a few groups per block (see ``run``)."""
        # Not the schedule itself: a cycle would outlive the last reference to a replaced
        # schedule until the garbage collector ran (on the audio thread, maybe).
        self.groups = schedule.groups if groups is None else groups
        self.block_size = schedule.block_size
        self.made_per_block = max(1, round(MADE_PER_SAMPLE * self.block_size))
        self._check = NanCheck(self.groups, schedule.arena.reshape(-1))
        #: Each node's groups (a loop's nodes share one), by index.
        self.places: dict[Node, list[int]] = {}
        for index, group in enumerate(self.groups):
            for node in dict.fromkeys(step.node for step in group.steps):
                self.places.setdefault(node, []).append(index)
        #: Each group's step (or loop), as a call: what runs while its fast call is not made.
        self.stepped = [functools.partial(group.run, self.block_size) for group in self.groups]
        self.calls = list(self.stepped)
        #: Each group's slots in the program (its first, and the first after it), and the
        #: group of each slot.
        self.first_slots: list[int] = []
        self.slot_groups: list[int] = []
        for index, group in enumerate(self.groups):
            self.first_slots.append(len(self.slot_groups))
            self.slot_groups.extend([index] * _slots(group))
        self.end_slots = [*self.first_slots[1:], len(self.slot_groups)]
        entries = {type(node).ENTRY for node in self.places} - {None}
        self.program = Program(len(self.slot_groups), [*entries, *PLAN_ENTRIES])
        #: The program's kinds while every group runs by its step (a stop at each group's first slot).
        self.stepped_kinds = np.full(len(self.slot_groups), SKIP, dtype=np.int8)
        self.stepped_kinds[self.first_slots] = STOP
        self.program.kinds[:] = self.stepped_kinds
        #: Whether each group's call checks every output before it (a step, a sink).
        self.guards = [False] * len(self.groups)
        #: The last group that has outputs: a check after it is needed unless one guards a
        #: later group.
        self.last_with_outputs = max(
            (index for index, group in enumerate(self.groups) if any(s.output_arrays for s in group.steps)),
            default=-1,
        )
        self.check_at_end = True
        #: How many of the first groups have their fast calls made (the rest run by steps).
        self.made = 0
        #: Make every call again, from the first group (a short block, a reset, a fault).
        self.dirty = False
        #: Nodes whose calls are made again before the next whole block (a param changed).
        self.touched: list[Node] = []
        #: Nodes gliding when their calls were made: made again once they arrive.
        self.ramping: list[Node] = []

    def touch(self, node: Node) -> None:
        """``node``'s params are changing: its calls are made again before the next block."""
        if len(self.touched) < MAX_TOUCHED:
            self.touched.append(node)
        else:  # many changes while this plan does not run (metering, a schedule not yet in)
            self.dirty = True

    def run(self) -> None:
        """Run a whole block. Making a call costs microseconds; after an edit, a plan of
        hundreds of nodes is made a few groups a block (they run by their steps meanwhile),
        so that no block pays for all of it."""
        if self.dirty:
            self.dirty, self.made, self.touched, self.ramping = False, 0, [], []
            self.calls[:] = self.stepped
            self.program.kinds[:] = self.stepped_kinds
            self.check_at_end = True
        if self.made < len(self.groups):
            self._make_next()
        if self.touched or self._glide_ended():
            self._make_touched()
        program, calls, slot_groups, end_slots = self.program, self.calls, self.slot_groups, self.end_slots
        kinds = program.kinds
        unmade = self.made if self.made < len(self.groups) else -1
        group = -1
        try:
            slot = program.run(0)
            while slot < program.slots:
                if kinds[slot] == CHECK:  # NaN or infinity before a compiled sink
                    self._check.silence()
                    slot = program.run(slot + 1)
                    continue
                group = slot_groups[slot]
                if group == unmade:  # NaN from a fast call is not for a step to blame
                    self._check()
                calls[group]()
                slot = program.run(end_slots[group])
                group = -1
        except Exception as error:  # the audio must go on: mute that node, run the rest safely
            self._recover(group, error)
        if self.check_at_end:
            self._check()

    def _make_next(self) -> None:
        stop = min(self.made + self.made_per_block, len(self.groups))
        for index in range(self.made, stop):
            self._make(index)
        self.made = stop
        self._after_making()

    def _glide_ended(self) -> bool:
        """Whether a node gliding when its call was made has arrived (asked every block while
        one glides: nothing is made, or allocated, until then)."""
        for node in self.ramping:  # noqa: SIM110  (no generator made every block)
            if not node.ramps:
                return True
        return False

    def _make_touched(self) -> None:
        """Only the calls of the nodes touched, or whose glides ended (a glide may go on)."""
        touched = self.touched + [node for node in self.ramping if not node.ramps]
        self.touched = []
        self.ramping = [node for node in self.ramping if node.ramps]
        for node in dict.fromkeys(touched):
            for index in self.places.get(node, ()):
                if index < self.made:  # else made in its turn
                    self._make(index)
        self._after_making()

    def _after_making(self) -> None:
        """Whether the block ends with a check: not when a later call checks first."""
        done = self.made == len(self.groups)
        self.check_at_end = not done or not any(self.guards[self.last_with_outputs + 1 :])

    def _make(self, index: int) -> None:
        """Group ``index``'s block: its compiled entries, else a Python call (also when making
        its entries failed: the audio goes on, through ``process``)."""
        try:
            compiled = self._compile(index)
        except Exception:
            compiled = False
        if not compiled:
            self.calls[index] = self._call(index)
            first, end = self.first_slots[index], self.end_slots[index]
            self.program.kinds[first] = STOP
            self.program.kinds[first + 1 : end] = SKIP

    def _compile(self, index: int) -> bool:
        """Group ``index`` as compiled entries in its slots, if its node has one and needs
        nothing done per block but sums (no glide, no fault, not a loop or a sink)."""
        group = self.groups[index]
        step = group.steps[0]
        node = step.node
        if (
            type(node).ENTRY is None
            or group.loop_nodes
            or node.ramps
            or node.fault is not None
            or "process" in node.__dict__  # swapped on the instance (a test's failing node)
        ):
            return False
        step.use_whole_buffers()
        arguments = node.kernel_arguments(step.whole_inputs, step.params, step.whole_outputs)
        bound = split(arguments) if arguments is not None else None
        if bound is None or not takes(type(node).ENTRY, *bound):
            return False
        program, slot = self.program, self.first_slots[index]
        if node.IS_SINK:  # it keeps what it reads: every output so far is looked at first
            program.set_check(slot, self._check.outputs)
            slot += 1
        for kind, arrays, value in _sums(step):
            floats = np.array([value]) if kind is _OFFSET else NO_FLOATS
            program.set(slot, _SUM_ENTRIES[kind], arrays, NO_INTS, floats)
            slot += 1
        program.set(slot, type(node).ENTRY, *bound)
        self.guards[index] = node.IS_SINK
        return True

    def _call(self, index: int) -> Callable[[], None]:
        """A group's block: a node bound to its buffers when nothing is to be done per block
        but sums, else its step (a glide, a muted node) or its loop. Before a step, which
        checks its own outputs, and before a sink (an output, a scope), which keeps what it
        reads, every output so far is checked for NaN: those never read one."""
        group = self.groups[index]
        nodes = list(dict.fromkeys(step.node for step in group.steps))
        gliding = [node for node in nodes if node.ramps]
        self.ramping.extend(node for node in gliding if node not in self.ramping)
        step = group.steps[0]
        node = step.node
        self.guards[index] = True
        if group.loop_nodes or gliding or node.fault is not None:
            return functools.partial(_checked, self._check, functools.partial(group.run, self.block_size))
        step.use_whole_buffers()
        # A poly too: what it reads goes into its voices, whose checks leave its inlets out.
        guarded = node.IS_SINK or bool(node.inner_nodes())
        self.guards[index] = guarded
        calls: list[Callable[[], None]] = [self._check] if guarded else []
        calls.extend(_sum_call(kind, arrays, value) for kind, arrays, value in _sums(step))
        calls.append(functools.partial(_process, node, step.whole_inputs, step.params, step.whole_outputs))
        return functools.partial(_in_turn, tuple(calls)) if len(calls) > 1 else calls[0]

    def _recover(self, group: int, error: Exception) -> None:
        """Group ``group``'s call raised: mute its node as its step would, then run the rest by
        steps (-1: not a group's call; the rest of this block is lost, the next made afresh)."""
        self.dirty = True
        if group < 0:
            return
        self.groups[group].fail(error)
        for later in self.groups[group + 1 :]:
            later.run(self.block_size)


def _slots(group: Group) -> int:
    """How many program slots a group takes: one per fan-in copy or sum, per modulated param's
    set value and signal, and its node's entry, after a check for a sink (one slot for what
    runs by Python)."""
    node = group.steps[0].node
    if group.loop_nodes or type(node).ENTRY is None:
        return 1
    return node.IS_SINK + len(list(_sums(group.steps[0]))) + 1


#: What a group computes before its node runs (see ``_sums``).
_COPY, _ADD, _OFFSET = "copy", "add", "offset"


def _sums(step: Step) -> Iterator[tuple[str, tuple[np.ndarray, ...], float]]:
    """What a whole block computes before ``step``'s node runs, in order, as (kind, arrays,
    value): each fan-in's first source copied (``_COPY``: source, sum), the rest added
    (``_ADD``: sum, source, sum); each modulated param's set value plus its first signal
    (``_OFFSET``: signal, buffer), its other signals added."""
    for _port, sources, summed in step.summed_inputs:
        yield _COPY, (sources[0], summed), 0.0
        for source in sources[1:]:
            yield _ADD, (summed, source, summed), 0.0
    for name, sources, buffer in step.driven_params:
        yield _OFFSET, (sources[0], buffer), float(step.node.params[name])
        for source in sources[1:]:
            yield _ADD, (buffer, source, buffer), 0.0


def _sum_call(kind: str, arrays: tuple[np.ndarray, ...], value: float) -> Callable[[], None]:
    """One of ``_sums`` as a Python call (for a group its program stops at)."""
    if kind is _COPY:
        return functools.partial(np.copyto, arrays[1], arrays[0])
    if kind is _ADD:
        return functools.partial(_add, *arrays)
    return functools.partial(_add_value, arrays[0], value, arrays[1])


class NanCheck:
    """Looks for NaN and infinity in every output so far (a plan's calls hold this, not the
    plan: a cycle through them would outlive the plan's schedule)."""

    def __init__(self, groups: list[Group], outputs: np.ndarray) -> None:
        self.groups = groups
        self.outputs = outputs

    def __call__(self) -> None:
        if not all_finite_flat(self.outputs):
            self.silence()

    def silence(self) -> None:
        """Silence it where it was made and reset that node (counted, for the report); reset
        the nodes that read it since the last check (their memory holds it), not counted."""
        poisoned: set[int] = set()
        for group in self.groups:
            for step in group.steps:
                bad = [buffer for buffer in step.output_arrays if not all_finite(buffer)]
                if not bad:
                    continue
                victim = any(id(source) in poisoned for source in step.source_arrays())
                poisoned.update(id(buffer) for buffer in step.output_arrays)
                for buffer in bad:
                    scrub(buffer)
                if not victim:
                    step.node.nonfinite_blocks += 1
                step.node.reset()


def _checked(check: Callable[[], None], call: Callable[[], None]) -> None:
    check()
    call()


def _in_turn(calls: tuple[Callable[[], None], ...]) -> None:
    for call in calls:
        call()


# The node's method is looked up at each call, not when the plan is made, so that one swapped
# on the instance (a test's failing node) is the one called.
def _process(node: Node, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
    node.process(inputs, params, outputs)


@entry(arrays=2)
def _copy_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    arrays[1][:] = arrays[0]


@entry(arrays=3)
def _add_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    _add(arrays[0], arrays[1], arrays[2])


@entry(arrays=2, floats=1)
def _add_value_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    _add_value(arrays[0], floats[0], arrays[1])


def warm_up() -> None:
    """Compile (or load) the sums a Python call makes (a node without an entry reading a
    fan-in or a modulated param): a patch's compiled entries make them in their own code."""
    block = np.zeros(1)
    _add(block, block, block)
    _add_value(block, 0.0, block)


#: The plan's own entries, for each kind of ``_sums``.
_SUM_ENTRIES = {_COPY: _copy_entry, _ADD: _add_entry, _OFFSET: _add_value_entry}
PLAN_ENTRIES = tuple(_SUM_ENTRIES.values())


@kernel
def _add(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    for i in range(len(out)):
        out[i] = a[i] + b[i]


@kernel
def _add_value(signal: np.ndarray, value: float, out: np.ndarray) -> None:
    for i in range(len(out)):
        out[i] = signal[i] + value
