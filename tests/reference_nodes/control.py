"""The note node written plainly, in Python over the events, as a reference for its kernel
(it never had numpy code of its own: this is the textbook version of its logic)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nodes.control import RESTING_NOTE, Note
from patcher.events import NOTE_OFF, NOTE_ON, PITCH_BEND

Signals = Mapping[str, np.ndarray]


class ReferenceNote(Note):
    """A list of held notes (newest last), looked at sample by sample."""

    TYPE = ""  # not registered: the tests and reference renders use it by name
    ENTRY = None  # its own process runs, not the node's compiled kernel

    def reset(self) -> None:
        super().reset()
        self.stack: list[tuple[int, float]] = []
        self.last = (RESTING_NOTE, 0.0)
        self.gliding: float | None = None
        self.serial, self.position = -1, 0
        self.bend = 0.0

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        events = self.events
        if self.serial != events.serial:
            self.serial, self.position = events.serial, 0
        start = self.position
        pending = [
            (
                int(events.offsets[i]),
                int(events.kinds[i]),
                int(events.channels[i]),
                int(events.numbers[i]),
                float(events.values[i]),
            )
            for i in range(events.count)
            if start <= events.offsets[i] < start + len(outputs["gate"])
            or (start == 0 and events.offsets[i] < 0)
        ]
        coefficient = self.glide_coefficient(float(params["glide_ms"]))
        channel = int(params["channel"])
        bend_semitones = float(params["bend_semitones"])
        for i in range(len(outputs["gate"])):
            dip = False
            held_before = bool(self.stack)  # on the sample before
            for offset, kind, event_channel, number, value in pending:
                if offset != start + i or (channel and event_channel != channel):
                    continue
                if kind == PITCH_BEND:
                    self.bend = value
                if kind not in (NOTE_ON, NOTE_OFF):
                    continue
                self.stack = [(note, velocity) for note, velocity in self.stack if note != number]
                if kind == NOTE_ON and value > 0:
                    self.stack.append((number, value))
                    dip = dip or (bool(params["retrigger"]) and held_before)
                    if self.gliding is None:
                        self.gliding = float(number)
            if self.stack:
                self.last = self.stack[-1]
            outputs["gate"][i] = 1.0 if self.stack and not dip else 0.0
            outputs["note"][i], outputs["velocity"][i] = self.last
            gliding = float(RESTING_NOTE) if self.gliding is None else self.gliding
            gliding += (self.last[0] - gliding) * coefficient
            if self.gliding is not None:
                self.gliding = gliding
            outputs["pitch_hz"][i] = 440.0 * 2.0 ** ((gliding + self.bend * bend_semitones - 69.0) / 12.0)
        self.position = start + len(outputs["gate"])


REFERENCES = {"note": ReferenceNote}
