"""What each node draws inside itself: curves computed from its spec's functions, GUI-free.

A :class:`Picture` is a list of plots, each a few curves with points in a unit box (x and y
from 0 to 1, y upwards), a caption and the :class:`Axis` the box spans on each side (Hz on a
log axis, dB, ms, degrees); :mod:`patcher.editor.plot_layout` lays a plot out for a drawing
size (ticks, labels, caption) and the view draws what it returns. The numbers
come from the node modules themselves — ``waveform_preview`` for the oscillator and the LFO,
``coefficients`` for the filter, ``transfer`` for the waveshaper, ``shape_preview`` for the
ADSR (its kernel run on a held gate), ``static_curve`` for the compressor, the convolver's
``impulse_response`` (of a node prepared from the params, the IR the engine loads too) — so
what is drawn is what is heard. Live pictures (scope, spectrum) draw the running node's
*view*: the array its ``view()`` returns, which the player hands over (from another process
when the engine runs in one, see :meth:`patcher.server.EngineProcess.node_view`).
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nodes.scopes import view_frequencies
from patcher.spec import Node, registry

Color = tuple[int, int, int, int]
WAVE = (120, 200, 255, 255)
RESPONSE = (255, 200, 90, 255)
PHASE = (170, 130, 255, 170)
REFERENCE = (110, 110, 110, 200)
SPECTRUM = (120, 230, 140, 255)
POINTS = 96
LOW_HZ = 20.0


@dataclass(frozen=True)
class Axis:
    """What one side of a plot's unit box spans: ``low`` at 0 and ``high`` at 1, in ``unit``.

    ``unit`` is "Hz", "dB", "ms" (labelled in s from 1000 ms up), "°" or "" (a plain number);
    ``ticks`` are the values to label, when the layout should not choose them itself.
    """

    low: float
    high: float
    unit: str = ""
    log: bool = False
    ticks: tuple[float, ...] | None = None
    #: The labels' colour when the axis belongs to one curve (the filter's phase).
    color: Color | None = None

    def position(self, value: float) -> float:
        """Where ``value`` lies in the unit box (0 at ``low``, 1 at ``high``)."""
        if self.log:
            return (math.log10(value) - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low))
        return (value - self.low) / (self.high - self.low)


@dataclass
class Curve:
    points: list[tuple[float, float]]
    color: Color = WAVE


@dataclass
class Plot:
    curves: list[Curve]
    #: Parts separated by two spaces, most important first: a narrow plot drops the last ones.
    caption: str = ""
    #: Horizontal guide lines, as heights in the unit box (0 dB, zero, ...).
    guides: list[float] = field(default_factory=list)
    x_axis: Axis | None = None
    y_axis: Axis | None = None
    #: A second vertical axis, labelled on the right (the filter's phase in degrees).
    y2_axis: Axis | None = None


@dataclass
class Picture:
    plots: list[Plot]
    #: Redraw every frame while playing (the picture follows the sound, not just the params).
    live: bool = False


def has_picture(type_name: str) -> bool:
    return type_name in PICTURES


def has_view(type_name: str) -> bool:
    """Whether the node type's picture follows the sound (its class has a ``view()``)."""
    cls = registry().get(type_name)
    return cls is not None and callable(getattr(cls, "view", None))


def node_picture(
    type_name: str,
    params: Mapping[str, Any],
    sample_rate: int,
    view: np.ndarray | None = None,
    patch_dir: str = ".",
) -> Picture | None:
    """The picture of a node with these params (None for nodes with nothing to show).

    ``view`` is the running node's ``view()`` while playing (None when silent or not yet
    available); ``patch_dir`` resolves file params.
    """
    draw = PICTURES.get(type_name)
    if draw is None:
        return None
    cls = registry()[type_name]
    values = {name: param.default for name, param in cls.PARAMS.items()} | dict(params)
    values["__patch_dir__"] = patch_dir
    return draw(cls, values, sample_rate, None if view is None else np.asarray(view, dtype=float))


def curve(x: np.ndarray, y: np.ndarray, color: Color = WAVE) -> Curve:
    x = np.clip(np.nan_to_num(x, nan=0.5), 0.0, 1.0)
    y = np.clip(np.nan_to_num(y, nan=0.5), 0.0, 1.0)
    return Curve([(float(a), float(b)) for a, b in zip(x, y, strict=True)], color)


def _to_unit(values: np.ndarray, low: float, high: float) -> np.ndarray:
    return (np.asarray(values, dtype=float) - low) / (high - low)


