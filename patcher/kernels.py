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

A modulatable param reaches a kernel as two arguments: its set value and a signal array,
:data:`NO_SIGNAL` (length 0) when it is not modulated, so one compiled kernel serves both.
"""

from __future__ import annotations

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


@kernel
def decibels_to_factor(decibels: float) -> float:
    """An amplitude factor: +20 dB is 10 times (for a level that may move every sample)."""
    return 10.0 ** (decibels / 20.0)
