"""Real-time playback on a real PortAudio stream: JACK's dummy backend keeps real time.

These tests assert what the player does (the stream runs, the sine arrives at the right gain, a
stall is counted as an underrun) and wait for progress, not for the wall clock, so they hold on a
busy machine. How well the machine keeps time (callbacks against the clock, underruns and xruns
under load, the CPU load of a block) is measured by bench/realtime.py.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import patcher
from patcher.player import Player
from patcher.server import EngineProcess
from tests.jack_server import realtime_available
from tests.nodetools import raises, swap_process
from tests.test_engine import dc_patch

RATE, BLOCK = 48000, 256

#: How long a test waits for progress (blocks played, a meter reached) before it fails: far more
#: than a stream that runs needs on any machine, so a fail means it stopped, not that it was slow.
PATIENCE_S = 30.0


#: Both ways of playing: the engine in the device's callback, and ahead of it in a thread of its
#: own with a 20 ms safety buffer (Player(buffer_ms=...)).
both_modes = pytest.mark.parametrize("buffer_ms", [0.0, 20.0], ids=["callback", "buffered"])


def sine_patch(frequency: float = 441.0) -> patcher.Patch:
    patch = patcher.Patch()
    patch.add_node("oscillator", "osc", waveform="sine", frequency_hz=frequency, amplitude=0.5)
    patch.add_node("gain", "level")
    patch.add_node("output", "out")
    patch.connect("osc.out", "level.in")
    patch.connect("level.out", "out.left")
    return patch


def wait_until(done: Callable[[], object], what: str, timeout: float = PATIENCE_S) -> None:
    """Poll until ``done()`` is true; fail naming ``what`` if it is not within ``timeout``."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g} s")
        time.sleep(0.005)


def blocks_in(player: Player, seconds: float) -> int:
    return round(seconds * player.engine.sample_rate / player.engine.block_size)


def wait_for_blocks(player: Player, seconds: float) -> None:
    """Until the engine has computed ``seconds`` more of audio, however long a busy machine takes."""
    target = player.callbacks + blocks_in(player, seconds)
    wait_until(lambda: player.callbacks >= target, f"{seconds:g} s more of blocks played")


def play(player: Player, seconds: float, during=None) -> None:
    """Start, run ``during(player)``, and stop once the engine has computed ``seconds`` of audio
    in all: what a test records is there, whatever the load (buffered, the engine is ahead of
    the device by its FIFO)."""
    player.start()
    try:
        if during is not None:
            during(player)
        total = blocks_in(player, seconds)
        wait_until(lambda: player.callbacks >= total, f"{seconds:g} s of blocks played")
    finally:
        player.stop()


def assert_paced_by_the_device(report) -> None:
    """What a report says of time, as far as it holds on a busy machine: blocks were computed,
    the expected count is the time played in blocks (plus, buffered, the FIFO the engine fills
    ahead), and no more blocks were computed than the device's clock let through (a stream
    running free of the clock would count thousands). How close to the clock the count comes
    is how well the machine keeps time: bench/realtime.py measures it."""
    fifo_frames = round(report.buffer_ms * report.sample_rate / 1000)
    played = round(report.seconds * report.sample_rate / report.block_size)
    assert report.expected_callbacks == played + fifo_frames // report.block_size
    assert 0 < report.callbacks <= report.expected_callbacks + 2


def test_the_default_patch_plays_and_its_report_adds_up(jack) -> None:
    player = Player(patcher.load(Path("patches/default.json")), device=jack.device)
    play(player, 2.0)
    report = player.report()
    assert_paced_by_the_device(report)
    assert report.peak_dbfs is not None and -30 < report.peak_dbfs < 0
    assert report.cpu_load_max >= report.cpu_load_mean > 0  # measured, in each callback


