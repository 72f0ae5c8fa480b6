"""Clock and sequencer: edges on exact samples after an hour, swing, gate lengths, steps on
clock edges, rests and reset; the kernels against the plain-Python references."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from tests.nodetools import run_node, run_node_class
from tests.reference_nodes.sequencing import REFERENCES

RATE = 48000


def clock_edges(params: dict, seconds: float, block: int = RATE) -> np.ndarray:
    """The samples of the clock's triggers over ``seconds``, run block by block."""
    from nodes.sequencing import Clock

    node = Clock(params)
    node.prepare(RATE, block)
    bpm = np.full(block, float(node.params["bpm"]))
    gate, trigger = np.zeros(block), np.zeros(block)
    edges = []
    for start in range(0, round(seconds * RATE), block):
        node.process({}, {"bpm": bpm}, {"gate": gate, "trigger": trigger})
        edges.append(start + np.flatnonzero(trigger))
    return np.concatenate(edges)


def test_an_hour_of_sixteenths_lands_every_edge_on_its_exact_sample() -> None:
    """137 BPM in sixteenths is 5255.47... samples a step: step k starts on ceil(k * step), the
    last of an hour as exactly as the first (no drift)."""
    edges = clock_edges({"bpm": 137.0, "division": "1/16"}, 3600.0)
    step = Fraction(60 * RATE * 4, 16 * 137)
    expected = [math.ceil(k * step) for k in range(len(edges))]
    np.testing.assert_array_equal(edges, expected)
    assert len(edges) == math.ceil(3600 * RATE / step)


@pytest.mark.parametrize("division, beats", [("1/4", 1), ("1/8T", Fraction(1, 3)), ("1/4.", Fraction(3, 2))])
def test_divisions_are_their_share_of_a_beat(division: str, beats: Fraction) -> None:
    edges = clock_edges({"bpm": 90.0, "division": division}, 20.0)
    step = beats * Fraction(60 * RATE, 90)
    np.testing.assert_array_equal(edges, [math.ceil(k * step) for k in range(len(edges))])


def test_swing_delays_every_second_step_by_its_share_of_a_step() -> None:
    """120 BPM eighths (12000 samples): 50 % swing starts the second of each pair 6000 late;
    the first of each pair stays on the beat."""
    edges = clock_edges({"bpm": 120.0, "division": "1/8", "swing_pct": 50.0}, 10.0)
    np.testing.assert_array_equal(edges[0::2], 24000 * np.arange(len(edges[0::2])))
    np.testing.assert_array_equal(edges[1::2], 24000 * np.arange(len(edges[1::2])) + 18000)
    triplet = clock_edges({"bpm": 100.0, "division": "1/16", "swing_pct": 100 / 3}, 10.0)
    step = Fraction(60 * RATE, 4 * 100)  # 7200 samples
    np.testing.assert_array_equal(np.diff(triplet)[:4], [9600, 4800, 9600, 4800])  # 2 : 1
    assert step == 7200


def test_the_gate_is_its_share_of_each_step_and_the_trigger_one_sample() -> None:
    out = run_node("clock", {"bpm": 120.0, "division": "1/4", "gate_pct": 25.0}, frames=3 * 24000)
    rising = np.flatnonzero(np.diff(out["gate"], prepend=0.0) > 0)
    falling = np.flatnonzero(np.diff(out["gate"], prepend=0.0) < 0)
    np.testing.assert_array_equal(rising, [0, 24000, 48000])
    np.testing.assert_array_equal(falling, [6000, 30000, 54000])
    np.testing.assert_array_equal(np.flatnonzero(out["trigger"]), rising)
    assert set(np.unique(out["gate"])) == {0.0, 1.0}
    swung = run_node("clock", {"division": "1/4", "swing_pct": 50.0, "gate_pct": 50.0}, frames=48000)
    falling = np.flatnonzero(np.diff(swung["gate"]) < 0) + 1
    np.testing.assert_array_equal(falling, [18000, 42000])  # half of 36000, half of 12000 past 36000


