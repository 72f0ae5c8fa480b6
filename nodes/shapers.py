"""Shapers: a waveshaper (static transfer curves) with optional streaming oversampling.

Oversampling runs a polyphase interpolator and decimator around the curve: zero-stuffing plus a
linear-phase FIR low-pass (Kaiser window, 80 dB stopband from the base rate's Nyquist), the
curve at the high rate, the same FIR again, then every ``factor``-th sample. Both filters keep
their history between blocks, and every block is a whole number of base samples, so the
decimation phase never drifts and the output does not depend on the block size.

The per-sample work runs in compiled kernels: the drive, the curves, both filters. tanh alone
is numpy's, applied in place between two kernels: its vectorised tanh is what the curve has
always been, and the C library's (what a kernel would call) differs from it in the last bit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from patcher.compiled import entry
from patcher.kernels import kernel
from patcher.spec import Node, Param

Signals = Mapping[str, np.ndarray]

SHAPES = ("tanh", "soft_clip", "hard_clip", "foldback", "asymmetric", "curve")
TANH, SOFT_CLIP, HARD_CLIP, FOLDBACK, ASYMMETRIC, CURVE = range(len(SHAPES))
OVERSAMPLING = ("1x", "2x", "4x", "8x")
#: tanh(1.5 x) / tanh(1.5) at nine points over [-1, 1]: a gentle S-curve to start editing from.
DEFAULT_CURVE = [-1.0, -0.894, -0.702, -0.396, 0.0, 0.396, 0.702, 0.894, 1.0]

#: The anti-alias filters pass up to this fraction of the base sample rate...
PASSBAND_EDGE = 0.41
#: ...and stop from the base rate's Nyquist frequency with this attenuation.
STOPBAND_DB = 80.0


def _kaiser_design(factor: int) -> tuple[int, float]:
    """(taps, beta) of the Kaiser-window low-pass at ``factor`` x the base rate: Kaiser's
    estimates (as scipy.signal.kaiserord makes them), the length then rounded up to a multiple
    of factor, plus one. That length makes the interpolator's and decimator's delays add up to
    whole base samples."""
    width = 2.0 * (0.5 - PASSBAND_EDGE) / factor  # transition band, as a fraction of Nyquist
    numtaps = math.ceil((STOPBAND_DB - 7.95) / 2.285 / (math.pi * width) + 1)
    beta = 0.1102 * (STOPBAND_DB - 8.7)  # for a stopband beyond 50 dB
    return -(-(numtaps - 1) // factor) * factor + 1, beta


@functools.cache
def anti_alias_taps(factor: int) -> np.ndarray:
    """Linear-phase low-pass at ``factor`` x the base rate; length a multiple of factor, plus one."""
    from scipy.signal import firwin  # designing a filter: at prepare time, never per block

    numtaps, beta = _kaiser_design(factor)
    cutoff = (PASSBAND_EDGE + 0.5) / factor  # band centre, as a fraction of the high rate's Nyquist
    return firwin(numtaps, cutoff, window=("kaiser", beta))


def latency_samples(oversampling: str) -> int:
    """Delay of the waveshaper's output, in base-rate samples, at this oversampling setting."""
    factor = _factor(oversampling)
    return 0 if factor == 1 else (_kaiser_design(factor)[0] - 1) // factor


def _factor(oversampling: str) -> int:
    return int(oversampling.rstrip("x")) if oversampling in OVERSAMPLING else 1


def _shape_code(name: str) -> int:
    """The kernels' number for a curve (an unknown name, refused by patch validation, is
    read as the table curve, as it always was)."""
    return SHAPES.index(name) if name in SHAPES else CURVE


def _curve_arrays(table: Any) -> tuple[np.ndarray, np.ndarray]:
    """A curve table's points and the inputs they sit at, evenly over [-1, 1]; the default
    curve when the table is missing, too short or not finite."""
    points = np.asarray(DEFAULT_CURVE if table is None else table, dtype=float).ravel()
    if len(points) < 2 or not np.all(np.isfinite(points)):
        points = np.array(DEFAULT_CURVE)
    return points, np.linspace(-1.0, 1.0, len(points))


