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

The DSP runs sample by sample in compiled kernels (``patcher.kernels``): each sample moves
the phase on by its own integer step, and where the phase (or the phase minus the pulse
width) passes a whole cycle between two samples, the BLEP residual is added to the samples
from there on, in a ring of ``BLEP_TAPS`` pending corrections.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from patcher.compiled import entry
from patcher.kernels import kernel
from patcher.spec import Node, Param, ParamValue

Signals = Mapping[str, np.ndarray]

PHASE_BITS = 40
PHASE_ONE = 1 << PHASE_BITS
PHASE_MASK = PHASE_ONE - 1
PHASE_SCALE = 1.0 / PHASE_ONE
PHASE_HALF = PHASE_ONE >> 1
PHASE_QUARTER = PHASE_ONE >> 2
#: Phase units to radians.
RADIANS_PER_PHASE = 2.0 * np.pi * PHASE_SCALE
#: Fastest phase step: faster instantaneous frequencies are clamped just under Nyquist.
MAX_CYCLES_PER_SAMPLE = 0.49
MAX_STEP = MAX_CYCLES_PER_SAMPLE * PHASE_ONE

BLEP_TAPS = 32
BLEP_OVERSAMPLE = 128
BLEP_CUTOFF = 0.44
BLEP_KAISER_BETA = 7.0

WAVEFORMS = ("sine", "triangle", "saw", "square")
#: The waveforms' numbers in the kernel (their places in WAVEFORMS).
SINE, TRIANGLE, SAW, SQUARE = range(len(WAVEFORMS))


def naive_wave(shape: str, phase: np.ndarray, pulse_width: ParamValue = 0.5) -> np.ndarray:
    """The ideal (not band-limited) waveform at ``phase`` in cycles, as the oscillator draws it.

    Every shape crosses zero rising (or, for the square, steps up) at phase 0, like a sine;
    the saw jumps down at half a cycle. The square is DC-free: ``1 - pw`` high, ``-pw`` low,
    times two. Used for the editor's previews (the oscillator's and the LFO's).
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


@kernel
def phase_step(frequency_hz: float, steps_per_hz: float) -> int:
    """The integer phase step of one sample at ``frequency_hz`` (``steps_per_hz`` is
    ``PHASE_ONE / sample_rate``): NaN gives 0, and it is clamped just under Nyquist."""
    step = frequency_hz * steps_per_hz
    if step != step:
        step = 0.0
    return np.int64(np.rint(min(max(step, -MAX_STEP), MAX_STEP)))


@kernel
def cycles_passed(before: int, after: int) -> int:
    """How many whole cycles an unwrapped phase passed going from ``before`` to ``after``
    (negative when running backwards): the difference of their whole parts."""
    return (after >> PHASE_BITS) - (before >> PHASE_BITS)


@kernel
def pulse_width_phase(pulse_width: float) -> int:
    """A pulse width in phase units: NaN gives 0.5, and it is clamped to 0.01..0.99."""
    if pulse_width != pulse_width:
        pulse_width = 0.5
    return np.int64(np.rint(min(max(pulse_width, 0.01), 0.99) * PHASE_ONE))


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


@kernel
def _crossing_distance(before: int, after: int) -> float:
    """How long before ``after`` the phase crossed a cycle's boundary, in samples (0 to 1),
    by linear interpolation between the two samples' phases."""
    within = after & PHASE_MASK
    past = within if after > before else PHASE_ONE - within
    return min(max(past / abs(after - before), 0.0), 1.0)


@kernel
def _add_residual(
    pending: np.ndarray, now: int, residual: np.ndarray, before: int, after: int, size: float
) -> None:
    """Add ``size`` times the residual of an edge between phases ``before`` and ``after``
    into the ring of ``pending`` corrections (``now`` is the current sample's slot).

    The residual is read between two rows of the oversampled table, linearly interpolated.
    """
    position = _crossing_distance(before, after) * BLEP_OVERSAMPLE
    row = int(position)
    following = min(row + 1, BLEP_OVERSAMPLE)  # the last row is its own neighbour
    late = (position - row) * size
    early = size - late
    for tap in range(BLEP_TAPS):
        pending[(now + tap) % BLEP_TAPS] += early * residual[row, tap] + late * residual[following, tap]


