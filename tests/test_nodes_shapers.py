"""The waveshaper: exact curves at rest, harmonics, aliasing with oversampling, block invariance."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nodes.shapers import OVERSAMPLING, SHAPES, Waveshaper, latency_samples, transfer
from tests.nodetools import probe_signal, run_node

RATE = 48000
FFT_FRAMES = 8192


def _shaped(params: dict, signal: np.ndarray, block: int = 256, **modulation: np.ndarray) -> np.ndarray:
    return run_node("waveshaper", params, {"in": signal, **modulation}, block=block)["out"]


def _spectrum_of_sine(params: dict, bin_index: int) -> np.ndarray:
    """Power spectrum of a sine at an exact FFT bin, shaped; every product lands on a bin too."""
    frames = 2 * FFT_FRAMES + 200  # the last FFT_FRAMES samples are past every filter's transient
    sine = np.sin(2 * np.pi * bin_index * np.arange(frames) / FFT_FRAMES)
    return np.abs(np.fft.rfft(_shaped(params, sine)[-FFT_FRAMES:])) ** 2


def _alias_db(params: dict, bin_index: int) -> float:
    """Power outside the harmonics' bins, relative to the total: the aliasing."""
    power = _spectrum_of_sine(params, bin_index)
    harmonic = np.zeros(len(power), dtype=bool)
    harmonic[::bin_index] = True
    return 10 * np.log10(power[~harmonic].sum() / power.sum())


@pytest.mark.parametrize("shape", SHAPES)
def test_at_rest_the_output_is_exactly_the_curve(shape: str) -> None:
    signal = 3.0 * probe_signal(3000)  # into every region of every curve
    out = _shaped({"shape": shape}, signal)
    np.testing.assert_array_equal(out, transfer(signal, {"shape": shape}))


def test_curves_follow_their_formulas() -> None:
    x = np.linspace(-4.0, 4.0, 8001)
    # the C library's tanh (the kernel's, at 1x): within two ulps of numpy's
    np.testing.assert_array_max_ulp(_shaped({"shape": "tanh"}, x), np.tanh(x), maxulp=2)
    np.testing.assert_array_equal(_shaped({"shape": "hard_clip"}, x), np.clip(x, -1.0, 1.0))
    cubic = np.where(np.abs(x) <= 1.0, 1.5 * x - 0.5 * x**3, np.sign(x))
    np.testing.assert_allclose(_shaped({"shape": "soft_clip"}, x), cubic, rtol=0, atol=1e-15)
    folded = _shaped({"shape": "foldback"}, np.array([0.3, -0.9, 1.5, 2.5, 3.0, -1.5, 5.0]))
    np.testing.assert_allclose(folded, [0.3, -0.9, 0.5, -0.5, -1.0, -0.5, 1.0], rtol=0, atol=1e-15)


def test_asymmetric_is_diode_like() -> None:
    x = np.array([-1e-6, 1e-6, -20.0, 20.0])
    y = _shaped({"shape": "asymmetric"}, x)
    np.testing.assert_allclose(y[:2] / x[:2], 1.0, atol=1e-5, err_msg="slope 1 through zero, both sides")
    np.testing.assert_allclose(y[2:], [-0.5, 1.0], atol=1e-8, err_msg="saturates at -0.5 and 1")


def test_curve_interpolates_the_table_and_clamps_outside() -> None:
    table = [0.0, 1.0, -1.0, 0.5]  # points at x = -1, -1/3, 1/3, 1
    x = np.array([-2.0, -1.0, -2 / 3, -1 / 3, 0.0, 1 / 3, 2 / 3, 1.0, 3.0])
    y = _shaped({"shape": "curve", "curve": table}, x)
    np.testing.assert_allclose(y, [0.0, 0.0, 0.5, 1.0, 0.0, -1.0, -0.25, 0.5, 0.5], rtol=0, atol=1e-12)


