"""patcher side by side with pyo and a plain numpy script, on the reference chain.

The chain is described in bench/chains/common.py. Each implementation runs as its own process
(pyo in an environment of its own, made here on first use: bench/.venv-pyo), the three
interleaved round after round so that the machine's moods fall on all of them alike; each
prints the CPU seconds it took for the audio. Prints real-time factors (seconds of audio per
CPU second, median of the rounds) and the ratios patcher/pyo and patcher/numpy, at blocks 64,
256 and 1024, with and without the convolver. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAINS = ROOT / "bench" / "chains"
PYO_ENV = ROOT / "bench" / ".venv-pyo"
sys.path.insert(0, str(ROOT))

from bench.chains.common import write_ir  # noqa: E402


def pyo_python() -> Path:
    """The pyo environment's interpreter, made (and pyo installed) on first use."""
    python = PYO_ENV / "bin" / "python"
    if not python.exists():
        print("making bench/.venv-pyo for pyo (once)...", flush=True)
        venv.create(PYO_ENV, with_pip=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "pyo", "numpy"], check=True)
    return python


def run(python: Path | str, script: str, block: int, seconds: float, ir: str | None) -> float:
    """Seconds of audio per CPU second of one run."""
    command = [str(python), str(CHAINS / script), "--block", str(block), "--seconds", f"{seconds:g}"]
    if ir is not None:
        command += ["--ir", ir]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    return seconds / figures["cpu_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="audio per run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--block", type=int, action="append", help="blocks (default 64, 256, 1024)")
    args = parser.parse_args()
    blocks = args.block or [64, 256, 1024]
    implementations = {
        "patcher": (sys.executable, "patcher_chain.py"),
        "pyo": (pyo_python(), "pyo_chain.py"),
        "numpy": (sys.executable, "numpy_chain.py"),
    }
    with tempfile.TemporaryDirectory() as folder:
        ir = str(Path(folder) / "ir.wav")
        write_ir(ir)
        cases = [(block, convolver) for convolver in (True, False) for block in blocks]
        factors: dict[tuple[str, int, bool], list[float]] = {}
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}/{args.rounds}", file=sys.stderr, flush=True)
            for block, convolver in cases:
                for name, (python, script) in implementations.items():
                    rtf = run(python, script, block, args.seconds, ir if convolver else None)
                    factors.setdefault((name, block, convolver), []).append(rtf)
    print(f"\n## The reference chain: real-time factor, median of {args.rounds} ({args.seconds:g} s each)\n")
    print(f"{'chain':<22} {'block':>6} {'patcher':>9} {'pyo':>9} {'numpy':>9} {'/pyo':>7} {'/numpy':>7}")
    for block, convolver in cases:
        rtf = {name: statistics.median(factors[(name, block, convolver)]) for name in implementations}
        label = "with convolver" if convolver else "without convolver"
        print(
            f"{label:<22} {block:>6} {rtf['patcher']:>9.1f} {rtf['pyo']:>9.1f} {rtf['numpy']:>9.1f} "
            f"{rtf['patcher'] / rtf['pyo']:>7.2f} {rtf['patcher'] / rtf['numpy']:>7.2f}"
        )
    print("\npyo's convolver (CvlVerb) runs with partitions of the block, its least latency;")
    print("patcher's has none. numpy's uses partitions of 1024 (1024 samples late).")


if __name__ == "__main__":
    main()
