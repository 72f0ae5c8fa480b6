"""The filter node: RBJ cookbook responses, measured through the node against scipy's freqz."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.signal import freqz, lfilter

from nodes.filters import CONTROL_PERIOD, FILTER_TYPES, Filter
from tests.nodetools import probe_signal, run_node
from tests.reference_nodes.filters import _linear_filter

SAMPLE_RATES = (44100, 48000, 96000)


def _impulse_response(params: dict, sample_rate: int, frames: int = 16384, block: int = 256) -> np.ndarray:
    impulse = np.zeros(frames)
    impulse[0] = 1.0
    outputs = run_node("filter", params, {"in": impulse}, frames=frames, block=block, sample_rate=sample_rate)
    return outputs["out"]


def _sine_gain_db(params: dict, frequency_hz: float, sample_rate: int) -> float:
    """Steady-state gain of the node for a sine, from a least-squares fit over whole periods."""
    frames = sample_rate  # one second: the transient has died long before the last half
    t = np.arange(frames) / sample_rate
    sine = np.sin(2 * np.pi * frequency_hz * t)
    out = run_node("filter", params, {"in": sine}, sample_rate=sample_rate)["out"]
    tail = slice(frames // 2, frames)
    basis = np.stack([np.sin(2 * np.pi * frequency_hz * t[tail]), np.cos(2 * np.pi * frequency_hz * t[tail])])
    fit, *_ = np.linalg.lstsq(basis.T, out[tail], rcond=None)
    return 20 * np.log10(np.hypot(*fit))


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
@pytest.mark.parametrize("filter_type", FILTER_TYPES)
def test_measured_response_matches_freqz(filter_type: str, sample_rate: int) -> None:
    params = {"type": filter_type, "cutoff_hz": 1500.0, "q": 2.0, "gain_db": 9.0}
    response = np.fft.rfft(_impulse_response(params, sample_rate, block=65))
    frequencies = np.fft.rfftfreq(16384, 1 / sample_rate)
    b, a = Filter.coefficients(filter_type, 1500.0, 2.0, 9.0, sample_rate)
    _, expected = freqz(b, a, worN=frequencies, fs=sample_rate)
    error = np.max(np.abs(response - expected))
    assert error < 1e-9, f"{filter_type} at {sample_rate} Hz: node differs from freqz by {error:.2e}"


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
@pytest.mark.parametrize("cutoff_hz", [100.0, 1000.0, 10000.0])
@pytest.mark.parametrize("filter_type", ["lowpass", "highpass"])
def test_butterworth_q_is_minus_3_db_at_the_cutoff(
    filter_type: str, cutoff_hz: float, sample_rate: int
) -> None:
    gain = _sine_gain_db({"type": filter_type, "cutoff_hz": cutoff_hz, "q": 0.707}, cutoff_hz, sample_rate)
    assert abs(gain - -3.0) < 0.1, (
        f"{filter_type} {cutoff_hz} Hz at {sample_rate} Hz: {gain:.3f} dB at cutoff"
    )


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
def test_cookbook_shapes_at_their_landmarks(sample_rate: int) -> None:
    """The defining gains of each type, read from its coefficients (the editor draws these)."""

    def gain_db(filter_type: str, frequency_hz: float, gain: float = 12.0, q: float = 0.707) -> float:
        b, a = Filter.coefficients(filter_type, 2000.0, q, gain, sample_rate)
        _, response = freqz(b, a, worN=[frequency_hz], fs=sample_rate)
        return 20 * np.log10(max(abs(response[0]), 1e-300))

    nyquist = sample_rate / 2
    assert abs(gain_db("bandpass", 2000.0, q=4.0)) < 1e-9, "bandpass must peak at 0 dB"
    assert gain_db("notch", 2000.0) < -200, "notch must null its centre"
    assert abs(gain_db("peak", 2000.0) - 12.0) < 1e-9, "peak must reach gain_db at its centre"
    assert abs(gain_db("peak", 2000.0, gain=-12.0) + 12.0) < 1e-9, "a cut must reach gain_db too"
    assert abs(gain_db("lowshelf", 0.0) - 12.0) < 1e-9 and abs(gain_db("lowshelf", nyquist)) < 1e-9
    assert abs(gain_db("highshelf", nyquist) - 12.0) < 1e-9 and abs(gain_db("highshelf", 0.0)) < 1e-9
    for frequency in (20.0, 2000.0, 15000.0):
        assert abs(gain_db("allpass", frequency, q=3.0)) < 1e-9, "allpass must pass every frequency at 0 dB"


def test_coefficients_are_normalised_and_clamped() -> None:
    b, a = Filter.coefficients("lowpass", 1000.0, 0.707, 0.0, 48000)
    assert a[0] == 1.0 and len(b) == len(a) == 3
    ceiling = Filter.coefficients("lowpass", 0.49 * 8000, 0.707, 0.0, 8000)
    for b, a in (Filter.coefficients("lowpass", 20000.0, 0.707, 0.0, 8000), ceiling):
        np.testing.assert_array_equal(b, ceiling[0], err_msg="cutoff must be held below 0.49 x rate")
        np.testing.assert_array_equal(a, ceiling[1], err_msg="cutoff must be held below 0.49 x rate")


@pytest.mark.parametrize("sample_rate", [8000, 44100, 96000])
@pytest.mark.parametrize("filter_type", FILTER_TYPES)
def test_stable_at_every_extreme(filter_type: str, sample_rate: int) -> None:
    for cutoff in (-1e6, 10.0, 20000.0, 1e9):  # beyond the range, as a modulation may push it
        for q in (-5.0, 0.1, 30.0, 1e6):
            for gain in (-1e3, -30.0, 30.0, 1e3):
                _, a = Filter.coefficients(filter_type, cutoff, q, gain, sample_rate)
                radius = np.max(np.abs(np.roots(a)))
                assert radius < 1.0, f"{filter_type} {cutoff} Hz q={q} {gain} dB: pole radius {radius}"
    noise = probe_signal(4800)
    wild = {"cutoff_hz": 1e5 * np.sin(np.arange(4800) / 7.0), "q": 40 * np.cos(np.arange(4800) / 3.0)}
    out = run_node("filter", {"type": filter_type, "q": 30.0, "gain_db": 30.0}, {"in": noise, **wild})["out"]
    assert np.all(np.isfinite(out)) and np.max(np.abs(out)) < 1e4, f"{filter_type} blew up when modulated"


@pytest.mark.parametrize("filter_type", FILTER_TYPES)
def test_modulated_output_does_not_depend_on_block_size(filter_type: str) -> None:
    frames = 5000
    t = np.arange(frames)
    inputs = {
        "in": probe_signal(frames),
        "cutoff_hz": 800 * np.sin(t / 250.0),
        "q": 1.5 + np.sin(t / 90.0),
        "gain_db": 10 * np.cos(t / 400.0),
    }
    params = {"type": filter_type, "cutoff_hz": 1000.0, "q": 2.0}
    reference = run_node("filter", params, inputs, block=256)["out"]
    for block in (1, 31, 32, 33, 65, 1024):
        np.testing.assert_array_equal(run_node("filter", params, inputs, block=block)["out"], reference)


def test_unmodulated_block_equals_the_control_period_split() -> None:
    """The one-lfilter fast path gives exactly what per-period filtering gives."""
    signal = probe_signal(4096)
    b, a = Filter.coefficients("bandpass", 700.0, 3.0, 0.0, 48000)
    state, split = np.zeros(2), []
    for start in range(0, len(signal), CONTROL_PERIOD):
        chunk, state = lfilter(b, a, signal[start : start + CONTROL_PERIOD], zi=state)
        split.append(chunk)
    out = run_node("filter", {"type": "bandpass", "cutoff_hz": 700.0, "q": 3.0}, {"in": signal}, block=1024)[
        "out"
    ]
    np.testing.assert_array_equal(out, np.concatenate(split))


def test_a_change_waits_for_the_next_control_period() -> None:
    """A cutoff step at sample 40 takes effect at sample 64, the first period that starts after it."""
    signal = probe_signal(256)
    step = np.where(np.arange(256) >= 40, 3000.0, 0.0)
    out = run_node("filter", {"cutoff_hz": 500.0}, {"in": signal, "cutoff_hz": step}, block=50)["out"]
    steady = lfilter(*Filter.coefficients("lowpass", 500.0, 0.707, 0.0, 48000), signal)
    np.testing.assert_array_equal(out[:64], steady[:64])
    assert np.all(out[64:68] != steady[64:68]), "the new cutoff must apply from sample 64"


def _simper_svf(
    signal: np.ndarray, cutoffs_hz: np.ndarray, q: float, highpass: bool, rate: int
) -> np.ndarray:
    """Andrew Simper's trapezoidal SVF, one sample at a time: the reference for modulation."""
    ic1, ic2, out = 0.0, 0.0, np.zeros(len(signal))
    for n, x in enumerate(signal):
        g, k = np.tan(np.pi * cutoffs_hz[n] / rate), 1.0 / q
        a1 = 1.0 / (1.0 + g * (g + k))
        v3 = x - ic2
        v1 = a1 * ic1 + g * a1 * v3
        v2 = ic2 + g * a1 * ic1 + g * g * a1 * v3
        ic1, ic2 = 2.0 * v1 - ic1, 2.0 * v2 - ic2
        out[n] = x - k * v1 - v2 if highpass else v2
    return out


