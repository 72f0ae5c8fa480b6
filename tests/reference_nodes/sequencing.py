"""The clock and the sequencer as plain Python, for tests/test_nodes_sequencing.py.

The clock counts its unwrapped phase in Python's integers and reads the step from it (which
pair, and whether past the swung second step), rather than wrapping a phase as the kernel does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nodes.sequencing import DIVISIONS, Clock, Sequencer
from patcher.spec import Node

Signals = Mapping[str, np.ndarray]


class ReferenceClock(Clock):
    TYPE = ""  # not registered: the tests and reference renders use it by name
    ENTRY = None  # its own process runs, not the node's compiled kernel

    def reset(self) -> None:
        self.total, self.playing = 0, -1

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        numerator, denominator = DIVISIONS[self.params["division"]]
        step = 60 * 1000 * int(self.sample_rate) * 4 * numerator
        swing = step * round(self.params["swing_pct"] * 100) // 10000
        gate_share = round(self.params["gate_pct"] * 100)
        for i, bpm in enumerate(params["bpm"]):
            pair, within = divmod(self.total, 2 * step)
            second = within >= step + swing
            number = 2 * pair + int(second)
            outputs["trigger"][i] = float(number != self.playing)
            self.playing = number
            length = step - swing if second else step + swing
            since = within - (step + swing) if second else within
            outputs["gate"][i] = float(since < length * gate_share // 10000)
            if bpm > 0:
                self.total += round(min(bpm, 1000.0) * 1000) * denominator


class ReferenceSequencer(Sequencer):
    TYPE = ""  # not registered: the tests and reference renders use it by name
    ENTRY = None  # its own process runs, not the node's compiled kernel

    def prepare(self, sample_rate: int, max_block: int) -> None:
        Node.prepare(self, sample_rate, max_block)

    def reset(self) -> None:
        self.index, self.clock_was_on, self.reset_was_on = None, False, False

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        steps, values, gates = self.params["steps"], self.params["values"], self.params["gates"]
        for i, (clock, reset) in enumerate(zip(inputs["clock"], inputs["reset"], strict=True)):
            if reset > 0.5 and not self.reset_was_on:
                self.index = None
            if clock > 0.5 and not self.clock_was_on:
                self.index = 0 if self.index is None else (self.index + 1) % steps
            self.clock_was_on, self.reset_was_on = clock > 0.5, reset > 0.5
            playing = 0 if self.index is None else self.index
            outputs["value"][i] = values[playing % len(values)]
            step_on = self.index is not None and gates[playing % len(gates)] > 0.5
            outputs["gate"][i] = float(clock > 0.5 and step_on)
            outputs["step"][i] = playing


REFERENCES: dict[str, type[Node]] = {"clock": ReferenceClock, "sequencer": ReferenceSequencer}
