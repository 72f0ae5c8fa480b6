"""The delay's DSP before its kernel: numpy over whole chunks, damping by scipy's ``lfilter``
(nodes/delays.py as of the commit that sized lines by ``max_time_ms``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.signal import lfilter

from nodes.delays import MIN_DELAY_SAMPLES, NO_DAMPING_HZ, Delay, _line_length, _longest_delay


def _part(value: Any, start: int, stop: int) -> Any:
    return value[start:stop] if isinstance(value, np.ndarray) else value


class ReferenceDelay(Delay):
    """Delay as it was before its kernel (numpy), for tests/test_nodes_delays.py."""

    TYPE = ""  # not registered: the tests and reference renders use it by name
    ENTRY = None  # its own process runs, not the node's compiled kernel
    written = 0  # a plain count here (the node keeps it in an array for its kernel)

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
        self.sample_rate = sample_rate
        self.max_block = max_block
        self.reset()

    def reset(self) -> None:
        self.line[:] = 0.0
        self.written = 0
        self.damping_state = np.zeros(1)
        self._chunk_minimum = float(MIN_DELAY_SAMPLES)
        # The engine's NaN scrub may reset a delay in a loop between its read and its write of
        # one chunk: that write then takes a silent tap of the chunk's length.
        self._tap = self._returned = self.tap_scratch[: len(self._tap)]

    def read(self, params: Mapping[str, Any], outputs: Mapping[str, np.ndarray]) -> None:
        self._read(params["time_ms"], outputs["tap"], min(self._loop_minimum(), self._chunk_minimum))

    def write(
        self, inputs: Mapping[str, np.ndarray], params: Mapping[str, Any], outputs: Mapping[str, np.ndarray]
    ) -> None:
        self._write(inputs["in"], params["feedback"])
        self._mix(inputs["in"], self._tap, params["mix"], outputs["out"])

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


REFERENCES = {"delay": ReferenceDelay}
