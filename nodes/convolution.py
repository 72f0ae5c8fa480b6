"""Convolution: a zero-latency convolver with non-uniform partitions, a generated room or an IR file.

The convolver cuts the impulse response (IR) at ``PARTITION_SIZES`` = (128, 1024, 8192)
samples, as Gardner (1995) and Garcia (2002) do, into a head and levels of growing partitions:

* the head, ``IR[:128]``, runs as a direct FIR over the last input samples, so every output
  sample is ready in the same block as its input;
* level i, of partition size P = ``PARTITION_SIZES[i]``, covers ``IR[P : PARTITION_SIZES[i+1]]``
  (the last level, to the IR's end) as uniformly partitioned overlap-save FFT convolution:
  each time P new input samples have arrived, the spectrum of the last 2P enters the level's
  frequency-domain delay line, and a complex multiply-accumulate over the level's partitions
  yields its *next* P output samples. The level's earliest tap is P samples late anyway, so it
  adds no latency. A short IR has fewer levels (an IR of up to 128 samples is all head).

Long partitions keep the multiply-accumulate small (a level costs about as many complex
multiply-adds per sample as it has partitions: 7 + 7 + 11 for a 2 s IR at 48 kHz, against 187
with one level of 512), short ones keep the head's FIR short (128 multiply-adds per sample).

The first level's FFTs (256 points, every 128 samples) run inside the head's kernel, a real
FFT done as a complex one of half the size: numpy's costs 3 µs a call at that size, more than
the transform. The larger levels use numpy's (pocketfft), and their multiply-accumulate is
spread out, so that no block pays for a whole partition's: all of it but the newest
spectrum's term is known a partition ahead, and is computed in slices of bins (one per
``SLICE_SAMPLES`` = 64 samples) while the next P samples arrive. At a partition boundary only
the newest term, an FFT and an inverse FFT remain: at 8192 samples, one block in 128 at block
64, all three levels' (see ``Convolver`` for what that costs).

The cuts depend only on how many samples have arrived, never on the engine's block size, so
the output is the same at any block size (down to one sample) and has zero samples of latency.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from patcher.audiofile import audio_info, read_audio
from patcher.kernels import at, kernel, signal_and_value
from patcher.spec import Node, Param

Signals = Mapping[str, np.ndarray]

#: The head's length and the levels' partition sizes: level i has partitions of
#: ``PARTITION_SIZES[i]`` samples and covers IR[PARTITION_SIZES[i] : PARTITION_SIZES[i + 1]],
#: the last one to the IR's end. Each size divides the next; the first is a power of two (its
#: FFTs are a kernel's). Chosen by measurement (see ``Convolver``).
PARTITION_SIZES = (128, 1024, 8192)
#: The first levels, whose FFTs and multiply-accumulate run whole in the head's kernel at their
#: boundaries (numpy's FFT costs 3 µs a call at 256 points, as much as the transform).
KERNEL_LEVELS = 2
#: A larger level's multiply-accumulate is spread in slices of bins, one per this many samples.
SLICE_SAMPLES = 64
#: Longer IR files are refused: the frequency-domain delay lines would take hundreds of MB.
MAX_IR_SECONDS = 30.0
#: Above this frequency the room's ``damping`` makes the tail die away faster.
DAMPING_CROSSOVER_HZ = 3000.0
NORMALIZE_MODES = ("none", "peak", "energy")


def room_impulse_response(
    sample_rate: int, length_s: float, decay_s: float, damping: float = 0.0, seed: int = 0
) -> np.ndarray:
    """An exponentially decaying noise room: the same IR for the same arguments.

    Gaussian noise of unit level at time zero falls 60 dB every ``decay_s`` seconds (an RT60).
    ``damping`` (0..1) splits the noise at 3 kHz and shortens the highs' decay time by up to
    90 %, as air and soft walls do. The last 50 ms (at most a fifth of the IR) fade out with a
    half cosine so that a short IR does not end in a click. The result is not normalised.
    """
    frames = max(1, round(length_s * sample_rate))
    noise = np.random.default_rng(int(seed)).standard_normal(frames)
    seconds = np.arange(frames) / sample_rate
    # 60 dB in amplitude is a factor 1000: envelope = 1000 ** (-t / decay_s).
    low_envelope = np.exp(-np.log(1000.0) * seconds / decay_s)
    if damping > 0.0:
        from scipy.signal import butter, sosfilt  # a second to import: only for a damped room

        crossover = min(DAMPING_CROSSOVER_HZ, 0.4 * sample_rate)
        lows = sosfilt(butter(2, crossover, fs=sample_rate, output="sos"), noise)
        high_decay_s = decay_s * (1.0 - 0.9 * damping)
        high_envelope = np.exp(-np.log(1000.0) * seconds / high_decay_s)
        impulse_response = lows * low_envelope + (noise - lows) * high_envelope
    else:
        impulse_response = noise * low_envelope
    fade = min(round(0.05 * sample_rate), frames // 5)
    if fade > 0:
        impulse_response[-fade:] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, fade))
    return impulse_response


def normalize_impulse_response(impulse_response: np.ndarray, mode: str) -> np.ndarray:
    """Scale an IR: ``none`` as it is, ``peak`` to a largest |sample| of 1, ``energy`` to a
    sum of squares of 1 (white noise keeps its RMS level). A silent IR stays silent."""
    if mode == "peak":
        scale = np.max(np.abs(impulse_response), initial=0.0)
    elif mode == "energy":
        scale = np.sqrt(np.sum(np.square(impulse_response)))
    else:
        return impulse_response.copy()
    return impulse_response / scale if scale > 0.0 else impulse_response.copy()


class PartitionedConvolver:
    """Zero-latency convolution of a stream with an IR: direct-FIR head, FFT-partitioned levels.

    ``process`` may be called with any number of samples; the result equals
    ``scipy.signal.fftconvolve(stream, impulse_response)[:len(stream)]``. The head's FIR, the
    first level's FFTs and multiply-accumulate, the larger levels' multiply-accumulate and the
    bookkeeping are kernels; the larger levels' FFTs are numpy's (pocketfft). Spectra are kept
    as separate real and imaginary planes, a row per partition, so that the multiply-accumulate
    runs along contiguous bins, four at a time (numpy's batched complex matmul took four times
    as long).
    """

    def __init__(
        self, impulse_response: np.ndarray, partition_sizes: Sequence[int] = PARTITION_SIZES
    ) -> None:
        sizes = tuple(int(size) for size in partition_sizes)
        powers = sizes and all(size >= 1 and not size & (size - 1) for size in sizes)
        if not powers or any(high <= low for low, high in itertools.pairwise(sizes)):
            raise ValueError(  # the in-kernel FFT is radix 2; a level's FFT is twice its size
                f"partition sizes {sizes}: give powers of two, each larger than the one before"
            )
        self.partition_sizes = sizes
        #: The largest partition: [previous | current] partition of that size is the input
        #: history, for the head's FIR and every level's FFT input, whatever the IR's length.
        self.top = sizes[-1]
        self.history = np.zeros(2 * self.top)
        self.position = 0  # samples into the current largest partition: where every level is
        self._load(impulse_response)
        self.reset()

    def set_impulse_response(self, impulse_response: np.ndarray) -> None:
        """Swap the IR without losing the input history: the next sample uses the new IR.

        Each level but the largest has its delay line filled from the input history where it
        reaches (the last ``2 x PARTITION_SIZES[-1]`` samples), and beyond that from the same
        level under the old IR; the largest level keeps its own lines (its spectra need more
        history than is kept), and input older than both counts as silence: an IR grown beyond
        the old one's levels does not hear the input before the change until the largest
        level's next boundary."""
        old_by_size = {level.size: level for level in self.levels}
        self._load(impulse_response)
        for level in self.levels:
            if level.size in old_by_size:
                level.keep_spectra_of(old_by_size[level.size])
            self._spectra_from_history(level)
            level.compute_tail()

    def _spectra_from_history(self, level: _Level) -> None:
        """Recompute the level's newest input spectra whose 2P samples are all in the history."""
        size, count = level.size, level.count
        boundary = self.top + self.position - self.position % size  # the level's last
        for row in range(min(count, (boundary - 2 * size) // size + 1)):
            stop = boundary - row * size
            spectrum = np.fft.rfft(self.history[stop - 2 * size : stop])
            ring_row = (level.row[0] + row) % count
            for line, part in ((level.line_real, spectrum.real), (level.line_imag, spectrum.imag)):
                line[ring_row] = line[ring_row + count] = part

    def _load(self, impulse_response: np.ndarray) -> None:
        """Split the IR into the head's taps and the levels' partition spectra."""
        sizes = self.partition_sizes
        impulse_response = np.asarray(impulse_response, dtype=float).ravel()
        if len(impulse_response) == 0:
            impulse_response = np.zeros(1)
        #: The head's taps h[0] .. h[127] (fewer for a shorter IR), for the direct FIR.
        self.head = impulse_response[: sizes[0]].copy()
        self.levels = []
        for index, size in enumerate(sizes):
            if size >= len(impulse_response):
                break
            end = sizes[index + 1] if index + 1 < len(sizes) else len(impulse_response)
            self.levels.append(_Level(impulse_response[size:end], size))
        #: Each level's last inverse FFT (2P): its next P output samples are the second half.
        self.tail_blocks = np.zeros((max(1, len(self.levels)), 2 * self.top))
        for index, level in enumerate(self.levels):
            level.tail_block = self.tail_blocks[index, : 2 * level.size]
        self.level_sizes = np.array([level.size for level in self.levels], dtype=np.int64)
        #: The first two levels run in the head's kernel, FFTs and all (empty ones when the
        #: IR does not reach them); the others' FFTs are numpy's.
        in_kernel = [*self.levels[:KERNEL_LEVELS]]
        while len(in_kernel) < KERNEL_LEVELS:
            in_kernel.append(_Level(np.zeros(0), sizes[min(len(in_kernel), len(sizes) - 1)]))
        self.fft_levels = self.levels[KERNEL_LEVELS:]
        #: process() stops at the smallest boundary it must act on.
        self.chunk_size = self.fft_levels[0].size if self.fft_levels else self.top
        # The FFT's work arrays and twiddles serve both levels: a span's twiddles are the same
        # in a larger FFT.
        largest = max(level.size for level in in_kernel)
        twiddles = _fft_tables(2 * largest)[1]
        self.twiddles = np.stack([twiddles.real, twiddles.imag])  # (real or imaginary, index)
        self.work = np.zeros((2, largest))
        #: The chunk kernel's arguments after the samples, out and position: the same arrays
        #: for every call (numba looks at each argument's type on every call).
        self.chunk_arrays = (
            self.history,
            self.head,
            self.tail_blocks,
            self.level_sizes,
            self.work,
            self.twiddles,
        )
        for level in in_kernel:
            bit_reversed, _, real_twiddles = _fft_tables(2 * level.size)
            self.chunk_arrays += (
                level.line,
                level.row,
                level.ir,
                level.ahead,
                level.spectrum,
                bit_reversed,
                real_twiddles,
            )
        for level in self.fft_levels:
            # The FFT inputs: the last 2P samples at each of the level's boundaries.
            level.windows = [
                self.history[self.top + stop - 2 * level.size : self.top + stop]
                for stop in range(level.size, self.top + 1, level.size)
            ]

    def reset(self) -> None:
        self.history.fill(0.0)
        self.position = 0
        self.tail_blocks.fill(0.0)
        for level in self.levels:
            level.reset()

    def process(self, samples: np.ndarray, out: np.ndarray) -> None:
        """Write the convolution of ``samples`` (continuing the stream) into ``out``."""
        chunk_size, arrays = self.chunk_size, self.chunk_arrays
        start, total = 0, len(samples)
        while start < total:
            position = self.position
            take = min(total - start, chunk_size - position % chunk_size)
            for level in self.fft_levels:
                level.sum_slices_due_before(position % level.size + take)
            if take == total:
                _convolve_chunk(samples, out, position, *arrays)
            else:
                _convolve_chunk(samples[start : start + take], out[start : start + take], position, *arrays)
            position += take
            if position % chunk_size == 0:
                for level in self.fft_levels:
                    if position % level.size == 0:
                        level.next_partition(level.windows[position // level.size - 1])
                if position == self.top:
                    _shift_history(self.history)
                    position = 0
            self.position = position
            start += take


class _Level:
    """One level of a ``PartitionedConvolver``: an IR segment that starts ``size`` samples in,
    cut into partitions of ``size``, as uniformly partitioned overlap-save FFT convolution."""

    def __init__(self, segment: np.ndarray, size: int) -> None:
        self.size = size
        self.count = -(-len(segment) // size)
        partitions = np.zeros(self.count * size)
        partitions[: len(segment)] = segment
        padded = np.zeros((self.count, 2 * size))
        padded[:, :size] = partitions.reshape(-1, size)  # row j: the segment's j-th partition
        spectra = np.fft.rfft(padded, axis=1)  # (partition, bin)
        #: (real or imaginary, partition, bin), and each plane by its name.
        self.ir = np.stack([spectra.real, spectra.imag])
        self.ir_real, self.ir_imag = self.ir
        # Frequency-domain delay line, (2 x partitions, bin): a mirrored ring where each input
        # spectrum is written at rows r and r + count, so rows row .. row + count - 1 always
        # hold the spectra newest first, without copying.
        self.line = np.zeros((2, 2 * self.count, size + 1))
        self.line_real, self.line_imag = self.line
        self.row = np.zeros(1, dtype=np.int64)  # an array: the first level's kernel moves it
        self.spectrum = np.zeros(size + 1, dtype=complex)
        #: The next output's spectrum, whole, at a partition boundary.
        self.next_tail_spectrum = np.zeros(size + 1, dtype=complex)
        #: The next output's spectrum but for the newest partition's term, summed ahead by
        #: slices of bins: slice i covers bins bin_bounds[i] .. bin_bounds[i + 1] - 1.
        self.ahead = np.zeros((2, size + 1))
        self.ahead_real, self.ahead_imag = self.ahead
        self.slices = max(1, size // SLICE_SAMPLES)
        self.bin_bounds = [int(bound) for bound in np.linspace(0, size + 1, self.slices + 1)]
        self.slice_length = size // self.slices
        self.slices_done = 0
        self.tail_block = np.zeros(2 * size)  # the convolver's: a row of its tail_blocks
        self.windows: list[np.ndarray] = []  # the convolver's: FFT inputs, by boundary

    def reset(self) -> None:
        # Zeroed in place, which also maps the pages now rather than in an audio callback.
        self.line_real.fill(0.0)
        self.line_imag.fill(0.0)
        self.row[0] = 0
        self.tail_block.fill(0.0)
        self.ahead_real.fill(0.0)
        self.ahead_imag.fill(0.0)
        self.slices_done = 0

    def keep_spectra_of(self, old: _Level) -> None:
        """Take over the newest input spectra of the same level under the old IR."""
        kept = min(old.count, self.count)
        for new_line, old_line in ((self.line_real, old.line_real), (self.line_imag, old.line_imag)):
            newest = old_line[old.row[0] : old.row[0] + kept]
            new_line[:kept] = newest
            new_line[self.count : self.count + kept] = newest
        self.row[0] = 0

    def sum_slices_due_before(self, position: int) -> None:
        """Compute the slices of the next output that fall before ``position`` in the partition
        (slice i falls at i x slice_length), so each block does its share whatever its size."""
        due = min(self.slices, -(-position // self.slice_length))
        if due > self.slices_done and self.count > 1:
            # Newest first, the spectrum in row r meets IR partition r + 1 at the next boundary.
            _multiply_accumulate(
                self.line_real,
                self.line_imag,
                self.row[0],
                self.ir_real,
                self.ir_imag,
                1,
                self.bin_bounds[self.slices_done],
                self.bin_bounds[due],
                self.ahead_real,
                self.ahead_imag,
            )
            self.slices_done = due

    def next_partition(self, window: np.ndarray) -> None:
        """P samples are in (``window`` holds the last 2P): push their spectrum and finish the
        level's next P output samples."""
        self.sum_slices_due_before(self.size)  # any left
        self.row[0] = (self.row[0] - 1) % self.count
        np.fft.rfft(window, out=self.spectrum)
        _push_spectrum(
            self.spectrum,
            self.line_real,
            self.line_imag,
            self.row[0],
            self.ir_real,
            self.ir_imag,
            self.ahead_real,
            self.ahead_imag,
            self.next_tail_spectrum,
        )
        np.fft.irfft(self.next_tail_spectrum, 2 * self.size, out=self.tail_block)
        self.slices_done = 0

    def compute_tail(self) -> None:
        """The output for the current partition, all at once: sum over partitions of spectrum x
        IR part (after an IR change; the running path spreads this work, see the module doc)."""
        if not self.count:
            return
        _multiply_accumulate(
            self.line_real,
            self.line_imag,
            self.row[0],
            self.ir_real,
            self.ir_imag,
            0,
            0,
            self.size + 1,
            self.ahead_real,
            self.ahead_imag,
        )
        self.next_tail_spectrum.real = self.ahead_real
        self.next_tail_spectrum.imag = self.ahead_imag
        np.fft.irfft(self.next_tail_spectrum, 2 * self.size, out=self.tail_block)
        self.ahead_real.fill(0.0)
        self.ahead_imag.fill(0.0)
        self.slices_done = 0  # the slices summed so far used the old IR


def _fft_tables(fft_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For ``_real_fft`` of a power-of-two ``fft_size`` (done as a complex FFT of half the
    size): each index of the half with its bits reversed; every span's twiddles
    exp(-2 pi i k / (2 span)), k < span, for spans 1, 2, 4, ... one after the other (span s
    from index s - 1); and exp(-2 pi i k / fft_size) for k = 0 .. fft_size / 2."""
    half = fft_size // 2
    bits = half.bit_length() - 1
    index = np.arange(half, dtype=np.int64)
    bit_reversed = np.zeros(half, dtype=np.int64)
    for bit in range(bits):
        bit_reversed |= ((index >> bit) & 1) << (bits - 1 - bit)
    spans = [np.exp(-2j * np.pi * np.arange(span) / (2 * span)) for span in 2 ** np.arange(bits)]
    stage_twiddles = np.concatenate([np.zeros(0, dtype=complex), *spans])
    real_twiddles = np.exp(-2j * np.pi * np.arange(half + 1) / fft_size)
    return bit_reversed, stage_twiddles, real_twiddles


@kernel
def _convolve_chunk(
    samples: np.ndarray,
    out: np.ndarray,
    position: int,
    history: np.ndarray,
    head: np.ndarray,
    tail_blocks: np.ndarray,
    level_sizes: np.ndarray,
    work: np.ndarray,
    twiddles: np.ndarray,
    line: np.ndarray,
    row: np.ndarray,
    ir: np.ndarray,
    sums: np.ndarray,
    spectrum: np.ndarray,
    bit_reversed: np.ndarray,
    real_twiddles: np.ndarray,
    second_line: np.ndarray,
    second_row: np.ndarray,
    second_ir: np.ndarray,
    second_sums: np.ndarray,
    second_spectrum: np.ndarray,
    second_bit_reversed: np.ndarray,
    second_real_twiddles: np.ndarray,
) -> None:
    """Append ``samples`` at ``position`` and write their output: the head's FIR plus every
    level's output computed ahead; at each of the first two levels' boundaries, the level's
    partition (their delay lines, IR spectra and sums, each as [real planes, imaginary planes],
    and FFT tables are passed in: fewer arguments, which numba checks on every call)."""
    top = len(history) // 2
    first_size, second_size = len(spectrum) - 1, len(second_spectrum) - 1
    done, frames = 0, len(samples)
    while done < frames:
        at = position + done
        take = min(frames - done, first_size - at % first_size)
        _head_and_levels(
            history,
            top + at,
            head,
            tail_blocks,
            level_sizes,
            at,
            samples[done : done + take],
            out[done : done + take],
        )
        done += take
        end = top + position + done
        if ir.shape[1] and (position + done) % first_size == 0:
            _level_partition(
                history[end - 2 * first_size : end],
                line[0],
                line[1],
                row,
                ir[0],
                ir[1],
                sums[0],
                sums[1],
                spectrum,
                work[0, :first_size],
                work[1, :first_size],
                bit_reversed,
                twiddles[0],
                twiddles[1],
                real_twiddles,
                tail_blocks[0],
            )
        if second_ir.shape[1] and (position + done) % second_size == 0:
            _level_partition(
                history[end - 2 * second_size : end],
                second_line[0],
                second_line[1],
                second_row,
                second_ir[0],
                second_ir[1],
                second_sums[0],
                second_sums[1],
                second_spectrum,
                work[0, :second_size],
                work[1, :second_size],
                second_bit_reversed,
                twiddles[0],
                twiddles[1],
                second_real_twiddles,
                tail_blocks[1],
            )


@kernel
def _head_and_levels(
    history: np.ndarray,
    write: int,
    head: np.ndarray,
    tail_blocks: np.ndarray,
    level_sizes: np.ndarray,
    position: int,
    samples: np.ndarray,
    out: np.ndarray,
) -> None:
    """Write ``samples`` into ``history`` at ``write``; their output is the head's direct FIR
    over the latest input plus each level's output, computed ahead. ``history`` holds the
    previous partition, so the FIR's oldest tap is still in it."""
    frames = len(samples)
    for n in range(frames):
        history[write + n] = samples[n]
        out[n] = 0.0
    for level in range(len(level_sizes)):
        size = level_sizes[level]
        ahead = tail_blocks[level, size + position % size : size + position % size + frames]
        for n in range(frames):
            out[n] += ahead[n]
    # y[n] = sum over k of h[k] x[n - k], added tap by tap over the whole chunk (four taps a
    # pass): the inner loop then runs along the samples, which the compiler vectorises.
    taps = len(head)
    k = 0
    while k + 4 <= taps:
        h0, h1, h2, h3 = head[k], head[k + 1], head[k + 2], head[k + 3]
        x0 = history[write - k : write - k + frames]  # x[n - k] for n in the chunk
        x1 = history[write - k - 1 : write - k - 1 + frames]
        x2 = history[write - k - 2 : write - k - 2 + frames]
        x3 = history[write - k - 3 : write - k - 3 + frames]
        for n in range(frames):
            out[n] += h0 * x0[n] + h1 * x1[n] + h2 * x2[n] + h3 * x3[n]
        k += 4
    for last_k in range(k, taps):
        delayed = history[write - last_k : write - last_k + frames]
        for n in range(frames):
            out[n] += head[last_k] * delayed[n]


@kernel
def _level_partition(
    window: np.ndarray,
    line_real: np.ndarray,
    line_imag: np.ndarray,
    row: np.ndarray,
    ir_real: np.ndarray,
    ir_imag: np.ndarray,
    sum_real: np.ndarray,
    sum_imag: np.ndarray,
    spectrum: np.ndarray,
    work_real: np.ndarray,
    work_imag: np.ndarray,
    bit_reversed: np.ndarray,
    twiddle_real: np.ndarray,
    twiddle_imag: np.ndarray,
    real_twiddles: np.ndarray,
    tail_block: np.ndarray,
) -> None:
    """A level's partition boundary, whole: the spectrum of ``window`` (the last 2P
    input samples) enters the delay line, the multiply-accumulate over all the level's
    partitions gives the next output's spectrum, and its inverse FFT the next P samples."""
    _real_fft(window, spectrum, work_real, work_imag, bit_reversed, twiddle_real, twiddle_imag, real_twiddles)
    count = len(ir_real)
    newest = row[0] - 1 if row[0] > 0 else count - 1
    row[0] = newest
    for index in range(len(spectrum)):
        line_real[newest, index] = line_real[newest + count, index] = spectrum[index].real
        line_imag[newest, index] = line_imag[newest + count, index] = spectrum[index].imag
    _multiply_accumulate(
        line_real, line_imag, newest, ir_real, ir_imag, 0, 0, len(spectrum), sum_real, sum_imag
    )
    # Overlap-save: the last P samples of the circular convolution are the linear ones.
    size = len(spectrum) - 1
    _inverse_real_fft_second_half(
        sum_real,
        sum_imag,
        tail_block[size:],
        work_real,
        work_imag,
        bit_reversed,
        twiddle_real,
        twiddle_imag,
        real_twiddles,
    )


@kernel
def _real_fft(
    signal: np.ndarray,
    spectrum: np.ndarray,
    work_real: np.ndarray,
    work_imag: np.ndarray,
    bit_reversed: np.ndarray,
    twiddle_real: np.ndarray,
    twiddle_imag: np.ndarray,
    real_twiddles: np.ndarray,
) -> None:
    """Bins 0 .. N/2 of the FFT of the N real ``signal`` samples, as numpy's rfft, by a complex
    FFT of half the size: z[m] = x[2m] + i x[2m + 1] has Z[k] = E[k] + i O[k], the spectra of
    the even and the odd samples, and X[k] = E[k] + exp(-2 pi i k / N) O[k]."""
    half = len(work_real)
    for m in range(half):
        work_real[bit_reversed[m]] = signal[2 * m]
        work_imag[bit_reversed[m]] = signal[2 * m + 1]
    _fft(work_real, work_imag, twiddle_real, twiddle_imag)
    for k in range(half + 1):
        z = complex(work_real[k % half], work_imag[k % half])
        mirror = complex(work_real[(half - k) % half], -work_imag[(half - k) % half])
        even = 0.5 * (z + mirror)
        odd = -0.5j * (z - mirror)
        spectrum[k] = even + real_twiddles[k] * odd


@kernel
def _inverse_real_fft_second_half(
    spectrum_real: np.ndarray,
    spectrum_imag: np.ndarray,
    out: np.ndarray,
    work_real: np.ndarray,
    work_imag: np.ndarray,
    bit_reversed: np.ndarray,
    twiddle_real: np.ndarray,
    twiddle_imag: np.ndarray,
    real_twiddles: np.ndarray,
) -> None:
    """The second half of numpy's irfft of bins 0 .. N/2 (their real and imaginary planes), by
    ``_real_fft`` backwards: Z[k] = E[k] + i O[k] from E[k] = (X[k] + conj X[N/2 - k]) / 2 and
    O[k] = (X[k] - conj X[N/2 - k]) exp(2 pi i k / N) / 2, then an inverse FFT of half the size
    (the conjugate of the FFT of the conjugate) gives x[2m] + i x[2m + 1]. The imaginary parts
    of bins 0 and N/2 are left out, as irfft does."""
    half = len(work_real)
    for k in range(half):
        value = complex(spectrum_real[k], spectrum_imag[k] if k else 0.0)
        mirror = complex(spectrum_real[half - k], -spectrum_imag[half - k] if k else 0.0)
        even = 0.5 * (value + mirror)
        odd = 0.5 * (value - mirror) * real_twiddles[k].conjugate()
        both = even + 1j * odd
        work_real[bit_reversed[k]] = both.real
        work_imag[bit_reversed[k]] = -both.imag
    _fft(work_real, work_imag, twiddle_real, twiddle_imag)
    for m in range(half // 2, half):
        out[2 * m - half] = work_real[m] / half
        out[2 * m + 1 - half] = -work_imag[m] / half


@kernel
def _fft(real: np.ndarray, imag: np.ndarray, twiddle_real: np.ndarray, twiddle_imag: np.ndarray) -> None:
    """In-place radix-2 FFT (decimation in time) of a power-of-two length whose input is in
    bit-reversed order, the textbook's: butterflies over spans 1, 2, 4, ... (``_fft_tables``;
    spans 1 and 2, whose twiddles are 1 and -i, written out).
    Real and imaginary parts in arrays of their own, so that the butterflies of a span vectorise."""
    size = len(real)
    for start in range(0, size - 1, 2):  # span 1: its twiddle is 1
        a_real, a_imag, b_real, b_imag = real[start], imag[start], real[start + 1], imag[start + 1]
        real[start], imag[start] = a_real + b_real, a_imag + b_imag
        real[start + 1], imag[start + 1] = a_real - b_real, a_imag - b_imag
    for start in range(0, size - 3, 4):  # span 2: its twiddles are 1 and -i
        a_real, a_imag, b_real, b_imag = real[start], imag[start], real[start + 2], imag[start + 2]
        real[start], imag[start] = a_real + b_real, a_imag + b_imag
        real[start + 2], imag[start + 2] = a_real - b_real, a_imag - b_imag
        a_real, a_imag, b_real, b_imag = real[start + 1], imag[start + 1], real[start + 3], imag[start + 3]
        real[start + 1], imag[start + 1] = a_real + b_imag, a_imag - b_real  # a + (-i) b
        real[start + 3], imag[start + 3] = a_real - b_imag, a_imag + b_real
    half = 4
    while half < size:
        w_real, w_imag = twiddle_real[half - 1 : 2 * half - 1], twiddle_imag[half - 1 : 2 * half - 1]
        for start in range(0, size, 2 * half):
            low_real, low_imag = real[start : start + half], imag[start : start + half]
            high_real, high_imag = (
                real[start + half : start + 2 * half],
                imag[start + half : start + 2 * half],
            )
            for k in range(half):
                turned_real = w_real[k] * high_real[k] - w_imag[k] * high_imag[k]
                turned_imag = w_real[k] * high_imag[k] + w_imag[k] * high_real[k]
                high_real[k] = low_real[k] - turned_real
                high_imag[k] = low_imag[k] - turned_imag
                low_real[k] = low_real[k] + turned_real
                low_imag[k] = low_imag[k] + turned_imag
        half *= 2


@kernel
def _multiply_accumulate(
    line_real: np.ndarray,
    line_imag: np.ndarray,
    newest_row: int,
    tail_real: np.ndarray,
    tail_imag: np.ndarray,
    first_partition: int,
    low: int,
    high: int,
    sum_real: np.ndarray,
    sum_imag: np.ndarray,
) -> None:
    """Bins ``low`` .. ``high - 1`` of the sum over j of spectrum j (newest first, from
    ``newest_row``) times IR partition ``first_partition + j``, into ``sum_*``."""
    bins = high - low
    real, imag = sum_real[low:high], sum_imag[low:high]
    real[:] = 0.0
    imag[:] = 0.0
    for j in range(len(tail_real) - first_partition):
        row, partition = newest_row + j, first_partition + j
        x_real, x_imag = line_real[row, low:high], line_imag[row, low:high]
        h_real, h_imag = tail_real[partition, low:high], tail_imag[partition, low:high]
        # Along contiguous bins from 0, one written array per loop: vectorised (with both sums
        # in one loop, or indices from ``low``, the compiler stays scalar).
        for index in range(bins):
            xr, xi, hr, hi = x_real[index], x_imag[index], h_real[index], h_imag[index]
            real[index] += xr * hr - xi * hi
            imag[index] += xr * hi + xi * hr


@kernel
def _push_spectrum(
    spectrum: np.ndarray,
    line_real: np.ndarray,
    line_imag: np.ndarray,
    row: int,
    tail_real: np.ndarray,
    tail_imag: np.ndarray,
    ahead_real: np.ndarray,
    ahead_imag: np.ndarray,
    total: np.ndarray,
) -> None:
    """A partition is complete and ``spectrum`` is its FFT: it enters the delay line at
    ``row`` (and its mirror), and ``total`` becomes the next output's spectrum."""
    count = line_real.shape[0] // 2
    for index in range(len(spectrum)):
        real, imag = spectrum[index].real, spectrum[index].imag
        line_real[row, index] = line_real[row + count, index] = real
        line_imag[row, index] = line_imag[row + count, index] = imag
        # The newest spectrum meets the level's first partition; the older ones' terms were
        # summed ahead (zero while the level has only one partition).
        total[index] = spectrum[index] * complex(tail_real[0, index], tail_imag[0, index]) + complex(
            ahead_real[index], ahead_imag[index]
        )


@kernel
def _shift_history(history: np.ndarray) -> None:
    """The current partition becomes the previous one."""
    size = len(history) // 2
    for n in range(size):
        history[n] = history[size + n]


class Convolver(Node):
    """Convolution reverb with zero latency at any block size.

    The IR is cut at 128, 1024 and 8192 samples (``PARTITION_SIZES``): a direct FIR for the
    first 128 taps, then overlap-save FFT convolution in partitions of 128, 1024 and 8192
    samples for the rest (see the module doc); latency is zero samples. On one core a 2 s IR
    at 48 kHz costs about 12 µs a block at block 64, 37 µs at 256 and 135 µs at 1024, under
    half of what one level of 512-sample partitions cost (25, 88 and 316 µs): the tail's
    complex multiply-adds per sample fell from 187 to 25, the head's FIR from 512 taps to 128,
    and the two smaller levels run whole inside the head's kernel, FFTs included. The largest
    level's multiply-accumulate is spread evenly over its partition's blocks; what is left at
    its boundary, two 16384-point FFTs every 8192 samples, makes that one block in 128 at block
    64 cost about 330 µs, a quarter of the block's 1333 µs (one level of 512 had a block in 8
    of about 60 µs). An IR changed offline
    (``param_changed``) keeps the input history, so the new IR takes over at once without a
    gap; live, the new IR's convolver is built off the audio thread and starts from silence,
    and the engine glides the output across the change.
    ``impulse_response`` holds the IR in use (at the engine's rate, after normalisation).
    """

    TYPE = "convolver"
    FAMILY = "convolution"
    DOC = "Convolution reverb (zero latency) with a generated noise room or an impulse-response file."
    INPUTS = ("in",)
    OUTPUTS = ("out",)
    #: Params that define the IR, per source; changing one rebuilds it.
    IR_PARAMS = {
        "room": frozenset(("source", "room_length_s", "decay_s", "damping", "seed", "normalize")),
        "file": frozenset(("source", "file", "normalize")),
    }
    PARAMS = {
        "source": Param(
            "room",
            kind="choice",
            choices=("room", "file"),
            doc="room: an IR generated from the room params; file: the IR file in 'file'.",
        ),
        "file": Param(
            "",
            kind="path",
            doc="IR audio file, relative to the patch file: its first channel, resampled to the "
            "engine's rate; empty for no wet signal.",
        ),
        "room_length_s": Param(1.5, 0.05, 10.0, "s", "Length of the generated room IR.", scale="log"),
        "decay_s": Param(
            1.0, 0.05, 30.0, "s", "Room decay time (RT60): the level falls 60 dB over this time.", scale="log"
        ),
        "damping": Param(
            0.5, 0.0, 1.0, "", "How much faster the room's highs (above 3 kHz) decay: 0 none, 1 ten times."
        ),
        "seed": Param(
            0, 0, 1000000, "", "Seed of the room's noise: each seed is a different room.", kind="int"
        ),
        "normalize": Param(
            "energy",
            kind="choice",
            choices=NORMALIZE_MODES,
            doc="none: the IR as it is; peak: largest sample 1; energy: sum of squares 1, so "
            "white noise keeps its level.",
        ),
        "mix": Param(1.0, 0.0, 1.0, "", "Dry/wet: 0 only the input, 1 only the reverb.", modulatable=True),
        "output_db": Param(0.0, -60.0, 12.0, "dB", "Level of the mixed output.", modulatable=True),
    }

    def prepare(self, sample_rate: int, max_block: int) -> None:
        self.sample_rate = sample_rate
        self.convolver = PartitionedConvolver(self._build_impulse_response())
        #: The caller's thread's last build: (the IR params it was for, (convolver, IR)).
        self._last_prepared: tuple[tuple, tuple[PartitionedConvolver, np.ndarray]] | None = None
        super().prepare(sample_rate, max_block)

    def reset(self) -> None:
        self.convolver.reset()

    def param_changed(self, name: str, value: Any) -> None:
        super().param_changed(name, value)
        if name in self.IR_PARAMS[self.params["source"]]:
            self.convolver.set_impulse_response(self._build_impulse_response())

    def prepare_change(self, name: str, value: Any, params: Mapping[str, Any]) -> Any:
        """Build the new IR and a convolver for it here, off the audio thread, from every
        param as it will be (two IR params changed back to back both count). Changes that
        lead to the same IR (one edit changing two of its params) share one build."""
        if name not in self.IR_PARAMS[params["source"]]:
            return None
        key = self._build_key(params)
        if self._last_prepared is None or self._last_prepared[0] != key:
            impulse_response = self._impulse_response_for(params)
            self._last_prepared = key, (PartitionedConvolver(impulse_response), impulse_response)
        return self._last_prepared[1]

    def _build_key(self, params: Mapping[str, Any]) -> tuple:
        """What the IR depends on: its params, and for a file its size and time on disk (an IR
        edited elsewhere and chosen again is read again)."""
        key = tuple((name, params[name]) for name in sorted(self.IR_PARAMS[params["source"]]))
        if params["source"] == "file" and params["file"]:
            try:
                status = (Path(self.patch_dir) / params["file"]).stat()
            except OSError:
                return key  # reading it will say what is wrong
            key += ((status.st_size, status.st_mtime_ns),)
        return key

    def install_change(self, name: str, value: Any, prepared: Any) -> None:
        """Swap in the prepared convolver: live, a new IR starts from silence (its tail is
        not carried over, which would mean re-transforming the history on the audio thread)."""
        Node.param_changed(self, name, value)
        if prepared is not None:
            self.convolver, self.impulse_response = prepared

    def _build_impulse_response(self) -> np.ndarray:
        """The IR for the current params at the engine's rate; sets ``impulse_response``."""
        self.impulse_response = self._impulse_response_for(self.params)
        return self.impulse_response

    def _impulse_response_for(self, params: Mapping[str, Any]) -> np.ndarray:
        """The IR for ``params`` at the engine's rate, normalised and read-only."""
        if params["source"] == "file":
            raw = self._read_file(params["file"])
        else:
            raw = room_impulse_response(
                self.sample_rate,
                params["room_length_s"],
                params["decay_s"],
                params["damping"],
                params["seed"],
            )
        impulse_response = normalize_impulse_response(raw, params["normalize"])
        impulse_response.flags.writeable = False
        return impulse_response

    def _read_file(self, file: str) -> np.ndarray:
        if not file:
            return np.zeros(1)
        path = Path(self.patch_dir) / file
        # From the header first: a long file is refused before a sample is decoded.
        self._check_length(path, audio_info(path).seconds)
        impulse_response = read_audio(path, self.sample_rate, channels=1)[:, 0]
        if len(impulse_response) == 0:
            raise ValueError(f"impulse response file {path} holds no samples; choose another file")
        self._check_length(path, len(impulse_response) / self.sample_rate)  # as decoded and resampled
        return impulse_response

    @staticmethod
    def _check_length(path: Path, seconds: float) -> None:
        if seconds > MAX_IR_SECONDS:
            raise ValueError(
                f"impulse response file {path} is {seconds:.1f} s long; "
                f"the convolver takes at most {MAX_IR_SECONDS:g} s, so trim the file"
            )

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        dry, out = inputs["in"], outputs["out"]
        self.convolver.process(dry, out)
        mix, mix_value = signal_and_value(params["mix"])
        output_db, output_db_value = signal_and_value(params["output_db"])
        _mix_dry_and_wet(dry, mix, mix_value, output_db, output_db_value, out)


@kernel
def _mix_dry_and_wet(
    dry: np.ndarray,
    mix: np.ndarray,
    mix_value: float,
    output_db: np.ndarray,
    output_db_value: float,
    out: np.ndarray,
) -> None:
    """``out`` (the wet signal) becomes wet x mix + dry x (1 - mix), at ``output_db``."""
    level_db, gain = np.nan, 1.0
    for n in range(len(out)):
        if at(output_db, output_db_value, n) != level_db:  # a power per change, not per sample
            level_db = at(output_db, output_db_value, n)
            gain = 10.0 ** (level_db / 20.0)
        wet_share = at(mix, mix_value, n)
        out[n] = out[n] * (wet_share * gain) + dry[n] * ((1.0 - wet_share) * gain)
