"""Recording what plays into a file: the audio thread copies, a writer thread writes.

The audio thread must not touch a file (a disk can stall for longer than a block). So the
player hands each output block to :meth:`Recorder.capture`, which copies it into a ring of a few
seconds that was allocated beforehand and moves a counter on; a thread of the recorder's own
empties the ring into an :class:`~patcher.audiofile.AudioWriter` every few milliseconds. The
file appears whole when the recording stops (written atomically), or not at all. If the disk
falls behind by more than the ring holds, the frames it lost are counted and reported, and the
file goes on from where the audio is (a gap, never a stall of the sound).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from patcher.audiofile import AudioWriter

#: Seconds of audio the ring holds: how long the disk may stall without a frame lost.
RING_SECONDS = 4.0
#: How often the writer thread empties the ring.
DRAIN_PERIOD_S = 0.02


class Recorder:
    """Records a stream of stereo blocks into ``path`` (.wav or .flac) from :meth:`start` to
    :meth:`stop`. ``capture`` is the audio thread's: it never allocates, blocks or raises."""

    def __init__(self, path: str | Path, sample_rate: int) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.ring = np.zeros((int(RING_SECONDS * sample_rate), 2), dtype=np.float32)
        #: Frames the audio thread has put in, and the writer taken out (both only grow).
        self.captured = 0
        self.written = 0
        self.lost = 0
        self.error: BaseException | None = None
        self._writer = AudioWriter(self.path, sample_rate, channels=2)
        self._running = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Open the file (raises OSError or ValueError for one that cannot be written) and
        start the writer thread."""
        self._writer.__enter__()
        self._running = True
        self._thread = threading.Thread(target=self._drain_loop, name="patcher-recorder", daemon=True)
        self._thread.start()

    def capture(self, block: np.ndarray) -> None:
        """Audio thread: a (frames, 2) block of what is played."""
        frames, size = len(block), len(self.ring)
        start = self.captured % size
        first = min(frames, size - start)
        self.ring[start : start + first] = block[:first]
        if first < frames:
            self.ring[: frames - first] = block[first:]
        self.captured += frames

    def stop(self) -> str:
        """Write what is left, close the file; what was recorded, in words."""
        self._running = False
        if self._thread is not None:
            self._thread.join()
        self._drain()
        failed = self.error
        self._writer.__exit__(type(failed) if failed else None, failed, None)
        if failed is not None:
            raise OSError(f"could not record into {self.path}: {failed}") from None
        seconds = self.written / self.sample_rate
        lost = f"; {self.lost / self.sample_rate:.2f} s lost while the disk was slow" if self.lost else ""
        return f"recorded {seconds:.1f} s into {self.path}{lost}"

    def _drain_loop(self) -> None:
        while self._running and self.error is None:
            self._drain()
            time.sleep(DRAIN_PERIOD_S)

    def _drain(self) -> None:
        if self.error is not None:
            return
        captured, size = self.captured, len(self.ring)
        if captured - self.written > size:  # overwritten before it was written: skip to the audio
            self.lost += captured - size - self.written
            self.written = captured - size
        try:
            while self.written < captured:
                start = self.written % size
                stop = min(size, start + (captured - self.written))
                self._writer.write(self.ring[start:stop])
                self.written += stop - start
        except (OSError, RuntimeError, ValueError) as error:  # a full disk: stop, say so at stop
            self.error = error