@kernel
def _oscillator_kernel(
    waveform: int,
    frequency_hz: np.ndarray,
    amplitude: np.ndarray,
    pulse_width: np.ndarray,
    steps_per_hz: float,
    ramp_delay: float,
    residual: np.ndarray,
    state: np.ndarray,
    pending: np.ndarray,
    out: np.ndarray,
) -> None:
    """One block of the band-limited oscillator.

    ``state`` holds the phase, the last sample's step, the last pulse width (in phase units)
    and the ring slot of the current sample in ``pending``; ``residual`` is the BLEP table
    (the BLAMP table for the triangle), whose low frequencies lag by ``ramp_delay`` samples.
    Where the phase passes a whole cycle (shifted to where the wave has its edge), the
    residual of the jump (or of the change of slope) is added from that sample on.
    """
    phase, last_step, last_width, now = state[0], state[1], state[2], state[3]
    # The BLEP delays the jumps by ramp_delay; the saw's and triangle's ramps are read as
    # late (a ramp late by d is the ramp minus slope * d), else the saw gains a DC of 2 f d.
    saw_delay = 2.0 * ramp_delay * PHASE_SCALE
    triangle_delay = ramp_delay * PHASE_SCALE
    for i in range(len(out)):
        step = phase_step(frequency_hz[i], steps_per_hz)
        before = phase - last_step  # the previous sample's phase, unwrapped against this one
        if waveform == SINE:
            value = np.sin(phase * RADIANS_PER_PHASE)
        elif waveform == SAW:  # 2 frac(phase + 1/2) - 1: down by 2 at each half cycle
            value = ((phase + PHASE_HALF) & PHASE_MASK) * (2.0 * PHASE_SCALE) - 1.0 - step * saw_delay
            falls = cycles_passed(before + PHASE_HALF, phase + PHASE_HALF)
            if falls:
                _add_residual(pending, now, residual, before + PHASE_HALF, phase + PHASE_HALF, -2.0 * falls)
        elif waveform == SQUARE:  # 2 (1 - width) while the phase is under the width, else -2 width
            width = pulse_width_phase(pulse_width[i])
            value = -width * (2.0 * PHASE_SCALE)
            if (phase & PHASE_MASK) < width:
                value += 2.0
            rises = cycles_passed(before, phase)  # up by 2 at each whole cycle
            if rises:
                _add_residual(pending, now, residual, before, phase, 2.0 * rises)
            falls = cycles_passed(before - last_width, phase - width)  # down by 2 at the width
            if falls:
                _add_residual(pending, now, residual, before - last_width, phase - width, -2.0 * falls)
            last_width = width
        else:  # triangle: 1 - 4 |w - round(w)| with w = phase - 1/4, read ramp_delay late
            late = (phase & PHASE_MASK) * PHASE_SCALE - step * triangle_delay - 0.25
            value = np.abs(late - np.rint(late)) * -4.0 + 1.0
            # Its slope (+-4 a cycle) turns by -8 at a quarter cycle and by +8 at three quarters:
            # a change of slope per sample of 8 times the step across the corner.
            bend = 8.0 * (last_step * PHASE_SCALE)
            peaks = cycles_passed(before + PHASE_QUARTER, phase + PHASE_QUARTER)
            if peaks:
                _add_residual(
                    pending, now, residual, before + PHASE_QUARTER, phase + PHASE_QUARTER, peaks * bend
                )
            troughs = cycles_passed(before - PHASE_QUARTER, phase - PHASE_QUARTER)
            if troughs:
                _add_residual(
                    pending, now, residual, before - PHASE_QUARTER, phase - PHASE_QUARTER, -troughs * bend
                )
        out[i] = (value + pending[now]) * amplitude[i]
        pending[now] = 0.0  # the slot comes round again BLEP_TAPS samples on
        now = (now + 1) % BLEP_TAPS
        last_step = step
        phase = (phase + step) & PHASE_MASK
    state[0], state[1], state[2], state[3] = phase, last_step, last_width, now


def as_signal(value: ParamValue, scratch: np.ndarray, frames: int) -> np.ndarray:
    """A modulatable param as a kernel takes it: the engine's array, or a plain number (from
    a direct caller) filled into ``scratch``."""
    if isinstance(value, np.ndarray):
        return value
    signal = scratch[:frames]
    signal.fill(value)
    return signal


