"""The delay line: echo, chorus, flanger, vibrato and Karplus–Strong, and the way to close a loop.

The line is read with 4-point cubic (Catmull–Rom) interpolation at a time that may move every
sample. Internal feedback passes a one-pole low-pass (``damping_hz``), so a feedback echo or a
plucked string needs no external loop.

A delay also closes external feedback loops, through its ``tap`` output (the delayed signal
alone; ``out`` mixes in the dry input and so cannot close a loop). The compiler runs such a loop
in chunks of at most ``loop_chunk()`` samples: inside a loop, the time is held at or above half
its set value (and at least 2 samples), so a loop can be as short as a few samples whatever the
block size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.signal import lfilter

from patcher.spec import Node, Param

MAX_DELAY_S = 10.0
MIN_DELAY_SAMPLES = 2.0
NO_DAMPING_HZ = 20000.0


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
            250.0, 0.0, MAX_DELAY_S * 1000, "ms", "Delay time (held at 2 samples or more).", modulatable=True
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
        length = int(MAX_DELAY_S * sample_rate) + max_block + 8
        self.line = np.zeros(1 << (length - 1).bit_length())
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

    # -- two-phase interface (inside a feedback loop) -------------------------------------
    def loop_chunk(self) -> int:
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
        if not np.any(feedback):
            # Without feedback the line does not depend on what is read: write first, read after.
            self._write(signal, 0.0)
            self._read(time_ms, tap, MIN_DELAY_SAMPLES, self.written - frames)
        else:
            shortest = np.min(time_ms) * self.sample_rate / 1000.0
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
        np.clip(delay, minimum, MAX_DELAY_S * self.sample_rate, out=delay)
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
