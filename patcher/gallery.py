"""The README's gallery: for every example patch, its graph beside spectrograms of what goes in
and what comes out.

``python -m patcher.gallery`` (``make gallery``) renders each ``patches/*.json`` through the
engine for its ``duration_s`` and writes ``docs/gallery/<patch>.png`` (900 x 300 pixels):

* left, the patch's graph: the networkx graph of its links, laid out at the node positions
  saved in the patch (as the editor shows them), each node labelled with its id and type;
  audio links are grey, links into a param (modulation) dashed blue, and links out of a
  delay's ``tap`` (which may close a feedback loop) red; the patch's comments are pale
  yellow notes at their places, and a subpatch is labelled with its file or ``(embedded)``;
* middle, a spectrogram of the input (the first input node's file, at its gain), or a note
  that the patch makes its own sound;
* right, a spectrogram of the output; where left and right differ, one above the other.

Spectrograms use a log frequency axis (40 Hz - 16 kHz) and an 80 dB colour range.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
from matplotlib.axes import Axes
from matplotlib.gridspec import GridSpec
from PIL import Image
from scipy.signal import spectrogram

import patcher
from patcher.audiofile import read_audio
from patcher.model import Patch

ROOT = Path(__file__).resolve().parent.parent
PATCHES_DIR = ROOT / "patches"
GALLERY_DIR = ROOT / "docs" / "gallery"
WIDTH_PX, HEIGHT_PX, DPI = 900, 300, 100
LOWEST_HZ, HIGHEST_HZ, FREQUENCY_ROWS = 40.0, 16000.0, 120
DYNAMIC_RANGE_DB = 80.0
#: Longest render drawn, in seconds (the examples run 3.5-6 s).
MAX_SECONDS = 8.0
#: Room around the outermost nodes, in the editor's units (a node box is about 200 x 60).
MARGIN = (110.0, 80.0)
#: Colours by node family, so sources, effects and glue read apart at a glance.
FAMILY_COLOURS = {
    "io": "#d9d9d9",
    "sources": "#fdd9a0",
    "modulators": "#c6dbef",
    "delays": "#c7e9c0",
    "filters": "#dadaeb",
    "shapers": "#fcbba1",
    "convolution": "#fde0ef",
    "mixing": "#f0f0f0",
    "subpatch": "#e5d8bd",
}
COMMENT_COLOUR = "#fff7bc"
#: A comment with no size of its own is drawn this wide; a character is about this wide.
COMMENT_WIDTH, CHARACTER_WIDTH, LINE_HEIGHT = 240.0, 6.0, 14.0


def patch_graph(patch: Patch) -> nx.MultiDiGraph:
    """The patch as a networkx graph: a vertex per node, an edge per link (ports as attributes)."""
    graph = nx.MultiDiGraph()
    for node_id, node in patch.nodes.items():
        kind = node.type
        if node.inner is not None:  # a subpatch, or a poly's voice
            kind = f"{node.type} {Path(node.file).stem}" if node.file else f"{node.type} (embedded)"
        graph.add_node(node_id, type=kind, family=node.spec.FAMILY, position=node.position)
    for link in patch.links:
        graph.add_edge(
            link.source.node, link.target.node, source_port=link.source.port, target_port=link.target.port
        )
    return graph


def draw_graph(
    axes: Axes,
    patch: Patch,
    title: str,
    positions: Mapping[str, tuple[float, float]] | None = None,
    fontsize: float = 5.5,
) -> None:
    """Draw the patch's graph, each node centred at ``positions`` (default: its saved
    position), in the editor's coordinates (whose y axis points down)."""
    graph = patch_graph(patch)
    places = positions if positions is not None else nx.get_node_attributes(graph, "position")
    layout = {node_id: (x, -y) for node_id, (x, y) in places.items()}
    boxes = {}
    for node_id, (x, y) in layout.items():
        attributes = graph.nodes[node_id]
        text = axes.text(
            x,
            y,
            f"{node_id}\n{attributes['type']}",
            ha="center",
            va="center",
            fontsize=fontsize,
            zorder=3,
            bbox={
                "boxstyle": "round,pad=0.3",
                "facecolor": FAMILY_COLOURS.get(attributes["family"], "white"),
                "edgecolor": "#555555",
                "linewidth": 0.6,
            },
        )
        boxes[node_id] = text
    drawn: set[tuple[str, str, str]] = set()
    for source, target, ports in graph.edges(data=True):
        modulation = ports["target_port"] in patch.nodes[target].spec.PARAMS
        feedback = ports["source_port"] == "tap"
        kind = "modulation" if modulation else "feedback" if feedback else "audio"
        if (source, target, kind) in drawn:
            continue  # a stereo pair of links is drawn as one arrow
        drawn.add((source, target, kind))
        colour = {"modulation": "#3b6fb6", "feedback": "#c0392b", "audio": "#555555"}[kind]
        bend = 0.25 if graph.has_edge(target, source) else 0.0
        axes.annotate(
            "",
            xy=layout[target],
            xytext=layout[source],
            zorder=4,  # after the boxes: each box has its place then, and the arrow stops at it
            arrowprops={
                "arrowstyle": "-|>",
                "color": colour,
                "linewidth": 0.8,
                "linestyle": "--" if modulation else "-",
                "mutation_scale": 7,
                "shrinkA": 1,
                "shrinkB": 1,
                "patchA": boxes[source].get_bbox_patch(),
                "patchB": boxes[target].get_bbox_patch(),
                "connectionstyle": f"arc3,rad={bend}",
            },
        )
    corners = draw_comments(axes, patch)
    # Equal scales on both axes: widen whichever range is short for the panel's shape.
    xs, ys = zip(*layout.values(), *corners, strict=True)
    (left, right), (bottom, top) = (
        (min(xs) - MARGIN[0], max(xs) + MARGIN[0]),
        (min(ys) - MARGIN[1], max(ys) + MARGIN[1]),
    )
    box = axes.get_position()
    figure_width, figure_height = axes.figure.get_size_inches()
    panel_ratio = (box.height * figure_height) / (box.width * figure_width)
    width, height = right - left, top - bottom
    if height < width * panel_ratio:
        grow = (width * panel_ratio - height) / 2.0
        bottom, top = bottom - grow, top + grow
    else:
        grow = (height / panel_ratio - width) / 2.0
        left, right = left - grow, right + grow
    axes.set_xlim(left, right)
    axes.set_ylim(bottom, top)
    axes.set_title(title, fontsize=8, fontweight="bold")
    axes.axis("off")


