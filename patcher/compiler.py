"""The compiler: a patch becomes a phase graph, is checked, and becomes a flat schedule.

Like Pure Data's ``ugen_done_graph``: compile once per edit, then run a flat list of steps
every block. Fan-in is summed (as Pd sums signals into one inlet). Nodes with no path to a
sink are pruned.

Feedback: a two-phase node (a delay) is two vertices of the *phase graph*, ``read`` (its
tap, from memory) and ``write`` (its input). A loop is legal when it passes through a read
output, because the phase graph stays acyclic; any other loop is refused, naming its path.
A legal loop runs in chunks no longer than its delays allow (``Node.loop_chunk``), so a
loop's delay can be as short as a few samples, whatever the block size.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from patcher.flatten import flatten
from patcher.graph import components_in_order, cycle_problems, is_loop, phase_graph, topological_order
from patcher.model import Link, Patch, PatchError, collector_paused, plays_alike, relative_files
from patcher.plan import BlockPlan
from patcher.protection import all_finite, scrub
from patcher.spec import Node


# -- schedule ---------------------------------------------------------------------------
@dataclass(eq=False)  # identity, not field equality: fields hold numpy buffers
class Step:
    """One call of one node (or one phase of a two-phase node) with its buffers wired.

    Most calls run a whole block: for those, the dicts the node receives are made once, at
    compile time, with whole buffers in them; only fan-in sums, ramps and modulation are
    computed per call. A modulatable param is always an array of the call's length: a set
    value is filled into its buffer only when it changes, so a kernel has one signature.
    """

    node_id: str
    node: Node
    phase: str
    input_sources: list[tuple[str, list[np.ndarray], np.ndarray]]
    param_sources: list[tuple[str, list[np.ndarray], np.ndarray]]
    output_buffers: list[tuple[str, np.ndarray]]
    silence: np.ndarray
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    #: Each param buffer's constant value, while it holds nothing else (None: refill it).
    filled: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.block_size = len(self.silence)
        self.summed_inputs = [source for source in self.input_sources if len(source[1]) > 1]
        self.whole_inputs = {
            # An unlinked port reads its own sum buffer, which stays zero: a kernel gets the same
            # (writable) array type whatever is linked, so no call compiles a variant of it.
            port: sources[0] if len(sources) == 1 else summed
            for port, sources, summed in self.input_sources
        }
        self.whole_outputs = dict(self.output_buffers)
        self.output_arrays = [buffer for _port, buffer in self.output_buffers]
        self.filled = {name: None for name, _sources, _buffer in self.param_sources}
        #: Params no link drives: their buffers change only with the set value or a ramp.
        self.set_params = [(name, buffer) for name, sources, buffer in self.param_sources if not sources]
        self.driven_params = [source for source in self.param_sources if source[1]]
        #: The node's ``params_serial`` when set_params' buffers were last filled (-1: refill).
        self.filled_serial = -1
        #: The last call was part of a block: the params dict holds short views.
        self.partial = True
        self.whole_node = self.phase == "node"
        self.reads = self.phase == "read"

    def run(self, length: int, start: int = 0) -> None:
        node = self.node
        if node.fault is not None:  # a node that raised stays muted until it is replaced
            for buffer in self.output_arrays:  # silent, not the last block looping
                buffer[start : start + length] = 0.0
            return
        if length == self.block_size:  # a whole block: the dicts hold whole buffers already
            inputs, outputs = self.whole_inputs, self.whole_outputs
            for _port, sources, summed in self.summed_inputs:
                np.copyto(summed, sources[0])
                for source in sources[1:]:
                    summed += source
            if self.param_sources:
                self._whole_params(node)
        else:
            inputs, outputs = self._part(start, length)
        try:
            if self.whole_node:
                node.process(inputs, self.params, outputs)
            elif self.reads:
                node.read(self.params, outputs)
            else:
                node.write(inputs, self.params, outputs)
        except Exception as error:  # the audio must go on: mute this node, report it outside
            self.fail(error, outputs.values())
            return
        for output in outputs.values():
            if not all_finite(output):
                # As VCV Rack scrubs cables: silence instead of NaN, and a fresh start for the node.
                scrub(output)
                node.nonfinite_blocks += 1
                node.reset()

    def fail(self, error: Exception, outputs: Iterable[np.ndarray] | None = None, count: bool = True) -> None:
        """The node raised: mute it (silent outputs) until an edit replaces it; ``count`` it
        (for the report) unless its other step in a loop did."""
        node = self.node
        node.fault = node.last_fault = error
        node.fault_count += count
        for output in self.output_arrays if outputs is None else outputs:
            output[: len(output)] = 0.0

    def use_whole_buffers(self) -> None:
        """Before whole blocks run without the step (:mod:`patcher.plan`): the params dict
        holds the whole buffers, filled with the set values."""
        if self.partial:
            self.partial = False
            for name, _sources, buffer in self.param_sources:
                self.params[name] = buffer
        if self.set_params and self.filled_serial != self.node.params_serial:
            self._fill_set_params(self.node)

    def source_arrays(self) -> list[np.ndarray]:
        """Every buffer this step reads (its inputs' and its params' linked sources)."""
        return [
            buffer for _port, sources, _sum in self.input_sources + self.param_sources for buffer in sources
        ]

    def _whole_params(self, node: Node) -> None:
        """Each modulatable param's buffer for a whole block: the set value (filled only when
        it changed), its ramp, plus its linked signals."""
        params, values, ramps = self.params, node.params, node.ramps
        if self.partial:
            self.partial = False
            for name, _sources, buffer in self.param_sources:
                params[name] = buffer
        if ramps or node.params_serial != self.filled_serial:
            self._fill_set_params(node)
        for name, sources, buffer in self.driven_params:
            ramp = ramps.get(name) if ramps else None
            if ramp is None:
                np.add(sources[0], values[name], out=buffer)  # the value plus the signal
            else:
                if ramp.fill(buffer):
                    del ramps[name]
                buffer += sources[0]
            for source in sources[1:]:
                buffer += source

    def _fill_set_params(self, node: Node) -> None:
        """The undriven params' buffers: a ramp's block, or the set value once it changed."""
        filled, ramps, values = self.filled, node.ramps, node.params
        settled = True
        for name, buffer in self.set_params:
            ramp = ramps.get(name)
            if ramp is None:
                value = values[name]
                if filled[name] != value:
                    buffer.fill(value)
                    filled[name] = value
                continue
            filled[name] = None
            settled = False
            if ramp.fill(buffer):
                del ramps[name]
        self.filled_serial = node.params_serial if settled else -1

    def _part(self, start: int, length: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The inputs, outputs and params of part of a block (a loop's chunk, a render's end)."""
        node, stop = self.node, start + length
        inputs, outputs, params = self.inputs, self.outputs, self.params
        for port, sources, summed in self.input_sources:
            inputs[port] = _gather(sources, summed, start, stop, self.silence)
        for port, buffer in self.output_buffers:
            outputs[port] = buffer[start:stop]
        self.partial = True
        for name, sources, buffer in self.param_sources:
            ramp = node.ramps.get(name)
            view = buffer[:length]
            params[name] = view
            if ramp is None and not sources:
                value = node.params[name]
                if self.filled[name] != value:
                    buffer.fill(value)
                    self.filled[name] = value
                continue
            self.filled[name] = None
            self.filled_serial = -1
            if ramp is None:
                view.fill(node.params[name])
            elif ramp.fill(view):
                del node.ramps[name]
            for source in sources:
                view += source[start:stop]
        return inputs, outputs


