"""Modulators: control signals meant for other nodes' modulatable params.

An LFO's output is in the target's own unit (``offset + depth * wave``), so it links straight
into a param such as a filter's cutoff in Hz or a delay's time in ms. LFOs are not
band-limited: their rates sit far below hearing, and a hard square edge is what a gate wants.
The phase is the oscillator's exact integer phase, stepped sample by sample in a compiled
kernel, so edges and sample-and-hold steps land on the same samples whatever the block size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nodes.sources import (
    PHASE_HALF,
    PHASE_MASK,
    PHASE_ONE,
    PHASE_QUARTER,
    PHASE_SCALE,
    RADIANS_PER_PHASE,
    as_signal,
    cycles_passed,
    naive_wave,
    phase_step,
)
from patcher.compiled import entry
from patcher.kernels import kernel
from patcher.spec import Node, Param

Signals = Mapping[str, np.ndarray]

LFO_SHAPES = ("sine", "triangle", "saw", "square", "sample_and_hold")
#: The shapes' numbers in the kernel (their places in LFO_SHAPES).
SINE, TRIANGLE, SAW, SQUARE, SAMPLE_AND_HOLD = range(len(LFO_SHAPES))
#: How many held values the sample-and-hold preview shows (one cycle would be one flat line).
PREVIEW_STEPS = 8


@kernel
def _lfo_kernel(
    shape: int,
    unipolar: bool,
    rate_hz: np.ndarray,
    depth: np.ndarray,
    offset: np.ndarray,
    steps_per_hz: float,
    state: np.ndarray,
    draws: np.ndarray,
    out: np.ndarray,
) -> None:
    """One block of ``offset + depth * wave``.

    ``state`` holds the phase, the last sample's step and how many of ``draws`` (uniform
    random numbers, 0 to 1, in the seeded order) are used: the last used one is held.
    Triangle, saw and square are exact in the integer phase, unipolar or not; the sine and
    the held values are made unipolar as (wave + 1) / 2.
    """
    phase, last_step, used = state[0], state[1], state[2]
    for i in range(len(out)):
        step = phase_step(rate_hz[i], steps_per_hz)
        if shape == SINE:
            wave = np.sin(phase * RADIANS_PER_PHASE)
            if unipolar:
                wave = (wave + 1.0) * 0.5
        elif shape == TRIANGLE:  # 1 - 4 |frac(phase + 1/4) - 1/2|
            distance = np.abs(((phase + PHASE_QUARTER) & PHASE_MASK) - PHASE_HALF)
            if unipolar:
                wave = (PHASE_HALF - distance) * (2.0 * PHASE_SCALE)
            else:
                wave = (PHASE_QUARTER - distance) * (4.0 * PHASE_SCALE)
        elif shape == SAW:  # 2 frac(phase + 1/2) - 1
            shifted = (phase + PHASE_HALF) & PHASE_MASK
            wave = shifted * PHASE_SCALE if unipolar else (shifted - PHASE_HALF) * (2.0 * PHASE_SCALE)
        elif shape == SQUARE:  # high for the first half of each cycle
            wave = 1.0 if (phase & PHASE_MASK) < PHASE_HALF else 0.0 if unipolar else -1.0
        else:  # sample and hold: a new value each time a whole cycle passes, either way round
            used += np.abs(cycles_passed(phase - last_step, phase))
            wave = 2.0 * draws[used - 1] - 1.0
            if unipolar:
                wave = (wave + 1.0) * 0.5
        out[i] = wave * depth[i] + offset[i]
        last_step = step
        phase = (phase + step) & PHASE_MASK
    state[0], state[1], state[2] = phase, last_step, used


@entry(arrays=6, ints=2, floats=1)
def _lfo_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    phase_state = arrays[3].view(np.int64)
    _lfo_kernel(
        ints[0], ints[1] != 0, arrays[0], arrays[1], arrays[2], floats[0], phase_state, arrays[4], arrays[5]
    )


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
            scale="symlog",
            modulatable=True,
        ),
        "offset": Param(
            0.0,
            -20000.0,
            20000.0,
            "",
            "Added to the scaled wave: the value it swings around.",
            scale="symlog",
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
        #: phase, last step, draws used (the held value is the last used one)
        self.phase_state = np.zeros(3, dtype=np.int64)
        # A block passes at most one cycle a sample (steps are under half a cycle): with room
        # for a block's draws ahead, the kernel never runs out. Drawing ahead does not change
        # the sequence: Generator.random draws one double per value.
        self.draws = np.zeros(2 * max_block + 1)
        self.constants = np.zeros((3, max_block))  # the params, when passed as numbers
        self.steps_per_hz = PHASE_ONE / sample_rate
        self.shape = LFO_SHAPES.index(self.params["shape"])
        self.unipolar = self.params["polarity"] == "unipolar"
        super().prepare(sample_rate, max_block)

    def reset(self) -> None:
        start = round(self.params["phase_deg"] / 360.0 % 1.0 * PHASE_ONE) & PHASE_MASK
        self.phase_state[:2] = (start, 0)
        self._reseed(self.params["seed"])

    def _reseed(self, seed: int) -> None:
        """Start the held values' sequence again from ``seed``: its first draw is held."""
        self.generator = np.random.default_rng(int(seed))
        self.generator.random(out=self.draws)
        self.phase_state[2] = 1

    def _draw_ahead(self) -> None:
        """Keep the held draw, and fill the rest of ``draws`` with the next ones."""
        used = int(self.phase_state[2])
        kept = len(self.draws) - used + 1
        self.draws[:kept] = self.draws[used - 1 :]
        self.generator.random(out=self.draws[kept:])
        self.phase_state[2] = 1

    def param_changed(self, name: str, value: Any) -> None:
        super().param_changed(name, value)
        if name == "seed":
            self._reseed(value)
        elif name == "shape":
            self.shape = LFO_SHAPES.index(value)
        elif name == "polarity":
            self.unipolar = value == "unipolar"

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

    ENTRY = _lfo_entry

    def kernel_arguments(
        self, inputs: Signals, params: Mapping[str, Any], outputs: Signals
    ) -> tuple[Any, ...] | None:
        if self.shape == SAMPLE_AND_HOLD:  # its draws are refilled from Python
            return None
        return self._arguments(params, outputs["out"])

    def _arguments(self, params: Mapping[str, Any], out: np.ndarray) -> tuple[Any, ...]:
        frames, constants = len(out), self.constants
        return (
            self.shape,
            self.unipolar,
            as_signal(params["rate_hz"], constants[0], frames),
            as_signal(params["depth"], constants[1], frames),
            as_signal(params["offset"], constants[2], frames),
            self.steps_per_hz,
            self.phase_state,
            self.draws,
            out,
        )

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        out = outputs["out"]
        if self.shape == SAMPLE_AND_HOLD and len(self.draws) - self.phase_state[2] < len(out):
            self._draw_ahead()
        _lfo_kernel(*self._arguments(params, out))