def format_number(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits and never an exponent (1000, not 1e+03)."""
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_hz(value: float) -> str:
    """A frequency as a caption shows it: "700 Hz", "1.31 kHz"."""
    return f"{format_number(value / 1000)} kHz" if value >= 1000 else f"{format_number(value)} Hz"


def format_time(milliseconds: float) -> str:
    """A duration as a caption shows it: "20 ms", "0.5 ms", "1 s", "1.5 s" (never "1e+03 ms")."""
    if abs(milliseconds) >= 1000:
        return f"{format_number(milliseconds / 1000)} s"
    return f"{format_number(milliseconds)} ms"


def _frequency_axis(sample_rate: float) -> Axis:
    return Axis(LOW_HZ, sample_rate / 2, "Hz", log=True)


def _log_axis(frequencies: np.ndarray, sample_rate: float) -> np.ndarray:
    high = sample_rate / 2
    return (np.log10(np.maximum(frequencies, LOW_HZ)) - math.log10(LOW_HZ)) / (
        math.log10(high) - math.log10(LOW_HZ)
    )


# -- one function per node type ---------------------------------------------------------------
def _waveform(
    cls: type[Node], params: dict[str, Any], sample_rate: int, view: np.ndarray | None
) -> Picture | None:
    preview = getattr(cls, "waveform_preview", None)
    if preview is None:
        return None
    wave = np.asarray(preview(params, 2 * POINTS), dtype=float)
    x = np.linspace(0.0, 1.0, len(wave))
    if cls.TYPE == "oscillator":
        low, high = -1.0, 1.0
        frequency_hz = params["frequency_hz"]
        caption = f"{params['waveform']}  {format_hz(frequency_hz)}"
        y_axis = Axis(low, high, ticks=(-1.0, 0.0, 1.0))
        cycles = 1
    else:
        spread = float(np.max(np.abs(wave - params["offset"])))
        if spread < 1e-6 * max(1.0, abs(params["offset"])):  # no depth: a flat line, mid-height
            spread = max(1.0, 0.1 * abs(params["offset"]))
        low, high = params["offset"] - 1.1 * spread, params["offset"] + 1.1 * spread
        frequency_hz = params["rate_hz"]
        caption = f"{params['shape']}  {format_hz(frequency_hz)}"
        y_axis = Axis(low, high)  # in the units of what it modulates
        # sample_and_hold previews its first few held values, one a cycle
        steps = getattr(importlib.import_module(cls.__module__), "PREVIEW_STEPS", 1)
        cycles = steps if params["shape"] == "sample_and_hold" else 1
    zero = [float(_to_unit(0.0, low, high))] if low < 0 < high else []
    x_axis = Axis(0.0, 1000.0 * cycles / max(frequency_hz, 1e-9), "ms")
    return Picture([Plot([curve(x, _to_unit(wave, low, high))], caption, zero, x_axis, y_axis)])


GAIN_AXIS = Axis(-48.0, 24.0, "dB", ticks=(-48.0, -24.0, 0.0, 24.0), color=RESPONSE)
PHASE_AXIS = Axis(-180.0, 180.0, "°", ticks=(-180.0, 0.0, 180.0), color=PHASE)


def _filter(cls: type[Node], params: dict[str, Any], sample_rate: int, view: np.ndarray | None) -> Picture:
    from scipy.signal import freqz

    b, a = cls.coefficients(params["type"], params["cutoff_hz"], params["q"], params["gain_db"], sample_rate)
    frequencies = np.geomspace(LOW_HZ, sample_rate / 2 * 0.999, 2 * POINTS)
    _w, response = freqz(b, a, worN=frequencies, fs=sample_rate)
    magnitude_db = 20 * np.log10(np.maximum(np.abs(response), 1e-9))
    x = _log_axis(frequencies, sample_rate)
    magnitude = curve(x, _to_unit(magnitude_db, GAIN_AXIS.low, GAIN_AXIS.high), RESPONSE)
    phase = curve(x, _to_unit(np.degrees(np.angle(response)), PHASE_AXIS.low, PHASE_AXIS.high), PHASE)
    parts = [params["type"], format_hz(params["cutoff_hz"]), f"Q {format_number(params['q'], 2)}"]
    if params["type"] in ("peak", "lowshelf", "highshelf"):
        parts.append(f"{params['gain_db']:+.3g} dB")
    plot = Plot(
        [phase, magnitude],
        "  ".join(parts),
        [float(GAIN_AXIS.position(0.0))],
        _frequency_axis(sample_rate),
        GAIN_AXIS,
        PHASE_AXIS,
    )
    return Picture([plot])


def _waveshaper(
    cls: type[Node], params: dict[str, Any], sample_rate: int, view: np.ndarray | None
) -> Picture:
    transfer = importlib.import_module(cls.__module__).transfer
    x = np.linspace(-1.0, 1.0, 2 * POINTS + 1)
    y = transfer(x, params)
    limit = max(1.0, float(np.max(np.abs(y))))
    reference = curve(_to_unit(x, -1, 1), _to_unit(x, -limit, limit), REFERENCE)
    shaped = curve(_to_unit(x, -1, 1), _to_unit(y, -limit, limit), RESPONSE)
    caption = f"{params['shape']}  drive {params['drive_db']:+.3g} dB"
    x_axis = Axis(-1.0, 1.0, ticks=(-1.0, 0.0, 1.0))
    y_axis = Axis(-limit, limit, ticks=(-1.0, 0.0, 1.0) if limit < 1.5 else None)
    return Picture([Plot([reference, shaped], caption, [0.5], x_axis, y_axis)])


@functools.lru_cache(maxsize=16)
def _preview_impulse_response(key: tuple[Any, ...], patch_dir: str, sample_rate: int) -> np.ndarray:
    """The IR a convolver with these params would use: a prepared node that never runs."""
    node = registry()["convolver"](dict(key), patch_dir)
    try:
        node.prepare(sample_rate, 256)
    except (OSError, ValueError, RuntimeError):
        return np.zeros(1)  # a missing or bad file: the param panel's file picker fixes it
    return np.asarray(node.impulse_response)


def _convolver(cls: type[Node], params: dict[str, Any], sample_rate: int, view: np.ndarray | None) -> Picture:
    patch_dir = str(params.pop("__patch_dir__", "."))
    key = tuple(sorted(params.items()))
    impulse_response = np.asarray(_preview_impulse_response(key, patch_dir, sample_rate), dtype=float)
    bins = np.array_split(np.abs(impulse_response), min(2 * POINTS, max(1, len(impulse_response))))
    envelope = np.array([float(b.max()) if len(b) else 0.0 for b in bins])
    peak = max(float(envelope.max()), 1e-12)
    envelope_db = 20 * np.log10(np.maximum(envelope / peak, 1e-6))
    milliseconds = 1000.0 * len(impulse_response) / sample_rate
    level_axis = Axis(-60.0, 0.0, "dB")
    time_plot = Plot(
        [curve(np.linspace(0, 1, len(envelope)), _to_unit(envelope_db, -60.0, 0.0), WAVE)],
        f"IR  {format_time(milliseconds)}  (envelope)",
        x_axis=Axis(0.0, milliseconds, "ms"),
        y_axis=level_axis,
    )
    size = 1 << max(8, min(16, math.ceil(math.log2(max(len(impulse_response), 2)))))
    magnitude = np.abs(np.fft.rfft(impulse_response, size))
    frequencies = np.fft.rfftfreq(size, 1.0 / sample_rate)
    level = 20 * np.log10(np.maximum(magnitude, 1e-9))
    x, y = _log_bins(frequencies[1:], level[1:], sample_rate)
    top = float(np.max(y)) if len(y) else 0.0  # drawn relative to its loudest band
    spectrum_plot = Plot(
        [curve(x, _to_unit(y - top, -60.0, 6.0), SPECTRUM)],
        "IR spectrum",
        x_axis=_frequency_axis(sample_rate),
        y_axis=Axis(-60.0, 6.0, "dB", ticks=(-60.0, -30.0, 0.0)),
    )
    return Picture([time_plot, spectrum_plot])


def _log_bins(
    frequencies: np.ndarray, level_db: np.ndarray, sample_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``2 * POINTS`` points on a log axis: the loudest bin of each slice."""
    x = _log_axis(frequencies, sample_rate)
    edges = np.linspace(0.0, 1.0, 2 * POINTS + 1)
    index = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, 2 * POINTS - 1)
    keep = frequencies >= LOW_HZ
    peaks = np.full(2 * POINTS, -np.inf)
    np.maximum.at(peaks, index[keep], level_db[keep])
    filled = np.isfinite(peaks)
    centres = (edges[:-1] + edges[1:]) / 2
    return centres[filled], peaks[filled]


