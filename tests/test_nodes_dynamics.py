"""Follower and compressor: time constants, peak and RMS, the compressor's static curve against
Giannoulis, Massberg and Reiss (2012) measured with steady sines, the limiter's ceiling, the
sidechain; the kernels against the plain-Python references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.nodetools import run_node, run_node_class
from tests.reference_nodes.dynamics import REFERENCES, giannoulis_curve

RATE = 48000


def test_the_follower_reaches_1_minus_1_over_e_after_its_attack_and_1_over_e_after_its_release() -> None:
    step = np.concatenate([np.ones(20000), np.zeros(20000)])
    out = run_node("follower", {"attack_ms": 10.0, "release_ms": 50.0}, {"in": step})["out"]
    assert out[480 - 1] == pytest.approx(1 - 1 / math.e, rel=1e-12)  # the step's 480th sample
    held = out[19999]
    assert held == pytest.approx(1.0, abs=1e-12)
    assert out[20000 + 2400 - 1] == pytest.approx(held / math.e, rel=1e-9)
    assert np.all(np.diff(out[:20000]) >= 0) and np.all(np.diff(out[20000:]) <= 0)


@pytest.mark.parametrize("detector, expected", [("peak", 0.5), ("rms", 0.5 / math.sqrt(2))])
def test_the_follower_gives_a_sine_s_peak_or_rms(detector: str, expected: float) -> None:
    sine = 0.5 * np.sin(2 * np.pi * 100 * np.arange(RATE) / RATE)
    # peak: a fast attack and a slow release hold the crests; rms: equal times average x squared
    times = (
        {"attack_ms": 0.1, "release_ms": 2000.0}
        if detector == "peak"
        else {"attack_ms": 50.0, "release_ms": 50.0}
    )
    params = times | {"detector": detector}
    out = run_node("follower", params, {"in": sine})["out"]
    assert np.mean(out[-4800:]) == pytest.approx(expected, rel=0.01)


def test_the_follower_at_zero_times_is_the_rectified_input() -> None:
    signal = np.random.default_rng(1).standard_normal(100)
    out = run_node("follower", {"attack_ms": 0.0, "release_ms": 0.0}, {"in": signal})["out"]
    np.testing.assert_array_equal(out, np.abs(signal))


# -- the compressor ---------------------------------------------------------------------------
def steady_peak_db(params: dict, level_db: float, sidechain_db: float | None = None) -> float:
    """Output level (dB) at the peaks of a steady 1 kHz cosine at ``level_db`` (peak), after
    a second: with an instant attack the gain at a peak is the static curve's."""
    phase = 2 * np.pi * 1000 * np.arange(RATE) / RATE  # 48 samples a cycle: peaks on samples
    inputs = {"in": 10 ** (level_db / 20) * np.cos(phase)}
    if sidechain_db is not None:
        inputs["sidechain"] = 10 ** (sidechain_db / 20) * np.cos(phase)
    out = run_node("compressor", params | {"attack_ms": 0.0, "release_ms": 1000.0}, inputs)["out"]
    return 20 * math.log10(out[-48])


@pytest.mark.parametrize("knee_db", [0.0, 10.0])
@pytest.mark.parametrize("ratio", [2.0, 4.0, 100.0])
def test_the_static_curve_is_giannoulis_s(knee_db: float, ratio: float) -> None:
    params = {"threshold_db": -20.0, "ratio": ratio, "knee_db": knee_db, "makeup_db": 3.0}
    levels = np.array([-40.0, -26.0, -22.0, -20.0, -18.0, -14.0, -6.0, 0.0])
    measured = [steady_peak_db(params, level) for level in levels]
    expected = giannoulis_curve(levels, -20.0, ratio, knee_db) + 3.0
    np.testing.assert_allclose(measured, expected, atol=1e-9)
    from nodes.dynamics import Compressor

    np.testing.assert_allclose(Compressor.static_curve(params, levels), expected, atol=1e-12)


def test_the_soft_knee_meets_both_lines_smoothly() -> None:
    from nodes.dynamics import Compressor

    params = {"threshold_db": -20.0, "ratio": 4.0, "knee_db": 12.0, "makeup_db": 0.0}
    levels = np.linspace(-40.0, 0.0, 4001)
    curve = Compressor.static_curve(params, levels)
    slope = np.diff(curve) / np.diff(levels)
    assert np.all(np.abs(np.diff(slope)) < 1e-3)  # no corner anywhere
    assert slope[0] == pytest.approx(1.0) and slope[-1] == pytest.approx(0.25)
    assert curve[levels == -20.0][0] == pytest.approx(-20.0 - 0.75 * 36 / 24)  # (1/R - 1)(W/2)^2/2W


