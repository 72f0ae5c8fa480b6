"""The poly node's per-sample work in numpy: a voice's share of an input, and its outlet added
into the sum with its loudest sample."""

from __future__ import annotations

import numpy as np

from nodes.poly import Poly


def add_voice(voice_out: np.ndarray, total: np.ndarray, start: int, frames: int, peak: float) -> float:
    total[start : start + frames] += voice_out[:frames]
    loudest = float(np.max(np.abs(voice_out[:frames]))) if frames else 0.0
    return max(peak, loudest)


def copy_span(source: np.ndarray, start: int, target: np.ndarray, frames: int) -> None:
    target[:frames] = source[start : start + frames]


class ReferencePoly(Poly):
    TYPE = ""  # not registered: the tests and reference renders use it by name
    add_voice = staticmethod(add_voice)
    copy_span = staticmethod(copy_span)


REFERENCES = {"poly": ReferencePoly}
