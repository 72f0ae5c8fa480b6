"""The analysis front end, on patches with known answers: a biquad (LTI), tanh and cubic
waveshapers (nonlinear, Fourier-series harmonics), an LFO-swept delay (time-varying), a
convolution reverb (LTI), and the capture of a chain into a convolver."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from scipy.signal import freqz, lfilter

from nodes.filters import Filter
from patcher import analysis
from patcher.analysis import Probe, analyze, capture_patch
from patcher.model import Patch, PatchError, PortRef, Settings
from patcher.patchfile import load
from patcher.render import render

RATE = 48000
LEVEL_DBFS = -6.0


def chain_patch(*nodes: tuple[str, str, dict], base_dir: Path | None = None) -> Patch:
    """input 'guitar' -> the nodes in order (each 'in' to 'out') -> output 'out'."""
    patch = Patch(settings=Settings(sample_rate=RATE, block_size=256, duration_s=1.0))
    if base_dir is not None:
        patch.base_dir = base_dir
    patch.add_node("input", "guitar", position=(0.0, 0.0))
    previous = "guitar.out"
    for index, (type_name, node_id, params) in enumerate(nodes):
        patch.add_node(type_name, node_id, position=(200.0 * (index + 1), 0.0), **params)
        patch.connect(previous, f"{node_id}.in")
        previous = f"{node_id}.out"
    patch.add_node("output", "out", position=(200.0 * (len(nodes) + 1), 0.0))
    patch.connect(previous, "out.left")
    return patch


def filter_patch() -> Patch:
    return chain_patch(("filter", "tone", {"type": "lowpass", "cutoff_hz": 1200.0, "q": 2.0}))


def shaper_patch(shape: str, drive_db: float = 0.0) -> Patch:
    return chain_patch(("waveshaper", "fuzz", {"shape": shape, "drive_db": drive_db}))


def chorus_patch() -> Patch:
    patch = chain_patch(("delay", "chorus", {"time_ms": 12.0, "mix": 0.5}))
    patch.add_node("lfo", "wobble", rate_hz=0.8, depth=3.0)
    patch.connect("wobble.out", "chorus.time_ms")
    return patch


def pedal_patch() -> Patch:
    return chain_patch(
        ("filter", "pre", {"type": "highpass", "cutoff_hz": 200.0}),
        ("waveshaper", "fuzz", {"shape": "tanh", "drive_db": 18.0}),
        ("filter", "tone", {"type": "lowpass", "cutoff_hz": 3000.0}),
    )


def fourier_levels_db(curve, amplitude: float, orders: list[int]) -> dict[int, float]:
    """Harmonic levels of curve(A sin theta) relative to its fundamental, from one period's FFT."""
    period = curve(amplitude * np.sin(2.0 * np.pi * np.arange(8192) / 8192))
    spectrum = np.abs(np.fft.rfft(period))
    return {order: 20.0 * np.log10(spectrum[order] / spectrum[1]) for order in orders}


# -- the biquad: linear, time-invariant, captured exactly ----------------------------------
@pytest.fixture(scope="module")
def filter_analysis() -> analysis.Analysis:
    return analyze(filter_patch(), level_dbfs=LEVEL_DBFS)


def test_biquad_is_classified_linear_and_time_invariant(filter_analysis: analysis.Analysis) -> None:
    assert filter_analysis.linearity.linear
    assert filter_analysis.linearity.error_db < -200.0
    assert filter_analysis.time_invariance.time_invariant
    assert filter_analysis.failed == []
    assert filter_analysis.chain == ["tone"]
    assert filter_analysis.figures()["verdict"]["lti"] is True


def test_biquad_captured_ir_is_the_analytic_impulse_response(filter_analysis: analysis.Analysis) -> None:
    b, a = Filter.coefficients("lowpass", 1200.0, 2.0, 0.0, RATE)
    impulse = np.zeros(RATE)
    impulse[0] = 1.0
    expected = lfilter(b, a, impulse)
    captured = filter_analysis.captured_ir
    np.testing.assert_allclose(captured, expected[: len(captured)], rtol=0.0, atol=1e-12)
    # The IR was cut only where what is left is negligible.
    assert np.sum(expected[len(captured) :] ** 2) < 1e-12 * np.sum(expected**2)