@entry(arrays=7, ints=1, floats=2)
def _oscillator_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    residual = arrays[3].reshape((BLEP_OVERSAMPLE + 1, BLEP_TAPS))
    phase_state = arrays[4].view(np.int64)
    _oscillator_kernel(
        ints[0],
        arrays[0],
        arrays[1],
        arrays[2],
        floats[0],
        floats[1],
        residual,
        phase_state,
        arrays[5],
        arrays[6],
    )


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
        self.ramp_delay = blep_tables()[2]
        #: phase, last step, last pulse width (phase units), ring slot of the current sample
        self.phase_state = np.zeros(4, dtype=np.int64)
        self.pending = np.zeros(BLEP_TAPS)
        self.constants = np.zeros((3, max_block))  # the params, when passed as numbers
        self.steps_per_hz = PHASE_ONE / sample_rate
        self._choose_waveform(self.params["waveform"])
        super().prepare(sample_rate, max_block)

    def reset(self) -> None:
        start = round(self.params["phase_deg"] / 360.0 % 1.0 * PHASE_ONE) & PHASE_MASK
        self.phase_state[:] = (start, 0, round(0.5 * PHASE_ONE), 0)
        self.pending.fill(0.0)

    def param_changed(self, name: str, value: Any) -> None:
        super().param_changed(name, value)
        if name == "waveform":
            self._choose_waveform(value)

    def _choose_waveform(self, waveform: str) -> None:
        self.waveform = WAVEFORMS.index(waveform)
        step_residual, ramp_residual, _delay = blep_tables()
        # The triangle's corners are changes of slope (BLAMPs); the other edges are jumps.
        self.residual = ramp_residual if waveform == "triangle" else step_residual

    @classmethod
    def waveform_preview(cls, params: Mapping[str, Any], points: int = 256) -> np.ndarray:
        """One cycle of the (ideal) waveform from ``phase_deg``, scaled by amplitude."""
        values = {name: param.default for name, param in cls.PARAMS.items()} | dict(params)
        phase = np.arange(points) / points + values["phase_deg"] / 360.0
        return values["amplitude"] * naive_wave(values["waveform"], phase, values["pulse_width"])

    ENTRY = _oscillator_entry

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        _oscillator_kernel(*self.kernel_arguments(inputs, params, outputs))

    def kernel_arguments(
        self, inputs: Signals, params: Mapping[str, Any], outputs: Signals
    ) -> tuple[Any, ...]:
        out = outputs["out"]
        frames = len(out)
        constants = self.constants
        return (
            self.waveform,
            as_signal(params["frequency_hz"], constants[0], frames),
            as_signal(params["amplitude"], constants[1], frames),
            as_signal(params["pulse_width"], constants[2], frames),
            self.steps_per_hz,
            self.ramp_delay,
            self.residual,
            self.phase_state,
            self.pending,
            out,
        )


@functools.cache
def pink_filter(sample_rate: int) -> tuple[np.ndarray, float]:
    """Second-order sections turning white into pink noise, and a gain for RMS 1/4.

    Real poles one octave apart from 20 Hz, each with a zero half an octave above it, average
    -3 dB/octave (within about 1 dB up to 20 kHz at 44.1 kHz, much closer at higher rates);
    placed by the matched-z transform, so any sample rate gets the same curve.
    """
    import scipy.signal  # here, not at the top: only pink noise needs it, and it is slow to import

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


#: PCG64's multiplier (O'Neill's 128-bit LCG constant), as numpy's generator uses it, in halves.
_PCG_MULTIPLIER_HIGH = np.uint64(0x2360ED051FC65DA4)
_PCG_MULTIPLIER_LOW = np.uint64(0x4385DF649FCCF645)
_LOW_32 = np.uint64(0xFFFFFFFF)


def random_state(seed: int) -> np.ndarray:
    """numpy's ``default_rng(seed)`` as four int64 words (state high, low; increment high, low):
    the compiled draws below continue its sequence exactly."""
    bits = np.random.default_rng(seed).bit_generator.state["state"]
    words = [bits["state"] >> 64, bits["state"], bits["inc"] >> 64, bits["inc"]]
    return np.array([word & (2**64 - 1) for word in words], dtype=np.uint64).view(np.int64)


@kernel
def _multiply_64(a: np.uint64, b: np.uint64) -> tuple[np.uint64, np.uint64]:
    """The 128-bit product of two 64-bit words, as (high, low)."""
    thirty_two = np.uint64(32)
    a_low, a_high, b_low, b_high = a & _LOW_32, a >> thirty_two, b & _LOW_32, b >> thirty_two
    low_low, low_high, high_low = a_low * b_low, a_low * b_high, a_high * b_low
    middle = (low_low >> thirty_two) + (low_high & _LOW_32) + (high_low & _LOW_32)
    low = (low_low & _LOW_32) | (middle << thirty_two)
    high = a_high * b_high + (low_high >> thirty_two) + (high_low >> thirty_two) + (middle >> thirty_two)
    return high, low


