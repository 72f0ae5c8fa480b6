"""Convolution: a zero-latency partitioned convolver with a generated room or an IR file.

The convolver splits the impulse response (IR) at a fixed partition size P:

* the head, ``IR[:P]``, runs as a direct FIR over the last input samples, so every output
  sample is ready in the same block as its input;
* the tail, ``IR[P:]``, runs as uniformly partitioned overlap-save FFT convolution: each time
  P new input samples have arrived, their spectrum enters a frequency-domain delay line and a
  complex multiply-accumulate over all tail partitions yields the *next* P tail samples. The
  tail's earliest tap is P samples late anyway, so it adds no latency.

The multiply-accumulate is spread out, so that no block pays for a whole partition: all of it
but the newest spectrum's term is known a partition ahead, and is computed in ``TAIL_SLICES``
slices of frequency bins while the next P samples arrive (one slice per P / TAIL_SLICES = 64
samples). At the partition boundary only the newest term, an FFT and an inverse FFT remain.

The split depends only on how many samples have arrived, never on the engine's block size, so
the output is the same at any block size (down to one sample) and has zero samples of latency.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from patcher.audiofile import audio_info, read_audio
from patcher.kernels import at, kernel, signal_and_value
from patcher.spec import Node, Param

Signals = Mapping[str, np.ndarray]

#: Internal partition size: the head's FIR length and the tail's FFT hop (FFT size 2P).
#: 512 balances the head's direct FIR (cost grows with P) against the tail's multiply-adds
#: (cost per second grows with IR length / P); see ``Convolver`` for measured speed.
PARTITION_SIZE = 512
#: The tail's multiply-accumulate is spread over this many slices per partition.
TAIL_SLICES = 8
#: Longer IR files are refused: the frequency-domain delay line would take hundreds of MB.
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
    """Zero-latency convolution of a stream with an IR: direct-FIR head, FFT-partitioned tail.

    ``process`` may be called with any number of samples; the result equals
    ``scipy.signal.fftconvolve(stream, impulse_response)[:len(stream)]``. The FFTs are numpy's
    (pocketfft); the head's FIR, the tail's multiply-accumulate and the bookkeeping are kernels.
    Spectra are kept as separate real and imaginary planes, a row per partition, so that the
    multiply-accumulate runs along contiguous bins, four at a time (numpy's batched complex
    matmul took four times as long).
    """

    def __init__(self, impulse_response: np.ndarray, partition_size: int = PARTITION_SIZE) -> None:
        self.partition_size = partition_size
        self.spectra_count = 0
        # [previous partition | current partition]: the head's history and the FFT's input.
        self.input_buffer = np.zeros(2 * partition_size)
        self.line_real = self.line_imag = None
        self._load(impulse_response)
        self.reset()

    def set_impulse_response(self, impulse_response: np.ndarray) -> None:
        """Swap the IR without losing the input history: the next sample uses the new IR."""
        old_real, old_imag = self.line_real, self.line_imag
        old_count, old_row = self.spectra_count, self.write_row
        self._load(impulse_response)
        if old_count != self.spectra_count:
            kept = min(old_count, self.spectra_count)
            self.line_real, self.line_imag = self._new_line()
            self.write_row = 0
            for new, old in ((self.line_real, old_real), (self.line_imag, old_imag)):
                newest = old[old_row : old_row + kept]
                new[:kept] = newest
                new[self.spectra_count : self.spectra_count + kept] = newest
        self._compute_tail()

    def _load(self, impulse_response: np.ndarray) -> None:
        """Split the IR into the head's taps and the tail partitions' spectra."""
        size = self.partition_size
        impulse_response = np.asarray(impulse_response, dtype=float).ravel()
        if len(impulse_response) == 0:
            impulse_response = np.zeros(1)
        #: The head's taps h[0] .. h[P - 1] (fewer for a shorter IR), for the direct FIR.
        self.head = impulse_response[:size].copy()
        tail = impulse_response[size:]
        self.spectra_count = -(-len(tail) // size)
        partitions = np.zeros(self.spectra_count * size)
        partitions[: len(tail)] = tail
        padded = np.zeros((self.spectra_count, 2 * size))
        padded[:, :size] = partitions.reshape(-1, size)  # row j holds IR[P + jP : P + (j+1)P]
        spectra = np.fft.rfft(padded, axis=1)  # (partition, bin)
        self.tail_real = np.ascontiguousarray(spectra.real)
        self.tail_imag = np.ascontiguousarray(spectra.imag)
        self.spectrum = np.empty(size + 1, dtype=complex)
        #: The next tail's spectrum, whole, at a partition boundary.
        self.next_tail_spectrum = np.zeros(size + 1, dtype=complex)
        self.tail_block = np.zeros(2 * size)
        #: The next P tail samples: overlap-save keeps the last P of the inverse FFT's 2P.
        self.tail_output = self.tail_block[size:]
        #: The next tail's spectrum but for the newest partition's term, summed ahead by slices
        #: of bins: slice i covers bins bin_bounds[i] .. bin_bounds[i + 1] - 1.
        self.ahead_real = np.zeros(size + 1)
        self.ahead_imag = np.zeros(size + 1)
        self.bin_bounds = np.linspace(0, size + 1, TAIL_SLICES + 1).astype(int)
        self.slice_length = max(1, size // TAIL_SLICES)
        self.slices_done = 0

    def _new_line(self) -> tuple[np.ndarray, np.ndarray]:
        shape = (2 * self.spectra_count, self.partition_size + 1)
        return np.zeros(shape), np.zeros(shape)

    def reset(self) -> None:
        self.input_buffer.fill(0.0)
        self.position = 0
        # Frequency-domain delay line, (2 x partitions, bin): a mirrored ring where each input
        # spectrum is written at rows r and r + count, so rows write_row .. write_row + count - 1
        # always hold the spectra newest first, without copying.
        shape = (2 * self.spectra_count, self.partition_size + 1)
        if self.line_real is None or self.line_real.shape != shape:
            self.line_real, self.line_imag = self._new_line()
        # Zeroed in place, which also maps its pages now rather than in an audio callback.
        self.line_real.fill(0.0)
        self.line_imag.fill(0.0)
        self.write_row = 0
        self.tail_block.fill(0.0)
        self.ahead_real.fill(0.0)
        self.ahead_imag.fill(0.0)
        self.slices_done = 0

    def process(self, samples: np.ndarray, out: np.ndarray) -> None:
        """Write the convolution of ``samples`` (continuing the stream) into ``out``."""
        size = self.partition_size
        start, total = 0, len(samples)
        while start < total:
            take = min(total - start, size - self.position)
            self._sum_slices_due_before(self.position + take)
            stop = start + take
            _convolve_chunk(
                self.input_buffer,
                self.position,
                self.head,
                self.tail_output,
                samples[start:stop],
                out[start:stop],
            )
            self.position += take
            if self.position == size:
                self._next_partition()
            start = stop

    def _sum_slices_due_before(self, position: int) -> None:
        """Compute the slices of the next tail that fall before ``position`` in the partition
        (slice i falls at i x slice_length), so each block does its share whatever its size."""
        if self.spectra_count < 2:
            return
        due = self.slices_done
        while due < TAIL_SLICES and due * self.slice_length < position:
            due += 1
        if due > self.slices_done:
            # Newest first, the spectrum in row r meets IR partition r + 1 at the next boundary.
            low, high = self.bin_bounds[self.slices_done], self.bin_bounds[due]
            self._multiply_accumulate(first_partition=1, low=low, high=high)
            self.slices_done = due

    def _multiply_accumulate(self, first_partition: int, low: int, high: int) -> None:
        _multiply_accumulate(
            self.line_real,
            self.line_imag,
            self.write_row,
            self.tail_real,
            self.tail_imag,
            first_partition,
            low,
            high,
            self.ahead_real,
            self.ahead_imag,
        )

    def _next_partition(self) -> None:
        """P samples are in: push their spectrum and finish the next P tail samples."""
        size, count = self.partition_size, self.spectra_count
        if count:
            self._sum_slices_due_before(TAIL_SLICES * self.slice_length)  # any left (tiny P)
            self.write_row = (self.write_row - 1) % count
            np.fft.rfft(self.input_buffer, out=self.spectrum)
        _push_partition(
            self.input_buffer,
            self.spectrum,
            self.line_real,
            self.line_imag,
            self.write_row,
            self.tail_real,
            self.tail_imag,
            self.ahead_real,
            self.ahead_imag,
            self.next_tail_spectrum,
        )
        if count:
            np.fft.irfft(self.next_tail_spectrum, 2 * size, out=self.tail_block)
            self.slices_done = 0
        self.position = 0

    def _compute_tail(self) -> None:
        """Tail output for the current partition, all at once: sum over partitions of spectrum x
        IR part (after an IR change; the running path spreads this work, see the module doc)."""
        if not self.spectra_count:
            return
        self._multiply_accumulate(first_partition=0, low=0, high=self.partition_size + 1)
        self.next_tail_spectrum.real = self.ahead_real
        self.next_tail_spectrum.imag = self.ahead_imag
        np.fft.irfft(self.next_tail_spectrum, 2 * self.partition_size, out=self.tail_block)
        self.ahead_real.fill(0.0)
        self.ahead_imag.fill(0.0)
        self.slices_done = 0  # the slices summed so far used the old IR


@kernel
def _convolve_chunk(
    history: np.ndarray,
    position: int,
    head: np.ndarray,
    tail: np.ndarray,
    samples: np.ndarray,
    out: np.ndarray,
) -> None:
    """Append ``samples`` to the current partition (at ``position``) and write their output:
    the head's direct FIR over the latest input, plus the tail computed a partition ahead.

    ``history`` is [previous partition | current partition], so the FIR's oldest tap, P - 1
    samples back, is still in it.
    """
    write = len(history) // 2 + position
    frames = len(samples)
    for n in range(frames):
        history[write + n] = samples[n]
        out[n] = tail[position + n]
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
def _push_partition(
    history: np.ndarray,
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
    ``row`` (and its mirror), and ``total`` becomes the next tail's spectrum. The partition
    then becomes the previous one in ``history``."""
    count = line_real.shape[0] // 2
    if count:
        for index in range(len(spectrum)):
            real, imag = spectrum[index].real, spectrum[index].imag
            line_real[row, index] = line_real[row + count, index] = real
            line_imag[row, index] = line_imag[row + count, index] = imag
            # The newest spectrum meets the tail's first partition; the older ones' terms were
            # summed ahead (zero while there is only one tail partition).
            total[index] = spectrum[index] * complex(tail_real[0, index], tail_imag[0, index]) + complex(
                ahead_real[index], ahead_imag[index]
            )
    size = len(history) // 2
    for n in range(size):
        history[n] = history[size + n]


class Convolver(Node):
    """Convolution reverb with zero latency at any block size.

    The IR is split at ``PARTITION_SIZE`` (512) samples: a direct FIR for the head and
    uniformly partitioned overlap-save FFT convolution for the rest; latency is zero samples.
    On one core a 2 s IR at 48 kHz runs about 80 times faster than real time at blocks 64 and
    256. Most of that time is the tail's FFTs (numpy's pocketfft) and multiply-accumulate (a
    kernel; for a long IR it waits on memory: 3 MB of spectra per partition at 2 s); the head's
    FIR and the bookkeeping are kernels too, which took a fifth off a block at block 64. The tail's
    work is spread evenly over each partition's blocks, so at block 64 the slowest block in a
    hundred costs under three times the mean (six times when every 8th block did it all). An IR
    changed offline (``param_changed``) keeps the input history, so the new IR takes over at
    once without a gap; live, the new IR's convolver is built off the audio thread and starts
    from silence, and the engine glides the output across the change.
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
