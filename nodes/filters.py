"""Filters: the RBJ Audio-EQ-Cookbook biquad, its coefficients updated on a 32-sample grid.

The coefficients change only at control periods aligned to the absolute sample count, and each
period uses the param values at its first sample, so the output never depends on how a signal
is cut into blocks. The filter state (transposed direct form II, as ``scipy.signal.lfilter``
keeps it) carries across blocks and across coefficient changes, so a swept cutoff does not
click.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.signal import lfilter

from patcher.spec import Node, Param

Signals = Mapping[str, np.ndarray]

FILTER_TYPES = ("lowpass", "highpass", "bandpass", "notch", "peak", "lowshelf", "highshelf", "allpass")
#: Samples per control period: coefficients change only on this grid of the absolute sample count.
CONTROL_PERIOD = 32
CUTOFF_MIN_HZ, CUTOFF_MAX_HZ = 10.0, 20000.0
#: The cutoff is held below this fraction of the sample rate, where the biquad stays well behaved.
CUTOFF_MAX_FRACTION = 0.49
Q_MIN, Q_MAX = 0.1, 30.0
GAIN_MIN_DB, GAIN_MAX_DB = -30.0, 30.0


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _rbj(
    filter_type: str, cutoff_hz: float, q: float, gain_db: float, sample_rate: float
) -> tuple[float, float, float, float, float, float]:
    """Unnormalised (b0, b1, b2, a0, a1, a2) from the Audio-EQ-Cookbook, params clamped to range."""
    cutoff_hz = _clamp(cutoff_hz, CUTOFF_MIN_HZ, min(CUTOFF_MAX_HZ, CUTOFF_MAX_FRACTION * sample_rate))
    q = _clamp(q, Q_MIN, Q_MAX)
    gain_db = _clamp(gain_db, GAIN_MIN_DB, GAIN_MAX_DB)
    w0 = 2.0 * math.pi * cutoff_hz / sample_rate
    cos_w0 = math.cos(w0)
    alpha = math.sin(w0) / (2.0 * q)
    if filter_type == "lowpass":
        side = (1.0 - cos_w0) / 2.0
        return side, 2.0 * side, side, 1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha
    if filter_type == "highpass":
        side = (1.0 + cos_w0) / 2.0
        return side, -2.0 * side, side, 1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha
    if filter_type == "bandpass":  # constant 0 dB peak gain
        return alpha, 0.0, -alpha, 1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha
    if filter_type == "notch":
        return 1.0, -2.0 * cos_w0, 1.0, 1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha
    if filter_type == "allpass":
        return 1.0 - alpha, -2.0 * cos_w0, 1.0 + alpha, 1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha
    amplitude = 10.0 ** (gain_db / 40.0)
    if filter_type == "peak":
        return (
            *(1.0 + alpha * amplitude, -2.0 * cos_w0, 1.0 - alpha * amplitude),
            *(1.0 + alpha / amplitude, -2.0 * cos_w0, 1.0 - alpha / amplitude),
        )
    plus, minus = amplitude + 1.0, amplitude - 1.0
    shelf = 2.0 * math.sqrt(amplitude) * alpha
    if filter_type == "lowshelf":
        return (
            amplitude * (plus - minus * cos_w0 + shelf),
            2.0 * amplitude * (minus - plus * cos_w0),
            amplitude * (plus - minus * cos_w0 - shelf),
            plus + minus * cos_w0 + shelf,
            -2.0 * (minus + plus * cos_w0),
            plus + minus * cos_w0 - shelf,
        )
    # highshelf (an unknown type was refused by patch validation)
    return (
        amplitude * (plus + minus * cos_w0 + shelf),
        -2.0 * amplitude * (minus + plus * cos_w0),
        amplitude * (plus + minus * cos_w0 - shelf),
        plus - minus * cos_w0 + shelf,
        2.0 * (minus - plus * cos_w0),
        plus - minus * cos_w0 - shelf,
    )


def _value_at(value: Any, index: int) -> float:
    """A modulatable param's value at one sample of the block."""
    return float(value[index]) if isinstance(value, np.ndarray) else float(value)


