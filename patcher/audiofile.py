"""Audio files through soundfile: read (resampled, channel-fitted) and write atomically."""

from __future__ import annotations

import contextlib
import errno
import shutil
from math import gcd
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from patcher.atomic import atomic_path

WRITABLE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}
#: A RIFF WAV's sizes are 32-bit: larger files are written as RF64 (EBU Tech 3306).
RIFF_LIMIT_BYTES = (1 << 32) - (1 << 20)
FLOAT32_MAX = float(np.finfo(np.float32).max)


def read_audio(path: str | Path, sample_rate: int, channels: int | None = None) -> np.ndarray:
    """Read ``path`` as float64 (frames, channels), resampled to ``sample_rate``.

    With ``channels`` given, mono is copied to every channel and extra channels are dropped.
    Raises OSError with a sentence naming the file when it cannot be read.
    """
    path = Path(path)
    try:
        data, file_rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        if not path.exists():
            raise OSError(f"no such audio file: {path}") from None
        raise OSError(f"cannot read audio file {path}: {error}") from None
    if file_rate != sample_rate:
        common = gcd(int(file_rate), int(sample_rate))
        data = resample_poly(data, sample_rate // common, file_rate // common, axis=0)
    if channels is not None:
        if data.shape[1] < channels:
            data = np.repeat(data[:, :1], channels, axis=1)
        data = data[:, :channels]
    return np.ascontiguousarray(data)


def write_audio(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write WAV or FLAC (by extension) atomically: the old file survives a failed write."""
    with AudioWriter(path, sample_rate, audio.shape[1] if audio.ndim > 1 else 1, len(audio)) as writer:
        writer.write(audio)


class AudioWriter:
    """Write an audio file block by block, atomically: WAV as 32-bit float (RF64, the WAV
    that may pass 4 GiB, when it will), FLAC as 24-bit. Use as a context manager; the file
    appears whole when the block succeeds, and not at all when it fails."""

    def __init__(self, path: str | Path, sample_rate: int, channels: int = 2, frames: int = 0) -> None:
        self.path = Path(path)
        file_format = WRITABLE_FORMATS.get(self.path.suffix.lower())
        if file_format is None:
            raise ValueError(f"cannot write {self.path.name}: use a .wav or .flac file name")
        self.sample_rate = sample_rate
        self.channels = channels
        self.is_flac = file_format == "FLAC"
        #: Whether a sample beyond ±1.0 was clipped (FLAC is fixed point).
        self.clips = False
        size = frames * channels * 4
        if not self.is_flac and size > RIFF_LIMIT_BYTES:
            file_format = "RF64"
        self.format = file_format
        self.subtype = "PCM_24" if self.is_flac else "FLOAT"
        self.expected_bytes = 0 if self.is_flac else size
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> AudioWriter:
        self._check_room()
        with self._stack as stack:
            temporary = stack.enter_context(atomic_path(self.path))
            self._file = stack.enter_context(
                soundfile.SoundFile(
                    temporary, "w", self.sample_rate, self.channels, self.subtype, format=self.format
                )
            )
            self._stack = stack.pop_all()
        return self

    def _check_room(self) -> None:
        """Refuse at once what will not fit, rather than after minutes of rendering."""
        if not self.expected_bytes or not self.path.parent.is_dir():
            return
        free = shutil.disk_usage(self.path.parent).free
        if self.expected_bytes > free:
            raise OSError(
                errno.ENOSPC,
                f"it takes {self.expected_bytes / 1e9:.2f} GB and {free / 1e9:.2f} GB are free there",
            )

    def write(self, block: np.ndarray) -> None:
        """Write (frames, channels) samples."""
        if self.is_flac:
            if block.size and (block.max() > 1.0 or block.min() < -1.0):
                self.clips = True
                block = np.clip(block, -1.0, 1.0)
        elif block.size and (block.max() > FLOAT32_MAX or block.min() < -FLOAT32_MAX):
            block = np.clip(block, -FLOAT32_MAX, FLOAT32_MAX)  # not inf in the file
        self._file.write(block)

    def __exit__(self, *exc: object) -> None:
        self._stack.__exit__(*exc)
