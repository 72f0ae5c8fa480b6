"""Polyphony: a voice patch played several times at once, each note on a copy of its own.

``poly`` is Pd's ``[clone]`` with ``[poly]`` in front of it, Max's ``poly~``, VCV Rack's
16-channel MIDI-CV. It holds a patch, its *voice* (embedded, or an abstraction named by file,
as a subpatch holds one), compiles ``voices`` copies of it, hands each note to one copy and
sums what the copies' outlets play. Its input ports are the voice's inlets (every copy hears
the same signal), its output ports the voice's outlets (summed over the copies); its params
are ``voices``, ``channel`` and those the voice publishes, which every copy takes (a
modulatable one reaches every copy as a signal, so a CC's glide or a modulation link works
as on any node). Unlike a subpatch it is not flattened: it runs its copies itself.

Inside a copy, a ``note`` node reads that copy's own events, so a mono voice (note ->
oscillator, note.gate -> adsr -> VCA -> outlet) becomes polyphonic unchanged.

Allocation follows the events alone, so a render does not depend on the block size:

* a note on for a note a copy holds goes to that copy again (its note node treats it as a
  repeated key);
* any other note on goes to an idle copy (the lowest numbered), else to the copy released
  longest ago, else to the copy whose note started longest ago. That one is *stolen*: its
  note ends on the new note's sample and the new note starts on the next, so its envelope
  starts again from where it is (as the note node's retrigger does), with no click;
* a note off goes to the copy holding its note (none: the note was stolen; nothing to do);
* any other event (the pitch wheel, a CC) goes to every copy, and a copy that wakes later is
  told the last of each first, so a note played with the wheel bent starts bent.

Idle copies cost nothing: they are not run, and add nothing to the sum. A copy goes idle at a
check, every ``IDLE_CHECK_SAMPLES`` samples from the start, when it holds no note and its
outlets stayed below ``SILENT`` (-120 dB) since the check before. A note given to an idle
copy resets it first (a fresh voice) and runs it from the note's sample. Checks fall on
fixed samples and a copy starts on its note's sample, so every block size gives the same
samples.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nodes.subpatch import interface_spec
from patcher import compiled
from patcher.events import NOTE_OFF, NOTE_ON, PITCH_BEND, EventBlock
from patcher.kernels import kernel
from patcher.plan import BlockPlan
from patcher.spec import Node, Param, Ramp
from patcher.text import quote

Signals = Mapping[str, np.ndarray]

MAX_VOICES = 64
#: Samples between the checks that send a silent copy idle (from the node's first sample).
IDLE_CHECK_SAMPLES = 1024
#: A copy whose outlets stay below this (-120 dB) between two checks, holding no note, is idle.
SILENT = 1e-6
#: Events one copy can take in one block (a copy gets a few per note).
VOICE_EVENTS = 256
#: Polys inside voices of polys, at most (a deeper nest is a voice that holds itself).
MAX_NESTING = 8
#: The ids the copies' wrapper gives the voice and its feeds (an id of a file has no ``:``).
VOICE, INPUT, SETTING, OUTPUT = "voice", "in:", "set:", "out:"

OWN_PARAMS = {
    "voices": Param(8, 1, MAX_VOICES, kind="int", doc="Copies of the voice: notes played at once, at most."),
    "channel": Param(
        0, 0, 16, kind="int", doc="MIDI channel to play (1..16); 0 plays notes from every channel."
    ),
}

_nesting = threading.local()


@kernel
def _add_voice(voice_out: np.ndarray, total: np.ndarray, start: int, frames: int, peak: float) -> float:
    """Add a copy's outlet into the sum from ``start``; return its loudest sample (or ``peak``)."""
    for i in range(frames):
        sample = voice_out[i]
        total[start + i] += sample
        if abs(sample) > peak:
            peak = abs(sample)
    return peak


@kernel
def _copy_span(source: np.ndarray, start: int, target: np.ndarray, frames: int) -> None:
    """A copy's share of a shared input: ``source[start:start + frames]`` into ``target``."""
    for i in range(frames):
        target[i] = source[start + i]