def _gather(
    sources: list[np.ndarray], sum_buffer: np.ndarray, start: int, stop: int, silence: np.ndarray
) -> np.ndarray:
    if not sources:
        return sum_buffer[: stop - start]  # zeros: nothing is summed into it
    if len(sources) == 1:
        return sources[0][start:stop]
    view = sum_buffer[: stop - start]
    np.copyto(view, sources[0][start:stop])
    for source in sources[1:]:
        view += source[start:stop]
    return view


@dataclass(eq=False)
class Group:
    """Steps run together: one node, or a feedback loop run in chunks its delays allow."""

    steps: list[Step]
    loop_nodes: list[Node]
    #: For a loop: its node ids in running order, and the buffers its delays read into.
    node_ids: list[str] = field(default_factory=list)
    loop_buffers: list[np.ndarray] = field(default_factory=list)

    def run(self, frames: int) -> None:
        if not self.loop_nodes:
            for step in self.steps:
                step.run(frames)
            return
        chunk = self.chunk_length()
        for start in range(0, frames, chunk):
            length = min(chunk, frames - start)
            for step in self.steps:
                step.run(length, start)

    def fail(self, error: Exception) -> None:
        """Something outside the steps' own care raised: mute the loop (a node counted once,
        though a delay has two steps in it)."""
        counted: set[int] = set()
        for step in self.steps:
            step.fail(error, count=id(step.node) not in counted)
            counted.add(id(step.node))

    def chunk_length(self) -> int:
        """A loop's chunk: as long as its shortest delay allows (asked every block: a delay
        time may have changed)."""
        return max(1, min(node.loop_chunk() for node in self.loop_nodes))


