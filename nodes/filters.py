"""Filters: the RBJ Audio-EQ-Cookbook biquad, its coefficients updated on a 32-sample grid.

The coefficients change only at control periods aligned to the absolute sample count, and each
period uses the param values at its first sample, so the output never depends on how a signal
is cut into blocks. Between changes the biquad runs in transposed direct form II (as scipy's
``lfilter`` runs it, bit for bit); at a change the state carries over as the integrators of the
equivalent state-variable filter, so a swept or audio-rate modulated cutoff neither clicks nor
blows up. All of it, the cookbook formulas included, runs in one compiled kernel per block.
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

FILTER_TYPES = ("lowpass", "highpass", "bandpass", "notch", "peak", "lowshelf", "highshelf", "allpass")
LOWPASS, HIGHPASS, BANDPASS, NOTCH, PEAK, LOWSHELF, HIGHSHELF, ALLPASS = range(len(FILTER_TYPES))
#: Samples per control period: coefficients change only on this grid of the absolute sample count.
CONTROL_PERIOD = 32
CUTOFF_MIN_HZ, CUTOFF_MAX_HZ = 10.0, 20000.0
#: The cutoff is held below this fraction of the sample rate, where the biquad stays well behaved.
CUTOFF_MAX_FRACTION = 0.49
Q_MIN, Q_MAX = 0.1, 30.0
GAIN_MIN_DB, GAIN_MAX_DB = -30.0, 30.0

# The kernel's state, one array: the biquad's two registers (transposed direct form II), the
# same two of w = x / a(z) (its poles alone), w's last two samples, the state-variable filter's
# scales of the coefficients in force, the params they were made from, and the grid position.
Z1, Z2, P1, P2, W1, W2 = range(6)
SVF_DIFFERENCE_SCALE, SVF_TOTAL_SCALE = 6, 7
KEY_SET, KEY_TYPE, KEY_CUTOFF, KEY_Q, KEY_GAIN = range(8, 13)
TO_GRID = 13  # samples until the next control grid point
STATE_SIZE = 14


def _type_code(filter_type: str) -> int:
    """The kernel's number for a response (an unknown one, refused by patch validation, is
    run as a high shelf, as the cookbook's last case)."""
    return FILTER_TYPES.index(filter_type) if filter_type in FILTER_TYPES else HIGHSHELF


@kernel
def _clamp(value: float, low: float, high: float) -> float:
    """min(max(value, low), high), a NaN kept as it is."""
    value = low if low > value else value
    return high if high < value else value


@kernel
def _rbj(
    filter_type: int, cutoff_hz: float, q: float, gain_db: float, sample_rate: float
) -> tuple[float, float, float, float, float, float]:
    """Unnormalised (b0, b1, b2, a0, a1, a2) from the Audio-EQ-Cookbook, params clamped to range."""
    highest = CUTOFF_MAX_FRACTION * sample_rate
    cutoff_hz = _clamp(cutoff_hz, CUTOFF_MIN_HZ, highest if highest < CUTOFF_MAX_HZ else CUTOFF_MAX_HZ)
    q = _clamp(q, Q_MIN, Q_MAX)
    gain_db = _clamp(gain_db, GAIN_MIN_DB, GAIN_MAX_DB)
    w0 = 2.0 * math.pi * cutoff_hz / sample_rate
    cos_w0 = math.cos(w0)
    alpha = math.sin(w0) / (2.0 * q)
    if filter_type == LOWPASS:
        side = (1.0 - cos_w0) / 2.0
        return side, 2.0 * side, side, 1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha
    if filter_type == HIGHPASS:
        side = (1.0 + cos_w0) / 2.0
        return side, -2.0 * side, side, 1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha
    if filter_type == BANDPASS:  # constant 0 dB peak gain
        return alpha, 0.0, -alpha, 1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha
    if filter_type == NOTCH:
        return 1.0, -2.0 * cos_w0, 1.0, 1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha
    if filter_type == ALLPASS:
        return 1.0 - alpha, -2.0 * cos_w0, 1.0 + alpha, 1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha
    amplitude = 10.0 ** (gain_db / 40.0)
    if filter_type == PEAK:
        return (
            1.0 + alpha * amplitude,
            -2.0 * cos_w0,
            1.0 - alpha * amplitude,
            1.0 + alpha / amplitude,
            -2.0 * cos_w0,
            1.0 - alpha / amplitude,
        )
    plus, minus = amplitude + 1.0, amplitude - 1.0
    shelf = 2.0 * math.sqrt(amplitude) * alpha
    if filter_type == LOWSHELF:
        return (
            amplitude * (plus - minus * cos_w0 + shelf),
            2.0 * amplitude * (minus - plus * cos_w0),
            amplitude * (plus - minus * cos_w0 - shelf),
            plus + minus * cos_w0 + shelf,
            -2.0 * (minus + plus * cos_w0),
            plus + minus * cos_w0 - shelf,
        )
    return (  # HIGHSHELF
        amplitude * (plus + minus * cos_w0 + shelf),
        -2.0 * amplitude * (minus + plus * cos_w0),
        amplitude * (plus + minus * cos_w0 - shelf),
        plus - minus * cos_w0 + shelf,
        2.0 * (minus - plus * cos_w0),
        plus - minus * cos_w0 - shelf,
    )