def test_transfer_applies_drive_bias_and_output_level() -> None:
    x = np.linspace(-1.0, 1.0, 101)
    params = {"shape": "tanh", "drive_db": 20.0, "bias": 0.4, "output_db": -6.0}
    expected = 10 ** (-6 / 20) * (np.tanh(10.0 * x + 0.4) - np.tanh(0.4))
    np.testing.assert_allclose(transfer(x, params), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(_shaped(params, x), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("oversampling", OVERSAMPLING)
@pytest.mark.parametrize("shape", SHAPES)
def test_bias_adds_no_dc_at_rest(shape: str, oversampling: str) -> None:
    params = {"shape": shape, "bias": 0.7, "drive_db": 12.0, "oversampling": oversampling}
    largest = np.max(np.abs(_shaped(params, np.zeros(600))))
    assert largest < 1e-12, f"{shape} at {oversampling}: silence in gave {largest:.2e}"


@pytest.mark.parametrize("oversampling", ["1x", "4x"])
def test_soft_clip_of_a_sine_has_no_even_harmonics(oversampling: str) -> None:
    bin_index = 101  # 592 Hz, odd: aliased odd harmonics never land on even harmonics' bins
    params = {"shape": "soft_clip", "drive_db": 12.0, "oversampling": oversampling}
    power = _spectrum_of_sine(params, bin_index)
    even = power[2 * bin_index :: 2 * bin_index]
    worst_db = 10 * np.log10(even.max() / power[bin_index])
    assert worst_db < -60, f"an even harmonic at {worst_db:.1f} dB relative to the fundamental"
    third_db = 10 * np.log10(power[3 * bin_index] / power[bin_index])
    assert third_db > -30, f"a clipped sine needs a strong third harmonic, got {third_db:.1f} dB"


def test_asymmetric_and_bias_make_even_harmonics() -> None:
    asymmetric, biased = {"shape": "asymmetric", "drive_db": 12.0}, {"bias": 0.5, "drive_db": 6.0}
    for params in (asymmetric, biased):
        power = _spectrum_of_sine(params, 101)
        second_db = 10 * np.log10(power[202] / power[101])
        assert second_db > -30, f"{params}: second harmonic only {second_db:.1f} dB"


def test_oversampling_cuts_aliasing() -> None:
    """A 7 kHz sine driven 24 dB into tanh at 48 kHz: the aliases fall with each factor."""
    bin_index = 1195  # 7002 Hz
    alias = {rate: _alias_db({"drive_db": 24.0, "oversampling": rate}, bin_index) for rate in OVERSAMPLING}
    summary = ", ".join(f"{factor} {level:.1f} dB" for factor, level in alias.items())
    levels = list(alias.values())
    assert all(later < earlier - 5 for earlier, later in itertools.pairwise(levels)), summary
    assert alias["4x"] < alias["1x"] - 15, summary
    assert alias["8x"] < alias["1x"] - 30, summary


@pytest.mark.parametrize("oversampling", ["2x", "4x", "8x"])
def test_latency_is_as_declared(oversampling: str) -> None:
    """Oversampled, the output is the curve of the input delayed by latency_samples()."""
    t = np.arange(4800)
    sine = 0.5 * np.sin(2 * np.pi * 500 * t / RATE)  # its harmonics lie well inside the passband
    delay = Waveshaper.latency_samples(oversampling)
    assert delay == latency_samples(oversampling) > 0
    out = _shaped({"oversampling": oversampling, "drive_db": 6.0}, sine)
    expected = np.tanh(10 ** (6 / 20) * sine[1000 - delay : len(sine) - delay])
    error = np.max(np.abs(out[1000:] - expected))
    assert error < 1e-3, f"{oversampling}: off the delayed curve by {error:.2e}"
    assert Waveshaper.latency_samples("1x") == 0


@pytest.mark.parametrize("oversampling", ["1x", "2x", "4x", "8x"])
def test_modulated_oversampled_output_does_not_depend_on_block_size(oversampling: str) -> None:
    frames = 3000
    signal = probe_signal(frames)
    drive = 12.0 + 12.0 * np.sin(np.arange(frames) / 150.0)
    params = {"shape": "foldback", "oversampling": oversampling, "bias": 0.2, "output_db": -3.0}
    reference = _shaped(params, signal, drive_db=drive)
    for block in (1, 64, 65, 1024):
        result = _shaped(params, signal, block=block, drive_db=drive)
        np.testing.assert_allclose(result, reference, rtol=0, atol=1e-9, err_msg=f"block {block}")


def test_a_drive_signal_adds_to_the_set_drive() -> None:
    signal = probe_signal(1000)
    modulated = _shaped({"oversampling": "2x"}, signal, drive_db=np.full(1000, 18.0))
    fixed = _shaped({"drive_db": 18.0, "oversampling": "2x"}, signal)
    np.testing.assert_allclose(modulated, fixed, rtol=0, atol=1e-12)


def test_a_nan_does_not_silence_the_oversampler_for_good() -> None:
    signal = probe_signal(2048)
    signal[100] = np.nan
    out = _shaped({"oversampling": "8x"}, signal)
    assert np.all(np.isfinite(out[512:])), "the shaper must recover after a NaN"


def test_the_oversampler_is_built_off_the_audio_thread_and_kept_across_a_reset(monkeypatch) -> None:
    """Its filters and buffers are made in prepare and prepare_change; process and reset (the
    player's warm-up, a NaN) only use and clear them."""
    import nodes.shapers
    import patcher

    patch = patcher.Patch()
    patch.add_node("oscillator", "osc")
    patch.add_node("waveshaper", "shaper", oversampling="4x", drive_db=12.0)
    patch.add_node("output", "out")
    patch.connect("osc.out", "shaper.in")
    patch.connect("shaper.out", "out.left")
    engine = patcher.Engine(patch)
    first = engine.render(0.1)
    change = engine.prepare_param_change("shaper", "oversampling", "8x")

    def no_building_here(*_args):
        raise AssertionError("an oversampler was built on the audio thread")

    monkeypatch.setattr(nodes.shapers, "_Oversampler", no_building_here)
    engine.reset()
    np.testing.assert_array_equal(engine.render(0.1), first)  # reset: from silence, as at the start
    engine.apply(change)
    engine.render(0.1)
    shaper = engine.schedule.nodes["shaper"]
    assert shaper.oversampler.factor == 8 and shaper.fault is None


# -- the compiled kernels against the numpy DSP they replaced (tests/reference_nodes) ----------
REFERENCE_BLOCKS = (1, 7, 64, 65, 256, 1024)
TABLE = [0.0, 1.0, -1.0, 0.5, 0.2]  # steep segments, a fold in the middle


def _run_class(
    cls: type[Waveshaper],
    params: dict,
    signal: np.ndarray,
    drive_db: np.ndarray | None,
    block: int,
    sample_rate: int = RATE,
    changes: dict[int, tuple[str, object]] | None = None,
) -> np.ndarray:
    """run_node for a class (the reference is not registered); ``changes`` maps a block's first
    sample to a live param change, prepared and installed there as the engine does it."""
    node = cls(params)
    node.prepare(sample_rate, block)
    out = np.zeros(len(signal))
    for start in range(0, len(signal), block):
        stop = min(start + block, len(signal))
        if changes and start in changes:
            name, value = changes[start]
            node.install_change(name, value, node.prepare_change(name, value, {**node.params, name: value}))
        block_params = dict(node.block_params)
        block_params["drive_db"] = np.full(stop - start, float(node.params["drive_db"]))
        if drive_db is not None:
            block_params["drive_db"] += drive_db[start:stop]
        node.process({"in": signal[start:stop].copy()}, block_params, {"out": out[start:stop]})
    return out


@pytest.mark.parametrize("oversampling", OVERSAMPLING)
@pytest.mark.parametrize("shape", SHAPES)
def test_the_kernels_match_the_reference(shape: str, oversampling: str) -> None:
    """Every block size, static and modulated drive, with and without bias: within 1e-9 of the
    numpy node (the filters sum in another order, and pow and expm1 are the C library's)."""
    from tests.reference_nodes.shapers import ReferenceWaveshaper

    frames = 1200
    signal = 2.0 * probe_signal(frames, seed=len(shape))
    sweep = 20.0 * np.sin(np.arange(frames) / 40.0) + 20.0
    for block in REFERENCE_BLOCKS:
        for drive, bias in ((None, 0.0), (sweep, 0.4), (None, -0.7)):
            params = {"shape": shape, "oversampling": oversampling, "bias": bias, "curve": TABLE}
            params |= {"drive_db": 6.0, "output_db": -4.5}
            expected = _run_class(ReferenceWaveshaper, params, signal, drive, block)
            got = _run_class(Waveshaper, params, signal, drive, block)
            label = f"block {block}, bias {bias}, {'modulated' if drive is not None else 'static'}"
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9, err_msg=label)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the reference's mod of inf
@pytest.mark.parametrize("shape", [name for name in SHAPES if name not in ("asymmetric", "tanh")])
def test_at_rest_the_kernels_give_the_references_bits(shape: str) -> None:
    """No drive, no bias, 1x: the curve alone, bit for bit (asymmetric's expm1 and tanh at 1x
    are libm's: within ulps, tested above)."""
    from tests.reference_nodes.shapers import ReferenceWaveshaper

    signal = np.concatenate(
        [4.0 * probe_signal(2000), np.linspace(-5.0, 5.0, 1001), [np.inf, -np.inf, np.nan]]
    )
    params = {"shape": shape, "curve": TABLE}
    expected = _run_class(ReferenceWaveshaper, params, signal, None, 64)
    np.testing.assert_array_equal(_run_class(Waveshaper, params, signal, None, 64), expected)
    np.testing.assert_array_equal(transfer(signal, params), expected)


@pytest.mark.parametrize("oversampling", ["1x", "8x"])
def test_the_kernels_match_the_reference_at_the_params_extremes(oversampling: str) -> None:
    from tests.reference_nodes.shapers import ReferenceWaveshaper

    signal = 3.0 * probe_signal(800)
    for sample_rate in (8000, 96000):  # the node's DSP does not depend on the rate; the rate is passed
        for shape, drive, bias, level in itertools.product(SHAPES, (0.0, 48.0), (-1.0, 1.0), (-48.0, 12.0)):
            params = {"shape": shape, "oversampling": oversampling, "drive_db": drive, "bias": bias}
            params |= {"output_db": level, "curve": [-3.0, 2.0]}
            expected = _run_class(ReferenceWaveshaper, params, signal, None, 65, sample_rate)
            got = _run_class(Waveshaper, params, signal, None, 65, sample_rate)
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9, err_msg=str(params))


