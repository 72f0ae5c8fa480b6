"""The compiled program: nodes with an entry run inside it, and sound as through ``process``."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import pytest

import patcher
from nodes.sources import random_state
from patcher.compiled import CHECK, COMPILED, SKIP, STOP, Program, entry, split
from patcher.events import NOTE_OFF, NOTE_ON, PITCH_BEND, Event, EventTimeline
from patcher.spec import node_class, registry
from tests.test_plan import by_steps

#: Node types that run compiled, and the settings each is tried in (every mode its entry runs,
#: every setting it passes its kernel away from its default); "unlinked": inputs left silent.
VARIANTS = {
    "gain": [{}],
    "mix": [{}, {"unlinked": ("in2", "in4"), "level3": 2.0}],
    "pan": [{"pan": 0.4}],
    "math": [{"op": op} for op in ("multiply", "divide", "gain_to_db")],
    "filter": [{"type": kind} for kind in ("lowpass", "peak", "highshelf")],
    "lfo": [
        {"shape": shape, "polarity": polarity, "offset": 0.2}
        for shape in ("sine", "square")
        for polarity in ("bipolar", "unipolar")
    ],
    "oscillator": [{"waveform": waveform} for waveform in ("sine", "saw", "square", "triangle")],
    "noise": [{"color": "white", "seed": 7}, {"color": "pink"}],
    "delay": [
        {"time_ms": 3.0, "feedback": 0.7, "damping_hz": 3000.0},
        {"time_ms": 40.0, "feedback": 0.5, "mix": 0.7},
    ],
    "waveshaper": [
        {"shape": "tanh", "drive_db": 6.0, "bias": 0.3, "output_db": -6.0},
        {"shape": "soft_clip", "bias": -0.2},
        {"shape": "curve", "curve": [0.0, 0.9, -0.4, 0.7, 1.0], "output_db": 3.0},
        {"shape": "asymmetric"},
    ],
    "output": [{"level_db": -3.0}, {"unlinked": ("right",)}],
    "adsr": [{"curve": "exponential"}, {"curve": "linear", "retrigger": "from_zero"}],
    "clock": [{}, {"bpm": 900.0, "division": "1/16", "swing_pct": 30.0, "gate_pct": 30.0}],
    "sequencer": [{"steps": 5}],
    "follower": [{"detector": "peak"}, {"detector": "rms", "attack_ms": 2.0}],
    "note": [{}, {"glide_ms": 30.0, "retrigger": True, "channel": 1, "bend_semitones": 7.0}],
    "compressor": [
        {"knee_db": 0.0},
        {"ratio": 100.0, "threshold_db": -30.0},
        {"unlinked": ("sidechain",), "threshold_db": -20.0},
    ],
}
#: Settings changed while the node runs to a value of their own (the rest: see ``changed``).
CHANGES = {
    ("waveshaper", "curve"): [0.0, 0.5, 1.0],
    ("sequencer", "values"): [220.0, 330.0, 110.0],
    ("sequencer", "gates"): [1.0, 1.0, 0.0, 1.0],
}


def test_every_node_type_with_an_entry_is_tried_here() -> None:
    compiled = {name for name, cls in registry().items() if cls.ENTRY is not None}
    assert compiled == set(VARIANTS)


def node_under_test(type_name: str, settings: dict) -> patcher.Patch:
    """The node with noise into every input (but those ``unlinked``) and an LFO into every
    modulatable param (half its value or a tenth of its range either way), its outputs summed
    to the output."""
    cls = node_class(type_name)
    params = {name: value for name, value in settings.items() if name != "unlinked"}
    patch = patcher.Patch()
    patch.add_node(type_name, "node", **params)
    for index, port in enumerate(cls.INPUTS):
        if port not in settings.get("unlinked", ()):
            patch.add_node("noise", f"source{index}", seed=index + 1, amplitude=0.8)
            patch.connect(f"source{index}.out", f"node.{port}")
    for name, param in cls.PARAMS.items():
        if param.modulatable:
            value = params.get(name, param.default)
            depth = 0.5 * abs(value) if value else 0.1 * (param.max - param.min)
            patch.add_node("lfo", f"moves_{name}", rate_hz=7.0, depth=depth)
            patch.connect(f"moves_{name}.out", f"node.{name}")
    if not cls.IS_SINK:
        patch.add_node("output", "out")
        for port in cls.OUTPUTS:
            patch.connect(f"node.{port}", "out.left")
    return patch


def engine_for(type_name: str, settings: dict) -> patcher.Engine:
    """An engine of ``node_under_test`` at block 64; a node that takes events gets a score:
    overlapping notes on two channels, a pitch bend, the notes off (some within one block)."""
    engine = patcher.Engine(node_under_test(type_name, settings), block_size=64)
    if node_class(type_name).TAKES_EVENTS:
        engine.play_events(
            EventTimeline(
                [
                    Event(10, NOTE_ON, 1, 60, 0.8),
                    Event(130, NOTE_ON, 2, 67, 0.5),
                    Event(131, NOTE_ON, 1, 64, 1.0),
                    Event(300, PITCH_BEND, 1, 0, 0.5),
                    Event(700, NOTE_OFF, 1, 64, 0.0),
                    Event(701, NOTE_ON, 1, 72, 0.9),
                    Event(1500, NOTE_OFF, 1, 72, 0.0),
                    Event(1500, NOTE_OFF, 1, 60, 0.0),
                ]
            )
        )
    return engine


def changed(param: Any, value: Any) -> Any:
    """Another value for a setting (None: one this test leaves alone)."""
    if param.kind == "choice":
        return next(choice for choice in param.choices if choice != value)
    if param.kind in ("float", "int"):
        other = param.min + 0.3 * (param.max - param.min)
        return int(other) if param.kind == "int" else other
    return None


def perform(engine: patcher.Engine, type_name: str) -> np.ndarray:
    """Blocks with a change of each modulatable param between them (a step, then a glide back),
    of each other setting, a short block and a reset."""
    node = engine.schedule.nodes["node"]
    blocks = [engine.process_block().copy() for _ in range(4)]
    for name, param in node_class(type_name).PARAMS.items():
        start = node.params[name]
        if param.modulatable:
            engine.set_param(
                "node", name, 0.7 * start if start else param.min + 0.3 * (param.max - param.min), 0.0
            )
            blocks += [engine.process_block().copy() for _ in range(2)]
            engine.set_param("node", name, start, ramp_s=0.005)
            blocks += [engine.process_block().copy() for _ in range(8)]
        elif name != "oversampling":  # (an oversampled shaper runs by Python: not this test's)
            value = CHANGES.get((type_name, name), changed(param, start))
            if value is not None:
                engine.set_param("node", name, value)
                blocks += [engine.process_block().copy() for _ in range(3)]
    blocks.append(engine.process_block(17).copy())
    blocks += [engine.process_block().copy() for _ in range(3)]
    engine.reset()
    blocks += [engine.process_block().copy() for _ in range(3)]
    return np.concatenate(blocks, axis=1)


@pytest.mark.parametrize(
    ("type_name", "params"), [(name, params) for name, variants in VARIANTS.items() for params in variants]
)
def test_a_node_runs_compiled_and_sounds_exactly_as_through_process(
    type_name: str, params: dict, monkeypatch
) -> None:
    """Every input and param moving, changes stepped and gliding, a short block and a reset:
    the compiled program computes what the node's ``process`` computes, sample for sample."""
    engine = engine_for(type_name, params)
    planned = [engine.process_block().copy() for _ in range(3)]  # made by the third block
    plan = engine.schedule.fast
    (index,) = plan.places[engine.schedule.nodes["node"]]
    kinds = plan.program.kinds[plan.first_slots[index] : plan.end_slots[index]]
    assert set(kinds) <= {COMPILED, CHECK} and COMPILED in kinds, "the node does not run compiled"
    planned.append(perform(engine, type_name))
    by_steps(monkeypatch)
    stepped = engine_for(type_name, params)  # anew: perform edits the patch

    expected = [stepped.process_block().copy() for _ in range(3)] + [perform(stepped, type_name)]
    np.testing.assert_array_equal(np.concatenate(planned, axis=1), np.concatenate(expected, axis=1))
    assert np.abs(np.concatenate(planned, axis=1)).max() > 1e-3


