"""The ADSR: segment times exact in samples, against the analytic curves; sustain, release from
any level, retrigger; and its kernel against the plain-Python reference at any block size."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nodes.envelopes import ATTACK_CURVATURE, DECAY_CURVATURE
from tests.nodetools import run_node, run_node_class
from tests.reference_nodes.envelopes import REFERENCES

RATE = 48000


def gate(frames: int, *spans: tuple[int, int]) -> np.ndarray:
    """1.0 over each [start, stop) span, 0 elsewhere."""
    signal = np.zeros(frames)
    for start, stop in spans:
        signal[start:stop] = 1.0
    return signal


def exponential(x: np.ndarray, curvature: float) -> np.ndarray:
    return (1 - np.exp(-curvature * x)) / (1 - np.exp(-curvature))


def test_linear_segments_are_exact_to_the_sample() -> None:
    """At 48 kHz, 10 ms of attack peaks on sample 480 after the trigger, 20 ms of decay reach
    the sustain on sample 960 after the peak, 5 ms of release reach 0 on sample 240."""
    params = {"attack_ms": 10.0, "decay_ms": 20.0, "sustain": 0.25, "release_ms": 5.0, "curve": "linear"}
    on, off = 100, 3000
    out = run_node("adsr", params, {"gate": gate(4000, (on, off))}, sample_rate=RATE)["out"]
    expected = np.zeros(4000)
    expected[on : on + 481] = np.arange(481) / 480
    expected[on + 480 : on + 1441] = 1 - 0.75 * np.arange(961) / 960
    expected[on + 1440 : off] = 0.25
    expected[off : off + 241] = 0.25 * (1 - np.arange(241) / 240)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-15)
    assert out[on + 480] == 1.0 and out[on + 1440] == 0.25 and out[off + 240] == 0.0


def test_exponential_segments_follow_their_formula_and_land_on_time() -> None:
    params = {"attack_ms": 5.0, "decay_ms": 10.0, "sustain": 0.5, "release_ms": 20.0, "level": 2.0}
    on, off = 0, 2000
    out = run_node("adsr", params, {"gate": gate(3500, (on, off))}, sample_rate=RATE)["out"]
    attack, decay, release = 240, 480, 960
    np.testing.assert_allclose(
        out[: attack + 1], 2 * exponential(np.arange(attack + 1) / attack, ATTACK_CURVATURE)
    )
    falling = exponential(np.arange(decay + 1) / decay, DECAY_CURVATURE)
    np.testing.assert_allclose(out[attack : attack + decay + 1], 2 * (1 - 0.5 * falling), rtol=1e-13)
    np.testing.assert_allclose(out[attack + decay : off], 1.0, rtol=0)  # the sustain, times level 2
    falling = exponential(np.arange(release + 1) / release, DECAY_CURVATURE)
    np.testing.assert_allclose(out[off : off + release + 1], 1.0 - falling, rtol=1e-12, atol=1e-15)
    assert out[attack] == 2.0 and np.all(out[off + release :] == 0.0)
    # The attack is concave (fast, then slowing), like a charging capacitor: halfway in time it is
    # well past halfway in level; decay and release keep falling steeply at first.
    assert out[attack // 2] / 2 > 0.6 and out[off + release // 10] < 0.5
    assert math.isclose(ATTACK_CURVATURE, math.log(1 + 1 / 0.3))


def test_a_release_starts_from_the_level_reached_and_takes_its_whole_time() -> None:
    """The gate ends a quarter of the way up the attack: the release runs from there to 0 in
    its own time (a constant time, not a constant rate)."""
    params = {"attack_ms": 10.0, "release_ms": 10.0, "curve": "linear"}
    out = run_node("adsr", params, {"gate": gate(1500, (0, 120))}, sample_rate=RATE)["out"]
    reached = 119 / 480
    assert out[119] == pytest.approx(reached)
    np.testing.assert_allclose(out[120 : 120 + 481], reached * (1 - np.arange(481) / 480), atol=1e-15)
    assert np.all(out[600:] == 0.0)


@pytest.mark.parametrize("retrigger", ["from_level", "from_zero"])
def test_a_retrigger_restarts_the_attack_from_the_level_or_from_zero(retrigger: str) -> None:
    params = {"attack_ms": 10.0, "decay_ms": 10.0, "sustain": 0.5, "release_ms": 100.0}
    params |= {"curve": "linear", "retrigger": retrigger}
    # held to the sustain, released for 1000 samples, then triggered again
    out = run_node("adsr", params, {"gate": gate(4000, (0, 1500), (2500, 4000))}, sample_rate=RATE)["out"]
    before = out[2499]
    assert before == pytest.approx(0.5 * (1 - 999 / 4800))
    start = before if retrigger == "from_level" else 0.0
    expected = start + (1 - start) * np.arange(481) / 480
    np.testing.assert_allclose(out[2500 : 2500 + 481], expected, atol=1e-15)


def test_zero_times_jump_at_once_and_a_gate_held_from_the_start_triggers() -> None:
    params = {"attack_ms": 0.0, "decay_ms": 0.0, "sustain": 0.3, "release_ms": 0.0}
    out = run_node("adsr", params, {"gate": gate(10, (0, 5))}, sample_rate=RATE)["out"]
    np.testing.assert_allclose(out, [0.3] * 5 + [0.0] * 5)
    attack_only = run_node("adsr", params | {"decay_ms": 1.0}, {"gate": gate(3, (0, 3))})["out"]
    assert attack_only[0] == 1.0  # the peak on the trigger's own sample


def test_the_gate_is_on_above_one_half_and_the_sustain_follows_a_signal() -> None:
    signal = np.array([0.0, 0.5, 0.51, 0.9, np.nan, 0.6, 0.6, 0.6])
    out = run_node("adsr", {"attack_ms": 0.0, "decay_ms": 0.0, "release_ms": 0.0}, {"gate": signal})["out"]
    np.testing.assert_allclose(out, [0, 0, 0.7, 0.7, 0, 0.7, 0.7, 0.7])
    wobble = 0.1 * np.sin(np.arange(100))
    held = run_node("adsr", {"attack_ms": 0.0, "decay_ms": 0.0}, {"gate": np.ones(100), "sustain": wobble})
    np.testing.assert_allclose(held["out"], 0.7 + wobble)


def test_the_preview_is_the_envelope_heard() -> None:
    from nodes.envelopes import Adsr

    times_ms, out = Adsr.shape_preview({"attack_ms": 100.0, "decay_ms": 100.0, "curve": "linear"}, 400)
    assert len(times_ms) == len(out) == 400
    assert times_ms[np.argmax(out)] == pytest.approx(100.0, abs=2 * times_ms[1])
    assert out.max() == 1.0 and out[-1] == 0.0 and np.any(np.isclose(out, 0.7))


# -- the kernel against the plain-Python reference (tests/reference_nodes) ---------------------
@pytest.mark.parametrize("block", [1, 7, 64, 65, 1024])
@pytest.mark.parametrize("curve", ["linear", "exponential"])
@pytest.mark.parametrize("retrigger", ["from_level", "from_zero"])
def test_kernel_matches_the_reference(block: int, curve: str, retrigger: str) -> None:
    from patcher.spec import node_class

    rng = np.random.default_rng(block)
    frames = 3000
    gates = np.repeat(rng.random(frames // 50) > 0.4, 50).astype(float)
    inputs = {"gate": gates, "sustain": 0.3 * rng.standard_normal(frames), "level": rng.random(frames)}
    params = {"attack_ms": 1.0, "decay_ms": 0.5, "release_ms": 2.0, "curve": curve, "retrigger": retrigger}
    expected = run_node_class(REFERENCES["adsr"], params, inputs, block)
    got = run_node_class(node_class("adsr"), params, inputs, block)
    np.testing.assert_allclose(got["out"], expected["out"], rtol=0, atol=1e-12)
