"""How a node's plot is laid out at a drawing size: frame, caption, axes, ticks, labels, curves.

GUI-free: :func:`layout_plot` turns a :class:`~patcher.editor.visuals.Plot` and a size in
pixels into drawing primitives (rectangles, lines, polylines and texts, each with its position
and size); the view only executes them with dearpygui's drawlist calls, and a test can check
every position without a window. :func:`plot_detail` decides what is drawn at a size: a plot
too small to read folds away, first its tick labels, then its caption, and at last all but a
thin frame. ``scale`` (the editor's zoom) multiplies font sizes, paddings and line widths.

Top to bottom: a caption strip (no curve passes under the caption), the plot area with its
value labels on the left (a second axis's on the right), the x labels under it. A text is
measured as the default font draws it, about 0.55 x its size per character; a caption too wide
drops its last parts (never half a word), and a label that would overlap another is left out,
the most useful kept first (the axis's highest value, which carries the unit, then 0, the
decades of a frequency axis, the ends).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from patcher.editor.visuals import Axis, Color, Plot

Point = tuple[float, float]

#: Width of one character of the default font, as a fraction of the font size (0.54 measured).
CHAR_WIDTH = 0.55
CAPTION_SIZE = 13.0
LABEL_SIZE = 10.0
PADDING = 3.0
#: Space between the plot area and its labels.
LABEL_OFFSET = 3.0
#: Space kept between two labels, at scale 1.
LABEL_GAP = 4.0
CURVE_WIDTH = 1.5

#: Text smaller than this many pixels is not drawn: it cannot be read.
MIN_TEXT_PX = 8.0
#: Below this height (pixels) a plot is only a thin frame.
FRAME_ONLY_BELOW_PX = 16.0
#: From this height (pixels) a plot has its caption ...
CAPTION_FROM_PX = 40.0
#: ... and from this height and width its tick labels.
TICK_LABELS_FROM_PX = 60.0
TICK_LABELS_FROM_WIDTH_PX = 120.0
#: A second axis (the filter's phase) is labelled from this width at scale 1: on a node's
#: picture the plot would be too narrow, in the params panel there is room.
SECOND_AXIS_FROM_WIDTH = 240.0

BACKGROUND: Color = (18, 20, 26, 255)
FRAME: Color = (70, 70, 80, 255)
PLOT_AREA: Color = (13, 14, 19, 255)
GRID: Color = (42, 44, 54, 255)
GUIDE: Color = (75, 75, 90, 255)
LABEL: Color = (165, 165, 175, 255)
CAPTION: Color = (225, 225, 225, 255)


# -- what the view draws --------------------------------------------------------------------------
@dataclass(frozen=True)
class Rect:
    corner: Point
    opposite: Point
    color: Color
    fill: Color | None = None
    thickness: float = 1.0


@dataclass(frozen=True)
class Line:
    start: Point
    end: Point
    color: Color
    thickness: float = 1.0


@dataclass(frozen=True)
class Polyline:
    points: tuple[Point, ...]
    color: Color
    thickness: float = 1.0


@dataclass(frozen=True)
class Text:
    position: Point  # top left
    text: str
    size: float
    color: Color

    @property
    def box(self) -> tuple[float, float, float, float]:
        """Left, top, right, bottom, as the default font draws it (an upper bound)."""
        x, y = self.position
        return x, y, x + text_width(self.text, self.size), y + self.size


Shape = Rect | Line | Polyline | Text


def text_width(text: str, size: float) -> float:
    return CHAR_WIDTH * size * len(text)


# -- what is drawn at a size ------------------------------------------------------------------------
@dataclass(frozen=True)
class Detail:
    """What a plot shows at one size; see :func:`plot_detail`."""

    frame_only: bool
    caption: bool
    tick_labels: bool
    second_axis_labels: bool


def plot_detail(width_px: float, height_px: float, scale: float = 1.0) -> Detail:
    """What a plot ``width_px`` by ``height_px`` pixels, drawn at ``scale``, can show and be read.

    Below 16 px high a frame only (a curve is still read at 20 px: a node at zoom 0.6); from
    40 px the caption; from 60 px high (and 120 px wide)
    the tick labels. Text whose font would be smaller than 8 px is never drawn.
    """
    if height_px < FRAME_ONLY_BELOW_PX or width_px < 1.5 * FRAME_ONLY_BELOW_PX:
        return Detail(frame_only=True, caption=False, tick_labels=False, second_axis_labels=False)
    caption = height_px >= CAPTION_FROM_PX and CAPTION_SIZE * scale >= MIN_TEXT_PX
    labels = (
        height_px >= TICK_LABELS_FROM_PX
        and width_px >= TICK_LABELS_FROM_WIDTH_PX
        and LABEL_SIZE * scale >= MIN_TEXT_PX
    )
    second = labels and width_px / scale >= SECOND_AXIS_FROM_WIDTH
    return Detail(frame_only=False, caption=caption, tick_labels=labels, second_axis_labels=second)


def fit_caption(caption: str, width: float, size: float) -> str:
    """The caption's first parts (separated by two spaces) that fit ``width``; "" if none does."""
    parts = [part for part in caption.split("  ") if part]
    for count in range(len(parts), 0, -1):
        text = "  ".join(parts[:count])
        if text_width(text, size) <= width:
            return text
    return ""


