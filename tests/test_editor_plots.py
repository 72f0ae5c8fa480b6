"""The nodes' plots: axes, ticks, units and captions laid out GUI-free, then drawn in a real window.

The layout tests read the primitives :func:`patcher.editor.plot_layout.layout_plot` returns:
where each text goes and how big it is (measured as the default font draws it, 0.55 x its size
per character), where the plot area and its grid lines are. The window test runs
``tests/plot_screenshots.py`` in a child process under its own Xvfb (dearpygui allows one editor
window per process) and checks what it drew and the screenshots it saved.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from patcher.editor.layout import NODE_PICTURE
from patcher.editor.plot_layout import (
    PLOT_AREA,
    Line,
    Polyline,
    Rect,
    Text,
    axis_ticks,
    fit_caption,
    layout_plot,
    plot_detail,
    text_width,
)
from patcher.editor.visuals import (
    PHASE,
    RESPONSE,
    SPECTRUM,
    WAVE,
    Axis,
    Curve,
    Plot,
    format_hz,
    format_number,
    format_time,
    node_picture,
)
from patcher.spec import registry

RATE = 48000
#: A node's picture at zoom 1.4 (NODE_PICTURE is its size at zoom 1), where every detail shows.
NODE = (180, 64)
PANEL = (300, 110)
SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def live_view(type_name: str, params: dict) -> np.ndarray:
    """The view of a scope or spectrum that heard a 1.5 kHz sine (0.7) for a second."""
    t = np.arange(RATE) / RATE
    sine = 0.7 * np.sin(2 * np.pi * 1500 * t)
    node = registry()[type_name](params)
    node.prepare(RATE, 256)
    for start in range(0, len(t), 256):
        node.process({"in": sine[start : start + 256]}, node.params, {})
    return node.view()


def every_plot() -> Iterator[tuple[str, Plot]]:
    """Every kind of plot a node draws, silent and live, with unusual params too."""
    cases = [
        ("oscillator", {}),
        ("oscillator", {"frequency_hz": 0.5, "waveform": "square"}),
        ("lfo", {}),
        ("lfo", {"depth": 20000.0, "offset": 0.0}),
        ("lfo", {"depth": 0.0, "offset": 440.0}),
        ("lfo", {"shape": "sample_and_hold", "rate_hz": 4.0}),
        ("filter", {}),
        ("filter", {"type": "peak", "gain_db": -12.5, "cutoff_hz": 12345.0, "q": 12.0}),
        ("waveshaper", {}),
        ("waveshaper", {"drive_db": 30.0}),
        ("convolver", {}),
        ("scope", {}),
        ("scope", {"time_ms": 1000.0}),
        ("spectrum", {}),
        ("adsr", {}),
        ("adsr", {"attack_ms": 0.0, "decay_ms": 0.0, "release_ms": 20000.0, "level": 0.0}),
        ("adsr", {"attack_ms": 1500.0, "sustain": 1.0, "curve": "linear", "level": 10.0}),
        ("compressor", {}),
        ("compressor", {"ratio": 100.0, "knee_db": 0.0, "threshold_db": -80.0, "makeup_db": 48.0}),
    ]
    for type_name, params in cases:
        picture = node_picture(type_name, params, RATE)
        for plot in picture.plots:
            yield f"{type_name} {params}", plot
    for type_name, params in (("scope", {"time_ms": 5.0}), ("spectrum", {"fft_size": "4096"})):
        picture = node_picture(type_name, params, RATE, view=live_view(type_name, params))
        yield f"{type_name} {params} playing", picture.plots[0]


PLOTS = list(every_plot())


def texts(shapes: list) -> list[Text]:
    return [shape for shape in shapes if isinstance(shape, Text)]


def plot_area(shapes: list) -> Rect:
    return next(shape for shape in shapes if isinstance(shape, Rect) and shape.fill == PLOT_AREA)


def labels(shapes: list) -> list[str]:
    return [text.text for text in texts(shapes)]


# -- the layout ---------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("size", [NODE, PANEL], ids=["node", "panel"])
@pytest.mark.parametrize("name, plot", PLOTS, ids=[name for name, _plot in PLOTS])
def test_no_two_texts_overlap_and_all_stay_inside(name: str, plot: Plot, size: tuple, scale: float) -> None:
    width, height = size[0] * scale, size[1] * scale
    shapes = layout_plot(plot, width, height, scale)
    boxes = [text.box for text in texts(shapes)]
    for left, top, right, bottom in boxes:
        assert left >= 0 and right <= width and top >= 0 and bottom <= height, (left, top, right, bottom)
    for a, b in itertools.combinations(boxes, 2):
        apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
        assert apart, f"{a} and {b} overlap"
    for text in texts(shapes):
        assert "e+" not in text.text and "e-" not in text.text, text.text  # never 1e+03
        assert text.size >= 8.0, "text too small to read is not drawn"


@pytest.mark.parametrize("size", [NODE, PANEL], ids=["node", "panel"])
@pytest.mark.parametrize("name, plot", PLOTS, ids=[name for name, _plot in PLOTS])
def test_captions_sit_above_the_curves_and_are_never_cut(name: str, plot: Plot, size: tuple) -> None:
    shapes = layout_plot(plot, *size)
    caption = next((text for text in texts(shapes) if text.size == 13.0), None)
    parts = plot.caption.split("  ")
    if caption is None:  # too wide even for its first part
        assert text_width(parts[0], 13.0) > size[0] - 6
        return
    assert caption.text in ["  ".join(parts[:count]) for count in range(1, len(parts) + 1)]
    _left, _top, right, bottom = caption.box
    assert right <= size[0]
    area = plot_area(shapes)
    assert bottom <= area.corner[1], "the caption reaches into the plot area"
    for shape in shapes:
        if isinstance(shape, Polyline):
            assert all(y >= bottom for _x, y in shape.points), "a curve passes under the caption"


def test_long_captions_drop_their_last_parts() -> None:
    caption = "peak  1.31 kHz  Q 0.71  +3 dB"
    assert fit_caption(caption, 1000.0, 13.0) == caption
    assert fit_caption(caption, text_width("peak  1.31 kHz", 13.0), 13.0) == "peak  1.31 kHz"
    assert fit_caption(caption, text_width("peak  1.31 kH", 13.0), 13.0) == "peak"
    assert fit_caption(caption, 10.0, 13.0) == ""
    # the silent scope's caption fits a node (a longer one was cut to "shows its inpu")
    silent = node_picture("scope", {}, RATE).plots[0]
    assert silent.caption in labels(layout_plot(silent, *NODE))


def test_log_axis_ticks_land_at_their_frequencies() -> None:
    axis = Axis(20.0, RATE / 2, "Hz", log=True)
    ticks = {tick.label: tick.position for tick in axis_ticks(axis, 200.0, 10.0, along_x=True)}
    span = math.log10(RATE / 2 / 20.0)
    assert ticks["100"] == pytest.approx(math.log10(100 / 20) / span)
    assert ticks["1k"] == pytest.approx(math.log10(1000 / 20) / span)
    assert ticks["10k Hz"] == pytest.approx(math.log10(10000 / 20) / span)  # the highest carries the unit
    assert ticks["20"] == 0.0

    plot = node_picture("filter", {}, RATE).plots[0]
    shapes = layout_plot(plot, *PANEL)
    area = plot_area(shapes)
    left, right = area.corner[0], area.opposite[0]
    for label, frequency in (("100", 100.0), ("1k", 1000.0)):
        x = left + (right - left) * math.log10(frequency / 20) / span
        text = next(text for text in texts(shapes) if text.text == label)
        text_left, _top, text_right, _bottom = text.box
        assert (text_left + text_right) / 2 == pytest.approx(x), label  # centred under its tick
        grid = [s for s in shapes if isinstance(s, Line) and s.start[0] == s.end[0]]
        assert any(line.start[0] == pytest.approx(x) for line in grid), f"no grid line at {label}"
    # and the curve agrees with the axes: the 1 kHz lowpass is 3 dB down at the 1 kHz grid line
    magnitude = plot.curves[-1]
    at_1k = min(magnitude.points, key=lambda point: abs(point[0] - plot.x_axis.position(1000.0)))
    assert at_1k[1] == pytest.approx(plot.y_axis.position(-3.0), abs=0.01)


def test_the_filter_has_hz_db_and_degrees_where_there_is_room() -> None:
    plot = node_picture("filter", {"type": "peak", "gain_db": 6.0}, RATE).plots[0]
    panel = layout_plot(plot, *PANEL)
    drawn = labels(panel)
    assert "10k Hz" in drawn and "24 dB" in drawn and "180°" in drawn and "-180" in drawn
    assert drawn[0] == "peak  1 kHz  Q 0.71  +6 dB"
    colours = {text.text: text.color for text in texts(panel)}
    assert colours["24 dB"] == RESPONSE and colours["180°"] == PHASE  # each axis in its curve's colour
    node = labels(layout_plot(plot, *NODE))
    assert "10k Hz" in node and "24 dB" in node
    assert not any("°" in label for label in node), "a node's picture is too narrow for the phase axis"
    zoomed = labels(layout_plot(plot, NODE[0] * 1.5, NODE[1] * 1.5, 1.5))
    assert not any("°" in label for label in zoomed), "zoomed in, the fonts grow as much as the plot"


@pytest.mark.parametrize(
    "time_ms, last_label",
    [(1000.0, "1 s"), (500.0, "500 ms"), (20.0, "20 ms"), (5.0, "5 ms"), (2.5, "2.5 ms"), (1.0, "1 ms")],
)
def test_the_scopes_time_axis_says_ms_or_s(time_ms: float, last_label: str) -> None:
    for view in (None, 0.5 * np.sin(np.linspace(0, 20, 480))):
        plot = node_picture("scope", {"time_ms": time_ms}, RATE, view=view).plots[0]
        for size in (NODE, PANEL):
            drawn = labels(layout_plot(plot, *size))
            assert last_label in drawn, drawn
            assert "0" in drawn and not any("e+" in label for label in drawn)


def test_numbers_and_durations_are_written_without_exponents() -> None:
    assert format_time(1000.0) == "1 s" and format_time(1500.0) == "1.5 s" and format_time(20.0) == "20 ms"
    assert format_time(0.5) == "0.5 ms" and format_time(999.0) == "999 ms"
    assert format_hz(700.0) == "700 Hz" and format_hz(1312.5) == "1.31 kHz" and format_hz(20000.0) == "20 kHz"
    assert format_number(12345.0) == "12345" and format_number(0.000123) == "0.000123"
    plot = node_picture("lfo", {"depth": 20000.0, "offset": 0.0}, RATE).plots[0]
    drawn = labels(layout_plot(plot, *PANEL))
    assert "20k" in drawn and "-20k" in drawn, drawn


def test_ticks_are_round_and_as_many_as_fit() -> None:
    axis = Axis(-100.0, 0.0, "dB")
    assert [
        tick.label for tick in sorted(axis_ticks(axis, 75.0, 10.0, along_x=False), key=lambda t: t.position)
    ] == [
        "-100",
        "-50",
        "0 dB",
    ]
    many = axis_ticks(axis, 400.0, 10.0, along_x=False)
    assert len(many) > 3 and all(float(tick.label.split()[0]) % 10 == 0 for tick in many)
    for _name, plot in PLOTS:  # no axis says the same number twice (an LFO of no depth did)
        for axis in (plot.x_axis, plot.y_axis, plot.y2_axis):
            for length in (30.0, 80.0, 300.0):
                drawn = [tick.label for tick in axis_ticks(axis, length, 10.0, along_x=False)] if axis else []
                assert len(drawn) == len(set(drawn)), drawn
    seconds = Axis(0.0, 6667.0, "ms")
    drawn = sorted(axis_ticks(seconds, 130.0, 10.0, along_x=True), key=lambda t: t.position)
    assert drawn[-1].label == "6 s" and drawn[0].label == "0"


# -- what is drawn at a size ----------------------------------------------------------------------
def test_plots_fold_away_as_they_get_small() -> None:
    full = plot_detail(180, 64, 1.0)
    assert full.caption and full.tick_labels and not full.frame_only and not full.second_axis_labels
    assert plot_detail(300, 110, 1.0).second_axis_labels
    no_labels = plot_detail(162, 58, 0.9)  # under 60 px: no tick labels
    assert no_labels.caption and not no_labels.tick_labels and not no_labels.frame_only
    curves_only = plot_detail(108, 38, 0.6)
    assert not curves_only.caption and not curves_only.tick_labels and not curves_only.frame_only
    assert not plot_detail(77, 29, 0.6).frame_only  # a node's picture at zoom 0.6: its curves
    assert plot_detail(58, 14, 0.3).frame_only  # under 16 px: a thin frame
    assert plot_detail(20, 200, 1.0).frame_only  # too narrow
    small_font = plot_detail(400, 200, 0.5)  # room enough, but 5 px labels cannot be read
    assert not small_font.caption and not small_font.tick_labels


def test_a_folded_plot_draws_what_its_detail_allows() -> None:
    plot = node_picture("filter", {}, RATE).plots[0]
    frame = layout_plot(plot, 58, 14, 0.3)
    assert len(frame) == 1 and isinstance(frame[0], Rect)
    curves = layout_plot(plot, 108, 38, 0.6)
    assert not texts(curves) and sum(isinstance(shape, Polyline) for shape in curves) == 2
    captioned = layout_plot(plot, 162, 58, 0.9)
    assert labels(captioned) == ["lowpass  1 kHz  Q 0.71"]


def test_scale_multiplies_positions_fonts_and_line_widths() -> None:
    plot = node_picture("scope", {"time_ms": 20.0}, RATE).plots[0]
    one = layout_plot(plot, *NODE, 1.0)
    bigger = layout_plot(plot, NODE[0] * 1.5, NODE[1] * 1.5, 1.5)
    assert labels(one) == labels(bigger)
    for a, b in zip(texts(one), texts(bigger), strict=True):
        assert b.size == pytest.approx(1.5 * a.size)
        assert b.position[0] == pytest.approx(1.5 * a.position[0])
        assert b.position[1] == pytest.approx(1.5 * a.position[1])
    curve_one = next(shape for shape in one if isinstance(shape, Polyline))
    curve_bigger = next(shape for shape in bigger if isinstance(shape, Polyline))
    assert curve_bigger.thickness == pytest.approx(1.5 * curve_one.thickness)


def test_curves_fill_the_plot_area() -> None:
    plot = Plot([Curve([(0.0, 0.0), (1.0, 1.0)], SPECTRUM)], "", x_axis=Axis(0, 1), y_axis=Axis(0, 1))
    shapes = layout_plot(plot, *PANEL)
    area = plot_area(shapes)
    curve = next(shape for shape in shapes if isinstance(shape, Polyline))
    assert curve.points == ((area.corner[0], area.opposite[1]), (area.opposite[0], area.corner[1]))


# -- in a real window -----------------------------------------------------------------------------
SCREEN = (2048, 1152)
SCREENSHOT_DIR = Path("/tmp/patcher-editor-screenshots")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wide_display() -> Iterator[str]:
    """A private Xvfb wide enough for default.json's canvas, stopped by its PID."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed")
    from tests.test_editor_window import PATIENCE_S, _free_display

    number = _free_display()
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + PATIENCE_S
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"Xvfb :{number} did not start")
            time.sleep(0.05)
        yield f":{number}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_plots_in_a_real_window_at_scale_1_and_1_5(wide_display: str, tmp_path: Path) -> None:
    from tests.test_editor_window import has_colour, pixels_of

    environment = dict(os.environ, DISPLAY=wide_display, PATCHER_STATE_DIR=str(tmp_path / "state"))
    result = subprocess.run(
        [sys.executable, "-m", "tests.plot_screenshots", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        env=environment,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    drawn = json.loads((tmp_path / "drawn.json").read_text())
    assert drawn["captions"]["default:wave"][0].startswith("peak")  # the scope heard the patch play
    assert drawn["captions"]["default:spectrum"][0].startswith("peak")
    for gallery in ("plots-scale1", "plots-scale1.5", "plots-folded"):
        for entry in drawn[gallery]:
            scale = entry["scale"]
            size = PANEL if "(panel" in entry["label"] else NODE_PICTURE
            assert (entry["width"], entry["height"]) == (round(size[0] * scale), round(size[1] * scale))
            assert entry["items"] >= 1
    by_label = {
        entry["label"]: entry for gallery in drawn.values() if isinstance(gallery, list) for entry in gallery
    }
    # A node's picture at zoom 1 has room for its caption's first parts; at 1.5, for its axes.
    assert "lowpass  700 Hz" in by_label["default: tone (node, x1.0)"]["texts"]
    tone = by_label["default: tone (node, x1.5)"]["texts"]
    assert "lowpass  700 Hz" in tone and "10k Hz" in tone and "24 dB" in tone
    for scale in (1.0, 1.5):
        wave = by_label[f"default: wave (panel, x{scale})"]["texts"]
        assert "20 ms" in wave
        assert "180°" in by_label[f"default: tone (panel, x{scale})"]["texts"]
    assert by_label["default: tone (node, x0.3)"]["items"] == 1  # a thin frame only
    assert by_label["default: tone (node, x0.6)"]["texts"] == []

    SCREENSHOT_DIR.mkdir(exist_ok=True)
    for name in ("default-editor", "pedal_vs_ir-editor", "plots-scale1", "plots-scale1.5", "plots-folded"):
        image = pixels_of(tmp_path / f"{name}.png")
        assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50, f"{name} is nearly blank"
        shutil.copy(tmp_path / f"{name}.png", SCREENSHOT_DIR / f"{name}.png")
    for name in ("plots-scale1", "plots-scale1.5"):
        image = pixels_of(tmp_path / f"{name}.png")
        for colour in (RESPONSE, SPECTRUM, WAVE):
            assert has_colour(image, colour[:3], at_least=50), f"no curve of colour {colour} in {name}"
