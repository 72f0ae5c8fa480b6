"""The delay: exact small cases, interpolation, feedback, modulation and feedback loops."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import soundfile

from patcher.engine import Engine
from patcher.model import Patch, Settings
from patcher.render import render
from tests.nodetools import probe_signal, run_node, run_node_class


def impulse(frames: int, at: int = 0) -> np.ndarray:
    signal = np.zeros(frames)
    signal[at] = 1.0
    return signal


def test_impulse_comes_out_after_the_delay_time_at_a_tiny_rate() -> None:
    # 5 ms at 1000 Hz is 5 samples, exactly.
    out = run_node("delay", {"time_ms": 5.0, "mix": 1.0}, {"in": impulse(20)}, sample_rate=1000, block=3)
    np.testing.assert_array_equal(out["out"], impulse(20, at=5))
    np.testing.assert_array_equal(out["tap"], impulse(20, at=5))


def test_mix_blends_dry_and_delayed() -> None:
    out = run_node("delay", {"time_ms": 5.0, "mix": 0.25}, {"in": impulse(20)}, sample_rate=1000)
    assert out["out"][0] == pytest.approx(0.75)
    assert out["out"][5] == pytest.approx(0.25)


def test_fractional_delay_interpolates_a_smooth_signal() -> None:
    rate, frequency = 48000, 500.0
    t = np.arange(4800) / rate
    delay_samples = 10.37
    out = run_node(
        "delay",
        {"time_ms": delay_samples / rate * 1000, "mix": 1.0},
        {"in": np.sin(2 * np.pi * frequency * t)},
    )["out"]
    expected = np.sin(2 * np.pi * frequency * (t - delay_samples / rate))
    assert np.max(np.abs(out[100:] - expected[100:])) < 1e-3


def test_feedback_echoes_repeat_and_decay_by_the_feedback() -> None:
    rate = 1000
    out = run_node(
        "delay",
        {"time_ms": 10.0, "feedback": 0.5, "mix": 1.0},
        {"in": impulse(60)},
        sample_rate=rate,
        block=7,
    )["out"]
    for echo in range(1, 6):
        assert out[10 * echo] == pytest.approx(0.5 ** (echo - 1))
    assert np.count_nonzero(np.abs(out) > 1e-12) == 5


def test_damping_darkens_each_repeat() -> None:
    out = run_node(
        "delay",
        {"time_ms": 10.0, "feedback": 0.9, "mix": 1.0, "damping_hz": 1000.0},
        {"in": impulse(4800)},
    )["out"]
    first, later = out[470:500], out[470 + 480 * 4 : 500 + 480 * 4]
    # A low-pass spreads the echo: the later one has less peak for the same-ish energy.
    assert np.max(np.abs(later)) < 0.5 * np.max(np.abs(first))


def test_modulated_time_shifts_pitch_like_a_doppler() -> None:
    rate, frequency = 48000, 1000.0
    frames = rate
    t = np.arange(frames) / rate
    # The time grows by 20 ms per second: the read head slows to 0.98 of real time.
    modulation = 20.0 * t
    out = run_node(
        "delay",
        {"time_ms": 5.0, "mix": 1.0},
        {"in": np.sin(2 * np.pi * frequency * t), "time_ms": modulation},
    )["out"]
    spectrum = np.abs(np.fft.rfft(out[4800:] * np.hanning(frames - 4800)))
    peak_hz = np.argmax(spectrum) * rate / (frames - 4800)
    assert peak_hz == pytest.approx(980.0, abs=2.0)


def _impulse_file(tmp_path, rate: int = 48000) -> str:
    path = tmp_path / "impulse.wav"
    soundfile.write(path, impulse(rate // 10), rate, subtype="FLOAT")
    return path.name


def _echo_patch(tmp_path, external: bool) -> Patch:
    patch = Patch(base_dir=tmp_path)
    patch.add_node("input", "source", file=_impulse_file(tmp_path))
    patch.add_node("delay", "echo", time_ms=10.0, mix=1.0, feedback=0.0 if external else 0.5)
    patch.add_node("output", "out")
    patch.connect("source.out", "echo.in")
    patch.connect("echo.out", "out.left")
    if external:
        patch.add_node("gain", "loop_gain", gain_db=20 * np.log10(0.5))
        patch.connect("echo.tap", "loop_gain.in")
        patch.connect("loop_gain.out", "echo.in")
    return patch


@pytest.mark.parametrize("block", [1, 64, 65, 1024])
def test_external_loop_through_tap_equals_internal_feedback_at_any_block(tmp_path, block: int) -> None:
    # The node's own output, not the limiter's (its full-scale impulse would be held at 0.99).
    internal = render(_echo_patch(tmp_path, external=False), seconds=0.1, block_size=256, limit=False)
    external = render(_echo_patch(tmp_path, external=True), seconds=0.1, block_size=block, limit=False)
    assert np.max(np.abs(internal)) == pytest.approx(1.0)
    np.testing.assert_allclose(external, internal, atol=1e-12)


def test_ten_seconds_is_the_longest_delay() -> None:
    out = run_node("delay", {"time_ms": 10000.0, "mix": 1.0}, {"in": impulse(480_100)}, block=4096)["out"]
    assert np.argmax(out) == 480_000


def test_a_longer_time_glides_in_without_a_click_inside_a_loop(tmp_path) -> None:
    from patcher.engine import Engine

    patch = Patch(base_dir=tmp_path)
    patch.add_node("oscillator", "tone", waveform="sine", frequency_hz=230.0, amplitude=0.5)
    patch.add_node("delay", "echo", time_ms=10.0, mix=1.0)
    patch.add_node("gain", "loop_gain", gain_db=-20.0)
    patch.add_node("output", "out")
    patch.connect("tone.out", "echo.in")
    patch.connect("echo.tap", "loop_gain.in")
    patch.connect("loop_gain.out", "echo.in")
    patch.connect("echo.out", "out.left")
    engine = Engine(patch, block_size=64)
    before = np.concatenate([engine.process_block()[0].copy() for _ in range(40)])
    engine.set_param("echo", "time_ms", 100.0)
    after = np.concatenate([engine.process_block()[0].copy() for _ in range(40)])
    signal = np.concatenate([before, after])
    # The 20 ms glide adds 90 ms: the read head runs backwards at 3.5x, a Doppler shift to
    # ~805 Hz whose steepest step is 2π·805/48000·0.5 ≈ 0.053. A click (the clamp jumping to
    # half the new time at once) stepped by 0.34.
    assert np.max(np.abs(np.diff(signal))) < 0.1


def _saw_through_a_loop(block: int, start_ms: float, target_ms: float) -> np.ndarray:
    """A saw into a delay whose tap feeds back through a mix; the delay's time glides from
    ``start_ms`` to ``target_ms`` live, 101 ms in. The 101 ms after the change."""
    from patcher.engine import Engine

    patch = Patch()
    patch.add_node("oscillator", "osc", waveform="saw", frequency_hz=220.0, amplitude=0.3)
    patch.add_node("mix", "sum", level2=0.5)
    patch.add_node("delay", "echo", time_ms=start_ms, mix=1.0)
    patch.add_node("output", "out")
    for source, target in (("osc.out", "sum.in1"), ("sum.out", "echo.in"), ("echo.tap", "sum.in2")):
        patch.connect(source, target)
    patch.connect("echo.out", "out.left")
    engine = Engine(patch, 48000, block)
    for _ in range(4864 // block):  # 4864 = 19 blocks of 256: the change comes at one sample
        engine.process_block()
    engine.set_param("echo", "time_ms", target_ms)
    return np.concatenate([engine.process_block()[0].copy() for _ in range(4864 // block)])


@pytest.mark.parametrize("start_ms, target_ms", [(1.0, 200.0), (2.0, 40.0), (200.0, 1.0)])
def test_a_delay_time_gliding_inside_a_loop_sounds_the_same_at_any_block(start_ms, target_ms) -> None:
    """The loop runs in chunks chosen at each block's start; a glide up within the block must
    not move the floor the reads are held to (blocks 64 and 1 differed by 0.34 on a 0.37 peak)."""
    reference = _saw_through_a_loop(1, start_ms, target_ms)
    for block in (16, 64, 256):
        np.testing.assert_allclose(_saw_through_a_loop(block, start_ms, target_ms), reference, atol=1e-9)


def _blowing_up_loop(block: int) -> Engine:
    """A delay in a loop whose feedback is pushed to 1000: its tap overflows within 0.2 s
    and the engine scrubs it and resets the delay between its read and write."""
    patch = Patch()
    patch.add_node("oscillator", "tone", frequency_hz=220.0, amplitude=0.5)
    patch.add_node("delay", "echo", time_ms=1.0, mix=0.5)
    patch.add_node("gain", "loop_gain", gain_db=-20.0)
    patch.add_node("math", "push", op="constant", b=1000.0)
    patch.add_node("output", "out")
    for source, target in (
        ("tone.out", "echo.in"),
        ("echo.tap", "loop_gain.in"),
        ("loop_gain.out", "echo.in"),
        ("push.out", "echo.feedback"),
        ("echo.out", "out.left"),
    ):
        patch.connect(source, target)
    return Engine(patch, 48000, block)


@pytest.mark.parametrize("block", [64, 1024])
def test_a_delay_reset_by_the_nan_scrub_inside_a_loop_plays_on(block: int) -> None:
    engine = _blowing_up_loop(block)
    engine.render(0.2)
    echo = engine.schedule.nodes["echo"]
    assert echo.nonfinite_blocks > 0  # the scrub reset it between its read and its write
    engine.set_param("push", "b", 0.0)  # the loop calms down: the echo must be heard again
    engine.render(0.1)
    after = engine.render(0.1)[:, 0]
    assert echo.fault_count == 0, echo.last_fault
    # The tone and its 1 ms echo, each at half level: about 0.4 peak, far from silence.
    assert np.all(np.isfinite(after))
    assert 0.2 < np.sqrt(np.mean(after**2)) < 0.5


# -- memory: a line as long as the patch needs (issue 12) ------------------------------------
def prepared_delay(params: dict, sample_rate: int = 192000, block: int = 256):
    from patcher.spec import node_class

    node = node_class("delay")(params)
    node.prepare(sample_rate, block)
    return node


def test_a_short_delay_takes_a_line_of_about_its_length() -> None:
    echo = prepared_delay({"time_ms": 10.0, "max_time_ms": 10.0})
    needed = (1920 + 256) * 8  # 10 ms at 192 kHz and a block, in bytes
    assert needed <= echo.line.nbytes <= 2 * needed + 64 * 8
    # The default holds 1 s; a longer set time lengthens it.
    assert 192000 * 8 <= prepared_delay({"time_ms": 10.0}).line.nbytes <= 2 * 192000 * 8
    assert prepared_delay({"time_ms": 3000.0}).line.nbytes >= 3 * 192000 * 8


def test_a_hundred_short_delays_compile_in_little_memory() -> None:
    import tracemalloc

    from patcher.compiler import compile_patch

    patch = Patch()
    patch.add_node("noise", "noise")
    patch.add_node("output", "out")
    for index in range(100):
        patch.add_node("delay", f"d{index}", time_ms=10.0, max_time_ms=10.0)
        patch.connect("noise.out", f"d{index}.in")
        patch.connect(f"d{index}.out", "out.left")
    tracemalloc.start()
    try:
        compile_patch(patch, 192000, 256)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20e6  # 100 lines of 4096 samples are 3.3 MB; 10 s lines were 1.7 GB


@pytest.mark.parametrize("max_time_ms, held_at", [(50.0, 50), (10000.0, 510)])
def test_a_modulated_time_beyond_the_line_is_held_at_its_end(max_time_ms: float, held_at: int) -> None:
    params = {"time_ms": 10.0, "max_time_ms": max_time_ms, "mix": 1.0}
    push = np.full(600, 500.0)  # 10 ms + 500 ms
    out = run_node("delay", params, {"in": impulse(600), "time_ms": push}, sample_rate=1000, block=64)
    np.testing.assert_array_equal(out["tap"], impulse(600, at=held_at))


RATE = 8000


def _clicks_file(tmp_path, seconds: float, clicks_s: tuple[float, ...]) -> str:
    signal = np.zeros(round(seconds * RATE))
    for at_s in clicks_s:
        signal[round(at_s * RATE)] = 0.5
    soundfile.write(tmp_path / "clicks.wav", signal, RATE, subtype="FLOAT")
    return "clicks.wav"


def _clicks_through_an_echo(tmp_path, clicks_s: tuple[float, ...], seconds: float) -> Patch:
    patch = Patch(base_dir=tmp_path)
    patch.settings = Settings(sample_rate=RATE, block_size=200)
    patch.add_node("input", "clicks", file=_clicks_file(tmp_path, seconds, clicks_s))
    patch.add_node("delay", "echo", time_ms=100.0, mix=1.0)
    patch.add_node("output", "out")
    patch.connect("clicks.out", "echo.in")
    patch.connect("echo.out", "out.left")
    return patch


def _heard_at(signal: np.ndarray, from_s: float = 0.0) -> list[float]:
    """The times (s) of the samples heard, counting from ``from_s``."""
    return [round(from_s + index / RATE, 6) for index in np.flatnonzero(np.abs(signal) > 1e-6)]


def test_a_live_time_change_to_five_seconds_grows_the_line_and_keeps_the_echoes(tmp_path) -> None:
    """Played through the player's callback: clicks at 2.5 s and 3.2 s, the time turned from
    100 ms to 5 s at 3.0 s (its line then holds 2 s, and has wrapped). The click at 2.5 s was
    echoed at 2.6 s and is in the line: it comes again at 7.5 s; the later one at 8.2 s."""
    from patcher.player import Player
    from tests.test_protection import run_callback

    player = Player(_clicks_through_an_echo(tmp_path, (2.5, 3.2), seconds=8.5))
    echo = player.engine.schedule.nodes["echo"]
    short_line = echo.line.nbytes
    before = run_callback(player, 3 * RATE // 200)[:, 0]
    player.set_param("echo", "time_ms", 5000.0)
    after = run_callback(player, round(5.5 * RATE) // 200)[:, 0]
    assert short_line < 3 * RATE * 8 and echo.line.nbytes >= 5 * RATE * 8
    assert _heard_at(before) == [2.6]
    glide = round(0.03 * RATE)  # the 20 ms glide sweeps the read back over the click at 2.5 s
    assert _heard_at(after[glide:], 3.03) == [7.5, 8.2]
    assert after[round(4.5 * RATE)] == pytest.approx(0.5) and after[round(5.2 * RATE)] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "edits",
    [{("echo", "max_time_ms"): 3000.0, ("push", "b"): 2400.0}, {("echo", "time_ms"): 2500.0}],
    ids=["max_time_ms and a push", "time_ms"],
)
def test_a_graph_edit_grows_a_running_line_and_keeps_the_echoes(tmp_path, edits: dict) -> None:
    """At 3.0 s an edit takes the time to 2.5 s, beyond the line's 1 s: a signal pushes it in
    the same edit that makes the line hold 3 s, or the set time steps there. The click at
    2.5 s, echoed at 2.6 s, comes again at 5.0 s."""
    patch = _clicks_through_an_echo(tmp_path, (2.5,), seconds=5.5)
    patch.add_node("math", "push", op="constant", b=0.0)
    patch.connect("push.out", "echo.time_ms")
    engine = Engine(patch)
    before = engine.render(3.0)[:, 0]
    edited = copy.deepcopy(patch)
    for (node_id, name), value in edits.items():
        edited.set_param(node_id, name, value)
    engine.update_patch(edited)
    after = engine.render(2.5)[:, 0]
    assert _heard_at(before) == [2.6]
    assert _heard_at(after, 3.0) == [5.0]


def test_feedback_beyond_the_line_sounds_the_same_at_any_block() -> None:
    """A time pushed far beyond a short line is held at its end: the feedback's chunks must be
    no longer than that held time, or a read would take samples of its own chunk unwritten."""
    params = {"time_ms": 3.0, "max_time_ms": 5.0, "feedback": 0.7, "mix": 1.0}
    inputs = {"in": probe_signal(700), "time_ms": np.full(700, 400.0)}
    reference = run_node("delay", params, inputs, sample_rate=1000, block=1)["out"]
    for block in (7, 64, 256):
        out = run_node("delay", params, inputs, sample_rate=1000, block=block)["out"]
        np.testing.assert_allclose(out, reference, atol=1e-12)


# -- the compiled kernels against the numpy DSP they replaced (tests/reference_nodes) --------
def _wander(rng: np.random.Generator, frames: int, low: float, high: float) -> np.ndarray:
    """A random signal that sweeps between ``low`` and ``high`` (a modulation)."""
    steps = np.cumsum(rng.standard_normal(frames))
    steps = (steps - steps.min()) / max(np.ptp(steps), 1e-12)
    return low + (high - low) * steps


def assert_matches_reference(params: dict, inputs: dict, block: int, sample_rate: int) -> None:
    from nodes.delays import Delay
    from tests.reference_nodes.delays import ReferenceDelay

    expected = run_node_class(ReferenceDelay, params, inputs, block, sample_rate)
    got = run_node_class(Delay, params, inputs, block, sample_rate)
    for port in Delay.OUTPUTS:
        np.testing.assert_array_equal(got[port], expected[port], err_msg=port)


@pytest.mark.parametrize("sample_rate", [8000, 44100, 48000, 96000])
@pytest.mark.parametrize("block", [1, 7, 64, 65, 256, 1024])
def test_the_kernel_matches_the_reference_with_every_param_modulated(sample_rate: int, block: int) -> None:
    rng = np.random.default_rng(sample_rate + block)
    frames = 3000
    params = {
        "time_ms": float(rng.uniform(0.0, 20.0)),
        "max_time_ms": 30.0,
        "feedback": 0.0,
        "damping_hz": float(rng.choice([20000.0, rng.uniform(100.0, 19000.0)])),
        "mix": 0.5,
    }
    inputs = {
        "in": rng.standard_normal(frames),
        "time_ms": _wander(rng, frames, -5.0, 40.0),  # beyond the line too, and below 2 samples
        "feedback": _wander(rng, frames, -0.99, 0.99),
        "mix": _wander(rng, frames, 0.0, 1.0),
    }
    assert_matches_reference(params, inputs, block, sample_rate)


@pytest.mark.parametrize("block", [1, 64, 256])
@pytest.mark.parametrize(
    "params",
    [
        {"time_ms": 0.0, "feedback": 0.99, "damping_hz": 100.0, "mix": 1.0},
        {"time_ms": 10000.0, "max_time_ms": 10000.0, "feedback": -0.99, "mix": 0.0},
        {"time_ms": 1.0, "max_time_ms": 1.0, "feedback": 0.5, "damping_hz": 20000.0, "mix": 0.3},
        {"time_ms": 7.3, "feedback": 0.0, "damping_hz": 3000.0, "mix": 0.5},  # static, no feedback
        {"time_ms": 7.3, "feedback": 0.9, "damping_hz": 19999.0, "mix": 0.5},  # static feedback
    ],
)
def test_the_kernel_matches_the_reference_at_the_params_extremes(params: dict, block: int) -> None:
    rng = np.random.default_rng(block)
    assert_matches_reference(params, {"in": rng.standard_normal(2000)}, block, 8000)


def _swap_in_reference(monkeypatch) -> None:
    from patcher import spec
    from tests.reference_nodes.delays import ReferenceDelay

    monkeypatch.setitem(spec._REGISTRY, "delay", ReferenceDelay)


def _loop_with_live_changes(block: int) -> np.ndarray:
    """Noise into a delay whose tap comes back through a gain (an external loop), its time
    swept by an LFO; while it plays the time glides up beyond its line and down, the damping
    and the internal feedback change and the line is made longer by an edit."""
    patch = Patch()
    patch.add_node("noise", "noise", amplitude=0.3)
    patch.add_node("mix", "sum", level2=0.6)
    patch.add_node("delay", "echo", time_ms=3.0, max_time_ms=20.0, mix=0.7, feedback=0.3, damping_hz=4000.0)
    patch.add_node("lfo", "wobble", rate_hz=7.0, depth=2.0)
    patch.add_node("output", "out")
    for source, target in (
        ("noise.out", "sum.in1"),
        ("sum.out", "echo.in"),
        ("echo.tap", "sum.in2"),
        ("wobble.out", "echo.time_ms"),
        ("echo.out", "out.left"),
    ):
        patch.connect(source, target)
    engine = Engine(patch, 8000, block)
    played = []
    changes = [
        ("time_ms", 45.0),  # beyond the 20 ms line: a longer one is installed
        ("damping_hz", 20000.0),
        ("feedback", -0.8),
        ("time_ms", 1.0),
        ("max_time_ms", 80.0),
        ("time_ms", 60.0),
    ]
    for name, value in changes:
        for _ in range(832 // block):  # 832 = 13 blocks of 64: changes at the same sample
            played.append(engine.process_block()[0].copy())
        engine.set_param("echo", name, value)
    for _ in range(832 // block):
        played.append(engine.process_block()[0].copy())
    return np.concatenate(played)


@pytest.mark.parametrize("block", [1, 7, 64, 256])
def test_the_kernel_matches_the_reference_in_a_loop_through_live_changes(monkeypatch, block: int) -> None:
    got = _loop_with_live_changes(block)
    _swap_in_reference(monkeypatch)
    expected = _loop_with_live_changes(block)
    assert np.max(np.abs(expected)) > 0.1
    np.testing.assert_array_equal(got, expected)
