"""Peak memory of the commands: it should follow the patch, not the files it names or the length.

Runs ``patcher check`` and ``patcher render`` as child processes and reads each one's peak
resident memory from the kernel (``wait4``'s ``ru_maxrss``): the examples, a patch of 100
delays at 192 kHz, and renders of 10 s and 10 minutes at 192 kHz (the render streams to the
file, so both should take about the same). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import patcher  # noqa: E402


def peak_mb(*args: str) -> tuple[float, float, int]:
    """Peak resident MB, wall seconds and exit code of ``python -m patcher ARGS``."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "patcher", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.perf_counter() - started, process.returncode


def delays_patch(count: int, sample_rate: int, time_ms: float) -> patcher.Patch:
    patch = patcher.Patch()
    patch.settings = patcher.model.Settings(sample_rate=sample_rate, block_size=256, duration_s=1.0)
    patch.add_node("noise", "noise")
    patch.add_node("output", "out")
    for index in range(count):
        patch.add_node("delay", f"d{index}", time_ms=time_ms)
        patch.connect("noise.out", f"d{index}.in")
        patch.connect(f"d{index}.out", "out.left")
    return patch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--long-minutes", type=float, default=10.0, help="the long render's length")
    args = parser.parse_args()
    print("\n## Peak memory (resident MB) of patcher commands\n")
    print(f"{'what':<52} {'MB':>8} {'s':>7} {'exit':>5}")
    mb, seconds, code = peak_mb("nodes")
    print(f"{'patcher nodes (the interpreter and imports)':<52} {mb:>8.0f} {seconds:>7.1f} {code:>5}")
    for path in sorted((ROOT / "patches").glob("*.json")):
        mb, seconds, code = peak_mb("check", str(path))
        print(f"{'check ' + path.stem:<52} {mb:>8.0f} {seconds:>7.1f} {code:>5}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        for time_ms in (10.0, 10000.0):
            path = Path(folder) / f"delays_{time_ms:g}.json"
            delays_patch(100, 192000, time_ms).save(path)
            mb, seconds, code = peak_mb("check", str(path))
            label = f"check 100 delays of {time_ms:g} ms at 192 kHz"
            print(f"{label:<52} {mb:>8.0f} {seconds:>7.1f} {code:>5}", flush=True)
        tone = Path(folder) / "tone.json"
        patch = patcher.Patch()
        patch.settings = patcher.model.Settings(sample_rate=192000, block_size=1024, duration_s=1.0)
        patch.add_node("oscillator", "osc")
        patch.add_node("output", "out")
        patch.connect("osc.out", "out.left")
        patch.save(tone)
        for seconds_long in (10.0, 60.0 * args.long_minutes):
            output = Path(folder) / "out.wav"
            mb, seconds, code = peak_mb(
                "render", str(tone), "-o", str(output), "--seconds", f"{seconds_long:g}"
            )
            label = f"render {seconds_long:g} s at 192 kHz (oscillator, block 1024)"
            print(f"{label:<52} {mb:>8.0f} {seconds:>7.1f} {code:>5}", flush=True)
            output.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