@pytest.mark.parametrize("filter_type", ["lowpass", "highpass"])
def test_modulation_carries_state_as_a_state_variable_filter(filter_type: str) -> None:
    """Coefficient changes keep the SVF's integrators, which stay bounded under fast modulation."""
    frames, rate = 2048, 48000
    rng = np.random.default_rng(3)
    per_period = rng.uniform(100.0, 8000.0, frames // CONTROL_PERIOD)  # a jump every period
    cutoffs = np.repeat(per_period, CONTROL_PERIOD)
    signal = probe_signal(frames)
    params = {"type": filter_type, "cutoff_hz": 10.0, "q": 8.0}
    out = run_node("filter", params, {"in": signal, "cutoff_hz": cutoffs - 10.0}, block=100)["out"]
    expected = _simper_svf(signal, cutoffs, 8.0, filter_type == "highpass", rate)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-9)


def _mixed_svf(signal: np.ndarray, coefficients: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The same SVF with its outputs mixed to give each control period's (b, a): any type."""
    ic1, ic2, out = 0.0, 0.0, np.zeros(len(signal))
    for n, x in enumerate(signal):
        b, a = coefficients[n // CONTROL_PERIOD]
        at_dc, at_nyquist = 1.0 + a[1] + a[2], 1.0 - a[1] + a[2]
        g = np.sqrt(at_dc / at_nyquist)
        denominator = 4.0 / at_nyquist  # 1 + g k + g^2, which a is normalised by
        k = (1.0 - a[2]) * denominator / (2.0 * g)
        # b * denominator in the basis (1 - 1/z)^2, g (1 - 1/z^2), g^2 (1 + 1/z)^2 of the
        # highpass, bandpass and lowpass outputs
        n0, n1, n2 = b * denominator
        high, band, low = (n0 - n1 + n2) / 4.0, (n0 - n2) / (2.0 * g), (n0 + n1 + n2) / (4.0 * g * g)
        a1 = 1.0 / (1.0 + g * (g + k))
        v3 = x - ic2
        v1 = a1 * ic1 + g * a1 * v3
        v2 = ic2 + g * a1 * ic1 + g * g * a1 * v3
        ic1, ic2 = 2.0 * v1 - ic1, 2.0 * v2 - ic2
        out[n] = high * (x - k * v1 - v2) + band * v1 + low * v2
    return out


@pytest.mark.parametrize("filter_type", FILTER_TYPES)
def test_every_type_carries_state_as_a_state_variable_filter(filter_type: str) -> None:
    """Cutoff, q and gain all jumping every period: each type still equals the mixed SVF."""
    frames, rate = 2048, 48000
    rng = np.random.default_rng(5)
    periods = frames // CONTROL_PERIOD
    cutoffs, qs = rng.uniform(100.0, 8000.0, periods), rng.uniform(0.5, 8.0, periods)
    gains = rng.uniform(-12.0, 12.0, periods)
    signal = probe_signal(frames)
    inputs = {
        "in": signal,
        "cutoff_hz": np.repeat(cutoffs, CONTROL_PERIOD),
        "q": np.repeat(qs, CONTROL_PERIOD),
        "gain_db": np.repeat(gains, CONTROL_PERIOD),
    }
    params = {"type": filter_type, "cutoff_hz": 0.0, "q": 0.0, "gain_db": 0.0}  # the signals alone
    out = run_node("filter", params, inputs, block=100, sample_rate=rate)["out"]
    coefficients = [
        Filter.coefficients(filter_type, *values, rate) for values in zip(cutoffs, qs, gains, strict=True)
    ]
    np.testing.assert_allclose(out, _mixed_svf(signal, coefficients), rtol=0, atol=1e-9)


def test_the_fast_lfilter_call_filters_exactly_as_lfilter() -> None:
    """The node may call scipy's routine behind lfilter directly; it must give the same bits."""
    signal = probe_signal(300)
    b, a = Filter.coefficients("peak", 3000.0, 4.0, 9.0, 48000)
    for numerator in (b, np.array([1.0])):
        zi = np.array([0.3, -0.2])
        got = _linear_filter(numerator, a, signal, -1, zi)
        expected = lfilter(numerator, a, signal, zi=zi)
        for mine, theirs in zip(got, expected, strict=True):
            np.testing.assert_array_equal(mine, theirs)


def test_a_float32_input_is_filtered_as_float64() -> None:
    signal = probe_signal(1000).astype(np.float32)
    sweep = 500.0 * np.sin(np.arange(1000) / 100.0)
    inputs32 = {"in": signal, "cutoff_hz": sweep.astype(np.float32)}
    inputs64 = {"in": signal.astype(np.float64), "cutoff_hz": sweep.astype(np.float32).astype(np.float64)}
    out32 = run_node("filter", {"type": "highpass"}, inputs32, block=64)["out"]
    out64 = run_node("filter", {"type": "highpass"}, inputs64, block=64)["out"]
    np.testing.assert_array_equal(out32, out64)


def test_a_cutoff_sweep_does_not_click() -> None:
    """A 300 Hz sine through a lowpass swept 100 Hz -> 10 kHz in one second stays smooth."""
    sample_rate = 48000
    t = np.arange(sample_rate)
    sine = np.sin(2 * np.pi * 300 * t / sample_rate)
    sweep = 100.0 * 100.0 ** (t / sample_rate)
    out = run_node("filter", {"cutoff_hz": 100.0}, {"in": sine, "cutoff_hz": sweep - 100.0})["out"]
    largest_jump = np.max(np.abs(np.diff(out)))
    sine_jump = np.max(np.abs(np.diff(sine)))
    assert largest_jump < 1.05 * sine_jump, f"a jump of {largest_jump:.4f} (the sine's own: {sine_jump:.4f})"
    assert np.max(np.abs(out)) < 1.01, "a Butterworth lowpass must not overshoot a sine"


def test_a_nan_in_the_input_does_not_silence_the_filter_for_good() -> None:
    signal = probe_signal(2048)
    signal[100] = np.nan
    out = run_node("filter", {}, {"in": signal})["out"]
    assert np.all(np.isfinite(out[256:])), "the filter must recover after a NaN"


# -- the compiled kernel against the numpy/scipy DSP it replaced (tests/reference_nodes) ---------
REFERENCE_RATES = (8000, 44100, 48000, 96000)
REFERENCE_BLOCKS = (1, 7, 64, 65, 256, 1024)


def _run_class(
    cls: type[Filter],
    params: dict,
    signal: np.ndarray,
    modulation: dict[str, np.ndarray],
    block: int,
    sample_rate: int,
    changes: dict[int, tuple[str, object]] | None = None,
) -> np.ndarray:
    """run_node for a class (the reference is not registered); ``changes`` maps a block's first
    sample to a live param change, installed there as the engine installs it."""
    node = cls(params)
    node.prepare(sample_rate, block)
    out = np.zeros(len(signal))
    for start in range(0, len(signal), block):
        stop = min(start + block, len(signal))
        if changes and start in changes:
            name, value = changes[start]
            node.install_change(name, value, node.prepare_change(name, value, {**node.params, name: value}))
        block_params = dict(node.block_params)
        for name in ("cutoff_hz", "q", "gain_db"):
            block_params[name] = np.full(stop - start, float(node.params[name]))
            if name in modulation:
                block_params[name] += modulation[name][start:stop]
        node.process({"in": signal[start:stop].copy()}, block_params, {"out": out[start:stop]})
    return out


def _wild_modulation(frames: int, seed: int) -> dict[str, np.ndarray]:
    """Every param swept fast and far, beyond its range at times (as a patch's signals may)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)
    return {
        "cutoff_hz": 6000.0 * np.sin(t / rng.uniform(5.0, 200.0)) + 500.0 * rng.standard_normal(frames),
        "q": 4.0 * rng.standard_normal(frames),
        "gain_db": 25.0 * np.sin(t / rng.uniform(3.0, 90.0)),
    }


@pytest.mark.parametrize("sample_rate", REFERENCE_RATES)
@pytest.mark.parametrize("filter_type", FILTER_TYPES)
def test_the_kernel_gives_the_references_bits(filter_type: str, sample_rate: int) -> None:
    """Static and modulated, at every block size: exactly what the lfilter-based node gave."""
    from tests.reference_nodes.filters import ReferenceFilter

    frames = 1200
    signal = probe_signal(frames, seed=sample_rate)
    params = {"type": filter_type, "cutoff_hz": 2500.0, "q": 4.0, "gain_db": 9.0}
    for block in REFERENCE_BLOCKS:
        for modulation in ({}, _wild_modulation(frames, block)):
            expected = _run_class(ReferenceFilter, params, signal, modulation, block, sample_rate)
            got = _run_class(Filter, params, signal, modulation, block, sample_rate)
            label = f"block {block}, {'modulated' if modulation else 'static'}"
            np.testing.assert_array_equal(got, expected, err_msg=label)


@pytest.mark.parametrize("filter_type", FILTER_TYPES)
def test_the_kernel_gives_the_references_bits_at_the_params_extremes(filter_type: str) -> None:
    from tests.reference_nodes.filters import ReferenceFilter

    signal = probe_signal(700)
    for sample_rate in (8000, 96000):
        for cutoff, q, gain in itertools.product((10.0, 20000.0), (0.1, 30.0), (-30.0, 30.0)):
            params = {"type": filter_type, "cutoff_hz": cutoff, "q": q, "gain_db": gain}
            expected = _run_class(ReferenceFilter, params, signal, {}, 64, sample_rate)
            got = _run_class(Filter, params, signal, {}, 64, sample_rate)
            np.testing.assert_array_equal(got, expected, err_msg=f"{params} at {sample_rate} Hz")


def test_the_kernel_gives_the_references_bits_through_live_changes() -> None:
    """The type changed mid-stream (installed at block boundaries, as the engine does) while a
    cutoff ramp and a q step run: the state carries over as the reference carries it."""
    from tests.reference_nodes.filters import ReferenceFilter

    frames = 3000
    signal = probe_signal(frames)
    ramp = {"cutoff_hz": np.linspace(0.0, 6000.0, frames), "q": np.where(np.arange(frames) < 1500, 0.0, 6.0)}
    changes = {
        195: ("type", "bandpass"),
        975: ("type", "peak"),
        1950: ("gain_db", -12.0),
        2340: ("type", "lowpass"),
    }
    for block in (1, 65, 195):
        expected = _run_class(ReferenceFilter, {"q": 2.0}, signal, ramp, block, 44100, changes)
        got = _run_class(Filter, {"q": 2.0}, signal, ramp, block, 44100, changes)
        np.testing.assert_array_equal(got, expected, err_msg=f"block {block}")


def test_the_kernel_recovers_from_a_nan_as_the_reference_does() -> None:
    from tests.reference_nodes.filters import ReferenceFilter

    signal = probe_signal(2000)
    signal[300] = np.nan
    modulation = {"cutoff_hz": np.where(np.arange(2000) == 1000, np.nan, 0.0)}  # one NaN cutoff
    for block in (1, 64, 1024):
        expected = _run_class(
            ReferenceFilter, {"type": "peak", "gain_db": 6.0}, signal, modulation, block, 48000
        )
        got = _run_class(Filter, {"type": "peak", "gain_db": 6.0}, signal, modulation, block, 48000)
        np.testing.assert_array_equal(got, expected, err_msg=f"block {block}")
        assert np.all(np.isfinite(got[block * (300 // block + 1) :])), f"block {block}: no recovery"


def test_coefficients_are_the_cookbooks_on_python_floats() -> None:
    """The compiled cookbook formulas give the bits the Python ones gave (the editor draws them)."""
    from tests.reference_nodes.filters import _rbj

    rng = np.random.default_rng(9)
    for filter_type in FILTER_TYPES:
        for cutoff, q, gain, rate in zip(
            rng.uniform(-100.0, 30000.0, 40),
            rng.uniform(-1.0, 40.0, 40),
            rng.uniform(-40.0, 40.0, 40),
            rng.choice(REFERENCE_RATES, 40),
            strict=True,
        ):
            b0, b1, b2, a0, a1, a2 = _rbj(filter_type, float(cutoff), float(q), float(gain), int(rate))
            b, a = Filter.coefficients(filter_type, cutoff, q, gain, int(rate))
            np.testing.assert_array_equal(b, np.array([b0, b1, b2]) / a0)
            np.testing.assert_array_equal(a, [1.0, a1 / a0, a2 / a0])
