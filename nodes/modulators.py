"""Modulators: control signals meant for other nodes' modulatable params.

An LFO's output is in the target's own unit (``offset + depth * wave``), so it links straight
into a param such as a filter's cutoff in Hz or a delay's time in ms. LFOs are not
band-limited: their rates sit far below hearing, and a hard square edge is what a gate wants.
The phase is the oscillator's exact integer accumulator, so edges and sample-and-hold steps
land on the same samples whatever the block size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nodes.sources import PHASE_BITS, PHASE_MASK, PHASE_SCALE, PhaseAccumulator, naive_wave
from patcher.spec import Node, Param

Signals = Mapping[str, np.ndarray]

LFO_SHAPES = ("sine", "triangle", "saw", "square", "sample_and_hold")
#: How many held values the sample-and-hold preview shows (one cycle would be one flat line).
PREVIEW_STEPS = 8


class Lfo(Node):
    TYPE = "lfo"
    FAMILY = "modulators"
    DOC = "Low-frequency oscillator for modulation: out = offset + depth * wave, in the target's unit."
    OUTPUTS = ("out",)
    PARAMS = {
        "shape": Param(
            "sine",
            kind="choice",
            choices=LFO_SHAPES,
            doc="Wave shape; sample_and_hold holds a new seeded random value each cycle.",
        ),
        "rate_hz": Param(
            1.0,
            0.001,
            100.0,
            "Hz",
            "Cycles per second; a linked signal adds Hz (below zero the wave runs backwards).",
            scale="log",
            modulatable=True,
        ),
        "depth": Param(
            1.0,
            -20000.0,
            20000.0,
            "",
            "Scale of the wave, in the target's unit (Hz, ms, dB, ...); negative inverts it.",
            modulatable=True,
        ),
        "offset": Param(
            0.0,
            -20000.0,
            20000.0,
            "",
            "Added to the scaled wave: the value it swings around.",
            modulatable=True,
        ),
        "phase_deg": Param(0.0, 0.0, 360.0, "deg", "Phase at the start of a render and after a reset."),
        "polarity": Param(
            "bipolar",
            kind="choice",
            choices=("bipolar", "unipolar"),
            doc="bipolar: the wave spans -1..1; unipolar: 0..1 (so offset is the minimum).",
        ),
        "seed": Param(1, 0, 2**31 - 1, kind="int", doc="Random sequence of sample_and_hold."),
    }

    def prepare(self, sample_rate: int, max_block: int) -> None:
        self.accumulator = PhaseAccumulator()
        self.accumulator.prepare(max_block)
        super().prepare(sample_rate, max_block)

    def reset(self) -> None:
        self.accumulator.reset(self.params["phase_deg"] / 360.0)
        self._reseed(self.params["seed"])

    def _reseed(self, seed: int) -> None:
        self.generator = np.random.default_rng(int(seed))
        self.held = 2.0 * self.generator.random() - 1.0

    def param_changed(self, name: str, value: Any) -> None:
        super().param_changed(name, value)
        if name == "seed":
            self._reseed(value)

    @classmethod
    def waveform_preview(cls, params: Mapping[str, Any], points: int = 256) -> np.ndarray:
        """One cycle of the output from ``phase_deg`` (sample_and_hold: its first held values)."""
        values = {name: param.default for name, param in cls.PARAMS.items()} | dict(params)
        if values["shape"] == "sample_and_hold":
            held = 2.0 * np.random.default_rng(int(values["seed"])).random(PREVIEW_STEPS) - 1.0
            wave = held[np.arange(points) * PREVIEW_STEPS // points]
        else:
            phase = np.arange(points) / points + values["phase_deg"] / 360.0
            wave = naive_wave(values["shape"], phase)
        if values["polarity"] == "unipolar":
            wave = (wave + 1.0) / 2.0
        return values["offset"] + values["depth"] * wave

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        out = outputs["out"]
        frames = len(out)
        if frames == 0:
            return
        cycles = self.accumulator.cycles_per_sample(params["rate_hz"], self.sample_rate, frames)
        _steps, phases = self.accumulator.advance(cycles)
        if params["shape"] == "sample_and_hold":
            self._sample_and_hold(phases, out)
        else:
            np.multiply(phases[1:] & PHASE_MASK, PHASE_SCALE, out=out)
            out[:] = naive_wave(params["shape"], out)
        if params["polarity"] == "unipolar":
            out += 1.0
            out *= 0.5
        np.multiply(out, params["depth"], out=out)
        np.add(out, params["offset"], out=out)

    def _sample_and_hold(self, phases: np.ndarray, out: np.ndarray) -> None:
        """A new value each time the phase passes a whole cycle, either way round."""
        passed = np.abs(np.diff(phases >> PHASE_BITS))
        total = int(passed.sum())
        if total == 0:
            out.fill(self.held)
            return
        # Generator.random draws one double per value, so chunking never changes the sequence.
        values = np.empty(total + 1)
        values[0] = self.held
        values[1:] = 2.0 * self.generator.random(total) - 1.0
        np.take(values, np.cumsum(passed), out=out)
        self.held = float(values[-1])
