"""Offline renders sound like a play: protected, reported, streamed to the file."""

from __future__ import annotations

import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile

import patcher
from patcher.audiofile import AudioWriter
from patcher.protection import CEILING
from tests.test_cli import assert_user_error, run_cli
from tests.test_engine import dc_patch
from tests.test_protection import runaway_patch


def loud_patch() -> patcher.Patch:
    patch = dc_patch(0.5)
    patch.set_param("level", "gain_db", 20.0)  # 5.0: 14 dB over full scale
    return patch


def test_a_render_is_limited_as_a_play_is_and_says_so() -> None:
    audio = patcher.render(loud_patch(), 0.2)
    assert np.max(np.abs(audio)) <= CEILING + 1e-12
    report = audio.report
    assert report.limited_blocks > 0
    assert report.peak_before_limiter == pytest.approx(5.0)
    assert "limited from +14.0 dBFS" in report.peak_text()


def test_an_unlimited_render_is_the_engine_s_own_output() -> None:
    audio = patcher.render(loud_patch(), 0.2, limit=False)
    np.testing.assert_allclose(audio, 5.0)
    assert audio.report.limited_blocks == 0 and audio.warnings == []


def test_a_rendering_is_still_the_array_it_was() -> None:
    audio = patcher.render(dc_patch(0.5), 0.1)
    assert audio.shape == (4800, 2) and audio.dtype == np.float64 and audio.sample_rate == 48000
    np.testing.assert_allclose(audio, 0.5)
    assert isinstance(audio[:10], np.ndarray) and float(audio.max()) == 0.5


def test_a_runaway_loop_is_ducked_offline_and_named() -> None:
    audio = patcher.render(runaway_patch(), 2.0)
    assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= 1.0
    assert any("runaway feedback in the loop" in warning for warning in audio.warnings), audio.warnings


def nan_ir_patch(tmp_path: Path) -> Path:
    impulse_response = np.zeros(64, dtype=np.float32)
    impulse_response[0], impulse_response[5] = 1.0, np.nan
    soundfile.write(tmp_path / "broken.wav", impulse_response, 48000, subtype="FLOAT")
    patch = dc_patch(0.5)
    patch.base_dir = tmp_path
    patch.add_node("convolver", "room", source="file", file="broken.wav", normalize="none")
    patch.disconnect("level.out", "out.left")
    patch.connect("level.out", "room.in")
    patch.connect("room.out", "out.left")
    path = tmp_path / "nan_ir.json"
    patch.save(path)
    return path


def test_render_names_the_node_that_made_nan(tmp_path: Path) -> None:
    """It rendered silence without a word; now it says which node was silenced, as play does."""
    result = run_cli("render", nan_ir_patch(tmp_path), "-o", tmp_path / "out.wav", "--seconds", "0.1")
    assert result.returncode == 0, result.stderr
    assert "patcher: warning: node 'room' (convolver) produced NaN or infinity" in result.stderr
    assert np.all(np.isfinite(soundfile.read(tmp_path / "out.wav")[0]))


def test_cli_render_is_limited_and_no_limit_keeps_the_peaks(tmp_path: Path) -> None:
    patch_path = tmp_path / "loud.json"
    loud_patch().save(patch_path)
    limited, unlimited = tmp_path / "limited.wav", tmp_path / "unlimited.wav"
    result = run_cli("render", patch_path, "-o", limited, "--seconds", "0.2")
    assert result.returncode == 0, result.stderr
    assert "peak -0.1 dBFS, limited from +14.0 dBFS" in result.stdout
    assert np.max(np.abs(soundfile.read(limited)[0])) <= 1.0
    result = run_cli("render", patch_path, "-o", unlimited, "--seconds", "0.2", "--no-limit")
    assert result.returncode == 0, result.stderr
    assert "peak 14.0 dBFS" in result.stdout
    np.testing.assert_allclose(soundfile.read(unlimited)[0], 5.0, rtol=1e-6)


def test_unlimited_flac_says_it_clips(tmp_path: Path) -> None:
    patch_path = tmp_path / "loud.json"
    loud_patch().save(patch_path)
    result = run_cli("render", patch_path, "-o", tmp_path / "out.flac", "--seconds", "0.1", "--no-limit")
    assert result.returncode == 0, result.stderr
    assert "FLAC holds samples within ±1.0" in result.stderr