def test_biquad_nulls_against_its_captured_ir(filter_analysis: analysis.Analysis) -> None:
    assert filter_analysis.null.residual_db < -60.0
    assert filter_analysis.null.nulls
    assert all(level < -60.0 for level in filter_analysis.null.bands_db.values())


def test_sweep_deconvolution_matches_the_analytic_response_in_band(
    filter_analysis: analysis.Analysis,
) -> None:
    b, a = Filter.coefficients("lowpass", 1200.0, 2.0, 0.0, RATE)
    frequencies = np.geomspace(100.0, 10000.0, 50)
    _, expected = freqz(b, a, worN=frequencies, fs=RATE)
    size = 1 << 16
    measured = filter_analysis.sweep.linear_spectrum(size)
    grid = np.fft.rfftfreq(size, 1.0 / RATE)
    measured_db = 20 * np.log10(np.interp(frequencies, grid, np.abs(measured)))
    np.testing.assert_allclose(measured_db, 20 * np.log10(np.abs(expected)), atol=0.1)
    # A linear chain has no harmonics, by either method.
    assert all(level < -60.0 for level in filter_analysis.sweep.levels_db.values())
    assert filter_analysis.harmonics.thd_db < -200.0


# -- waveshapers: nonlinear, with the harmonics of their Fourier series ----------------------
@pytest.mark.parametrize("drive_db", [0.0, 12.0])
def test_tanh_harmonics_match_its_fourier_series(drive_db: float) -> None:
    probe = Probe(shaper_patch("tanh", drive_db))
    amplitude = 10 ** (LEVEL_DBFS / 20) * 10 ** (drive_db / 20)
    expected = fourier_levels_db(np.tanh, amplitude, [3, 5, 7])
    sine = analysis.measure_harmonics(probe, level_dbfs=LEVEL_DBFS)
    for order, level in expected.items():
        assert sine.levels_db[order] == pytest.approx(level, abs=1.0), order
    sweep = analysis.measure_sweep(probe, level_dbfs=LEVEL_DBFS)
    for order in (3, 5):
        assert sweep.levels_db[order] == pytest.approx(expected[order], abs=1.0), order
    # tanh is odd: no even harmonics.
    assert sine.levels_db[2] < -100.0 and sine.levels_db[4] < -100.0
    assert not analysis.measure_linearity(probe, LEVEL_DBFS).linear


def test_cubic_soft_clip_makes_only_odd_harmonics() -> None:
    probe = Probe(shaper_patch("soft_clip", drive_db=0.0))
    sine = analysis.measure_harmonics(probe, level_dbfs=LEVEL_DBFS)
    assert sine.levels_db[3] > -40.0
    for order in (2, 4, 6, 8):
        assert sine.levels_db[order] < -60.0, order
    sweep = analysis.measure_sweep(probe, level_dbfs=LEVEL_DBFS)
    assert sweep.levels_db[3] > -40.0
    assert sweep.levels_db[2] < -60.0 and sweep.levels_db[4] < -60.0
    # 1.5 x - 0.5 x^3 at amplitude A: 3rd harmonic A^3/8 against 1.5 A - 3 A^3/8.
    amplitude = 10 ** (LEVEL_DBFS / 20)
    third = 20 * np.log10((amplitude**3 / 8) / (1.5 * amplitude - 3 * amplitude**3 / 8))
    assert sine.levels_db[3] == pytest.approx(third, abs=0.01)


