"""Sources: the band-limited oscillator and the seeded noise, checked as DSP."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
import scipy.signal

import nodes.sources
from nodes.sources import Noise, Oscillator, naive_wave, pink_filter
from patcher.spec import Node, node_class
from tests.nodetools import run_node
from tests.reference_nodes.sources import ReferenceNoise, ReferenceOscillator

RATE = 48000
WAVEFORMS = ("sine", "triangle", "saw", "square")


def _spectrum_db(signal: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Blackman-Harris magnitude spectrum in dB relative to its peak, and its frequencies."""
    window = scipy.signal.windows.blackmanharris(len(signal))
    magnitude = np.abs(np.fft.rfft(signal * window))
    return np.fft.rfftfreq(len(signal), 1 / sample_rate), 20 * np.log10(magnitude / magnitude.max() + 1e-30)


def _render(
    params: dict, seconds: float = 1.0, sample_rate: int = RATE, settle: int = 0, **kwargs
) -> np.ndarray:
    frames = int(seconds * sample_rate) + settle
    return run_node("oscillator", params, frames=frames, sample_rate=sample_rate, **kwargs)["out"][settle:]


def _analytic_phase(frequency_hz: np.ndarray, sample_rate: int = RATE) -> np.ndarray:
    """Cycles at each sample when sample i moves the phase on by frequency_hz[i] / rate."""
    return np.concatenate(([0.0], np.cumsum(frequency_hz[:-1]))) / sample_rate


# -- oscillator: band-limiting ------------------------------------------------------------
@pytest.mark.parametrize("sample_rate", [44100, 48000, 96000])
@pytest.mark.parametrize("waveform", ["saw", "square", "triangle"])
def test_5khz_wave_keeps_aliases_40_db_under_the_fundamental(waveform: str, sample_rate: int) -> None:
    fundamental = 5000.0
    signal = _render(
        {"waveform": waveform, "frequency_hz": fundamental, "amplitude": 1.0}, 1.0, sample_rate, 4800
    )
    frequencies, level = _spectrum_db(signal, sample_rate)
    harmonics = np.zeros(len(frequencies), dtype=bool)
    for k in range(int(sample_rate / 2 / fundamental) + 1):
        harmonics |= np.abs(frequencies - k * fundamental) <= 6.0  # the window's main lobe
    worst = int(np.argmax(np.where(harmonics, -np.inf, level)))
    assert level[worst] <= -40.0, (
        f"{waveform} at {sample_rate} Hz: alias at {frequencies[worst]:.0f} Hz is only "
        f"{-level[worst]:.1f} dB under the fundamental"
    )


def test_the_alias_test_would_catch_a_naive_saw() -> None:
    phase = np.arange(RATE) * 5000.0 / RATE
    frequencies, level = _spectrum_db(naive_wave("saw", phase), RATE)
    near_23k = level[np.abs(frequencies - 23000.0) <= 2]
    assert near_23k.max() > -40.0, "a naive saw should alias above -40 dB (else the test proves nothing)"


@pytest.mark.parametrize(
    ("waveform", "expected"),
    [
        ("saw", lambda k: 2 / (np.pi * k)),
        ("square", lambda k: 4 / (np.pi * k) * (k % 2)),
        ("triangle", lambda k: 8 / (np.pi * k) ** 2 * (k % 2)),
    ],
)
def test_harmonics_have_the_ideal_fourier_amplitudes(waveform: str, expected) -> None:
    signal = _render({"waveform": waveform, "frequency_hz": 1000.0, "amplitude": 1.0}, 1.0, settle=480)
    window = scipy.signal.windows.hann(len(signal))
    spectrum = np.abs(np.fft.rfft(signal * window)) * 2 / window.sum()
    for k in range(1, 11):  # up to 10 kHz, well inside the band-limiting kernel's passband
        assert spectrum[1000 * k] == pytest.approx(expected(k), abs=2e-3), f"{waveform} harmonic {k}"