def test_the_kernels_match_the_reference_through_live_changes() -> None:
    """Oversampling, shape, bias, curve and level changed mid-stream (installed at block
    boundaries, the oversampler prepared beforehand) while the drive sweeps."""
    from tests.reference_nodes.shapers import ReferenceWaveshaper

    frames = 4000
    signal = probe_signal(frames)
    sweep = 12.0 + 12.0 * np.sin(np.arange(frames) / 300.0)
    changes = {
        520: ("oversampling", "4x"),
        1040: ("shape", "curve"),
        1560: ("curve", [1.0, -1.0, 1.0]),
        2080: ("bias", 0.3),
        2600: ("oversampling", "2x"),
        3120: ("output_db", -6.0),
        3640: ("oversampling", "1x"),
    }
    for block in (1, 65, 520):
        expected = _run_class(
            ReferenceWaveshaper, {"shape": "foldback"}, signal, sweep, block, changes=changes
        )
        got = _run_class(Waveshaper, {"shape": "foldback"}, signal, sweep, block, changes=changes)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9, err_msg=f"block {block}")


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the reference's matmul
@pytest.mark.parametrize("oversampling", OVERSAMPLING)
def test_the_kernels_recover_from_a_nan_as_the_reference_does(oversampling: str) -> None:
    from tests.reference_nodes.shapers import ReferenceWaveshaper

    signal = probe_signal(1500)
    signal[200] = np.nan
    signal[900] = np.inf
    for block in (1, 64, 1024):
        params = {"oversampling": oversampling, "bias": 0.2}
        expected = _run_class(ReferenceWaveshaper, params, signal, None, block)
        got = _run_class(Waveshaper, params, signal, None, block)
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(expected), err_msg=f"block {block}")
        finite = np.isfinite(expected)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=0, atol=1e-9, err_msg=f"block {block}")