# -- ticks ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tick:
    position: float  # in the unit box, 0 to 1
    label: str
    #: Lower is placed first when labels compete for room.
    priority: int


def _number(value: float, step: float) -> str:
    """``value`` on an axis whose ticks are ``step`` apart: as many decimals as the step needs."""
    if abs(value) >= 10000 and step >= 1000:
        return _number(value / 1000, step / 1000) + "k"
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > 1e-9 * max(1.0, abs(step)):
        decimals += 1
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")  # 1 s, not 1.0 s
    return "0" if float(text) == 0 else text


def _with_unit(label: str, unit: str) -> str:
    if not unit:
        return label
    return f"{label}{unit}" if unit == "°" else f"{label} {unit}"


def _nice_steps(span: float) -> list[float]:
    """Steps of 1, 2, 2.5 and 5 times a power of ten, from about a hundredth of ``span`` up."""
    if span <= 0 or not math.isfinite(span):
        return [1.0]
    power = 10.0 ** math.floor(math.log10(span / 10))
    steps = []
    while power <= 10 * span:
        steps.extend(power * factor for factor in (1.0, 2.0, 2.5, 5.0))
        power *= 10
    return steps


def _display_units(axis: Axis) -> tuple[float, str]:
    """Divide values by this and label them in that unit: ms axes from 1000 ms are in s."""
    if axis.unit == "ms" and max(abs(axis.low), abs(axis.high)) >= 1000:
        return 1000.0, "s"
    return 1.0, axis.unit


def _labelled(values: list[float], axis: Axis, step: float) -> list[Tick]:
    """Ticks at ``values`` (in display units): the highest carries the unit and comes first,
    then 0, then the others from the ends inwards."""
    divisor, unit = _display_units(axis)
    values = sorted(values)
    order = sorted(
        range(len(values)),
        key=lambda i: (i != len(values) - 1, values[i] != 0, min(i, len(values) - 1 - i)),
    )
    ticks = []
    for rank, index in enumerate(order):
        value = values[index]
        label = _number(value, step)
        if index == len(values) - 1:
            label = _with_unit(label, unit)
        ticks.append(Tick(axis.position(value * divisor), label, rank))
    return ticks


def _frequency_label(value: float) -> str:
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def _log_ticks(axis: Axis) -> list[Tick]:
    """The decades (100, 1k, 10k), the highest with the unit, and the low end (20 Hz)."""
    decades = [
        10.0**power for power in range(math.ceil(math.log10(axis.low)), math.floor(math.log10(axis.high)) + 1)
    ]
    ticks = []
    for rank, value in enumerate(sorted(decades, reverse=True)):
        label = _frequency_label(value) if axis.unit == "Hz" else f"{value:g}"
        ticks.append(Tick(axis.position(value), _with_unit(label, axis.unit) if rank == 0 else label, rank))
    if not decades or axis.low < decades[0] / 2:
        low = _frequency_label(axis.low) if axis.unit == "Hz" else f"{axis.low:g}"
        ticks.append(Tick(0.0, low, len(ticks)))
    return ticks


