"""Where a param's value sits on a control's travel (a slider, a MIDI CC, an OSC fader): its
scale, GUI-free and shared by the editor's sliders and the MIDI/OSC mappings.

* ``lin``: the value itself;
* ``log``: its logarithm (a frequency: each octave as wide as the next);
* ``symlog``: a range symmetric about zero spanning orders of magnitude (an LFO's depth):
  -1 .. 1, linear near zero and logarithmic beyond ``SYMLOG_KNEE``.
"""

from __future__ import annotations

import math

from patcher.spec import Param

#: Below this magnitude a symlog slider is linear.
SYMLOG_KNEE = 1.0


def is_log(param: Param) -> bool:
    return param.scale == "log" and param.min is not None and param.min > 0


def slider_range(param: Param) -> tuple[float, float]:
    if is_log(param):
        return math.log10(param.min), math.log10(param.max)
    if param.scale == "symlog":
        return -1.0, 1.0
    return float(param.min), float(param.max)


def to_slider(param: Param, value: float) -> float:
    if is_log(param):
        return math.log10(min(max(value, param.min), param.max))
    if param.scale == "symlog":
        span = math.log10(_largest(param) / SYMLOG_KNEE + 1.0)
        return math.copysign(math.log10(abs(value) / SYMLOG_KNEE + 1.0) / span, value)
    return float(value)


def from_slider(param: Param, position: float) -> float:
    low, high = slider_range(param)
    position = min(max(float(position), low), high)
    if is_log(param):
        value = 10.0**position
    elif param.scale == "symlog":
        span = math.log10(_largest(param) / SYMLOG_KNEE + 1.0)
        value = math.copysign(SYMLOG_KNEE * (10.0 ** (abs(position) * span) - 1.0), position)
    else:
        value = position
    return min(max(value, param.min), param.max)


def _largest(param: Param) -> float:
    return max(abs(param.min), abs(param.max))