def test_a_node_in_a_mode_its_entry_does_not_run_goes_through_process() -> None:
    """A sample-and-hold LFO refills its draws from Python: it runs by its call, not compiled."""
    engine = patcher.Engine(node_under_test("lfo", {"shape": "sample_and_hold"}), block_size=64)
    for _ in range(3):
        engine.process_block()
    plan = engine.schedule.fast
    (index,) = plan.places[engine.schedule.nodes["node"]]
    assert plan.program.kinds[plan.first_slots[index]] == STOP
    engine.set_param("node", "shape", "sine")
    engine.process_block()
    assert plan.program.kinds[plan.first_slots[index]] == COMPILED


@entry(arrays=2, ints=1, floats=1)
def _double(arrays, ints, floats) -> None:
    for i in range(len(arrays[1])):
        arrays[1][i] = 2.0 * arrays[0][i] + floats[0] + ints[0]


def test_a_program_runs_its_entries_in_order_and_stops_where_python_runs() -> None:
    program = Program(4)
    a, b, c = np.arange(4.0), np.zeros(4), np.zeros(4)
    program.set(0, _double, *split((a, b, 0.5, 1)))  # b = 2a + 1.5
    program.set(2, _double, *split((b, c, 0.0, 0)))  # c = 2b
    assert program.run(0) == 1  # slot 1 has not been made: a stop
    np.testing.assert_array_equal(b, 2 * a + 1.5)
    assert not c.any()
    assert program.run(2) == 3
    np.testing.assert_array_equal(c, 2 * b)
    program.kinds[1] = program.kinds[3] = SKIP
    c[:] = 0.0
    assert program.run(0) == 4
    np.testing.assert_array_equal(c, 2 * b)


