"""The follower and the compressor as plain Python and numpy, for tests/test_nodes_dynamics.py.

The compressor's static curve is written here as the paper writes it (Giannoulis, Massberg
and Reiss 2012, eq. 4: three regions), vectorised with numpy, independently of the kernel's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from nodes.dynamics import Compressor, Follower
from patcher.spec import Node

Signals = Mapping[str, np.ndarray]


def coefficient(time_ms: float, rate: float) -> float:
    return math.exp(-1000.0 / (time_ms * rate)) if time_ms > 0 else 0.0


def giannoulis_curve(level_db: Any, threshold_db: float, ratio: float, knee_db: float) -> np.ndarray:
    """Output level (dB) of the static gain computer; a ratio of 100 or more is infinite."""
    x = np.asarray(level_db, dtype=float)
    inverse = 0.0 if ratio >= 100.0 else 1.0 / ratio
    above = threshold_db + (x - threshold_db) * inverse
    if knee_db == 0.0:
        return np.where(x <= threshold_db, x, above)
    knee = x + (inverse - 1.0) * (x - threshold_db + knee_db / 2) ** 2 / (2 * knee_db)
    below = 2 * (x - threshold_db) < -knee_db
    inside = 2 * np.abs(x - threshold_db) <= knee_db
    return np.where(below, x, np.where(inside, knee, above))


class ReferenceFollower(Follower):
    TYPE = ""  # not registered: the tests and reference renders use it by name
    ENTRY = None  # its own process runs, not the node's compiled kernel

    def prepare(self, sample_rate: int, max_block: int) -> None:
        Node.prepare(self, sample_rate, max_block)

    def reset(self) -> None:
        self.envelope = 0.0

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        attack = coefficient(params["attack_ms"], self.sample_rate)
        release = coefficient(params["release_ms"], self.sample_rate)
        rms = params["detector"] == "rms"
        for i, x in enumerate(inputs["in"]):
            detected = x * x if rms else abs(x)
            memory = attack if detected > self.envelope else release
            self.envelope = memory * self.envelope + (1 - memory) * detected
            outputs["out"][i] = math.sqrt(self.envelope) if rms else self.envelope


class ReferenceCompressor(Compressor):
    TYPE = ""  # not registered: the tests and reference renders use it by name
    ENTRY = None  # its own process runs, not the node's compiled kernel

    def prepare(self, sample_rate: int, max_block: int) -> None:
        Node.prepare(self, sample_rate, max_block)

    def reset(self) -> None:
        self.reduction = 0.0

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        detect = inputs["sidechain"] if "sidechain" in self.linked else inputs["in"]
        level_db = 20 * np.log10(np.maximum(np.abs(detect), 1e-10))
        static = np.array(
            [
                giannoulis_curve(level, threshold, params["ratio"], params["knee_db"])
                for level, threshold in zip(level_db, params["threshold_db"], strict=True)
            ]
        )
        attack = coefficient(params["attack_ms"], self.sample_rate)
        release = coefficient(params["release_ms"], self.sample_rate)
        for i, target in enumerate(level_db - static):
            memory = attack if target > self.reduction else release
            self.reduction = memory * self.reduction + (1 - memory) * target
            outputs["gain_db"][i] = -self.reduction
            gain = 10 ** ((params["makeup_db"][i] - self.reduction) / 20)
            outputs["out"][i] = inputs["in"][i] * gain


REFERENCES: dict[str, type[Node]] = {"follower": ReferenceFollower, "compressor": ReferenceCompressor}