def _db_to_gain(level_db: Any) -> Any:
    return np.power(10.0, np.divide(level_db, 20.0))


# -- the curves, one sample at a time ---------------------------------------------------------
@kernel
def _clip(x: float) -> float:
    """x held to [-1, 1] (a NaN stays NaN, as numpy's clip keeps it)."""
    return -1.0 if x < -1.0 else (1.0 if x > 1.0 else x)


@kernel
def _curve(shape: int, x: float) -> float:
    """The transfer curve ``shape`` at x (the table curve and tanh excepted: see _shape_block)."""
    if shape == SOFT_CLIP:  # cubic, odd: only odd harmonics
        clipped = _clip(x)
        return 1.5 * clipped - 0.5 * (clipped * clipped * clipped)
    if shape == HARD_CLIP:
        return _clip(x)
    if shape == FOLDBACK:  # a triangle wave of x: the identity inside [-1, 1], mirrored beyond
        if abs(x) <= 1.0:
            return x
        return 1.0 - abs((x + 1.0) % 4.0 - 2.0)  # floored mod, as numpy's: in [0, 4)
    if shape == ASYMMETRIC:
        # Diode-like: slope 1 at 0 on both sides; positive saturates at +1, negative at -0.5.
        positive = -math.expm1(-(0.0 if x < 0.0 else x))
        negative = 0.5 * math.expm1(2.0 * (0.0 if x > 0.0 else x))
        return positive + negative
    return x  # TANH


@kernel
def _table_block(points: np.ndarray, positions: np.ndarray, offset: float, values: np.ndarray) -> None:
    """In place: values through the table's points joined by straight lines (its end values
    beyond), less the offset; numpy's interp, operation for operation."""
    last = len(points) - 1
    for n in range(len(values)):
        x = values[n]
        if math.isnan(x):
            y = x
        elif x < positions[0]:
            y = points[0]
        elif x >= positions[last]:
            y = points[last]
        else:
            j = min(max(int((x + 1.0) * 0.5 * last), 0), last - 1)  # evenly spaced: x is near
            while j > 0 and positions[j] > x:
                j -= 1
            while j < last - 1 and positions[j + 1] <= x:
                j += 1
            if positions[j] == x:
                y = points[j]
            else:
                slope = (points[j + 1] - points[j]) / (positions[j + 1] - positions[j])
                y = slope * (x - positions[j]) + points[j]
                if math.isnan(y):  # an infinite slope: from the other end, as numpy does
                    y = slope * (x - positions[j + 1]) + points[j + 1]
                    if math.isnan(y) and points[j] == points[j + 1]:
                        y = points[j]
        values[n] = y - offset


@kernel
def _shape_block(
    shape: int, points: np.ndarray, positions: np.ndarray, offset: float, values: np.ndarray
) -> None:
    """In place: the curve, less the bias's offset at rest (tanh: numpy has applied it)."""
    if shape == CURVE:
        _table_block(points, positions, offset, values)
        return
    for n in range(len(values)):
        values[n] = _curve(shape, values[n]) - offset


# -- at the base rate -------------------------------------------------------------------------
@kernel
def _drive_kernel(signal: np.ndarray, drive_db: np.ndarray, bias: float, out: np.ndarray) -> None:
    """What the curve reads: out = signal x 10^(drive/20) + bias (the gain recomputed only
    where the drive changes)."""
    drive, gain = 0.0, 1.0
    for n in range(len(signal)):
        if drive_db[n] != drive:
            drive = drive_db[n]
            gain = 10.0 ** (drive / 20.0)
        out[n] = signal[n] * gain + bias


@kernel
def _shape_kernel(
    shape: int,
    points: np.ndarray,
    positions: np.ndarray,
    offset: float,
    output_gain: float,
    block: np.ndarray,
) -> None:
    """In place: the curve, less the bias's offset at rest, at the output level."""
    _shape_block(shape, points, positions, offset, block)
    for n in range(len(block)):
        block[n] *= output_gain