def test_a_limiter_with_an_instant_attack_never_passes_its_ceiling() -> None:
    noise = 4.0 * np.random.default_rng(3).standard_normal(RATE)
    params = {"threshold_db": -6.0, "ratio": 100.0, "knee_db": 0.0, "attack_ms": 0.0, "release_ms": 50.0}
    out = run_node("compressor", params, {"in": noise})
    ceiling = 10 ** (-6 / 20)
    assert np.max(np.abs(out["out"])) <= ceiling * (1 + 1e-12)
    assert np.max(np.abs(out["out"])) == pytest.approx(ceiling)
    assert np.min(out["gain_db"]) < -20.0 and np.max(out["gain_db"]) <= 0.0


def test_the_sidechain_sets_the_gain_when_it_is_linked() -> None:
    params = {"threshold_db": -30.0, "ratio": 4.0, "knee_db": 0.0}
    quiet_db, loud_db = -40.0, -10.0
    # the quiet input alone is under the threshold; keyed by a loud sidechain it is turned down
    assert steady_peak_db(params, quiet_db) == pytest.approx(quiet_db, abs=1e-9)
    reduction = loud_db - giannoulis_curve(loud_db, -30.0, 4.0, 0.0)
    assert steady_peak_db(params, quiet_db, loud_db) == pytest.approx(quiet_db - reduction, abs=1e-9)


def test_the_gain_reduction_moves_with_the_attack_and_release_time_constants() -> None:
    """A jump from silence to 0 dB over a -20 dB threshold, limiting: the reduction heads for 20
    dB, 1 - 1/e of the way there after the attack time; back in silence it falls to 1/e."""
    signal = np.concatenate([np.ones(10000), np.zeros(20000)])
    params = {"threshold_db": -20.0, "ratio": 100.0, "knee_db": 0.0, "attack_ms": 5.0, "release_ms": 100.0}
    gain_db = run_node("compressor", params, {"in": signal})["gain_db"]
    assert gain_db[240 - 1] == pytest.approx(-20 * (1 - 1 / math.e), rel=1e-9)
    assert gain_db[9999] == pytest.approx(-20.0, abs=1e-6)
    assert gain_db[10000 + 4800 - 1] == pytest.approx(gain_db[9999] / math.e, rel=1e-9)


# -- the kernels against the plain-Python references (tests/reference_nodes) -------------------
FRAMES = 2000


@pytest.mark.parametrize("block", [1, 7, 64, 65, 1024])
@pytest.mark.parametrize("detector", ["peak", "rms"])
def test_follower_kernel_matches_the_reference(block: int, detector: str) -> None:
    from patcher.spec import node_class

    signal = np.random.default_rng(block).standard_normal(FRAMES) * np.linspace(0, 2, FRAMES)
    params = {"attack_ms": 1.0, "release_ms": 10.0, "detector": detector}
    expected = run_node_class(REFERENCES["follower"], params, {"in": signal}, block)
    got = run_node_class(node_class("follower"), params, {"in": signal}, block)
    np.testing.assert_allclose(got["out"], expected["out"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("block", [1, 7, 64, 65, 1024])
@pytest.mark.parametrize("sidechain", [False, True])
def test_compressor_kernel_matches_the_reference(block: int, sidechain: bool) -> None:
    from patcher.spec import node_class

    rng = np.random.default_rng(block)
    inputs = {"in": rng.standard_normal(FRAMES), "threshold_db": 5 * rng.standard_normal(FRAMES)}
    if sidechain:
        inputs["sidechain"] = 0.1 * rng.standard_normal(FRAMES)
    params = {"threshold_db": -12.0, "ratio": 3.0, "knee_db": 6.0, "attack_ms": 1.0, "release_ms": 20.0}
    params["makeup_db"] = 4.0
    expected = run_node_class(REFERENCES["compressor"], params, inputs, block)
    got = run_node_class(node_class("compressor"), params, inputs, block)
    for port in ("out", "gain_db"):
        np.testing.assert_allclose(got[port], expected[port], rtol=1e-12, atol=1e-12, err_msg=port)