@kernel
def _draw_uniform(random: np.ndarray, out: np.ndarray) -> None:
    """``out`` filled as numpy's ``Generator.random(out=out)`` fills it from a PCG64 in the same
    state (``random``, four words), the state advanced: the LCG steps (mod 2^128), its XSL-RR
    output's top 53 bits make a double in [0, 1)."""
    words = random.view(np.uint64)
    high, low, increment_high, increment_low = words[0], words[1], words[2], words[3]
    one, rotation_bits, mantissa_shift = np.uint64(1), np.uint64(58), np.uint64(11)
    for i in range(len(out)):
        product_high, product_low = _multiply_64(low, _PCG_MULTIPLIER_LOW)
        product_high += high * _PCG_MULTIPLIER_LOW + low * _PCG_MULTIPLIER_HIGH
        low = product_low + increment_low
        high = product_high + increment_high + (one if low < product_low else np.uint64(0))
        folded, rotation = high ^ low, high >> rotation_bits
        output = (folded >> rotation) | (folded << ((np.uint64(64) - rotation) & np.uint64(63)))
        out[i] = float(output >> mantissa_shift) * (1.0 / 9007199254740992.0)
    words[0], words[1] = high, low


@kernel
def _noise_kernel(
    random: np.ndarray,
    pink: bool,
    sections: np.ndarray,
    gain: float,
    state: np.ndarray,
    amplitude: np.ndarray,
    out: np.ndarray,
) -> None:
    """Uniform draws (0 to 1, from the generator state ``random``) made white noise (-1 to 1)
    or, with ``pink``, filtered by second-order ``sections`` (``state`` their memory) and
    scaled by ``gain``; then by ``amplitude``."""
    _draw_uniform(random, out)
    for i in range(len(out)):
        sample = out[i] * 2.0 - 1.0
        if pink:
            # Each section in transposed direct form II, as scipy.signal.sosfilt runs it.
            for section in range(len(sections)):
                b0, b1, b2 = sections[section, 0], sections[section, 1], sections[section, 2]
                a1, a2 = sections[section, 4], sections[section, 5]  # a0 is 1
                filtered = b0 * sample + state[section, 0]
                state[section, 0] = b1 * sample - a1 * filtered + state[section, 1]
                state[section, 1] = b2 * sample - a2 * filtered
                sample = filtered
            sample *= gain
        out[i] = sample * amplitude[i]


@entry(arrays=5, ints=1, floats=1)
def _noise_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    sections, state = arrays[1].reshape((-1, 6)), arrays[2].reshape((-1, 2))
    _noise_kernel(arrays[0].view(np.int64), ints[0] != 0, sections, floats[0], state, arrays[3], arrays[4])


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
        self.pink = self.params["color"] == "pink"
        # The pink filter is designed (with scipy) only once pink is asked for.
        self.sections, self.pink_gain, self.pink_state = np.zeros((0, 6)), 1.0, np.zeros((0, 2))
        if self.pink:
            self.sections, self.pink_gain, self.pink_state = self._pink_filter(sample_rate)
        self.constants = np.zeros(max_block)  # amplitude, when passed as a number
        self.random = np.zeros(4, dtype=np.int64)  # the generator's state (see random_state)
        super().prepare(sample_rate, max_block)

    def reset(self) -> None:
        self.random[:] = random_state(int(self.params["seed"]))
        self.pink_state.fill(0.0)

    def prepare_change(self, name: str, value: Any, params: Mapping[str, Any]) -> Any:
        if name == "color" and value == "pink" and not len(self.sections):
            return self._pink_filter(self.sample_rate)
        return None

    def install_change(self, name: str, value: Any, prepared: Any) -> None:
        if prepared is not None and not len(self.sections):  # (two quick edits may prepare two)
            self.sections, self.pink_gain, self.pink_state = prepared
        self.param_changed(name, value)

    def param_changed(self, name: str, value: Any) -> None:
        super().param_changed(name, value)
        if name == "seed":
            self.random[:] = random_state(int(value))
        elif name == "color":
            self.pink = value == "pink"
            if self.pink and not len(self.sections):  # offline: design it here and now
                self.sections, self.pink_gain, self.pink_state = self._pink_filter(self.sample_rate)

    @staticmethod
    def _pink_filter(sample_rate: int) -> tuple[np.ndarray, float, np.ndarray]:
        """The pink filter's sections, gain and (zeroed) state."""
        sections, gain = pink_filter(int(sample_rate))
        return sections, gain, np.zeros((len(sections), 2))

    ENTRY = _noise_entry

    def kernel_arguments(
        self, inputs: Signals, params: Mapping[str, Any], outputs: Signals
    ) -> tuple[Any, ...]:
        out = outputs["out"]
        amplitude = as_signal(params["amplitude"], self.constants, len(out))
        # Each sample is the generator's next draw, so chunking never changes the stream.
        return self.random, self.pink, self.sections, self.pink_gain, self.pink_state, amplitude, out

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        _noise_kernel(*self.kernel_arguments(inputs, params, outputs))
