"""The engine: runs a compiled schedule block by block. Headless; offline and real time alike.

The real-time player and the analysis tools drive this same class, so what is measured is
what is heard.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from patcher import compiled
from patcher.compiler import Schedule, compile_patch, resolved_params
from patcher.control import ControlMap
from patcher.events import CONTROL, EventBlock, EventTimeline
from patcher.flatten import flat_param, flatten
from patcher.kernels import kernel
from patcher.model import Patch, PatchError
from patcher.node_loads import NodeLoads
from patcher.protection import scrub
from patcher.spec import Node, Ramp

DECLICK_S = 0.003
#: Samples of output remembered to tell a jump at a change from the signal's own motion: a
#: fixed span, so whether a change glides does not depend on the block size.
MOTION_WINDOW = 32
DEFAULT_RAMP_S = 0.02


@dataclass
class ParamChange:
    """A validated param change, made on the caller's thread, applied at a block boundary."""

    node: Node | None
    name: str
    value: Any
    ramp: Ramp | None
    prepared: Any = None
    #: The node reaches the output (else nothing heard changes: no glide).
    audible: bool = True
    #: When a live control (a MIDI CC, an OSC message) asked for it (``time.perf_counter``),
    #: or 0: the player starts its ramp at that moment's place in the next block.
    arrived_at: float = 0.0


