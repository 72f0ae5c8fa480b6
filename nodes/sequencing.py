"""Time: a clock with divisions and swing, and a step sequencer it drives.

Gates and triggers follow the rules in :mod:`nodes.envelopes` (on above 0.5, a trigger is a
rising edge, outputs are 0.0 or 1.0).

The clock counts in integers, so its edges never drift: every sample adds the tempo in
thousandths of a BPM times the division's denominator, and a step passes when that sum
reaches ``60 * 1000 * rate * 4 * numerator`` (a division is ``numerator/denominator`` of a
whole note; a beat is a quarter note). At a steady tempo, step ``k`` therefore starts on
sample ``ceil(k * step)`` exactly, ``step = 60 * rate * 4 * numerator / (denominator * bpm)``
samples (the BPM rounded to a thousandth), after an hour as after a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nodes.envelopes import GATE_THRESHOLD, gate_is_on
from patcher.compiled import entry
from patcher.kernels import kernel
from patcher.spec import Node, Param

Signals = Mapping[str, np.ndarray]

#: Divisions as (numerator, denominator) of a whole note: T is a triplet, a dot one and a half.
DIVISIONS = {
    "1/1": (1, 1),
    "1/2": (1, 2),
    "1/4": (1, 4),
    "1/8": (1, 8),
    "1/16": (1, 16),
    "1/32": (1, 32),
    "1/2T": (1, 3),
    "1/4T": (1, 6),
    "1/8T": (1, 12),
    "1/16T": (1, 24),
    "1/2.": (3, 4),
    "1/4.": (3, 8),
    "1/8.": (3, 16),
}
MAX_BPM = 1000.0
#: The clock's state: the phase within a pair of steps, and whether the pair's second has begun.
PHASE, SECOND = range(2)


@kernel
def _tempo_increment(bpm: float, denominator: int) -> int:
    """What one sample adds to the clock's phase: thousandths of a BPM (held to 0..MAX_BPM,
    NaN stops) times the division's denominator."""
    if not bpm > 0.0:
        return 0
    return np.int64(np.rint(min(bpm, MAX_BPM) * 1000.0)) * denominator


@kernel
def _clock_kernel(
    bpm: np.ndarray,
    denominator: int,
    step: int,
    swing: int,
    gate_first: int,
    gate_second: int,
    state: np.ndarray,
    gate: np.ndarray,
    trigger: np.ndarray,
) -> None:
    """One block of the clock: steps come in pairs of ``2 * step`` phase units; the first
    starts at 0, the second ``swing`` units late, at ``step + swing``. The gate is on for the
    first ``gate_first`` (``gate_second``) units of each."""
    phase, second = state[PHASE], state[SECOND]
    for i in range(len(gate)):
        edge = False
        if phase >= 2 * step:
            phase = (phase - 2 * step) % (2 * step)
            second, edge = 0, True
        elif second == 0 and phase >= step + swing:
            second, edge = 1, True
        since = phase - (step + swing) if second else phase
        # since < 0: a live edit moved the second step later than the phase; off until it
        gate[i] = 1.0 if 0 <= since < (gate_second if second else gate_first) else 0.0
        trigger[i] = 1.0 if edge else 0.0
        phase += _tempo_increment(bpm[i], denominator)
    state[PHASE], state[SECOND] = phase, second


@entry(arrays=4, ints=5)
def _clock_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    _clock_kernel(
        arrays[0], ints[0], ints[1], ints[2], ints[3], ints[4], arrays[1].view(np.int64), arrays[2], arrays[3]
    )


class Clock(Node):
    TYPE = "clock"
    FAMILY = "sequencing"
    DOC = (
        "Gates at a tempo, division and swing, on exact samples with no drift (gates and "
        "triggers: nodes/envelopes.py)."
    )
    OUTPUTS = ("gate", "trigger")
    PARAMS = {
        "bpm": Param(
            120.0,
            1.0,
            MAX_BPM,
            "BPM",
            "Tempo in quarter notes a minute, to a thousandth (a signal adds BPM; 0 or less stops).",
            scale="log",
            modulatable=True,
        ),
        "division": Param(
            "1/8",
            kind="choice",
            choices=tuple(DIVISIONS),
            doc="Note value of a step: 1/4 is a beat, T a triplet (2/3), a dot one and a half.",
        ),
        "swing_pct": Param(
            0.0,
            0.0,
            75.0,
            "%",
            "Delay of every second step, in % of a step: 33.3 is a triplet shuffle (MPC's 66 %).",
        ),
        "gate_pct": Param(50.0, 1.0, 95.0, "%", "Gate length in % of its step (a swung step's own length)."),
    }
    ENTRY = _clock_entry

    def prepare(self, sample_rate: int, max_block: int) -> None:
        self.state = np.zeros(2, dtype=np.int64)
        self.sample_rate = sample_rate
        self._settle()
        super().prepare(sample_rate, max_block)

    def reset(self) -> None:
        self.state[:] = (2 * self.step, 0)  # a pair just ended: the first step starts now

    def _settle(self) -> None:
        """The integer lengths the kernel counts in, from the params."""
        numerator, self.denominator = DIVISIONS[self.params["division"]]
        self.step = 60 * 1000 * int(self.sample_rate) * 4 * numerator
        self.swing = self.step * round(self.params["swing_pct"] * 100) // 10000
        gate = round(self.params["gate_pct"] * 100)
        self.gate_first = (self.step + self.swing) * gate // 10000
        self.gate_second = (self.step - self.swing) * gate // 10000

    def param_changed(self, name: str, value: Any) -> None:
        super().param_changed(name, value)
        before = getattr(self, "step", 0)
        if before:  # prepared: keep the same place in the pair of steps
            self._settle()
            self.state[PHASE] = int(self.state[PHASE]) * self.step // before  # Python ints: no overflow

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        _clock_kernel(*self.kernel_arguments(inputs, params, outputs))

    def kernel_arguments(
        self, inputs: Signals, params: Mapping[str, Any], outputs: Signals
    ) -> tuple[Any, ...]:
        return (
            params["bpm"],
            self.denominator,
            self.step,
            self.swing,
            self.gate_first,
            self.gate_second,
            self.state,
            outputs["gate"],
            outputs["trigger"],
        )


