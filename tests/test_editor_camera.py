"""The canvas's zoom and pan (GUI-free): what stays put, what fits, what the steps are."""

from __future__ import annotations

import pytest

from patcher.editor.camera import (
    FIT_MARGIN,
    ZOOM_STEPS,
    Camera,
    bounding_box,
    clamp_ui_scale,
    step_zoom,
    zoom_at_most,
)
from patcher.editor.view import window_for_screen


def test_zooming_about_a_point_keeps_the_patch_point_under_it() -> None:
    camera = Camera(offset=(37.0, -12.0))
    under_mouse = (400.0, 300.0)
    before = camera.to_patch(under_mouse)
    assert camera.step(under_mouse, 1) and camera.zoom == step_zoom(1.0, 1) > 1.0
    assert camera.to_patch(under_mouse) == before
    assert camera.step(under_mouse, -3) and camera.zoom < 1.0
    assert camera.to_patch(under_mouse) == before


def test_zoom_stops_at_its_ends() -> None:
    camera = Camera(zoom=ZOOM_STEPS[-1])
    assert not camera.step((0.0, 0.0), 1) and camera.zoom == ZOOM_STEPS[-1]
    camera = Camera(zoom=ZOOM_STEPS[0])
    assert not camera.step((0.0, 0.0), -1) and camera.zoom == ZOOM_STEPS[0]


def test_positions_round_trip_at_zoom_one_and_land_on_whole_pixels() -> None:
    camera = Camera(offset=(10.4, 20.6))
    for position in [(0.0, 0.0), (123.0, 456.0), (-80.0, 33.0)]:
        assert camera.to_patch(camera.to_grid(position)) == position
    camera.zoom = 0.7
    grid = camera.to_grid((123.0, 456.0))
    assert grid == (round(grid[0]), round(grid[1]))


@pytest.mark.parametrize("ui_scale", [1.0, 1.5])
def test_fitting_shows_the_whole_patch_centred_in_the_visible_canvas(ui_scale: float) -> None:
    camera = Camera(ui_scale=ui_scale)
    bounds = (20.0, 40.0, 1900.0, 900.0)  # a patch wider than the canvas
    visible = (-8.0, -8.0, 852.0, 736.0)
    camera.fit(bounds, visible)
    left, top = camera.to_grid(bounds[:2])
    right, bottom = camera.to_grid(bounds[2:])
    assert visible[0] + FIT_MARGIN - 1 <= left and right <= visible[2] - FIT_MARGIN + 1
    assert visible[1] + FIT_MARGIN - 1 <= top and bottom <= visible[3] - FIT_MARGIN + 1
    assert abs((left + right) / 2 - (visible[0] + visible[2]) / 2) <= 1
    assert camera.zoom in ZOOM_STEPS and camera.zoom < 1.0
    assert camera.zoom == zoom_at_most(camera.zoom)


def test_a_small_patch_is_fitted_at_its_own_size_not_blown_up() -> None:
    camera = Camera()
    camera.fit((0.0, 0.0, 200.0, 100.0), (0.0, 0.0, 1000.0, 800.0))
    assert camera.zoom == 1.0


def test_helpers() -> None:
    assert zoom_at_most(0.95) == 0.9 and zoom_at_most(0.01) == ZOOM_STEPS[0]
    assert clamp_ui_scale(10) == 3.0 and clamp_ui_scale(0.1) == 0.75
    assert bounding_box([]) is None
    assert bounding_box([(0, 0, 1, 1), (-5, 2, 3, 9)]) == (-5, 0, 3, 9)


def test_the_window_opens_sized_to_the_screen() -> None:
    assert window_for_screen((1024, 768)) == ((1008, 704), (8, 32))
    assert window_for_screen((1920, 1080))[0] == (1904, 1016)
    assert window_for_screen(None)[0] == (1400, 860)  # no screen to ask: the old default