def axis_ticks(axis: Axis, length_px: float, label_px: float, along_x: bool) -> list[Tick]:
    """The ticks of ``axis`` drawn ``length_px`` long with labels of ``label_px``, at a round step.

    As many as fit with room to read them (along x: 3.5 font sizes apart and two gaps between
    labels; along y: two lines apart), at least two; a step that labels both ends is preferred
    to one up to 2.5 times finer. If no step fits so, the finest whose labels do not touch.
    """
    if axis.log:
        return _log_ticks(axis)
    divisor, _unit = _display_units(axis)
    low, high = sorted((axis.low / divisor, axis.high / divisor))
    if axis.ticks is not None:
        values = [value / divisor for value in axis.ticks if low - 1e-9 <= value / divisor <= high + 1e-9]
        steps = [value - previous for previous, value in itertools.pairwise(values)]
        return _labelled(values, axis, min(steps, default=1.0))
    for roomy in (True, False):
        ticks = _round_ticks(axis, low, high, length_px, label_px, along_x, roomy)
        if ticks is not None:
            return ticks
    return _labelled([low, high], axis, high - low)


def _round_ticks(
    axis: Axis, low: float, high: float, length_px: float, label_px: float, along_x: bool, roomy: bool
) -> list[Tick] | None:
    first_fit: tuple[float, list[Tick]] | None = None
    for step in _nice_steps(high - low):
        first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
        if last - first < 1 or (first_fit and step > 2.5 * first_fit[0]):
            break
        ticks = _labelled([index * step for index in range(first, last + 1)], axis, step)
        room = length_px / (last - first)
        if along_x:
            widest = max(text_width(tick.label, label_px) for tick in ticks)
            gap = LABEL_GAP * label_px / LABEL_SIZE
            fits = widest + 2 * gap <= room and room >= 3.5 * label_px if roomy else widest + gap <= room
        else:
            fits = room >= (2.0 if roomy else 1.1) * label_px
        if not fits:
            continue
        if _on_step(low, step) and _on_step(high, step):
            return ticks  # both ends labelled: a scope of 500 ms reads 0, 250, 500 ms
        first_fit = first_fit or (step, ticks)
    return first_fit[1] if first_fit else None


def _on_step(value: float, step: float) -> bool:
    return abs(value / step - round(value / step)) < 1e-6


# -- the layout -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Area:
    """The plot area in pixels: where the unit box of the curves is drawn."""

    left: float
    top: float
    right: float
    bottom: float

    def x(self, position: float) -> float:
        return self.left + position * (self.right - self.left)

    def y(self, position: float) -> float:
        return self.bottom - position * (self.bottom - self.top)


def _overlaps(box: tuple[float, float, float, float], others: list[Text], gap: float) -> bool:
    left, top, right, bottom = box
    for other in others:
        o_left, o_top, o_right, o_bottom = other.box
        if left < o_right + gap and o_left < right + gap and top < o_bottom + gap and o_top < bottom + gap:
            return True
    return False


def _y_labels(
    ticks: list[Tick], top: float, bottom: float, size: float, gap: float
) -> list[tuple[float, str]]:
    """Each label's top y, at its tick's height but between ``top`` and ``bottom``; a label
    that would overlap one placed before it is left out."""
    placed: list[tuple[float, str]] = []
    for tick in sorted(ticks, key=lambda tick: tick.priority):
        centre = bottom - tick.position * (bottom - top)
        y = min(max(centre - size / 2, top), bottom - size)
        if all(y >= other + size + gap or y + size + gap <= other for other, _label in placed):
            placed.append((y, tick.label))
    return placed