# -- oscillator: pitch, phase, FM and AM --------------------------------------------------
def test_sine_spectral_peak_is_at_440_hz() -> None:
    frequencies, level = _spectrum_db(_render({"frequency_hz": 440.0}), RATE)
    peak = int(np.argmax(level))
    # Parabolic interpolation of the log magnitude around the peak bin.
    left, centre, right = level[peak - 1 : peak + 2]
    offset = 0.5 * (left - right) / (left - 2 * centre + right)
    measured = frequencies[peak] + offset * (frequencies[1] - frequencies[0])
    assert measured == pytest.approx(440.0, abs=0.05), f"sine peak at {measured:.3f} Hz"


def test_sine_follows_linear_fm_through_zero_exactly() -> None:
    frames = 9600
    time = np.arange(frames) / RATE
    modulator = 700.0 * np.sin(2 * np.pi * 150.0 * time)  # deviation past the carrier: through zero
    out = run_node(
        "oscillator", {"frequency_hz": 440.0, "amplitude": 0.5}, {"frequency_hz": modulator}, frames=frames
    )
    expected = 0.5 * np.sin(2 * np.pi * _analytic_phase(440.0 + modulator))
    np.testing.assert_allclose(out["out"], expected, atol=1e-7, err_msg="FM sine differs from sin(2π∫f)")


def test_sine_follows_amplitude_modulation_exactly() -> None:
    frames = 4800
    modulator = 0.4 * np.sin(2 * np.pi * 30.0 * np.arange(frames) / RATE)
    out = run_node(
        "oscillator", {"frequency_hz": 1000.0, "amplitude": 0.5}, {"amplitude": modulator}, frames=frames
    )
    expected = (0.5 + modulator) * np.sin(2 * np.pi * np.arange(frames) * 1000.0 / RATE)
    # 1000/48000 is not a whole number of 2**-40 phase steps: allow the rounding's drift.
    np.testing.assert_allclose(out["out"], expected, atol=1e-7, err_msg="AM sine differs from (a + m) sin")


def test_frequency_beyond_nyquist_is_clamped_not_aliased_or_broken() -> None:
    frames = 2000
    modulator = np.full(frames, 1e9)
    modulator[::7] = np.nan
    out = run_node(
        "oscillator", {"frequency_hz": 1000.0, "amplitude": 1.0}, {"frequency_hz": modulator}, frames=frames
    )
    assert np.all(np.isfinite(out["out"])), "a NaN or huge frequency must not poison the phase"
    assert np.max(np.abs(out["out"])) <= 1.0 + 1e-12


@pytest.mark.parametrize("waveform", ["sine", "triangle"])
def test_frequency_step_keeps_the_phase_continuous(waveform: str) -> None:
    frames, step_at = 4000, 1999  # not on a block boundary
    modulator = np.zeros(frames)
    modulator[step_at:] = 660.0  # 440 Hz -> 1100 Hz
    out = run_node(
        "oscillator",
        {"waveform": waveform, "frequency_hz": 440.0, "amplitude": 1.0},
        {"frequency_hz": modulator},
        frames=frames,
        block=64,
    )["out"]
    steady = _render({"waveform": waveform, "frequency_hz": 1100.0, "amplitude": 1.0}, 0.05, settle=480)
    allowed = np.max(np.abs(np.diff(steady))) * 1.02  # the fastest the wave moves on its own
    worst = np.max(np.abs(np.diff(out[step_at - 200 : step_at + 200])))
    assert worst <= allowed, (
        f"{waveform}: jump of {worst:.4f} at the frequency step (slope allows {allowed:.4f})"
    )


def test_phase_deg_sets_the_start_phase() -> None:
    out = run_node("oscillator", {"frequency_hz": 100.0, "amplitude": 1.0, "phase_deg": 90.0}, frames=480)[
        "out"
    ]
    assert out[0] == pytest.approx(1.0), "a sine at 90 degrees starts at its peak"
    expected = np.cos(2 * np.pi * 100.0 * np.arange(480) / RATE)
    np.testing.assert_allclose(out, expected, atol=1e-9)