def draw_comments(axes: Axes, patch: Patch) -> list[tuple[float, float]]:
    """Each comment as a note, its top-left corner at its position; return the corners of
    the notes' boxes (in the drawing's coordinates), so the view takes them in."""
    corners = []
    for comment in patch.comments:
        x, y = comment.position
        width = comment.size[0] if comment.size else COMMENT_WIDTH
        lines = [
            line
            for paragraph in comment.text.split("\n")
            for line in textwrap.wrap(paragraph, max(8, int(width / CHARACTER_WIDTH))) or [""]
        ]
        height = comment.size[1] if comment.size else LINE_HEIGHT * len(lines)
        axes.text(
            x,
            -y,
            "\n".join(lines),
            ha="left",
            va="top",
            fontsize=5,
            style="italic",
            zorder=1,
            bbox={
                "boxstyle": "square,pad=0.4",
                "facecolor": COMMENT_COLOUR,
                "edgecolor": "#c9b458",
                "linewidth": 0.4,
            },
        )
        corners += [(x, -y), (x + width, -y - height)]
    return corners


def log_spectrogram(signal: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times (s), log-spaced frequencies (Hz) and levels (dB) of ``signal``'s spectrogram."""
    frequencies, times, power = spectrogram(signal, sample_rate, window="hann", nperseg=2048, noverlap=1536)
    rows = np.geomspace(LOWEST_HZ, HIGHEST_HZ, FREQUENCY_ROWS)
    resampled = np.array([np.interp(rows, frequencies, column) for column in power.T]).T
    return times, rows, 10.0 * np.log10(resampled + 1e-20)


def draw_spectrogram(axes: Axes, signal: np.ndarray, sample_rate: int, title: str, label_axes: bool) -> None:
    times, rows, levels = log_spectrogram(signal, sample_rate)
    top = levels.max()
    axes.pcolormesh(
        times,
        rows,
        levels,
        vmin=top - DYNAMIC_RANGE_DB,
        vmax=top,
        cmap="magma",
        shading="nearest",
        rasterized=True,
    )
    axes.set_yscale("log")
    axes.set_ylim(LOWEST_HZ, HIGHEST_HZ)
    axes.set_yticks([100, 1000, 10000], ["100", "1k", "10k"] if label_axes else ["", "", ""])
    axes.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axes.tick_params(labelsize=6, length=2, pad=1)
    axes.set_title(title, fontsize=7, pad=2)


def input_signal(patch: Patch, frames: int) -> np.ndarray | None:
    """What the first input node plays (mono, at its gain), or None if the patch has none."""
    for node in patch.nodes.values():
        if node.type == "input" and node.params["source"] == "file" and node.params["file"]:
            audio = read_audio(patch.base_dir / node.params["file"], patch.settings.sample_rate, channels=2)
            mono = audio.mean(axis=1) * 10.0 ** (node.params["gain_db"] / 20.0)
            if node.params["loop"] and len(mono):
                mono = np.resize(mono, frames)
            return np.pad(mono[:frames], (0, max(0, frames - len(mono))))
    return None


def rendered(patch: Patch, patch_path: Path) -> tuple[np.ndarray, Path | None]:
    """What the gallery draws of ``patch``: its render (up to ``MAX_SECONDS``), played from
    the MIDI file beside it when it has one (returned too)."""
    score = patch_path.with_suffix(".mid")
    events = patcher.read_midi_file(score, patch.settings.sample_rate) if score.is_file() else None
    seconds = min(patch.settings.duration_s, MAX_SECONDS)
    return patcher.render(patch, seconds, events=events), score if events is not None else None


def gallery_image(patch_path: Path, image_path: Path) -> None:
    """Render ``patch_path`` and write its gallery PNG to ``image_path``."""
    patch = patcher.load(patch_path)
    sample_rate = patch.settings.sample_rate
    output, score = rendered(patch, patch_path)
    stereo = not np.allclose(output[:, 0], output[:, 1], atol=1e-6)
    figure = plt.figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    grid = GridSpec(
        2, 3, figure=figure, width_ratios=(1.7, 1.0, 1.0), left=0.01, right=0.99, bottom=0.1, top=0.9
    )
    grid.update(wspace=0.12, hspace=0.45)
    draw_graph(figure.add_subplot(grid[:, 0]), patch, patch_path.stem)
    dry = input_signal(patch, len(output))
    input_axes = figure.add_subplot(grid[:, 1])
    if dry is None:
        made = f"played from {score.name}" if score is not None else "the patch makes its own sound"
        input_axes.text(0.5, 0.5, f"no input:\n{made}", ha="center", va="center", fontsize=7)
        input_axes.set_xticks([])
        input_axes.set_yticks([])
        input_axes.set_title("input", fontsize=7, pad=2)
    else:
        draw_spectrogram(input_axes, dry, sample_rate, "input", label_axes=True)
        input_axes.set_xlabel("s", fontsize=6, labelpad=0)
    if stereo:
        for row, (channel, name) in enumerate(((0, "output, left"), (1, "output, right"))):
            axes = figure.add_subplot(grid[row, 2])
            draw_spectrogram(axes, output[:, channel], sample_rate, name, label_axes=True)
        axes.set_xlabel("s", fontsize=6, labelpad=0)
    else:
        axes = figure.add_subplot(grid[:, 2])
        draw_spectrogram(axes, output[:, 0], sample_rate, "output", label_axes=True)
        axes.set_xlabel("s", fontsize=6, labelpad=0)
    image_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(image_path, dpi=DPI)
    plt.close(figure)
    # A 256-colour palette keeps each image small without visible loss (spectrograms use one map).
    with Image.open(image_path) as image:
        quantized = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    quantized.save(image_path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    # Chosen here, not on import: a notebook drawing a patch keeps its own (inline) backend.
    matplotlib.use("Agg")
    names = sys.argv[1:] if argv is None else argv
    paths = [PATCHES_DIR / f"{name}.json" for name in names] if names else sorted(PATCHES_DIR.glob("*.json"))
    for patch_path in paths:
        image_path = GALLERY_DIR / f"{patch_path.stem}.png"
        gallery_image(patch_path, image_path)
        print(f"wrote {image_path.relative_to(ROOT)} ({image_path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
