"""Audio files through soundfile: read (resampled, channel-fitted) and write atomically."""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from patcher.atomic import atomic_path

WRITABLE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}


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
    path = Path(path)
    file_format = WRITABLE_FORMATS.get(path.suffix.lower())
    if file_format is None:
        raise ValueError(f"cannot write {path.name}: use a .wav or .flac file name")
    subtype = "FLOAT" if file_format == "WAV" else "PCM_24"
    clipped = np.clip(audio, -1.0, 1.0) if file_format == "FLAC" else audio
    with atomic_path(path) as temporary:
        soundfile.write(temporary, clipped, sample_rate, format=file_format, subtype=subtype)