@dataclass(frozen=True)
class Sound:
    """What a schedule makes heard: two schedules with equal ones sound the same."""

    nodes: frozenset[Node] = frozenset()
    links: frozenset[Any] = frozenset()


@dataclass
class Schedule:
    groups: list[Group]
    nodes: dict[str, Node]
    outputs: dict[tuple[str, str], np.ndarray]
    sample_rate: int
    block_size: int
    pruned: list[str]
    #: Nodes whose ``stereo`` buffer is the engine's output (the output nodes).
    sinks: list[Node] = field(default_factory=list)
    #: What ``activate`` installs at the swap: param changes of reused (running) nodes,
    #: prepared off the audio thread, and every node's linked inputs.
    changes: list[tuple[Node, str, Any, Any]] = field(default_factory=list)
    linked: dict[str, frozenset[str]] = field(default_factory=dict)
    #: What reaches the output; an edit that leaves it (and its nodes' params) alone is not heard.
    heard: Sound = field(default_factory=Sound)
    #: Set by the engine when the swap to this schedule may change the sound (it then glides).
    audible_swap: bool = True
    #: Set by the engine: what measures each node's time while metering is on
    #: (:class:`patcher.node_loads.NodeLoads`, made off the audio thread with the schedule).
    loads: Any = None
    #: Every output buffer, a row each.
    arena: np.ndarray = field(default_factory=lambda: np.zeros((0, 1)))

    @functools.cached_property
    def fast(self) -> BlockPlan:
        """What runs a whole block when nothing needs a step's care (:mod:`patcher.plan`)."""
        return BlockPlan(self)

    def activate(self, install: Callable[[Node, str, Any, Any], None]) -> bool:
        """Audio thread, at the swap: cheap installs only (the slow work is done), each
        through ``install(node, name, value, prepared)`` (the engine's, which also keeps what
        it replaces for the caller's thread to free). True if a muted node that is heard
        comes back (the output may jump from its silence)."""
        for node, name, value, prepared in self.changes:
            install(node, name, value, prepared)
        self.changes = []
        revived = False
        for node_id, node in self.nodes.items():
            node.linked = self.linked[node_id]
            if node.fault is not None:  # an edited patch gives a muted node another chance
                node.fault = None
                revived = revived or node in self.heard.nodes
        return revived

    @functools.cached_property
    def calls(self) -> list[Callable[[int], None]]:
        """What runs a block of ``frames``, in order: a node's step, or a loop's group."""
        return [group.steps[0].run if not group.loop_nodes else group.run for group in self.groups]

    @functools.cached_property
    def loops(self) -> list[Group]:
        """The feedback loops (read by the output protection every block: built once)."""
        return [group for group in self.groups if group.loop_nodes]

    @property
    def order(self) -> list[str]:
        """Node ids in the order they run (a two-phase node at its first phase)."""
        seen: dict[str, None] = {}
        for group in self.groups:
            for step in group.steps:
                seen.setdefault(step.node_id, None)
        return list(seen)


