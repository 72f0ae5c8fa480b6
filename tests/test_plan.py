"""The whole-block plan (patcher.plan) gives what the steps give, sample for sample, and
keeps their care: NaN blamed on the node that made it, faults muting one node, changes heard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import patcher
from patcher.plan import BlockPlan
from tests.nodetools import raises, swap_process

PATCHES = Path(__file__).resolve().parent.parent / "patches"


def by_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every whole block through the schedule's steps, as before there was a plan."""

    def run(plan: BlockPlan) -> None:
        for group in plan.groups:
            group.run(plan.block_size)

    monkeypatch.setattr(BlockPlan, "run", run)


@pytest.mark.parametrize("name", sorted(path.stem for path in PATCHES.glob("*.json")))
def test_every_example_renders_the_same_by_plan_and_by_steps(name: str, monkeypatch) -> None:
    """Fan-in, modulated params, feedback loops, events: the plan's prepared calls (sums and
    value-plus-signal kernels among them) compute what the steps compute, exactly."""
    patch = patcher.load(PATCHES / f"{name}.json")
    planned = patcher.Engine(patch, block_size=64).render(0.3)
    by_steps(monkeypatch)
    stepped = patcher.Engine(patch, block_size=64).render(0.3)
    np.testing.assert_array_equal(planned, stepped)


def fan_in_patch() -> patcher.Patch:
    """Two sources summed into a filter whose cutoff an LFO drives, then a gain."""
    patch = patcher.Patch()
    patch.add_node("oscillator", "a", frequency_hz=220.0)
    patch.add_node("noise", "b", amplitude=0.1)
    patch.add_node("lfo", "wobble", rate_hz=3.0, depth=500.0)
    patch.add_node("filter", "lowpass", cutoff_hz=1000.0)
    patch.add_node("gain", "level", gain_db=-6.0)
    patch.add_node("output", "out")
    for source, target in [
        ("a.out", "lowpass.in"),
        ("b.out", "lowpass.in"),
        ("wobble.out", "lowpass.cutoff_hz"),
        ("lowpass.out", "level.in"),
        ("level.out", "out.left"),
    ]:
        patch.connect(source, target)
    return patch


def test_changes_between_blocks_are_heard_as_the_steps_hear_them(monkeypatch) -> None:
    """A set value without a ramp, a ramp, a short block and a reset between plan blocks."""

    def perform(engine: patcher.Engine) -> np.ndarray:
        blocks = [engine.process_block().copy() for _ in range(3)]
        engine.set_param("level", "gain_db", -20.0, ramp_s=0.0)
        blocks += [engine.process_block().copy() for _ in range(2)]
        engine.set_param("lowpass", "cutoff_hz", 3000.0)  # a 20 ms ramp, then settled
        blocks += [engine.process_block().copy() for _ in range(30)]
        blocks.append(engine.process_block(17).copy())
        blocks += [engine.process_block().copy() for _ in range(2)]
        engine.reset()
        blocks += [engine.process_block().copy() for _ in range(2)]
        return np.concatenate(blocks, axis=1)

    planned = perform(patcher.Engine(fan_in_patch(), block_size=64))
    by_steps(monkeypatch)
    stepped = perform(patcher.Engine(fan_in_patch(), block_size=64))
    np.testing.assert_array_equal(planned, stepped)
    assert np.max(np.abs(planned[:, 64 * 3 : 64 * 5])) < np.max(np.abs(planned[:, : 64 * 3]))


def test_nan_is_blamed_on_the_node_that_made_it_and_the_nodes_after_it_start_afresh() -> None:
    """The plan looks for NaN once a block: the filter after the gain read the gain's NaN
    before it was found. The gain is named; the filter is reset (its memory held NaN) and
    not named, and the output is clean from that block on."""
    engine = patcher.Engine(fan_in_patch(), block_size=64)
    engine.process_block()
    gain = engine.schedule.nodes["level"]
    lowpass = engine.schedule.nodes["lowpass"]
    original = lowpass.process

    def poisoned(inputs, params, outputs):
        original(inputs, params, outputs)
        outputs["out"][5] = np.nan

    swap_process(engine.schedule.fast, lowpass, poisoned)
    out = engine.process_block()
    swap_process(engine.schedule.fast, lowpass)
    assert np.all(np.isfinite(out))
    assert engine.take_reports() == ["node 'lowpass' (filter) produced NaN or infinity: silenced and reset"]
    assert gain.nonfinite_blocks == 0  # read the NaN, was silenced too, not blamed
    later = np.concatenate([engine.process_block().copy() for _ in range(20)], axis=1)
    assert np.all(np.isfinite(later)) and np.max(np.abs(later)) > 0.01


def test_a_node_that_raises_is_muted_and_the_rest_of_the_block_runs() -> None:
    engine = patcher.Engine(fan_in_patch(), block_size=64)
    engine.process_block()
    swap_process(engine.schedule.fast, engine.schedule.nodes["b"], raises)
    out = engine.process_block()
    assert np.max(np.abs(out)) > 0.01  # the oscillator still sounds through the filter
    (report,) = engine.take_reports()
    assert report.startswith("node 'b' (noise) failed and is muted")
    assert not engine.schedule.outputs[("b", "out")].any()