@kernel
def _shape_at_base_rate(
    signal: np.ndarray,
    drive_db: np.ndarray,
    bias: float,
    shape: int,
    points: np.ndarray,
    positions: np.ndarray,
    offset: float,
    output_gain: float,
    out: np.ndarray,
) -> None:
    """A block, not oversampled: drive, the curve (tanh from the C library: within an ulp of
    numpy's), the output level."""
    _drive_kernel(signal, drive_db, bias, out)
    if shape == TANH:
        for n in range(len(out)):
            out[n] = math.tanh(out[n])
    _shape_kernel(shape, points, positions, offset, output_gain, out)


# -- oversampled ------------------------------------------------------------------------------
@kernel
def _add_fir(coefficients: np.ndarray, signal: np.ndarray, history: int, out: np.ndarray) -> None:
    """out[k] += sum_i coefficients[i] signal[history + k - i]: term by term over the block, so
    the block's sums run side by side (vectorised) rather than one long chain per sample; four
    terms a pass, summed in the same order, so out is read and written a quarter as often."""
    frames, taps = len(out), len(coefficients)
    i = 0
    while i + 4 <= taps:
        c0, c1, c2, c3 = coefficients[i], coefficients[i + 1], coefficients[i + 2], coefficients[i + 3]
        start = history - i
        past0, past1 = signal[start : start + frames], signal[start - 1 : start - 1 + frames]
        past2, past3 = signal[start - 2 : start - 2 + frames], signal[start - 3 : start - 3 + frames]
        for k in range(frames):
            out[k] = out[k] + c0 * past0[k] + c1 * past1[k] + c2 * past2[k] + c3 * past3[k]
        i += 4
    for tap in range(i, taps):  # the last few
        c, past = coefficients[tap], signal[history - tap : history - tap + frames]
        for k in range(frames):
            out[k] += c * past[k]


@kernel
def _interpolate_kernel(
    signal: np.ndarray,
    drive_db: np.ndarray,
    bias: float,
    interpolator: np.ndarray,
    base: np.ndarray,
    phases: np.ndarray,
) -> None:
    """The driven block, upsampled, plus the bias: what the curve reads at the high rate.

    base holds [T samples of history | the block]; phases[p] the same span at the high rate,
    phase p (high sample k * factor + p). Each phase is an FIR of the base signal:
        phases[p][k] = sum_i interpolator[p, i] x[k - i],  interpolator[p, i] = factor taps[i factor + p].
    """
    history, frames = interpolator.shape[1] - 1, len(signal)
    _drive_kernel(signal, drive_db, 0.0, base[history : history + frames])
    for p in range(phases.shape[0]):
        block = phases[p, history : history + frames]
        block[:] = 0.0
        _add_fir(interpolator[p], base, history, block)
        for k in range(frames):
            block[k] += bias
    for k in range(history):  # the history the next block looks back on
        base[k] = base[frames + k]


@kernel
def _decimate_kernel(
    shape: int,
    points: np.ndarray,
    positions: np.ndarray,
    offset: float,
    output_gain: float,
    decimator: np.ndarray,
    base: np.ndarray,
    phases: np.ndarray,
    out: np.ndarray,
) -> None:
    """The curve at the high rate, then the low-pass and every factor-th sample:
        out[k] = sum_j taps[j] s[(k + T) factor - j] = sum_p sum_i decimator[p, i] phases[p][k - i]
    with decimator[p, i] = taps[i factor - p] (0 where that is no tap)."""
    history, frames = decimator.shape[1] - 1, len(out)
    for p in range(phases.shape[0]):
        _shape_block(shape, points, positions, offset, phases[p, history : history + frames])
    out[:] = 0.0
    for p in range(phases.shape[0]):
        _add_fir(decimator[p], phases[p], history, out)
    for k in range(frames):
        out[k] *= output_gain
    finite = True
    for k in range(history):
        finite = finite and math.isfinite(base[k])
    for p in range(phases.shape[0]):
        row = phases[p]
        for k in range(history):  # the history the next block looks back on
            row[k] = row[frames + k]
            finite = finite and math.isfinite(row[k])
    if not finite:  # a NaN that got in must not silence the shaper for good
        base[:history] = 0.0
        phases[:, :history] = 0.0


