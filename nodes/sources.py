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
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.signal

from patcher.spec import Node, Param, ParamValue

Signals = Mapping[str, np.ndarray]

PHASE_BITS = 40
PHASE_ONE = 1 << PHASE_BITS
PHASE_MASK = PHASE_ONE - 1
PHASE_SCALE = 1.0 / PHASE_ONE
#: Fastest phase step: faster instantaneous frequencies are clamped just under Nyquist.
MAX_CYCLES_PER_SAMPLE = 0.49

BLEP_TAPS = 32
BLEP_OVERSAMPLE = 128
BLEP_CUTOFF = 0.44
BLEP_KAISER_BETA = 7.0

WAVEFORMS = ("sine", "triangle", "saw", "square")


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


class PhaseAccumulator:
    """An exact integer phase, advanced a block at a time, shared by oscillators and LFOs."""

    def prepare(self, max_block: int) -> None:
        self._cycles = np.zeros(max_block)
        self._scratch = np.zeros(max_block)
        self._steps = np.zeros(max_block, dtype=np.int64)
        self._phases = np.zeros(max_block + 1, dtype=np.int64)

    def reset(self, start_cycles: float) -> None:
        self.phase = round(start_cycles % 1.0 * PHASE_ONE) & PHASE_MASK
        self.last_step = 0

    def cycles_per_sample(self, frequency_hz: ParamValue, sample_rate: float, frames: int) -> np.ndarray:
        """Frequency as a phase step per sample, NaN-safe and clamped under Nyquist."""
        cycles = self._cycles[:frames]
        np.multiply(frequency_hz, 1.0 / sample_rate, out=cycles)
        np.nan_to_num(cycles, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
        return np.clip(cycles, -MAX_CYCLES_PER_SAMPLE, MAX_CYCLES_PER_SAMPLE, out=cycles)

    def advance(self, cycles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Integer phase steps for ``cycles`` and the phases before them.

        Returns ``(steps, phases)``: ``phases[0]`` is the sample before this block and
        ``phases[1 + i]`` sample ``i``'s, unwrapped from the block's start phase; sample ``i``
        then moves on by ``steps[i]``.
        """
        frames = len(cycles)
        steps = self._steps[:frames]
        scratch = self._scratch[:frames]
        np.rint(np.multiply(cycles, PHASE_ONE, out=scratch), out=scratch)
        steps[:] = scratch
        phases = self._phases[: frames + 1]
        phases[0] = -self.last_step
        phases[1] = 0
        np.cumsum(steps[:-1], out=phases[2:])
        phases += self.phase
        self.last_step = int(steps[-1])
        self.phase = int(phases[-1] + self.last_step) & PHASE_MASK
        return steps, phases


def wraps(phases: np.ndarray, offset: int | np.ndarray = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where ``phases + offset`` passes a whole cycle between consecutive samples.

    Returns ``(index, count, distance)``: the sample just after each crossing, how many
    cycles it passed (negative when running backwards) and how long ago it happened, in
    samples (0 to 1), found by linear interpolation of the phase.
    """
    shifted = phases + offset
    count = np.diff(shifted >> PHASE_BITS)
    index = np.flatnonzero(count)
    count = count[index]
    after = shifted[index + 1]
    step = np.abs(after - shifted[index]).astype(float)
    past = np.where(count > 0, after & PHASE_MASK, PHASE_ONE - (after & PHASE_MASK))
    distance = np.clip(past / step, 0.0, 1.0)
    return index, count, distance


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


class BandLimiter:
    """Sums BLEP/BLAMP corrections into the samples they reach, across block boundaries."""

    def prepare(self, max_block: int) -> None:
        self._pending = np.zeros(max_block + BLEP_TAPS)
        self._taps = np.arange(BLEP_TAPS)

    def reset(self) -> None:
        self._pending.fill(0.0)

    def add(self, table: np.ndarray, index: np.ndarray, distance: np.ndarray, size: np.ndarray) -> None:
        """Correct for discontinuities ``distance`` samples before samples ``index``."""
        if index.size == 0:
            return
        position = distance * BLEP_OVERSAMPLE
        row = np.minimum(position.astype(np.intp), BLEP_OVERSAMPLE - 1)
        fraction = (position - row)[:, None]
        values = table[row] * (1.0 - fraction) + table[row + 1] * fraction
        values *= size[:, None]
        targets = (index[:, None] + self._taps).ravel()
        sums = np.bincount(targets, weights=values.ravel())
        self._pending[: len(sums)] += sums

    def apply(self, out: np.ndarray) -> None:
        """Add the corrections due in this block to ``out``; carry the rest to the next."""
        frames = len(out)
        out += self._pending[:frames]
        self._pending[:BLEP_TAPS] = self._pending[frames : frames + BLEP_TAPS]
        self._pending[BLEP_TAPS : frames + BLEP_TAPS] = 0.0


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
        self.step_table, self.ramp_table, self.ramp_delay = blep_tables()
        self._widths = np.zeros(max_block + 1, dtype=np.int64)
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
        cycles = self.accumulator.cycles_per_sample(params["frequency_hz"], self.sample_rate, frames)
        steps, phases = self.accumulator.advance(cycles)
        waveform = params["waveform"]
        if waveform == "saw":
            self._saw(steps, phases, out)
        elif waveform == "square":
            self._square(phases, params["pulse_width"], out)
        elif waveform == "triangle":
            self._triangle(steps, phases, out)
        else:
            np.multiply(phases[1:] & PHASE_MASK, 2.0 * np.pi * PHASE_SCALE, out=out)
            np.sin(out, out=out)
        self.band_limiter.apply(out)
        np.multiply(out, params["amplitude"], out=out)

    def _saw(self, steps: np.ndarray, phases: np.ndarray, out: np.ndarray) -> None:
        half = PHASE_ONE >> 1
        np.multiply((phases[1:] + half) & PHASE_MASK, 2.0 * PHASE_SCALE, out=out)
        out -= 1.0
        # The BLEP delays the jumps by the kernel's ramp_delay; delay the ramp as much (a
        # ramp late by d is the ramp minus slope * d), else the saw gains a DC of 2 * f * d.
        out -= steps * (2.0 * self.ramp_delay * PHASE_SCALE)
        index, count, distance = wraps(phases, half)
        self.band_limiter.add(self.step_table, index, distance, -2.0 * count)

    def _square(self, phases: np.ndarray, pulse_width: ParamValue, out: np.ndarray) -> None:
        frames = len(out)
        widths = self._widths[: frames + 1]
        widths[0] = self.last_width
        widths[1:] = np.rint(np.clip(np.nan_to_num(pulse_width, nan=0.5), 0.01, 0.99) * PHASE_ONE)
        self.last_width = int(widths[-1])
        # High while the phase is under the width: whole cycles passed minus falls passed.
        high = (phases[1:] >> PHASE_BITS) - ((phases[1:] - widths[1:]) >> PHASE_BITS)
        np.multiply(widths[1:], -2.0 * PHASE_SCALE, out=out)
        out += 2.0 * high
        index, count, distance = wraps(phases)
        self.band_limiter.add(self.step_table, index, distance, 2.0 * count)
        index, count, distance = wraps(phases, -widths)
        self.band_limiter.add(self.step_table, index, distance, -2.0 * count)

    def _triangle(self, steps: np.ndarray, phases: np.ndarray, out: np.ndarray) -> None:
        # Read the naive wave ramp_delay samples late, as the BLAMP residual expects.
        quarter = PHASE_ONE >> 2
        np.multiply(phases[1:] & PHASE_MASK, PHASE_SCALE, out=out)
        out -= steps * (self.ramp_delay * PHASE_SCALE)
        out += 0.25
        out -= np.floor(out)
        out -= 0.5
        np.abs(out, out=out)
        out *= -4.0
        out += 1.0
        slopes = np.diff(phases) * PHASE_SCALE
        for offset, turn in ((quarter, 8.0), (-quarter, -8.0)):
            index, count, distance = wraps(phases, offset)
            self.band_limiter.add(self.ramp_table, index, distance, turn * count * slopes[index])


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
    return sections, float(gain)


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
            out[:], self.pink_state = scipy.signal.sosfilt(self.sections, out, zi=self.pink_state)
            out *= self.pink_gain
        np.multiply(out, params["amplitude"], out=out)
