"""Meters: a triggered oscilloscope and a spectrum analyser you can put on any signal.

Both are sinks with one input and no outputs: the compiler keeps them (and everything feeding
them) even with no path to an ``output``. While playing, ``process`` only copies each block
into a ring buffer (a compiled kernel: no allocation); the picture is computed from outside
the audio thread, so the analysis lives with the node and the editor draws what it is given.

Both implement the node *view* channel: ``view()`` returns one bounded 1-D float64 array (the
scope's triggered waveform, min/max-decimated to at most ``SCOPE_VIEW_POINTS``; the
spectrum's level in dB per bin, DC left out, at most ``SPECTRUM_VIEW_BINS``), which is what
:meth:`patcher.player.Player.node_view` and :meth:`patcher.server.EngineProcess.node_view`
hand to the editor, in this process or across the process boundary through shared memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from patcher.kernels import kernel
from patcher.spec import Node, Param

Signals = Mapping[str, np.ndarray]

#: Samples kept by every meter: the longest scope window (a second) and the search for its trigger.
HISTORY = 1 << 18  # 5.5 s at 48 kHz: a scope's longest window twice over, at 96 kHz too
FFT_SIZES = ("1024", "2048", "4096", "8192", "16384")
#: Below this level a spectrum bin is drawn at the floor.
SPECTRUM_FLOOR_DB = -120.0
#: The longest scope view: longer windows are decimated into (min, max) pairs.
SCOPE_VIEW_POINTS = 4096
#: The longest spectrum view: ``fft_size // 2`` bins (DC left out) of the largest FFT.
SPECTRUM_VIEW_BINS = max(int(size) for size in FFT_SIZES) // 2
#: The longest view of any node type (the size of a view slot in shared memory).
MAX_VIEW_LENGTH = max(SCOPE_VIEW_POINTS, SPECTRUM_VIEW_BINS)


class _Recorder(Node):
    """Keeps the latest ``HISTORY`` samples of its input in a ring buffer."""

    INPUTS = ("in",)
    OUTPUTS = ()
    IS_SINK = True

    def prepare(self, sample_rate: int, max_block: int) -> None:
        self.history = np.zeros(HISTORY)
        super().prepare(sample_rate, max_block)

    def reset(self) -> None:
        self.history.fill(0.0)
        #: Samples written so far (the ring position is ``written % HISTORY``).
        self.written = 0

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        signal = inputs["in"]
        _write_ring(self.history, self.written % HISTORY, signal)
        self.written += len(signal)

    def latest(self, frames: int) -> np.ndarray:
        """The last ``frames`` samples in time order (a copy; called outside the audio thread)."""
        frames = min(frames, HISTORY)
        end = self.written % HISTORY
        if frames <= end:
            return self.history[end - frames : end].copy()
        return np.concatenate((self.history[HISTORY - (frames - end) :], self.history[:end]))


@kernel
def _write_ring(ring: np.ndarray, start: int, signal: np.ndarray) -> None:
    """Copy ``signal`` into ``ring`` from index ``start`` on, wrapping round at its end."""
    index = start
    for sample in signal:
        ring[index] = sample
        index += 1
        if index == len(ring):
            index = 0


class Scope(_Recorder):
    TYPE = "scope"
    FAMILY = "meters"
    DOC = "Oscilloscope: shows the latest stretch of its input, triggered on a rising edge."
    PARAMS = {
        "time_ms": Param(20.0, 1.0, 1000.0, "ms", "Length of signal shown across the screen.", scale="log"),
        "trigger": Param(
            "rising",
            kind="choice",
            choices=("rising", "falling", "free"),
            doc="rising/falling: start the picture where the signal crosses trigger_level; "
            "free: show the latest samples as they come (the picture runs).",
        ),
        "trigger_level": Param(0.0, -1.0, 1.0, "", "Level the signal crosses to trigger the picture."),
    }

    def triggered_waveform(self) -> np.ndarray:
        """``time_ms`` of signal starting at the latest trigger that leaves a full window."""
        window = max(2, round(self.params["time_ms"] * self.sample_rate / 1000.0))
        # Read no closer to the ring's write position than a block: the audio thread may be
        # writing the next one meanwhile.
        window = min(window, (HISTORY - self.max_block) // 2)
        recent = self.latest(2 * window)
        return trigger_window(recent, window, self.params["trigger"], self.params["trigger_level"])

    def view(self) -> np.ndarray:
        """The triggered waveform, at most ``SCOPE_VIEW_POINTS`` long (peaks kept)."""
        return min_max_decimate(self.triggered_waveform(), SCOPE_VIEW_POINTS)


def min_max_decimate(signal: np.ndarray, points: int) -> np.ndarray:
    """``signal`` as at most ``points`` values: each slice of it becomes its minimum and its
    maximum, in the order they occur, so peaks and the envelope survive (float64)."""
    signal = np.asarray(signal, dtype=np.float64)
    if len(signal) <= points:
        return signal.copy()
    size = -(-len(signal) // (points // 2))  # samples per (min, max) pair
    chunks = -(-len(signal) // size)
    padded = np.pad(signal, (0, chunks * size - len(signal)), mode="edge").reshape(chunks, size)
    low, high = padded.argmin(axis=1), padded.argmax(axis=1)
    rows = np.arange(chunks)
    first = np.where(low <= high, padded[rows, low], padded[rows, high])
    second = np.where(low <= high, padded[rows, high], padded[rows, low])
    return np.column_stack((first, second)).reshape(-1)


def trigger_window(recent: np.ndarray, window: int, mode: str, level: float) -> np.ndarray:
    """The last ``window`` samples of ``recent`` that start at a ``mode`` crossing of ``level``."""
    if mode == "free" or len(recent) < window + 1:
        return recent[-window:]
    search = recent[: len(recent) - window + 1]
    before, after = search[:-1], search[1:]
    if mode == "rising":
        crossings = np.flatnonzero((before < level) & (after >= level))
    else:
        crossings = np.flatnonzero((before > level) & (after <= level))
    if len(crossings) == 0:
        return recent[-window:]
    start = int(crossings[-1]) + 1
    return recent[start : start + window]


class Spectrum(_Recorder):
    TYPE = "spectrum"
    FAMILY = "meters"
    DOC = "Spectrum analyser: the level of its input against frequency (Hann-windowed FFT, log axis)."
    PARAMS = {
        "fft_size": Param(
            "4096",
            kind="choice",
            choices=FFT_SIZES,
            doc="Samples per analysis: larger resolves lower notes, smaller follows changes faster.",
        ),
        "floor_db": Param(-100.0, -120.0, -20.0, "dB", "Lowest level drawn."),
    }

    def spectrum_db(self) -> tuple[np.ndarray, np.ndarray]:
        """(frequencies in Hz, level in dBFS) of the latest ``fft_size`` samples, DC left out."""
        size = int(self.params["fft_size"])
        return magnitude_spectrum_db(self.latest(size), self.sample_rate, self.params["floor_db"])

    def view(self) -> np.ndarray:
        """The level in dBFS of bins 1 to ``fft_size // 2`` of the latest FFT: bin ``k`` of the
        view is at ``(k + 1) * sample_rate / fft_size`` Hz, where ``fft_size`` is twice its length."""
        return np.asarray(self.spectrum_db()[1], dtype=np.float64)[:SPECTRUM_VIEW_BINS]


def view_frequencies(bins: int, sample_rate: float) -> np.ndarray:
    """The frequency in Hz of each bin of a spectrum view of ``bins`` bins."""
    return np.arange(1, bins + 1) * (sample_rate / (2.0 * bins))


def magnitude_spectrum_db(
    samples: np.ndarray, sample_rate: float, floor_db: float = SPECTRUM_FLOOR_DB
) -> tuple[np.ndarray, np.ndarray]:
    """Hann-windowed magnitude spectrum in dB, scaled so a full-scale sine reads 0 dB."""
    size = len(samples)
    window = np.hanning(size)
    magnitude = np.abs(np.fft.rfft(samples * window)) * (2.0 / max(window.sum(), 1e-12))
    frequencies = np.fft.rfftfreq(size, 1.0 / sample_rate)
    level = 20.0 * np.log10(np.maximum(magnitude, 10.0 ** (floor_db / 20.0)))
    return frequencies[1:], level[1:]