def test_fuzz_fails_as_nonlinear_and_does_not_null() -> None:
    result = analyze(shaper_patch("tanh", drive_db=12.0), level_dbfs=LEVEL_DBFS, sweep_seconds=1.0)
    assert result.failed == ["nonlinear"]
    assert result.linearity.error_db > -30.0
    assert result.time_invariance.time_invariant
    assert not result.null.nulls and result.null.residual_db > -20.0
    assert "nonlinear" in result.verdict and "cannot capture" in result.verdict


# -- time-varying and LTI reference patches ----------------------------------------------------
def test_lfo_modulated_delay_is_time_varying_but_linear() -> None:
    result = analyze(chorus_patch(), level_dbfs=LEVEL_DBFS, sweep_seconds=1.0)
    assert result.failed == ["time-varying"]
    assert not result.time_invariance.time_invariant
    assert result.time_invariance.spread_db > -20.0
    assert result.linearity.linear  # every render runs the LFO from the same phase
    assert not result.null.nulls
    assert "time-varying" in result.verdict


def test_static_delay_is_time_invariant() -> None:
    probe = Probe(chain_patch(("delay", "echo", {"time_ms": 12.3, "mix": 0.5})))
    assert analysis.measure_time_invariance(probe, LEVEL_DBFS, window_seconds=0.05).time_invariant


def test_convolution_reverb_is_lti_and_nulls() -> None:
    patch = chain_patch(("convolver", "room", {"room_length_s": 0.5, "decay_s": 0.4, "mix": 0.5}))
    result = analyze(patch, level_dbfs=LEVEL_DBFS, sweep_seconds=1.0)
    assert result.failed == []
    assert result.null.residual_db < -60.0
    assert result.impulse.decayed and result.impulse.length_s <= 0.5


# -- the chain between two ports -------------------------------------------------------------------
def test_from_and_to_measure_only_the_chain_between() -> None:
    patch = pedal_patch()
    probe = Probe(patch, "pre.in", "pre.out")
    assert probe.chain == ["pre"]
    response = analysis.measure_impulse_response(probe, LEVEL_DBFS)
    b, a = Filter.coefficients("highpass", 200.0, 0.707, 0.0, RATE)
    impulse = np.zeros(len(response.samples))
    impulse[0] = 1.0
    np.testing.assert_allclose(response.samples, lfilter(b, a, impulse), atol=1e-12)
    assert analysis.measure_linearity(probe, LEVEL_DBFS).linear
    assert not analysis.measure_linearity(Probe(patch, "fuzz.in", "fuzz.out"), LEVEL_DBFS).linear


def test_from_an_output_port_replaces_it_for_what_it_feeds() -> None:
    probe = Probe(pedal_patch(), "pre.out", "tone.out")
    assert probe.chain == ["fuzz", "tone"]
    assert probe.entry_sources == [PortRef("pre", "out")]
    assert Probe(pedal_patch(), "fuzz.in", "tone.in").chain == ["fuzz"]


@pytest.mark.parametrize(
    ("from_port", "to_port", "fragment"),
    [
        ("nope.in", None, "--from nope.in: the patch has no node 'nope'"),
        ("fuzz.inn", None, "waveshaper 'fuzz' has no port 'inn'"),
        ("fuzz", None, "expected NODE.PORT"),
        (None, "tone.nope", "--to tone.nope: filter 'tone' has no port 'nope'"),
        ("tone.in", "pre.out", "no path from tone.in to pre.out"),
        ("fuzz.in", "out.right", "--to out.right: nothing is linked into it"),
    ],
)
def test_bad_from_or_to_is_a_clear_error(from_port: str | None, to_port: str | None, fragment: str) -> None:
    with pytest.raises(PatchError) as caught:
        analyze(pedal_patch(), from_port, to_port)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_patch_without_input_node_needs_from() -> None:
    patch = Patch()
    patch.add_node("oscillator", "osc")
    patch.add_node("filter", "tone")
    patch.add_node("output", "out")
    patch.connect("osc.out", "tone.in")
    patch.connect("tone.out", "out.left")
    with pytest.raises(PatchError, match=r"no input node.*--from NODE\.PORT, for example --from tone\.in$"):
        Probe(patch)
    probe = Probe(patch, "tone.in")  # the port suggested: the oscillator's link is replaced
    assert analysis.measure_linearity(probe, LEVEL_DBFS).linear


