"""Envelopes, and the gate and trigger conventions every node of time follows.

Gates and triggers (one definition for all nodes: adsr, clock, sequencer):

* A **gate** is any signal. It is *on* at the samples where it is above ``GATE_THRESHOLD``
  (0.5) and *off* elsewhere, NaN included; so a unipolar square (0/1), a bipolar one (-1/1)
  and a clock's gate all work.
* A **trigger** (a rising edge) is the first sample of a gate being on: the sample where the
  signal goes from off to on. A gate that is on from the first sample after a reset triggers
  at that sample (before it the gate counts as off).
* Gate and trigger *outputs* are exactly 0.0 or 1.0; a trigger output is on for one sample.

Everything counts in whole samples from the sample where a gate changed (sample 0 of the new
segment), so an envelope, a clock edge or a sequencer step lands on the same sample at any
block size.

The ADSR's segments run for exact numbers of samples: a segment of ``t`` ms lasts
``N = round(t * sample_rate / 1000)`` samples, and its sample ``j`` (0 at the gate's change)
is ``start + (target - start) * shape(j / N)``, reaching the target on sample ``N`` (at once
when ``N`` is 0). ``shape(x)`` is ``x`` for linear segments and, for exponential ones,
``(1 - exp(-c x)) / (1 - exp(-c))``: the capacitor-like curve of EarLevel Engineering's ADSR,
with ``c = ln(1 + 1/0.3)`` for the attack (charging toward 1.3 x the peak) and
``c = ln(1 + 1/0.0001)`` for decay and release (within -80 dB of the target at its end).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from patcher.compiled import entry
from patcher.kernels import kernel
from patcher.spec import Node, Param

Signals = Mapping[str, np.ndarray]

#: A gate is on above this level (see the module's docstring).
GATE_THRESHOLD = 0.5
#: Curvature of the exponential attack, and of the exponential decay and release.
ATTACK_CURVATURE = math.log(1.0 + 1.0 / 0.3)
DECAY_CURVATURE = math.log(1.0 + 1.0 / 0.0001)

CURVES = ("exponential", "linear")
RETRIGGERS = ("from_level", "from_zero")
#: The envelope's stages, as the kernel numbers them.
IDLE, ATTACK, DECAY, SUSTAIN, RELEASE = range(5)
#: The kernel's state: stage, samples into the segment, its length, the gate's last sample.
STAGE, POSITION, LENGTH, WAS_ON = range(4)
#: The kernel's levels: the envelope now (0..1) and where its segment started.
LEVEL, START = range(2)
MAX_TIME_MS = 20000.0


@kernel
def gate_is_on(value: float) -> bool:
    """Whether a gate signal is on at this sample (NaN is off)."""
    return value > GATE_THRESHOLD


@kernel
def segment_samples(time_ms: float, sample_rate: float) -> int:
    """A segment's length in whole samples: round(time * rate), never negative (NaN is 0)."""
    samples = time_ms * sample_rate / 1000.0
    if not samples > 0.0:
        return 0
    return np.int64(np.rint(min(samples, 1e15)))  # a wild modulation must not overflow


@kernel
def segment_level(start: float, target: float, position: int, length: int, curvature: float) -> float:
    """Sample ``position`` of a segment from ``start`` to ``target`` over ``length`` samples."""
    x = position / length
    shape = x if curvature == 0.0 else math.expm1(-curvature * x) / math.expm1(-curvature)
    return start + (target - start) * shape


@kernel
def _unit(value: float) -> float:
    """A level held to 0..1 (NaN is 0)."""
    return min(max(value, 0.0), 1.0) if value == value else 0.0


@kernel
def _adsr_kernel(
    gate: np.ndarray,
    attack_ms: np.ndarray,
    decay_ms: np.ndarray,
    sustain: np.ndarray,
    release_ms: np.ndarray,
    level: np.ndarray,
    exponential: bool,
    from_zero: bool,
    sample_rate: float,
    state: np.ndarray,
    levels: np.ndarray,
    out: np.ndarray,
) -> None:
    """One block of the envelope (its rules are in the module's docstring).

    A trigger starts the attack from the level now (or from 0), a gate's end the release from
    the level now. Segment times are read on a segment's first sample, sustain and level on
    every sample (the decay glides to the sustain as it moves).
    """
    stage, position, length, was_on = state[STAGE], state[POSITION], state[LENGTH], state[WAS_ON]
    now, start = levels[LEVEL], levels[START]
    attack_curve = ATTACK_CURVATURE if exponential else 0.0
    decay_curve = DECAY_CURVATURE if exponential else 0.0
    for i in range(len(out)):
        on = gate_is_on(gate[i])
        if on and not was_on:
            stage, position, start = ATTACK, 0, 0.0 if from_zero else now
            length = segment_samples(attack_ms[i], sample_rate)
        elif was_on and not on:
            stage, position, start = RELEASE, 0, now
            length = segment_samples(release_ms[i], sample_rate)
        was_on = on
        held = _unit(sustain[i])
        if stage == ATTACK and position >= length:  # at the peak: the decay's sample 0
            stage, position, start = DECAY, 0, 1.0
            length = segment_samples(decay_ms[i], sample_rate)
        if stage == DECAY and position >= length:
            stage = SUSTAIN
        if stage == RELEASE and position >= length:
            stage = IDLE
        if stage == ATTACK:
            now = segment_level(start, 1.0, position, length, attack_curve)
        elif stage == DECAY:
            now = segment_level(start, held, position, length, decay_curve)
        elif stage == SUSTAIN:
            now = held
        elif stage == RELEASE:
            now = segment_level(start, 0.0, position, length, decay_curve)
        else:
            now = 0.0
        peak = level[i]
        out[i] = now * (peak if peak == peak else 0.0)
        position += 1
    state[STAGE], state[POSITION], state[LENGTH], state[WAS_ON] = stage, position, length, was_on
    levels[LEVEL], levels[START] = now, start