#: What a live picture says before the sound reaches it.
SILENT_CAPTION = "shown while playing"


def _scope(cls: type[Node], params: dict[str, Any], sample_rate: int, view: np.ndarray | None) -> Picture:
    time_axis = Axis(0.0, float(params["time_ms"]), "ms")
    if view is None or len(view) == 0:
        flat = curve(np.array([0.0, 1.0]), np.array([0.5, 0.5]))
        amplitude = Axis(-1.0, 1.0, ticks=(-1.0, 0.0, 1.0))
        return Picture([Plot([flat], SILENT_CAPTION, [0.5], time_axis, amplitude)], live=True)
    wave = view  # the triggered waveform, already (min, max)-decimated when long
    if len(wave) > 4 * POINTS:  # keep the peaks when there are more samples than pixels
        wave = wave[: len(wave) // (2 * POINTS) * (2 * POINTS)].reshape(2 * POINTS, -1)
        wave = np.where(np.arange(2 * POINTS) % 2 == 0, wave.max(axis=1), wave.min(axis=1))
    limit = max(1.0, float(np.max(np.abs(wave))) if len(wave) else 1.0)
    x = np.linspace(0.0, 1.0, len(wave))
    caption = f"peak {float(np.max(np.abs(wave))):.2f}  trigger {params['trigger']}"
    amplitude = Axis(-limit, limit, ticks=(-1.0, 0.0, 1.0) if limit < 1.5 else None)
    trace = curve(x, _to_unit(wave, -limit, limit))
    return Picture([Plot([trace], caption, [0.5], time_axis, amplitude)], live=True)


def _spectrum(cls: type[Node], params: dict[str, Any], sample_rate: int, view: np.ndarray | None) -> Picture:
    floor = float(params["floor_db"])
    level_axis = Axis(floor, 0.0, "dB")
    if view is None or len(view) == 0:
        flat = curve(np.array([0.0, 1.0]), np.array([0.0, 0.0]), SPECTRUM)
        plot = Plot([flat], SILENT_CAPTION, [], _frequency_axis(sample_rate), level_axis)
        return Picture([plot], live=True)
    level = view  # dB per bin of the latest FFT, DC left out: fft_size is twice its length
    frequencies = view_frequencies(len(level), sample_rate)
    x, y = _log_bins(frequencies, level, sample_rate)
    peak = int(np.argmax(level)) if len(level) else 0
    caption = f"peak {format_hz(float(frequencies[peak]))} {float(level[peak]):.0f} dB" if len(level) else ""
    trace = curve(x, _to_unit(y, floor, 0.0), SPECTRUM)
    return Picture([Plot([trace], caption, [], _frequency_axis(sample_rate), level_axis)], live=True)


def _adsr(cls: type[Node], params: dict[str, Any], sample_rate: int, view: np.ndarray | None) -> Picture:
    times_ms, envelope = cls.shape_preview(params, 2 * POINTS)
    top = float(params["level"]) or 1.0  # a zero level: flat at the bottom of a 0..1 box
    shape = curve(times_ms / times_ms[-1], _to_unit(envelope, 0.0, top), RESPONSE)
    parts = [
        f"A {format_time(params['attack_ms'])}",
        f"D {format_time(params['decay_ms'])}",
        f"S {format_number(params['sustain'], 2)}",
        f"R {format_time(params['release_ms'])}",
    ]
    y_axis = Axis(0.0, top, ticks=(0.0, top))
    return Picture([Plot([shape], "  ".join(parts), [], Axis(0.0, float(times_ms[-1]), "ms"), y_axis)])


#: The compressor's picture spans these input and output levels.
DYNAMICS_AXIS = Axis(-60.0, 0.0, "dB", ticks=(-60.0, -30.0, 0.0))


def _compressor(
    cls: type[Node], params: dict[str, Any], sample_rate: int, view: np.ndarray | None
) -> Picture:
    levels = np.linspace(DYNAMICS_AXIS.low, DYNAMICS_AXIS.high, 2 * POINTS + 1)
    x = _to_unit(levels, DYNAMICS_AXIS.low, DYNAMICS_AXIS.high)
    reference = curve(x, x, REFERENCE)  # in = out
    static = curve(
        x, _to_unit(cls.static_curve(params, levels), DYNAMICS_AXIS.low, DYNAMICS_AXIS.high), RESPONSE
    )
    ratio = "limit" if params["ratio"] >= 100.0 else f"{format_number(params['ratio'], 2)}:1"
    caption = f"{params['threshold_db']:.3g} dB  {ratio}  knee {params['knee_db']:.3g} dB"
    return Picture([Plot([reference, static], caption, [], DYNAMICS_AXIS, DYNAMICS_AXIS)])


PICTURES = {
    "oscillator": _waveform,
    "lfo": _waveform,
    "filter": _filter,
    "waveshaper": _waveshaper,
    "convolver": _convolver,
    "scope": _scope,
    "spectrum": _spectrum,
    "adsr": _adsr,
    "compressor": _compressor,
}
