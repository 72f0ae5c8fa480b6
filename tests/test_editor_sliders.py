"""Where a value sits on its slider (GUI-free): linear, log and symlog, and the fine drag."""

from __future__ import annotations

import math

import pytest

from patcher.editor.sliders import FINE, Drag, from_slider, slider_range, to_slider
from patcher.spec import registry

LFO = registry()["lfo"].PARAMS
FILTER = registry()["filter"].PARAMS


@pytest.mark.parametrize(
    "param, values",
    [
        (FILTER["cutoff_hz"], [20.0, 440.0, 1000.0, 19000.0]),
        (LFO["depth"], [-20000.0, -5.0, -0.01, 0.0, 0.3, 4.0, 600.0, 20000.0]),
        (registry()["gain"].PARAMS["gain_db"], [-60.0, 0.0, 6.0]),
    ],
    ids=["log", "symlog", "lin"],
)
def test_a_value_round_trips_through_its_slider_position(param, values) -> None:
    low, high = slider_range(param)
    for value in values:
        position = to_slider(param, value)
        assert low <= position <= high
        assert from_slider(param, position) == pytest.approx(value, rel=1e-9, abs=1e-12)


def test_the_lfo_depth_slider_is_fine_near_zero_and_still_reaches_its_ends() -> None:
    """Issue 14: linear over -20000..20000, a 20 px drag took the chorus depth from 4 to -3824.
    Across a 300 px slider a pixel is 2/300 of the symlog range: near a depth of a few ms it
    moves under half a ms; the ends are still the range's."""
    depth = LFO["depth"]
    assert LFO["offset"].scale == depth.scale == "symlog"
    pixel = 2.0 / 300
    at_four = to_slider(depth, 4.0)
    step = from_slider(depth, at_four + pixel) - 4.0
    assert 0 < step < 0.5  # and a tenth of that with Shift
    assert from_slider(depth, at_four - 20 * pixel) > 0  # 20 px left of 4 ms: still positive
    assert from_slider(depth, 1.0) == 20000.0 and from_slider(depth, -1.0) == -20000.0
    assert from_slider(depth, 0.0) == 0.0
    assert math.isclose(to_slider(depth, -4.0), -at_four)


def test_shift_drag_moves_ten_times_slower_from_where_shift_went_down() -> None:
    drag = Drag()
    assert drag.position(0.30, current=0.30, fine=False) == 0.30
    assert drag.position(0.40, current=0.30, fine=True) == 0.30  # Shift down here: the anchor
    assert drag.position(0.50, current=0.30, fine=True) == pytest.approx(0.30 + 0.10 / FINE)
    assert drag.position(0.70, current=0.31, fine=False) == 0.70  # Shift up: the mouse again