def _time_param(default: float, doc: str) -> Param:
    return Param(default, 0.0, MAX_TIME_MS, "ms", doc, modulatable=True)


@entry(arrays=9, ints=2, floats=1)
def _adsr_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    _adsr_kernel(
        arrays[0],
        arrays[1],
        arrays[2],
        arrays[3],
        arrays[4],
        arrays[5],
        ints[0] != 0,
        ints[1] != 0,
        floats[0],
        arrays[6].view(np.int64),
        arrays[7],
        arrays[8],
    )


class Adsr(Node):
    TYPE = "adsr"
    FAMILY = "envelopes"
    DOC = (
        "Attack-decay-sustain-release envelope, 0..level, opened by a gate (on above 0.5, see "
        "nodes/envelopes.py); exact segment times in samples."
    )
    INPUTS = ("gate",)
    OUTPUTS = ("out",)
    PARAMS = {
        "attack_ms": _time_param(
            10.0, "Time to the peak: reached on sample round(ms x rate / 1000) after the trigger."
        ),
        "decay_ms": _time_param(200.0, "Time from the peak down to the sustain level."),
        "sustain": Param(
            0.7, 0.0, 1.0, "", "Level held while the gate stays on (a signal adds to it).", modulatable=True
        ),
        "release_ms": _time_param(300.0, "Time from the level at the gate's end down to 0."),
        "level": Param(
            1.0, 0.0, 10.0, "x", "Scale of the output: its peak (link a velocity here).", modulatable=True
        ),
        "curve": Param(
            "exponential",
            kind="choice",
            choices=CURVES,
            doc="exponential: RC-like segments reaching their target exactly on time; linear: ramps.",
        ),
        "retrigger": Param(
            "from_level",
            kind="choice",
            choices=RETRIGGERS,
            doc="A new trigger starts the attack from the level now (no click), or from 0.",
        ),
    }
    ENTRY = _adsr_entry

    def prepare(self, sample_rate: int, max_block: int) -> None:
        self.state = np.zeros(4, dtype=np.int64)
        self.levels = np.zeros(2)
        self._choose(self.params)
        super().prepare(sample_rate, max_block)

    def _choose(self, params: Mapping[str, Any]) -> None:
        self.exponential = params["curve"] == "exponential"
        self.from_zero = params["retrigger"] == "from_zero"

    def reset(self) -> None:
        self.state[:] = (IDLE, 0, 0, 0)
        self.levels[:] = 0.0

    def param_changed(self, name: str, value: Any) -> None:
        super().param_changed(name, value)
        self._choose(self.params)

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        _adsr_kernel(*self.kernel_arguments(inputs, params, outputs))

    def kernel_arguments(
        self, inputs: Signals, params: Mapping[str, Any], outputs: Signals
    ) -> tuple[Any, ...]:
        return (
            inputs["gate"],
            params["attack_ms"],
            params["decay_ms"],
            params["sustain"],
            params["release_ms"],
            params["level"],
            self.exponential,
            self.from_zero,
            float(self.sample_rate),
            self.state,
            self.levels,
            outputs["out"],
        )

    @classmethod
    def shape_preview(cls, params: Mapping[str, Any], points: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """(times in ms, output) of the envelope for a gate held through attack and decay and
        as long again of sustain (at least a quarter of the release), then released: the
        node's kernel run at a rate that gives ``points`` samples, so the picture is what is
        heard."""
        values = {name: param.default for name, param in cls.PARAMS.items()} | dict(params)
        rise_ms = values["attack_ms"] + values["decay_ms"]
        held_ms = rise_ms + max(rise_ms, 0.25 * values["release_ms"], 1.0)
        # a twentieth more, to see the release end (segments are rounded to the preview's samples)
        rate = points * 1000.0 / (1.05 * (held_ms + values["release_ms"]))
        gate = (np.arange(points) < round(held_ms * rate / 1000.0)).astype(float)
        out = np.zeros(points)
        held = ("attack_ms", "decay_ms", "sustain", "release_ms", "level")
        _adsr_kernel(
            gate,
            *(np.full(points, float(values[name])) for name in held),
            values["curve"] == "exponential",
            values["retrigger"] == "from_zero",
            rate,
            np.zeros(4, dtype=np.int64),
            np.zeros(2),
            out,
        )
        return np.arange(points) * 1000.0 / rate, out
