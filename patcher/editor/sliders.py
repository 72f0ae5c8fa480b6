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

from dataclasses import dataclass

from patcher.scales import SYMLOG_KNEE, from_slider, is_log, slider_range, to_slider

__all__ = ["FINE", "SYMLOG_KNEE", "Drag", "from_slider", "is_log", "slider_range", "to_slider"]

#: Shift-drag moves a slider this many times slower.
FINE = 10.0


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
