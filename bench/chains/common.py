"""What the three implementations of the reference chain share: its figures and the IR file.

The chain (mono, 48 kHz): white noise (amplitude 1, seed 1) -> gain +12.04 dB -> tanh
waveshaper (1x) -> RBJ low-pass 2 kHz, Q 0.707 -> chorus (a delay of 15 ms modulated by a
0.8 Hz sine LFO of depth 5 ms, mix 0.5) -> echo (delay 350 ms, feedback 0.4, mix 0.3) ->
convolver (a 2 s exponentially decaying noise IR from a file, normalize none) -> output.

Each script prints one JSON line: {"cpu_seconds": ..., "peak": ...}. Plain Python and numpy
only here: the pyo script runs in an environment of its own.
"""

from __future__ import annotations

import argparse
import json
import time

SAMPLE_RATE = 48000
GAIN = 4.0  # +12.04 dB
CUTOFF_HZ = 2000.0
Q = 0.707
CHORUS_MS, CHORUS_DEPTH_MS, CHORUS_RATE_HZ, CHORUS_MIX = 15.0, 5.0, 0.8, 0.5
ECHO_MS, ECHO_FEEDBACK, ECHO_MIX = 350.0, 0.4, 0.3
IR_SECONDS = 2.0


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--block", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--ir", help="the IR file: with it, the chain ends in the convolver")
    return parser.parse_args()


def report(started_cpu: float, peak: float) -> None:
    print(json.dumps({"cpu_seconds": time.process_time() - started_cpu, "peak": peak}))


def write_ir(path: str) -> None:
    """A 2 s exponentially decaying noise IR (seeded), as a float WAV."""
    import numpy as np
    import soundfile

    frames = round(IR_SECONDS * SAMPLE_RATE)
    noise = np.random.default_rng(7).standard_normal(frames)
    envelope = np.exp(-np.log(1000.0) * np.arange(frames) / (0.6 * SAMPLE_RATE))
    soundfile.write(path, (0.05 * noise * envelope).astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
