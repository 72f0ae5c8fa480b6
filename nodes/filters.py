"""Filters: the RBJ Audio-EQ-Cookbook biquad, its coefficients updated on a 32-sample grid.

The coefficients change only at control periods aligned to the absolute sample count, and each
period uses the param values at its first sample, so the output never depends on how a signal
is cut into blocks. Between changes the biquad runs as ``scipy.signal.lfilter`` (transposed
direct form II, its ``zi`` carried across blocks); at a change the state carries over as the
integrators of the equivalent state-variable filter, so a swept or audio-rate modulated
cutoff neither clicks nor blows up.
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


_ONE = np.array([1.0])


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
        self.b = np.array([1.0, 0.0, 0.0])
        self.a = np.array([1.0, 0.0, 0.0])
        self.key: tuple[Any, ...] | None = None
        self.output_state = np.zeros(2)  # lfilter's zi for the biquad (TDF-II)
        self.pole_state = np.zeros(2)  # lfilter's zi for 1 / a(z), which tracks the history below
        self.history = [0.0, 0.0]  # w[n-1], w[n-2] of w = x / a(z): the state that survives changes
        self.svf_scale = (0.0, 0.0)

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
        if not (math.isfinite(self.history[0]) and math.isfinite(self.history[1])):
            self.reset_state()  # a NaN that got in must not silence the filter for good

    def reset_state(self) -> None:
        self.output_state[:] = 0.0
        self.pole_state[:] = 0.0
        self.history = [0.0, 0.0]

    def _filter(self, signal: np.ndarray, out: np.ndarray, start: int, stop: int) -> None:
        if stop <= start:
            return
        chunk = signal[start:stop]
        out[start:stop], self.output_state = lfilter(self.b, self.a, chunk, zi=self.output_state)
        poles, self.pole_state = lfilter(_ONE, self.a, chunk, zi=self.pole_state)
        self.history = [poles[-1], poles[-2] if len(poles) > 1 else self.history[0]]

    def _set_coefficients(self, key: tuple[Any, ...]) -> None:
        """New coefficients, the state carried over as a state-variable filter's integrators.

        Keeping a direct form's state across a coefficient change lets fast modulation pump
        energy into a resonant filter until it blows up; the trapezoidal state-variable filter
        (Simper; Wishnick, DAFx 2014) behaves well under modulation. Any stable biquad
        denominator is such an SVF with g, k > 0, whose integrator states are
            s1 = sqrt(a(1) a(-1)) / 2 * (w[n-1] - w[n-2]),   s2 = a(1) / 2 * (w[n-1] + w[n-2]).
        So: s from the old history, the new history from s, and both zi from that history.
        """
        self.key = key
        b0, b1, b2, a0, a1, a2 = _rbj(*key, self.sample_rate)
        if not all(math.isfinite(number) for number in (b0, b1, b2, a0, a1, a2)):
            return
        b0, b1, b2, a1, a2 = b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0
        # a(1) and a(-1), both > 0 for a stable biquad (held there against rounding at tiny g)
        at_dc, at_nyquist = max(1.0 + a1 + a2, 1e-300), max(1.0 - a1 + a2, 1e-300)
        scale = (math.sqrt(at_dc * at_nyquist) / 2.0, at_dc / 2.0)
        old_scale, (w1, w2) = self.svf_scale, self.history
        difference = old_scale[0] * (w1 - w2) / scale[0]
        total = old_scale[1] * (w1 + w2) / scale[1]
        w1, w2 = (total + difference) / 2.0, (total - difference) / 2.0
        self.history, self.svf_scale = [w1, w2], scale
        self.b[:] = (b0, b1, b2)
        self.a[1:] = (a1, a2)
        self.pole_state[:] = (-a1 * w1 - a2 * w2, -a2 * w1)
        self.output_state[:] = (
            (b1 - a1 * b0) * w1 + (b2 - a2 * b0) * w2,
            (b2 - a2 * b0) * w1 + (a1 * b2 - a2 * b1) * w2,
        )
