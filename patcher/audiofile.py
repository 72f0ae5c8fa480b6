"""Audio files through soundfile: read (resampled, channel-fitted) and write atomically.

Reading is guarded against shared files that would hang or exhaust the machine: only a
regular file is opened (a named pipe would block ``open`` for ever), and its length is
checked from the header before a sample is decoded.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from patcher.atomic import atomic_path

WRITABLE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}
#: The most memory one file may take decoded (float64, the channels kept, at the file's rate
#: while decoding and at the engine's after resampling, whichever is more). A budget in bytes
#: rather than in seconds, because bytes are what run out: it allows about 11 minutes of
#: stereo at 48 kHz, 23 of mono, and 2.9 of stereo at 192 kHz, where a limit in minutes
#: would let one file take four times more memory at 192 kHz than at 48 kHz.
MAX_DECODED_BYTES = 512 * 2**20
#: Frames decoded at a time: a few MB whatever the channel count.
DECODE_CHUNK_SAMPLES = 2**20
_FILE_KINDS = {
    stat.S_ISDIR: "a folder",
    stat.S_ISFIFO: "a named pipe",
    stat.S_ISCHR: "a device",
    stat.S_ISBLK: "a device",
    stat.S_ISSOCK: "a socket",
}


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file's header says."""

    frames: int
    sample_rate: int
    channels: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def audio_info(path: str | Path) -> AudioInfo:
    """The header of ``path``, read without decoding; OSError naming the file if it is not
    a readable audio file (a pipe, a folder or a device is refused without opening it)."""
    with _open_sound_file(Path(path)) as sound:
        return AudioInfo(sound.frames, sound.samplerate, sound.channels)


def read_audio(path: str | Path, sample_rate: int, channels: int | None = None) -> np.ndarray:
    """Read ``path`` as float64 (frames, channels), resampled to ``sample_rate``.

    With ``channels`` given, mono is copied to every channel and extra channels are dropped
    (and never decoded). Raises OSError with a sentence naming the file when it cannot be
    read, or naming the limit when it would take more than MAX_DECODED_BYTES.
    """
    path = Path(path)
    with _open_sound_file(path) as sound:
        info = AudioInfo(sound.frames, sound.samplerate, sound.channels)
        kept = info.channels if channels is None else channels
        decoded = min(info.channels, kept)
        _check_size(path, info, sample_rate, kept)
        data = _decode(path, sound, info.frames, decoded)
    if info.sample_rate != sample_rate:
        common = gcd(info.sample_rate, sample_rate)
        data = resample_poly(data, sample_rate // common, info.sample_rate // common, axis=0)
    if data.shape[1] < kept:
        data = np.repeat(data[:, :1], kept, axis=1)
    return np.ascontiguousarray(data)


@contextlib.contextmanager
def _open_sound_file(path: Path) -> Iterator[soundfile.SoundFile]:
    """``path`` opened for reading, if it is a regular file: checked before opening (opening
    a device may do something) and again on the open descriptor (the name may have been
    swapped), which is opened non-blocking so that even a pipe could not hang it."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        mode = os.stat(path).st_mode
        _refuse_special(path, mode)
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise OSError(f"no such audio file: {path}") from None
    except SpecialFileError:
        raise
    except OSError as error:
        raise OSError(f"cannot read audio file {path}: {error.strerror or error}") from None
    try:
        _refuse_special(path, os.fstat(descriptor).st_mode)
        sound = soundfile.SoundFile(descriptor, closefd=False)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        os.close(descriptor)
        raise OSError(f"cannot read audio file {path}: {error}") from None
    except BaseException:
        os.close(descriptor)
        raise
    try:
        yield sound
    finally:
        sound.close()
        os.close(descriptor)


class SpecialFileError(OSError):
    """A name that is not a regular file (a pipe, a folder, a device)."""


def _refuse_special(path: Path, mode: int) -> None:
    for is_kind, kind in _FILE_KINDS.items():
        if is_kind(mode):
            raise SpecialFileError(f"cannot read audio file {path}: it is {kind}, not a file")


def _check_size(path: Path, info: AudioInfo, sample_rate: int, channels: int) -> None:
    """Refuse, from the header, a file whose decoded samples would pass MAX_DECODED_BYTES."""
    rate = max(info.sample_rate, sample_rate)
    needed = math.ceil(info.frames * rate / info.sample_rate) * channels * 8
    if needed <= MAX_DECODED_BYTES:
        return
    most_s = MAX_DECODED_BYTES / (8 * channels * rate)
    layout = "mono" if channels == 1 else f"{channels} channels"
    raise OSError(
        f"audio file {path} is {_duration(info.seconds)} long, more than fits in the "
        f"{MAX_DECODED_BYTES // 2**20} MB a file may take decoded ({_duration(most_s)} at {rate} Hz "
        f"in {layout}); trim the file"
    )


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(max(seconds, 0.0)), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"


def _decode(path: Path, sound: soundfile.SoundFile, frames: int, channels: int) -> np.ndarray:
    """Every frame as float64, only the first ``channels`` kept, decoded a chunk at a time
    (so a many-channel file never needs room for the channels it drops)."""
    data = np.empty((frames, channels))
    whole = channels == sound.channels  # then decoded straight into place
    chunk = max(1, DECODE_CHUNK_SAMPLES // sound.channels)
    buffer = None if whole else np.empty((min(chunk, frames), sound.channels))
    done = 0
    try:
        while done < frames:
            count = min(chunk, frames - done)
            target = data[done : done + count] if whole else buffer[:count]
            read = len(sound.read(count, dtype="float64", always_2d=True, out=target))
            if not whole:
                data[done : done + read] = buffer[:read, :channels]
            done += read
            if read < count:  # the header promised more than the file holds
                break
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise OSError(f"cannot read audio file {path}: {error}") from None
    return data[:done]


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