@both_modes
def test_param_change_mid_stream_is_followed_and_ramped(jack, buffer_ms: float) -> None:
    player = Player(sine_patch(), device=jack.device, record_s=10.0, buffer_ms=buffer_ms)

    def turn_down(p: Player) -> None:
        wait_for_blocks(p, 0.5)
        p.set_param("level", "gain_db", -20.0)
        wait_for_blocks(p, 0.5)  # the 20 ms ramp, then the new level

    play(player, 1.0, turn_down)
    left = player.recording[: player.recorded, 0]
    assert np.max(np.abs(left[: RATE // 4])) == pytest.approx(0.5, abs=0.01)
    assert np.max(np.abs(left[-RATE // 4 :])) == pytest.approx(0.05, abs=0.005)
    # A 441 Hz sine moves at most 2π·441/48000·0.5 per sample; a zipper step would exceed it.
    assert np.max(np.abs(np.diff(left))) < 1.05 * 2 * np.pi * 441 / RATE * 0.5


@both_modes
def test_live_edit_keeps_the_oscillator_phase(jack, buffer_ms: float) -> None:
    player = Player(sine_patch(), device=jack.device, record_s=10.0, buffer_ms=buffer_ms)

    def bypass_gain(p: Player) -> None:
        wait_for_blocks(p, 0.4)
        edited = copy.deepcopy(p.engine.patch)
        edited.remove_node("level")
        edited.connect("osc.out", "out.left")
        p.update_patch(edited)
        wait_for_blocks(p, 0.4)  # the swap is in the recording, with what follows it

    play(player, 1.0, bypass_gain)
    left = player.recording[: player.recorded, 0].astype(float)
    assert "level" not in player.engine.schedule.nodes
    # One unbroken sine: the oscillator's phase survived the swap (no jump, no restart).
    t = np.arange(len(left)) / RATE
    fit = np.linalg.lstsq(
        np.column_stack([np.sin(2 * np.pi * 441 * t), np.cos(2 * np.pi * 441 * t)]), left, rcond=None
    )
    residual = left - np.column_stack([np.sin(2 * np.pi * 441 * t), np.cos(2 * np.pi * 441 * t)]) @ fit[0]
    # The glide at the swap leaves at most the sine's curvature (ω²A = 0.0017); a restart or a
    # one-sample slip of the phase would leave its step (ωA = 0.029) or more.
    assert np.max(np.abs(residual)) < 0.005


@both_modes
def test_refused_edit_keeps_playing(jack, buffer_ms: float) -> None:
    player = Player(dc_patch(0.5), device=jack.device, record_s=1.0, buffer_ms=buffer_ms)

    def illegal(p: Player) -> None:
        edited = copy.deepcopy(p.engine.patch)
        edited.links.append(
            patcher.model.Link(patcher.model.PortRef("level", "out"), patcher.model.PortRef("level", "in"))
        )
        with pytest.raises(patcher.PatchError, match="delay-free feedback loop"):
            p.update_patch(edited)

    play(player, 1.0, illegal)
    assert np.allclose(player.recording[BLOCK : player.recorded, 0], 0.5)


@both_modes
def test_a_node_that_raises_mid_stream_is_muted_and_the_stream_lives_on(jack, buffer_ms: float) -> None:
    player = Player(dc_patch(0.5), device=jack.device, buffer_ms=buffer_ms)
    at_fault = []

    def break_node(p: Player) -> None:
        wait_for_blocks(p, 0.3)
        swap_process(p.engine.schedule.fast, p.engine.schedule.nodes["level"], raises)
        at_fault.append(p.callbacks)
        wait_for_blocks(p, 0.3)
        assert p.stream is not None and p.stream.active

    play(player, 1.0, break_node)
    report = player.report()
    assert report.callbacks - at_fault[0] >= blocks_in(player, 0.3)  # it played on
    assert any("node 'level' (gain) failed and is muted" in w for w in report.warnings)
    assert player.levels.max() == 0.0


@both_modes
def test_nan_mid_stream_never_reaches_the_device(jack, buffer_ms: float) -> None:
    player = Player(dc_patch(0.5), device=jack.device, record_s=10.0, buffer_ms=buffer_ms)
    poisoned_at = []

    def poison(p: Player) -> None:
        wait_for_blocks(p, 0.3)
        node = p.engine.schedule.nodes["level"]
        swap_process(
            p.engine.schedule.fast, node, lambda inputs, params, outputs: outputs["out"].fill(np.inf)
        )
        poisoned_at.append(p.recorded)
        wait_for_blocks(p, 0.3)

    play(player, 1.0, poison)
    assert player.recorded - poisoned_at[0] >= 0.3 * RATE  # the poisoned blocks were recorded
    assert np.all(np.isfinite(player.recording))
    assert "produced NaN or infinity" in " ".join(player.report().warnings)


@both_modes
def test_live_input_runs_a_duplex_stream(jack, buffer_ms: float) -> None:
    import sounddevice

    patch = patcher.Patch()
    patch.add_node("input", "mic", source="live")
    patch.add_node("output", "out")
    patch.connect("mic.out", "out.left")
    player = Player(patch, device=jack.device, input_device=jack.device, buffer_ms=buffer_ms)
    streams = []
    play(player, 1.0, lambda p: streams.append(p.stream))
    assert player.uses_live_input and player.has_input
    assert isinstance(streams[0], sounddevice.Stream)  # input and output: a duplex stream
    # It ran on the device's clock. Overruns are xruns on JACK (each is flagged both ways):
    # how many a busy machine has is bench/realtime.py's to measure.
    assert_paced_by_the_device(player.report())


#: Another JACK client, as a guitar on the sound card's input would be: a 0.25 sine, mono.
SINE_CLIENT = """
import sys
import numpy as np
import sounddevice as sd

frequency, device, rate = float(sys.argv[1]), int(sys.argv[2]), 48000
played = 0

def callback(outdata, frames, _time, _status):
    global played
    t = (played + np.arange(frames)) / rate
    outdata[:, 0] = 0.25 * np.sin(2 * np.pi * frequency * t)
    played += frames

with sd.OutputStream(device=device, samplerate=rate, blocksize=256, channels=1, callback=callback):
    print("playing", flush=True)
    sys.stdin.read()  # until the test closes our stdin
"""


@both_modes
def test_live_input_plays_what_reaches_the_sound_cards_input(jack, buffer_ms: float) -> None:
    """A sine from another JACK client, patched into the player's capture port, comes out of
    the patch: through the duplex stream, the input node and a gain of -6 dB."""
    frequency = 1000.0
    patch = patcher.Patch()
    patch.add_node("input", "guitar", source="live")
    patch.add_node("gain", "level", gain_db=-6.0)
    patch.add_node("output", "out")
    patch.connect("guitar.out", "level.in")
    patch.connect("level.out", "out.left")
    client = subprocess.Popen(
        [sys.executable, "-c", SINE_CLIENT, str(frequency), str(jack.device)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert client.stdout.readline().strip() == "playing"
        (sine,) = {port for port in jack.ports("output") if not port.startswith("system:")}
        inputs_before = jack.ports("input")
        player = Player(patch, device=jack.device, record_s=10.0, buffer_ms=buffer_ms)

        def plug_in(p: Player) -> None:
            capture = sorted(jack.ports("input") - inputs_before)[0]  # the player's first input
            jack.connect(sine, capture)
            wait_for_blocks(p, 1.0)  # the sine, from the sound card's input, through the patch

        play(player, 2.0, plug_in)
    finally:
        client.stdin.close()
        try:
            client.wait(timeout=10)
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait()
    assert player.uses_live_input
    heard = player.recording[player.recorded - RATE // 2 : player.recorded, 0].astype(float)  # the last 0.5 s
    spectrum = np.abs(np.fft.rfft(heard * np.hanning(len(heard))))
    assert np.fft.rfftfreq(len(heard), 1 / RATE)[np.argmax(spectrum)] == pytest.approx(frequency, abs=2)
    assert np.max(np.abs(heard)) == pytest.approx(0.25 * 10 ** (-6 / 20), rel=0.02)


@both_modes
def test_engine_process_plays_and_reports(jack, buffer_ms: float) -> None:
    engine = EngineProcess(sine_patch(), device=jack.device, buffer_ms=buffer_ms)
    engine.start()
    try:
        engine.tap("osc", "out")  # the first call watches it
        wait_until(lambda: engine.meters()["callbacks"] >= 100, "100 blocks on the meters")
        wait_until(lambda: meter_reads(engine, 0.5), "the meter at the sine's 0.5")
        engine.set_param("level", "gain_db", -6.0)
        wait_until(lambda: meter_reads(engine, 0.5 * 10 ** (-6 / 20)), "the meter at -6 dB")
        wait_until(lambda: scope_reads(engine.tap("osc", "out"), 0.5), "the scope at the sine's 0.5")
        with pytest.raises(patcher.PatchError, match="out of range"):
            engine.set_param("level", "gain_db", 500.0)
    finally:
        report = engine.stop()
    assert report is not None and report.buffer_ms >= buffer_ms
    assert_paced_by_the_device(report)


def meter_reads(engine: EngineProcess, level: float) -> bool:
    return abs(engine.meters()["level"][0] - level) <= 0.01


def scope_reads(block: np.ndarray | None, peak: float) -> bool:
    return block is not None and abs(np.max(np.abs(block)) - peak) <= 0.02


def test_buffered_playback_plays_what_the_engine_renders(jack) -> None:
    patch = patcher.load(Path("patches/default.json"))
    policies = []

    def look_at_the_engine_thread(p: Player) -> None:
        wait_until(p.playing.is_set, "the engine feeding the device")  # after it asked for a priority
        policies.append(os.sched_getscheduler(p._feeder.native_id))

    player = Player(patch, device=jack.device, record_s=1.0, buffer_ms=20.0)
    play(player, 2.0, look_at_the_engine_thread)
    report = player.report()
    # Above every ordinary thread where the system allows it (root here), else an ordinary one.
    assert policies == [os.SCHED_FIFO if realtime_available() else os.SCHED_OTHER]
    assert_paced_by_the_device(report)
    assert 20.0 <= report.buffer_ms <= 45.0  # host APIs round the FIFO up (JACK: a power of 2)
    assert "buffer" in report.text()
    # Every block arrives, in order: what was played is the offline render, sample for sample.
    offline = patcher.Engine(patch).render(1.0)
    assert player.recorded == RATE
    np.testing.assert_allclose(player.recording[:, 0], offline[:, 0], atol=1e-6)


def test_a_long_safety_buffer_is_measured_whole(jack) -> None:
    """JACK rounds a 500 ms FIFO up to 32768 frames (683 ms), which take longer than half a
    second to drain: the measure must wait for them, or it counts underruns that are not."""
    player = Player(dc_patch(0.5), device=jack.device, buffer_ms=500.0)
    play(player, 2.5)
    report = player.report()
    assert player.fifo_frames == 32768
    assert report.buffer_ms == pytest.approx(32768 / RATE * 1000)
    # A real underrun would take an engine stalled for 683 ms: no load a test sees does that.
    assert report.underruns == 0
    # The engine computed the FIFO's 683 ms beyond what was played: they are expected.
    assert_paced_by_the_device(report)
    assert report.expected_callbacks >= 32768 // BLOCK


#: Far longer than a block (5.3 ms) and than the 20 ms safety buffer (21.3 ms on JACK), so the
#: device plays silence meanwhile whatever the load; far shorter than JACK's client timeout.
STALL_S = 0.2


@both_modes
def test_a_stalled_engine_is_counted_as_underruns_and_the_stream_plays_on(jack, buffer_ms: float) -> None:
    """In the callback, the device flags the late block (JACK's xrun); buffered, the engine
    finds the FIFO empty. Either way an underrun is counted, and the stream goes on."""
    player = Player(dc_patch(0.5), device=jack.device, buffer_ms=buffer_ms)

    def stall_once(p: Player) -> None:
        wait_for_blocks(p, 0.3)
        node = p.engine.schedule.nodes["level"]
        process = node.process

        def slow(inputs, params, outputs):
            del node.process  # its own again from the next call (the plan's steps call it so)
            time.sleep(STALL_S)
            process(inputs, params, outputs)

        swap_process(p.engine.schedule.fast, node, slow)
        wait_until(lambda: "process" not in vars(node), "the stall")
        wait_for_blocks(p, 0.3)  # the stream goes on, and a late flag has time to come

    play(player, 1.0, stall_once)
    report = player.report()
    assert report.underruns >= 1
    assert report.warnings == []


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "patcher", *map(str, args)], capture_output=True, text=True, timeout=60
    )


def play_default(jack, tmp_path: Path, *options: str) -> tuple[subprocess.CompletedProcess, dict]:
    """``patcher play patches/default.json`` on the JACK device; its output and its report."""
    report_path = tmp_path / "report.json"
    report_option = ("--report", report_path)
    result = run_cli("play", "patches/default.json", "--device", jack.device, *options, *report_option)
    assert result.returncode == 0, result.stderr
    return result, json.loads(report_path.read_text())


def test_play_command_prints_and_writes_its_report(jack, tmp_path: Path) -> None:
    result, written = play_default(jack, tmp_path, "--seconds", "1")
    assert "callbacks" in result.stdout and "underruns" in result.stdout
    report = types.SimpleNamespace(**written)
    assert report.seconds >= 1.0
    assert_paced_by_the_device(report)
    assert report.cpu_load_p99 > 0


def test_play_command_with_a_safety_buffer(jack, tmp_path: Path) -> None:
    result, report = play_default(jack, tmp_path, "--seconds", "1", "--buffer", "20")
    assert "buffer 2" in result.stdout  # 21.3 ms on JACK: 1024 frames
    assert report["buffer_ms"] >= 20 and report["seconds"] >= 1.0
    assert_paced_by_the_device(types.SimpleNamespace(**report))


def test_patcher_alone_with_a_sound_device_but_no_display_plays_the_default_patch(jack, tmp_path) -> None:
    """What `make run` does on a headless machine with a sound card: render, then play."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run(
        [sys.executable, "-m", "patcher"], capture_output=True, text=True, cwd=tmp_path, env=environment,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "playing on system for 8 s" in result.stdout  # JACK's device, the only one here
    played = re.search(r"played ([\d.]+) s .*\ncallbacks (\d+) \(expected (\d+)\)", result.stdout)
    assert played is not None, result.stdout
    seconds, callbacks, expected = float(played[1]), int(played[2]), int(played[3])
    assert seconds >= 8.0  # the whole 8 s were played
    assert expected == pytest.approx(seconds * RATE / BLOCK, abs=1.5)  # 0.005 s rounding + round()
    assert 0 < callbacks <= expected + 2
    assert (tmp_path / "out" / "default.wav").is_file()


def test_devices_lists_the_jack_device_and_how_to_pick_one(jack) -> None:
    result = run_cli("devices")
    assert result.returncode == 0, result.stderr
    assert "system, JACK Audio Connection Kit" in result.stdout
    assert "host APIs: " in result.stdout and "JACK Audio Connection Kit" in result.stdout.splitlines()[-2]
    assert result.stdout.splitlines()[-1].startswith("play on one with `patcher play PATCH --device N`")


def test_play_refuses_a_negative_buffer_with_one_line() -> None:
    result = run_cli("play", "patches/default.json", "--buffer", "-5")
    assert result.returncode == 2
    assert "the safety buffer must be 0 to 1000 ms, not -5" in result.stderr
    assert "Traceback" not in result.stderr


def test_play_with_a_missing_device_is_one_clear_line(jack) -> None:
    result = run_cli("play", "patches/default.json", "--seconds", "1", "--device", "no-such-card")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("patcher: error:") and "no-such-card" in result.stderr


def test_play_at_a_rate_the_device_refuses_is_one_clear_line(jack, tmp_path: Path) -> None:
    patch = patcher.load("patches/default.json")
    patch.settings = patcher.model.Settings(sample_rate=44100, block_size=256, duration_s=1.0)
    patch.save(tmp_path / "cd_rate.json")
    result = run_cli("play", tmp_path / "cd_rate.json", "--seconds", "1", "--device", jack.device)
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("patcher: error:") and "44100 Hz" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_safety_buffer_shorter_than_a_block_holds_a_block(jack, tmp_path: Path) -> None:
    """10 ms at block 2048 (42.7 ms): the FIFO must hold the blocks the engine writes, and a
    starved one be counted (half the audio went missing, reported as no underrun)."""
    _result, report = play_default(jack, tmp_path, "--seconds", "2", "--block", "2048", "--buffer", "10")
    assert report["buffer_ms"] >= 2048 / RATE * 1000
    assert_paced_by_the_device(types.SimpleNamespace(**report))
    # Audio that goes missing is counted. A busy machine may starve the FIFO (counted); lost
    # unseen, it was half of what was played.
    computed = report["callbacks"] * 2048
    assert computed >= 0.75 * report["seconds"] * RATE or report["underruns"] > 0


def test_a_long_safety_buffer_does_not_eat_the_seconds_asked_for(jack, tmp_path: Path) -> None:
    _result, report = play_default(jack, tmp_path, "--seconds", "1", "--buffer", "1000")
    assert report["seconds"] >= 1.0  # counted from when the engine feeds the device, not before
    assert report["underruns"] == 0  # a 1.4 s FIFO: no load a test sees starves it
    assert_paced_by_the_device(types.SimpleNamespace(**report))


def test_starting_a_playing_player_again_is_refused(jack) -> None:
    player = Player(dc_patch(0.5), device=jack.device)
    player.start()
    try:
        with pytest.raises(RuntimeError, match="already playing"):
            player.start()
        wait_for_blocks(player, 0.1)  # the first stream plays on
    finally:
        player.stop()
    counted = player.callbacks
    time.sleep(0.2)
    assert player.callbacks == counted  # and stop() stopped it: no stream left behind


@pytest.mark.parametrize(
    "option, value, named",
    [
        ("--device", "4294967296", "device 4294967296 does not exist"),
        ("--input-device", "99999999999999999999", "input device 99999999999999999999 does not exist"),
        ("--input-device", "no-such-mic", "input device 'no-such-mic' does not exist"),
    ],
)
def test_a_device_that_does_not_exist_is_one_line_naming_it(
    jack, option: str, value: str, named: str
) -> None:
    result = run_cli("play", "patches/default.json", "--seconds", "1", "--device", jack.device, option, value)
    if option == "--device":
        result = run_cli("play", "patches/default.json", "--seconds", "1", option, value)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("patcher: error:") and named in result.stderr, result.stderr


def test_a_report_that_cannot_be_written_is_refused_before_playing(jack) -> None:
    result = run_cli(
        "play", "patches/default.json", "--seconds", "5", "--device", jack.device, "--report", "/proc/x.json"
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "cannot write the report to /proc/x.json" in result.stderr
    assert "playing" not in result.stdout


def test_playing_a_patch_without_an_output_warns_it_is_silent(jack, tmp_path: Path) -> None:
    patch = patcher.Patch()
    patch.add_node("oscillator", "osc")
    patch.save(tmp_path / "mute.json")
    result = run_cli("play", tmp_path / "mute.json", "--seconds", "0.5", "--device", jack.device)
    assert result.returncode == 0, result.stderr
    assert "has no output node; it plays silence" in result.stderr and "peak output silence" in result.stdout


def test_a_live_input_added_while_playing_without_input_is_a_warning(jack) -> None:
    player = Player(dc_patch(0.5), device=jack.device)
    player.start()
    try:
        patch = copy.deepcopy(player.engine.patch)
        patch.add_node("input", "mic", source="live")
        patch.connect("mic.out", "out.right")
        player.update_patch(patch)
        wait_for_blocks(player, 0.1)  # the edit is in
        warnings = player.warnings()
    finally:
        player.stop()
    assert any("stop and play again" in warning for warning in warnings), warnings


def test_devices_lists_the_jack_device(jack) -> None:
    result = run_cli("devices")
    assert result.returncode == 0 and "JACK" in result.stdout


def wait_for_engine_blocks(engine: EngineProcess, seconds: float) -> None:
    """Until the engine process's meters show ``seconds`` more played, then one publication
    more: the views it publishes with its meters were computed after those blocks."""
    target = engine.meters()["callbacks"] + round(seconds * RATE / engine.block_size)
    wait_until(lambda: engine.meters()["callbacks"] >= target, f"{seconds:g} s more played")
    published = engine.meters()["callbacks"]
    wait_until(lambda: engine.meters()["callbacks"] > published, "the next publication")


def test_engine_process_node_view_shows_a_scope_and_a_spectrum_peaked_at_the_sine(jack) -> None:
    from nodes.scopes import view_frequencies

    size = 4096
    frequency = 64 * RATE / size  # 750 Hz, exactly on a bin
    patch = sine_patch(frequency)
    patch.add_node("scope", "scope", time_ms=10.0)
    patch.add_node("spectrum", "spectrum", fft_size=str(size))
    patch.connect("osc.out", "scope.in")
    patch.connect("osc.out", "spectrum.in")
    engine = EngineProcess(patch, device=jack.device)
    engine.start()
    try:
        assert engine.node_view("scope") is None and engine.node_view("spectrum") is None  # watches
        assert engine.node_view("level") is None  # a node without a view
        views = ("scope", "spectrum")
        wait_until(lambda: all(engine.node_view(node) is not None for node in views), "the views")
        wait_for_engine_blocks(engine, size / RATE + 0.1)  # a full FFT window of the sine, published
        scope, spectrum = engine.node_view("scope"), engine.node_view("spectrum")
        assert engine.node_view("level") is None
        edited = copy.deepcopy(engine.patch)
        edited.set_param("scope", "time_ms", 5.0)
        engine.update_patch(edited)  # the watches are dropped: the first call watches again
        assert engine.node_view("scope") is None

        # Watched again (for a block after the edit, its picture may still be the old scope's).
        def shorter_scope() -> bool:
            view = engine.node_view("scope")
            return view is not None and len(view) == 240

        wait_until(shorter_scope, "the 5 ms scope")
        shorter = engine.node_view("scope")
    finally:
        engine.stop()
    assert not engine.running and engine.node_view("scope") is None
    assert scope is not None and scope.dtype == np.float64 and len(scope) == 480  # 10 ms at 48 kHz
    assert np.max(np.abs(scope)) == pytest.approx(0.5, abs=0.02)
    assert scope[0] >= 0.0 and scope[1] > scope[0]  # triggered on a rising edge
    assert spectrum is not None and len(spectrum) == size // 2
    peak = int(np.argmax(spectrum))
    assert view_frequencies(len(spectrum), RATE)[peak] == pytest.approx(frequency)
    assert spectrum[peak] == pytest.approx(20 * np.log10(0.5), abs=0.1)
    assert shorter is not None and len(shorter) == 240


def test_the_fifo_is_measured_past_a_sound_server_that_stalls_while_it_drains() -> None:
    """CI once measured 29184 of JACK's 32768 frames: the server, held up on a busy machine,
    stopped draining for a few periods, and three equal readings looked like the end. A
    stream whose free space stalls for 10 readings mid-drain is measured whole."""
    player = Player(dc_patch(0.5), buffer_ms=500.0)
    player._feeding = True
    readings = [*range(0, 29184, 2048), *[29184] * 10, 30208, 31232, 32256, 32768]

    class Draining:
        @property
        def write_available(self) -> int:
            return readings.pop(0) if len(readings) > 1 else readings[0]

    assert player._fifo_frames(Draining()) == 32768