@kernel
def _retune(
    filter_type: int,
    cutoff_hz: float,
    q: float,
    gain_db: float,
    sample_rate: float,
    coefficients: np.ndarray,
    state: np.ndarray,
) -> None:
    """New coefficients, the state carried over as a state-variable filter's integrators.

    Keeping a direct form's state across a coefficient change lets fast modulation pump
    energy into a resonant filter until it blows up; the trapezoidal state-variable filter
    (Simper; Wishnick, DAFx 2014) behaves well under modulation. Any stable biquad
    denominator is such an SVF with g, k > 0, whose integrator states are
        s1 = sqrt(a(1) a(-1)) / 2 * (w[n-1] - w[n-2]),   s2 = a(1) / 2 * (w[n-1] + w[n-2]).
    So: s from the old history, the new history from s, and both registers from that history.
    """
    state[KEY_SET], state[KEY_TYPE] = 1.0, filter_type
    state[KEY_CUTOFF], state[KEY_Q], state[KEY_GAIN] = cutoff_hz, q, gain_db
    b0, b1, b2, a0, a1, a2 = _rbj(filter_type, cutoff_hz, q, gain_db, sample_rate)
    if not math.isfinite(b0 + b1 + b2 + a0 + a1 + a2):  # a NaN param: keep the old ones
        return
    b0, b1, b2, a1, a2 = b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0
    # a(1) and a(-1), both > 0 for a stable biquad (held there against rounding at tiny g)
    at_dc, at_nyquist = 1.0 + a1 + a2, 1.0 - a1 + a2
    at_dc = 1e-300 if at_dc < 1e-300 else at_dc
    at_nyquist = 1e-300 if at_nyquist < 1e-300 else at_nyquist
    scale_difference, scale_total = math.sqrt(at_dc * at_nyquist) / 2.0, at_dc / 2.0
    w1, w2 = state[W1], state[W2]
    difference = state[SVF_DIFFERENCE_SCALE] * (w1 - w2) / scale_difference
    total = state[SVF_TOTAL_SCALE] * (w1 + w2) / scale_total
    w1, w2 = (total + difference) / 2.0, (total - difference) / 2.0
    state[W1], state[W2] = w1, w2
    state[SVF_DIFFERENCE_SCALE], state[SVF_TOTAL_SCALE] = scale_difference, scale_total
    coefficients[0], coefficients[1], coefficients[2], coefficients[3], coefficients[4] = b0, b1, b2, a1, a2
    # the registers that history leaves in each transposed direct form
    state[P1], state[P2] = -a1 * w1 - a2 * w2, -a2 * w1
    state[Z1] = (b1 - a1 * b0) * w1 + (b2 - a2 * b0) * w2
    state[Z2] = (b2 - a2 * b0) * w1 + (a1 * b2 - a2 * b1) * w2