@pytest.mark.parametrize("pulse_width", [0.1, 0.25, 0.5, 0.8])
def test_pulse_width_sets_the_duty_cycle_and_stays_dc_free(pulse_width: float) -> None:
    out = _render(
        {"waveform": "square", "frequency_hz": 100.0, "pulse_width": pulse_width, "amplitude": 1.0}, 0.5
    )
    high = np.mean(out > 0.0)
    assert high == pytest.approx(pulse_width, abs=0.01), (
        f"pulse_width {pulse_width}: high {high:.3f} of the time"
    )
    assert abs(np.mean(out)) < 1e-3, f"pulse_width {pulse_width}: DC of {np.mean(out):.4f}"


@pytest.mark.parametrize("waveform", WAVEFORMS)
@pytest.mark.parametrize("frequency_hz", [50.0, 1000.0, 6000.0])
def test_waveforms_are_dc_free_and_near_their_amplitude(waveform: str, frequency_hz: float) -> None:
    # A whole number of cycles after the first 0.01 s.
    out = _render({"waveform": waveform, "frequency_hz": frequency_hz, "amplitude": 0.5}, 0.2, settle=480)
    assert abs(np.mean(out)) < 1e-3, f"{waveform} at {frequency_hz} Hz has a DC of {np.mean(out):.4f}"
    # Minimum-phase band-limiting rings after each edge and shifts the phase of the top
    # harmonics: a high square peaks up to ~1.6 times its amplitude (a linear-phase BLEP would
    # ring less but needs look-ahead, i.e. latency).
    assert np.max(np.abs(out)) <= 0.5 * 1.6, (
        f"{waveform} at {frequency_hz} Hz peaks at {np.max(np.abs(out)):.3f}"
    )


@pytest.mark.parametrize("waveform", WAVEFORMS)
def test_modulated_output_does_not_depend_on_block_size(waveform: str) -> None:
    frames = 5000
    rng = np.random.default_rng(3)
    sweep = np.cumsum(rng.uniform(0.0, 0.05, frames))
    inputs = {
        "frequency_hz": 3000.0 * np.sin(2 * np.pi * sweep) + rng.normal(0.0, 500.0, frames),
        "pulse_width": 0.45 * np.sin(np.arange(frames) * 0.01) + rng.normal(0.0, 0.05, frames),
        "amplitude": 0.3 * np.sin(np.arange(frames) * 0.003),
    }
    params = {"waveform": waveform, "frequency_hz": 800.0}
    reference = run_node("oscillator", params, inputs, frames=frames, block=256)["out"]
    for block in (1, 64, 65, 1024):
        result = run_node("oscillator", params, inputs, frames=frames, block=block)["out"]
        np.testing.assert_allclose(
            result, reference, rtol=0, atol=1e-9, err_msg=f"{waveform} at block {block}"
        )


def _run_with_arrays(
    type_name: str, params: dict, as_arrays: tuple[str, ...], frames: int, block: int, every: int
) -> np.ndarray:
    """Run a node with the params ``as_arrays`` passed as constant arrays every ``every``th block
    (as floats otherwise), into output buffers full of NaN: what a float param gives must not
    depend on which path (constant or per-sample) computed it, nor on what the buffer held."""
    cls = node_class(type_name)
    assert cls is not None
    node = cls(params)
    node.linked = frozenset(as_arrays)
    node.prepare(RATE, block)
    result = np.zeros(frames)
    for number, start in enumerate(range(0, frames, block)):
        stop = min(start + block, frames)
        block_params = dict(node.params)
        if number % every == 0:
            for name in as_arrays:
                block_params[name] = np.full(stop - start, float(node.params[name]))
        out = np.full(stop - start, np.nan)
        node.process({}, block_params, {"out": out})
        result[start:stop] = out
    return result


