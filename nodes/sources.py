"""Sound sources: a band-limited oscillator and seeded white or pink noise.

The oscillator's phase is an integer with ``PHASE_BITS`` fractional bits: integer sums are
exact, so where a cycle wraps never depends on where a block was cut, and the output is the
same for any block size. Its edges are band-limited with a minimum-phase BLEP (Brandt's
minBLEP; a minBLAMP for the triangle's corners): a correction that starts at the edge and
rings on for ``BLEP_TAPS`` samples, carried from block to block like a filter's state. Being
causal it needs no look-ahead, so the oscillator has no latency. A two-sample polyBLEP leaves
a 5 kHz saw's aliases only 22 dB down at 48 kHz; this kernel (Kaiser-windowed sinc, -6 dB at
0.44 of the sample rate) puts them about 90 dB down. The price of minimum phase is ringing
after each edge: a saw or pulse overshoots its amplitude by up to ~40 %, a high pulse ~60 %.

Speed at small blocks comes from doing per block only what the block needs: a param that is a
float (not modulated) gives a constant integer phase step, whose few edges per block are found
and corrected one by one with integer arithmetic; a modulated param gives per-sample arrays,
searched as arrays (skipped at once when the phase, moving one way, passes no whole cycle).
Both paths describe the same integer phases, so they agree on every edge.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.signal

from patcher.spec import Node, Param, ParamValue

Signals = Mapping[str, np.ndarray]
#: Where a block's phase passes whole cycles, or None: ``(index, count, distance, delta)`` for
#: each edge as a list of tuples when there are few, else as a tuple of four arrays (or three
#: and one int ``delta`` shared by all); see ``PhaseAccumulator.edges``.
Edges = list[tuple[int, int, float, int]] | tuple[np.ndarray, np.ndarray, np.ndarray, Any] | None

PHASE_BITS = 40
PHASE_ONE = 1 << PHASE_BITS
PHASE_MASK = PHASE_ONE - 1
PHASE_SCALE = 1.0 / PHASE_ONE
#: Fastest phase step: faster instantaneous frequencies are clamped just under Nyquist.
MAX_CYCLES_PER_SAMPLE = 0.49
_MAX_STEP = MAX_CYCLES_PER_SAMPLE * PHASE_ONE

BLEP_TAPS = 32
BLEP_OVERSAMPLE = 128
BLEP_CUTOFF = 0.44
BLEP_KAISER_BETA = 7.0

WAVEFORMS = ("sine", "triangle", "saw", "square")

#: A constant step's edges are found one by one up to this many a block, else as arrays.
LISTED_EDGES = 4
#: BLEPs are added one by one up to this many at once; more are added as arrays.
LOOPED_BLEPS = 6

_lowest = np.minimum.reduce
_highest = np.maximum.reduce


def naive_wave(shape: str, phase: np.ndarray, pulse_width: ParamValue = 0.5) -> np.ndarray:
    """The ideal (not band-limited) waveform at ``phase`` in cycles, as the oscillator draws it.

    Every shape crosses zero rising (or, for the square, steps up) at phase 0, like a sine;
    the saw jumps down at half a cycle. The square is DC-free: ``1 - pw`` high, ``-pw`` low,
    times two. Used for the editor's previews and by the LFO.
    """
    phase = np.mod(phase, 1.0)
    if shape == "sine":
        return np.sin(2.0 * np.pi * phase)
    if shape == "triangle":
        return 1.0 - 4.0 * np.abs(np.mod(phase + 0.25, 1.0) - 0.5)
    if shape == "saw":
        return 2.0 * np.mod(phase + 0.5, 1.0) - 1.0
    width = np.clip(pulse_width, 0.01, 0.99)
    return 2.0 * (phase < width) - 2.0 * width


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
def blep_tables() -> tuple[np.ndarray, np.ndarray, float]:
    """Minimum-phase BLEP and BLAMP residuals, and the BLAMP's delay in samples.

    Each residual is a table of ``BLEP_OVERSAMPLE + 1`` rows by ``BLEP_TAPS`` columns:
    ``table[j, k]`` is the correction ``k + j / BLEP_OVERSAMPLE`` samples after a unit step
    (or a unit change of slope per sample). The minimum-phase filter delays low frequencies
    by about ``delay`` samples; the BLAMP residual is taken against a corner that late, so it
    dies away to zero (the triangle's naive wave is read that much late to match).
    """
    length = BLEP_TAPS * BLEP_OVERSAMPLE
    time = (np.arange(length) - (length - 1) / 2) / BLEP_OVERSAMPLE
    impulse = np.sinc(2.0 * BLEP_CUTOFF * time) * np.kaiser(length, BLEP_KAISER_BETA)
    # Minimum phase by folding the real cepstrum (Oppenheim & Schafer; Brandt's minBLEP).
    size = 16 * length
    log_magnitude = np.log(np.maximum(np.abs(np.fft.fft(impulse, size)), 1e-10))
    cepstrum = np.fft.ifft(log_magnitude).real
    cepstrum[1 : size // 2] *= 2.0
    cepstrum[size // 2 + 1 :] = 0.0
    minimum = np.fft.ifft(np.exp(np.fft.fft(cepstrum))).real[:length]
    step = np.concatenate(([0.0], np.cumsum(minimum)))
    step /= step[-1]
    step_residual = step - 1.0
    step_residual[-1] = 0.0
    integral = np.concatenate(([0.0], np.cumsum((step[1:] + step[:-1]) / 2))) / BLEP_OVERSAMPLE
    taus = np.arange(length + 1) / BLEP_OVERSAMPLE
    delay = float(taus[-1] - integral[-1])
    ramp_residual = integral - np.maximum(taus - delay, 0.0)
    ramp_residual[-1] = 0.0
    rows = np.arange(BLEP_OVERSAMPLE + 1)[:, None] + BLEP_OVERSAMPLE * np.arange(BLEP_TAPS)[None, :]
    return step_residual[rows], ramp_residual[rows], delay


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


class Oscillator(Node):
    TYPE = "oscillator"
    FAMILY = "sources"
    DOC = "Band-limited sine, triangle, saw or pulse (minBLEP) with linear through-zero FM, PWM and AM."
    OUTPUTS = ("out",)
    PARAMS = {
        "waveform": Param(
            "sine", kind="choice", choices=WAVEFORMS, doc="Wave shape; square is a pulse of pulse_width."
        ),
        "frequency_hz": Param(
            220.0,
            0.1,
            20000.0,
            "Hz",
            "Pitch; a linked signal adds Hz (linear FM). Below zero the phase runs backwards; "
            "above 0.49 of the sample rate it is clamped.",
            scale="log",
            modulatable=True,
        ),
        "amplitude": Param(
            0.5, 0.0, 1.0, "", "Peak level; a linked signal adds to it (AM).", modulatable=True
        ),
        "pulse_width": Param(
            0.5,
            0.01,
            0.99,
            "",
            "Square only: fraction of each cycle spent high (modulate for PWM); the DC is removed.",
            modulatable=True,
        ),
        "phase_deg": Param(0.0, 0.0, 360.0, "deg", "Phase at the start of a render and after a reset."),
    }

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
        super().prepare(sample_rate, max_block)

    def reset(self) -> None:
        self.accumulator.reset(self.params["phase_deg"] / 360.0)
        self.band_limiter.reset()
        self.last_width = round(0.5 * PHASE_ONE)

    @classmethod
    def waveform_preview(cls, params: Mapping[str, Any], points: int = 256) -> np.ndarray:
        """One cycle of the (ideal) waveform from ``phase_deg``, scaled by amplitude."""
        values = {name: param.default for name, param in cls.PARAMS.items()} | dict(params)
        phase = np.arange(points) / points + values["phase_deg"] / 360.0
        return values["amplitude"] * naive_wave(values["waveform"], phase, values["pulse_width"])

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


@functools.cache
def pink_filter(sample_rate: int) -> tuple[np.ndarray, float]:
    """Second-order sections turning white into pink noise, and a gain for RMS 1/4.

    Real poles one octave apart from 20 Hz, each with a zero half an octave above it, average
    -3 dB/octave (within about 1 dB up to 20 kHz at 44.1 kHz, much closer at higher rates);
    placed by the matched-z transform, so any sample rate gets the same curve.
    """
    poles_hz = 20.0 * 2.0 ** np.arange(40)
    poles_hz = poles_hz[poles_hz < 2.0 * sample_rate]
    zeros_hz = poles_hz * np.sqrt(2.0)
    sections = scipy.signal.zpk2sos(
        np.exp(-2.0 * np.pi * zeros_hz / sample_rate), np.exp(-2.0 * np.pi * poles_hz / sample_rate), 1.0
    )
    impulse = np.zeros(sample_rate)
    impulse[0] = 1.0
    response = scipy.signal.sosfilt(sections, impulse)
    white_variance = 1.0 / 3.0  # uniform on [-1, 1]
    gain = 0.25 / np.sqrt(white_variance * np.sum(response**2))
    return np.ascontiguousarray(sections, dtype=float), float(gain)


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


class Noise(Node):
    TYPE = "noise"
    FAMILY = "sources"
    DOC = "Seeded white or pink (-3 dB/octave) noise: the same seed always gives the same samples."
    OUTPUTS = ("out",)
    PARAMS = {
        "color": Param(
            "white",
            kind="choice",
            choices=("white", "pink"),
            doc="white: uniform, flat spectrum, peaks at amplitude; pink: -3 dB/octave, RMS amplitude/4.",
        ),
        "amplitude": Param(0.5, 0.0, 1.0, "", "Level; a linked signal adds to it (AM).", modulatable=True),
        "seed": Param(1, 0, 2**31 - 1, kind="int", doc="Random sequence; change it for a different noise."),
    }

    def prepare(self, sample_rate: int, max_block: int) -> None:
        self.sections, self.pink_gain = pink_filter(int(sample_rate))
        super().prepare(sample_rate, max_block)

    def reset(self) -> None:
        self.generator = np.random.default_rng(int(self.params["seed"]))
        self.pink_state = np.zeros((len(self.sections), 2))

    def param_changed(self, name: str, value: Any) -> None:
        super().param_changed(name, value)
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
