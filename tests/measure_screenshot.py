"""The README's picture of Analyze > Measure on pedal_vs_ir's pedal side (``make screenshots``).

Run under an X server: ``python -m tests.measure_screenshot OUT.png``. Measuring writes
nothing, so the example is opened where it is.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(out: Path) -> int:
    from patcher.editor.model import EditorModel
    from patcher.editor.view import EditorView

    with tempfile.TemporaryDirectory() as state:
        model = EditorModel(state_dir=Path(state))
        view = EditorView(model, width=1600, height=1000, position=(0, 0), ui_scale=1.0)
        view.build()
        try:
            assert model.open(ROOT / "patches" / "pedal_vs_ir.json"), model.status.text
            for _ in range(5):
                view.frame()
            model.select(["pre_emphasis", "clipper", "tone"])
            view.perform("measure")
            deadline = time.monotonic() + 300
            while model.measuring.job is not None and time.monotonic() < deadline:
                view.frame()
            if model.measuring.result is None:
                print(f"the measurement failed: {model.status.text}", file=sys.stderr)
                return 1
            return 0 if view.screenshot(out) else 1
        finally:
            model.shutdown()
            view.destroy()


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
