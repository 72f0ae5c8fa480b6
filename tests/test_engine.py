"""The engine headless, block by block: ramped params, live graph edits, faults and NaN."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import patcher
from patcher.compiler import compile_patch
from patcher.engine import DEFAULT_RAMP_S
from tests.nodetools import swap_process


def dc_patch(level: float = 0.5) -> patcher.Patch:
    patch = patcher.Patch()
    patch.add_node("math", "dc", op="constant", b=level)
    patch.add_node("gain", "level")
    patch.add_node("output", "out")
    patch.connect("dc.out", "level.in")
    patch.connect("level.out", "out.left")
    return patch


def run_blocks(engine: patcher.Engine, blocks: int) -> np.ndarray:
    return np.concatenate([engine.process_block().copy() for _ in range(blocks)], axis=1)


def test_param_change_ramps_without_zipper_steps() -> None:
    engine = patcher.Engine(dc_patch(1.0), block_size=64)
    before = run_blocks(engine, 2)
    engine.set_param("level", "gain_db", -40.0)
    after = run_blocks(engine, 40)
    signal = np.concatenate([before, after], axis=1)[0]
    ramp_samples = DEFAULT_RAMP_S * engine.sample_rate
    # A linear ramp in dB from 0 to -40 over 960 samples: no step beyond the ramp's own slope.
    largest_step = np.max(np.abs(np.diff(signal)))
    assert largest_step < 1.5 * (1 - 10 ** (-40 / 20 / ramp_samples))
    assert signal[-1] == pytest.approx(0.01)
    assert signal[128] == pytest.approx(1.0, abs=0.01)


def test_a_second_change_during_a_ramp_continues_from_where_it_is() -> None:
    engine = patcher.Engine(dc_patch(1.0), block_size=64)
    engine.set_param("level", "gain_db", -40.0)
    run_blocks(engine, 5)
    engine.set_param("level", "gain_db", 0.0)
    signal = run_blocks(engine, 30)[0]
    assert np.max(np.abs(np.diff(signal))) < 0.01
    assert signal[-1] == pytest.approx(1.0)


def test_a_set_value_holds_after_its_ramp_ends_mid_block_and_after_a_step() -> None:
    """A param's buffer is refilled only when its value changed: after a ramp that ends inside
    a block, and after a change without a ramp, every later block holds the new value."""
    engine = patcher.Engine(dc_patch(1.0), block_size=100)  # the 960-sample ramp ends mid-block
    engine.set_param("level", "gain_db", -20.0)
    run_blocks(engine, 10)
    settled = run_blocks(engine, 5)[0]
    np.testing.assert_array_equal(settled, np.full_like(settled, 10 ** (-20 / 20)))
    engine.set_param("level", "gain_db", -40.0, ramp_s=0.0)
    run_blocks(engine, 20)  # the output glides over the step
    stepped = run_blocks(engine, 5)[0]
    np.testing.assert_allclose(stepped, 10 ** (-40 / 20), rtol=0, atol=1e-6)


def test_invalid_live_change_raises_and_changes_nothing() -> None:
    engine = patcher.Engine(dc_patch())
    with pytest.raises(patcher.PatchError, match="out of range"):
        engine.set_param("level", "gain_db", 99.0)
    assert engine.patch.nodes["level"].params["gain_db"] == 0.0


def echo_patch() -> patcher.Patch:
    patch = patcher.Patch()
    patch.add_node("input", "src")
    patch.add_node("delay", "echo", time_ms=100.0, mix=1.0)
    patch.add_node("output", "out")
    patch.connect("echo.out", "out.left")
    return patch


def test_live_edit_keeps_the_state_of_surviving_nodes() -> None:
    patch = dc_patch(0.5)
    patch.add_node("delay", "echo", time_ms=100.0, mix=1.0)
    patch.connect("level.out", "echo.in")
    patch.disconnect("level.out", "out.left")
    patch.connect("echo.out", "out.left")
    engine = patcher.Engine(patch, block_size=256)
    run_blocks(engine, 10)  # 53 ms of DC went into the line
    edited = copy.deepcopy(engine.patch)
    edited.disconnect("level.out", "echo.in")  # no more input: only what is in the line plays
    echo_before = engine.schedule.nodes["echo"]
    engine.update_patch(edited)
    assert engine.schedule.nodes["echo"] is echo_before
    out = run_blocks(engine, 30)[0]
    # The line holds 2560 samples of 0.5 that come out 4800 samples after they went in.
    assert np.allclose(out[: 4800 - 2560 - 2], 0.0, atol=1e-9)
    assert np.allclose(out[4800 - 2560 + 2 : 4800 - 2], 0.5)
    assert np.allclose(out[4800 + 2 :], 0.0, atol=1e-9)


def test_refused_edit_leaves_the_running_schedule_untouched() -> None:
    engine = patcher.Engine(dc_patch())
    running = engine.schedule
    edited = copy.deepcopy(engine.patch)
    edited.links.append(
        patcher.model.Link(patcher.model.PortRef("level", "out"), patcher.model.PortRef("level", "in"))
    )
    with pytest.raises(patcher.PatchError, match="delay-free feedback loop level -> level"):
        engine.update_patch(edited)
    assert engine.schedule is running
    assert np.allclose(engine.process_block(), 0.5)


def test_swap_glides_where_the_output_would_jump() -> None:
    engine = patcher.Engine(dc_patch(0.8), block_size=256)
    run_blocks(engine, 2)
    edited = copy.deepcopy(engine.patch)
    edited.remove_node("dc")
    engine.update_patch(edited)
    out = run_blocks(engine, 4)[0]
    assert out[0] > 0.7 and abs(out[-1]) < 1e-3
    assert np.max(np.abs(np.diff(out))) < 0.8 / 100


def sine_and_output(frequency_hz: float) -> patcher.Patch:
    """A 0.5 sine and an output node, not yet linked."""
    patch = patcher.Patch()
    patch.add_node("oscillator", "osc", waveform="sine", frequency_hz=frequency_hz, amplitude=0.5)
    patch.add_node("output", "out")
    return patch


@pytest.mark.parametrize("blocks_before", range(8))
def test_an_edit_that_leaves_a_sine_alone_adds_no_step_whatever_its_phase(blocks_before: int) -> None:
    patch = sine_and_output(441.0)
    patch.add_node("gain", "level")
    patch.connect("osc.out", "level.in")
    patch.connect("level.out", "out.left")
    engine = patcher.Engine(patch, block_size=100)
    before = run_blocks(engine, 3 + blocks_before)[0]
    edited = copy.deepcopy(engine.patch)
    edited.remove_node("level")  # 0 dB: the same signal, from a different graph
    edited.connect("osc.out", "out.left")
    engine.update_patch(edited)
    after = run_blocks(engine, 3)[0]
    reference = patcher.Engine(patch, block_size=100)
    expected = run_blocks(reference, 6 + blocks_before)[0]
    played = np.concatenate([before, after])
    # A glide from the old graph's last sample would be off by a sample's step (0.029 here).
    assert np.max(np.abs(played - expected)) < 0.5 * (2 * np.pi * 441 / 48000) ** 2


@pytest.mark.parametrize("change", ["edit", "scope_param"])
def test_a_change_that_leaves_a_bright_sound_alone_leaves_it_alone(change: str) -> None:
    """A 10 kHz sine is no straight line: gliding towards one would add a click of 1.5 times
    its amplitude. A change that does not move the sound must leave it sample for sample."""
    patch = sine_and_output(10000.0)
    patch.add_node("scope", "scope")
    patch.connect("osc.out", "out.left")
    patch.connect("osc.out", "scope.in")
    engine = patcher.Engine(patch, block_size=100)
    before = run_blocks(engine, 3)[0]
    if change == "edit":
        edited = copy.deepcopy(engine.patch)
        edited.add_node("gain", "unheard")  # pruned: the same sound, from a new schedule
        engine.update_patch(edited)
    else:
        engine.set_param("scope", "time_ms", 5.0)  # what a scope shows, not what is heard
    after = run_blocks(engine, 3)[0]
    expected = run_blocks(patcher.Engine(patch, block_size=100), 6)[0]
    np.testing.assert_array_equal(np.concatenate([before, after]), expected)


def test_a_node_that_raises_is_muted_and_reported_once() -> None:
    engine = patcher.Engine(dc_patch())
    node = engine.schedule.nodes["level"]

    def broken(*_args):
        raise ZeroDivisionError("oops")

    node.process = broken
    out = run_blocks(engine, 3)
    assert np.all(out == 0.0)
    reports = engine.take_reports()
    assert reports == ["node 'level' (gain) failed and is muted: ZeroDivisionError('oops')"]
    assert engine.take_reports() == []


def test_a_node_that_raises_inside_a_feedback_loop_falls_silent() -> None:
    """A loop runs in chunks of its delay's length: a node muted mid-block must not leave the
    rest of its last block in its buffers, looping on as a buzz at the block rate."""
    patch = patcher.Patch()
    patch.add_node("oscillator", "osc", waveform="sine", frequency_hz=440.0, amplitude=0.5)
    patch.add_node("delay", "echo", time_ms=1.0, feedback=0.0, mix=1.0)
    patch.add_node("gain", "fb", gain_db=-6.0)
    patch.add_node("output", "out")
    for source, target in (("osc.out", "echo.in"), ("echo.tap", "fb.in"), ("fb.out", "echo.in")):
        patch.connect(source, target)
    patch.connect("fb.out", "out.left")  # the loop node's own output
    engine = patcher.Engine(patch, block_size=256)
    node, calls = engine.schedule.nodes["fb"], [0]
    process = node.process

    def fails_on_its_30th_call(inputs, params, outputs):  # mid-block: chunks are 48 samples
        calls[0] += 1
        if calls[0] == 30:
            raise RuntimeError("boom")
        process(inputs, params, outputs)

    node.process = fails_on_its_30th_call
    before = run_blocks(engine, 6)
    assert node.fault is not None and np.abs(before).max() > 0.1
    assert np.all(run_blocks(engine, 10) == 0.0)


def test_nan_is_silenced_and_names_the_node() -> None:
    engine = patcher.Engine(dc_patch())
    node = engine.schedule.nodes["level"]
    original = node.process

    def poisoned(inputs, params, outputs):
        original(inputs, params, outputs)
        outputs["out"][10] = np.nan

    node.process = poisoned
    out = run_blocks(engine, 3)
    assert np.all(np.isfinite(out))
    assert engine.take_reports() == ["node 'level' (gain) produced NaN or infinity: silenced and reset"]


def reverb_patch() -> patcher.Patch:
    patch = dc_patch(0.5)
    patch.add_node("convolver", "room", room_length_s=0.5)
    patch.disconnect("level.out", "out.left")
    patch.connect("level.out", "room.in")
    patch.connect("room.out", "out.left")
    return patch


def test_slow_param_work_is_done_when_prepared_not_when_applied() -> None:
    engine = patcher.Engine(reverb_patch())
    room = engine.schedule.nodes["room"]
    change = engine.prepare_param_change("room", "room_length_s", 2.0)
    assert room.params["room_length_s"] == 0.5, "the running node is untouched until the swap"

    def no_building_here(*_args):
        raise AssertionError("the IR was built at apply time, on the audio thread")

    room._impulse_response_for = no_building_here
    engine.apply(change)
    assert room.params["room_length_s"] == 2.0
    assert len(room.impulse_response) == 2 * engine.sample_rate


def test_a_live_change_to_a_missing_file_is_refused_before_the_audio_thread_sees_it(tmp_path) -> None:
    patch = reverb_patch()
    engine = patcher.Engine(patch)
    with pytest.raises(patcher.PatchError, match="node 'room' \\(convolver\\): no such audio file"):
        engine.set_param("room", "source", "file") or engine.set_param("room", "file", "gone.wav")
    assert engine.patch.nodes["room"].params["file"] == ""
    assert engine.schedule.nodes["room"].params["file"] == ""


def test_a_refused_edit_changes_no_running_node() -> None:
    engine = patcher.Engine(dc_patch(0.5))
    edited = copy.deepcopy(engine.patch)
    edited.set_param("dc", "b", 0.25)
    edited.add_node("convolver", "broken", source="file", file="missing.wav")
    edited.connect("level.out", "broken.in")
    edited.connect("broken.out", "out.right")
    with pytest.raises(patcher.PatchError, match="node 'broken'"):
        engine.update_patch(edited)
    assert engine.schedule.nodes["dc"].params["b"] == 0.5
    assert np.allclose(engine.process_block(), 0.5)


def test_an_edit_gives_a_muted_node_another_chance() -> None:
    engine = patcher.Engine(dc_patch(0.5))
    level = engine.schedule.nodes["level"]
    original = level.process
    level.process = None  # raises TypeError when called
    run_blocks(engine, 2)
    assert level.fault is not None
    level.process = original
    edited = copy.deepcopy(engine.patch)
    edited.set_param("level", "gain_db", -6.0)
    engine.update_patch(edited)
    assert level.fault is None
    assert np.allclose(run_blocks(engine, 20)[:, -256:], 0.5 * 10 ** (-6 / 20))  # after the glide


def room_as_compiled(patch: patcher.Patch, engine: patcher.Engine) -> np.ndarray:
    """The IR a fresh compile of ``patch`` gives its room: what the running one should hold."""
    return compile_patch(patch, engine.sample_rate, engine.block_size).nodes["room"].impulse_response


def test_two_room_changes_before_a_block_boundary_both_reach_the_running_ir() -> None:
    engine = patcher.Engine(reverb_patch())
    first = engine.prepare_param_change("room", "decay_s", 3.0)
    second = engine.prepare_param_change("room", "room_length_s", 1.0)  # before the first is in
    engine.apply(first)
    engine.apply(second)
    room = engine.schedule.nodes["room"]
    expected = room_as_compiled(engine.patch, engine)
    assert len(room.impulse_response) == engine.sample_rate  # 1 s
    np.testing.assert_array_equal(room.impulse_response, expected)  # and decaying over 3 s


def test_one_edit_changing_two_room_params_builds_the_room_they_describe_once() -> None:
    engine = patcher.Engine(reverb_patch())
    room = engine.schedule.nodes["room"]
    edited = copy.deepcopy(engine.patch)
    edited.set_param("room", "decay_s", 3.0)
    edited.set_param("room", "room_length_s", 1.0)
    builds = []
    build = room._impulse_response_for
    room._impulse_response_for = lambda params: builds.append(dict(params)) or build(params)
    engine.update_patch(edited)
    np.testing.assert_array_equal(room.impulse_response, room_as_compiled(edited, engine))
    assert len(builds) == 1


def test_a_live_room_change_glides_instead_of_dropping_the_tail() -> None:
    """A new IR starts its convolver from silence: the output would drop at once to the dry
    part; it glides from where the old room was heading instead."""
    engine = patcher.Engine(reverb_patch())
    before = run_blocks(engine, 200)[0]  # past the 0.5 s room: a steady wet level
    engine.set_param("room", "decay_s", 1.2)
    after = run_blocks(engine, 20)[0]
    drop = abs(before[-1] - after[-1])
    assert drop > 0.1, "the new room starts from silence: the level has to move"
    assert abs(after[0] - before[-1]) < drop / 100  # no step at the change
    # After it, no step beyond the new room's own onset (the DC times one IR sample) plus the
    # glide's (the drop spread over 3 ms).
    onset = 0.5 * np.max(np.abs(engine.schedule.nodes["room"].impulse_response))
    steps = np.abs(np.diff(after))
    assert np.max(steps) < onset + drop / 100


def test_a_node_that_fails_again_after_an_edit_is_reported_again_even_before_a_report() -> None:
    engine = patcher.Engine(dc_patch(0.5))
    engine.schedule.nodes["level"].process = None  # raises TypeError when called
    reports = []
    for gain_db in (-1.0, -2.0, -3.0):
        run_blocks(engine, 1)  # it fails ...
        edited = copy.deepcopy(engine.patch)
        edited.set_param("level", "gain_db", gain_db)
        engine.update_patch(edited)  # ... and the edit gives it another chance before any report
        reports += engine.take_reports()
    assert (
        reports
        == ["node 'level' (gain) failed and is muted: TypeError(\"'NoneType' object is not callable\")"] * 3
    )


RATE = 48000


def tone_folder(folder, frequency_hz: float):
    """``folder/media/tone.wav``: a second of a sine, and a patch in ``folder`` playing it."""
    from patcher.audiofile import write_audio

    t = np.arange(RATE) / RATE
    (folder / "media").mkdir(parents=True)
    write_audio(
        folder / "media" / "tone.wav",
        np.repeat(0.5 * np.sin(2 * np.pi * frequency_hz * t)[:, None], 2, 1),
        RATE,
    )
    patch = patcher.Patch(base_dir=folder)
    patch.add_node("input", "voice", file="media/tone.wav", loop=True)
    patch.add_node("gain", "level")
    patch.add_node("output", "out")
    patch.connect("voice.out", "level.in")
    patch.connect("level.out", "out.left")
    return patch


def test_an_edit_after_save_as_elsewhere_keeps_the_files_playing(tmp_path) -> None:
    """Save As rewrites relative file params for the new folder: they name the same files, so
    the running input plays on (it was refused: the node resolved them against its old folder)."""
    engine = patcher.Engine(tone_folder(tmp_path / "a", 440.0), block_size=256)
    run_blocks(engine, 40)
    voice = engine.schedule.nodes["voice"]
    played = voice.position
    moved = copy.deepcopy(engine.patch)
    moved.rebase(tmp_path / "saved" / "deeper")
    assert moved.nodes["voice"].params["file"] == "../../a/media/tone.wav"
    moved.set_param("level", "gain_db", -3.0)  # the next, unrelated edit
    engine.update_patch(moved)
    run_blocks(engine, 1)
    assert engine.schedule.nodes["voice"] is voice and voice.position == played + 256
    engine.set_param("voice", "file", "../../a/media/tone.wav")  # chosen again, from the new folder


def test_opening_a_patch_from_another_folder_plays_its_own_files(tmp_path) -> None:
    """Same node id, same relative file name, another folder: another file, which must play."""
    engine = patcher.Engine(tone_folder(tmp_path / "a", 440.0), block_size=256)
    run_blocks(engine, 20)
    other = tone_folder(tmp_path / "b", 1000.0)
    engine.update_patch(other)
    live = run_blocks(engine, 200)[0, -8192:]
    fresh = run_blocks(patcher.Engine(copy.deepcopy(other), block_size=256), 220)[0, -8192:]
    spectrum = np.abs(np.fft.rfft(live * np.hanning(len(live))))
    assert np.argmax(spectrum) * RATE / len(live) == pytest.approx(1000.0, abs=10)
    assert np.abs(np.fft.rfft(fresh * np.hanning(len(fresh)))).argmax() == spectrum.argmax()


@pytest.mark.parametrize(
    "name, before, after",
    [
        ("oversampling", "2x", "1x"),  # the output loses the filters' 56 samples of latency
        ("oversampling", "4x", "1x"),
        ("output_db", 0.0, -30.0),  # levels that cannot be modulated change in one step
        ("bias", 0.0, 0.8),
    ],
)
def test_a_live_step_of_a_param_without_a_ramp_does_not_click(name: str, before, after) -> None:
    patch = patcher.Patch()
    patch.add_node("oscillator", "osc", waveform="sine", frequency_hz=1000.0, amplitude=0.8)
    patch.add_node("waveshaper", "shaper", **{name: before})
    patch.add_node("output", "out")
    patch.connect("osc.out", "shaper.in")
    patch.connect("shaper.out", "out.left")
    engine = patcher.Engine(patch, block_size=256)
    played = run_blocks(engine, 50)[0, -256:]
    engine.set_param("shaper", name, after)
    steps = np.abs(np.diff(np.concatenate([played, run_blocks(engine, 4)[0]])))
    assert steps[255] <= 1.05 * steps[:255].max()  # no larger than the sine's own steps


@pytest.mark.parametrize("at", [24576, 25088, 25600, 26112])
def test_whether_an_edit_glides_does_not_depend_on_the_block_size(at: int) -> None:
    """A saw unlinked from the output at the same sample: the glide decision looked at the
    last block played, which held the saw's reset at block 256 but not at 64 (0.34 apart)."""

    def played(block: int) -> np.ndarray:
        patch = patcher.Patch()
        patch.add_node("oscillator", "osc", waveform="saw", frequency_hz=110.0, amplitude=0.5)
        patch.add_node("output", "out")
        patch.connect("osc.out", "out.left")
        engine = patcher.Engine(patch, block_size=block)
        before = run_blocks(engine, at // block)
        unlinked = copy.deepcopy(patch)
        unlinked.disconnect("osc.out", "out.left")
        engine.update_patch(unlinked)
        return np.concatenate([before, run_blocks(engine, 4096 // block)], axis=1)

    np.testing.assert_allclose(played(64), played(256), atol=1e-9)


def test_edits_nobody_hears_leave_the_output_exactly_as_it_was() -> None:
    """Adding a node linked to nothing, or a scope on the signal, then taking it away: the
    sound is the same, so nothing may glide (a square's own edge at the swap was smoothed, 0.5
    off on a 0.7 peak)."""

    def square() -> patcher.Patch:
        patch = patcher.Patch()
        patch.add_node("oscillator", "osc", waveform="square", frequency_hz=93.75, amplitude=0.5)
        patch.add_node("output", "out")
        patch.connect("osc.out", "out.left")
        return patch

    reference, edited = patcher.Engine(square(), block_size=64), patcher.Engine(square(), block_size=64)
    expected, played = [], []
    for edit in range(40):
        patch = square()
        if edit % 2 == 0:
            patch.add_node("noise", "stray")
            patch.add_node("scope", "watch")
            patch.connect("osc.out", "watch.in")
            patch.set_param("osc", "phase_deg", 0.0)  # a value it already has
        edited.update_patch(patch)
        expected.append(run_blocks(reference, 3))
        played.append(run_blocks(edited, 3))
    np.testing.assert_array_equal(np.concatenate(played, axis=1), np.concatenate(expected, axis=1))


def test_a_muted_node_that_comes_back_with_an_unheard_edit_glides_in() -> None:
    """Any edit gives a muted node another chance; when it is heard, the sound comes back from
    silence, so it glides even if the edit itself changed nothing heard."""
    patch = sine_and_output(441.0)
    patch.add_node("gain", "level")
    patch.connect("osc.out", "level.in")
    patch.connect("level.out", "out.left")
    engine = patcher.Engine(patch, block_size=64)
    level = engine.schedule.nodes["level"]
    process = level.process

    def fails_once(*args):
        level.process = process
        raise RuntimeError("once")

    level.process = fails_once
    silent = run_blocks(engine, 10)[0]
    assert level.fault is not None and np.all(silent[-64:] == 0.0)
    edited = copy.deepcopy(engine.patch)
    edited.add_node("noise", "stray")  # linked to nothing: nothing heard changes
    engine.update_patch(edited)
    back = run_blocks(engine, 40)[0]
    assert level.fault is None and np.abs(back[-64:]).max() > 0.4
    assert abs(back[0]) <= 2 * np.pi * 441.0 / RATE * 0.5 * 1.05  # no larger than the sine's step


def test_a_muted_output_node_is_silent_not_its_last_block_again() -> None:
    patch = sine_and_output(441.0)
    patch.connect("osc.out", "out.left")
    engine = patcher.Engine(patch, block_size=64)
    run_blocks(engine, 4)

    def broken(*_args):
        raise RuntimeError("output broke")

    swap_process(engine.schedule.fast, engine.schedule.nodes["out"], broken)
    assert np.all(run_blocks(engine, 8) == 0.0)


@pytest.mark.parametrize("chunks", [(10, 10), (4, 6, 10), (1,) * 20, (20,)])
def test_a_delayed_ramp_whose_delay_ends_with_a_chunk_goes_on_in_the_next(chunks: tuple[int, ...]) -> None:
    """A CC landing on a chunk boundary (two on one sample, or a loop's chunk) once raised
    IndexError in the audio thread; however the block is cut, the values are the same."""
    from patcher.spec import Ramp

    whole = np.empty(20)
    Ramp(0.0, 1.0, 8, delay=10).fill(whole)
    ramp, parts = Ramp(0.0, 1.0, 8, delay=10), []
    for length in chunks:
        part = np.empty(length)
        ramp.fill(part)
        parts.append(part)
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-12)
    assert np.all(whole[:10] == 0.0) and whole[-1] == 1.0