def _x_labels(ticks: list[Tick], area: Area, width: float, scale: float) -> list[Text]:
    """Labels centred under their ticks, inside the picture, none overlapping another."""
    size, padding = LABEL_SIZE * scale, PADDING * scale
    placed: list[Text] = []
    for tick in sorted(ticks, key=lambda tick: tick.priority):
        label_width = text_width(tick.label, size)
        x = min(max(area.x(tick.position) - label_width / 2, padding), width - padding - label_width)
        label = Text((x, area.bottom + LABEL_OFFSET * scale), tick.label, size, LABEL)
        if not _overlaps(label.box, placed, LABEL_GAP * scale):
            placed.append(label)
    return placed


def _plot_area(plot: Plot, area: Area, grid: list[Tick], rows: list[Tick], scale: float) -> list[Shape]:
    """The plot area's box and grid lines (when labelled), the guides, the curves."""
    thin = max(1.0, scale)
    shapes: list[Shape] = []
    if grid or rows:
        shapes.append(Rect((area.left, area.top), (area.right, area.bottom), GRID, PLOT_AREA, thin))
    for tick in grid:
        if 0.0 < tick.position < 1.0:
            x = area.x(tick.position)
            shapes.append(Line((x, area.top), (x, area.bottom), GRID, thin))
    for tick in rows:
        if 0.0 < tick.position < 1.0:
            y = area.y(tick.position)
            shapes.append(Line((area.left, y), (area.right, y), GRID, thin))
    for guide in plot.guides:
        shapes.append(Line((area.left, area.y(guide)), (area.right, area.y(guide)), GUIDE, thin))
    for curve in plot.curves:
        if len(curve.points) >= 2:
            points = tuple((area.x(x), area.y(y)) for x, y in curve.points)
            shapes.append(Polyline(points, curve.color, CURVE_WIDTH * scale))
    return shapes


def layout_plot(plot: Plot, width: float, height: float, scale: float = 1.0) -> list[Shape]:
    """What to draw for ``plot`` in a ``width`` x ``height`` pixel box, at ``scale``: the
    frame, the plot area (box, grid, guides, curves), then the texts over them."""
    detail = plot_detail(width, height, scale)
    frame = Rect((0.0, 0.0), (width, height), FRAME, BACKGROUND, max(1.0, scale))
    if detail.frame_only:
        return [frame]
    padding, label_size, offset = PADDING * scale, LABEL_SIZE * scale, LABEL_OFFSET * scale
    texts: list[Text] = []
    top = padding
    if detail.caption and (caption := fit_caption(plot.caption, width - 2 * padding, CAPTION_SIZE * scale)):
        texts.append(Text((padding, padding), caption, CAPTION_SIZE * scale, CAPTION))
        top += CAPTION_SIZE * scale + padding
    x_labelled = detail.tick_labels and plot.x_axis is not None
    bottom = height - padding - (label_size + offset if x_labelled else 0.0)

    def side(axis: Axis | None, shown: bool) -> tuple[list[Tick], list[tuple[float, str]], float, Color]:
        """An axis's ticks, its labels' heights and their column's width (0 when not shown)."""
        if axis is None:
            return [], [], 0.0, LABEL
        ticks = axis_ticks(axis, bottom - top, label_size, along_x=False)
        placed = _y_labels(ticks, top, bottom, label_size, scale) if shown else []
        column = max((text_width(label, label_size) + offset for _y, label in placed), default=0.0)
        return ticks, placed, column, axis.color or LABEL

    y_ticks, left_labels, left_column, left_color = side(plot.y_axis, detail.tick_labels)
    _ticks, right_labels, right_column, right_color = side(plot.y2_axis, detail.second_axis_labels)
    area = Area(padding + left_column, top, width - padding - right_column, bottom)
    for y, label in left_labels:
        texts.append(
            Text((area.left - offset - text_width(label, label_size), y), label, label_size, left_color)
        )
    for y, label in right_labels:
        texts.append(Text((area.right + offset, y), label, label_size, right_color))
    x_ticks = axis_ticks(plot.x_axis, area.right - area.left, label_size, True) if plot.x_axis else []
    if x_labelled:
        texts.extend(_x_labels(x_ticks, area, width, scale))
    if not detail.tick_labels:
        x_ticks, y_ticks = [], []  # no labels, no grid: a small plot shows its curves only
    return [frame, *_plot_area(plot, area, x_ticks, y_ticks, scale), *texts]
