"""Live control of a playing patch on JACK's dummy server: OSC over UDP on 127.0.0.1, and MIDI
over JACK MIDI from another process; each change measured in what the player played."""

from __future__ import annotations

import socket
import subprocess
import sys

import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient

import patcher
from patcher.live import LiveInputError, LiveInputs
from patcher.model import ControlMapping
from patcher.player import Player
from tests.test_realtime import RATE, play, sine_patch, wait_for_blocks, wait_until


def level_of(player: Player, seconds: float = 0.25) -> float:
    """The peak of the last ``seconds`` recorded."""
    return float(
        np.max(np.abs(player.recording[player.recorded - round(seconds * RATE) : player.recorded, 0]))
    )


def test_an_osc_message_to_a_params_address_moves_it_and_a_bad_one_is_a_warning(jack) -> None:
    player = Player(sine_patch(), device=jack.device, record_s=10.0)
    with LiveInputs(player) as live:
        port = live.open_osc(0)
        client = SimpleUDPClient("127.0.0.1", port)

        def turn_down(p: Player) -> None:
            wait_for_blocks(p, 0.5)
            assert level_of(p) == pytest.approx(0.5, abs=0.01)
            client.send_message("/patcher/level/gain_db", -20.0)
            client.send_message("/patcher/level/gain_dbb", -40.0)
            client.send_message("/patcher/level/gain_db", 500.0)
            wait_until(lambda: len(live.warnings) == 2, "two warnings")
            wait_for_blocks(p, 0.5)

        play(player, 1.5, turn_down)
    assert level_of(player) == pytest.approx(0.05, abs=0.005)  # -20 dB, and no more
    assert player.callback_errors == 0
    warnings = live.take_warnings()
    assert "OSC '/patcher/level/gain_dbb': no param answers it" in warnings[0]
    assert "OSC '/patcher/level/gain_db': 500.0 is out of range [-90, 24]" in warnings[1]
    left = player.recording[: player.recorded, 0]
    assert np.max(np.abs(np.diff(left))) < 1.05 * 2 * np.pi * 441 / RATE * 0.5  # ramped: no zipper


def test_a_mapped_osc_address_spreads_0_to_1_over_the_params_range(jack) -> None:
    patch = sine_patch()
    patch.mappings.append(ControlMapping("level.gain_db", osc="/fader/1"))
    player = Player(patch, device=jack.device, record_s=10.0)
    with LiveInputs(player) as live:
        client = SimpleUDPClient("127.0.0.1", live.open_osc(0))

        def fader_down(p: Player) -> None:
            wait_for_blocks(p, 0.3)
            client.send_message("/fader/1", 0.0)  # the bottom of -90 .. 24 dB
            wait_until(lambda: level_of(p, 0.05) < 1e-3, "the level at the fader's bottom")

        play(player, 1.0, fader_down)
    assert level_of(player, 0.05) == pytest.approx(0.5 * 10 ** (-90 / 20), rel=0.01)


def test_an_unknown_midi_port_is_one_sentence() -> None:
    player = Player(sine_patch())
    with LiveInputs(player) as live, pytest.raises(LiveInputError, match="playing without MIDI"):
        live.open_midi("no-such-keyboard")


KEYBOARD = """
import sys, time
import rtmidi

out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="keyboard")
out.open_virtual_port("keys")
print("ready", flush=True)
for line in sys.stdin:
    out.send_message([int(byte) for byte in line.split()])
    print("sent", flush=True)
"""