def _bare_outlet(step: Any) -> bool:
    return step.node_id.startswith(OUTPUT) and not step.summed_inputs


def _retire_state(node: Node, prepared: Any) -> None:
    """Before a copy's node takes in new state (a longer delay line), keep its old state for
    the caller's thread to free (as the engine keeps a node's own), not this, the audio thread."""
    if prepared is not None:
        compiled.RETIRED.append(dict(vars(node)))


class Voice:
    """One compiled copy of the voice: what runs it, its events, and the buffers of its ports."""

    def __init__(self, schedule: Any, feeds: list[tuple[str, bool, np.ndarray]], taps: list[np.ndarray]):
        self.schedule = schedule
        self.nodes = list(schedule.nodes.values())
        #: (port or param name, whether it is a param, the inlet's buffer the poly writes).
        self.feeds = feeds
        #: Each outlet's input, in the order of the poly's outputs.
        self.taps = taps
        self.events = EventBlock(VOICE_EVENTS)
        for node in self.nodes:
            if node.TAKES_EVENTS:
                node.events = self.events
        fed = {f"{INPUT}{name}" for name, is_param, _ in feeds if not is_param}
        fed |= {f"{SETTING}{name}" for name, is_param, _ in feeds if is_param}
        # The feeds' inlet nodes do not run (they would play silence over what is written), nor
        # an outlet with one link in or none (what it hears is its tap already; it does nothing).
        kept = [
            (group, call)
            for group, call in zip(schedule.groups, schedule.calls, strict=True)
            if group.loop_nodes or not (group.steps[0].node_id in fed or _bare_outlet(group.steps[0]))
        ]
        self.calls = [call for _group, call in kept]
        #: What runs a whole block of the copy (:mod:`patcher.plan`); ``calls`` run the rest.
        self.plan = BlockPlan(schedule, [group for group, _call in kept])
        self.block_size = schedule.block_size

    def reset(self) -> None:
        for node in self.nodes:
            node.reset()

    def run(self, frames: int) -> None:
        if frames == self.block_size:
            self.plan.run()
            return
        for call in self.calls:
            call(frames)
        self.plan.dirty = True  # the steps hold views of part of their buffers now


