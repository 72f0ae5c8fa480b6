"""MIDI files through a patch: each event on its sample, tempo changes followed, the same
render at any block size, and a malformed file refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile

import patcher
from patcher import patchfile
from patcher.midi import MidiFileError, read_midi_file
from patcher.model import ControlMapping, Patch
from patcher.render import render
from tests.test_cli import assert_user_error, run_cli

RATE = 48000
TICKS_PER_BEAT = 480


def write_midi(
    path: Path, messages: list[tuple[int, mido.Message]], ticks_per_beat: int = TICKS_PER_BEAT
) -> Path:
    """A type-1 file: a tempo track and a track of (absolute tick, message)."""
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    tempo = mido.MidiTrack()
    tempo.append(mido.MetaMessage("set_tempo", tempo=500_000, time=0))  # 120 BPM
    tempo.append(mido.MetaMessage("set_tempo", tempo=250_000, time=2 * ticks_per_beat))  # 240 BPM at beat 2
    notes = mido.MidiTrack()
    now = 0
    for tick, message in messages:
        notes.append(message.copy(time=tick - now))
        now = tick
    midi.tracks += [tempo, notes]
    midi.save(path)
    return path


def tune(path: Path) -> Path:
    """A4 on beat 1 for half a beat, C5 on beat 3 (after the tempo doubles) for a beat."""
    return write_midi(
        path,
        [
            (480, mido.Message("note_on", note=69, velocity=100)),
            (720, mido.Message("note_off", note=69)),
            (1440, mido.Message("note_on", note=72, velocity=64)),
            (1920, mido.Message("note_on", note=72, velocity=0)),
        ],
    )


def synth() -> Patch:
    """An oscillator whose pitch is the note's, through a gate: the smallest MIDI synth."""
    patch = Patch()
    patch.add_node("note", "keys")
    patch.add_node("oscillator", "osc", frequency_hz=0.1, amplitude=1.0, waveform="sine")
    patch.add_node("math", "vca", op="multiply")
    patch.add_node("output", "out")
    patch.connect("keys.pitch_hz", "osc.frequency_hz")
    patch.connect("osc.out", "vca.a")
    patch.connect("keys.gate", "vca.b")
    patch.connect("vca.out", "out.left")
    patch.connect("keys.gate", "out.right")
    return patch


def test_ticks_become_samples_through_the_tempo_map(tmp_path: Path) -> None:
    timeline = read_midi_file(tune(tmp_path / "tune.mid"), RATE)
    samples = [(event.sample, event.number) for event in timeline.events]
    # beat 1 at 120 BPM is 0.5 s; beat 1.5 is 0.75 s; beat 3 is 1 s + 1 beat at 240 BPM = 1.25 s.
    assert samples == [(24000, 69), (36000, 69), (60000, 72), (72000, 72)]
    assert [event.kind for event in timeline.events] == [1, 2, 1, 2]  # velocity 0: a note off
    assert timeline.events[0].value == pytest.approx(100 / 127)


def test_a_midi_file_renders_the_same_at_any_block_size_with_notes_on_their_samples(tmp_path: Path) -> None:
    path = tune(tmp_path / "tune.mid")
    renders = {
        block: render(synth(), 1.6, RATE, block, limit=False, events=read_midi_file(path, RATE))
        for block in (1, 64, 1024)
    }
    assert np.array_equal(renders[1], renders[64]) and np.array_equal(renders[1], renders[1024])
    gate = renders[64][:, 1]
    assert np.flatnonzero(np.diff(gate)).tolist() == [23999, 35999, 59999, 71999]


def test_the_pitch_heard_is_the_notes(tmp_path: Path) -> None:
    audio = render(
        synth(), 1.6, RATE, 256, limit=False, events=read_midi_file(tune(tmp_path / "t.mid"), RATE)
    )
    for start, stop, note in ((24000, 36000, 69), (60000, 72000, 72)):
        heard = audio[start:stop, 0]
        spectrum = np.abs(np.fft.rfft(heard * np.hanning(len(heard)), 8 * len(heard)))
        peak_hz = np.argmax(spectrum) * RATE / (8 * len(heard))
        expected = 440.0 * 2 ** ((note - 69) / 12) + 0.1  # the oscillator's own 0.1 Hz adds
        assert peak_hz == pytest.approx(expected, abs=0.5)


