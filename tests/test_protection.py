"""Output protection and the player's callback, driven block by block without a device."""

from __future__ import annotations

import types
import warnings

import numpy as np

import patcher
from patcher.player import Player
from patcher.protection import CEILING, OutputProtection
from tests.test_engine import dc_patch

CLEAN = types.SimpleNamespace(output_underflow=False, input_overflow=False)


def run_callback(player: Player, blocks: int) -> np.ndarray:
    block = player.engine.block_size
    out = np.zeros((block, 2), dtype=np.float32)
    result = []
    for _ in range(blocks):
        player._output_callback(out, block, None, CLEAN)
        result.append(out.copy())
    return np.concatenate(result)


def test_limiter_keeps_every_sample_within_one() -> None:
    patch = dc_patch(0.5)
    patch.set_param("level", "gain_db", 20.0)  # 5.0: far over full scale
    out = run_callback(Player(patch), 20)
    assert np.max(np.abs(out)) <= 1.0
    assert np.max(np.abs(out)) >= CEILING - 1e-3


def test_quiet_signal_passes_the_limiter_untouched() -> None:
    out = run_callback(Player(dc_patch(0.5)), 5)
    np.testing.assert_allclose(out, 0.5, rtol=1e-6)


def runaway_patch() -> patcher.Patch:
    patch = dc_patch(0.1)
    patch.add_node("delay", "echo", time_ms=5.0, mix=1.0)
    patch.add_node("gain", "boost", gain_db=6.0)
    patch.connect("level.out", "echo.in")
    patch.connect("echo.tap", "boost.in")
    patch.connect("boost.out", "echo.in")
    patch.disconnect("level.out", "out.left")
    patch.connect("echo.out", "out.left")
    return patch


def test_runaway_loop_is_ducked_cleared_and_named() -> None:
    player = Player(runaway_patch())
    out = run_callback(player, 400)
    assert np.all(np.isfinite(out)) and np.max(np.abs(out)) <= 1.0
    warnings = player.warnings()
    assert any("runaway feedback in the loop" in w and "echo" in w and "boost" in w for w in warnings), (
        warnings
    )


def test_nan_from_a_node_never_reaches_the_output() -> None:
    player = Player(dc_patch())
    node = player.engine.schedule.nodes["level"]
    node.process = lambda inputs, params, outputs: outputs["out"].fill(np.nan)
    out = run_callback(player, 3)
    assert np.all(out == 0.0)
    assert player.warnings() == ["node 'level' (gain) produced NaN or infinity: silenced and reset"]


def test_callback_survives_a_broken_engine_and_reports_it() -> None:
    player = Player(dc_patch())
    player.engine.run_block = None  # the callback's own code path fails
    out = run_callback(player, 2)
    assert np.all(out == 0.0) and player.callbacks == 2
    assert "the audio callback failed 2 times" in player.warnings()[0]


def test_commands_apply_at_the_next_block_boundary() -> None:
    player = Player(dc_patch(0.5))
    run_callback(player, 1)
    player.set_param("level", "gain_db", -6.0)
    assert player.engine.schedule.nodes["level"].ramps == {}  # not yet: queued
    out = run_callback(player, 20)
    assert out[-1, 0] == np.float32(0.5 * 10 ** (-6 / 20))


def test_param_change_queued_after_a_graph_edit_reaches_the_new_node() -> None:
    import copy

    player = Player(dc_patch(0.5))
    run_callback(player, 1)
    edited = copy.deepcopy(player.engine.patch)
    edited.add_node("gain", "extra")
    edited.disconnect("level.out", "out.left")
    edited.connect("level.out", "extra.in")
    edited.connect("extra.out", "out.left")
    player.update_patch(edited)
    player.set_param("extra", "gain_db", -6.0)  # before the audio thread swapped
    out = run_callback(player, 30)
    assert out[-1, 0] == np.float32(0.5 * 10 ** (-6 / 20))
    assert player.engine.patch.nodes["extra"].params["gain_db"] == -6.0


def dc_level(level_db: float) -> patcher.Patch:
    patch = dc_patch(0.5)
    patch.set_param("level", "gain_db", level_db)
    return patch


def test_a_param_set_then_set_back_by_an_edit_before_the_boundary_ends_set_back() -> None:
    """The running node has not heard the queued change yet when the edit compiles: the edit
    must still undo it (it used to compare with the running value and leave the change on)."""
    player = Player(dc_level(0.0))
    run_callback(player, 1)
    player.set_param("level", "gain_db", -12.0)
    player.update_patch(dc_level(0.0))  # the user's last word: 0 dB
    out = run_callback(player, 30)
    assert player.engine.schedule.nodes["level"].params["gain_db"] == 0.0
    assert out[-1, 0] == np.float32(0.5)


def test_two_edits_before_the_boundary_end_as_the_second() -> None:
    player = Player(dc_level(0.0))
    run_callback(player, 1)
    player.update_patch(dc_level(-12.0))
    player.update_patch(dc_level(0.0))
    out = run_callback(player, 30)
    assert player.engine.schedule.nodes["level"].params["gain_db"] == 0.0
    assert out[-1, 0] == np.float32(0.5)


def test_runaway_protection_still_works_after_a_live_edit() -> None:
    import copy

    player = Player(runaway_patch())
    run_callback(player, 200)
    edited = copy.deepcopy(player.engine.patch)
    edited.set_param("out", "level_db", -1.0)
    player.update_patch(edited)
    out = run_callback(player, 400)
    assert player.callback_errors == 0
    assert np.all(np.isfinite(out)) and np.max(np.abs(out)) <= 1.0
    assert (
        max(
            np.max(np.abs(node.line))
            for node in player.engine.schedule.nodes.values()
            if hasattr(node, "line")
        )
        < 100
    )