@collector_paused()
def compile_patch(
    patch: Patch,
    sample_rate: int | None = None,
    block_size: int | None = None,
    reuse: Mapping[str, Node] | None = None,
    promised: Mapping[str, Mapping[str, Any]] | None = None,
    pause: Callable[[], None] = lambda: None,
) -> Schedule:
    """Check ``patch`` and build its schedule; ``reuse`` keeps running nodes (live edits).

    ``promised`` holds each reused node's params (as :func:`resolved_params` gives them) as
    the changes already queued for the audio thread will leave them (its running params may
    not have them yet): what differs from those is prepared as a change, so a value set and
    set back before a block boundary still ends as set back. ``pause()`` is called between
    nodes: a player beside a running audio callback makes way for it there. Subpatches are
    flattened first (:mod:`patcher.flatten`): the schedule's ids are paths (``voice/env``)."""
    patch = flatten(patch)
    problems = cycle_problems(patch)
    if problems:
        raise PatchError(problems)
    sample_rate = sample_rate or patch.settings.sample_rate
    block_size = block_size or patch.settings.block_size
    into = links_by_target(patch)
    live = _upstream((node_id for node_id, node in patch.nodes.items() if node.spec.IS_SINK), into)
    live_in_order = [node_id for node_id in patch.nodes if node_id in live]  # sets' order varies
    changes: list[tuple[Node, str, Any, Any]] = []
    nodes = {}
    for node_id in live_in_order:
        pause()
        nodes[node_id] = _instantiate(
            patch, node_id, sample_rate, block_size, reuse or {}, promised or {}, changes
        )
    ports = [(node_id, port) for node_id in live_in_order for port in patch.nodes[node_id].spec.OUTPUTS]
    #: Every output buffer is a row of one array: NaN is looked for in one call per block.
    arena = np.zeros((len(ports), block_size))
    outputs = dict(zip(ports, arena, strict=True))
    linked = {node_id: frozenset(ln.target.port for ln in into.get(node_id, ())) for node_id in nodes}
    for node_id, node in nodes.items():
        if not (reuse and reuse.get(node_id) is node):  # a new node: nobody runs it yet
            node.linked = linked[node_id]
    groups = _groups(patch, live_in_order, nodes, outputs, block_size, into, pause)
    pruned = sorted(set(patch.nodes) - live)
    sinks = [node for node in nodes.values() if hasattr(node, "stereo")]
    heard = _heard(patch, nodes, into)
    return Schedule(
        groups, nodes, outputs, sample_rate, block_size, pruned, sinks, changes, linked, heard, arena=arena
    )


def _heard(patch: Patch, nodes: dict[str, Node], into: Mapping[str, list[Link]]) -> Sound:
    """What reaches the output nodes: those nodes (each running instance) and their links."""
    ids = _upstream((node_id for node_id, node in nodes.items() if hasattr(node, "stereo")), into)
    links = frozenset(link for node_id in ids for link in into.get(node_id, ()))
    return Sound(frozenset(nodes[node_id] for node_id in ids), links)


def links_by_target(patch: Patch) -> dict[str, list[Link]]:
    """Each node's incoming links, in one pass (asking the patch node by node is quadratic)."""
    into: dict[str, list[Link]] = {}
    for link in patch.links:
        into.setdefault(link.target.node, []).append(link)
    return into


def _upstream(starts: Iterable[str], into: Mapping[str, list[Link]]) -> set[str]:
    """``starts`` and every node with a path to one of them."""
    found = set(starts)
    stack = list(found)
    while stack:
        for link in into.get(stack.pop(), ()):
            if link.source.node not in found:
                found.add(link.source.node)
                stack.append(link.source.node)
    return found


def _instantiate(
    patch: Patch,
    node_id: str,
    sample_rate: int,
    block_size: int,
    reuse: Mapping[str, Node],
    promised: Mapping[str, Mapping[str, Any]],
    changes: list[tuple[Node, str, Any, Any]],
) -> Node:
    """A fresh, prepared node; or the running one, its param changes prepared in ``changes``."""
    data = patch.nodes[node_id]
    old = reuse.get(node_id)
    same_setup = old is not None and old.sample_rate == sample_rate and old.max_block == block_size
    # A node that holds a patch (a poly's voice) is the same node only while that patch is.
    same_inner = old is not None and plays_alike(old.inner, data.inner)
    if old is not None and type(old) is data.spec and same_setup and same_inner:
        # Files compare by where they are: the patch may have moved (Save As) or be another one.
        wanted = resolved_params(data, patch.base_dir)
        current = promised.get(node_id) or resolved_params(old, old.patch_dir)
        for name, value in wanted.items():
            if current.get(name) != value:
                prepared = _call_node(node_id, data.type, old.prepare_change, name, value, wanted)
                changes.append((old, name, value, prepared))
        return old
    node = data.spec(dict(data.params), str(patch.base_dir))
    if data.inner is not None:  # a copy: the model's patch may be edited while this one plays
        node.inner = copy.deepcopy(data.inner)
    _call_node(node_id, data.type, node.prepare, sample_rate, block_size)
    return node


