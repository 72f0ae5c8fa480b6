"""Dynamics: an envelope follower and a feed-forward compressor/limiter.

Both smooth with one-pole filters whose coefficient is ``exp(-1 / (time * rate))``, taking
the attack coefficient while the detected value rises above the smoothed one and the release
coefficient otherwise (the "branching" peak detector). From rest, a step of height 1 is at
``1 - 1/e`` of it after ``time * rate`` samples (the step's first sample counted), and a fall
to 0 is at ``1/e`` of where it started after the release time.

The compressor is the design Giannoulis, Massberg and Reiss recommend ("Digital Dynamic Range
Compressor Design — A Tutorial and Analysis", JAES 2012): level in dB, the static gain
computer with a quadratic soft knee (their eq. 4), then the gain reduction smoothed in the
log domain by the branching detector above (their eq. 16), then the makeup gain.
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

DETECTORS = ("peak", "rms")
#: Levels below this are this (-200 dB): the log of silence.
FLOOR = 1e-10
#: A ratio this high or higher limits (an infinite ratio: nothing passes the threshold).
LIMIT_RATIO = 100.0


@kernel
def smoothing_coefficient(time_ms: float, sample_rate: float) -> float:
    """A one-pole's memory for a time constant of ``time_ms``: 0 (none) at 0 ms or NaN."""
    samples = time_ms * sample_rate / 1000.0
    if not samples > 0.0:
        return 0.0
    return math.exp(-1.0 / samples)


@kernel
def _follower_kernel(
    signal: np.ndarray, attack: float, release: float, rms: bool, state: np.ndarray, out: np.ndarray
) -> None:
    """One block: |x| (or x squared) through the branching one-pole; RMS takes its root."""
    envelope = state[0]
    for i in range(len(out)):
        detected = abs(signal[i]) if signal[i] == signal[i] else 0.0
        if rms:
            detected *= detected
        memory = attack if detected > envelope else release
        envelope = memory * envelope + (1.0 - memory) * detected
        out[i] = math.sqrt(envelope) if rms else envelope
    state[0] = envelope


def _time_param(default: float, high: float, doc: str) -> Param:
    return Param(default, 0.0, high, "ms", doc)


class _Smoothing(Node):
    """A node whose memory is one smoothed level (its kernel's ``state``)."""

    def prepare(self, sample_rate: int, max_block: int) -> None:
        self.state = np.zeros(1)
        super().prepare(sample_rate, max_block)

    def reset(self) -> None:
        self.state[0] = 0.0


@entry(arrays=3, ints=1, floats=2)
def _follower_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    _follower_kernel(arrays[0], floats[0], floats[1], ints[0] != 0, arrays[1], arrays[2])


class Follower(_Smoothing):
    TYPE = "follower"
    FAMILY = "dynamics"
    DOC = "Envelope follower: the input's amplitude (peak or RMS), smoothed by attack and release."
    INPUTS = ("in",)
    OUTPUTS = ("out",)
    PARAMS = {
        "attack_ms": _time_param(10.0, 5000.0, "Rise time: a step reaches 1 - 1/e of its height."),
        "release_ms": _time_param(100.0, 10000.0, "Fall time: a drop to 0 falls to 1/e of its start."),
        "detector": Param(
            "peak",
            kind="choice",
            choices=DETECTORS,
            doc="peak smooths |x| (a sine of amplitude A gives about A); rms smooths x squared and "
            "takes the root (A / sqrt 2 with equal attack and release).",
        ),
    }
    ENTRY = _follower_entry

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        _follower_kernel(*self.kernel_arguments(inputs, params, outputs))

    def kernel_arguments(
        self, inputs: Signals, params: Mapping[str, Any], outputs: Signals
    ) -> tuple[Any, ...]:
        rate = float(self.sample_rate)
        return (
            inputs["in"],
            smoothing_coefficient(float(params["attack_ms"]), rate),
            smoothing_coefficient(float(params["release_ms"]), rate),
            params["detector"] == "rms",
            self.state,
            outputs["out"],
        )


# -- the compressor -----------------------------------------------------------------------------
@kernel
def gain_computer(level_db: float, threshold_db: float, slope: float, knee_db: float) -> float:
    """The static curve, output level in dB for an input level (Giannoulis et al. 2012, eq. 4);
    ``slope`` is 1/ratio - 1 (-1 limits). The knee is a parabola 2 x knee_db wide."""
    over = level_db - threshold_db
    if 2.0 * over < -knee_db:
        return level_db
    if knee_db > 0.0 and 2.0 * abs(over) <= knee_db:
        return level_db + slope * (over + knee_db / 2.0) ** 2 / (2.0 * knee_db)
    return threshold_db + over * (1.0 + slope)


