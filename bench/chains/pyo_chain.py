"""The reference chain in pyo, its server in manual mode (one buffer per process() call).

Runs in the bench's own environment (bench/versus.py makes it): pyo is not one of patcher's
dependencies. The convolver is CvlVerb, pyo's partitioned FFT convolution of an IR file.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.chains import common


def main() -> None:
    args = common.arguments()
    import pyo

    server = pyo.Server(sr=common.SAMPLE_RATE, nchnls=1, buffersize=args.block, duplex=0, audio="manual")
    server.setVerbosity(0)
    server.boot()
    noise = pyo.Noise(mul=1.0)
    shaped = pyo.Tanh(noise * common.GAIN)
    lowpass = pyo.Biquad(shaped, freq=common.CUTOFF_HZ, q=common.Q, type=0)
    lfo = pyo.Sine(freq=common.CHORUS_RATE_HZ, mul=common.CHORUS_DEPTH_MS / 1000, add=common.CHORUS_MS / 1000)
    chorus = pyo.Delay(lowpass, delay=lfo, maxdelay=1.0)
    chorused = lowpass * (1 - common.CHORUS_MIX) + chorus * common.CHORUS_MIX
    echo = pyo.Delay(chorused, delay=common.ECHO_MS / 1000, feedback=common.ECHO_FEEDBACK, maxdelay=1.0)
    last = chorused * (1 - common.ECHO_MIX) + echo * common.ECHO_MIX
    if args.ir is not None:
        # size: the partition, and the latency; the block is the least it allows (patcher: none)
        last = pyo.CvlVerb(last, impulse=args.ir, bal=1.0, size=args.block)
    last.out()
    server.start()
    for _ in range(round(0.5 * common.SAMPLE_RATE / args.block)):
        server.process()
    started = time.process_time()
    for _ in range(round(args.seconds * common.SAMPLE_RATE / args.block)):
        server.process()
    common.report(started, 0.0)
    server.stop()


if __name__ == "__main__":
    main()
