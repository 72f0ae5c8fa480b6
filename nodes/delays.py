"""The delay line: echo, chorus, flanger, vibrato and Karplus–Strong, and the way to close a loop.

The line is read with 4-point cubic (Catmull–Rom) interpolation at a time that may move every
sample. Internal feedback passes a one-pole low-pass (``damping_hz``), so a feedback echo or a
plucked string needs no external loop.

A delay also closes external feedback loops, through its ``tap`` output (the delayed signal
alone; ``out`` mixes in the dry input and so cannot close a loop). The compiler runs such a loop
in chunks of at most ``loop_chunk()`` samples: inside a loop, the time is held at or above half
its set value (and at least 2 samples), so a loop can be as short as a few samples whatever the
block size.

Memory follows what a patch uses: the line holds ``max_time_ms`` (or a longer ``time_ms``),
plus the few samples the interpolation and a block need, rounded up to a power of two. A
modulated time beyond that is held at the line's end. Turning either up while playing makes
a longer line off the audio thread, and the echoes already in the line carry on in it; a line
never shrinks while it plays (turning them down again keeps the longer line and its end).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.signal import lfilter

from patcher.spec import Node, Param

MAX_DELAY_S = 10.0
MIN_DELAY_SAMPLES = 2.0
NO_DAMPING_HZ = 20000.0
#: Beyond the longest delay, the line keeps a block (written before it is read) and this many
#: samples more (the cubic's neighbours either side, and a margin).
LINE_MARGIN = 8


def _longest_delay(params: Mapping[str, Any], sample_rate: int) -> float:
    """In samples: the longest delay a line for these params serves."""
    return max(params["max_time_ms"], params["time_ms"]) * sample_rate / 1000.0


def _line_length(longest: float, max_block: int) -> int:
    """Room for the longest delay, a block and the margin, as a power of two (the write
    position wraps with a mask)."""
    length = math.ceil(longest) + max_block + LINE_MARGIN
    return 1 << (length - 1).bit_length()


def _copy_recent(old: np.ndarray, new: np.ndarray, written: int) -> None:
    """Copy the samples ``old`` holds (the last ``len(old)`` written) into the longer ring
    ``new`` at their own places: sample ``k`` lives at ``k % len(line)`` in either. At most
    three slice copies (one wrap in each ring)."""
    position = written - len(old)
    while position < written:
        old_slot, new_slot = position % len(old), position % len(new)
        count = min(written - position, len(old) - old_slot, len(new) - new_slot)
        new[new_slot : new_slot + count] = old[old_slot : old_slot + count]
        position += count


def _part(value: Any, start: int, stop: int) -> Any:
    return value[start:stop] if isinstance(value, np.ndarray) else value


class Delay(Node):
    TYPE = "delay"
    FAMILY = "delays"
    DOC = "Delay line with cubic interpolation, damped feedback and dry/wet mix; 'tap' closes loops."
    INPUTS = ("in",)
    OUTPUTS = ("out", "tap")
    READ_OUTPUTS = ("tap",)
    READ_INPUTS = ("time_ms",)
    PARAMS = {
        "time_ms": Param(
            250.0,
            0.0,
            MAX_DELAY_S * 1000,
            "ms",
            "Delay time, held at 2 samples or more, and at the line's end (max_time_ms, or a longer "
            "set time) when modulated beyond it.",
            modulatable=True,
        ),
        "max_time_ms": Param(
            1000.0,
            1.0,
            MAX_DELAY_S * 1000,
            "ms",
            doc="Longest time the line holds, modulation included: what memory it takes. "
            "A longer time_ms lengthens it.",
        ),
        "feedback": Param(0.0, -0.99, 0.99, "", "Share of the delayed signal fed back in.", modulatable=True),
        "damping_hz": Param(
            NO_DAMPING_HZ,
            100.0,
            NO_DAMPING_HZ,
            "Hz",
            "Low-pass in the feedback path; 20000 is off.",
            scale="log",
        ),
        "mix": Param(
            0.5, 0.0, 1.0, "", "0 is the dry input only, 1 the delayed signal only.", modulatable=True
        ),
    }

    def prepare(self, sample_rate: int, max_block: int) -> None:
        #: The longest delay read, in samples (a longer one is held here): what the line was
        #: made for, or the longest time set since, as a glide down starts from there.
        self.longest = _longest_delay(self.params, sample_rate)
        self.line = np.zeros(_line_length(self.longest, max_block))
        self.mask = len(self.line) - 1
        self.offsets = np.arange(max_block)
        self.tap_scratch = np.zeros(max_block)  # silence: never written
        self._tap = self._returned = self.tap_scratch
        # Working space for reading and writing, so a block allocates no arrays.
        self.indices = np.zeros((2, max_block), dtype=np.int64)
        self.work = np.zeros((10, max_block))
        super().prepare(sample_rate, max_block)

    def reset(self) -> None:
        self.line[:] = 0.0
        self.written = 0
        self.damping_state = np.zeros(1)
        self._chunk_minimum = float(MIN_DELAY_SAMPLES)
        # The engine's NaN scrub may reset a delay in a loop between its read and its write of
        # one chunk: that write then takes a silent tap of the chunk's length.
        self._tap = self._returned = self.tap_scratch[: len(self._tap)]

    # -- a longer line, live ---------------------------------------------------------------
    def prepare_change(self, name: str, value: Any, params: Mapping[str, Any]) -> Any:
        """A longer line, made here (off the audio thread), when the new time needs one."""
        if name not in ("time_ms", "max_time_ms"):
            return None
        length = _line_length(_longest_delay(params, self.sample_rate), self.max_block)
        if length <= len(self.line):  # it fits (a line only grows)
            return None
        line = np.empty(length)
        line.fill(0.0)  # its pages are touched here, not by the audio thread
        return line

    def install_change(self, name: str, value: Any, prepared: Any) -> None:
        """Move into the longer line: the recent samples keep their places relative to the
        write position, so the echoes under way go on. For a glide the engine sets the same
        value right after (the glide began from the old one); a graph edit steps to it."""
        if prepared is not None and len(prepared) > len(self.line):
            _copy_recent(self.line, prepared, self.written)
            self.line, self.mask = prepared, len(prepared) - 1
        elif prepared is not None:  # another change made it longer already: freed with the
            self.spare_line = prepared  # node's state the engine retires at the next install
        Node.param_changed(self, name, value)
        self._hold_longest()

    def _hold_longest(self) -> float:
        """The longest delay read: at least the longest time set (a glide within the line's
        room needs no new line, and may start before the engine installs anything)."""
        self.longest = max(self.longest, _longest_delay(self.params, self.sample_rate))
        return self.longest

    # -- two-phase interface (inside a feedback loop) -------------------------------------
    def loop_chunk(self) -> int:
        self._hold_longest()
        # Reads in this block may come as close as the chunk allows, and no closer: the floor
        # is fixed with the chunk, not moved by a ramp within the block (block size would matter).
        self._chunk_minimum = self._loop_minimum()
        return max(1, int(self._chunk_minimum) - 1)

    def _loop_minimum(self) -> float:
        set_time_ms = self.params["time_ms"]
        ramp = self.ramps.get("time_ms")
        if ramp is not None:  # while a change glides in, from where the glide is
            set_time_ms = min(set_time_ms, ramp.value)
        half_set_time = set_time_ms * self.sample_rate / 2000.0
        return max(MIN_DELAY_SAMPLES, np.floor(half_set_time))

    def read(self, params: Mapping[str, Any], outputs: Mapping[str, np.ndarray]) -> None:
        self._read(params["time_ms"], outputs["tap"], min(self._loop_minimum(), self._chunk_minimum))

    def write(
        self, inputs: Mapping[str, np.ndarray], params: Mapping[str, Any], outputs: Mapping[str, np.ndarray]
    ) -> None:
        self._write(inputs["in"], params["feedback"])
        self._mix(inputs["in"], self._tap, params["mix"], outputs["out"])

    # -- one call per block (no loop through this node) -----------------------------------
    def process(
        self, inputs: Mapping[str, np.ndarray], params: Mapping[str, Any], outputs: Mapping[str, np.ndarray]
    ) -> None:
        signal, time_ms, feedback = inputs["in"], params["time_ms"], params["feedback"]
        tap = outputs["tap"]
        frames = len(signal)
        longest = self._hold_longest()
        if not np.any(feedback):
            # Without feedback the line does not depend on what is read: write first, read after.
            self._write(signal, 0.0)
            self._read(time_ms, tap, MIN_DELAY_SAMPLES, self.written - frames)
        else:
            # A read must not reach into its own chunk: chunks are shorter than the shortest
            # delay read, a time beyond the line counting as the line's end.
            shortest = min(np.min(time_ms) * self.sample_rate / 1000.0, longest)
            chunk = max(1, int(max(MIN_DELAY_SAMPLES, shortest)) - 1)
            for start in range(0, frames, chunk):
                stop = min(start + chunk, frames)
                self._read(_part(time_ms, start, stop), tap[start:stop], MIN_DELAY_SAMPLES)
                self._write(signal[start:stop], _part(feedback, start, stop))
        self._mix(signal, tap, params["mix"], outputs["out"])

    # -- the line -------------------------------------------------------------------------
    def _read(self, time_ms: Any, tap: np.ndarray, minimum: float, first: int | None = None) -> None:
        """Fill ``tap`` with the line read ``time_ms`` behind samples ``first``, ``first + 1``..."""
        frames = len(tap)
        first = self.written if first is None else first
        index, shifted = self.indices[:, :frames]
        delay, position, fraction, before, at, after, later, slope_at, slope_after, difference = self.work[
            :, :frames
        ]
        np.multiply(time_ms, self.sample_rate / 1000.0, out=delay)
        np.clip(delay, minimum, self.longest, out=delay)
        np.add(self.offsets[:frames], first, out=index)
        np.subtract(index, delay, out=position)
        whole = delay  # the delay is used up: its row holds the whole part from here
        np.floor(position, out=whole)
        np.subtract(position, whole, out=fraction)
        index[:] = whole
        for shift, samples in zip((-1, 0, 1, 2), (before, at, after, later), strict=True):
            np.add(index, shift, out=shifted)
            np.bitwise_and(shifted, self.mask, out=shifted)
            np.take(self.line, shifted, out=samples, mode="clip")  # in range: masked
        # Catmull–Rom: exact at the samples, continuous slope between them. In place, with the
        # same operations in the same order as
        #   at + f * (slope_at + f * (3 d - 2 slope_at - slope_after + f * (slope_at + slope_after - 2 d)))
        np.subtract(after, before, out=slope_at)
        slope_at *= 0.5
        np.subtract(later, at, out=slope_after)
        slope_after *= 0.5
        np.subtract(after, at, out=difference)
        cubic, quadratic, scratch = before, later, after  # free rows from here
        np.add(slope_at, slope_after, out=cubic)
        np.multiply(difference, 2, out=scratch)
        cubic -= scratch
        cubic *= fraction
        np.multiply(difference, 3, out=quadratic)
        np.multiply(slope_at, 2, out=scratch)
        quadratic -= scratch
        quadratic -= slope_after
        quadratic += cubic
        quadratic *= fraction
        np.add(slope_at, quadratic, out=quadratic)
        quadratic *= fraction
        np.add(at, quadratic, out=tap)
        self._tap = tap
        # The damping filter runs on every read, so its state never depends on the chunking.
        self._returned = self._damp(tap)

    def _write(self, signal: np.ndarray, feedback: Any) -> None:
        frames = len(signal)
        index = self.indices[0, :frames]
        np.add(self.offsets[:frames], self.written, out=index)
        np.bitwise_and(index, self.mask, out=index)
        if np.any(feedback):
            fed = self.work[0, :frames]
            np.multiply(feedback, self._returned, out=fed)
            np.add(signal, fed, out=fed)
            self.line[index] = fed
        else:
            self.line[index] = signal
        self.written += frames

    def _damp(self, tap: np.ndarray) -> np.ndarray:
        cutoff = self.params["damping_hz"]
        if cutoff >= NO_DAMPING_HZ:
            return tap
        pole = np.exp(-2.0 * np.pi * min(cutoff, 0.49 * self.sample_rate) / self.sample_rate)
        damped, self.damping_state = lfilter([1.0 - pole], [1.0, -pole], tap, zi=self.damping_state)
        return damped

    def _mix(self, signal: np.ndarray, tap: np.ndarray, mix: Any, out: np.ndarray) -> None:
        dry = self.work[0, : len(out)]
        np.multiply(tap, mix, out=out)
        np.subtract(1.0, mix, out=dry)
        dry *= signal
        out += dry