class Poly(Node):
    TYPE = "poly"
    FAMILY = "subpatch"
    DOC = (
        "A voice patch (embedded, or an abstraction named by file) played several times at once, "
        "as Max's poly~: each note on a copy of its own (else the one released longest ago, else "
        "the oldest), the copies' outlets summed, idle copies not run. Ports: the voice's inlets "
        "and outlets; params: these and those the voice publishes."
    )
    TAKES_EVENTS = True
    PARAMS = OWN_PARAMS
    #: The per-sample work, as kernels (the tests' reference swaps in numpy).
    add_voice = staticmethod(_add_voice)
    copy_span = staticmethod(_copy_span)

    @classmethod
    def with_interface(
        cls, inputs: tuple[str, ...], outputs: tuple[str, ...], params: tuple[tuple[str, Param], ...]
    ) -> type[Node]:
        """The spec of one poly: its voice's ports, its own params and the voice's published
        ones (one the poly has itself is left out: :meth:`inner_problem` names it)."""
        published = tuple((name, param) for name, param in params if name not in OWN_PARAMS)
        return interface_spec(cls, inputs, outputs, (*OWN_PARAMS.items(), *published))

    @staticmethod
    def inner_problem(voice: Any) -> str | None:
        """Why the patch ``voice`` cannot be a poly's voice, or None."""
        _inputs, outputs, params = voice.interface()
        if not outputs:
            return "its voice has no outlet: add an outlet node to the voice (the poly sums its outlets)"
        clash = [name for name, _param in params if name in OWN_PARAMS]
        if clash:
            return (
                f"its voice publishes {quote(clash[0])}, a param the poly node has itself; "
                "publish it under another name"
            )
        return None

    # -- set-up (caller's thread) --------------------------------------------------------
    def prepare(self, sample_rate: int, max_block: int) -> None:
        self.sample_rate, self.max_block = sample_rate, max_block
        if self.inner is None:  # the bare type (no ports: every poly in a patch has a voice)
            from patcher.model import Patch

            self.inner = Patch()
            self.inner.add_node("outlet", "out")
        problem = self.inner_problem(self.inner)
        if problem:
            raise ValueError(problem)
        published = self.inner.published_params()
        #: Published params that reach every copy as a signal (the others are set in each).
        self.signalled = {name for name, param in published.items() if param.modulatable}
        #: Where each of the others lives in a copy: (node id, param).
        self.targets = {name: self._target(name) for name in published if name not in self.signalled}
        self.voice_list = self._build(self.params, 0, int(self.params["voices"]))
        slots = range(MAX_VOICES)
        self.active = [False for _ in slots]
        self.held = [-1 for _ in slots]  # the note a copy holds, -1 none
        self.held_channel = [0 for _ in slots]
        self.started = [0 for _ in slots]  # when its note started (a count of notes)
        self.released = [0 for _ in slots]  # when its note ended
        self.run_from = [-1 for _ in slots]  # where in this segment it runs from (-1: not)
        self.peaks = [0.0 for _ in slots]
        self.pending = [(-1, 0, 0.0) for _ in slots]  # a stolen copy's next note: note, channel, velocity
        self.stolen_at = [-1 for _ in slots]  # the sample it was last stolen on (from the start)
        #: Each channel's pitch wheel, the one moved last at the end: what a waking copy hears.
        self.bends: dict[int, float] = {}
        #: Copies run, one per copy per block (or part of one): what idle copies save shows here.
        self.voice_runs = 0
        self.reset()

    def _build(self, params: Mapping[str, Any], first: int, stop: int) -> list[Voice]:
        """Copies ``first`` to ``stop`` of the voice, compiled with ``params``."""
        from patcher.compiler import compile_patch  # the compiler imports the node library

        depth = getattr(_nesting, "depth", 0)
        if depth >= MAX_NESTING:
            raise ValueError(
                f"polys nested more than {MAX_NESTING} deep: does the voice hold a poly of itself?"
            )
        _nesting.depth = depth + 1
        try:
            wrapper = self._wrapper(params)
            voices = []
            for _copy in range(first, stop):
                schedule = compile_patch(wrapper, self.sample_rate, self.max_block)
                voices.append(self._voice(schedule))
            return voices
        finally:
            _nesting.depth = depth

    def _target(self, name: str, path: str = "") -> tuple[str, str]:
        """Where a param lives in a copy, as (node id, param): one the voice publishes, or
        (with ``path``) one of the node at ``path`` inside the voice."""
        from patcher.flatten import flat_param
        from patcher.model import NodeData, Patch

        holder = Patch(base_dir=Path(self.patch_dir))
        holder.nodes[VOICE] = NodeData(VOICE, "subpatch", {}, inner=self.inner)
        return flat_param(holder, f"{VOICE}/{path}" if path else VOICE, name)

    def _wrapper(self, params: Mapping[str, Any]) -> Any:
        """The voice as a patch of its own, flattened: an inlet for each input port and each
        signalled param, an outlet for each output port, the voice's ``output`` nodes left out
        (a voice is heard through its outlets)."""
        from patcher.flatten import flatten
        from patcher.model import Link, NodeData, Patch, PortRef

        voice = self.inner
        inputs, outputs, published = voice.interface()
        values = {name: 0.0 if name in self.signalled else params[name] for name, _param in published}
        wrapper = Patch(voice.settings, base_dir=Path(self.patch_dir))
        wrapper.nodes[VOICE] = NodeData(VOICE, "subpatch", values, inner=voice)
        feeds = [(INPUT + port, port) for port in inputs]
        feeds += [(SETTING + name, name) for name in sorted(self.signalled)]
        for node_id, port in feeds:
            wrapper.nodes[node_id] = NodeData(node_id, "inlet", {"index": 0})
            wrapper.links.append(Link(PortRef(node_id, "out"), PortRef(VOICE, port)))
        for port in outputs:
            wrapper.nodes[OUTPUT + port] = NodeData(OUTPUT + port, "outlet", {"index": 0})
            wrapper.links.append(Link(PortRef(VOICE, port), PortRef(OUTPUT + port, "in")))
        flat = flatten(wrapper)
        unheard = {node_id for node_id, node in flat.nodes.items() if node.type == "output"}
        for node_id in unheard:
            del flat.nodes[node_id]
        flat.links = [link for link in flat.links if link.target.node not in unheard]
        return flat

    def _voice(self, schedule: Any) -> Voice:
        inputs, outputs, _published = self.inner.interface()
        feeds = []
        named = [(port, False) for port in inputs] + [(name, True) for name in sorted(self.signalled)]
        for name, is_param in named:
            buffer = schedule.outputs.get((f"{SETTING if is_param else INPUT}{name}", "out"))
            if buffer is not None:  # None: the voice does not use it
                feeds.append((name, is_param, buffer))
        taps = []
        for port in outputs:
            (step,) = [s for group in schedule.groups for s in group.steps if s.node_id == OUTPUT + port]
            taps.append(step.whole_inputs["in"])  # what the outlet sums, at [0:frames] in any call
        return Voice(schedule, feeds, taps)

    def inner_nodes(self) -> list[tuple[str, Node]]:
        return [
            (f"[{index + 1}]/{node_id.removeprefix(VOICE + '/')}", node)
            for index, voice in enumerate(self.voice_list)
            for node_id, node in voice.schedule.nodes.items()
        ]

    def reset(self) -> None:
        for slot in range(MAX_VOICES):
            self._clear(slot)
        self.clock = 0  # samples since the start: where the idle checks fall
        self.serial = -1  # the engine's block being played, its next event, where in it
        self.cursor = 0
        self.in_block = 0
        self.notes = 0  # notes played: their order decides which copy is stolen
        self.bends.clear()

    def _clear(self, slot: int) -> None:
        self.active[slot], self.held[slot], self.run_from[slot] = False, -1, -1
        self.peaks[slot], self.pending[slot], self.stolen_at[slot] = 0.0, (-1, 0, 0.0), -1

    # -- live changes -----------------------------------------------------------------------
    def prepare_change(self, name: str, value: Any, params: Mapping[str, Any]) -> Any:
        if name == "voices":  # the copies that stay keep playing; new ones are compiled here
            have = list(self.voice_list)
            if value <= len(have):
                return have[:value]
            return have + self._build(params, len(have), int(value))
        if name in OWN_PARAMS or name in self.signalled:
            return None  # the channel is read every block; a signalled param is a signal
        changes = []  # set in every copy: each inner node prepares its own change
        node_id, inner_name = self.targets[name]
        for voice in self.voice_list:
            node = voice.schedule.nodes.get(node_id)
            if node is not None:
                inner_params = {**node.params, inner_name: value}
                changes.append((node, inner_name, node.prepare_change(inner_name, value, inner_params)))
        return changes

    def prepare_voice_change(self, path: str, name: str, value: Any, ramp_samples: int) -> list[Any]:
        """Caller's thread: a param of the node at ``path`` inside the voice (an editor's
        slider in the opened voice), for every copy: what ``install_change`` takes under the
        name ``path.name``. A number that can glide glides ``ramp_samples`` in each copy.
        Raises ValueError for a value the node cannot take."""
        node_id, inner_name = self._target(name, path)
        owner, data = self.inner.owner(path)  # the voice as this poly holds it: an edit
        owner.set_param(data.id, name, value)  # elsewhere then finds it as edited, and keeps it
        changes = []
        for voice in self.voice_list:
            node = voice.schedule.nodes.get(node_id)
            if node is None:  # pruned: nothing in the copy hears it
                continue
            prepared = node.prepare_change(inner_name, value, {**node.params, inner_name: value})
            glides = node.PARAMS[inner_name].modulatable and ramp_samples > 0
            ramp = Ramp(0.0, value, ramp_samples) if glides else None
            changes.append((voice, node, inner_name, prepared, ramp))
        return changes

    def install_change(self, name: str, value: Any, prepared: Any) -> None:
        if "." in name:  # inside the voice (``prepare_voice_change``), as the engine applies one
            for voice, node, inner_name, inner_prepared, ramp in prepared:
                _retire_state(node, inner_prepared)
                if ramp is None:
                    node.switch_to(inner_name, value, inner_prepared)
                else:
                    node.glide_to(inner_name, value, ramp, inner_prepared)
                voice.plan.touch(node)
            return
        if name == "voices":
            for slot in range(len(prepared), MAX_VOICES):  # copies gone (or never run) start clear
                self._clear(slot)
            self.voice_list = prepared
        elif prepared is not None:
            for node, inner_name, inner_prepared in prepared:
                _retire_state(node, inner_prepared)
                node.switch_to(inner_name, value, inner_prepared)
            for voice in self.voice_list:
                voice.plan.dirty = True
        self.param_changed(name, value)

    # -- audio thread -------------------------------------------------------------------------
    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        totals = [outputs[port] for port in self.OUTPUTS]
        if not totals:  # the bare type: no voice to play
            return
        for total in totals:
            total.fill(0.0)
        frames = len(totals[0])
        events = self.events
        if events.serial != self.serial:  # a new block: its events from the first
            self.serial, self.cursor, self.in_block = events.serial, 0, 0
        done = 0
        while done < frames:  # in segments that end on the idle checks' samples
            length = min(frames - done, IDLE_CHECK_SAMPLES - self.clock % IDLE_CHECK_SAMPLES)
            self._segment(inputs, params, totals, done, length)
            done += length
            self.clock += length
            self.in_block += length
            if self.clock % IDLE_CHECK_SAMPLES == 0:
                self._check_idle()

    def _segment(
        self, inputs: Signals, params: Mapping[str, Any], totals: list[np.ndarray], start: int, length: int
    ) -> None:
        voices = self.voice_list
        for slot, voice in enumerate(voices):
            voice.events.next_block()
            self.run_from[slot] = 0 if self.active[slot] else -1
            note, channel, velocity = self.pending[slot]
            if note >= 0:  # a stolen copy's note, due on the sample after its old note ended
                voice.events.add(0, NOTE_ON, channel, note, velocity)
                self.pending[slot] = (-1, 0, 0.0)
        self._route(length, int(params["channel"]), len(voices))
        for slot, voice in enumerate(voices):
            begin = self.run_from[slot]
            if begin < 0:
                continue
            frames = length - begin
            for name, is_param, buffer in voice.feeds:
                self.copy_span(params[name] if is_param else inputs[name], start + begin, buffer, frames)
            voice.run(frames)
            peak = self.peaks[slot]
            for tap, total in zip(voice.taps, totals, strict=True):
                peak = self.add_voice(tap, total, start + begin, frames, peak)
            self.peaks[slot] = peak
            self.voice_runs += 1

    def _route(self, length: int, channel: int, count: int) -> None:
        """The engine's note events in this segment, each to its copy."""
        events, stop = self.events, self.in_block + length
        held = events.count  # (read once: an array's item)
        while self.cursor < held and events.offsets[self.cursor] < stop:
            index = self.cursor
            self.cursor += 1
            kind, event_channel = int(events.kinds[index]), int(events.channels[index])
            at = max(int(events.offsets[index]) - self.in_block, 0)
            number, value = int(events.numbers[index]), float(events.values[index])
            releases = kind == NOTE_OFF or (kind == NOTE_ON and value <= 0.0)
            if releases:  # whatever the channel now: a key held before it changed is let go
                self._note_off(at, event_channel, number, count)
            elif channel and event_channel != channel:
                continue
            elif kind == NOTE_ON:
                self._note_on(at, length, event_channel, number, value, count)
            elif kind == PITCH_BEND:  # every copy's, now and for the copies that wake later
                # (CCs stay out: the patch's mappings play them, and a burst of them would
                # fill the copies' event blocks and drop a note off)
                self.bends.pop(event_channel, None)  # the newest last, as a waking copy hears them
                self.bends[event_channel] = value
                for slot in range(count):
                    if self.run_from[slot] >= 0:
                        self._send(slot, at, kind, event_channel, number, value)

    def _holding(self, note: int, channel: int, count: int) -> int:
        for slot in range(count):
            if self.held[slot] == note and self.held_channel[slot] == channel:
                return slot
        return -1

    def _note_on(self, at: int, length: int, channel: int, note: int, velocity: float, count: int) -> None:
        slot = self._holding(note, channel, count)
        if slot < 0:
            slot = self._free(at, count)
            if slot < 0:
                slot = self._steal(at, length, channel, note, velocity, count)
            else:
                self._send(slot, at, NOTE_ON, channel, note, velocity)
        elif self.stolen_at[slot] != self.clock + at:  # else its note starts on the next sample
            self._send(slot, at, NOTE_ON, channel, note, velocity)
        self.held[slot], self.held_channel[slot] = note, channel
        self.started[slot] = self.notes
        self.notes += 1

    def _free(self, at: int, count: int) -> int:
        """An idle copy (fresh: reset, run from the note's sample, told where the wheel and
        the controllers are), else the copy released longest ago; -1 when every copy holds a
        note."""
        for slot in range(count):
            if not self.active[slot]:
                self.voice_list[slot].reset()
                self.active[slot], self.peaks[slot], self.run_from[slot] = True, 0.0, at
                for channel, value in self.bends.items():
                    self._send(slot, at, PITCH_BEND, channel, 0, value)
                return slot
        oldest = -1
        for slot in range(count):
            if self.held[slot] < 0 and (oldest < 0 or self.released[slot] < self.released[oldest]):
                oldest = slot
        return oldest

    def _steal(self, at: int, length: int, channel: int, note: int, velocity: float, count: int) -> int:
        """The copy whose note started longest ago: its note ends now, the new one starts on
        the next sample (its gate falls for one sample: the envelope starts again)."""
        slot = 0
        for other in range(1, count):
            if self.started[other] < self.started[slot]:
                slot = other
        self._end_note(slot, at)
        if at + 1 < length:
            self._send(slot, at + 1, NOTE_ON, channel, note, velocity)
        else:
            self.pending[slot] = (note, channel, velocity)
        self.stolen_at[slot] = self.clock + at
        return slot

    def _end_note(self, slot: int, at: int) -> None:
        """End the copy's note at ``at``; a note due to start on the next sample (the copy was
        stolen on this one) is called off there, or before it is sent."""
        note, channel = self.held[slot], self.held_channel[slot]
        if self.stolen_at[slot] != self.clock + at:
            self._send(slot, at, NOTE_OFF, channel, note, 0.0)
        elif self.pending[slot][0] >= 0:
            self.pending[slot] = (-1, 0, 0.0)
        else:
            self._send(slot, at + 1, NOTE_OFF, channel, note, 0.0)

    def _note_off(self, at: int, channel: int, note: int, count: int) -> None:
        slot = self._holding(note, channel, count)
        if slot < 0:
            return
        self._end_note(slot, at)
        self.held[slot] = -1
        self.released[slot] = self.notes
        self.notes += 1

    def _send(self, slot: int, at: int, kind: int, channel: int, number: int, value: float) -> None:
        self.voice_list[slot].events.add(at - self.run_from[slot], kind, channel, number, value)

    def _check_idle(self) -> None:
        for slot in range(len(self.voice_list)):
            if self.active[slot] and self.held[slot] < 0 and self.peaks[slot] < SILENT:
                self.active[slot] = False
            self.peaks[slot] = 0.0
