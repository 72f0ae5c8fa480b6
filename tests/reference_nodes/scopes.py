"""The meters as they were before their kernel: the ring buffer written with numpy slices.

``ReferenceScope`` and ``ReferenceSpectrum`` run against the nodes' spec and views; the tests
compare them with the nodes on the same signals, and ``REFERENCES`` lets a render swap them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nodes.scopes import HISTORY, Scope, Spectrum

Signals = Mapping[str, np.ndarray]


class _NumpyRecorder:
    """_Recorder's ``process`` as it was before its kernel (numpy)."""

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        signal = inputs["in"]
        frames = len(signal)
        start = self.written % HISTORY
        first = min(frames, HISTORY - start)
        self.history[start : start + first] = signal[:first]
        if first < frames:
            self.history[: frames - first] = signal[first:]
        self.written += frames


class ReferenceScope(_NumpyRecorder, Scope):
    """Scope as it was before its kernel (numpy), for tests/test_nodes_scopes.py."""

    TYPE = ""  # not registered: ``REFERENCES`` maps the type name to it


class ReferenceSpectrum(_NumpyRecorder, Spectrum):
    """Spectrum as it was before its kernel (numpy), for tests/test_nodes_scopes.py."""

    TYPE = ""  # not registered: ``REFERENCES`` maps the type name to it


REFERENCES = {"scope": ReferenceScope, "spectrum": ReferenceSpectrum}
