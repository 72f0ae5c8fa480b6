"""The sources' numpy DSP as it was before their kernels: the oscillator and the noise.

``PhaseAccumulator`` (shared with the LFO's reference) and ``BandLimiter`` are the old
vectorized edge finding and BLEP summing; ``ReferenceOscillator`` and ``ReferenceNoise`` run
them against the node types' specs and live-change methods. Copied verbatim but for the
imports and ``Node.prepare`` called by name (the kernel classes' ``prepare`` allocates
something else); the live changes (a new seed) are the node types' own.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.signal

from nodes.sources import (
    BLEP_OVERSAMPLE,
    BLEP_TAPS,
    MAX_CYCLES_PER_SAMPLE,
    PHASE_BITS,
    PHASE_MASK,
    PHASE_ONE,
    PHASE_SCALE,
    Noise,
    Oscillator,
    blep_tables,
    pink_filter,
)
from patcher.spec import Node, ParamValue

Signals = Mapping[str, np.ndarray]
#: Where a block's phase passes whole cycles, or None: ``(index, count, distance, delta)`` for
#: each edge as a list of tuples when there are few, else as a tuple of four arrays (or three
#: and one int ``delta`` shared by all); see ``PhaseAccumulator.edges``.
Edges = list[tuple[int, int, float, int]] | tuple[np.ndarray, np.ndarray, np.ndarray, Any] | None

_MAX_STEP = MAX_CYCLES_PER_SAMPLE * PHASE_ONE

#: A constant step's edges are found one by one up to this many a block, else as arrays.
LISTED_EDGES = 4
#: BLEPs are added one by one up to this many at once; more are added as arrays.
LOOPED_BLEPS = 6

_lowest = np.minimum.reduce
_highest = np.maximum.reduce


def constant_step(frequency_hz: float, sample_rate: float) -> int:
    """The integer phase step of a constant frequency, NaN-safe and clamped under Nyquist."""
    cycles = float(frequency_hz) * (1.0 / sample_rate)
    if cycles != cycles:
        cycles = 0.0
    cycles = min(max(cycles, -MAX_CYCLES_PER_SAMPLE), MAX_CYCLES_PER_SAMPLE)
    return round(cycles * PHASE_ONE)


def pulse_width_phase(pulse_width: float) -> int:
    """A constant pulse width in phase units, NaN-safe and clamped to 0.01..0.99."""
    width = float(pulse_width)
    if width != width:
        width = 0.5
    return round(min(max(width, 0.01), 0.99) * PHASE_ONE)


def _clamped(past: int, step: int) -> float:
    return min(max(past / step, 0.0), 1.0)


class PhaseAccumulator:
    """An exact integer phase, advanced a block at a time, shared by oscillators and LFOs.

    ``advance`` moves it on by one block and describes that block: ``previous`` is the phase
    of the sample before it and ``first`` that of its sample 0. A constant frequency gives a
    constant ``step`` (sample ``i`` is at ``first + i * step``); a modulated one sets ``step``
    to None and gives ``steps`` (sample ``i`` moves on by ``steps[i]``) and ``phases``
    (``phases[0]`` is ``previous`` and ``phases[1 + i]`` sample ``i``'s, unwrapped).
    """

    def prepare(self, max_block: int) -> None:
        self._cycles = np.zeros(max_block)
        # The phase at the block's start, then the steps: summed in one pass into the phases.
        self._start_and_steps = np.zeros(max_block + 1, dtype=np.int64)
        self._phases = np.zeros(max_block + 1, dtype=np.int64)
        self._shifted = np.zeros(max_block + 1, dtype=np.int64)
        self._turns = np.zeros(max_block + 1, dtype=np.int64)
        self._counts = np.zeros(max_block, dtype=np.int64)
        self._masked = np.zeros(max_block, dtype=np.int64)
        self._unit_ramp = np.arange(max_block, dtype=np.int64)
        self._whole_cycles = self._unit_ramp << PHASE_BITS
        self._plus = np.ones(max_block, dtype=np.int64)
        self._minus = -self._plus
        self._ramp = np.zeros(max_block, dtype=np.int64)
        self._ramp_step = 0
        self.frames = 0
        self.step: int | None = 0
        #: 1 when no step of the block is negative, -1 when none is positive, else 0.
        self.direction = 0

    def reset(self, start_cycles: float) -> None:
        self.phase = round(start_cycles % 1.0 * PHASE_ONE) & PHASE_MASK
        self.last_step = 0

    def advance(self, frequency_hz: ParamValue, sample_rate: float, frames: int) -> None:
        """Move on by a block of ``frames`` samples at ``frequency_hz`` (a float or an array)."""
        self.frames = frames
        self.previous = self.phase - self.last_step
        self.first = self.phase
        if isinstance(frequency_hz, np.ndarray):
            self.step = None
            self._advance_steps(self.cycles_per_sample(frequency_hz, sample_rate, frames))
            return
        step = constant_step(frequency_hz, sample_rate)
        self.step = step
        self.direction = (step > 0) - (step < 0)
        self.last_step = step
        self.phase = (self.phase + frames * step) & PHASE_MASK

    def cycles_per_sample(self, frequency_hz: np.ndarray, sample_rate: float, frames: int) -> np.ndarray:
        """Frequency as a phase step per sample in phase units (cycles times ``PHASE_ONE``),
        NaN-safe and clamped under Nyquist; not yet rounded to integers."""
        # (f / rate) * PHASE_ONE and f * (PHASE_ONE / rate) round alike: PHASE_ONE is a power of 2.
        cycles = self._cycles[:frames]
        np.multiply(frequency_hz, PHASE_ONE / sample_rate, out=cycles)
        low, high = _lowest(cycles), _highest(cycles)
        if low >= -_MAX_STEP and high <= _MAX_STEP:  # False for a NaN
            self.direction = 1 if low >= 0.0 else -1 if high <= 0.0 else 0
            return cycles
        self.direction = 0
        np.nan_to_num(cycles, copy=False, nan=0.0, posinf=_MAX_STEP, neginf=-_MAX_STEP)
        return np.clip(cycles, -_MAX_STEP, _MAX_STEP, out=cycles)

    def _advance_steps(self, cycles: np.ndarray) -> None:
        frames = len(cycles)
        start_and_steps = self._start_and_steps[: frames + 1]
        start_and_steps[0] = self.phase
        steps = start_and_steps[1:]
        np.rint(cycles, out=steps, casting="unsafe")
        phases = self._phases[: frames + 1]
        phases[0] = self.previous
        np.add.accumulate(start_and_steps[:-1], out=phases[1:])
        self.last_step = last_step = int(steps[-1])
        self.phase = (int(phases[-1]) + last_step) & PHASE_MASK
        self.steps, self.phases = steps, phases

    def _ramp_of(self, step: int) -> np.ndarray:
        """``i * step`` for every sample ``i`` (kept while the step stays the same)."""
        if step != self._ramp_step:
            np.multiply(self._unit_ramp, step, out=self._ramp)
            self._ramp_step = step
        return self._ramp

    def masked(self, offset: int = 0) -> np.ndarray:
        """``(phase + offset) & PHASE_MASK`` at each sample of the block (a scratch buffer)."""
        frames = self.frames
        out = self._masked[:frames]
        if self.step is None:
            if offset:
                np.add(self.phases[1:], offset, out=out)
                return np.bitwise_and(out, PHASE_MASK, out=out)
            return np.bitwise_and(self.phases[1:], PHASE_MASK, out=out)
        start = (self.first + offset) & PHASE_MASK
        np.add(self._ramp_of(self.step)[:frames], start, out=out)
        if not 0 <= start + (frames - 1) * self.step < PHASE_ONE:  # it wraps in this block
            np.bitwise_and(out, PHASE_MASK, out=out)
        return out

    def unwrapped(self) -> np.ndarray:
        """``phases``, made from the constant step when there is one."""
        if self.step is None:
            return self.phases
        phases = self._phases[: self.frames + 1]
        np.add(self._ramp_of(self.step)[: self.frames], self.first, out=phases[1:])
        phases[0] = self.previous
        return phases

    def edges(self, offset: int | np.ndarray = 0, offset_before: int | None = None) -> Edges:
        """Where ``phase + offset`` passes a whole cycle, from the sample before the block on.

        ``offset`` is an int or an array of ``frames + 1`` (like ``phases``); an int may have
        another value, ``offset_before``, for the sample before the block. Returns None when
        nothing passes, else for each crossing: the sample just after it, how many cycles it
        passed (negative when running backwards), how long ago it happened in samples (0 to
        1, by linear interpolation of the phase) and the phase difference across it.
        """
        if isinstance(offset, np.ndarray):
            return self._search(offset)
        before = self.previous + (offset if offset_before is None else offset_before)
        first = self.first + offset
        step = self.step
        last = first + (self.frames - 1) * step if step is not None else int(self.phases[-1]) + offset
        turned = (first >> PHASE_BITS) - (before >> PHASE_BITS)
        passes = (last >> PHASE_BITS) - (first >> PHASE_BITS)
        if step is None:
            if self.direction and not turned and not passes:  # monotonic and within one cycle
                return None
            return self._search(offset, before)
        if not turned and not passes:
            return None
        if abs(passes) > LISTED_EDGES:
            return self._constant_search(step, first, before, turned, passes)
        edges = []
        if turned:
            delta = first - before
            past = first & PHASE_MASK if turned > 0 else PHASE_ONE - (first & PHASE_MASK)
            edges.append((0, turned, _clamped(past, abs(delta)), delta))
        if passes > 0:
            for cycle in range((first >> PHASE_BITS) + 1, (last >> PHASE_BITS) + 1):
                index = -((first - (cycle << PHASE_BITS)) // step)
                past = (first + index * step) & PHASE_MASK
                edges.append((index, 1, _clamped(past, step), step))
        elif passes < 0:
            for cycle in range(first >> PHASE_BITS, last >> PHASE_BITS, -1):
                index = (first - (cycle << PHASE_BITS)) // -step + 1
                past = PHASE_ONE - ((first + index * step) & PHASE_MASK)
                edges.append((index, -1, _clamped(past, -step), step))
        return edges

    def _constant_search(self, step: int, first: int, before: int, turned: int, passes: int) -> Edges:
        """``edges`` of a constant step as arrays, from the cycle boundaries it passes."""
        within = first & PHASE_MASK
        cycles = self._whole_cycles[1 : abs(passes) + 1]  # j whole cycles, for j = 1, 2, ...
        if passes > 0:  # boundary j is j cycles above first's cycle: ``gap`` ahead of first
            gap = cycles - within
            index = gap + (step - 1)
            index //= step
            count = self._plus[: len(index)]
        else:  # boundary j is j - 1 cycles below first's cycle start: ``gap`` behind first
            gap = cycles + (within - PHASE_ONE)
            index = gap // -step
            index += 1
            count = self._minus[: len(index)]
        past = index * abs(step)
        past -= gap
        distance = past / abs(step)
        if not turned:
            return index, count, distance, step
        delta = first - before
        past = within if turned > 0 else PHASE_ONE - within
        return (
            np.concatenate(((0,), index)),
            np.concatenate(((turned,), count)),
            np.concatenate(((_clamped(past, abs(delta)),), distance)),
            np.concatenate(((delta,), np.full(len(index), step))),
        )

    def _search(self, offset: int | np.ndarray, before: int | None = None) -> Edges:
        """``edges`` by array operations over the block's unwrapped phases."""
        phases = self.unwrapped()
        frames = self.frames
        shifted = np.add(phases, offset, out=self._shifted[: frames + 1])
        if before is not None:
            shifted[0] = before
        turns = np.right_shift(shifted, PHASE_BITS, out=self._turns[: frames + 1])
        counts = np.subtract(turns[1:], turns[:-1], out=self._counts[:frames])
        index = counts.nonzero()[0]
        if index.size == 0:
            return None
        if index.size <= LOOPED_BLEPS:
            edges = []
            for sample in index.tolist():
                before, after = shifted.item(sample), shifted.item(sample + 1)
                count = (after >> PHASE_BITS) - (before >> PHASE_BITS)
                past = after & PHASE_MASK if count > 0 else PHASE_ONE - (after & PHASE_MASK)
                edges.append((sample, count, _clamped(past, abs(after - before)), after - before))
            return edges
        count = counts[index]
        after = shifted[index + 1]
        delta = after - shifted[index]
        past = np.where(count > 0, after & PHASE_MASK, PHASE_ONE - (after & PHASE_MASK))
        distance = np.clip(past / np.abs(delta), 0.0, 1.0)
        return index, count, distance, delta


@functools.cache
def blep_pairs() -> tuple[np.ndarray, np.ndarray]:
    """``blep_tables``' residuals as ``row_pairs``: the BLEP's, then the BLAMP's."""
    step_residual, ramp_residual, _delay = blep_tables()
    return row_pairs(step_residual), row_pairs(ramp_residual)


def row_pairs(table: np.ndarray) -> np.ndarray:
    """``pairs[row]`` is ``table[row : row + 2]``, contiguous: what linear interpolation reads.

    The last row, ``BLEP_OVERSAMPLE`` (an edge a whole sample back), pairs the last with itself.
    """
    following = np.concatenate((table[1:], table[-1:]))
    return np.ascontiguousarray(np.stack((table, following), axis=1))


class BandLimiter:
    """Sums BLEP/BLAMP corrections into the samples they reach, across block boundaries.

    A correction is a residual table's row pair ``table[row : row + 2]`` (see ``blep_tables``)
    mixed by a 2-vector of weights: one small matrix product per edge.
    """

    def prepare(self, max_block: int) -> None:
        self._pending = np.zeros(max_block + BLEP_TAPS)
        self._taps = np.arange(BLEP_TAPS)
        self._weights = np.zeros((2 * max_block + 2, 1, 2))  # up to two edges a sample
        self._live = 0  # _pending[_live:] is all zero

    def reset(self) -> None:
        self._pending.fill(0.0)
        self._live = 0

    def add(self, pairs: np.ndarray, index: np.ndarray, distance: np.ndarray, size: np.ndarray) -> None:
        """Correct for discontinuities ``distance`` samples before samples ``index``.

        ``pairs`` is ``row_pairs(table)``; ``size`` is each discontinuity's height.
        """
        if index.size == 0:
            return
        edges = len(index)
        position = distance * BLEP_OVERSAMPLE
        row = position.astype(np.intp)
        weights = self._weights[:edges]
        late = np.multiply(np.subtract(position, row, out=weights[:, 0, 1]), size, out=weights[:, 0, 1])
        np.subtract(size, late, out=weights[:, 0, 0])
        values = np.matmul(weights, pairs[row])
        targets = (index[:, None] + self._taps).ravel()
        sums = np.bincount(targets, weights=values.ravel())
        self._pending[: len(sums)] += sums
        self._live = max(self._live, len(sums))

    def add_listed(self, pairs: np.ndarray, edges: list[tuple[int, float, float]]) -> None:
        """``add`` for a list of ``(index, distance, size)``."""
        if len(edges) > LOOPED_BLEPS:
            index, distance, size = zip(*edges, strict=True)
            self.add(pairs, np.array(index), np.array(distance), np.array(size))
            return
        pending = self._pending
        live = self._live
        for index, distance, size in edges:
            position = distance * BLEP_OVERSAMPLE
            row = int(position)
            late = (position - row) * size
            pending[index : index + BLEP_TAPS] += np.dot((size - late, late), pairs[row])
            live = max(live, index + BLEP_TAPS)
        self._live = live

    def apply(self, out: np.ndarray) -> None:
        """Add the corrections due in this block to ``out``; carry the rest to the next."""
        live = self._live
        if live == 0:
            return
        frames = len(out)
        pending = self._pending
        if live <= frames:
            out[:live] += pending[:live]
            pending[:live] = 0.0
            self._live = 0
            return
        out += pending[:frames]
        carried = live - frames
        pending[:carried] = pending[frames:live]
        pending[carried:live] = 0.0
        self._live = carried


class ReferenceOscillator(Oscillator):
    """The oscillator as it was before its kernel (numpy), for tests/test_nodes_sources.py."""

    TYPE = ""  # a stand-in for the node type, not a type of its own: not registered
    ENTRY = None  # its own process runs, not the node's compiled kernel

    def prepare(self, sample_rate: int, max_block: int) -> None:
        self.accumulator = PhaseAccumulator()
        self.accumulator.prepare(max_block)
        self.band_limiter = BandLimiter()
        self.band_limiter.prepare(max_block)
        self.ramp_delay = blep_tables()[2]
        self.step_pairs, self.ramp_pairs = blep_pairs()
        self._scratch = np.zeros(max_block)
        self._high = np.zeros(max_block, dtype=bool)
        self._offsets = np.zeros(max_block + 1, dtype=np.int64)
        Node.prepare(self, sample_rate, max_block)

    def reset(self) -> None:
        self.accumulator.reset(self.params["phase_deg"] / 360.0)
        self.band_limiter.reset()
        self.last_width = round(0.5 * PHASE_ONE)

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        out = outputs["out"]
        frames = len(out)
        if frames == 0:
            return
        self.accumulator.advance(params["frequency_hz"], self.sample_rate, frames)
        waveform = params["waveform"]
        if waveform == "saw":
            self._saw(out)
        elif waveform == "square":
            self._square(params["pulse_width"], out)
        elif waveform == "triangle":
            self._triangle(out)
        else:
            np.multiply(self.accumulator.masked(), 2.0 * np.pi * PHASE_SCALE, out=out)
            np.sin(out, out=out)
        self.band_limiter.apply(out)
        np.multiply(out, params["amplitude"], out=out)

    def _correct(self, pairs: np.ndarray, groups: Sequence[tuple[Edges, float]], slope: bool = False) -> None:
        """Correct each edge of each ``(edges, scale)`` group by ``scale`` times its count (and,
        with ``slope``, times the phase step across it: a BLAMP's change of slope)."""
        listed: list[tuple[int, float, float]] = []
        arrays = []
        for edges, scale in groups:
            if edges is None:
                continue
            if isinstance(edges, list):
                if slope:
                    listed += [(i, d, scale * c * (delta * PHASE_SCALE)) for i, c, d, delta in edges]
                else:
                    listed += [(i, d, scale * c) for i, c, d, _ in edges]
                continue
            index, count, distance, delta = edges
            size = scale * count
            if slope:
                size *= delta * PHASE_SCALE
            arrays.append((index, distance, size))
        if not arrays:
            if listed:
                self.band_limiter.add_listed(pairs, listed)
            return
        if listed:
            arrays.append(tuple(np.array(column) for column in zip(*listed, strict=True)))
        if len(arrays) == 1:
            index, distance, size = arrays[0]
        else:
            index, distance, size = (np.concatenate(column) for column in zip(*arrays, strict=True))
        self.band_limiter.add(pairs, index, distance, size)

    def _saw(self, out: np.ndarray) -> None:
        accumulator = self.accumulator
        half = PHASE_ONE >> 1
        np.multiply(accumulator.masked(half), 2.0 * PHASE_SCALE, out=out)
        # The BLEP delays the jumps by the kernel's ramp_delay; delay the ramp as much (a
        # ramp late by d is the ramp minus slope * d), else the saw gains a DC of 2 * f * d.
        delay = 2.0 * self.ramp_delay * PHASE_SCALE
        if accumulator.step is None:
            out -= 1.0
            out -= np.multiply(accumulator.steps, delay, out=self._scratch[: len(out)])
        else:
            out -= 1.0 + accumulator.step * delay
        self._correct(self.step_pairs, ((accumulator.edges(half), -2.0),))

    def _square(self, pulse_width: ParamValue, out: np.ndarray) -> None:
        if isinstance(pulse_width, np.ndarray):
            self._modulated_square(pulse_width, out)
            return
        accumulator = self.accumulator
        width = pulse_width_phase(pulse_width)
        before, self.last_width = self.last_width, width
        rises = accumulator.edges()
        falls = accumulator.edges(-width, -before)
        low = width * (-2.0 * PHASE_SCALE)
        high = low + 2.0
        step = accumulator.step
        if step is not None and not isinstance(rises, tuple) and not isinstance(falls, tuple):
            # High while the phase is under the width: constant between this block's edges.
            first = accumulator.first
            out.fill(high if (first & PHASE_MASK) < width else low)
            for index in sorted({edge[0] for edge in (rises or []) + (falls or [])} - {0}):
                out[index:] = high if ((first + index * step) & PHASE_MASK) < width else low
        else:
            is_high = np.less(accumulator.masked(), width, out=self._high[: len(out)])
            out.fill(low)
            np.copyto(out, high, where=is_high)
        self._correct(self.step_pairs, ((rises, 2.0), (falls, -2.0)))

    def _modulated_square(self, pulse_width: np.ndarray, out: np.ndarray) -> None:
        accumulator = self.accumulator
        frames = len(out)
        scratch = self._scratch[:frames]
        # Minus the widths, in phase units: the pulse falls where phase - width passes a cycle.
        offsets = self._offsets[: frames + 1]
        offsets[0] = -self.last_width
        if _lowest(pulse_width) >= 0.01 and _highest(pulse_width) <= 0.99:  # False for a NaN
            np.multiply(pulse_width, -PHASE_ONE, out=scratch)
        else:
            np.multiply(np.clip(np.nan_to_num(pulse_width, nan=0.5), 0.01, 0.99), -PHASE_ONE, out=scratch)
        np.rint(scratch, out=offsets[1:], casting="unsafe")
        self.last_width = -int(offsets[-1])
        # High while the phase is under the width.
        below = accumulator.masked()
        below += offsets[1:]
        is_high = np.less(below, 0, out=self._high[:frames])
        np.multiply(offsets[1:], 2.0 * PHASE_SCALE, out=out)
        out += np.multiply(is_high, 2.0, out=scratch)
        self._correct(self.step_pairs, ((accumulator.edges(), 2.0), (accumulator.edges(offsets), -2.0)))

    def _triangle(self, out: np.ndarray) -> None:
        accumulator = self.accumulator
        quarter = PHASE_ONE >> 2
        scratch = self._scratch[: len(out)]
        # Read the naive wave ramp_delay samples late, as the BLAMP residual expects:
        # 1 - 4 |w - round(w)| with w = phase - 1/4 - delay, in cycles.
        np.multiply(accumulator.masked(), PHASE_SCALE, out=out)
        delay = self.ramp_delay * PHASE_SCALE
        if accumulator.step is None:
            out -= np.multiply(accumulator.steps, delay, out=scratch)
            out -= 0.25
        else:
            out -= 0.25 + accumulator.step * delay
        out -= np.rint(out, out=scratch)
        np.abs(out, out=out)
        out *= -4.0
        out += 1.0
        corners = ((accumulator.edges(quarter), 8.0), (accumulator.edges(-quarter), -8.0))
        self._correct(self.ramp_pairs, corners, slope=True)


def _direct_sosfilt() -> Any:
    """scipy's sosfilt kernel, which filters in place without sosfilt's checks and copies.

    Only when it is there and, tried on a small case, gives what ``scipy.signal.sosfilt``
    gives; else None (and the noise uses ``sosfilt``).
    """
    try:
        from scipy.signal._sosfilt import _sosfilt
    except ImportError:
        return None
    sections = np.array([[0.5, 0.2, 0.1, 1.0, -0.3, 0.05], [1.0, -0.4, 0.0, 1.0, 0.2, 0.0]])
    signal = np.array([1.0, -0.5, 0.25, 2.0, 0.0, -1.0])
    state = np.array([[0.1, -0.2], [0.3, 0.05]])
    expected, expected_state = scipy.signal.sosfilt(sections, signal, zi=state)
    try:
        _sosfilt(sections, signal.reshape(1, -1), state.reshape(1, -1, 2))
    except Exception:
        return None
    if np.array_equal(signal, expected) and np.array_equal(state, expected_state):
        return _sosfilt
    return None


_SOSFILT_IN_PLACE = _direct_sosfilt()


class ReferenceNoise(Noise):
    """The noise as it was before its kernel (numpy), for tests/test_nodes_sources.py."""

    TYPE = ""  # a stand-in for the node type, not a type of its own: not registered
    ENTRY = None  # its own process runs, not the node's compiled kernel

    def prepare(self, sample_rate: int, max_block: int) -> None:
        self.sections, self.pink_gain = pink_filter(int(sample_rate))
        Node.prepare(self, sample_rate, max_block)

    def reset(self) -> None:
        self.generator = np.random.default_rng(int(self.params["seed"]))
        self.pink_state = np.zeros((len(self.sections), 2))

    def param_changed(self, name: str, value: Any) -> None:
        Node.param_changed(self, name, value)
        if name == "seed":
            self.generator = np.random.default_rng(int(value))

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        out = outputs["out"]
        # Generator.random draws one double per sample, so chunking never changes the stream.
        self.generator.random(out=out)
        out *= 2.0
        out -= 1.0
        if params["color"] == "pink":
            state = self.pink_state
            # (Generator.random has already required out to be contiguous.)
            if _SOSFILT_IN_PLACE is not None and state.flags.c_contiguous:
                _SOSFILT_IN_PLACE(self.sections, out.reshape(1, -1), state.reshape(1, -1, 2))
            else:
                out[:], self.pink_state = scipy.signal.sosfilt(self.sections, out, zi=state)
            out *= self.pink_gain
        np.multiply(out, params["amplitude"], out=out)


REFERENCES: dict[str, type[Node]] = {"oscillator": ReferenceOscillator, "noise": ReferenceNoise}
