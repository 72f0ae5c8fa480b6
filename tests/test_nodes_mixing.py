"""Gain, mix, pan and math: exact small cases, and their kernels against the numpy they replaced."""

from __future__ import annotations

import numpy as np
import pytest

from nodes.mixing import OPERATIONS
from tests.nodetools import run_node, run_node_class
from tests.reference_nodes.mixing import REFERENCES


def test_gain_scales_by_decibels() -> None:
    signal = np.linspace(-1.0, 1.0, 100)
    out = run_node("gain", {"gain_db": -20.0}, {"in": signal})["out"]
    np.testing.assert_allclose(out, 0.1 * signal, rtol=1e-15)
    # A signal into gain_db adds decibels, sample by sample.
    steps_db = np.array([0.0, 20.0, -20.0, 6.0])
    tremolo = run_node("gain", {"gain_db": 0.0}, {"in": np.ones(4), "gain_db": steps_db})
    np.testing.assert_allclose(tremolo["out"], [1.0, 10.0, 0.1, 10 ** (6 / 20)], rtol=1e-15)


def test_mix_sums_only_its_linked_inputs_at_their_levels() -> None:
    first, third = np.full(10, 0.5), np.full(10, -0.25)
    out = run_node("mix", {"level1": 2.0, "level2": 3.0, "level3": 4.0}, {"in1": first, "in3": third})["out"]
    np.testing.assert_array_equal(out, np.zeros(10))  # 2 * 0.5 + 4 * -0.25
    alone = run_node("mix", {"level4": 0.5}, {"in4": first})["out"]
    np.testing.assert_array_equal(alone, np.full(10, 0.25))


def test_pan_keeps_the_power_and_goes_hard_left_and_right() -> None:
    signal = np.ones(3)
    out = run_node("pan", {"pan": 0.0}, {"in": signal, "pan": np.array([-1.0, 0.0, 5.0])})
    np.testing.assert_allclose(out["left"], [1.0, np.sqrt(0.5), 0.0], atol=1e-15)
    np.testing.assert_allclose(out["right"], [0.0, np.sqrt(0.5), 1.0], atol=1e-15)  # 5 is held at 1


@pytest.mark.parametrize(
    "op, expected",
    [
        ("add", [1.5, -0.5, 2.5]),
        ("subtract", [-0.5, -3.5, 1.5]),
        ("multiply", [0.5, -3.0, 1.0]),
        ("min", [0.5, -2.0, 0.5]),
        ("max", [1.0, 1.5, 2.0]),
        ("abs", [0.5, 2.0, 2.0]),
        ("constant", [1.0, 1.5, 0.5]),
        ("divide", [0.5, -4.0 / 3.0, 4.0]),
        ("db_to_gain", [10**0.025, 0.1**0.1, 10**0.1]),
        ("gain_to_db", [20 * np.log10(0.5), 20 * np.log10(2.0), 20 * np.log10(2.0)]),
    ],
)
def test_math_does_each_operation(op: str, expected: list[float]) -> None:
    a, b = np.array([0.5, -2.0, 2.0]), np.array([1.0, 1.5, 0.5])
    out = run_node("math", {"op": op, "b": 0.0}, {"a": a, "b": b})["out"]
    np.testing.assert_allclose(out, expected, rtol=1e-15, atol=0)  # the powers and logs to an ulp


def test_math_divides_safely_and_converts_decibels() -> None:
    """Division by zero gives 0, as Pd's /~ does, and so does an overflowing quotient: no
    infinity or NaN for the engine to refuse. Silence is -200 dB; NaN stays NaN."""
    a = np.array([1.0, -3.0, 0.0, 1e300, 2.0, np.nan])
    b = np.array([4.0, 0.0, 0.0, 1e-300, -0.5, 1.0])
    out = run_node("math", {"op": "divide", "b": 0.0}, {"a": a, "b": b})["out"]
    np.testing.assert_array_equal(out[:5], [0.25, 0.0, 0.0, 0.0, -4.0])
    assert np.isnan(out[5])
    decibels = np.array([0.0, 20.0, -40.0, 6.0, 1e6])
    gains = run_node("math", {"op": "db_to_gain"}, {"a": decibels})["out"]
    np.testing.assert_allclose(gains[:4], [1.0, 10.0, 0.01, 10**0.3], rtol=1e-15)
    assert np.isfinite(gains[4])  # held at 6000 dB, the most a float holds
    levels = np.array([1.0, 10.0, -0.01, 0.0, 1e-10, 1e-9])
    back = run_node("math", {"op": "gain_to_db"}, {"a": levels})["out"]
    np.testing.assert_allclose(back, [0.0, 20.0, -40.0, -200.0, -200.0, -180.0], rtol=1e-14)
    round_trip = run_node("math", {"op": "gain_to_db"}, {"a": gains[:4]})["out"]
    np.testing.assert_allclose(round_trip, decibels[:4], atol=1e-12)