def test_a_cc_mapped_to_a_param_moves_it_from_its_sample(tmp_path: Path) -> None:
    """CC 74 on channel 1 sets the output level: 0 is the param's min, 127 its max."""
    path = write_midi(
        tmp_path / "cc.mid",
        [
            (0, mido.Message("control_change", control=74, value=0)),
            (480, mido.Message("control_change", control=74, value=127)),
        ],
    )
    patch = Patch()
    patch.add_node("oscillator", "osc", frequency_hz=0.1, waveform="square", amplitude=0.5)
    patch.add_node("gain", "level", gain_db=0.0)
    patch.add_node("output", "out")
    patch.connect("osc.out", "level.in")
    patch.connect("level.out", "out.left")
    patch.mappings.append(ControlMapping("level.gain_db", 74, 1))
    renders = [
        render(patch, 0.6, RATE, block, limit=False, events=read_midi_file(path, RATE))
        for block in (1, 64, 1024)
    ]
    assert np.allclose(renders[0], renders[1], atol=1e-12) and np.allclose(renders[0], renders[2], atol=1e-12)
    level = np.abs(renders[1][:, 0])
    assert level[20000] == pytest.approx(0.5 * 10 ** (-90 / 20))  # CC 0: gain_db at its min, -90 dB
    assert level[23999] == level[20000]  # the glide up starts on the CC's sample, not before
    assert level[24000] > level[23999]
    assert level[-1] == pytest.approx(0.5 * 10 ** (24 / 20))  # CC 127: its max, +24 dB


def test_render_midi_on_the_command_line_lasts_the_file_and_a_tail(tmp_path: Path) -> None:
    patch = tmp_path / "synth.json"
    patchfile.save(synth(), patch)
    result = run_cli(
        "render", patch, "--midi", tune(tmp_path / "tune.mid"), "-o", tmp_path / "out.wav", "--block", "64"
    )
    assert result.returncode == 0, result.stderr
    audio, rate = soundfile.read(tmp_path / "out.wav")
    assert len(audio) == 72000 + 2 * rate
    assert np.flatnonzero(np.diff(audio[:, 1])).tolist()[:2] == [23999, 35999]
    assert "plays notes" not in result.stderr


def test_a_patch_that_plays_notes_rendered_without_any_says_how_to_give_them(tmp_path: Path) -> None:
    """Silence is what a synth gives without notes: the render says where notes come from."""
    patch = tmp_path / "synth.json"
    patchfile.save(synth(), patch)
    result = run_cli("render", patch, "--seconds", "0.3", "-o", tmp_path / "out.wav")
    assert result.returncode == 0, result.stderr
    assert "silence" in result.stdout
    assert "plays notes, and none were given: render it with --midi FILE.mid" in result.stderr


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"not midi at all", "bad.mid is not a MIDI file"),
        (b"MThd\x00\x00\x00\x06\x00", "is not a MIDI file"),
    ],
)
def test_a_malformed_midi_file_is_one_line_and_exit_1(tmp_path: Path, content: bytes, fragment: str) -> None:
    patch = tmp_path / "synth.json"
    patchfile.save(synth(), patch)
    bad = tmp_path / "bad.mid"
    bad.write_bytes(content)
    result = run_cli("render", patch, "--midi", bad, "-o", tmp_path / "out.wav")
    assert_user_error(result, "--midi", fragment)
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "out.wav").exists()
    with pytest.raises(MidiFileError):
        read_midi_file(bad, RATE)


def test_a_missing_midi_file_is_one_line(tmp_path: Path) -> None:
    patch = tmp_path / "synth.json"
    patch.write_text(json.dumps(patchfile.to_dict(synth())))
    result = run_cli("render", patch, "--midi", tmp_path / "none.mid", "-o", tmp_path / "out.wav")
    assert_user_error(result, "none.mid: no such file")


def test_one_timeline_renders_the_same_twice(tmp_path: Path) -> None:
    """A render reads the events through its own cursor: the second render is not silent."""
    import mido

    path = tmp_path / "one.mid"
    song = mido.MidiFile()
    track = mido.MidiTrack()
    song.tracks.append(track)
    track += [
        mido.Message("note_on", note=69, velocity=100, time=0),
        mido.Message("note_off", note=69, time=480),
    ]
    song.save(path)
    patch = patcher.load(Path(__file__).resolve().parent.parent / "patches" / "midi_synth.json")
    events = patcher.read_midi_file(path, patch.settings.sample_rate)
    first = patcher.render(patch, 0.5, events=events)
    assert np.max(np.abs(first)) > 0.01
    np.testing.assert_array_equal(patcher.render(patch, 0.5, events=events), first)


def test_the_pitch_wheel_in_a_midi_file_bends_the_note_heard(tmp_path: Path) -> None:
    """mido's pitchwheel (-8192..8191) becomes a bend of -1..1: full up is +2 semitones."""
    path = write_midi(
        tmp_path / "bend.mid",
        [
            (0, mido.Message("note_on", note=69, velocity=100)),
            (480, mido.Message("pitchwheel", pitch=8191)),
            (960, mido.Message("pitchwheel", pitch=-8192)),
            (1440, mido.Message("note_off", note=69)),
        ],
    )
    audio = render(synth(), 1.2, RATE, 256, limit=False, events=read_midi_file(path, RATE))
    for start, semitones in ((0, 0), (24000, 2), (48000, -2)):  # ticks 0, 480, 960 at 120 BPM
        heard = audio[start + 1000 : start + 9000, 0]
        spectrum = np.abs(np.fft.rfft(heard * np.hanning(len(heard)), 8 * len(heard)))
        peak_hz = np.argmax(spectrum) * RATE / (8 * len(heard))
        assert peak_hz == pytest.approx(440.0 * 2 ** (semitones / 12) + 0.1, abs=1.0), semitones