def test_a_steady_signal_over_the_ceiling_settles_to_one_gain() -> None:
    patch = dc_patch(0.5)
    patch.set_param("level", "gain_db", 9.54)  # 1.5: over the ceiling, steadily
    player = Player(patch)
    out = run_callback(player, 200)[:, 0]
    settled = out[-player.engine.block_size * 50 :]
    assert np.ptp(settled) < 1e-6, "the limiter's gain alternates between blocks (a buzz)"
    assert settled[0] == np.float32(CEILING)


def test_nan_made_inside_the_output_node_is_silenced_named_and_not_printed() -> None:
    patch = patcher.Patch()
    patch.add_node("oscillator", "osc")  # a sine: zero, and both signs
    patch.add_node("math", "cv", op="constant", b=100000.0)  # +100000 dB: NaN and ±infinity
    patch.add_node("output", "out")
    patch.connect("osc.out", "out.left")
    patch.connect("cv.out", "out.level_db")
    player = Player(patch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's RuntimeWarning would print from the audio thread
        out = run_callback(player, 5)
    assert np.all(out == 0.0)
    assert player.warnings() == ["node 'out' (output) produced NaN or infinity: silenced and reset"]


def test_the_last_line_of_defence_scrubs_the_output_block_and_says_so() -> None:
    protection = OutputProtection(48000, 8)
    block = np.array([[0.5, np.nan, np.inf, -np.inf, 0.1, 0.2, 0.3, 0.4]] * 2)
    schedule = types.SimpleNamespace(loops=[])
    protection.process(block, schedule)
    np.testing.assert_array_equal(block[0], [0.5, 0.0, 0.0, 0.0, 0.1, 0.2, 0.3, 0.4])
    player = Player(dc_patch())
    player.protection = protection
    assert player.warnings() == ["the output held NaN or infinity that no node was named for: silenced"]
    assert player.warnings() == []


def test_a_runaway_loop_is_ducked_and_kept_down_while_it_keeps_running_away() -> None:
    """The loop doubles every 5 ms: caught at +18 dBFS, cleared, and the output ducked; it
    runs away again and again, and the duck (recovering over 0.5 s) keeps it quiet."""
    player = Player(runaway_patch())
    before = []
    while not player.protection.runaway_loops and len(before) < 100:
        before.append(run_callback(player, 1))
    assert player.protection.runaway_loops, "the loop was never caught"
    assert np.max(np.abs(np.concatenate(before))) > 0.5  # it was loud before it was caught
    after = run_callback(player, 100)[:, 0]  # half a second: caught again every 7 blocks
    # Without the duck: peaks of 0.99 (the limiter's ceiling), an RMS of 0.37.
    assert np.max(np.abs(after)) < 0.5
    assert np.sqrt(np.mean(after**2)) < 0.15


def test_what_a_swap_or_a_new_ir_replaces_is_freed_on_the_callers_thread_not_the_audio_thread() -> None:
    import copy
    import gc
    import weakref

    from tests.test_engine import reverb_patch

    player = Player(reverb_patch())
    run_callback(player, 1)
    edited = copy.deepcopy(player.engine.patch)
    edited.add_node("delay", "echo")  # four megabytes of delay line, removed again below
    edited.connect("level.out", "echo.in")
    edited.connect("echo.out", "out.right")
    player.update_patch(edited)
    run_callback(player, 1)
    echo = weakref.ref(player.engine.schedule.nodes["echo"])
    old_convolver = weakref.ref(player.engine.schedule.nodes["room"].convolver)
    edited = copy.deepcopy(edited)
    edited.remove_node("echo")
    player.update_patch(edited)
    player.set_param("room", "decay_s", 2.0)  # a new convolver in place of the old one
    gc.disable()  # only reference counts decide below
    try:
        run_callback(player, 1)  # the audio thread swaps both in
        assert echo() is not None and old_convolver() is not None, "freed on the audio thread"
        player.warnings()  # the caller's thread, now and then
        assert echo() is None and old_convolver() is None, "kept alive for good"
    finally:
        gc.enable()


def test_a_tap_is_always_one_whole_block_the_audio_thread_made() -> None:
    """A scope reading a node's output while the callback runs on another thread: every block
    it gets is one the engine made, never half of one and half of the next."""
    import sys
    import threading

    patch = patcher.Patch()
    patch.add_node("oscillator", "osc", waveform="saw", frequency_hz=97.0, amplitude=0.5)
    patch.add_node("output", "out")
    patch.connect("osc.out", "out.left")
    player = Player(patch, block_size=64)
    made: set[bytes] = set()
    done = threading.Event()

    def audio_thread() -> None:
        out = np.zeros((64, 2), dtype=np.float32)
        status = types.SimpleNamespace(output_underflow=False, input_overflow=False)
        for _ in range(3000):
            player._output_callback(out, 64, None, status)
            made.add(player.engine.schedule.outputs[("osc", "out")].tobytes())
        done.set()

    assert player.tap("osc", "out") is None  # watching starts with the first call
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        thread = threading.Thread(target=audio_thread)
        thread.start()
        read = []
        while not done.is_set():
            block = player.tap("osc", "out")
            if block is not None:
                read.append(block.tobytes())
        thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert len(read) > 100
    assert all(block in made for block in read)