def test_a_bpm_signal_speeds_the_clock_and_zero_stops_it() -> None:
    bpm = np.where(np.arange(96000) < 48000, 0.0, 120.0)  # 120 + (-120, then 0)
    out = run_node("clock", {"bpm": 120.0, "division": "1/4"}, {"bpm": bpm - 120.0}, frames=96000)
    np.testing.assert_array_equal(np.flatnonzero(out["trigger"]), [0, 48000 + 24000])


def test_the_sequencer_steps_through_its_values_on_clock_edges() -> None:
    clock = run_node("clock", {"bpm": 120.0, "division": "1/8"}, frames=RATE * 3)
    params = {"steps": 5, "values": [1.0, 2.0, 3.0], "gates": [1.0, 0.0, 1.0, 1.0]}
    out = run_node("sequencer", params, {"clock": clock["gate"]}, frames=RATE * 3)
    edges = np.flatnonzero(clock["trigger"])
    # step k reads value k % 3 and gate k % 4, round a loop of 5 steps
    np.testing.assert_array_equal(out["step"][edges], [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1])
    np.testing.assert_array_equal(out["value"][edges], [1, 2, 3, 1, 2, 1, 2, 3, 1, 2, 1, 2])
    step_gates = np.array([1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0], dtype=float)
    np.testing.assert_array_equal(out["gate"][edges], step_gates)
    # the gate is the clock's gate in a step that plays, nothing in a rest
    np.testing.assert_array_equal(out["gate"][:12000], clock["gate"][:12000])
    assert not np.any(out["gate"][12000:24000])
    # values hold between edges
    assert np.all(out["value"][edges[1] : edges[2]] == 2.0)


def test_a_reset_makes_the_next_clock_edge_play_the_first_step() -> None:
    clock = np.tile(np.repeat([1.0, 0.0], 5), 10)  # an edge every 10 samples
    reset = np.zeros(100)
    reset[45:47] = 1.0
    out = run_node("sequencer", {"values": [10.0, 20.0, 30.0, 40.0]}, {"clock": clock, "reset": reset})
    np.testing.assert_array_equal(out["value"][::10], [10, 20, 30, 40, 10, 10, 20, 30, 40, 10])
    assert not np.any(out["gate"][46:50])  # rewound: off until the next edge


def test_before_its_first_clock_the_sequencer_shows_step_one_with_its_gate_off() -> None:
    out = run_node("sequencer", {}, {"clock": np.zeros(10)})
    assert np.all(out["value"] == 110.0) and not np.any(out["gate"])


# -- the kernels against the plain-Python references (tests/reference_nodes) -------------------
@pytest.mark.parametrize("block", [1, 7, 64, 65, 1024])
@pytest.mark.parametrize("division", ["1/16", "1/8T", "1/4."])
def test_clock_kernel_matches_the_reference(block: int, division: str) -> None:
    from patcher.spec import node_class

    rng = np.random.default_rng(block)
    frames = 40000
    bpm = np.cumsum(rng.standard_normal(frames)) * 0.5  # a wandering tempo
    params = {"bpm": 800.0, "division": division, "swing_pct": 40.0, "gate_pct": 30.0}
    for inputs in ({}, {"bpm": bpm}):
        expected = run_node_class(REFERENCES["clock"], params, inputs, block, frames=frames)
        got = run_node_class(node_class("clock"), params, inputs, block, frames=frames)
        for port in ("gate", "trigger"):
            np.testing.assert_array_equal(got[port], expected[port], err_msg=port)
        assert got["trigger"].sum() > 5


@pytest.mark.parametrize("block", [1, 7, 64, 65, 1024])
def test_sequencer_kernel_matches_the_reference(block: int) -> None:
    from patcher.spec import node_class

    rng = np.random.default_rng(block)
    frames = 3000
    inputs = {
        "clock": np.repeat(rng.random(frames // 10) > 0.5, 10).astype(float),
        "reset": (rng.random(frames) > 0.995).astype(float),
    }
    params = {"steps": 7, "values": list(rng.standard_normal(5)), "gates": [1.0, 0.0, 0.7]}
    expected = run_node_class(REFERENCES["sequencer"], params, inputs, block)
    got = run_node_class(node_class("sequencer"), params, inputs, block)
    for port in ("value", "gate", "step"):
        np.testing.assert_array_equal(got[port], expected[port], err_msg=port)