def shape(name: str, x: np.ndarray, table: np.ndarray | None = None) -> np.ndarray:
    """The bare transfer curve ``name`` applied to ``x`` (a new array)."""
    shaped = np.array(x, dtype=float)
    flat = shaped.reshape(-1)
    if name == "tanh":
        np.tanh(flat, out=flat)
    else:
        _shape_block(_shape_code(name), *_curve_arrays(table), 0.0, flat)
    return shaped


def bias_offset(name: str, bias: float, table: np.ndarray | None = None) -> float:
    """What the bias alone adds to the output at rest: curve(bias) - curve(0)."""
    if bias == 0.0:
        return 0.0
    at_rest = shape(name, np.array([bias, 0.0]), table)
    return float(at_rest[0] - at_rest[1])


@entry(arrays=5, ints=1, floats=3)
def _shaper_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    _shape_at_base_rate(
        arrays[0], arrays[1], floats[0], ints[0], arrays[2], arrays[3], floats[1], floats[2], arrays[4]
    )


class Waveshaper(Node):
    TYPE = "waveshaper"
    FAMILY = "shapers"
    DOC = "Distorts through a curve (tanh, clips, foldback, diode or a drawn table); oversampled."
    INPUTS = ("in",)
    OUTPUTS = ("out",)
    PARAMS = {
        "shape": Param(
            "tanh",
            kind="choice",
            choices=SHAPES,
            doc="tanh; soft_clip cubic; hard_clip at 1; foldback mirrors; asymmetric diode; curve table.",
        ),
        "drive_db": Param(
            0.0, 0.0, 48.0, "dB", "Input gain before the curve (a signal adds dB).", modulatable=True
        ),
        "bias": Param(
            0.0, -1.0, 1.0, "", "Offset added before the curve (even harmonics); its DC is removed."
        ),
        "output_db": Param(0.0, -48.0, 12.0, "dB", "Level after the curve."),
        "oversampling": Param(
            "1x",
            kind="choice",
            choices=OVERSAMPLING,
            doc=f"Run the curve at a higher rate to cut aliasing; 2x-8x delay by {latency_samples('2x')} "
            "samples.",
        ),
        "curve": Param(
            DEFAULT_CURVE,
            kind="table",
            doc="For shape 'curve': output values spaced evenly over inputs -1 .. 1, linear between.",
        ),
    }

    @staticmethod
    def latency_samples(oversampling: str) -> int:
        """Delay of the output, in samples, at this oversampling setting (0 at 1x)."""
        return latency_samples(oversampling)

    def prepare(self, sample_rate: int, max_block: int) -> None:
        self.oversampler = None
        super().prepare(sample_rate, max_block)
        self.oversampler = self._oversampler_for(self.params["oversampling"])
        self._settle()

    def reset(self) -> None:
        if self.oversampler is not None:
            self.oversampler.reset()  # clear its history; its filters and buffers stay

    ENTRY = _shaper_entry

    def kernel_arguments(
        self, inputs: Signals, params: Mapping[str, Any], outputs: Signals
    ) -> tuple[Any, ...] | None:
        if self.oversampler is not None:  # its filters' tables and rows: through ``process``
            return None
        return (
            inputs["in"],
            params["drive_db"],
            self.bias,
            self.shape_code,
            self.curve_points,
            self.curve_positions,
            self.offset,
            self.output_gain,
            outputs["out"],
        )

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        signal, drive_db, out = inputs["in"], params["drive_db"], outputs["out"]
        shape_code, points, positions = self.shape_code, self.curve_points, self.curve_positions
        oversampler = self.oversampler
        if oversampler is None:
            _shape_at_base_rate(*self.kernel_arguments(inputs, params, outputs))
            return
        frames = len(signal)
        if frames > oversampler.max_block:  # the engine promised otherwise; keep the state, grow
            oversampler.grow(frames)
        _interpolate_kernel(
            signal, drive_db, self.bias, oversampler.interpolator, oversampler.base, oversampler.phases
        )
        if shape_code == TANH:
            for block in oversampler.blocks(frames):  # row by row: contiguous, so nothing allocated
                np.tanh(block, out=block)
        _decimate_kernel(
            shape_code,
            points,
            positions,
            self.offset,
            self.output_gain,
            oversampler.decimator,
            oversampler.base,
            oversampler.phases,
            out,
        )

    def prepare_change(self, name: str, value: Any, params: Mapping[str, Any]) -> Any:
        """A new oversampling factor: its filters and buffers, built here, off the audio thread
        (wrapped: at 1x there are none, yet the old ones are still replaced)."""
        return (self._oversampler_for(value),) if name == "oversampling" else None

    def install_change(self, name: str, value: Any, prepared: Any) -> None:
        Node.param_changed(self, name, value)
        if name == "oversampling":
            (self.oversampler,) = prepared  # a fresh one: a new rate starts from silence
        self._settle()

    def param_changed(self, name: str, value: Any) -> None:
        super().param_changed(name, value)
        if name == "oversampling":
            self.oversampler = self._oversampler_for(value)
        self._settle()

    def _oversampler_for(self, oversampling: str) -> _Oversampler | None:
        factor = _factor(oversampling)
        return None if factor == 1 else _Oversampler(factor, self.max_block)

    def _settle(self) -> None:
        """What the kernels take from the set params, worked out once per change."""
        params = self.params
        self.shape_code = _shape_code(params["shape"])
        self.bias = float(params["bias"])
        if params["curve"] is not getattr(self, "_curve_source", None):  # a new list with each edit
            self._curve_source = params["curve"]
            self.curve_points, self.curve_positions = _curve_arrays(params["curve"])
        table = self.curve_points if self.shape_code == CURVE else None
        self.offset = bias_offset(params["shape"], self.bias, table)
        output_db = params["output_db"]
        self.output_gain = float(_db_to_gain(output_db)) if output_db != 0.0 else 1.0


