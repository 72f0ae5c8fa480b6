"""Glue: gain, a four-input mixer, an equal-power panner and sample-by-sample math.

Each node's work is a one-line kernel over the block. A level in dB becomes a factor with a
power per sample; a level that holds still (a set value, no signal) costs one power per block.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from patcher.compiled import entry
from patcher.kernels import decibels_to_factor, kernel
from patcher.spec import Node, Param

Signals = Mapping[str, np.ndarray]


@entry(arrays=3)
def _gain_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    _gain(arrays[0], arrays[1], arrays[2])


class Gain(Node):
    TYPE = "gain"
    FAMILY = "mixing"
    DOC = "Multiplies its input by a level in dB; modulate gain_db for tremolo."
    INPUTS = ("in",)
    OUTPUTS = ("out",)
    PARAMS = {"gain_db": Param(0.0, -90.0, 24.0, "dB", "Level change (a signal adds dB).", modulatable=True)}
    ENTRY = _gain_entry

    def kernel_arguments(
        self, inputs: Signals, params: Mapping[str, Any], outputs: Signals
    ) -> tuple[Any, ...]:
        return inputs["in"], params["gain_db"], outputs["out"]

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        _gain(*self.kernel_arguments(inputs, params, outputs))


@kernel
def _gain(signal: np.ndarray, gain_db: np.ndarray, out: np.ndarray) -> None:
    factor, factor_db = 1.0, 0.0
    for i in range(len(out)):
        if gain_db[i] != factor_db:  # a new level: its factor, once
            factor, factor_db = decibels_to_factor(gain_db[i]), gain_db[i]
        out[i] = factor * signal[i]


@entry(arrays=9, ints=4)
def _mix_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    _mix(
        arrays[0],
        arrays[1],
        arrays[2],
        arrays[3],
        arrays[4],
        arrays[5],
        arrays[6],
        arrays[7],
        ints[0] != 0,
        ints[1] != 0,
        ints[2] != 0,
        ints[3] != 0,
        arrays[8],
    )


class Mix(Node):
    TYPE = "mix"
    FAMILY = "mixing"
    DOC = "Sums four inputs, each at its own linear level."
    INPUTS = ("in1", "in2", "in3", "in4")
    OUTPUTS = ("out",)
    PARAMS = {
        f"level{index}": Param(1.0, 0.0, 4.0, "x", f"Linear level of in{index}.", modulatable=True)
        for index in range(1, 5)
    }

    ENTRY = _mix_entry

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        _mix(*self.kernel_arguments(inputs, params, outputs))

    def kernel_arguments(
        self, inputs: Signals, params: Mapping[str, Any], outputs: Signals
    ) -> tuple[Any, ...]:
        # Unlinked inputs are silence and are skipped: the kernel is handed ``out`` in their
        # place (never read), so it is compiled once, not once per combination of silences.
        linked, out = self.linked, outputs["out"]
        return (
            inputs["in1"] if "in1" in linked else out,
            inputs["in2"] if "in2" in linked else out,
            inputs["in3"] if "in3" in linked else out,
            inputs["in4"] if "in4" in linked else out,
            params["level1"],
            params["level2"],
            params["level3"],
            params["level4"],
            "in1" in linked,
            "in2" in linked,
            "in3" in linked,
            "in4" in linked,
            out,
        )


@kernel
def _mix(
    in1: np.ndarray,
    in2: np.ndarray,
    in3: np.ndarray,
    in4: np.ndarray,
    level1: np.ndarray,
    level2: np.ndarray,
    level3: np.ndarray,
    level4: np.ndarray,
    use1: bool,
    use2: bool,
    use3: bool,
    use4: bool,
    out: np.ndarray,
) -> None:
    for i in range(len(out)):
        total = 0.0
        if use1:
            total += in1[i] * level1[i]
        if use2:
            total += in2[i] * level2[i]
        if use3:
            total += in3[i] * level3[i]
        if use4:
            total += in4[i] * level4[i]
        out[i] = total


@entry(arrays=4)
def _pan_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    _pan(arrays[0], arrays[1], arrays[2], arrays[3])


class Pan(Node):
    TYPE = "pan"
    FAMILY = "mixing"
    DOC = "Equal-power pan of a mono input to left and right (-3 dB each at the centre)."
    INPUTS = ("in",)
    OUTPUTS = ("left", "right")
    PARAMS = {
        "pan": Param(0.0, -1.0, 1.0, "", "-1 is hard left, 0 the centre, 1 hard right.", modulatable=True)
    }

    ENTRY = _pan_entry

    def kernel_arguments(
        self, inputs: Signals, params: Mapping[str, Any], outputs: Signals
    ) -> tuple[Any, ...]:
        return inputs["in"], params["pan"], outputs["left"], outputs["right"]

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        _pan(*self.kernel_arguments(inputs, params, outputs))


@kernel
def _pan(signal: np.ndarray, pan: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
    """Equal power: the sides are the cosine and sine of an angle from 0 (left) to pi/2."""
    left_gain, right_gain, gains_pan = 0.0, 0.0, np.nan
    for i in range(len(signal)):
        if pan[i] != gains_pan:  # a new position (the first sample's too): its gains, once
            angle = (np.minimum(np.maximum(pan[i], -1.0), 1.0) + 1.0) * (math.pi / 4.0)
            left_gain, right_gain, gains_pan = math.cos(angle), math.sin(angle), pan[i]
        left[i] = signal[i] * left_gain
        right[i] = signal[i] * right_gain


#: Math's operations, as the kernel numbers them (the order of the param's choices).
OPERATIONS = (
    "add",
    "subtract",
    "multiply",
    "min",
    "max",
    "abs",
    "constant",
    "divide",
    "db_to_gain",
    "gain_to_db",
)
ADD, SUBTRACT, MULTIPLY, MINIMUM, MAXIMUM, ABSOLUTE, CONSTANT = range(7)
DIVIDE, DB_TO_GAIN, GAIN_TO_DB = range(7, len(OPERATIONS))
#: gain_to_db's answer for silence (|a| at or below 1e-10).
FLOOR_DB = -200.0
#: db_to_gain holds 'a' at most this high: 10^(6000/20) is near the largest float.
MAX_DB = 6000.0


@entry(arrays=3, ints=1)
def _math_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    _math(ints[0], arrays[0], arrays[1], arrays[2])


class Math(Node):
    TYPE = "math"
    FAMILY = "mixing"
    DOC = "Sample-by-sample arithmetic on 'a' and 'b' (multiply two signals for ring modulation)."
    INPUTS = ("a",)
    OUTPUTS = ("out",)
    PARAMS = {
        "op": Param(
            "add",
            kind="choice",
            choices=OPERATIONS,
            doc="add a+b, subtract a-b, multiply a*b, min, max, abs |a|, constant b, divide a/b "
            "(0 where b is 0 or a/b overflows), db_to_gain 10^(a/20), gain_to_db 20 log10 |a| "
            "(-200 at or below 1e-10).",
        ),
        "b": Param(
            0.0,
            -100000.0,
            100000.0,
            "",
            "Second operand: the set value plus any linked signal.",
            modulatable=True,
        ),
    }

    def prepare(self, sample_rate: int, max_block: int) -> None:
        super().prepare(sample_rate, max_block)
        self.operation = OPERATIONS.index(self.params["op"])

    def param_changed(self, name: str, value: Any) -> None:
        super().param_changed(name, value)
        if name == "op":
            self.operation = OPERATIONS.index(value)

    ENTRY = _math_entry

    def kernel_arguments(
        self, inputs: Signals, params: Mapping[str, Any], outputs: Signals
    ) -> tuple[Any, ...]:
        return self.operation, inputs["a"], params["b"], outputs["out"]

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        _math(*self.kernel_arguments(inputs, params, outputs))


@kernel
def _math(operation: int, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    for i in range(len(out)):
        out[i] = _operate(operation, a[i], b[i])


@kernel
def _operate(operation: int, a: float, b: float) -> float:
    if operation == ADD:
        return a + b
    if operation == SUBTRACT:
        return a - b
    if operation == MULTIPLY:
        return a * b
    if operation == MINIMUM:
        return np.minimum(a, b)  # NaN in either gives NaN, as numpy's
    if operation == MAXIMUM:
        return np.maximum(a, b)
    if operation == ABSOLUTE:
        return abs(a)
    if operation == DIVIDE:
        return _divide(a, b)
    if operation == DB_TO_GAIN:
        return decibels_to_factor(min(a, MAX_DB))  # NaN stays NaN, as elsewhere
    if operation == GAIN_TO_DB:
        return _gain_to_db(a)
    return b


@kernel
def _gain_to_db(a: float) -> float:
    """20 log10 |a|, FLOOR_DB for silence (log 0 would be -inf); NaN stays NaN."""
    if abs(a) > 1e-10:
        return 20.0 * math.log10(abs(a))
    return FLOOR_DB if a == a else a


@kernel
def _divide(a: float, b: float) -> float:
    """a / b, but 0 where b is 0 or the quotient of two finite numbers overflows (Pd's /~ gives
    0 too): a patch dividing by a signal that crosses zero stays finite."""
    if b == 0.0:
        return 0.0
    quotient = a / b
    if np.isinf(quotient) and np.isfinite(a) and np.isfinite(b):
        return 0.0
    return quotient