@pytest.mark.parametrize("every", [1, 2, 3])
@pytest.mark.parametrize("block", [1, 64, 65])
@pytest.mark.parametrize("frequency_hz", [110.0, 5000.0, 30000.0, -700.0, -30000.0])
@pytest.mark.parametrize("waveform", WAVEFORMS)
def test_constant_params_give_what_the_same_params_as_signals_give(
    waveform: str, frequency_hz: float, block: int, every: int
) -> None:
    # 30 kHz is clamped just under Nyquist: an edge almost every sample, found as arrays.
    frames = 1500
    params = {"waveform": waveform, "frequency_hz": frequency_hz, "pulse_width": 0.3, "phase_deg": 30.0}
    reference = run_node("oscillator", params, frames=frames, block=block)["out"]
    result = _run_with_arrays(
        "oscillator", params, ("frequency_hz", "pulse_width", "amplitude"), frames, block, every
    )
    np.testing.assert_allclose(
        result, reference, rtol=0, atol=1e-12, err_msg=f"{waveform} at {frequency_hz} Hz, block {block}"
    )


def test_reset_restarts_the_waveform() -> None:
    node = Oscillator({"waveform": "saw", "frequency_hz": 3000.0})
    node.prepare(RATE, 256)
    first, second = np.zeros(256), np.zeros(256)
    node.process({}, node.params, {"out": first})
    node.reset()
    node.process({}, node.params, {"out": second})
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("waveform", WAVEFORMS)
def test_preview_draws_one_cycle_like_the_oscillator(waveform: str) -> None:
    params = {"waveform": waveform, "amplitude": 0.8, "phase_deg": 45.0, "pulse_width": 0.3}
    preview = Oscillator.waveform_preview(params, points=200)
    assert preview.shape == (200,)
    # At 1 Hz the band-limited wave is the ideal one away from the edges.
    rendered = run_node("oscillator", params | {"frequency_hz": 1.0}, frames=200, sample_rate=200)["out"]
    close = np.abs(preview - rendered) < 0.05
    assert np.mean(close) >= 0.85, (
        f"{waveform}: preview and render differ on {np.mean(~close):.0%} of the cycle"
    )
    assert np.max(np.abs(preview)) <= 0.8 * (1 + 2 * 0.3) + 1e-12


# -- noise --------------------------------------------------------------------------------
def _noise(params: dict, frames: int = 48000, **kwargs) -> np.ndarray:
    return run_node("noise", params, frames=frames, **kwargs)["out"]


@pytest.mark.parametrize("color", ["white", "pink"])
def test_same_seed_gives_the_same_noise_and_another_seed_does_not(color: str) -> None:
    first = _noise({"color": color, "seed": 7}, 4800)
    np.testing.assert_array_equal(first, _noise({"color": color, "seed": 7}, 4800))
    other = _noise({"color": color, "seed": 8}, 4800)
    assert np.corrcoef(first, other)[0, 1] < 0.1, "seeds 7 and 8 gave correlated noise"


def test_numpy_generator_draws_do_not_depend_on_chunking() -> None:
    whole = np.random.default_rng(5).random(1000)
    chunks, generator = [], np.random.default_rng(5)
    for size in (1, 64, 65, 300, 570):
        chunk = np.zeros(size)
        generator.random(out=chunk)
        chunks.append(chunk)
    np.testing.assert_array_equal(np.concatenate(chunks), whole)


@pytest.mark.parametrize("color", ["white", "pink"])
def test_noise_does_not_depend_on_block_size(color: str) -> None:
    modulator = {"amplitude": 0.2 * np.sin(np.arange(5000) * 0.01)}
    reference = run_node("noise", {"color": color}, modulator, block=256)["out"]
    for block in (1, 64, 65, 1024):
        result = run_node("noise", {"color": color}, modulator, block=block)["out"]
        np.testing.assert_array_equal(result, reference, err_msg=f"{color} at block {block}")