class _Oversampler:
    """The polyphase interpolator and decimator of one factor, and the histories they keep."""

    def __init__(self, factor: int, max_block: int) -> None:
        self.factor = factor
        taps = anti_alias_taps(factor)
        self.history = (len(taps) - 1) // factor  # T: base samples each filter looks back
        phase_taps = self.history + 1
        padded = np.zeros(phase_taps * factor)
        padded[: len(taps)] = taps
        self.interpolator = factor * padded.reshape(phase_taps, factor).T.copy()  # [p, i]
        index = factor * np.arange(phase_taps) - np.arange(factor)[:, None]  # i factor - p
        self.decimator = np.where(index >= 0, taps[np.maximum(index, 0)], 0.0)  # [p, i]
        self._allocate(max_block)

    def reset(self) -> None:
        self.base.fill(0.0)
        self.phases.fill(0.0)

    def _allocate(self, max_block: int) -> None:
        self.max_block = max_block
        self.base = np.zeros(self.history + max_block)  # [T samples of history | block]
        self.phases = np.zeros((self.factor, self.history + max_block))  # same, per phase
        self._blocks: dict[int, tuple[np.ndarray, ...]] = {}

    def grow(self, frames: int) -> None:
        """Room for a block of ``frames``, the histories kept."""
        history = self.history
        base, phases = self.base[:history].copy(), self.phases[:, :history].copy()
        self._allocate(frames)
        self.base[:history], self.phases[:, :history] = base, phases

    def blocks(self, frames: int) -> tuple[np.ndarray, ...]:
        """Each phase's block part for ``frames`` (views, made once per block length)."""
        views = self._blocks.get(frames)
        if views is None:
            views = tuple(row[self.history : self.history + frames] for row in self.phases)
            self._blocks[frames] = views
        return views


def transfer(x: np.ndarray, params: Mapping[str, Any] | None = None) -> np.ndarray:
    """The static transfer curve: output_db x (curve(drive x + bias) - (curve(bias) - curve(0))).

    Missing params take their defaults; oversampling is ignored (it changes aliasing, not the
    curve). It is the node's own output at 1x, bit for bit: with the defaults, the bare curve.
    """
    node = Waveshaper({**(params or {}), "oversampling": "1x"})
    x = np.asarray(x, dtype=float)
    flat = np.ascontiguousarray(x.reshape(-1))
    node.prepare(48000, max(len(flat), 1))
    shaped = np.empty(len(flat))
    drive_db = np.full(len(flat), float(node.params["drive_db"]))
    node.process({"in": flat}, {**node.params, "drive_db": drive_db}, {"out": shaped})
    return shaped.reshape(x.shape)
