"""How patcher's objects show themselves in a notebook (Jupyter, VS Code, nbconvert).

A :class:`~patcher.model.Patch` shows its graph laid out as the editor lays it out (SVG), a
:class:`~patcher.render.Rendering` an audio player (a 16-bit WAV in the page, the first
:data:`MAX_PLAYER_SECONDS`), an :class:`~patcher.analysis.Analysis` its verdict, figures and
plots, and a :class:`NodeType` its doc and params. The classes delegate here with one-line
``_repr_*_`` methods, so the model stays data; matplotlib is imported only when a picture is
asked for.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from patcher.docs import node_help, node_markdown
from patcher.model import PatchError, unknown_type_problem
from patcher.spec import Node, node_class
from patcher.text import first_few, quote

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from patcher.analysis import Analysis
    from patcher.model import Patch
    from patcher.render import Rendering

#: The player holds at most this much (a page holding an hour of WAV would not open).
MAX_PLAYER_SECONDS = 30.0
#: An array shorter than this is no sound to play (a reduction over time, a handful of values).
MIN_PLAYER_SECONDS = 0.01
#: A patch's picture: editor pixels per inch, and the figure's size limits (inches).
EDITOR_PIXELS_PER_INCH = 170.0
PICTURE_WIDTH_IN = (3.0, 10.0)
PICTURE_HEIGHT_IN = (1.5, 7.0)
PICTURE_MARGIN = (110.0, 80.0)  # as the gallery's, in editor pixels
PICTURE_FONT_SIZE = 8.0
PLOT_DPI = 72
#: The longest description shown in a patch's repr.
DESCRIPTION_LIMIT = 60


# -- a patch -------------------------------------------------------------------------------------
def patch_repr(patch: Patch) -> str:
    """``<Patch: 6 nodes, 6 links, 48000 Hz, 4 s: 'Its description's first sentence'>``."""
    settings = patch.settings
    text = (
        f"<Patch: {_count(len(patch.nodes), 'node')}, {_count(len(patch.links), 'link')}, "
        f"{settings.sample_rate} Hz, {settings.duration_s:g} s"
    )
    title = _first_sentence(patch.description)
    return text + (f": {quote(title, DESCRIPTION_LIMIT)}>" if title else ">")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _first_sentence(text: str) -> str:
    match = re.match(r"\s*(.+?[.?!])(\s|$)", text, re.DOTALL)
    first = match.group(1) if match else text.strip()
    return " ".join(first.split())


def editor_centres(patch: Patch) -> dict[str, tuple[float, float]]:
    """Each node's centre on the editor's canvas: at its saved place, or, for a patch made
    without places (a script's, every node at (0, 0)), where the editor would lay it out."""
    from patcher.editor.layout import arrange, node_size, piled_up

    corners = arrange(patch) if piled_up(patch) else {n.id: n.position for n in patch.nodes.values()}
    centres = {}
    for node_id, (x, y) in corners.items():
        width, height = node_size(patch.nodes[node_id])
        centres[node_id] = (x + width / 2.0, y + height / 2.0)
    return centres


def patch_svg(patch: Patch) -> str | None:
    """The patch's graph as SVG, its text kept as text (None for an empty patch: nothing to draw)."""
    if not patch.nodes:
        return None
    import matplotlib
    from matplotlib.figure import Figure

    from patcher.gallery import draw_graph

    centres = editor_centres(patch)
    xs, ys = zip(*centres.values(), strict=True)
    width = _within((max(xs) - min(xs) + 2 * PICTURE_MARGIN[0]) / EDITOR_PIXELS_PER_INCH, PICTURE_WIDTH_IN)
    height = _within((max(ys) - min(ys) + 2 * PICTURE_MARGIN[1]) / EDITOR_PIXELS_PER_INCH, PICTURE_HEIGHT_IN)
    figure = Figure(figsize=(width, height))
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    draw_graph(axes, patch, "", positions=centres, fontsize=PICTURE_FONT_SIZE)
    picture = io.StringIO()
    # Text as <text>, not outlines: smaller, sharp at any zoom, and a node's id can be found in it.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "patcher"}):
        figure.savefig(picture, format="svg", metadata={"Date": None})
    return picture.getvalue()


def _within(value: float, limits: tuple[float, float]) -> float:
    return min(max(value, limits[0]), limits[1])


# -- a render ------------------------------------------------------------------------------------
def playable(rendering: Rendering) -> np.ndarray | None:
    """The samples as (frames, channels) floats, or None where the array is no longer sound
    (a peak, a transpose, a comparison): those show as the array they are."""
    samples = np.asarray(rendering)
    rate = getattr(rendering, "sample_rate", 0)
    if rate <= 0 or samples.dtype.kind != "f":
        return None
    if samples.ndim == 1:
        samples = samples[:, np.newaxis]
    if samples.ndim != 2 or samples.shape[1] not in (1, 2) or len(samples) < MIN_PLAYER_SECONDS * rate:
        return None
    return samples


