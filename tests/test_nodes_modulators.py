"""Modulators: the LFO's rate, range, start phase, shapes and seeded sample-and-hold."""

from __future__ import annotations

import numpy as np
import pytest

from nodes.modulators import LFO_SHAPES, PREVIEW_STEPS, Lfo
from tests.nodetools import run_node
from tests.reference_nodes.modulators import ReferenceLfo
from tests.test_nodes_sources import CHUNKINGS, SAMPLE_RATES, _run_with_arrays, side_by_side

RATE = 48000


def _lfo(params: dict, seconds: float = 1.0, sample_rate: int = RATE, **kwargs) -> np.ndarray:
    return run_node("lfo", params, frames=int(seconds * sample_rate), sample_rate=sample_rate, **kwargs)[
        "out"
    ]


def _runs(signal: np.ndarray) -> np.ndarray:
    """Lengths of the stretches where the signal holds one value."""
    changes = np.flatnonzero(np.diff(signal) != 0.0) + 1
    return np.diff(np.concatenate(([0], changes, [len(signal)])))


@pytest.mark.parametrize("rate_hz", [0.5, 5.0, 37.0])
def test_rate_sets_the_number_of_cycles(rate_hz: float) -> None:
    out = _lfo({"rate_hz": rate_hz}, seconds=4.0)
    rising = np.count_nonzero((out[:-1] < 0.0) & (out[1:] >= 0.0)) + 1  # the start is a rising zero
    assert rising == round(4.0 * rate_hz), f"{rate_hz} Hz gave {rising} cycles in 4 s"
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    peak_hz = np.argmax(spectrum) / 4.0
    assert peak_hz == pytest.approx(rate_hz, abs=0.25), f"spectral peak at {peak_hz} Hz"


@pytest.mark.parametrize("shape", ["sine", "triangle", "saw", "square"])
def test_depth_and_offset_set_the_range(shape: str) -> None:
    out = _lfo({"shape": shape, "rate_hz": 3.0, "depth": 500.0, "offset": 1000.0})
    assert out.max() == pytest.approx(1500.0, abs=0.5), f"{shape} max {out.max()}"
    assert out.min() == pytest.approx(500.0, abs=0.5), f"{shape} min {out.min()}"
    assert np.mean(out) == pytest.approx(1000.0, abs=1.0), f"{shape} swings around {np.mean(out)}"


@pytest.mark.parametrize("shape", LFO_SHAPES)
def test_unipolar_spans_offset_to_offset_plus_depth(shape: str) -> None:
    out = _lfo({"shape": shape, "rate_hz": 20.0, "depth": 2.0, "offset": -1.0, "polarity": "unipolar"})
    assert out.min() >= -1.0 and out.max() <= 1.0, f"{shape} unipolar left [-1, 1]"
    if shape != "sample_and_hold":
        assert out.min() == pytest.approx(-1.0, abs=1e-3) and out.max() == pytest.approx(1.0, abs=1e-3)


def test_negative_depth_inverts_the_wave() -> None:
    up = _lfo({"shape": "saw", "rate_hz": 2.0})
    down = _lfo({"shape": "saw", "rate_hz": 2.0, "depth": -1.0})
    np.testing.assert_allclose(down, -up, atol=1e-12)


@pytest.mark.parametrize(
    ("shape", "phase_deg", "first"),
    [
        ("sine", 0.0, 0.0),
        ("sine", 90.0, 1.0),
        ("sine", 270.0, -1.0),
        ("triangle", 90.0, 1.0),
        ("saw", 180.0, -1.0),
        ("square", 0.0, 1.0),
        ("square", 180.0, -1.0),
    ],
)
def test_phase_deg_sets_the_start(shape: str, phase_deg: float, first: float) -> None:
    out = _lfo({"shape": shape, "rate_hz": 1.0, "phase_deg": phase_deg}, seconds=0.01)
    assert out[0] == pytest.approx(first, abs=1e-9), f"{shape} at {phase_deg} degrees starts at {out[0]}"


