"""The note node: events from a timeline become gate, pitch, note and velocity on their samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from patcher.engine import Engine
from patcher.events import NOTE_OFF, NOTE_ON, PITCH_BEND, Event, EventTimeline
from patcher.model import Patch

RATE = 48000


def note_outputs(
    events: list[Event], seconds: float = 0.1, block: int = 64, **params
) -> dict[str, np.ndarray]:
    """The note node's four outputs, each sent to an output (two at a time) and read back."""
    results = {}
    for pair in (("gate", "pitch_hz"), ("note", "velocity")):
        patch = Patch()
        patch.add_node("note", "keys", **params)
        patch.add_node("output", "out")
        patch.connect(f"keys.{pair[0]}", "out.left")
        patch.connect(f"keys.{pair[1]}", "out.right")
        engine = Engine(patch, RATE, block)
        engine.play_events(EventTimeline(events))
        rendered = engine.render(seconds)
        results[pair[0]], results[pair[1]] = rendered[:, 0], rendered[:, 1]
    return results


def on(sample: int, note: int, velocity: float = 1.0, channel: int = 1) -> Event:
    return Event(sample, NOTE_ON, channel, note, velocity)


def off(sample: int, note: int, channel: int = 1) -> Event:
    return Event(sample, NOTE_OFF, channel, note)


@pytest.mark.parametrize("block", [1, 64, 65, 1024])
def test_the_gate_rises_and_falls_on_the_events_samples_at_any_block_size(block: int) -> None:
    outputs = note_outputs([on(1000, 69, 0.5), off(3001, 69)], block=block)
    gate = outputs["gate"]
    assert np.flatnonzero(np.diff(gate)).tolist() == [999, 3000]  # up at 1000, down at 3001
    assert gate[1000] == 1.0 and gate[3001] == 0.0
    assert outputs["pitch_hz"][1000] == pytest.approx(440.0)
    assert outputs["velocity"][1000] == 0.5
    assert np.array_equal(outputs["gate"], note_outputs([on(1000, 69, 0.5), off(3001, 69)], block=7)["gate"])


def test_releasing_the_top_note_returns_to_the_one_still_held() -> None:
    events = [on(100, 60, 0.25), on(200, 64, 0.75), off(300, 64), off(400, 60)]
    outputs = note_outputs(events)
    note, gate, velocity = outputs["note"], outputs["gate"], outputs["velocity"]
    assert note[150] == 60 and note[250] == 64 and note[350] == 60
    assert velocity[250] == 0.75 and velocity[350] == 0.25  # the note held keeps its own velocity
    assert gate[100:400].min() == 1.0  # legato: the gate stays up while any note is held
    assert gate[400:].max() == 0.0
    assert note[450] == 60 and outputs["pitch_hz"][450] == pytest.approx(261.6255653)  # the release keeps it


def test_releasing_a_note_below_the_top_one_changes_nothing_heard() -> None:
    outputs = note_outputs([on(100, 60), on(200, 64), off(300, 60)])
    assert outputs["note"][350] == 64 and outputs["gate"][350] == 1.0


def test_a_note_on_at_velocity_zero_is_a_note_off() -> None:
    outputs = note_outputs([on(100, 60), on(200, 60, 0.0)])
    assert outputs["gate"][150] == 1.0 and outputs["gate"][200] == 0.0


def test_retrigger_drops_the_gate_for_one_sample_at_a_legato_note() -> None:
    outputs = note_outputs([on(100, 60), on(200, 64)], retrigger=True)
    gate = outputs["gate"]
    assert gate[199] == 1.0 and gate[200] == 0.0 and gate[201] == 1.0
    assert note_outputs([on(100, 60), on(200, 64)])["gate"][200] == 1.0


def test_the_channel_param_plays_only_that_channels_notes() -> None:
    events = [on(100, 60, channel=1), on(200, 72, channel=2), off(300, 72, channel=2)]
    assert note_outputs(events, channel=2)["note"][150] == 60.0  # nothing yet: the resting note
    assert note_outputs(events, channel=2)["gate"][150] == 0.0
    assert note_outputs(events, channel=2)["note"][250] == 72.0
    assert note_outputs(events, channel=0)["gate"][350] == 1.0  # omni: note 60 is still held


@pytest.mark.parametrize("block", [1, 64, 1024])
def test_glide_moves_the_pitch_in_semitones_with_its_time_constant(block: int) -> None:
    glide_ms = 10.0
    outputs = note_outputs([on(100, 57), on(1000, 69)], 0.3, block, glide_ms=glide_ms)
    pitch = outputs["pitch_hz"]
    assert pitch[500] == pytest.approx(220.0)  # the first note does not glide from anywhere
    assert outputs["note"][1000] == 69  # the note number jumps; its pitch glides
    coefficient = 1.0 - math.exp(-1000.0 / (glide_ms * RATE))
    after = 480  # one time constant
    semitones = 12.0 * math.log2(pitch[1000 + after - 1] / 220.0)
    assert semitones == pytest.approx(12.0 * (1.0 - (1.0 - coefficient) ** after), rel=1e-9)
    assert semitones == pytest.approx(12.0 * (1.0 - math.exp(-1.0)), rel=1e-3)
    assert pitch[-1] == pytest.approx(440.0, rel=1e-6)