# -- the step sequencer -------------------------------------------------------------------------
#: The sequencer's state: the step playing (-1 before the first clock), the inputs' last gates.
INDEX, CLOCK_WAS_ON, RESET_WAS_ON = range(3)
DEFAULT_VALUES = [110.0, 110.0, 220.0, 110.0, 164.81, 110.0, 220.0, 196.0]


@kernel
def _sequencer_kernel(
    clock: np.ndarray,
    reset: np.ndarray,
    steps: int,
    values: np.ndarray,
    gates: np.ndarray,
    state: np.ndarray,
    value: np.ndarray,
    gate: np.ndarray,
    step: np.ndarray,
) -> None:
    """One block: a reset's trigger rewinds (the next clock plays the first step), a clock's
    trigger moves on a step; the gate is the clock's gate during steps whose gate is on."""
    index, clock_was_on, reset_was_on = state[INDEX], state[CLOCK_WAS_ON], state[RESET_WAS_ON]
    for i in range(len(value)):
        reset_on = gate_is_on(reset[i])
        if reset_on and not reset_was_on:
            index = -1
        clock_on = gate_is_on(clock[i])
        if clock_on and not clock_was_on:
            index = (index + 1) % steps
        reset_was_on, clock_was_on = reset_on, clock_on
        playing = index % steps if index >= 0 else 0
        value[i] = values[playing % len(values)]
        step_on = index >= 0 and gates[playing % len(gates)] > GATE_THRESHOLD
        gate[i] = 1.0 if clock_on and step_on else 0.0
        step[i] = playing
    state[INDEX], state[CLOCK_WAS_ON], state[RESET_WAS_ON] = index, clock_was_on, reset_was_on


@entry(arrays=8, ints=1)
def _sequencer_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    state = arrays[4].view(np.int64)
    _sequencer_kernel(
        arrays[0], arrays[1], ints[0], arrays[2], arrays[3], state, arrays[5], arrays[6], arrays[7]
    )


class Sequencer(Node):
    TYPE = "sequencer"
    FAMILY = "sequencing"
    DOC = (
        "Step sequencer: each trigger at 'clock' moves to the next of its steps' values and "
        "gates; 'reset' rewinds (gates and triggers: nodes/envelopes.py)."
    )
    INPUTS = ("clock", "reset")
    OUTPUTS = ("value", "gate", "step")
    PARAMS = {
        "steps": Param(
            8,
            1,
            64,
            kind="int",
            doc="Steps in the loop; step k reads entry k of the tables, wrapping round a shorter table.",
        ),
        "values": Param(
            DEFAULT_VALUES,
            kind="table",
            doc="Each step's value, in the target's unit (Hz here: a bass line for a frequency).",
        ),
        "gates": Param(
            [1.0] * len(DEFAULT_VALUES),
            kind="table",
            doc="Each step's gate: on above 0.5 (the clock's gate passes), off at 0 (a rest).",
        ),
    }
    ENTRY = _sequencer_entry

    def prepare(self, sample_rate: int, max_block: int) -> None:
        self.state = np.zeros(3, dtype=np.int64)
        self.tables = {name: _table(self.params[name]) for name in ("values", "gates")}
        super().prepare(sample_rate, max_block)

    def reset(self) -> None:
        self.state[:] = (-1, 0, 0)

    def prepare_change(self, name: str, value: Any, params: Mapping[str, Any]) -> Any:
        return _table(value) if name in ("values", "gates") else None  # made off the audio thread

    def install_change(self, name: str, value: Any, prepared: Any) -> None:
        super().param_changed(name, value)
        if prepared is not None:
            self.tables[name] = prepared

    def param_changed(self, name: str, value: Any) -> None:
        super().param_changed(name, value)
        if name in ("values", "gates"):
            self.tables[name] = _table(value)

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        _sequencer_kernel(*self.kernel_arguments(inputs, params, outputs))

    def kernel_arguments(
        self, inputs: Signals, params: Mapping[str, Any], outputs: Signals
    ) -> tuple[Any, ...]:
        return (
            inputs["clock"],
            inputs["reset"],
            int(self.params["steps"]),
            self.tables["values"],
            self.tables["gates"],
            self.state,
            outputs["value"],
            outputs["gate"],
            outputs["step"],
        )


def _table(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)