@kernel
def _biquad_kernel(
    signal: np.ndarray,
    cutoff_hz: np.ndarray,
    q: np.ndarray,
    gain_db: np.ndarray,
    filter_type: int,
    sample_rate: float,
    coefficients: np.ndarray,
    state: np.ndarray,
    out: np.ndarray,
) -> None:
    """One block of the biquad; at each grid point whose params differ from those in force,
    retune (the params are read there only: the output cannot depend on the block size)."""
    b0, b1, b2, a1, a2 = coefficients[0], coefficients[1], coefficients[2], coefficients[3], coefficients[4]
    z1, z2, p1, p2, w1, w2 = state[Z1], state[Z2], state[P1], state[P2], state[W1], state[W2]
    to_grid = int(state[TO_GRID])
    for n in range(len(signal)):
        if to_grid == 0:
            to_grid = CONTROL_PERIOD
            if (
                state[KEY_SET] == 0.0
                or filter_type != state[KEY_TYPE]
                or cutoff_hz[n] != state[KEY_CUTOFF]
                or q[n] != state[KEY_Q]
                or gain_db[n] != state[KEY_GAIN]
            ):
                state[Z1], state[Z2], state[P1], state[P2], state[W1], state[W2] = z1, z2, p1, p2, w1, w2
                _retune(filter_type, cutoff_hz[n], q[n], gain_db[n], sample_rate, coefficients, state)
                b0, b1, b2 = coefficients[0], coefficients[1], coefficients[2]
                a1, a2 = coefficients[3], coefficients[4]
                z1, z2, p1, p2, w1, w2 = state[Z1], state[Z2], state[P1], state[P2], state[W1], state[W2]
        to_grid -= 1
        x = signal[n]
        # y = (b0 + b1/z + b2/z^2) / (1 + a1/z + a2/z^2) x, transposed direct form II
        y = z1 + b0 * x
        z1 = z2 + x * b1 - y * a1
        z2 = x * b2 - y * a2
        out[n] = y
        # w = x / (1 + a1/z + a2/z^2) in the same form: the history a retune carries over
        w = p1 + x
        p1 = p2 - w * a1
        p2 = -w * a2
        w1, w2 = w, w1
    if not (math.isfinite(w1) and math.isfinite(w2)):  # a NaN that got in must not stay for good
        z1 = z2 = p1 = p2 = w1 = w2 = 0.0
    state[Z1], state[Z2], state[P1], state[P2], state[W1], state[W2] = z1, z2, p1, p2, w1, w2
    state[TO_GRID] = to_grid


@entry(arrays=7, ints=1, floats=1)
def _biquad_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    _biquad_kernel(
        arrays[0], arrays[1], arrays[2], arrays[3], ints[0], floats[0], arrays[4], arrays[5], arrays[6]
    )


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
        b0, b1, b2, a0, a1, a2 = _rbj(
            _type_code(filter_type), float(cutoff_hz), float(q), float(gain_db), float(sample_rate)
        )
        return np.array([b0, b1, b2]) / a0, np.array([1.0, a1 / a0, a2 / a0])

    def prepare(self, sample_rate: int, max_block: int) -> None:
        self.coefficients_in_force = np.zeros(5)  # b0, b1, b2, a1, a2 (a0 = 1)
        self.state = np.zeros(STATE_SIZE)
        self.type_code = _type_code(self.params["type"])
        super().prepare(sample_rate, max_block)
        self.rate = float(sample_rate)

    def reset(self) -> None:
        self.coefficients_in_force[:] = (1.0, 0.0, 0.0, 0.0, 0.0)  # until the first grid point
        self.state[:] = 0.0  # silence, no params in force, a grid point next

    def param_changed(self, name: str, value: Any) -> None:
        super().param_changed(name, value)
        if name == "type":
            self.type_code = _type_code(value)

    ENTRY = _biquad_entry

    def kernel_arguments(
        self, inputs: Signals, params: Mapping[str, Any], outputs: Signals
    ) -> tuple[Any, ...]:
        signal = inputs["in"]
        if signal.dtype != np.float64:
            signal = signal.astype(np.float64)  # one compiled kernel: float64 throughout
        return (
            signal,
            params["cutoff_hz"],
            params["q"],
            params["gain_db"],
            self.type_code,
            self.rate,
            self.coefficients_in_force,
            self.state,
            outputs["out"],
        )

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        _biquad_kernel(*self.kernel_arguments(inputs, params, outputs))