def test_math_takes_a_new_operation_live() -> None:
    """The operation is a number chosen when the param changes, not a name every block."""
    from nodes.mixing import Math

    node = Math({"op": "add"})
    node.prepare(48000, 4)
    out = np.zeros(4)
    node.install_change("op", "multiply", None)
    node.process({"a": np.full(4, 3.0)}, {"b": np.full(4, 2.0)}, {"out": out})
    np.testing.assert_array_equal(out, np.full(4, 6.0))


# -- the compiled kernels against the numpy they replaced (tests/reference_nodes) -------------
def _compare(type_name: str, params: dict, inputs: dict, block: int) -> None:
    from patcher.spec import node_class

    expected = run_node_class(REFERENCES[type_name], params, inputs, block)
    got = run_node_class(node_class(type_name), params, inputs, block)
    for port, values in expected.items():
        # numpy's power uses SIMD code that may differ from the C library's by an ulp.
        np.testing.assert_allclose(got[port], values, rtol=0, atol=1e-9, err_msg=port)


def _wander(rng: np.random.Generator, frames: int, low: float, high: float) -> np.ndarray:
    steps = np.cumsum(rng.standard_normal(frames))
    steps = (steps - steps.min()) / max(np.ptp(steps), 1e-12)
    return low + (high - low) * steps


FRAMES = 1500
BLOCKS = [1, 7, 64, 65, 256, 1024]


@pytest.mark.parametrize("block", BLOCKS)
def test_gain_kernel_matches_the_reference(block: int) -> None:
    rng = np.random.default_rng(block)
    signal = rng.standard_normal(FRAMES)
    _compare("gain", {"gain_db": -6.0}, {"in": signal}, block)
    _compare("gain", {"gain_db": 0.0}, {"in": signal, "gain_db": _wander(rng, FRAMES, -90.0, 24.0)}, block)
    _compare("gain", {"gain_db": 24.0}, {"in": signal}, block)
    _compare("gain", {"gain_db": -90.0}, {"in": signal}, block)


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("linked", [("in1",), ("in2", "in4"), ("in1", "in2", "in3", "in4")])
def test_mix_kernel_matches_the_reference(block: int, linked: tuple[str, ...]) -> None:
    rng = np.random.default_rng(block)
    inputs = {port: rng.standard_normal(FRAMES) for port in linked}
    params = {f"level{index}": float(rng.uniform(0.0, 4.0)) for index in range(1, 5)}
    _compare("mix", params, inputs, block)
    inputs |= {f"level{index}": _wander(rng, FRAMES, -1.0, 4.0) for index in (1, 4)}
    _compare("mix", params, inputs, block)


@pytest.mark.parametrize("block", BLOCKS)
def test_pan_kernel_matches_the_reference(block: int) -> None:
    rng = np.random.default_rng(block)
    signal = rng.standard_normal(FRAMES)
    for pan in (-1.0, -0.3, 0.0, 1.0):
        _compare("pan", {"pan": pan}, {"in": signal}, block)
    _compare("pan", {"pan": 0.0}, {"in": signal, "pan": _wander(rng, FRAMES, -1.5, 1.5)}, block)


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("op", OPERATIONS)
def test_math_kernel_matches_the_reference(block: int, op: str) -> None:
    rng = np.random.default_rng(block)
    a = rng.standard_normal(FRAMES)
    _compare("math", {"op": op, "b": 0.25}, {"a": a}, block)
    _compare("math", {"op": op, "b": -100000.0}, {"a": a, "b": _wander(rng, FRAMES, -2.0, 2.0)}, block)
    _compare("math", {"op": op, "b": 3.0}, {"b": rng.standard_normal(FRAMES)}, block)  # 'a' silent