def test_a_source_inside_the_chain_is_reported_and_breaks_linearity() -> None:
    patch = chain_patch()
    patch.disconnect("guitar.out", "out.left")
    patch.add_node("mix", "sum")
    patch.add_node("oscillator", "hum", frequency_hz=50.0, amplitude=0.1)
    patch.connect("guitar.out", "sum.in1")
    patch.connect("hum.out", "sum.in2")
    patch.connect("sum.out", "out.left")
    result = analyze(patch, sweep_seconds=1.0)
    assert "nonlinear" in result.failed
    assert result.idle_dbfs > -30.0
    assert any("makes sound with no input" in warning for warning in result.warnings)
    # The IR is the response minus the output with no input: the hum is not in it.
    assert len(result.captured_ir) == 1 and result.captured_ir[0] == pytest.approx(1.0)


# -- capture into a convolver ------------------------------------------------------------------------
def _material_file(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "guitar.wav"
    soundfile.write(path, analysis.default_material(RATE, LEVEL_DBFS, seconds=0.5), RATE, subtype="FLOAT")
    return path


def test_capture_replaces_the_chain_with_a_convolver(tmp_path: Path) -> None:
    source_folder = tmp_path / "pedals"
    _material_file(source_folder)
    patch = chain_patch(("filter", "tone", {"type": "peak", "cutoff_hz": 800.0, "gain_db": 6.0}))
    patch.base_dir = source_folder
    patch.set_param("guitar", "file", "guitar.wav")
    result = analyze(patch, sweep_seconds=1.0)
    (tmp_path / "captures").mkdir()
    out = tmp_path / "captures" / "tone-capture.json"
    capture_patch(patch, result.captured_ir, out)
    saved = load(out, allow_outside_files=True)  # its material stayed in pedals/
    assert set(saved.nodes) == {"guitar", "capture", "out"}
    assert saved.nodes["capture"].params["file"] == "tone-capture-ir.wav"
    assert saved.nodes["capture"].params["normalize"] == "none"
    assert saved.nodes["guitar"].params["file"] == "../pedals/guitar.wav"
    info = soundfile.info(tmp_path / "captures" / "tone-capture-ir.wav")
    assert info.subtype == "FLOAT" and info.samplerate == RATE and info.frames == len(result.captured_ir)
    original, captured = render(patch, 0.6), render(saved, 0.6)
    assert analysis.energy_ratio_db(original - captured, original) < -60.0


def test_capture_beside_keeps_the_chain_behind_an_ab_switch(tmp_path: Path) -> None:
    _material_file(tmp_path)
    patch = chorus_patch()
    patch.base_dir = tmp_path
    patch.set_param("guitar", "file", "guitar.wav")
    result = analyze(patch, sweep_seconds=1.0)
    saved = capture_patch(patch, result.captured_ir, tmp_path / "ab.json", beside=True)
    assert {"chorus", "wobble", "capture", "ab"} <= set(saved.nodes)
    assert saved.nodes["ab"].params["level1"] == 1.0 and saved.nodes["ab"].params["level2"] == 0.0
    links = {str(link) for link in load(tmp_path / "ab.json").links}
    assert {"chorus.out -> ab.in1", "capture.out -> ab.in2", "ab.out -> out.left"} <= links
    np.testing.assert_allclose(render(saved, 0.3), render(patch, 0.3), atol=1e-12)


def test_capture_of_a_chain_drops_its_modulators(tmp_path: Path) -> None:
    patch = chorus_patch()
    saved = capture_patch(patch, np.array([1.0]), tmp_path / "flat.json", "chorus.in", "chorus.out")
    assert "chorus" not in saved.nodes and "wobble" not in saved.nodes
    assert {str(link) for link in saved.links} == {"guitar.out -> capture.in", "capture.out -> out.left"}