class Engine:
    """Holds a schedule and the stereo mix of its output nodes.

    Changes while running come in two halves: ``prepare_*`` validates and compiles on the
    caller's thread (and may raise); ``apply``/``swap`` are cheap and run on the audio thread
    at a block boundary. Offline, ``set_param`` and ``update_patch`` do both at once.
    """

    def __init__(self, patch: Patch, sample_rate: int | None = None, block_size: int | None = None):
        self.patch = patch
        flat = flatten(patch)
        #: Each node's params (by flat id) as the audio thread will have them once what is
        #: queued is in.
        self.promised = _params_of(flat)
        self.schedule = compile_patch(flat, sample_rate, block_size)
        self.schedule.loads = NodeLoads(self.schedule)
        self.schedule.fast  # noqa: B018  (its block plan made here: the audio thread only runs it)
        self.schedule.activate(self._install)
        #: The per-node CPU meter (set from any thread); each turn on starts a new epoch.
        self._metering = False
        self._metering_epoch = 0
        #: The newest compiled schedule (ahead of ``schedule`` while a swap is queued).
        self.latest = self.schedule
        self.mix = np.zeros((2, self.block_size))
        #: The output's last frames; the last two tell where the old graph was heading at a swap.
        self.recent = np.zeros((2, MOTION_WINDOW))
        self.recent_steps = np.zeros((2, MOTION_WINDOW - 1))
        self.last_frame = self.recent[:, -1]
        self.frame_before_last = self.recent[:, -2]
        self.declick = np.exp(-np.arange(1, self.block_size + 1) / (DECLICK_S * self.sample_rate))
        self.glide = np.zeros(2)
        self.gliding = False
        self.whole_mix = self.mix  # a block of the block size: no view to make
        self.scratch = np.zeros((2, self.block_size))
        #: At a change, the largest step per channel in the recent output.
        self.motion = np.zeros(2)
        #: The sound card's input (mono), written by the player; read by live input nodes.
        self.device_input = np.zeros(self.block_size)
        #: The next block's events (notes, CCs), read by the nodes that take events; filled
        #: by the player (live input) and from ``timeline`` (a MIDI file), emptied after it.
        self.events = EventBlock()
        self.timeline: EventTimeline | None = None
        #: What a CC or an OSC message sets (the patch's mappings and the default addresses).
        self.controls = ControlMap(patch)
        #: Frames computed since the start: where the timeline is.
        self.clock = 0
        #: What the timeline's CCs could not set, and how many dropped events were reported.
        self.event_reports: list[str] = []
        self.reported_dropped = 0
        self._connect_device_input(self.schedule)
        #: Set at a block boundary where the output may jump (a swap, an installed change).
        self.glide_next_block = False
        #: What the audio thread replaced (old schedules, the state a change swapped out),
        #: kept alive until the caller's thread lets go of it: freeing a delay line's
        #: megabytes costs the audio thread a millisecond.
        self.retired: collections.deque[Any] = collections.deque()

    @property
    def sample_rate(self) -> int:
        return self.schedule.sample_rate

    @property
    def block_size(self) -> int:
        return self.schedule.block_size

    def reset(self) -> None:
        for node in self.schedule.nodes.values():
            node.reset()

    @property
    def metering(self) -> bool:
        """Whether each node's time is measured (``node_loads``); off, nothing is."""
        return self._metering

    @metering.setter
    def metering(self, on: bool) -> None:
        if on and not self._metering:
            self._metering_epoch += 1  # the audio thread restarts the shares at its next block
        self._metering = bool(on)

    def node_loads(self) -> tuple[dict[str, float], float]:
        """While metering: each running node's smoothed share of the block's duration, and
        the schedule's total; ({}, 0.0) when off or before a block was measured. (From another
        thread than the audio thread, read it under ``schedule.loads.sequence``, as the player
        does.)"""
        if not self._metering:
            return {}, 0.0
        return self.schedule.loads.read()

    def process_block(self, frames: int | None = None) -> np.ndarray:
        """Run one block of ``frames`` (at most the block size); return a (2, frames) view."""
        # NaN and overflow are the engine's to catch (each node's output is checked, and the
        # culprit named); numpy must not warn, which would print from the audio thread.
        with np.errstate(all="ignore"):
            return self.run_block(frames)

    def run_block(self, frames: int | None = None) -> np.ndarray:
        """``process_block`` for a thread that has numpy's warnings off already (the audio
        thread turns them off once, with ``np.seterr``: numpy keeps it per thread; entering
        ``np.errstate`` for every block costs 1.5 µs)."""
        whole = frames is None or frames == self.block_size
        frames = self.block_size if frames is None else frames
        schedule = self.schedule
        mix = self.whole_mix if whole else self.mix[:, :frames]
        if self.glide_next_block:
            self._measure_motion()  # of the block just played, before it is overwritten
        if self.timeline is not None:
            self._play_timeline(frames)
        if self._metering:
            schedule.loads.run(frames, self.sample_rate, self._metering_epoch)
            schedule.fast.dirty = True
        elif whole:
            schedule.fast.run()
        else:  # a short block: the steps take views of their buffers
            for call in schedule.calls:
                call(frames)
            schedule.fast.dirty = True
        mix.fill(0.0)
        for node in schedule.sinks:
            if node.fault is not None:  # muted: not its last block, over and over
                continue
            stereo = node.stereo if whole else node.stereo[:, :frames]
            if not _add_if_finite(stereo, mix):  # a sink has no output port for its step to check
                scrub(stereo)
                node.nonfinite_blocks += 1
                mix += stereo
        if self.glide_next_block:
            self.glide_next_block = False
            self._start_glide(mix)
        if self.gliding:
            self._declick(mix, frames)
        _remember(self.recent, mix, frames)
        self.events.next_block()
        self.clock += frames
        return mix

    def play_events(self, timeline: EventTimeline) -> None:
        """Offline: play ``timeline`` (stamped from this engine's first sample): each event
        lands on its sample, whatever the block size; a CC mapped to a param (the patch's
        ``mappings``) starts the param's glide on its sample. The timeline is read through a
        cursor of this engine's own, so one timeline can be rendered again."""
        self.timeline = EventTimeline(timeline.events)

    def _play_timeline(self, frames: int) -> None:
        """Offline: this block's share of the timeline; a CC sets its params from its sample
        (a modulatable one's glide starts there; any other changes at this block's start)."""
        for event in self.timeline.deliver(self.clock, frames, self.events):
            if event.kind != CONTROL:
                continue
            offset = max(event.sample - self.clock, 0)
            for node_id, name, value in self.controls.control_change(
                event.channel, event.number, event.value
            ):
                try:
                    self.set_param(node_id, name, value, delay=offset)
                except PatchError as error:  # a value the node cannot take (a delay too long)
                    self.event_reports.append(f"CC {event.number}: {error}")

    def _measure_motion(self) -> None:
        """Each channel's largest step between samples in the recent output: a change whose
        first step is no larger is the signal moving on, not a jump."""
        steps, recent = self.recent_steps, self.recent
        np.subtract(recent[:, 1:], recent[:, :-1], out=steps)
        np.abs(steps, out=steps)
        np.max(steps, axis=1, out=self.motion)

    def _start_glide(self, mix: np.ndarray) -> None:
        """Where the output jumps at a change, glide from where the old sound was heading (a
        line through its last two frames, so a smooth signal gets no step); where it moves on
        no more than it was moving, leave it alone (a bright sound is no straight line)."""
        heading = 2.0 * self.last_frame - self.frame_before_last
        jumped = np.abs(mix[:, 0] - self.last_frame) > self.motion
        self.glide += np.where(jumped, heading - mix[:, 0], 0.0)
        self.gliding = bool(self.glide.any())

    def _declick(self, mix: np.ndarray, frames: int) -> None:
        """After a graph edit or an installed change, glide from where the output was heading."""
        curve = self.declick[:frames]
        for channel, scratch in enumerate(self.scratch[:, :frames]):
            np.multiply(curve, self.glide[channel], out=scratch)
            mix[channel] += scratch
        self.glide *= curve[-1]
        if np.max(np.abs(self.glide)) < 1e-10:  # ended by size, not by block: blocks agree
            self.glide[:] = 0.0
            self.gliding = False

    # -- live changes -----------------------------------------------------------------------
    def prepare_param_change(
        self, node_id: str, name: str, value: Any, ramp_s: float = DEFAULT_RAMP_S, delay: int = 0
    ) -> ParamChange:
        """Validate against the patch and prepare the slow part of the change here, on the
        caller's thread (raises PatchError and changes nothing when the value cannot work).
        A ramp starts ``delay`` samples into the block where it is applied (an event's offset).
        ``node_id`` may be a path into a subpatch (``voice/env``); a subpatch's published
        param changes the inner node's."""
        self.release_retired()
        owner, data = self.patch.owner(node_id)
        previous = data.params.get(name)
        owner.set_param(data.id, name, value)
        param = data.spec.PARAMS[name]
        value = resolved_params(data, owner.base_dir)[name]  # the node may come from elsewhere
        flat_id, flat_name = flat_param(self.patch, node_id, name)
        params = {**self.promised.get(flat_id, {}), flat_name: value}
        node = self.latest.nodes.get(flat_id)
        if node is None:
            voices = self._voice_change(flat_id, flat_name, value, ramp_s if param.modulatable else 0.0)
            if voices is not None:
                return voices
        prepared = None
        if node is not None:  # even a ramped change may need room made for it (a longer delay)
            try:
                prepared = node.prepare_change(flat_name, value, params)
            except (OSError, ValueError) as error:
                data.params[name] = previous
                raise PatchError(f"node {flat_id!r} ({node.TYPE}): {error}") from None
        self.promised.setdefault(flat_id, {})[flat_name] = value
        if param.modulatable and ramp_s > 0:
            ramp = Ramp(0.0, value, round(ramp_s * self.sample_rate), delay)
            return ParamChange(node, flat_name, value, ramp, prepared)
        return ParamChange(node, flat_name, value, None, prepared, node in self.latest.heard.nodes)

    def _voice_change(self, flat_id: str, name: str, value: Any, ramp_s: float) -> ParamChange | None:
        """A param inside a poly's voice (``synth/osc``), changed in every copy of it; None
        when no running poly holds ``flat_id``."""
        parts = flat_id.split("/")
        for cut in range(len(parts) - 1, 0, -1):
            holder = self.latest.nodes.get("/".join(parts[:cut]))
            if holder is not None and hasattr(holder, "prepare_voice_change"):
                path = "/".join(parts[cut:])
                try:
                    prepared = holder.prepare_voice_change(
                        path, name, value, round(ramp_s * self.sample_rate)
                    )
                except (OSError, ValueError) as error:
                    raise PatchError(f"node {flat_id!r}: {error}") from None
                return ParamChange(holder, f"{path}.{name}", value, None, prepared, audible=ramp_s <= 0)
        return None

    def prepare_preset(self, name: str, glide_s: float = 0.0) -> list[ParamChange]:
        """The changes that recall the preset ``name`` (raises PatchError for an unknown one),
        as Max's pattrstorage interpolates: a modulatable number glides to its value over
        ``glide_s`` seconds (at least a knob's ramp), sample by sample; anything else (a
        choice, a switch, a number that cannot be modulated) switches at once."""
        changes = []
        for node_id, values in self.patch.preset(name).items():
            data = self.patch.nodes.get(node_id)
            for key, value in values.items():
                if data is None or key not in data.spec.PARAMS or data.params.get(key) == value:
                    continue  # gone since it was stored, or already there
                changes.append(self.prepare_param_change(node_id, key, value, max(glide_s, DEFAULT_RAMP_S)))
        return changes

    def recall_preset(self, name: str, glide_s: float = 0.0) -> None:
        """Offline: recall the preset ``name`` from the next block, gliding over ``glide_s``."""
        for change in self.prepare_preset(name, glide_s):
            self.apply(change)

    def apply(self, change: ParamChange) -> None:
        """Audio thread: start the ramp (or set the value) at this block boundary."""
        node = change.node
        if node is None:  # the node is not heard (pruned): the patch holds the new value
            return
        self._replan(node)
        if change.ramp is None:
            self._install(node, change.name, change.value, change.prepared)
            # A step (a new IR, file, oversampling, shape or level): glide where the output jumps.
            self.glide_next_block |= change.audible
            return
        if change.prepared is not None:  # what it replaces is freed on the caller's thread
            self.retired.append(dict(vars(node)))
        node.glide_to(change.name, change.value, change.ramp, change.prepared)

    def set_param(
        self, node_id: str, name: str, value: Any, ramp_s: float = DEFAULT_RAMP_S, delay: int = 0
    ) -> None:
        self.apply(self.prepare_param_change(node_id, name, value, ramp_s, delay))

    def prepare_patch(self, patch: Patch, pause: Callable[[], None] = lambda: None) -> Schedule:
        """Compile an edited patch, keeping the state of nodes that survive (raises PatchError);
        ``pause()`` is called between nodes (to make way for an audio callback)."""
        self.release_retired()
        flat = flatten(patch)
        schedule = compile_patch(
            flat,
            self.sample_rate,
            self.block_size,
            reuse=self.latest.nodes,
            promised=self.promised,
            pause=pause,
        )
        heard = schedule.heard
        changed = any(node in heard.nodes for node, *_ in schedule.changes)
        schedule.audible_swap = changed or heard != self.latest.heard
        schedule.loads = NodeLoads(schedule)
        schedule.fast  # noqa: B018  (its block plan made here: the audio thread only runs it)
        self._connect_device_input(schedule)
        self.patch = patch  # the model follows at once; the audio thread swaps the schedule
        self.controls = ControlMap(patch)
        self.promised = _params_of(flat)
        self.latest = schedule
        return schedule

    def _connect_device_input(self, schedule: Schedule) -> None:
        """Hand the engine's live buffers to the nodes that read them: the sound card's input,
        and the block's events."""
        for node in schedule.nodes.values():
            if hasattr(node, "device_input"):
                node.device_input = self.device_input
            if node.TAKES_EVENTS:
                node.events = self.events

    def swap(self, schedule: Schedule) -> None:
        """Audio thread: install the prepared changes and run the new schedule from now on."""
        self.retired.append(self.schedule)
        revived = schedule.activate(self._install)
        self.schedule = schedule
        self.glide_next_block |= schedule.audible_swap or revived

    def _install(self, node: Node, name: str, value: Any, prepared: Any) -> None:
        """Audio thread: take a prepared change in. New state (an IR, a file, an oversampler)
        replaces old state, which is kept for the caller's thread to free."""
        if prepared is not None:
            self.retired.append(dict(vars(node)))
        self._replan(node)
        node.switch_to(name, value, prepared)

    def _replan(self, node: Node) -> None:
        """``node``'s params are about to change: its calls in the whole-block plans are made
        again (in the schedule running, and in one compiled to replace it)."""
        self.schedule.fast.touch(node)
        if self.latest is not self.schedule:
            self.latest.fast.touch(node)

    def update_patch(self, patch: Patch) -> None:
        self.swap(self.prepare_patch(patch))

    def release_retired(self) -> None:
        """Caller's thread: free what the audio thread replaced."""
        while self.retired:
            self.retired.popleft()
        compiled.release_retired()

    def take_reports(self) -> list[str]:
        """New warnings about muted or NaN-producing nodes (call from outside the audio thread)."""
        reports, self.event_reports = self.event_reports, []
        dropped = self.events.dropped
        if dropped > self.reported_dropped:
            self.reported_dropped = dropped
            reports.append(f"{dropped} events came more than {len(self.events.offsets)} to a block: dropped")
        for node_id, node in _every_node(self.schedule.nodes.items()):
            faults = node.fault_count  # read once: the audio thread may add one meanwhile
            if faults > node.reported_faults:  # each time it raised since the last report
                node.reported_faults = faults
                reports.append(f"node {node_id!r} ({node.TYPE}) failed and is muted: {node.last_fault!r}")
            if node.nonfinite_blocks and not node.reported_nonfinite:  # once: it may go on
                node.reported_nonfinite = True
                reports.append(f"node {node_id!r} ({node.TYPE}) produced NaN or infinity: silenced and reset")
        return reports

    def render(self, seconds: float, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Render ``seconds`` of audio as a (frames, 2) array, calling ``progress(frames_done)``."""
        total = round(seconds * self.sample_rate)
        result = np.empty((total, 2))
        for start in range(0, total, self.block_size):
            frames = min(self.block_size, total - start)
            result[start : start + frames] = self.process_block(frames).T
            if progress is not None:
                progress(frames)
        return result


@kernel
def _add_if_finite(stereo: np.ndarray, mix: np.ndarray) -> bool:
    """``mix += stereo`` if every sample of ``stereo`` is finite (one pass each); else False,
    and ``mix`` untouched."""
    total = 0.0
    for channel in range(2):
        for index in range(mix.shape[1]):
            total += stereo[channel, index] * 0.0  # 0 for a finite sample, NaN for any other
    if total != 0.0:
        return False
    for channel in range(2):
        for index in range(mix.shape[1]):
            mix[channel, index] += stereo[channel, index]
    return True


@kernel
def _remember(recent: np.ndarray, mix: np.ndarray, frames: int) -> None:
    """Keep the last frames played (as many as ``recent`` holds), across blocks of any size."""
    window = recent.shape[1]
    kept = max(window - frames, 0)
    for channel in range(2):
        for index in range(kept):
            recent[channel, index] = recent[channel, index + frames]
        for index in range(kept, window):
            recent[channel, index] = mix[channel, frames - window + index]


def _every_node(nodes: Iterable[tuple[str, Node]]) -> Iterator[tuple[str, Node]]:
    """Each running node by its id, and the nodes a node runs itself (a poly's voices)."""
    for node_id, node in nodes:
        yield node_id, node
        yield from _every_node((f"{node_id}{inner_id}", inner) for inner_id, inner in node.inner_nodes())


def _params_of(patch: Patch) -> dict[str, dict[str, Any]]:
    return {node_id: resolved_params(node, patch.base_dir) for node_id, node in patch.nodes.items()}
