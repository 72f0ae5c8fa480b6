"""The patch editor: a GUI-free model (``model.py``) and its dearpygui window (``view.py``).

``run_editor(path)`` opens the window on a patch; ``run_editor(path, screenshot=OUT)`` renders
a few frames, saves a PNG of the window and returns, for documentation and smoke tests.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from patcher.editor.model import DEFAULT_PATCH, EditorModel, PlayerFactory

__all__ = ["EditorModel", "run_editor"]


def run_editor(
    path: str | Path | None = None,
    *,
    screenshot: str | Path | None = None,
    frames: int = 12,
    play: bool = False,
    player_factory: PlayerFactory | None = None,
    state_dir: Path | None = None,
    allow_outside_files: bool = False,
    ui_scale: float | None = None,
    midi: str | None = None,
    osc: int | None = None,
) -> int:
    """Open the editor on ``path`` (a missing file becomes a new patch saved there); exit code.
    ``ui_scale`` sizes text and panels, and is remembered for the next session. ``midi`` (part
    of a MIDI input port's name) and ``osc`` (a UDP port) are listened to in this session, as
    ``patcher play`` does, whatever the menus remember. Recent files,
    autosaves and settings are kept in ``state_dir`` (default: ``default_state_dir()``); a
    screenshot run without one keeps them in a temporary folder of its own."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print(
            "patcher: error: the editor needs a display (run it under xvfb-run for screenshots)",
            file=sys.stderr,
        )
        return 1
    if screenshot is not None and state_dir is None:
        # A picture for the docs or a test: a state folder of its own, so that it neither adds
        # to the user's recent files, nor shows them, nor offers a crashed session's autosave.
        with tempfile.TemporaryDirectory(prefix="patcher-screenshot-") as folder:
            return run_editor(
                path,
                screenshot=screenshot,
                frames=frames,
                play=play,
                player_factory=player_factory,
                state_dir=Path(folder),
                allow_outside_files=allow_outside_files,
                ui_scale=ui_scale,
                midi=midi,
                osc=osc,
            )
    from patcher.editor.view import EditorView

    options = {"state_dir": state_dir} if state_dir else {}
    if player_factory is not None:
        options["player_factory"] = player_factory
    model = EditorModel(**options, allow_outside_files=allow_outside_files)
    opened = True
    if path is not None:
        path = Path(path)
        if path.exists():
            opened = model.open(path)
        else:
            model.path = path
            model.say(f"new patch: Save writes {path}")
    if not opened and model.outside_question is None:  # that question is asked in the window
        print(f"patcher: error: {model.status.text}", file=sys.stderr)
    if ui_scale is not None and screenshot is None:  # a screenshot's scale is for it alone
        model.remember_preference("ui_scale", ui_scale)
    if midi is not None:
        model.live.choose_midi_input(midi, remember=False)
    if osc is not None:
        model.live.set_osc(True, osc, remember=False)
    view = EditorView(model, ui_scale=ui_scale)
    view.build(show=True)
    try:
        if play:
            model.play()  # waits for the engine: a screenshot after it shows the sound
            _run_for(view, seconds=1.5 if screenshot is not None else 0.0)
        if screenshot is not None:  # no engine process unless asked to play
            if not view.screenshot(Path(screenshot), frames):
                print(f"patcher: error: could not write the screenshot {screenshot}", file=sys.stderr)
                return 1
            print(f"wrote {screenshot}")
            return 0 if opened else 1
        view.frame()  # the window shows before the engine process is even launched
        model.start_engine()  # in the background: the first Play then only starts the stream
        view.run()
        model.shutdown()
    finally:
        model.close_engine()
        view.destroy()
    return 0


def _run_for(view: object, seconds: float) -> None:
    """Render frames for ``seconds`` so meters and scopes fill before a screenshot."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        view.frame()
        time.sleep(1 / 60)


def main(argv: list[str] | None = None) -> int:
    """``python -m patcher.editor [PATCH] [--screenshot OUT.png]`` (what ``patcher edit`` runs)."""
    import argparse

    parser = argparse.ArgumentParser(prog="patcher edit", description="Open the patch editor.")
    parser.add_argument("patch", type=Path, nargs="?", default=DEFAULT_PATCH)
    parser.add_argument(
        "--screenshot", type=Path, help="render a few frames, save a PNG of the window and exit"
    )
    args = parser.parse_args(argv)
    return run_editor(args.patch, screenshot=args.screenshot)