def test_pink_noise_is_scipy_sosfilt_of_the_white_sequence() -> None:
    frames = 3000
    out = run_node("noise", {"color": "pink", "amplitude": 0.7, "seed": 5}, frames=frames, block=64)["out"]
    sections, gain = pink_filter(RATE)
    white = 2.0 * np.random.default_rng(5).random(frames) - 1.0
    np.testing.assert_array_equal(out, scipy.signal.sosfilt(sections, white) * gain * 0.7)


def test_reset_and_a_new_seed_restart_the_sequence() -> None:
    node = Noise({"seed": 3})
    node.prepare(RATE, 128)
    first, again, other = np.zeros(128), np.zeros(128), np.zeros(128)
    node.process({}, node.params, {"out": first})
    node.reset()
    node.process({}, node.params, {"out": again})
    np.testing.assert_array_equal(first, again)
    node.param_changed("seed", 4)
    node.process({}, node.params, {"out": other})
    np.testing.assert_array_equal(other, _noise({"seed": 4}, 128))


def _octave_slope(signal: np.ndarray, sample_rate: int, low: float = 100.0, high: float = 10000.0) -> float:
    frequencies, power = scipy.signal.welch(signal, sample_rate, nperseg=8192)
    band = (frequencies >= low) & (frequencies <= high)
    return float(np.polyfit(np.log2(frequencies[band]), 10 * np.log10(power[band]), 1)[0])


def test_white_noise_is_flat_bounded_and_centred() -> None:
    out = _noise({"color": "white", "amplitude": 0.5}, 4 * RATE, block=4096)
    slope = _octave_slope(out, RATE)
    assert abs(slope) < 0.3, f"white noise slope {slope:+.2f} dB/octave"
    assert np.max(np.abs(out)) <= 0.5
    assert abs(np.mean(out)) < 0.01
    assert np.std(out) == pytest.approx(0.5 / np.sqrt(3), rel=0.02)


@pytest.mark.parametrize("sample_rate", [44100, 48000, 96000])
def test_pink_noise_falls_3_db_per_octave(sample_rate: int) -> None:
    out = _noise({"color": "pink", "amplitude": 1.0}, 6 * sample_rate, sample_rate=sample_rate, block=4096)
    slope = _octave_slope(out, sample_rate)
    assert slope == pytest.approx(-3.0, abs=1.0), (
        f"pink noise slope {slope:+.2f} dB/octave at {sample_rate} Hz"
    )
    frequencies, power = scipy.signal.welch(out, sample_rate, nperseg=8192)
    band = (frequencies >= 100) & (frequencies <= 10000)
    fit = np.polyval(
        np.polyfit(np.log2(frequencies[band]), 10 * np.log10(power[band]), 1), np.log2(frequencies[band])
    )
    smoothed = np.convolve(10 * np.log10(power[band]) - fit, np.ones(31) / 31, mode="valid")
    assert np.max(np.abs(smoothed)) < 1.0, "pink noise spectrum strays over 1 dB from a straight line"
    assert np.std(out[sample_rate:]) == pytest.approx(0.25, rel=0.1), "pink RMS should be amplitude / 4"


# -- the kernels against their numpy references ---------------------------------------------
#: Calls of one size each, and calls of sizes that vary from call to call (as in a feedback loop).
CHUNKINGS = ((1,), (7,), (64,), (65,), (256,), (1024,), (1, 64, 7, 256, 65, 3, 1024))
SAMPLE_RATES = (8000, 44100, 48000, 96000)


