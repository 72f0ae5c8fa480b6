"""Compiled kernels: the options every node's per-sample loop is compiled with, and helpers.

A node's DSP is a module-level function of arrays and numbers beside its class, decorated
with :data:`kernel`: numba compiles it to machine code on first use and caches the result
(next to the module, or in the user's cache folder when the package folder is read-only, as
numba's own cache locators choose), so later runs load it in milliseconds.

The options are chosen for the audio thread:

* ``error_model="numpy"``: a division by zero gives inf or NaN, as numpy does, and the
  engine's scrub deals with it; the default ("python") would raise from the audio thread.
* ``nogil=False``: a kernel keeps Python's interpreter while it runs. Releasing it would hand
  it to any thread waiting (a compile, a GUI), and the audio thread would then wait up to a
  switch interval to take it back, for every node of every block.
* no ``fastmath``: results must match the references to 1e-9, and NaN must stay NaN.

A modulatable param reaches ``process`` as an array (the engine fills in a set value), so a
kernel takes arrays and has one signature. A node that also accepts plain floats from direct
callers passes them on as :data:`NO_SIGNAL` and the value (``signal_and_value``, ``at``).

The first run after an install or an update compiles every kernel, which takes seconds: the
command line says so (:func:`compile_notice`) rather than seeming to hang.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import numba
import numpy as np

kernel: Any = numba.njit(cache=True, error_model="numpy", nogil=False)

#: A modulatable param that is not a signal this block: the kernel uses the set value.
NO_SIGNAL = np.zeros(0)
NO_SIGNAL.flags.writeable = False


def signal_and_value(value: float | np.ndarray) -> tuple[np.ndarray, float]:
    """A param as ``process`` receives it (a float, or an array of samples) as the kernel's
    two arguments: the signal (or NO_SIGNAL) and the value at the first sample."""
    if isinstance(value, np.ndarray):
        return value, float(value[0]) if len(value) else 0.0
    return NO_SIGNAL, float(value)


@kernel
def at(signal: np.ndarray, value: float, index: int) -> float:
    """A param's value at sample ``index``: its signal's sample, or its set value."""
    return signal[index] if len(signal) else value


@kernel
def all_finite(block: np.ndarray) -> bool:
    """Whether every sample is finite: one pass, no allocation, no overflow (a sum of finite
    samples near 1e308 would overflow)."""
    for sample in block.flat:  # noqa: SIM110  (numba compiles loops, not generators)
        if not np.isfinite(sample):
            return False
    return True


@numba.njit(cache=True, error_model="numpy", nogil=False, fastmath={"reassoc", "nsz"})
def all_finite_flat(values: np.ndarray) -> bool:
    """``all_finite`` of a contiguous 1-D array (a schedule's every output, say), about twice
    as fast: x * 0 is 0 for a finite x and NaN for NaN or infinity, and a sum of them may be
    reordered (``reassoc``), so it runs four at a time; NaN and infinity keep their meaning."""
    total = 0.0
    for index in range(values.size):
        total += values[index] * 0.0
    return total == 0.0


@kernel
def decibels_to_factor(decibels: float) -> float:
    """An amplitude factor: +20 dB is 10 times (for a level that may move every sample)."""
    return 10.0 ** (decibels / 20.0)


# -- the first run's notice -------------------------------------------------------------------
_PACKAGE = Path(__file__).resolve().parent
#: Every module that defines kernels (a change to any of them compiles again).
_SOURCES = [
    Path(__file__),
    *(_PACKAGE / name for name in ("compiled.py", "plan.py", "engine.py")),
    *sorted((_PACKAGE.parent / "nodes").glob("*.py")),
]


def _stamp() -> Path:
    """A file that exists once the kernels of these very sources have been compiled here."""
    # Where the sources are, too: numba caches by path, so another checkout compiles anew.
    digest = hashlib.sha256(f"{numba.__version__} {sys.version} {_SOURCES[0].resolve()}".encode())
    for source in _SOURCES:
        digest.update(source.read_bytes())
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "patcher"
    return cache / f"kernels-{digest.hexdigest()[:16]}"


def compile_notice() -> str | None:
    """What to tell the user before the kernels compile for the first time, or None when
    they have been compiled since the last install or update."""
    try:
        if _stamp().exists():
            return None
    except OSError:
        return None
    return "compiling the DSP kernels (once after an install or an update: up to a minute)..."


def kernels_compiled() -> None:
    """Note that the kernels are compiled and cached, so later runs say nothing; the stamps
    of this checkout's earlier sources go (they name the checkout they were made for)."""
    try:
        stamp = _stamp()
        stamp.parent.mkdir(parents=True, exist_ok=True)
        checkout = str(_SOURCES[0].resolve())
        for old in stamp.parent.glob("kernels-*"):
            if old != stamp and old.read_text(errors="replace") == checkout:
                old.unlink()
        stamp.write_text(checkout)
    except OSError:
        pass  # a read-only home: the notice is shown again, nothing worse
