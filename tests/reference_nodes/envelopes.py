"""The ADSR as plain Python, sample by sample, for tests/test_nodes_envelopes.py: each sample's
level from the time since its segment began, by the formulas in nodes/envelopes.py."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from nodes.envelopes import ATTACK_CURVATURE, DECAY_CURVATURE, Adsr
from patcher.spec import Node

Signals = Mapping[str, np.ndarray]


def shape(x: float, curvature: float) -> float:
    """A segment's progress at x (0..1) of its length: linear, or the exponential curve."""
    return x if curvature == 0.0 else (1.0 - math.exp(-curvature * x)) / (1.0 - math.exp(-curvature))


def samples(time_ms: float, rate: float) -> int:
    return max(0, round(time_ms * rate / 1000.0))


class ReferenceAdsr(Adsr):
    """The envelope as a list of segments (stage, start level, length) in Python."""

    TYPE = ""  # not registered: the tests and reference renders use it by name
    ENTRY = None  # its own process runs, not the node's compiled kernel

    def prepare(self, sample_rate: int, max_block: int) -> None:
        Node.prepare(self, sample_rate, max_block)

    def reset(self) -> None:
        self.stage, self.start, self.since, self.length = "idle", 0.0, 0, 0
        self.level_now, self.was_on = 0.0, False

    def _begin(self, stage: str, start: float, time_ms: float) -> None:
        self.stage, self.start, self.since = stage, start, 0
        self.length = samples(time_ms, self.sample_rate)

    def _level(self, sustain: float, rise: float, fall: float) -> float:
        progress = self.since / self.length if self.length else 1.0
        if self.stage == "attack":
            return self.start + (1.0 - self.start) * shape(progress, rise)
        if self.stage == "decay":
            return self.start + (sustain - self.start) * shape(progress, fall)
        if self.stage == "release":
            return self.start * (1.0 - shape(progress, fall))
        return sustain if self.stage == "sustain" else 0.0

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        exponential = self.params["curve"] == "exponential"
        rise = ATTACK_CURVATURE if exponential else 0.0
        fall = DECAY_CURVATURE if exponential else 0.0
        for i, gate in enumerate(inputs["gate"]):
            on = gate > 0.5
            if on and not self.was_on:
                start = 0.0 if self.params["retrigger"] == "from_zero" else self.level_now
                self._begin("attack", start, params["attack_ms"][i])
            elif self.was_on and not on:
                self._begin("release", self.level_now, params["release_ms"][i])
            self.was_on = on
            sustain = min(max(params["sustain"][i], 0.0), 1.0)
            if self.stage == "attack" and self.since >= self.length:
                self._begin("decay", 1.0, params["decay_ms"][i])
            if self.stage in ("decay", "release") and self.since >= self.length:
                self.stage = "sustain" if self.stage == "decay" else "idle"
            self.level_now = self._level(sustain, rise, fall)
            outputs["out"][i] = self.level_now * params["level"][i]
            self.since += 1


REFERENCES: dict[str, type[Node]] = {"adsr": ReferenceAdsr}