def test_the_filter_lengths_are_kaiser_estimates_as_scipy_makes_them() -> None:
    """The latency is worked out without scipy (its import is slow); it must agree with it."""
    from scipy.signal import kaiserord

    from nodes.shapers import PASSBAND_EDGE, STOPBAND_DB, anti_alias_taps

    for factor in (2, 4, 8):
        numtaps, beta = kaiserord(STOPBAND_DB, 2.0 * (0.5 - PASSBAND_EDGE) / factor)
        assert len(anti_alias_taps(factor)) == -(-(numtaps - 1) // factor) * factor + 1
        assert latency_samples(f"{factor}x") == -(-(numtaps - 1) // factor)
        assert beta == 0.1102 * (STOPBAND_DB - 8.7)


def test_a_block_longer_than_promised_keeps_the_oversamplers_history() -> None:
    from tests.reference_nodes.shapers import ReferenceWaveshaper

    signal = probe_signal(1000)
    outputs = []
    for cls in (ReferenceWaveshaper, Waveshaper):
        node = cls({"oversampling": "4x", "drive_db": 12.0})
        node.prepare(RATE, 64)
        out = np.zeros(len(signal))
        for start, stop in ((0, 64), (64, 300), (300, 364), (364, 1000)):
            params = {**node.block_params, "drive_db": np.full(stop - start, 12.0)}
            node.process({"in": signal[start:stop]}, params, {"out": out[start:stop]})
        outputs.append(out)
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=0, atol=1e-9)