def test_render_to_file_streams_rather_than_holding_the_whole_render(tmp_path: Path) -> None:
    """Memory follows the block, not the length: 20 s at 96 kHz is 30 MB as float64."""
    patch = dc_patch(0.5)
    tracemalloc.start()
    try:
        report = patcher.render_to_file(patch, tmp_path / "long.wav", seconds=20.0, sample_rate=96000)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8e6, f"{peak / 1e6:.1f} MB traced for a streamed render"
    info = soundfile.info(tmp_path / "long.wav")
    assert info.frames == 20 * 96000 and info.samplerate == 96000
    assert report.peak == pytest.approx(0.5)


def test_a_wav_too_large_for_riff_is_written_as_rf64(tmp_path: Path) -> None:
    path = tmp_path / "hour.wav"
    with AudioWriter(path, 192000, channels=2, frames=3600 * 192000) as writer:
        assert writer.format == "RF64"
        writer.write(np.full((1000, 2), 0.25))
        with pytest.raises(OSError):  # refused before any work when the disk cannot hold it
            AudioWriter(tmp_path / "huge.wav", 192000, 2, frames=10**13).__enter__()
    info = soundfile.info(path)
    assert info.format == "RF64" and info.frames == 1000
    assert not list(tmp_path.glob(".huge.wav.*"))


def test_a_failed_render_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    path.write_bytes(b"the old take")
    engine_patch = dc_patch(0.5)

    class Boom(Exception):
        pass

    writes = 0
    original = AudioWriter.write

    def failing_write(self: AudioWriter, block: np.ndarray) -> None:
        nonlocal writes
        writes += 1
        if writes == 3:
            raise Boom
        original(self, block)

    AudioWriter.write = failing_write
    try:
        with pytest.raises(Boom):
            patcher.render_to_file(engine_patch, path, seconds=0.1)
    finally:
        AudioWriter.write = original
    assert path.read_bytes() == b"the old take"
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_an_in_memory_render_too_large_is_refused_at_once() -> None:
    patch = dc_patch(0.5)
    with pytest.raises(ValueError, match=r"in memory takes 10\.3 GiB .* render to a file"):
        patcher.render(patch, 3600.0, sample_rate=192000)


def test_play_checks_the_device_before_the_patch(tmp_path: Path) -> None:
    """The device is cheap to look up; a big patch takes long to load: the device first."""
    result = run_cli("play", tmp_path / "missing.json", "--device", "no such card", "--seconds", "1")
    assert_user_error(result, "device 'no such card' does not exist")


def test_huge_finite_values_are_not_taken_for_infinity() -> None:
    """1e308 is a number: a node producing it keeps running, unreported, and the limiter
    brings it to full scale with its shape (a sum over the block overflowed to infinity)."""
    patch = patcher.Patch()
    patch.add_node("math", "big", op="constant", b=1000.0)
    previous = "big"
    for index in range(61):  # 1000 * (1e5 ** 61) = 1e308
        patch.add_node("math", f"times{index}", op="multiply", b=1e5)
        patch.connect(f"{previous}.out", f"times{index}.a")
        previous = f"times{index}"
    patch.add_node("oscillator", "shape", frequency_hz=100.0)
    patch.add_node("math", "shaped", op="multiply", b=0.0)
    patch.connect(f"{previous}.out", "shaped.a")
    patch.connect("shape.out", "shaped.b")
    patch.add_node("output", "out")
    patch.connect("shaped.out", "out.left")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy must not warn (from the audio thread, it would print)
        audio = patcher.render(patch, 0.05)
    assert audio.warnings == []
    sine = patcher.render(_sine_only(), 0.05, limit=False)[:, 0]
    heard = np.asarray(audio[:, 0])
    assert np.max(np.abs(heard)) == pytest.approx(CEILING)
    assert np.corrcoef(heard, sine)[0, 1] > 0.9999  # the sine's shape at full scale, not DC


def _sine_only() -> patcher.Patch:
    patch = patcher.Patch()
    patch.add_node("oscillator", "shape", frequency_hz=100.0)
    patch.add_node("output", "out")
    patch.connect("shape.out", "out.left")
    return patch