def side_by_side(
    node_type: type[Node],
    reference: type[Node],
    params: dict,
    signals: Mapping[str, np.ndarray],
    frames: int,
    chunks: Sequence[int],
    sample_rate: int,
    changes: Mapping[int, Mapping[str, Any]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The outputs of a node type and of its numpy reference, run on the same params and
    signals (added to the set values) in calls of ``chunks`` samples, cycled, into buffers
    full of NaN. ``changes`` maps a sample to the live changes made before it ({name: value},
    prepared then installed as the engine does; "reset": True resets the node), where a call
    ends."""
    changes = changes or {}
    outputs = []
    for cls in (node_type, reference):
        node = cls(params)
        node.linked = frozenset(signals)
        node.prepare(sample_rate, max(chunks))
        out = np.full(frames, np.nan)
        start, sizes = 0, itertools.cycle(chunks)
        while start < frames:
            for name, value in changes.get(start, {}).items():
                if name == "reset":
                    node.reset()
                    continue
                prepared = node.prepare_change(name, value, node.params | {name: value})
                node.install_change(name, value, prepared)
            due = [sample for sample in changes if sample > start]
            stop = min([start + next(sizes), frames, *due])
            block_params = dict(node.params)
            for name, param in cls.PARAMS.items():  # a modulatable param is always an array
                if param.modulatable:
                    block_params[name] = np.full(stop - start, float(node.params[name]))
                    if name in signals:
                        block_params[name] += signals[name][start:stop]
            chunk = np.full(stop - start, np.nan)
            node.process({}, block_params, {"out": chunk})
            out[start:stop] = chunk
            start = stop
        outputs.append(out)
    return outputs[0], outputs[1]


def _oscillator_signals(frames: int, sample_rate: int, seed: int = 4) -> dict[str, np.ndarray]:
    """FM through zero and past Nyquist (clamped), PWM past both limits, NaN here and there."""
    rng = np.random.default_rng(seed)
    sweep = np.sin(np.cumsum(rng.uniform(0.0, 0.01, frames)))
    frequency = 0.6 * sample_rate * sweep + rng.normal(0.0, 0.05 * sample_rate, frames)
    pulse_width = 0.6 * np.sin(np.arange(frames) * 0.013) + rng.normal(0.0, 0.02, frames)
    frequency[::97] = np.nan
    pulse_width[::89] = np.nan
    amplitude = 0.5 * np.sin(np.arange(frames) * 0.002)
    return {"frequency_hz": frequency, "pulse_width": pulse_width, "amplitude": amplitude}


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
@pytest.mark.parametrize("waveform", WAVEFORMS)
def test_oscillator_matches_its_numpy_reference(waveform: str, sample_rate: int) -> None:
    frames = 1200
    params = {
        "waveform": waveform,
        "frequency_hz": 0.37 * sample_rate,
        "pulse_width": 0.3,
        "phase_deg": 100.0,
    }
    for signals in ({}, _oscillator_signals(frames, sample_rate)):
        for chunks in CHUNKINGS:
            result, expected = side_by_side(
                Oscillator, ReferenceOscillator, params, signals, frames, chunks, sample_rate
            )
            np.testing.assert_allclose(
                result,
                expected,
                rtol=0,
                atol=1e-9,
                err_msg=f"{waveform} at {sample_rate} Hz in calls of {chunks}, modulated: {bool(signals)}",
            )


@pytest.mark.parametrize(
    ("frequency_hz", "pulse_width", "amplitude", "phase_deg", "sample_rate"),
    [
        (0.1, 0.01, 1.0, 0.0, 8000),
        (20000.0, 0.99, 1.0, 360.0, 8000),  # far past Nyquist: clamped
        (20000.0, 0.01, 0.0, 360.0, 44100),
        (0.1, 0.99, 1.0, 359.9, 96000),
        (20000.0, 0.5, 1.0, 90.0, 96000),
    ],
)
def test_oscillator_matches_its_reference_at_the_params_extremes(
    frequency_hz: float, pulse_width: float, amplitude: float, phase_deg: float, sample_rate: int
) -> None:
    for waveform in WAVEFORMS:
        params = {
            "waveform": waveform,
            "frequency_hz": frequency_hz,
            "pulse_width": pulse_width,
            "amplitude": amplitude,
            "phase_deg": phase_deg,
        }
        for chunks in ((64,), (65,)):
            result, expected = side_by_side(
                Oscillator, ReferenceOscillator, params, {}, 2000, chunks, sample_rate
            )
            np.testing.assert_allclose(result, expected, rtol=0, atol=1e-9, err_msg=f"{waveform} {params}")


@pytest.mark.parametrize("chunks", [(7,), (64,), (1024,)])
def test_oscillator_matches_its_reference_through_live_changes(chunks: tuple[int, ...]) -> None:
    frames = 6000
    glide = np.zeros(frames)
    glide[1000:3000] = np.linspace(0.0, 4000.0, 2000)  # a frequency ramp, as the engine glides
    glide[3000:] = 4000.0
    width = np.zeros(frames)
    width[2500:4000] = np.linspace(0.0, 0.45, 1500)
    changes = {
        700: {"waveform": "saw"},
        1500: {"waveform": "square"},
        2900: {"waveform": "triangle", "phase_deg": 270.0},
        3333: {"reset": True},
        4100: {"waveform": "sine"},
        5000: {"waveform": "square", "reset": True},
    }
    result, expected = side_by_side(
        Oscillator,
        ReferenceOscillator,
        {"waveform": "triangle", "frequency_hz": 300.0, "pulse_width": 0.4},
        {"frequency_hz": glide, "pulse_width": width},
        frames,
        chunks,
        48000,
        changes,
    )
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-9, err_msg=f"in calls of {chunks}")


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
@pytest.mark.parametrize("color", ["white", "pink"])
def test_noise_matches_its_numpy_reference(color: str, sample_rate: int) -> None:
    frames = 1200
    amplitude = {"amplitude": np.sin(np.arange(frames) * 0.01)}
    for signals in ({}, amplitude):
        for chunks in CHUNKINGS:
            result, expected = side_by_side(
                Noise, ReferenceNoise, {"color": color, "seed": 9}, signals, frames, chunks, sample_rate
            )
            np.testing.assert_allclose(
                result, expected, rtol=0, atol=1e-9, err_msg=f"{color} in calls of {chunks}"
            )


@pytest.mark.parametrize("chunks", [(7,), (64,), (1024,)])
def test_noise_matches_its_reference_through_live_changes(chunks: tuple[int, ...]) -> None:
    frames = 6000
    changes = {
        900: {"color": "pink"},
        2000: {"seed": 12},
        2600: {"color": "white"},
        3100: {"color": "pink"},  # the filter goes on from where it was
        4000: {"reset": True},
        5000: {"seed": 3, "color": "white"},
    }
    glide = np.linspace(0.0, 0.5, frames)
    result, expected = side_by_side(
        Noise, ReferenceNoise, {"seed": 5}, {"amplitude": glide}, frames, chunks, 44100, changes
    )
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-9, err_msg=f"in calls of {chunks}")


def test_noise_designs_its_pink_filter_before_the_audio_thread_takes_it() -> None:
    node = Noise({"color": "white"})
    node.prepare(RATE, 64)
    prepared = node.prepare_change("color", "pink", node.params | {"color": "pink"})
    assert prepared is not None, "white to pink should bring the filter, designed on the caller's thread"
    assert len(node.sections) == 0, "preparing must not touch what the audio thread reads"
    node.install_change("color", "pink", prepared)
    assert node.sections is prepared[0]
    out = np.zeros(64)
    node.process({}, {"amplitude": np.full(64, 1.0)}, {"out": out})
    sections, gain = pink_filter(RATE)
    white = 2.0 * np.random.default_rng(1).random(64) - 1.0
    np.testing.assert_allclose(out, scipy.signal.sosfilt(sections, white) * gain, rtol=0, atol=1e-12)


def test_white_noise_designs_no_pink_filter(monkeypatch) -> None:
    # The design imports scipy.signal, slow to load: a patch with white noise only starts faster.
    def no_design(sample_rate: int) -> None:
        raise AssertionError("white noise designed the pink filter")

    monkeypatch.setattr(nodes.sources, "pink_filter", no_design)
    out = _noise({"color": "white", "seed": 2}, 300, block=64)
    np.testing.assert_array_equal(out, 0.5 * (2.0 * np.random.default_rng(2).random(300) - 1.0))