def test_a_check_stops_the_program_only_when_it_finds_nan_or_infinity() -> None:
    program = Program(2)
    outputs, out = np.zeros(8), np.zeros(3)
    program.set_check(0, outputs)
    program.set(1, _double, *split((np.ones(3), out, 0.0, 0)))
    assert program.run(0) == 2 and out.tolist() == [2.0, 2.0, 2.0]
    outputs[5] = np.inf
    out[:] = 0.0
    assert program.run(0) == 0 and not out.any()
    assert program.run(1) == 2 and out.tolist() == [2.0, 2.0, 2.0]


def test_split_sorts_arguments_and_refuses_what_an_entry_cannot_take() -> None:
    counters, table = np.array([3, -1], dtype=np.int64), np.arange(6.0).reshape(2, 3)
    arrays, ints, floats = split((counters, 2.5, True, table, 7, np.float64(0.25)))
    assert arrays[0].view(np.int64).tolist() == [3, -1]  # int64 travels as its bits
    assert arrays[0].base is not None and np.shares_memory(arrays[0], counters)
    assert arrays[1].tolist() == list(range(6)) and np.shares_memory(arrays[1], table)
    assert ints.tolist() == [1, 7] and floats.tolist() == [2.5, 0.25]
    read_only = np.zeros(3)
    read_only.flags.writeable = False
    for refused in ("a string", np.zeros(3, dtype=np.float32), np.zeros(6)[::2], read_only, None):
        assert split((np.zeros(3), refused)) is None