@kernel
def _compressor_kernel(
    signal: np.ndarray,
    detect: np.ndarray,
    threshold_db: np.ndarray,
    makeup_db: np.ndarray,
    slope: float,
    knee_db: float,
    attack: float,
    release: float,
    state: np.ndarray,
    out: np.ndarray,
    gain_db: np.ndarray,
) -> None:
    """One block: the level of ``detect`` in dB, how far the static curve turns it down, that
    reduction smoothed (branching: attack while it grows), applied to ``signal`` with makeup."""
    reduction = state[0]
    for i in range(len(out)):
        magnitude = abs(detect[i])
        level_db = 20.0 * math.log10(magnitude if magnitude > FLOOR else FLOOR)  # NaN: the floor
        target = level_db - gain_computer(level_db, threshold_db[i], slope, knee_db)
        memory = attack if target > reduction else release
        reduction = memory * reduction + (1.0 - memory) * target
        gain_db[i] = -reduction
        out[i] = signal[i] * decibels_to_factor(makeup_db[i] - reduction)
    state[0] = reduction


@entry(arrays=7, floats=4)
def _compressor_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    _compressor_kernel(
        arrays[0],
        arrays[1],
        arrays[2],
        arrays[3],
        floats[0],
        floats[1],
        floats[2],
        floats[3],
        arrays[4],
        arrays[5],
        arrays[6],
    )


class Compressor(_Smoothing):
    TYPE = "compressor"
    FAMILY = "dynamics"
    DOC = (
        "Compressor/limiter (Giannoulis et al. 2012): threshold, ratio, soft knee, attack, "
        "release, makeup; detects from 'sidechain' when it is linked."
    )
    INPUTS = ("in", "sidechain")
    OUTPUTS = ("out", "gain_db")
    PARAMS = {
        "threshold_db": Param(
            -20.0,
            -80.0,
            0.0,
            "dB",
            "Level above which the gain falls (a signal adds dB).",
            modulatable=True,
        ),
        "ratio": Param(
            4.0,
            1.0,
            LIMIT_RATIO,
            ":1",
            "dB in per dB out above the threshold; 100 limits (an infinite ratio).",
            scale="log",
        ),
        "knee_db": Param(6.0, 0.0, 24.0, "dB", "Width of the soft knee around the threshold; 0 is hard."),
        "attack_ms": _time_param(5.0, 1000.0, "Time constant of the gain going down; 0 is instant."),
        "release_ms": _time_param(100.0, 5000.0, "Time constant of the gain coming back up."),
        "makeup_db": Param(0.0, -24.0, 48.0, "dB", "Gain added after compression.", modulatable=True),
    }
    ENTRY = _compressor_entry

    @classmethod
    def static_curve(cls, params: Mapping[str, Any], level_db: np.ndarray) -> np.ndarray:
        """Output level (dB) for steady input levels (dB), makeup included: the gain computer
        the kernel runs, at these params."""
        values = {name: param.default for name, param in cls.PARAMS.items()} | dict(params)
        slope = _slope(values["ratio"])
        curve = [
            gain_computer(float(level), float(values["threshold_db"]), slope, float(values["knee_db"]))
            for level in np.asarray(level_db, dtype=float)
        ]
        return np.asarray(curve) + values["makeup_db"]

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        _compressor_kernel(*self.kernel_arguments(inputs, params, outputs))

    def kernel_arguments(
        self, inputs: Signals, params: Mapping[str, Any], outputs: Signals
    ) -> tuple[Any, ...]:
        rate = float(self.sample_rate)
        return (
            inputs["in"],
            inputs["sidechain"] if "sidechain" in self.linked else inputs["in"],
            params["threshold_db"],
            params["makeup_db"],
            _slope(params["ratio"]),
            float(params["knee_db"]),
            smoothing_coefficient(float(params["attack_ms"]), rate),
            smoothing_coefficient(float(params["release_ms"]), rate),
            self.state,
            outputs["out"],
            outputs["gain_db"],
        )


def _slope(ratio: float) -> float:
    """1/ratio - 1: the static curve's slope above the threshold, less one (-1 limits)."""
    return -1.0 if ratio >= LIMIT_RATIO else 1.0 / max(float(ratio), 1.0) - 1.0
