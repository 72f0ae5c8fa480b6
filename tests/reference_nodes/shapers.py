"""The waveshaper's DSP before its kernels: numpy curves per block, and the oversampler as
matrix products over sliding windows (nodes/shapers.py as of 3cf4b93)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from nodes.shapers import DEFAULT_CURVE, OVERSAMPLING, Waveshaper, anti_alias_taps

Signals = Mapping[str, np.ndarray]


def _factor(oversampling: str) -> int:
    return int(oversampling.rstrip("x")) if oversampling in OVERSAMPLING else 1


def shape(name: str, x: np.ndarray, table: np.ndarray | None = None) -> np.ndarray:
    """The bare transfer curve ``name`` applied to ``x`` (a new array)."""
    if name == "tanh":
        return np.tanh(x)
    if name == "soft_clip":  # cubic, odd: only odd harmonics
        clipped = np.clip(x, -1.0, 1.0)
        return 1.5 * clipped - 0.5 * (clipped * clipped * clipped)
    if name == "hard_clip":
        return np.clip(x, -1.0, 1.0)
    if name == "foldback":  # a triangle wave of x: the identity inside [-1, 1], mirrored beyond
        folded = 1.0 - np.abs(np.mod(x + 1.0, 4.0) - 2.0)
        return np.where(np.abs(x) <= 1.0, x, folded)
    if name == "asymmetric":
        # Diode-like: slope 1 at 0 on both sides; positive saturates at +1, negative at -0.5.
        positive = -np.expm1(-np.maximum(x, 0.0))
        negative = 0.5 * np.expm1(2.0 * np.minimum(x, 0.0))
        return positive + negative
    # curve: the table's points spread evenly over [-1, 1], linear between, clamped outside
    points = np.asarray(DEFAULT_CURVE if table is None else table, dtype=float)
    return np.interp(x, np.linspace(-1.0, 1.0, len(points)), points)


def bias_offset(name: str, bias: float, table: np.ndarray | None = None) -> float:
    """What the bias alone adds to the output at rest: curve(bias) - curve(0)."""
    if bias == 0.0:
        return 0.0
    at_rest = shape(name, np.array([bias, 0.0]), table)
    return float(at_rest[0] - at_rest[1])


def _biased_shape(
    name: str, x: np.ndarray, table: np.ndarray | None, bias: float, offset: float
) -> np.ndarray:
    """curve(x + bias) - offset, skipping the neutral steps so bias 0 gives exactly curve(x)."""
    if bias == 0.0:
        return shape(name, x, table)
    shaped = shape(name, x + bias, table)
    shaped -= offset
    return shaped


def _db_to_gain(level_db: Any) -> Any:
    return np.power(10.0, np.divide(level_db, 20.0))


class ReferenceWaveshaper(Waveshaper):
    """Waveshaper as it was before its kernels (numpy), for tests/test_nodes_shapers.py."""

    TYPE = ""  # not registered: the tests and reference renders use it by name
    ENTRY = None  # its own process runs, not the node's compiled kernel

    def reset(self) -> None:
        if self.oversampler is not None:
            self.oversampler.reset()  # clear its history; its filters and buffers stay
        self._table_source: Any = None
        self._table: np.ndarray | None = None
        self._offset_key: tuple[Any, ...] | None = None
        self._offset = 0.0

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        signal, out = inputs["in"], outputs["out"]
        name, bias = params["shape"], float(params["bias"])
        table = self._curve_table(params["curve"]) if name == "curve" else None
        offset = self._bias_offset(name, bias, table)
        factor = _factor(params["oversampling"])
        drive = params["drive_db"]
        gain = None if isinstance(drive, float | int) and drive == 0.0 else _db_to_gain(drive)
        if factor == 1:
            driven = signal if gain is None else signal * gain
            out[:] = _biased_shape(name, driven, table, bias, offset)
        else:
            if self.oversampler is None or self.oversampler.factor != factor:  # not prepared
                self.oversampler = _ReferenceOversampler(factor, self.max_block)
            curve = functools.partial(_biased_shape, name, table=table, bias=bias, offset=offset)
            self.oversampler.process(signal, gain, curve, out)
        if params["output_db"] != 0.0:
            out *= _db_to_gain(params["output_db"])

    def _oversampler_for(self, oversampling: str) -> _ReferenceOversampler | None:
        factor = _factor(oversampling)
        return None if factor == 1 else _ReferenceOversampler(factor, self.max_block)

    def _curve_table(self, values: Any) -> np.ndarray:
        if values is not self._table_source:  # a new list arrives with each edit
            self._table_source = values
            table = np.asarray(values, dtype=float).ravel()
            self._table = table if len(table) >= 2 and np.all(np.isfinite(table)) else np.array(DEFAULT_CURVE)
        assert self._table is not None
        return self._table

    def _bias_offset(self, name: str, bias: float, table: np.ndarray | None) -> float:
        key = (name, bias, id(table))
        if key != self._offset_key:
            self._offset_key = key
            self._offset = bias_offset(name, bias, table)
        return self._offset


class _ReferenceOversampler:
    """Streaming polyphase interpolation by ``factor``, a curve at the high rate, decimation."""

    def __init__(self, factor: int, max_block: int) -> None:
        self.factor = factor
        taps = anti_alias_taps(factor)
        self.history = (len(taps) - 1) // factor  # T: base samples each filter looks back
        rows = self.history + 1
        padded = np.zeros(rows * factor)
        padded[: len(taps)] = taps
        # Interpolator: high sample k*factor + p = factor * sum_i taps[p + i*factor] * x[k - i].
        self.interpolator = factor * padded.reshape(rows, factor)[::-1].copy()
        # Decimator: out[k] = sum_j taps[j] * s[k*factor + T*factor - j], read as rows of factor.
        reversed_taps = np.zeros(rows * factor)
        reversed_taps[: len(taps)] = taps[::-1]
        self.decimator = reversed_taps.reshape(rows, factor).T.copy()
        self._allocate(max_block)

    def reset(self) -> None:
        self.base.fill(0.0)
        self.high.fill(0.0)

    def _allocate(self, max_block: int) -> None:
        self.max_block = max_block
        self.base = np.zeros(self.history + max_block)  # [T samples of history | block]
        self.high = np.zeros((self.history + max_block, self.factor))  # same, at the high rate
        self.products = np.zeros((self.history + max_block, self.history + 1))
        self._views: dict[int, tuple[np.ndarray, ...]] = {}

    def _views_for(self, frames: int) -> tuple[np.ndarray, ...]:
        """Views of the buffers for a block of ``frames`` (made once per block length)."""
        views = self._views.get(frames)
        if views is None:
            history = self.history
            products = self.products[: history + frames]
            step = products.strides[0]
            views = (
                self.base[history : history + frames],
                sliding_window_view(self.base[: history + frames], history + 1),
                self.high[history : history + frames],
                self.high[: history + frames],
                products,
                # diagonals[k, i] = products[k + i, i]
                as_strided(
                    products, (frames, history + 1), (step, step + products.strides[1]), writeable=False
                ),
            )
            self._views[frames] = views
        return views

    def process(self, signal: np.ndarray, gain: Any, curve: Any, out: np.ndarray) -> None:
        frames, history = len(signal), self.history
        if frames > self.max_block:  # the engine promised otherwise; keep the state, grow
            base, high = self.base[:history].copy(), self.high[:history].copy()
            self._allocate(frames)
            self.base[:history], self.high[:history] = base, high
        block, windows, high, rows, products, diagonals = self._views_for(frames)
        if gain is None:
            block[:] = signal
        else:
            np.multiply(signal, gain, out=block)
        np.matmul(windows, self.interpolator, out=high)  # the interpolated block, row k = sample k
        flat = high.reshape(-1)
        flat[:] = curve(flat)
        # out[k] = sum_i products[k + i, i]: every high row against every row of the decimator.
        np.matmul(rows, self.decimator, out=products)
        np.sum(diagonals, axis=1, out=out)
        self.base[:history] = self.base[frames : frames + history]
        self.high[:history] = self.high[frames : frames + history]
        if not (np.isfinite(self.base[:history]).all() and np.isfinite(self.high[:history]).all()):
            self.base[:history] = 0.0  # a NaN that got in must not silence the shaper for good
            self.high[:history] = 0.0


REFERENCES = {"waveshaper": ReferenceWaveshaper}
