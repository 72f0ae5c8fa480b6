"""What each node draws inside itself: curves computed from its spec's functions, GUI-free.

A :class:`Picture` is a list of plots, each a few curves with points in a unit box (x and y
from 0 to 1, y upwards) and a caption; the view scales them to its drawing area. The numbers
come from the node modules themselves — ``waveform_preview`` for the oscillator and the LFO,
``coefficients`` for the filter, ``transfer`` for the waveshaper, the convolver's
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


@dataclass
class Curve:
    points: list[tuple[float, float]]
    color: Color = WAVE


@dataclass
class Plot:
    curves: list[Curve]
    caption: str = ""
    #: Horizontal guide lines, as heights in the unit box (0 dB, zero, ...).
    guides: list[float] = field(default_factory=list)


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


def _curve(x: np.ndarray, y: np.ndarray, color: Color = WAVE) -> Curve:
    x = np.clip(np.nan_to_num(x, nan=0.5), 0.0, 1.0)
    y = np.clip(np.nan_to_num(y, nan=0.5), 0.0, 1.0)
    return Curve([(float(a), float(b)) for a, b in zip(x, y, strict=True)], color)


def _to_unit(values: np.ndarray, low: float, high: float) -> np.ndarray:
    return (np.asarray(values, dtype=float) - low) / (high - low)


def _hz(value: float) -> str:
    return f"{value / 1000:.3g} kHz" if value >= 1000 else f"{value:.3g} Hz"


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
        caption = f"{params['waveform']}  {_hz(params['frequency_hz'])}"
    else:
        spread = max(float(np.max(np.abs(wave - params["offset"]))), 1e-9)
        low, high = params["offset"] - 1.1 * spread, params["offset"] + 1.1 * spread
        span = f"{float(wave.min()):.4g}..{float(wave.max()):.4g}"
        caption = f"{params['shape']}  {_hz(params['rate_hz'])}  {span}"
    zero = [float(_to_unit(0.0, low, high))] if low < 0 < high else []
    return Picture([Plot([_curve(x, _to_unit(wave, low, high))], caption, zero)])


def _filter(cls: type[Node], params: dict[str, Any], sample_rate: int, view: np.ndarray | None) -> Picture:
    from scipy.signal import freqz

    b, a = cls.coefficients(params["type"], params["cutoff_hz"], params["q"], params["gain_db"], sample_rate)
    frequencies = np.geomspace(LOW_HZ, sample_rate / 2 * 0.999, 2 * POINTS)
    _w, response = freqz(b, a, worN=frequencies, fs=sample_rate)
    magnitude_db = 20 * np.log10(np.maximum(np.abs(response), 1e-9))
    x = _log_axis(frequencies, sample_rate)
    low, high = -48.0, 24.0
    magnitude = _curve(x, _to_unit(magnitude_db, low, high), RESPONSE)
    phase = _curve(x, _to_unit(np.angle(response), -math.pi, math.pi), PHASE)
    caption = f"{params['type']}  {_hz(params['cutoff_hz'])}  Q {params['q']:.2g}  (gain, phase)"
    return Picture([Plot([phase, magnitude], caption, [float(_to_unit(0.0, low, high))])])


def _waveshaper(
    cls: type[Node], params: dict[str, Any], sample_rate: int, view: np.ndarray | None
) -> Picture:
    transfer = importlib.import_module(cls.__module__).transfer
    x = np.linspace(-1.0, 1.0, 2 * POINTS + 1)
    y = transfer(x, params)
    limit = max(1.0, float(np.max(np.abs(y))))
    reference = _curve(_to_unit(x, -1, 1), _to_unit(x, -limit, limit), REFERENCE)
    shaped = _curve(_to_unit(x, -1, 1), _to_unit(y, -limit, limit), RESPONSE)
    caption = f"{params['shape']}  drive {params['drive_db']:+.3g} dB"
    return Picture([Plot([reference, shaped], caption, [0.5])])


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
    seconds = len(impulse_response) / sample_rate
    time_plot = Plot(
        [_curve(np.linspace(0, 1, len(envelope)), _to_unit(envelope_db, -60.0, 0.0), WAVE)],
        f"IR {seconds:.2f} s (dB envelope)",
    )
    size = 1 << max(8, min(16, math.ceil(math.log2(max(len(impulse_response), 2)))))
    magnitude = np.abs(np.fft.rfft(impulse_response, size))
    frequencies = np.fft.rfftfreq(size, 1.0 / sample_rate)
    level = 20 * np.log10(np.maximum(magnitude, 1e-9))
    x, y = _log_bins(frequencies[1:], level[1:], sample_rate)
    top = float(np.max(y)) if len(y) else 0.0
    spectrum_plot = Plot([_curve(x, _to_unit(y, top - 60.0, top + 6.0), SPECTRUM)], "IR spectrum")
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


def _scope(cls: type[Node], params: dict[str, Any], sample_rate: int, view: np.ndarray | None) -> Picture:
    if view is None or len(view) == 0:
        flat = _curve(np.array([0.0, 1.0]), np.array([0.5, 0.5]))
        return Picture([Plot([flat], "shows its input while playing", [0.5])], live=True)
    wave = view  # the triggered waveform, already (min, max)-decimated when long
    if len(wave) > 4 * POINTS:  # keep the peaks when there are more samples than pixels
        wave = wave[: len(wave) // (2 * POINTS) * (2 * POINTS)].reshape(2 * POINTS, -1)
        wave = np.where(np.arange(2 * POINTS) % 2 == 0, wave.max(axis=1), wave.min(axis=1))
    limit = max(1.0, float(np.max(np.abs(wave))) if len(wave) else 1.0)
    x = np.linspace(0.0, 1.0, len(wave))
    caption = f"{params['time_ms']:.3g} ms  {params['trigger']}  peak {float(np.max(np.abs(wave))):.2f}"
    return Picture([Plot([_curve(x, _to_unit(wave, -limit, limit))], caption, [0.5])], live=True)


def _spectrum(cls: type[Node], params: dict[str, Any], sample_rate: int, view: np.ndarray | None) -> Picture:
    floor = float(params["floor_db"])
    if view is None or len(view) == 0:
        flat = _curve(np.array([0.0, 1.0]), np.array([0.0, 0.0]), SPECTRUM)
        return Picture([Plot([flat], "shows its input while playing")], live=True)
    level = view  # dB per bin of the latest FFT, DC left out: fft_size is twice its length
    frequencies = view_frequencies(len(level), sample_rate)
    x, y = _log_bins(frequencies, level, sample_rate)
    peak = int(np.argmax(level)) if len(level) else 0
    caption = f"peak {_hz(float(frequencies[peak]))} {float(level[peak]):.0f} dB" if len(level) else ""
    guides = [float(_to_unit(-20.0 * step, floor, 0.0)) for step in range(1, int(-floor // 20) + 1)]
    return Picture([Plot([_curve(x, _to_unit(y, floor, 0.0), SPECTRUM)], caption, guides)], live=True)


PICTURES = {
    "oscillator": _waveform,
    "lfo": _waveform,
    "filter": _filter,
    "waveshaper": _waveshaper,
    "convolver": _convolver,
    "scope": _scope,
    "spectrum": _spectrum,
}