def poison(engine: patcher.Engine, node, sample: int = 5) -> None:
    """From now on ``node`` writes NaN at ``sample`` of each block."""
    original = node.process

    def poisoned(inputs, params, outputs):
        original(inputs, params, outputs)
        outputs["out"][sample] = np.nan

    swap_process(engine.schedule.fast, node, poisoned)


def test_nan_read_by_a_gliding_node_a_scope_or_the_output_is_silenced_before_they_read_it() -> None:
    """A gliding node runs by its step, which checks its own outputs: it must not be blamed for
    NaN it read. The output keeps every sample but the bad one, and a scope stores no NaN."""
    patch = fan_in_patch()
    patch.add_node("scope", "look")
    patch.connect("lowpass.out", "look.in")
    engine = patcher.Engine(patch, block_size=64)
    engine.process_block()
    engine.set_param("level", "gain_db", 0.0, ramp_s=1.0)  # gliding for a second
    poison(engine, engine.schedule.nodes["lowpass"])
    out = engine.process_block()
    assert engine.take_reports() == ["node 'lowpass' (filter) produced NaN or infinity: silenced and reset"]
    assert out[0, 5] == 0.0 and np.count_nonzero(out[0]) == 63  # one sample lost, not the block
    assert np.all(np.isfinite(engine.schedule.nodes["look"].view()))


def test_after_an_edit_a_large_plan_is_made_a_few_groups_a_block_and_sounds_the_same(monkeypatch) -> None:
    """No block pays for making every call of a large patch; meanwhile the rest run by steps."""

    patch = patcher.Patch()
    patch.add_node("oscillator", "osc", frequency_hz=110.0)
    previous = "osc"
    for index in range(100):
        patch.add_node("gain", f"g{index}", gain_db=-0.05)
        patch.connect(f"{previous}.out", f"g{index}.in")
        previous = f"g{index}"
    patch.add_node("output", "out")
    patch.connect(f"{previous}.out", "out.left")
    engine = patcher.Engine(patch, block_size=64)
    made = []
    planned = []
    for _ in range(14):
        planned.append(engine.process_block().copy())
        made.append(engine.schedule.fast.made)
    assert made == [*range(8, 97, 8), 102, 102]  # a group per 8 samples: 8 at block 64
    by_steps(monkeypatch)
    stepped = patcher.Engine(patch, block_size=64)
    np.testing.assert_array_equal(
        np.concatenate(planned, axis=1),
        np.concatenate([stepped.process_block().copy() for _ in range(14)], axis=1),
    )


def test_changes_while_the_plan_does_not_run_are_remembered_in_bounded_room() -> None:
    engine = patcher.Engine(fan_in_patch(), block_size=64)
    engine.process_block()
    engine.metering = True  # blocks run by the meter, not the plan
    for value in range(1000):
        engine.set_param("level", "gain_db", -float(value % 40), ramp_s=0.0)
        engine.process_block()
    assert len(engine.schedule.fast.touched) <= 64
    engine.metering = False
    engine.process_block()
    assert engine.schedule.nodes["level"].block_params["gain_db"][0] == -float(999 % 40)


def test_nan_into_a_poly_is_blamed_on_its_maker_not_on_the_voices() -> None:
    """A poly copies its input into its voices, whose checks leave those inlets out: NaN is
    looked for before it, so the voices never read it."""
    from patcher.events import NOTE_ON, Event, EventTimeline

    voice = patcher.Patch()
    voice.add_node("note", "keys")
    voice.add_node("adsr", "env", attack_ms=1.0)
    voice.add_node("inlet", "sig")
    voice.add_node("filter", "lp", cutoff_hz=3000.0)
    voice.add_node("math", "vca", op="multiply", b=0.0)
    voice.add_node("outlet", "out")
    for source, target in [
        ("keys.gate", "env.gate"),
        ("sig.out", "lp.in"),
        ("lp.out", "vca.a"),
        ("env.out", "vca.b"),
        ("vca.out", "out.in"),
    ]:
        voice.connect(source, target)
    patch = patcher.Patch()
    patch.add_node("oscillator", "osc", frequency_hz=220.0)
    patch.add_node("gain", "g")
    patch.add_subpatch(voice, "synth", type_name="poly", voices=2)
    patch.add_node("output", "out")
    patch.connect("osc.out", "g.in")
    patch.connect("g.out", "synth.sig")
    patch.connect("synth.out", "out.left")
    engine = patcher.Engine(patch, block_size=64)
    engine.play_events(EventTimeline([Event(0, NOTE_ON, 1, 60, 1.0), Event(0, NOTE_ON, 1, 64, 1.0)]))
    for _ in range(5):
        engine.process_block()
    gain = engine.schedule.nodes["g"]
    poison(engine, gain)
    out = engine.process_block()
    swap_process(engine.schedule.fast, gain)
    assert engine.take_reports() == ["node 'g' (gain) produced NaN or infinity: silenced and reset"]
    assert np.count_nonzero(out[0]) >= 62  # the bad sample lost, the voices' filters not reset