def test_notes_and_a_cc_from_another_jack_client_are_heard(jack) -> None:
    """Another process plays A4, bends it up (the wheel full up: +2 semitones) and then moves
    CC 7 (mapped to the level) over JACK MIDI."""
    patch = patcher.Patch()
    patch.add_node("note", "keys")
    patch.add_node("oscillator", "osc", frequency_hz=0.1, amplitude=0.5)
    patch.add_node("math", "vca", op="multiply")
    patch.add_node("gain", "level")
    patch.add_node("output", "out")
    patch.connect("keys.pitch_hz", "osc.frequency_hz")
    patch.connect("osc.out", "vca.a")
    patch.connect("keys.gate", "vca.b")
    patch.connect("vca.out", "level.in")
    patch.connect("level.out", "out.left")
    patch.mappings.append(ControlMapping("level.gain_db", 7, 1))
    keyboard = subprocess.Popen(
        [sys.executable, "-c", KEYBOARD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert keyboard.stdout.readline().strip() == "ready"
        player = Player(patch, device=jack.device, record_s=10.0)
        live = LiveInputs(player)
        assert "keys" in live.open_midi("keyboard")

        def send(*message: int) -> None:
            keyboard.stdin.write(" ".join(map(str, message)) + "\n")
            keyboard.stdin.flush()
            assert keyboard.stdout.readline().strip() == "sent"

        def perform(p: Player) -> None:
            wait_for_blocks(p, 0.3)
            assert level_of(p, 0.2) == 0.0  # no note yet: the gate is shut
            send(0x90, 69, 100)  # note on, channel 1
            wait_until(lambda: level_of(p, 0.05) > 0.4, "the note heard")
            wait_for_blocks(p, 0.4)
            send(0xE0, 127, 127)  # the pitch wheel full up, channel 1
            wait_for_blocks(p, 0.4)
            send(0xB0, 7, 0)  # CC 7 to 0: the level at its -90 dB
            wait_until(lambda: level_of(p, 0.05) < 1e-3, "the level down")

        try:
            play(player, 2.5, perform)
        finally:
            live.close()
    finally:
        keyboard.stdin.close()
        keyboard.wait(timeout=10)
    recording = player.recording[: player.recorded, 0].astype(float)
    loud = np.flatnonzero(np.abs(recording) > 0.25)
    heard = recording[loud[0] : loud[0] + RATE // 4]
    spectrum = np.abs(np.fft.rfft(heard * np.hanning(len(heard)), 8 * len(heard)))
    assert np.argmax(spectrum) * RATE / (8 * len(heard)) == pytest.approx(440.1, abs=1.0)
    bent = recording[loud[-1] - RATE // 5 : loud[-1] - RATE // 20]  # before the CC took it down
    spectrum = np.abs(np.fft.rfft(bent * np.hanning(len(bent)), 8 * len(bent)))
    assert np.argmax(spectrum) * RATE / (8 * len(bent)) == pytest.approx(440.0 * 2 ** (2 / 12) + 0.1, abs=2.0)
    assert level_of(player, 0.05) == pytest.approx(0.5 * 10 ** (-90 / 20), rel=0.05)


def play_command(jack, *options: str) -> subprocess.CompletedProcess:
    command = ["play", "patches/default.json", "--seconds", "1", "--device", str(jack.device), *options]
    return subprocess.run(
        [sys.executable, "-m", "patcher", *command], capture_output=True, text=True, timeout=60
    )


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_play_with_an_unknown_midi_port_says_so_once_and_plays_on_with_osc(jack) -> None:
    port = free_udp_port()
    result = play_command(jack, "--midi", "no-such-keyboard", "--osc", str(port))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    # Only patcher's own lines (not the C libraries' complaints), one of them about MIDI; a
    # busy machine may add a warning of underruns, which is the machine's, not the port's.
    assert all(line.startswith("patcher: warning: ") for line in lines), result.stderr
    (line,) = [line for line in lines if "MIDI" in line]
    assert line.startswith("patcher: warning: no MIDI input port matches 'no-such-keyboard'")
    assert line.endswith(" (ports: none): playing without MIDI")  # the dummy server has none
    assert f"OSC on udp://127.0.0.1:{port}" in result.stdout and "peak output" in result.stdout
    assert play_command(jack, "--osc", "0").returncode == 2  # a port is 1..65535