class Filter(Node):
    TYPE = "filter"
    FAMILY = "filters"
    DOC = "RBJ biquad: lowpass, highpass, bandpass, notch, peak, shelves or allpass; sweepable."
    INPUTS = ("in",)
    OUTPUTS = ("out",)
    PARAMS = {
        "type": Param(
            "lowpass",
            kind="choice",
            choices=FILTER_TYPES,
            doc="Response: bandpass peaks at 0 dB; gain_db applies to peak and the shelves.",
        ),
        "cutoff_hz": Param(
            1000.0,
            CUTOFF_MIN_HZ,
            CUTOFF_MAX_HZ,
            "Hz",
            "Cutoff, centre or shelf frequency; held below 0.49 x the sample rate.",
            scale="log",
            modulatable=True,
        ),
        "q": Param(
            0.707,
            Q_MIN,
            Q_MAX,
            "",
            "Resonance; 0.707 is flat (Butterworth) for lowpass and highpass.",
            scale="log",
            modulatable=True,
        ),
        "gain_db": Param(
            0.0,
            GAIN_MIN_DB,
            GAIN_MAX_DB,
            "dB",
            "Boost or cut of the peak and shelf types.",
            modulatable=True,
        ),
    }

    @staticmethod
    def coefficients(
        filter_type: str, cutoff_hz: float, q: float, gain_db: float, sample_rate: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """(b, a) with a[0] == 1, exactly as the node runs them (params clamped to range)."""
        b0, b1, b2, a0, a1, a2 = _rbj(filter_type, cutoff_hz, q, gain_db, sample_rate)
        return np.array([b0, b1, b2]) / a0, np.array([1.0, a1 / a0, a2 / a0])

    def reset(self) -> None:
        self.position = 0  # absolute sample count: places the control grid
        self.state = np.zeros(2)  # lfilter's zi
        self.b = np.array([1.0, 0.0, 0.0])
        self.a = np.array([1.0, 0.0, 0.0])
        self.key: tuple[Any, ...] | None = None

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        signal, out = inputs["in"], outputs["out"]
        frames = len(signal)
        first_grid = (-self.position) % CONTROL_PERIOD
        self.position += frames
        cutoff, q, gain = params["cutoff_hz"], params["q"], params["gain_db"]
        modulated = any(isinstance(value, np.ndarray) for value in (cutoff, q, gain))
        # Set values are the same at every grid point of the block: check only the first.
        grid = range(first_grid, frames, CONTROL_PERIOD) if modulated else range(first_grid, frames)[:1]
        segment_start = 0
        for index in grid:
            key = (params["type"], _value_at(cutoff, index), _value_at(q, index), _value_at(gain, index))
            if key != self.key:
                self._filter(signal, out, segment_start, index)
                self._set_coefficients(key)
                segment_start = index
        self._filter(signal, out, segment_start, frames)
        if not (math.isfinite(self.state[0]) and math.isfinite(self.state[1])):
            self.state[:] = 0.0  # a NaN that got in must not silence the filter for good

    def _filter(self, signal: np.ndarray, out: np.ndarray, start: int, stop: int) -> None:
        if stop > start:
            out[start:stop], self.state = lfilter(self.b, self.a, signal[start:stop], zi=self.state)

    def _set_coefficients(self, key: tuple[Any, ...]) -> None:
        self.key = key
        b0, b1, b2, a0, a1, a2 = _rbj(*key, self.sample_rate)
        if all(math.isfinite(number) for number in (b0, b1, b2, a0, a1, a2)):
            self.b = np.array([b0 / a0, b1 / a0, b2 / a0])
            self.a = np.array([1.0, a1 / a0, a2 / a0])