def resolved_params(node: Any, folder: str | os.PathLike[str]) -> dict[str, Any]:
    """A node's params (of a NodeData or a running Node) with relative file paths made
    absolute against ``folder``: what a running node, made in another folder, is given."""
    spec = type(node) if isinstance(node, Node) else node.spec
    params = dict(node.params)
    for name, value in relative_files(spec, node.params):
        params[name] = os.path.abspath(os.path.join(folder, value))
    return params


def _call_node(node_id: str, type_name: str, method: Any, *args: Any) -> Any:
    """Set-up code may fail on user data (a missing file): say which node, not a traceback."""
    try:
        return method(*args)
    except (OSError, ValueError, RuntimeError) as error:
        raise PatchError(f"node {node_id!r} ({type_name}): {error}") from None


def _groups(
    patch: Patch,
    live: list[str],
    nodes: dict[str, Node],
    outputs: dict[tuple[str, str], np.ndarray],
    block_size: int,
    into: Mapping[str, list[Link]],
    pause: Callable[[], None],
) -> list[Group]:
    silence = np.zeros(block_size)
    silence.flags.writeable = False  # what a muted node's outputs would be, never handed to one
    successors: dict[str, list[str]] = {node_id: [] for node_id in live}
    for node_id in live:
        for link in into.get(node_id, ()):
            if link.source.node in nodes and node_id not in successors[link.source.node]:
                successors[link.source.node].append(node_id)
    groups = []
    for members in components_in_order(successors):
        pause()
        if is_loop(members, successors):
            ids = set(members)
            inside = [link for member in members for link in into.get(member, ()) if link.source.node in ids]
            order = topological_order(phase_graph(patch, members, inside))
        else:
            order = [(members[0], "node")]
        steps = [
            _step(patch, node_id, phase, nodes, outputs, block_size, silence, into.get(node_id, []))
            for node_id, phase in order
        ]
        loop_nodes = [nodes[node_id] for node_id, phase in order if phase == "read"]
        node_ids = list(dict.fromkeys(node_id for node_id, _phase in order))
        loop_buffers = [
            buffer for step in steps if step.phase == "read" for _port, buffer in step.output_buffers
        ]
        groups.append(Group(steps, loop_nodes, node_ids, loop_buffers))
    return groups


def _step(
    patch: Patch,
    node_id: str,
    phase: str,
    nodes: dict[str, Node],
    outputs: dict[tuple[str, str], np.ndarray],
    block_size: int,
    silence: np.ndarray,
    links_in: list[Link],
) -> Step:
    cls = patch.nodes[node_id].spec
    node = nodes[node_id]
    wanted = set(cls.input_ports())
    if phase == "read":
        wanted &= set(cls.READ_INPUTS)
    elif phase == "write":
        wanted -= set(cls.READ_INPUTS)
    sources: dict[str, list[np.ndarray]] = {port: [] for port in cls.input_ports() if port in wanted}
    for link in links_in:
        buffer = outputs.get((link.source.node, link.source.port))
        if link.target.port in sources and buffer is not None:
            sources[link.target.port].append(buffer)
    input_sources, param_sources = [], []
    for port, linked in sources.items():
        if port in cls.PARAMS:  # modulatable: a signal, a ramp, or just the set value
            param_sources.append((port, linked, np.zeros(block_size)))
        else:
            input_sources.append((port, linked, np.zeros(block_size)))
    output_buffers = [(port, outputs[(node_id, port)]) for port in _phase_outputs(cls, phase)]
    step = Step(node_id, node, phase, input_sources, param_sources, output_buffers, silence)
    step.params = node.block_params
    return step


def _phase_outputs(cls: type[Node], phase: str) -> tuple[str, ...]:
    if phase == "read":
        return cls.READ_OUTPUTS
    if phase == "write":
        return tuple(port for port in cls.OUTPUTS if port not in cls.READ_OUTPUTS)
    return cls.OUTPUTS
