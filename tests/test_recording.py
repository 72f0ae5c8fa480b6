"""Recording what plays: the audio thread copies into a ring, a thread writes the file."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

import patcher
from patcher import recorder as recorder_module
from patcher.recorder import Recorder
from patcher.server import EngineProcess

PATIENCE_S = 30.0


def blocks(count: int, frames: int = 64) -> list[np.ndarray]:
    ramp = np.arange(count * frames, dtype=np.float32) / (count * frames)
    stereo = np.stack([ramp, -ramp], axis=1)
    return [stereo[i * frames : (i + 1) * frames] for i in range(count)]


def test_what_is_captured_is_written_whole_while_a_thread_writes_beside_it(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "take.wav", 48000)
    recorder.start()
    played = blocks(400)
    for block in played:  # as an audio thread would, while the writer drains
        recorder.capture(block)
        time.sleep(0.0002)
    assert "recorded 0.5 s into" in recorder.stop()
    written, rate = soundfile.read(tmp_path / "take.wav", dtype="float32")
    assert rate == 48000
    np.testing.assert_array_equal(written, np.concatenate(played))
    assert not list(tmp_path.glob(".take.wav.*"))


def test_a_file_that_cannot_be_written_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        Recorder(tmp_path / "missing" / "take.wav", 48000).start()
    with pytest.raises(ValueError):
        Recorder(tmp_path / "take.mp3", 48000).start()


def test_a_disk_too_slow_loses_audio_counted_never_stalls_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(recorder_module, "RING_SECONDS", 0.01)  # 480 frames at 48 kHz
    recorder = Recorder(tmp_path / "take.wav", 48000)
    recorder.start()
    gate = threading.Event()
    original = recorder._writer.write
    monkeypatch.setattr(recorder._writer, "write", lambda block: (gate.wait(), original(block)))
    for block in blocks(40):  # 2560 frames while the writer waits: most cannot be kept
        recorder.capture(block)
    gate.set()
    text = recorder.stop()
    assert recorder.lost > 0 and "lost while the disk was slow" in text
    written, _rate = soundfile.read(tmp_path / "take.wav", dtype="float32")
    assert len(written) + recorder.lost == 2560


def test_the_engine_process_records_what_it_plays(jack, tmp_path: Path) -> None:
    patch = patcher.Patch()
    patch.add_node("oscillator", "osc", waveform="sine", frequency_hz=440.0, amplitude=0.5)
    patch.add_node("output", "out")
    patch.connect("osc.out", "out.left")
    engine = EngineProcess(patch, device=jack.device)
    take = tmp_path / "take.wav"
    try:
        engine.start()
        with pytest.raises(OSError):
            engine.start_recording(tmp_path / "missing" / "take.wav")
        engine.start_recording(take)
        deadline = time.monotonic() + PATIENCE_S
        while time.monotonic() < deadline and not list(tmp_path.glob(".take.wav.*")):
            time.sleep(0.05)
        time.sleep(1.0)
        text = engine.stop_recording()
    finally:
        engine.stop()
    assert "recorded" in text and str(take) in text
    audio, rate = soundfile.read(take)
    assert len(audio) >= rate // 2  # the second it played, whatever the machine's load
    spectrum = np.abs(np.fft.rfft(audio[:, 0] * np.hanning(len(audio))))
    assert np.fft.rfftfreq(len(audio), 1 / rate)[np.argmax(spectrum)] == pytest.approx(440.0, abs=3.0)
