"""The reference chain as a plain numpy/scipy script: what a careful user writes without a patcher.

Vectorized per block: lfilter with carried state for the low-pass, a ring buffer read with
linear interpolation for the chorus, a block-wise feedback delay for the echo, and a
uniformly partitioned FFT convolution (partitions of 1024, so it adds 1024 samples of latency,
as pyo's CvlVerb and Pd's partconv~ 1024 do).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import lfilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.chains import common

RATE = common.SAMPLE_RATE
PARTITION = 1024


def lowpass_coefficients() -> tuple[np.ndarray, np.ndarray]:
    w0 = 2 * np.pi * common.CUTOFF_HZ / RATE
    alpha = np.sin(w0) / (2 * common.Q)
    b = np.array([(1 - np.cos(w0)) / 2, 1 - np.cos(w0), (1 - np.cos(w0)) / 2])
    a = np.array([1 + alpha, -2 * np.cos(w0), 1 - alpha])
    return b / a[0], a / a[0]


class Convolver:
    def __init__(self, impulse_response: np.ndarray) -> None:
        count = -(-len(impulse_response) // PARTITION)
        padded = np.zeros((count, 2 * PARTITION))
        padded[:, :PARTITION] = np.resize(
            np.pad(impulse_response, (0, count * PARTITION - len(impulse_response))), (count, PARTITION)
        )
        self.spectra = np.fft.rfft(padded, axis=1)
        self.history = np.zeros_like(self.spectra)
        self.window = np.zeros(2 * PARTITION)
        self.pending = np.zeros(0)
        self.ready = np.zeros(0)

    def process(self, block: np.ndarray) -> np.ndarray:
        self.pending = np.concatenate([self.pending, block])
        while len(self.pending) >= PARTITION:
            self.window[:PARTITION] = self.window[PARTITION:]
            self.window[PARTITION:] = self.pending[:PARTITION]
            self.pending = self.pending[PARTITION:]
            self.history = np.roll(self.history, 1, axis=0)
            self.history[0] = np.fft.rfft(self.window)
            out = np.fft.irfft(np.sum(self.history * self.spectra, axis=0))[PARTITION:]
            self.ready = np.concatenate([self.ready, out])
        out = np.zeros(len(block))
        take = min(len(block), len(self.ready))
        out[len(block) - take :] = self.ready[:take]
        self.ready = self.ready[take:]
        return out


def main() -> None:
    args = common.arguments()
    block = args.block
    rng = np.random.default_rng(1)
    b, a = lowpass_coefficients()
    state = np.zeros(2)
    line = np.zeros(1 << 16)
    mask = len(line) - 1
    written = 0
    lfo_phase = 0.0
    echo_line = np.zeros(1 << 16)
    echo_delay = round(common.ECHO_MS * RATE / 1000)
    convolver = Convolver(soundfile.read(args.ir)[0]) if args.ir else None
    offsets = np.arange(block)
    blocks = round(args.seconds * RATE / block)
    warm = round(0.5 * RATE / block)
    peak = 0.0
    started = 0.0
    for number in range(warm + blocks):
        if number == warm:
            started = time.process_time()
        x = rng.random(block) * 2 - 1
        x = np.tanh(x * common.GAIN)
        x, state = lfilter(b, a, x, zi=state)
        # chorus: write, then read behind the write position at a moving fractional delay
        index = (written + offsets) & mask
        line[index] = x
        phases = lfo_phase + offsets * (common.CHORUS_RATE_HZ / RATE)
        lfo_phase = (lfo_phase + block * common.CHORUS_RATE_HZ / RATE) % 1.0
        delay = (common.CHORUS_MS + common.CHORUS_DEPTH_MS * np.sin(2 * np.pi * phases)) * RATE / 1000
        position = written + offsets - delay
        whole = np.floor(position)
        fraction = position - whole
        whole = whole.astype(np.int64)
        read = line[whole & mask] * (1 - fraction) + line[(whole + 1) & mask] * fraction
        x = (1 - common.CHORUS_MIX) * x + common.CHORUS_MIX * read
        # echo: a fixed delay longer than the block, with feedback
        delayed = echo_line[(written + offsets - echo_delay) & mask]
        echo_line[index] = x + common.ECHO_FEEDBACK * delayed
        x = (1 - common.ECHO_MIX) * x + common.ECHO_MIX * delayed
        written += block
        if convolver is not None:
            x = convolver.process(x)
        peak = max(peak, float(np.max(np.abs(x))))
    common.report(started, peak)


if __name__ == "__main__":
    main()
