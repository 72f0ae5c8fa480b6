"""Zoom and pan of the canvas: where a patch's positions are drawn, GUI-free.

dearpygui's node editor (imnodes) has no zoom, and its panning can be neither read nor set. So
the editor does both itself, as VCV Rack's and Max's canvases do: a patch keeps its positions
in *patch units* (what is saved; one unit is one pixel at zoom 1 and UI scale 1), and the
camera maps them onto the node editor's grid with a scale and an offset:

    grid = offset + position x scale

where ``scale`` is the zoom times the UI scale. Zooming about a point changes the offset so
that the patch point under it stays there; fitting picks the zoom and offset that show the
whole patch. Text is drawn with a font loaded at the zoomed size, so it stays sharp; the zoom
therefore moves in steps (``ZOOM_STEPS``), one font each.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

Point = tuple[float, float]
#: (left, top, right, bottom)
Box = tuple[float, float, float, float]

#: The zooms the editor offers, each with a font of its own.
ZOOM_STEPS = (0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9, 1.0)
ZOOM_STEPS += (1.15, 1.3, 1.5, 1.75, 2.0, 2.5, 3.0)
#: The UI scales the menu offers (``patcher edit --ui-scale`` takes any in 0.75 .. 3).
UI_SCALES = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5)
MIN_UI_SCALE, MAX_UI_SCALE = 0.75, 3.0
#: Space left around a fitted patch, in screen pixels.
FIT_MARGIN = 24.0


@dataclass
class Camera:
    zoom: float = 1.0
    ui_scale: float = 1.0
    offset: Point = (0.0, 0.0)

    @property
    def scale(self) -> float:
        """Screen pixels per patch unit."""
        return self.zoom * self.ui_scale

    def to_grid(self, position: Point) -> Point:
        """Where ``position`` is drawn, in whole pixels (as dearpygui reports it back)."""
        return (
            float(round(self.offset[0] + position[0] * self.scale)),
            float(round(self.offset[1] + position[1] * self.scale)),
        )

    def to_patch(self, grid: Point) -> Point:
        """The patch position drawn at ``grid`` (rounded: positions are saved as whole units)."""
        return (
            float(round((grid[0] - self.offset[0]) / self.scale)),
            float(round((grid[1] - self.offset[1]) / self.scale)),
        )

    def zoom_about(self, grid_point: Point, zoom: float) -> None:
        """Zoom to ``zoom`` keeping the patch point at ``grid_point`` where it is."""
        ratio = zoom / self.zoom
        self.offset = (
            grid_point[0] - (grid_point[0] - self.offset[0]) * ratio,
            grid_point[1] - (grid_point[1] - self.offset[1]) * ratio,
        )
        self.zoom = zoom

    def step(self, grid_point: Point, steps: int) -> bool:
        """Zoom in (positive) or out by steps about a point; False at either end."""
        zoom = step_zoom(self.zoom, steps)
        if zoom == self.zoom:
            return False
        self.zoom_about(grid_point, zoom)
        return True

    def fit(self, bounds: Box, visible: Box) -> None:
        """Show the patch's ``bounds`` (patch units, node sizes included at zoom 1) whole and
        centred in the ``visible`` part of the grid, at the largest zoom step that fits (but
        not above 1: a small patch is shown at its size, not blown up)."""
        width = max(bounds[2] - bounds[0], 1.0) * self.ui_scale
        height = max(bounds[3] - bounds[1], 1.0) * self.ui_scale
        room_x = max(visible[2] - visible[0] - 2 * FIT_MARGIN, 1.0)
        room_y = max(visible[3] - visible[1] - 2 * FIT_MARGIN, 1.0)
        self.zoom = zoom_at_most(min(room_x / width, room_y / height, 1.0))
        centre = ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
        middle = ((visible[0] + visible[2]) / 2, (visible[1] + visible[3]) / 2)
        self.offset = (middle[0] - centre[0] * self.scale, middle[1] - centre[1] * self.scale)


def zoom_at_most(zoom: float) -> float:
    """The largest zoom step not above ``zoom`` (the smallest step below them all)."""
    index = bisect.bisect_right(ZOOM_STEPS, zoom + 1e-9) - 1
    return ZOOM_STEPS[max(index, 0)]


def step_zoom(zoom: float, steps: int) -> float:
    index = bisect.bisect_left(ZOOM_STEPS, zoom - 1e-9)
    index = min(max(index + steps, 0), len(ZOOM_STEPS) - 1)
    return ZOOM_STEPS[index]


def clamp_ui_scale(scale: float) -> float:
    return min(max(float(scale), MIN_UI_SCALE), MAX_UI_SCALE)


def bounding_box(boxes: list[Box]) -> Box | None:
    if not boxes:
        return None
    return (
        min(box[0] for box in boxes),
        min(box[1] for box in boxes),
        max(box[2] for box in boxes),
        max(box[3] for box in boxes),
    )