def test_shapes_have_their_form() -> None:
    rate_hz, frames = 4.0, RATE // 4  # exactly one cycle
    phase = np.arange(frames) * rate_hz / RATE
    np.testing.assert_allclose(
        _lfo({"shape": "sine", "rate_hz": rate_hz}, 0.25), np.sin(2 * np.pi * phase), atol=1e-8
    )
    saw = _lfo({"shape": "saw", "rate_hz": rate_hz}, 0.25)
    assert np.count_nonzero(np.diff(saw) < 0) == 1, "a saw falls once per cycle"
    square = _lfo({"shape": "square", "rate_hz": rate_hz}, 0.25)
    assert set(np.unique(square)) == {-1.0, 1.0} and np.mean(square > 0) == pytest.approx(0.5)
    triangle = _lfo({"shape": "triangle", "rate_hz": rate_hz}, 0.25)
    np.testing.assert_allclose(np.abs(np.diff(triangle)), 4 * rate_hz / RATE, atol=1e-8)


def test_sample_and_hold_holds_one_value_per_cycle() -> None:
    out = _lfo({"shape": "sample_and_hold", "rate_hz": 10.0}, seconds=2.0)
    runs = _runs(out)
    assert len(runs) == 20, f"10 Hz over 2 s gave {len(runs)} held values"
    # 10 / 48000 is not a whole number of 2**-40 phase steps: a cycle may end a sample off.
    assert np.all(np.abs(runs - RATE // 10) <= 1), f"holds last {sorted(set(runs))} samples, not {RATE // 10}"
    held = out[:: RATE // 10]
    assert np.all(np.abs(held) <= 1.0) and np.std(held) > 0.3, "held values should spread over [-1, 1]"


def test_sample_and_hold_is_seeded() -> None:
    params = {"shape": "sample_and_hold", "rate_hz": 50.0}
    first = _lfo(params | {"seed": 11}, 0.2)
    np.testing.assert_array_equal(first, _lfo(params | {"seed": 11}, 0.2))
    assert not np.array_equal(first, _lfo(params | {"seed": 12}, 0.2)), "seeds 11 and 12 gave the same values"


def test_negative_rate_runs_backwards() -> None:
    frames = 4800
    out = run_node(
        "lfo", {"shape": "saw", "rate_hz": 5.0}, {"rate_hz": np.full(frames, -10.0)}, frames=frames
    )["out"]
    assert np.all(np.diff(out)[np.abs(np.diff(out)) < 1.0] < 0.0), "a saw running backwards should fall"


@pytest.mark.parametrize("shape", LFO_SHAPES)
def test_modulated_output_does_not_depend_on_block_size(shape: str) -> None:
    frames = 6000
    rng = np.random.default_rng(2)
    inputs = {
        "rate_hz": 60.0 * np.sin(np.arange(frames) * 0.002) + rng.normal(0.0, 20.0, frames),
        "depth": rng.normal(0.0, 0.5, frames),
        "offset": np.linspace(0.0, 3.0, frames),
    }
    params = {"shape": shape, "rate_hz": 40.0}
    reference = run_node("lfo", params, inputs, frames=frames, block=256)["out"]
    for block in (1, 64, 65, 1024):
        result = run_node("lfo", params, inputs, frames=frames, block=block)["out"]
        np.testing.assert_allclose(result, reference, rtol=0, atol=1e-9, err_msg=f"{shape} at block {block}")


@pytest.mark.parametrize("every", [1, 2])
@pytest.mark.parametrize("block", [1, 64, 65])
@pytest.mark.parametrize("rate_hz", [0.15, 40.0, 5000.0, -7.0, -30000.0])
@pytest.mark.parametrize("polarity", ["bipolar", "unipolar"])
@pytest.mark.parametrize("shape", LFO_SHAPES)
def test_constant_params_give_exactly_what_the_same_params_as_signals_give(
    shape: str, polarity: str, rate_hz: float, block: int, every: int
) -> None:
    # Both paths compute the same integer phases, so the results are equal, not just close.
    frames = 1500
    params = {"shape": shape, "polarity": polarity, "rate_hz": rate_hz, "depth": 3.0, "offset": 0.5}
    reference = run_node("lfo", params, frames=frames, block=block)["out"]
    result = _run_with_arrays("lfo", params, ("rate_hz", "depth", "offset"), frames, block, every)
    np.testing.assert_array_equal(result, reference, err_msg=f"{shape} at {rate_hz} Hz, block {block}")


def test_reset_restarts_phase_and_random_sequence() -> None:
    node = Lfo({"shape": "sample_and_hold", "rate_hz": 100.0})
    node.prepare(RATE, 2048)
    first, again = np.zeros(2048), np.zeros(2048)
    node.process({}, node.params, {"out": first})
    node.reset()
    node.process({}, node.params, {"out": again})
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("shape", LFO_SHAPES)
def test_preview_is_what_the_lfo_plays(shape: str) -> None:
    params = {
        "shape": shape,
        "depth": 3.0,
        "offset": 1.0,
        "phase_deg": 30.0,
        "polarity": "unipolar",
        "seed": 9,
    }
    rate_hz = 1.0  # at 256 samples per second, one cycle is the preview's 256 points
    if shape == "sample_and_hold":  # its preview shows the first PREVIEW_STEPS held values
        params["phase_deg"], rate_hz = 0.0, float(PREVIEW_STEPS)
    preview = Lfo.waveform_preview(params, points=256)
    played = run_node("lfo", params | {"rate_hz": rate_hz}, frames=256, sample_rate=256)["out"]
    np.testing.assert_allclose(preview, played, atol=1e-9, err_msg=f"{shape} preview")


# -- the kernel against its numpy reference -------------------------------------------------
def _lfo_signals(frames: int, sample_rate: int, seed: int = 6) -> dict[str, np.ndarray]:
    """Rates through zero and up past Nyquist (many held values a block), NaN here and there."""
    rng = np.random.default_rng(seed)
    rate = 0.6 * sample_rate * np.sin(np.arange(frames) * 0.004) ** 3 + rng.normal(0.0, 30.0, frames)
    rate[::101] = np.nan
    return {
        "rate_hz": rate,
        "depth": rng.normal(0.0, 2000.0, frames),
        "offset": np.linspace(-20000.0, 20000.0, frames),
    }


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
@pytest.mark.parametrize("shape", LFO_SHAPES)
def test_lfo_matches_its_numpy_reference(shape: str, sample_rate: int) -> None:
    frames = 1200
    for polarity in ("bipolar", "unipolar"):
        params = {"shape": shape, "polarity": polarity, "rate_hz": 0.013 * sample_rate, "phase_deg": 200.0}
        for signals in ({}, _lfo_signals(frames, sample_rate)):
            for chunks in CHUNKINGS:
                result, expected = side_by_side(
                    Lfo, ReferenceLfo, params, signals, frames, chunks, sample_rate
                )
                np.testing.assert_allclose(
                    result,
                    expected,
                    rtol=0,
                    atol=1e-9,
                    err_msg=f"{shape} {polarity} in calls of {chunks}, modulated: {bool(signals)}",
                )


@pytest.mark.parametrize(
    ("rate_hz", "depth", "offset", "phase_deg"),
    [(0.001, 20000.0, -20000.0, 0.0), (100.0, -20000.0, 20000.0, 360.0), (100.0, 0.0, 0.0, 359.9)],
)
def test_lfo_matches_its_reference_at_the_params_extremes(
    rate_hz: float, depth: float, offset: float, phase_deg: float
) -> None:
    for shape in LFO_SHAPES:
        for polarity in ("bipolar", "unipolar"):
            params = {
                "shape": shape,
                "polarity": polarity,
                "rate_hz": rate_hz,
                "depth": depth,
                "offset": offset,
                "phase_deg": phase_deg,
            }
            result, expected = side_by_side(Lfo, ReferenceLfo, params, {}, 8000, (64,), 8000)
            np.testing.assert_allclose(result, expected, rtol=0, atol=1e-9, err_msg=str(params))


@pytest.mark.parametrize("chunks", [(7,), (64,), (1024,)])
def test_lfo_matches_its_reference_through_live_changes(chunks: tuple[int, ...]) -> None:
    frames = 8000
    glide = np.zeros(frames)
    glide[1000:5000] = np.linspace(0.0, 3000.0, 4000)  # a rate ramp, as the engine glides
    changes = {
        600: {"shape": "sample_and_hold"},
        1800: {"seed": 77, "polarity": "unipolar"},
        2500: {"shape": "square"},
        3000: {"shape": "sample_and_hold", "phase_deg": 45.0},
        3500: {"reset": True},
        4400: {"polarity": "bipolar", "shape": "triangle"},
        6000: {"shape": "sample_and_hold", "seed": 5},
    }
    result, expected = side_by_side(
        Lfo,
        ReferenceLfo,
        {"shape": "saw", "rate_hz": 40.0},
        {"rate_hz": glide},
        frames,
        chunks,
        48000,
        changes,
    )
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-9, err_msg=f"in calls of {chunks}")
