"""Control input: notes played from a MIDI keyboard, a MIDI file or any event source.

``note`` is Pd's ``notein`` with a mono voice's logic in it (VCV Rack's MIDI-CV in mono): the
events of each block (:mod:`patcher.events`) become per-sample signals in a compiled kernel,
each change on the sample of its event, so a render does not depend on the block size.

Gates, as every node means them: a gate is 1.0 while a note (or a step) is on and 0.0 while
it is off; it rises on the note on's sample and falls on the note off's sample. A node that
starts something on a gate (an envelope) starts on the rise, 0 to 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from patcher.compiled import entry
from patcher.events import NOTE_OFF, NOTE_ON, PITCH_BEND, EventBlock
from patcher.kernels import kernel
from patcher.spec import Node, Param

Signals = Mapping[str, np.ndarray]

#: The note the pitch outputs hold before the first note is played (middle C).
RESTING_NOTE = 60
#: The note kernel's state: the block's serial it is in, its place in that block, the next
#: event to read, how many notes are held, the gliding note (fractional), whether a note has
#: been played yet, the last note and velocity (held over while none is), and the pitch
#: wheel (-1..1).
SERIAL, POSITION, CURSOR, HELD, GLIDING, PLAYED, LAST_NOTE, LAST_VELOCITY, BEND = range(9)


@kernel
def _note_kernel(
    offsets: np.ndarray,
    kinds: np.ndarray,
    channels: np.ndarray,
    numbers: np.ndarray,
    values: np.ndarray,
    tally: np.ndarray,
    channel: int,
    retrigger: bool,
    glide_coefficient: float,
    bend_semitones: float,
    held: np.ndarray,
    held_velocities: np.ndarray,
    state: np.ndarray,
    gate: np.ndarray,
    pitch_hz: np.ndarray,
    note: np.ndarray,
    velocity: np.ndarray,
) -> None:
    """One chunk of a mono voice with last-note priority.

    ``held`` is the stack of notes held, the newest on top (with their velocities): a note on
    pushes its note (taking it out first if it was held already), a note off takes its note out
    wherever it is, so releasing the top note falls back to the newest note still held. The
    outputs follow the top of the stack; with none held the gate is 0 and the pitch, note and
    velocity stay those of the last note (an envelope's release keeps its pitch). The pitch
    glides in semitones towards the note, one pole: ``gliding += (note - gliding) * c``; the
    pitch wheel adds ``bend x bend_semitones`` from its event's sample on (not to ``note``).
    ``tally`` holds the block's event count and serial: a new serial starts from its first.
    """
    count = tally[0]
    if state[SERIAL] != tally[1]:  # a new block: its events from the first
        state[SERIAL], state[POSITION], state[CURSOR] = tally[1], 0.0, 0.0
    position, cursor, held_count = int(state[POSITION]), int(state[CURSOR]), int(state[HELD])
    gliding, played = state[GLIDING], state[PLAYED]
    last_note, last_velocity, bend = state[LAST_NOTE], state[LAST_VELOCITY], state[BEND]
    last = len(held) - 1
    for i in range(len(gate)):
        at = position + i
        dip = False
        # Held on the sample before: a note off and a note on on one sample (back to back, as
        # quantised files have them) retrigger as an overlapping (legato) pair does.
        held_before = held_count > 0
        while cursor < count and offsets[cursor] <= at:
            kind, number = kinds[cursor], numbers[cursor]
            if kind == PITCH_BEND and (channel == 0 or channels[cursor] == channel):
                bend = values[cursor]
            if kind in (NOTE_ON, NOTE_OFF) and (channel == 0 or channels[cursor] == channel):
                found = -1
                for j in range(held_count):
                    if held[j] == number:
                        found = j
                if found >= 0:  # out of the stack, wherever it is
                    for j in range(found, held_count - 1):
                        held[j] = held[j + 1]
                        held_velocities[j] = held_velocities[j + 1]
                    held_count -= 1
                if kind == NOTE_ON and values[cursor] > 0.0 and held_count <= last:
                    held[held_count] = number
                    held_velocities[held_count] = values[cursor]
                    held_count += 1
                    dip = dip or (retrigger and held_before)
                    if played == 0.0:  # the first note starts on its pitch: nothing to glide from
                        gliding, played = float(number), 1.0
            cursor += 1
        if held_count > 0:
            last_note, last_velocity = held[held_count - 1], held_velocities[held_count - 1]
        gate[i] = 1.0 if held_count > 0 and not dip else 0.0
        note[i], velocity[i] = last_note, last_velocity
        gliding += (last_note - gliding) * glide_coefficient
        pitch_hz[i] = 440.0 * 2.0 ** ((gliding + bend * bend_semitones - 69.0) / 12.0)
    state[POSITION], state[CURSOR], state[HELD] = position + len(gate), cursor, held_count
    state[BEND] = bend
    state[GLIDING], state[PLAYED], state[LAST_NOTE], state[LAST_VELOCITY] = (
        gliding,
        played,
        last_note,
        last_velocity,
    )


@entry(arrays=13, ints=2, floats=2)
def _note_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    as_ints = arrays[0].view(np.int64), arrays[1].view(np.int64), arrays[2].view(np.int64)
    numbers, tally, held = arrays[3].view(np.int64), arrays[5].view(np.int64), arrays[6].view(np.int64)
    _note_kernel(
        as_ints[0],
        as_ints[1],
        as_ints[2],
        numbers,
        arrays[4],
        tally,
        ints[0],
        ints[1] != 0,
        floats[0],
        floats[1],
        held,
        arrays[7],
        arrays[8],
        arrays[9],
        arrays[10],
        arrays[11],
        arrays[12],
    )


class Note(Node):
    TYPE = "note"
    FAMILY = "control"
    DOC = (
        "Notes in (MIDI keyboard, MIDI file), mono with last-note priority: gate (1 while a note "
        "is held), pitch_hz (gliding), note number and velocity 0..1, each change on its sample."
    )
    OUTPUTS = ("gate", "pitch_hz", "note", "velocity")
    TAKES_EVENTS = True
    PARAMS = {
        "channel": Param(
            0, 0, 16, kind="int", doc="MIDI channel to play (1..16); 0 plays notes from every channel."
        ),
        "glide_ms": Param(
            0.0,
            0.0,
            5000.0,
            "ms",
            "Portamento: the pitch moves to a new note in semitones with this time constant "
            "(63% of the way in this time); 0 jumps.",
        ),
        "bend_semitones": Param(
            2.0,
            0.0,
            48.0,
            "semitones",
            "Pitch wheel range: the wheel full up raises pitch_hz by this many semitones, full "
            "down lowers it as much (the note output keeps the key played).",
        ),
        "retrigger": Param(
            False,
            kind="bool",
            doc="A note played while another is held drops the gate for one sample (an envelope "
            "starts again); off, the gate stays up (legato).",
        ),
    }
    ENTRY = _note_entry

    def __init__(self, params: Mapping[str, Any] | None = None, patch_dir: str = ".") -> None:
        super().__init__(params, patch_dir)
        #: The engine's events (an empty block until an engine connects its own).
        self.events = EventBlock(1)

    def prepare(self, sample_rate: int, max_block: int) -> None:
        self.held = np.zeros(128, dtype=np.int64)
        self.held_velocities = np.zeros(128)
        self.state = np.zeros(9)  # SERIAL .. BEND
        super().prepare(sample_rate, max_block)

    def reset(self) -> None:
        self.state.fill(0.0)
        self.state[SERIAL] = -1.0
        self.state[LAST_NOTE] = self.state[GLIDING] = RESTING_NOTE

    def glide_coefficient(self, glide_ms: float) -> float:
        if glide_ms <= 0.0:
            return 1.0
        return 1.0 - math.exp(-1000.0 / (glide_ms * self.sample_rate))

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        _note_kernel(*self.kernel_arguments(inputs, params, outputs))

    def kernel_arguments(
        self, inputs: Signals, params: Mapping[str, Any], outputs: Signals
    ) -> tuple[Any, ...]:
        events = self.events
        return (
            events.offsets,
            events.kinds,
            events.channels,
            events.numbers,
            events.values,
            events.tally,
            int(params["channel"]),
            bool(params["retrigger"]),
            self.glide_coefficient(float(params["glide_ms"])),
            float(params["bend_semitones"]),
            self.held,
            self.held_velocities,
            self.state,
            outputs["gate"],
            outputs["pitch_hz"],
            outputs["note"],
            outputs["velocity"],
        )
