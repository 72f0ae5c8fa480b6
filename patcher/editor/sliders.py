"""Where a param's value sits on its slider, and how a drag moves it, GUI-free.

A slider runs over *positions*; the param's scale decides what value a position means:

* ``lin``: the value itself;
* ``log``: its logarithm (a frequency: each octave as wide as the next);
* ``symlog``: a range symmetric about zero spanning orders of magnitude (an LFO's depth, in
  whatever unit its target has: cents of Hz or thousands of them): -1 .. 1, linear near zero
  and logarithmic beyond ``SYMLOG_KNEE``, so a small depth can be set as finely as a large one.

A drag with Shift held moves the value ten times slower than the mouse (``FINE``), from where
the value was when Shift was pressed, as Max's and VCV Rack's knobs do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from patcher.spec import Param

#: Below this magnitude a symlog slider is linear.
SYMLOG_KNEE = 1.0
#: Shift-drag moves a slider this many times slower.
FINE = 10.0


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


@dataclass
class Drag:
    """One slider drag: where Shift was pressed (mouse and value positions), if it is held."""

    anchor_mouse: float | None = None
    anchor_position: float = 0.0

    def position(self, mouse: float, current: float, fine: bool) -> float:
        """The slider position a drag gives: the mouse's, or with ``fine`` a tenth of its
        movement since Shift went down, from where the value (``current``) was then."""
        if not fine:
            self.anchor_mouse = None
            return mouse
        if self.anchor_mouse is None:
            self.anchor_mouse, self.anchor_position = mouse, current
        return self.anchor_position + (mouse - self.anchor_mouse) / FINE