def test_the_noise_generator_continues_numpys_sequence_exactly() -> None:
    """The noise draws in its kernel what numpy's default_rng(seed).random() draws, across calls."""
    from nodes.sources import _draw_uniform

    for seed in (0, 1, 2**31 - 1):
        state, first, second = random_state(seed), np.zeros(100), np.zeros(37)
        _draw_uniform(state, first)
        _draw_uniform(state, second)
        np.testing.assert_array_equal(
            np.concatenate([first, second]), np.random.default_rng(seed).random(137)
        )


def test_a_delay_line_a_glide_replaced_is_freed_by_the_callers_thread_not_the_audio_thread() -> None:
    """A glide to a time beyond the line installs a longer one; the program's slot held the
    old one until the glide ended and the slot was made again (on the audio thread): it is
    kept for ``release_retired`` (the caller's thread) to free, as the engine's own."""
    patch = patcher.Patch()
    patch.add_node("oscillator", "osc")
    patch.add_node("delay", "echo", time_ms=100.0, max_time_ms=1000.0)
    patch.add_node("output", "out")
    patch.connect("osc.out", "echo.in")
    patch.connect("echo.out", "out.left")
    engine = patcher.Engine(patch, block_size=64)
    for _ in range(4):
        engine.process_block()
    echo = engine.schedule.nodes["echo"]
    old_line = weakref.ref(echo.line)
    engine.apply(engine.prepare_param_change("echo", "time_ms", 5000.0, ramp_s=0.05))
    engine.process_block()
    engine.release_retired()  # as the player does now and then: the program still holds it
    for _ in range(60):  # the glide ends, and the delay's slot is made again
        engine.process_block()
    assert not echo.ramps and len(echo.line) > 48000 * 5
    (index,) = engine.schedule.fast.places[echo]
    assert engine.schedule.fast.program.kinds[engine.schedule.fast.first_slots[index]] == COMPILED
    assert old_line() is not None  # not freed on the audio thread
    engine.release_retired()
    assert old_line() is None


def test_a_node_whose_entry_cannot_be_made_runs_through_process(monkeypatch) -> None:
    """Making an entry that raises (none does) must not stop the block: the node is called
    through its process, and sounds as it would."""
    import patcher.plan

    def broken(*_arguments: Any) -> bool:
        raise RuntimeError("no entry today")

    patch = node_under_test("filter", {})
    monkeypatch.setattr(patcher.plan, "takes", broken)
    planned = patcher.Engine(patch, block_size=64)
    heard = np.concatenate([planned.process_block().copy() for _ in range(6)], axis=1)
    plan = planned.schedule.fast
    (index,) = plan.places[planned.schedule.nodes["node"]]
    assert plan.made == len(plan.groups) and plan.program.kinds[plan.first_slots[index]] == STOP
    assert planned.take_reports() == []
    by_steps(monkeypatch)
    stepped = patcher.Engine(patch, block_size=64)
    np.testing.assert_array_equal(
        heard, np.concatenate([stepped.process_block().copy() for _ in range(6)], axis=1)
    )


def test_a_compiled_note_reads_the_events_its_engine_fills_after_an_edit_too() -> None:
    """The note's slot binds its event block's arrays when it is made: they must be the
    engine's own block, which every edit keeps (a node's ``events`` is never another one)."""
    engine = engine_for("note", {})
    for _ in range(3):
        engine.process_block()
    edited = node_under_test("note", {})
    edited.add_node("gain", "spare")
    edited.connect("node.gate", "spare.in")
    edited.connect("spare.out", "out.right")
    engine.swap(engine.prepare_patch(edited))
    for _ in range(3):
        engine.process_block()
    plan, note = engine.schedule.fast, engine.schedule.nodes["node"]
    (index,) = plan.places[note]
    slot = plan.first_slots[index]
    assert note.events is engine.events and plan.program.kinds[slot] == COMPILED
    assert any(np.shares_memory(array, engine.events.tally) for array in plan.program.held[slot])
