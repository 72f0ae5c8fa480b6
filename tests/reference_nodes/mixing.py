"""The mixing nodes' DSP before their kernels: one or a few numpy calls per block
(nodes/mixing.py as of 3cf4b93; math's divide and dB operations, newer, in numpy too)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nodes.mixing import Gain, Math, Mix, Pan

Signals = Mapping[str, np.ndarray]


class ReferenceGain(Gain):
    """Gain as it was before its kernel (numpy), for tests/test_nodes_mixing.py."""

    TYPE = ""  # not registered: the tests and reference renders use it by name
    ENTRY = None  # its own process runs, not the node's compiled kernel

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        out = outputs["out"]
        np.power(10.0, np.divide(params["gain_db"], 20.0), out=out)
        out *= inputs["in"]


class ReferenceMix(Mix):
    """Mix as it was before its kernel (numpy)."""

    TYPE = ""  # not registered: the tests and reference renders use it by name
    ENTRY = None  # its own process runs, not the node's compiled kernel

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        out = outputs["out"]
        out.fill(0.0)
        for index in range(1, 5):
            if f"in{index}" in self.linked:
                out += inputs[f"in{index}"] * params[f"level{index}"]


class ReferencePan(Pan):
    """Pan as it was before its kernel (numpy)."""

    TYPE = ""  # not registered: the tests and reference renders use it by name
    ENTRY = None  # its own process runs, not the node's compiled kernel

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        angle = (np.clip(params["pan"], -1.0, 1.0) + 1.0) * (np.pi / 4.0)
        np.multiply(inputs["in"], np.cos(angle), out=outputs["left"])
        np.multiply(inputs["in"], np.sin(angle), out=outputs["right"])


class ReferenceMath(Math):
    """Math as it was before its kernel (numpy), choosing the operation by name every block."""

    TYPE = ""  # not registered: the tests and reference renders use it by name
    ENTRY = None  # its own process runs, not the node's compiled kernel

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
        elif operation == "divide":  # 0 where b is 0 or the quotient overflows
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                quotient = np.divide(a, b)
            out[:] = np.where(
                (b == 0) | (np.isinf(quotient) & np.isfinite(a) & np.isfinite(b)), 0.0, quotient
            )
        elif operation == "db_to_gain":
            np.power(10.0, np.minimum(a, 6000.0) / 20.0, out=out)
        elif operation == "gain_to_db":
            with np.errstate(divide="ignore"):
                out[:] = np.where(np.abs(a) > 1e-10, 20 * np.log10(np.abs(a)), -200.0)
        else:
            out[:] = b


REFERENCES = {"gain": ReferenceGain, "mix": ReferenceMix, "pan": ReferencePan, "math": ReferenceMath}
