"""Draw the node pictures of two example patches in a real dearpygui window, and save screenshots.

``python -m tests.plot_screenshots OUT_DIR`` (run by ``tests/test_editor_plots.py`` in a child
process under its own Xvfb: dearpygui allows one editor window per process, and
``tests/test_editor_window.py`` has this one's). It opens ``patches/default.json`` (playing, on
the offline engine, so its scope and spectrum draw sound) and ``patches/pedal_vs_ir.json`` in
the editor, then draws their pictures with ``EditorView._draw_plot`` in a gallery window at the
sizes of a node and of the params panel, at scales 1 and 1.5, and smaller, where they fold away.

Writes ``default-editor.png``, ``pedal_vs_ir-editor.png``, ``plots-scale1.png``,
``plots-scale1.5.png``, ``plots-folded.png`` and ``drawn.json``: each gallery drawlist's size
and the texts drawn in it, for the test to check.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: Wide enough for default.json's canvas, whose spectrum is at x = 1300.
SCREEN = (2048, 1080)
#: The pictures shown in the gallery: (patch, node id); one of each kind of plot.
GALLERY = [
    ("default", "bass"),
    ("default", "sweep"),
    ("default", "tone"),
    ("default", "wave"),
    ("default", "spectrum"),
    ("pedal_vs_ir", "pre_emphasis"),
    ("pedal_vs_ir", "clipper"),
    ("pedal_vs_ir", "pedal_ir"),
]
#: Drawn smaller and smaller, where they fold away.
FOLDED = [("default", "tone"), ("default", "wave")]
FOLDED_SCALES = (1.0, 0.9, 0.75, 0.6, 0.45, 0.3)
SETTLE_FRAMES = 4


def _texts(tag: str) -> list[str]:
    import dearpygui.dearpygui as dpg

    texts = []
    for item in dpg.get_item_children(tag, 2) or []:
        configuration = dpg.get_item_configuration(item)
        if dpg.get_item_type(item).endswith("mvDrawText"):
            texts.append(configuration["text"])
    return texts


Entry = tuple[str, Any, tuple[int, int], float]  # label, plot, size at scale 1, scale


def _entries(pictures: dict[tuple[str, str], Any], scales: tuple[float, ...], sizes: dict) -> list[Entry]:
    return [
        (f"{patch}: {node_id} ({size_name}, x{scale})", plot, size, scale)
        for scale in scales
        for (patch, node_id), picture in pictures.items()
        for plot in picture.plots
        for size_name, size in sizes.items()
    ]


def _gallery(view: Any, entries: list[Entry], name: str) -> list[dict[str, Any]]:
    """A window over the editor with each entry's plot drawn by the view, in rows."""
    import dearpygui.dearpygui as dpg

    window = f"gallery:{name}"
    tags = []
    with dpg.window(tag=window, pos=(0, 0), width=SCREEN[0], height=SCREEN[1], no_title_bar=True):
        row_width, row = 0.0, dpg.add_group(horizontal=True)
        for number, (label, _plot, size, scale) in enumerate(entries):
            width = max(size[0] * scale, 8 * len(label))
            if row_width + width + 16 > SCREEN[0] - 20:
                row_width, row = 0.0, dpg.add_group(horizontal=True)
            with dpg.group(parent=row):
                dpg.add_text(label, color=(150, 150, 150))
                tags.append(dpg.add_drawlist(*size, tag=f"{window}:{number}"))
            row_width += width + 16
    for tag, (_label, plot, size, scale) in zip(tags, entries, strict=True):
        view._draw_plot(tag, plot, *size, scale=scale)
    dpg.focus_item(window)  # over the editor's window (a primary window is drawn under others)
    return [
        {
            "label": label,
            "scale": scale,
            "width": dpg.get_item_configuration(tag)["width"],
            "height": dpg.get_item_configuration(tag)["height"],
            "items": len(dpg.get_item_children(tag, 2) or []),
            "texts": _texts(tag),
        }
        for tag, (label, _plot, _size, scale) in zip(tags, entries, strict=True)
    ]


def main(out_dir: Path) -> int:
    import dearpygui.dearpygui as dpg

    from patcher.editor.layout import NODE_PICTURE
    from patcher.editor.model import EditorModel
    from patcher.editor.view import PANEL_PICTURE, EditorView
    from tests.test_editor_window import OfflinePlayer

    out_dir.mkdir(parents=True, exist_ok=True)
    model = EditorModel(state_dir=Path(tempfile.mkdtemp()), player_factory=OfflinePlayer)
    view = EditorView(model, width=SCREEN[0], height=SCREEN[1], position=(0, 0))
    view.build()
    report: dict[str, Any] = {}
    try:
        pictures = {}
        for patch, focus in (("default", "wave"), ("pedal_vs_ir", "tone")):
            assert model.open(ROOT / "patches" / f"{patch}.json"), model.status.text
            if patch == "default":
                assert model.play(), model.status.text
                for _ in range(200):  # the offline engine runs a few blocks a frame
                    view.frame()
                    if model.node_view("wave") is not None and model.node_view("spectrum") is not None:
                        break
            model.select([focus])
            if not view.screenshot(out_dir / f"{patch}-editor.png", frames=SETTLE_FRAMES + 4):
                return 1
            for gallery_patch, node_id in GALLERY:
                if gallery_patch == patch:
                    pictures[(patch, node_id)] = view._picture_for(node_id)
            report[f"{patch}-status"] = model.status.text
        model.stop()
        both = {"node": NODE_PICTURE, "panel": PANEL_PICTURE}
        folding = {key: pictures[key] for key in FOLDED}
        galleries = {
            "plots-scale1": _entries(pictures, (1.0,), both),
            "plots-scale1.5": _entries(pictures, (1.5,), both),
            "plots-folded": _entries(folding, FOLDED_SCALES, {"node": NODE_PICTURE}),
        }
        for name, entries in galleries.items():
            report[name] = _gallery(view, entries, name)
            if not view.screenshot(out_dir / f"{name}.png", frames=SETTLE_FRAMES):
                return 1
            dpg.delete_item(f"gallery:{name}")
        report["captions"] = {
            f"{patch}:{node_id}": [plot.caption for plot in picture.plots]
            for (patch, node_id), picture in pictures.items()
        }
        (out_dir / "drawn.json").write_text(json.dumps(report, indent=1))
    finally:
        model.stop()
        view.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