def wav_base64(samples: np.ndarray, sample_rate: int) -> str:
    """``samples`` (within ±1.0) as a 16-bit WAV file, base64: what every browser plays."""
    import soundfile

    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)
    wav = io.BytesIO()
    soundfile.write(wav, pcm, sample_rate, format="WAV", subtype="PCM_16")
    return base64.b64encode(wav.getvalue()).decode("ascii")


def rendering_html(rendering: Rendering) -> str | None:
    """An audio player holding the render (its first :data:`MAX_PLAYER_SECONDS`), and a line
    saying what it holds; None where the array is no longer sound (see :func:`playable`)."""
    samples = playable(rendering)
    if samples is None:
        return None
    rate = rendering.sample_rate
    shown = np.nan_to_num(samples[: round(MAX_PLAYER_SECONDS * rate)], nan=0.0, posinf=1.0, neginf=-1.0)
    peak = float(np.max(np.abs(shown))) if shown.size else 0.0
    channels = {1: "mono", 2: "stereo"}[samples.shape[1]]
    notes = [f"{channels}, {len(samples) / rate:.2f} s at {rate} Hz, " + _peak_text(peak)]
    if len(shown) < len(samples):
        notes.append(f"the player holds the first {MAX_PLAYER_SECONDS:g} s")
    if peak > 1.0:
        notes.append("the player clips it to ±1.0 (the array keeps every sample)")
    notes += rendering.warnings
    wav = wav_base64(shown, rate)
    player = f'<audio controls preload="metadata" src="data:audio/wav;base64,{wav}"></audio>'
    caption = f'<div style="font-size: smaller">{html.escape("; ".join(notes))}</div>'
    return f'<div class="patcher-rendering">{player}{caption}</div>'


def _peak_text(peak: float) -> str:
    return "silence" if peak == 0.0 else f"peak {20.0 * np.log10(peak):.1f} dBFS"


# -- an analysis ---------------------------------------------------------------------------------
def analysis_repr(analysis: Analysis) -> str:
    """One line: the chain measured and the verdict (no arrays)."""
    from patcher.analysis_report import verdict

    return f"<Analysis of {_chain_text(analysis)}: {verdict(analysis).removesuffix('.')}>"


def _chain_text(analysis: Analysis) -> str:
    chain = first_few(analysis.chain, count=5) or "nothing in between"
    return f"{analysis.patch_name}, {analysis.from_label} -> {analysis.to_label} ({chain})"


def analysis_html(analysis: Analysis) -> str:
    """The verdict (a sentence, then the paragraph behind it), the figures and the report's plots."""
    from patcher.analysis_report import PLOTS, figure_rows, verdict

    escape = html.escape
    parts = [
        f"<p>{escape(_chain_text(analysis))}, at {analysis.level_dbfs:g} dBFS: "
        f"<b>{escape(verdict(analysis))}</b></p>",
        f"<p>{escape(analysis.verdict)}</p>",
        "<table><tr><th>measure</th><th>value</th><th>meaning</th></tr>",
        *(_table_row(row) for row in figure_rows(analysis)),
        "</table>",
    ]
    if analysis.warnings:
        parts += ["<ul>", *(f"<li>{escape(warning)}</li>" for warning in analysis.warnings), "</ul>"]
    for name, plot in PLOTS:
        alt = escape(name.removesuffix(".png"))
        parts.append(f'<img alt="{alt}" src="data:image/png;base64,{png_base64(plot(analysis))}"/>')
    return '<div class="patcher-analysis">' + "\n".join(parts) + "</div>"


def _table_row(cells: tuple[str, ...]) -> str:
    return "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>"


def png_base64(figure: Figure) -> str:
    picture = io.BytesIO()
    figure.savefig(picture, format="png", dpi=PLOT_DPI)
    return base64.b64encode(picture.getvalue()).decode("ascii")


# -- a node type ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeType:
    """A node type as a notebook shows it: its doc, ports and params (``patcher nodes TYPE``
    as text, its section of docs/nodes.md as Markdown)."""

    spec: type[Node]

    @property
    def name(self) -> str:
        return self.spec.TYPE

    def __repr__(self) -> str:
        spec = self.spec
        inputs, outputs = ", ".join(spec.INPUTS) or "-", ", ".join(spec.OUTPUTS) or "-"
        params = ", ".join(spec.PARAMS) or "none"
        return f"<node type {spec.TYPE!r} ({spec.FAMILY}): in: {inputs}; out: {outputs}; params: {params}>"

    def __str__(self) -> str:
        return node_help(self.spec)

    def _repr_markdown_(self) -> str:
        return node_markdown(self.spec)


def node_type(type_name: str) -> NodeType:
    """The node type named ``type_name`` (``"oscillator"``), to read its doc and params.
    Raises PatchError for an unknown name, with the closest one."""
    spec = node_class(type_name)
    if spec is None:
        raise PatchError(unknown_type_problem(type_name))
    return NodeType(spec)
