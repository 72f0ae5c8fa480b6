"""The convolver as it was before its kernels: numpy's correlate for the head, numpy for the rest.

``ReferenceConvolver`` runs against ``Convolver``'s spec and IR building; the tests compare
the two on the same signals, and ``REFERENCES`` lets a whole render swap it in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nodes.convolution import Convolver
from patcher.spec import Node

Signals = Mapping[str, np.ndarray]

#: The convolver's one partition size then: the head's FIR length and the tail's FFT hop.
PARTITION_SIZE = 512
#: The tail's multiply-accumulate was spread over this many slices per partition.
TAIL_SLICES = 8


class ReferencePartitionedConvolver:
    """PartitionedConvolver as it was before its kernels (numpy), with one uniformly partitioned
    FFT tail after a direct-FIR head of one partition (the kernels' has levels of partitions).

        ``process`` may be called with any number of samples; the result equals
        ``scipy.signal.fftconvolve(stream, impulse_response)[:len(stream)]``.
    """

    def __init__(self, impulse_response: np.ndarray, partition_size: int = PARTITION_SIZE) -> None:
        self.partition_size = partition_size
        self.spectra_count = 0
        self._load(impulse_response)
        self.reset()

    def set_impulse_response(self, impulse_response: np.ndarray) -> None:
        """Swap the IR without losing the input history: the next sample uses the new IR."""
        old_line, old_count, old_column = self.delay_line, self.spectra_count, self.write_column
        self._load(impulse_response)
        if old_count != self.spectra_count:
            kept = min(old_count, self.spectra_count)
            self.delay_line = np.zeros((self.partition_size + 1, 2 * self.spectra_count), dtype=complex)
            self.write_column = 0
            newest = old_line[:, old_column : old_column + kept]
            self.delay_line[:, :kept] = newest
            self.delay_line[:, self.spectra_count : self.spectra_count + kept] = newest
        self._compute_tail()

    def _load(self, impulse_response: np.ndarray) -> None:
        """Split the IR into the head's taps and the tail partitions' spectra."""
        size = self.partition_size
        impulse_response = np.asarray(impulse_response, dtype=float).ravel()
        if len(impulse_response) == 0:
            impulse_response = np.zeros(1)
        # np.correlate with the reversed head is a convolution with the head.
        self.head_reversed = np.ascontiguousarray(impulse_response[:size][::-1])
        tail = impulse_response[size:]
        self.spectra_count = -(-len(tail) // size)
        partitions = np.zeros(self.spectra_count * size)
        partitions[: len(tail)] = tail
        padded = np.zeros((self.spectra_count, 2 * size))
        padded[:, :size] = partitions.reshape(-1, size)  # row j holds IR[P + jP : P + (j+1)P]
        # (bin, partition, 1): per bin, a dot product over partitions is one batched matmul,
        # about twice as fast as multiplying whole arrays and summing.
        self.tail_spectra = np.ascontiguousarray(np.fft.rfft(padded, axis=1).T)[:, :, np.newaxis]
        self.spectrum = np.empty(size + 1, dtype=complex)
        self.spectrum_sum = np.empty((size + 1, 1, 1), dtype=complex)
        self.tail_block = np.empty(2 * size)
        #: The next tail's spectrum but for the newest partition's term, summed ahead by slices
        #: of bins: slice i covers bins bin_bounds[i] .. bin_bounds[i + 1] - 1.
        self.ahead = np.zeros((size + 1, 1, 1), dtype=complex)
        self.bin_bounds = np.linspace(0, size + 1, TAIL_SLICES + 1).astype(int)
        self.slice_length = max(1, size // TAIL_SLICES)
        self.slices_done = 0

    def reset(self) -> None:
        size = self.partition_size
        # [previous partition | current partition]: the head's history and the FFT's input.
        self.input_buffer = np.zeros(2 * size)
        self.position = 0
        # Frequency-domain delay line, (bin, 2 x partitions): a mirrored ring where each input
        # spectrum is written at columns c and c + count, so columns write_column ..
        # write_column + count - 1 always hold the spectra newest first, without copying.
        shape = (size + 1, 2 * self.spectra_count)
        if getattr(self, "delay_line", None) is None or self.delay_line.shape != shape:
            self.delay_line = np.empty(shape, dtype=complex)
        # Zeroed in place, which also maps its pages now rather than in an audio callback.
        self.delay_line.fill(0.0)
        self.write_column = 0
        self.tail_output = np.zeros(size)
        self.ahead[:] = 0.0
        self.slices_done = 0

    def process(self, samples: np.ndarray, out: np.ndarray) -> None:
        """Write the convolution of ``samples`` (continuing the stream) into ``out``."""
        size = self.partition_size
        head_length = len(self.head_reversed)
        start, total = 0, len(samples)
        while start < total:
            take = min(total - start, size - self.position)
            self._sum_slices_due_before(self.position + take)
            stop = start + take
            write = size + self.position
            self.input_buffer[write : write + take] = samples[start:stop]
            window = self.input_buffer[write - head_length + 1 : write + take]
            out[start:stop] = np.correlate(window, self.head_reversed, "valid")
            if self.spectra_count:
                out[start:stop] += self.tail_output[self.position : self.position + take]
            self.position += take
            if self.position == size:
                self._next_partition()
            start = stop

    def _sum_slices_due_before(self, position: int) -> None:
        """Compute the slices of the next tail that fall before ``position`` in the partition
        (slice i falls at i x slice_length), so each block does its share whatever its size."""
        if self.spectra_count < 2:
            return
        while self.slices_done < TAIL_SLICES and self.slices_done * self.slice_length < position:
            self._sum_slice(self.slices_done)
            self.slices_done += 1

    def _sum_slice(self, index: int) -> None:
        low, high = self.bin_bounds[index], self.bin_bounds[index + 1]
        # Newest first, the spectrum in column c meets IR partition c + 1 at the next boundary.
        column, count = self.write_column, self.spectra_count
        older = self.delay_line[low:high, np.newaxis, column : column + count - 1]
        np.matmul(older, self.tail_spectra[low:high, 1:count], out=self.ahead[low:high])

    def _next_partition(self) -> None:
        """P samples are in: push their spectrum and finish the next P tail samples."""
        size, count = self.partition_size, self.spectra_count
        if count:
            self._sum_slices_due_before(TAIL_SLICES * self.slice_length)  # any left (tiny P)
            self.write_column = (self.write_column - 1) % count
            column = self.write_column
            np.fft.rfft(self.input_buffer, out=self.spectrum)
            self.delay_line[:, column] = self.spectrum
            self.delay_line[:, column + count] = self.spectrum
            # The newest spectrum's term, plus all the others summed ahead.
            total = self.spectrum_sum[:, 0, 0]
            np.multiply(self.spectrum, self.tail_spectra[:, 0, 0], out=total)
            if count > 1:
                total += self.ahead[:, 0, 0]
            self._finish_tail(total)
            self.slices_done = 0
        self.input_buffer[:size] = self.input_buffer[size:]
        self.position = 0

    def _compute_tail(self) -> None:
        """Tail output for the current partition, all at once: sum over partitions of spectrum x
        IR part (after an IR change; the running path spreads this work, see the module doc)."""
        count = self.spectra_count
        if not count:
            return
        newest_first = self.delay_line[:, np.newaxis, self.write_column : self.write_column + count]
        np.matmul(newest_first, self.tail_spectra, out=self.spectrum_sum)
        self._finish_tail(self.spectrum_sum[:, 0, 0])
        self.slices_done = 0  # the slices summed so far used the old IR

    def _finish_tail(self, spectrum: np.ndarray) -> None:
        size = self.partition_size
        np.fft.irfft(spectrum, 2 * size, out=self.tail_block)
        # Overlap-save: the last P samples of the circular convolution are the linear ones.
        self.tail_output[:] = self.tail_block[size:]


class ReferenceConvolver(Convolver):
    """Convolver as it was before its kernels (numpy), for tests/test_nodes_convolution.py."""

    TYPE = ""  # not registered: ``REFERENCES`` maps the type name to it

    # reset, param_changed, install_change and the IR building are Convolver's own: they
    # call the convolver's reset and set_impulse_response, which the reference has too.

    def prepare(self, sample_rate: int, max_block: int) -> None:
        self.sample_rate = sample_rate
        self.convolver = ReferencePartitionedConvolver(self._build_impulse_response())
        #: The caller's thread's last build: (the IR params it was for, (convolver, IR)).
        self._last_prepared: tuple[tuple, tuple[ReferencePartitionedConvolver, np.ndarray]] | None = None
        Node.prepare(self, sample_rate, max_block)

    def prepare_change(self, name: str, value: Any, params: Mapping[str, Any]) -> Any:
        """Build the new IR and a convolver for it here, off the audio thread, from every
        param as it will be (two IR params changed back to back both count). Changes that
        lead to the same IR (one edit changing two of its params) share one build."""
        if name not in self.IR_PARAMS[params["source"]]:
            return None
        key = self._build_key(params)
        if self._last_prepared is None or self._last_prepared[0] != key:
            impulse_response = self._impulse_response_for(params)
            self._last_prepared = key, (ReferencePartitionedConvolver(impulse_response), impulse_response)
        return self._last_prepared[1]

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        dry, out = inputs["in"], outputs["out"]
        self.convolver.process(dry, out)
        gain = np.power(10.0, np.divide(params["output_db"], 20.0))
        wet_level = params["mix"] * gain
        dry_level = (1.0 - params["mix"]) * gain
        out *= wet_level
        if not isinstance(dry_level, float) or dry_level != 0.0:
            out += dry * dry_level


REFERENCES = {"convolver": ReferenceConvolver}