def test_a_note_node_in_a_feedback_loop_sees_each_event_once_at_its_sample() -> None:
    """A loop runs in chunks shorter than a block: the node goes on where its chunk ended."""
    patch = Patch()
    patch.add_node("note", "keys")
    patch.add_node("math", "sum", op="add")
    patch.add_node("delay", "echo", time_ms=0.1)
    patch.add_node("output", "out")
    patch.connect("keys.gate", "sum.a")
    patch.connect("sum.out", "echo.in")
    patch.connect("echo.tap", "sum.b")
    patch.connect("keys.gate", "out.left")
    for block in (64, 1024):
        engine = Engine(patch, RATE, block)
        engine.play_events(EventTimeline([on(1000, 60), off(2000, 60)]))
        gate = engine.render(0.1)[:, 0]
        assert np.flatnonzero(np.diff(gate)).tolist() == [999, 1999]


def test_events_beyond_a_blocks_room_are_dropped_and_reported_once() -> None:
    patch = Patch()
    patch.add_node("note", "keys")
    patch.add_node("output", "out")
    patch.connect("keys.gate", "out.left")
    engine = Engine(patch, RATE, 64)
    engine.play_events(EventTimeline([on(10, 60 + index % 2) for index in range(1100)]))
    assert engine.render(0.01)[10:, 0].min() == 1.0  # the notes that fit play
    assert engine.take_reports() == ["76 events came more than 1024 to a block: dropped"]
    assert engine.take_reports() == []


@pytest.mark.parametrize(
    "params", [{}, {"glide_ms": 3.0, "retrigger": True}, {"channel": 2, "bend_semitones": 12.0}]
)
def test_the_kernel_plays_random_events_as_the_plain_python_reference(params: dict) -> None:
    from patcher import spec
    from tests.reference_nodes.control import ReferenceNote

    generator = np.random.default_rng(17)
    events = [
        Event(int(sample), int(kind), int(channel), int(note), float(velocity))
        for sample, kind, channel, note, velocity in zip(
            generator.integers(0, 4800, 300),
            generator.choice([NOTE_ON, NOTE_OFF, PITCH_BEND], 300),
            generator.integers(1, 3, 300),
            generator.integers(55, 62, 300),
            generator.choice([0.0, 0.3, 1.0], 300),
            strict=True,
        )
    ]
    compiled = note_outputs(events, block=65, **params)
    original = spec._REGISTRY["note"]
    spec._REGISTRY["note"] = ReferenceNote
    try:
        reference = note_outputs(events, block=64, **params)
    finally:
        spec._REGISTRY["note"] = original
    assert compiled["gate"].any() and not compiled["gate"].all()
    for port in ("gate", "note", "velocity"):
        assert np.array_equal(compiled[port], reference[port]), port
    np.testing.assert_allclose(compiled["pitch_hz"], reference["pitch_hz"], rtol=1e-12)


def test_retrigger_also_restarts_back_to_back_notes() -> None:
    """A note off and the next note on on one sample (as quantised files have them) dip the
    gate as a legato pair does: an envelope after it starts again."""
    back_to_back = note_outputs([on(100, 60), off(1000, 60), on(1000, 62)], retrigger=True)["gate"]
    assert back_to_back[999] == 1.0 and back_to_back[1000] == 0.0 and back_to_back[1001] == 1.0
    plain = note_outputs([on(100, 60), off(1000, 60), on(1000, 62)])["gate"]
    assert plain[1000] == 1.0  # without retrigger the gate stays up


@pytest.mark.parametrize("block", [1, 64, 1024])
def test_the_pitch_wheel_bends_pitch_hz_by_its_range_from_its_sample(block: int) -> None:
    """The wheel full up raises the pitch by bend_semitones (2 by default), full down lowers it
    as much, from the event's own sample; the note output keeps the key played."""
    events = [on(100, 69), Event(1000, PITCH_BEND, 1, 0, 1.0), Event(2000, PITCH_BEND, 1, 0, -1.0)]
    outputs = note_outputs(events, block=block)
    pitch = outputs["pitch_hz"]
    assert pitch[999] == pytest.approx(440.0)
    assert pitch[1000] == pytest.approx(440.0 * 2 ** (2 / 12))
    assert pitch[2000] == pytest.approx(440.0 * 2 ** (-2 / 12))
    assert outputs["note"][2500] == 69
    wide = note_outputs(events, block=block, bend_semitones=12.0)["pitch_hz"]
    assert wide[1500] == pytest.approx(880.0) and wide[2500] == pytest.approx(220.0)
    other_channel = note_outputs([on(100, 69), Event(1000, PITCH_BEND, 2, 0, 1.0)], channel=1, block=block)
    assert other_channel["pitch_hz"][1500] == pytest.approx(440.0)
