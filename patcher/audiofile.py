"""Audio files through soundfile: read (resampled, channel-fitted) and write atomically.

Reading is guarded against shared files that would hang or exhaust the machine: only a
regular file is opened (a named pipe would block ``open`` for ever), and its length is
checked from the header before a sample is decoded.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile

from patcher.atomic import atomic_path, special_kind
from patcher.text import PATH_LIMIT, excerpt

WRITABLE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}
#: A RIFF WAV's sizes are 32-bit: larger files are written as RF64 (EBU Tech 3306).
RIFF_LIMIT_BYTES = (1 << 32) - (1 << 20)
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: The most memory one file may take decoded (float64, the channels kept, at the file's rate
#: while decoding and at the engine's after resampling, whichever is more). A budget in bytes
#: rather than in seconds, because bytes are what run out: it allows about 11 minutes of
#: stereo at 48 kHz, 23 of mono, and 2.9 of stereo at 192 kHz, where a limit in minutes
#: would let one file take four times more memory at 192 kHz than at 48 kHz.
MAX_DECODED_BYTES = 512 * 2**20
#: Frames decoded at a time: a few MB whatever the channel count.
DECODE_CHUNK_SAMPLES = 2**20


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
        from scipy.signal import resample_poly  # a second to import: only where it is used

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
        raise OSError(f"no such audio file: {_shown(path)}") from None
    except SpecialFileError:
        raise
    except OSError as error:
        raise OSError(f"cannot read audio file {_shown(path)}: {error.strerror or error}") from None
    try:
        _refuse_special(path, os.fstat(descriptor).st_mode)
        sound = soundfile.SoundFile(descriptor, closefd=False)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        os.close(descriptor)
        # libsndfile's own words, not "Error opening 3: ..." (it was handed a descriptor)
        reason = getattr(error, "error_string", None) or error
        raise OSError(f"cannot read audio file {_shown(path)}: {reason}") from None
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
    kind = special_kind(mode)
    if kind is not None:
        raise SpecialFileError(f"cannot read audio file {_shown(path)}: it is {kind}, not a file")


def _check_size(path: Path, info: AudioInfo, sample_rate: int, channels: int) -> None:
    """Refuse, from the header, a file whose decoded samples would pass MAX_DECODED_BYTES."""
    rate = max(info.sample_rate, sample_rate)
    needed = math.ceil(info.frames * rate / info.sample_rate) * channels * 8
    if needed <= MAX_DECODED_BYTES:
        return
    most_s = MAX_DECODED_BYTES / (8 * channels * rate)
    layout = "mono" if channels == 1 else f"{channels} channels"
    raise OSError(
        f"audio file {_shown(path)} is {_duration(info.seconds)} long, more than fits in the "
        f"{MAX_DECODED_BYTES // 2**20} MB a file may take decoded ({_duration(most_s)} at {rate} Hz "
        f"in {layout}); trim the file"
    )


def _shown(path: Path) -> str:
    """A file name as messages print it: it may come from a shared patch (escape sequences,
    any length)."""
    return excerpt(path, PATH_LIMIT)


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
        raise OSError(f"cannot read audio file {_shown(path)}: {error}") from None
    return data[:done]


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
