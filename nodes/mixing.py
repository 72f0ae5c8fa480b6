"""Glue: gain, a four-input mixer, an equal-power panner and sample-by-sample math."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from patcher.spec import Node, Param

Signals = Mapping[str, np.ndarray]


class Gain(Node):
    TYPE = "gain"
    FAMILY = "mixing"
    DOC = "Multiplies its input by a level in dB; modulate gain_db for tremolo."
    INPUTS = ("in",)
    OUTPUTS = ("out",)
    PARAMS = {"gain_db": Param(0.0, -90.0, 24.0, "dB", "Level change (a signal adds dB).", modulatable=True)}

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        out = outputs["out"]
        np.power(10.0, np.divide(params["gain_db"], 20.0), out=out)
        out *= inputs["in"]


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

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        out = outputs["out"]
        out.fill(0.0)
        for index in range(1, 5):
            if f"in{index}" in self.linked:
                out += inputs[f"in{index}"] * params[f"level{index}"]


class Pan(Node):
    TYPE = "pan"
    FAMILY = "mixing"
    DOC = "Equal-power pan of a mono input to left and right (-3 dB each at the centre)."
    INPUTS = ("in",)
    OUTPUTS = ("left", "right")
    PARAMS = {
        "pan": Param(0.0, -1.0, 1.0, "", "-1 is hard left, 0 the centre, 1 hard right.", modulatable=True)
    }

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        angle = (np.clip(params["pan"], -1.0, 1.0) + 1.0) * (np.pi / 4.0)
        np.multiply(inputs["in"], np.cos(angle), out=outputs["left"])
        np.multiply(inputs["in"], np.sin(angle), out=outputs["right"])


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
            choices=("add", "subtract", "multiply", "min", "max", "abs", "constant"),
            doc="add a+b, subtract a-b, multiply a*b, min, max, abs |a|, constant b.",
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

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        a, b, out = inputs["a"], params["b"], outputs["out"]
        operation = params["op"]
        if operation == "add":
            np.add(a, b, out=out)
        elif operation == "subtract":
            np.subtract(a, b, out=out)
        elif operation == "multiply":
            np.multiply(a, b, out=out)
        elif operation == "min":
            np.minimum(a, b, out=out)
        elif operation == "max":
            np.maximum(a, b, out=out)
        elif operation == "abs":
            np.abs(a, out=out)
        else:
            out[:] = b
