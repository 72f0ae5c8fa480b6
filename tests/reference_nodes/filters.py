"""The filter's DSP before its kernel: per-block scipy ``lfilter`` calls, coefficients and
the state-variable carry-over on Python floats (nodes/filters.py as of 3cf4b93)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from itertools import repeat
from typing import Any

import numpy as np
from scipy.signal import lfilter

from nodes.filters import (
    CONTROL_PERIOD,
    CUTOFF_MAX_FRACTION,
    CUTOFF_MAX_HZ,
    CUTOFF_MIN_HZ,
    GAIN_MAX_DB,
    GAIN_MIN_DB,
    Q_MAX,
    Q_MIN,
    Filter,
)

Signals = Mapping[str, np.ndarray]


def _clamp(value: float, low: float, high: float) -> float:
    """min(max(value, low), high), a NaN kept as it is, without the builtins' call overhead."""
    value = low if low > value else value
    return high if high < value else value


def _rbj(
    filter_type: str, cutoff_hz: float, q: float, gain_db: float, sample_rate: float
) -> tuple[float, float, float, float, float, float]:
    """Unnormalised (b0, b1, b2, a0, a1, a2) from the Audio-EQ-Cookbook, params clamped to range."""
    highest = CUTOFF_MAX_FRACTION * sample_rate
    cutoff_hz = _clamp(cutoff_hz, CUTOFF_MIN_HZ, highest if highest < CUTOFF_MAX_HZ else CUTOFF_MAX_HZ)
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


def _check_linear_filter() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """scipy's private ``_linear_filter`` (what ``lfilter`` calls after checking its arguments),
    if it gives exactly what ``lfilter`` gives; else a wrapper round the public ``lfilter``."""

    def public(b: np.ndarray, a: np.ndarray, x: np.ndarray, axis: int, zi: np.ndarray) -> Any:
        return lfilter(b, a, x, axis=axis, zi=zi)

    try:
        from scipy.signal._sigtools import _linear_filter as private
    except ImportError:  # pragma: no cover - depends on the scipy version
        return public
    probe = np.random.default_rng(0).standard_normal(37)
    a, zi = np.array([1.0, -1.3, 0.6]), np.array([0.25, -0.5])
    try:
        for b in (np.array([0.2, 0.4, 0.2]), _ONE):
            got, expected = private(b, a, probe, -1, zi), lfilter(b, a, probe, zi=zi)
            if not all(np.array_equal(mine, theirs) for mine, theirs in zip(got, expected, strict=True)):
                return public  # pragma: no cover
    except Exception:  # pragma: no cover - a changed private signature
        return public
    return private


_linear_filter = _check_linear_filter()


def _grid_values(value: Any, first: int) -> Any:
    """A modulatable param's values at the control grid points from ``first`` on, as floats."""
    if isinstance(value, np.ndarray):
        return np.asarray(value[first::CONTROL_PERIOD], dtype=np.float64).tolist()
    return repeat(float(value))


class ReferenceFilter(Filter):
    """Filter as it was before its kernel (scipy lfilter per control period), for
    tests/test_nodes_filters.py."""

    TYPE = ""  # not registered: the tests and reference renders use it by name
    ENTRY = None  # its own process runs, not the node's compiled kernel

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
        if signal.dtype != np.float64:
            signal = signal.astype(np.float64)  # what lfilter would filter
        frames = len(signal)
        first_grid = (-self.position) % CONTROL_PERIOD
        self.position += frames
        start = 0
        if first_grid < frames:
            filter_type = params["type"]
            cutoff, q, gain = params["cutoff_hz"], params["q"], params["gain_db"]
            if isinstance(cutoff, np.ndarray) or isinstance(q, np.ndarray) or isinstance(gain, np.ndarray):
                grid: Any = zip(
                    range(first_grid, frames, CONTROL_PERIOD),
                    _grid_values(cutoff, first_grid),
                    _grid_values(q, first_grid),
                    _grid_values(gain, first_grid),
                    strict=False,  # a set value repeats without end
                )
            else:  # set values are the same at every grid point of the block: check only the first
                grid = ((first_grid, float(cutoff), float(q), float(gain)),)
            for index, cutoff_hz, q_value, gain_db in grid:
                key = (filter_type, cutoff_hz, q_value, gain_db)
                if key != self.key:
                    if index > start:
                        self._filter(signal, out, start, index)
                    self._set_coefficients(key)
                    start = index
        if frames > start:
            self._filter(signal, out, start, frames)
        if not (math.isfinite(self.history[0]) and math.isfinite(self.history[1])):
            self.reset_state()  # a NaN that got in must not silence the filter for good

    def reset_state(self) -> None:
        self.output_state[:] = 0.0
        self.pole_state[:] = 0.0
        self.history = [0.0, 0.0]

    def _filter(self, signal: np.ndarray, out: np.ndarray, start: int, stop: int) -> None:
        """Run the biquad over signal[start:stop] (not empty), and the history beside it."""
        chunk, a = signal[start:stop], self.a
        out[start:stop], self.output_state = _linear_filter(self.b, a, chunk, -1, self.output_state)
        poles, self.pole_state = _linear_filter(_ONE, a, chunk, -1, self.pole_state)
        if stop - start > 1:
            w2, w1 = poles[-2:].tolist()
            self.history = [w1, w2]
        else:
            self.history = [poles.item(), self.history[0]]

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
        if not math.isfinite(b0 + b1 + b2 + a0 + a1 + a2):  # a NaN param: keep the old ones
            return
        b0, b1, b2, a1, a2 = b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0
        # a(1) and a(-1), both > 0 for a stable biquad (held there against rounding at tiny g)
        at_dc, at_nyquist = 1.0 + a1 + a2, 1.0 - a1 + a2
        at_dc = 1e-300 if at_dc < 1e-300 else at_dc  # max(at_dc, 1e-300) without the call
        at_nyquist = 1e-300 if at_nyquist < 1e-300 else at_nyquist
        scale_difference, scale_total = math.sqrt(at_dc * at_nyquist) / 2.0, at_dc / 2.0
        (old_difference, old_total), (w1, w2) = self.svf_scale, self.history
        difference = old_difference * (w1 - w2) / scale_difference
        total = old_total * (w1 + w2) / scale_total
        w1, w2 = (total + difference) / 2.0, (total - difference) / 2.0
        self.history, self.svf_scale = [w1, w2], (scale_difference, scale_total)
        b, a, pole_state, output_state = self.b, self.a, self.pole_state, self.output_state
        b[0], b[1], b[2], a[1], a[2] = b0, b1, b2, a1, a2
        pole_state[0], pole_state[1] = -a1 * w1 - a2 * w2, -a2 * w1
        output_state[0] = (b1 - a1 * b0) * w1 + (b2 - a2 * b0) * w2
        output_state[1] = (b2 - a2 * b0) * w1 + (a1 * b2 - a2 * b1) * w2


REFERENCES = {"filter": ReferenceFilter}
