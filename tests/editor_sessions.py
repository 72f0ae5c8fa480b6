"""An editor session in a process of its own that crashes: it edits, autosaves and dies
without its clean exit, as a killed or crashed editor does (the system closes its files and
drops its locks; nothing else is cleaned up)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent

CRASHING_SESSION = """
import json, os, sys
from pathlib import Path
from patcher.editor.model import EditorModel
from patcher.patchfile import dumps

state_dir, opened, node_type, params = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
model = EditorModel(state_dir=Path(state_dir))
if opened:
    assert model.open(Path(opened)), model.status.text
model.add_node(node_type, (1.0, 2.0), **params)
assert model.autosave(), model.status.text
sys.stdout.write(dumps(model.patch))
sys.stdout.flush()
os._exit(3)
"""


def crashed_session(
    state_dir: Path,
    opened: Path | None = None,
    node_type: str = "noise",
    params: dict[str, Any] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run a session that opens ``opened`` (or starts a new patch), adds a node, autosaves
    into ``state_dir`` and crashes; return its patch as ``dumps`` gives it."""
    arguments = [str(state_dir), str(opened or ""), node_type, json.dumps(params or {})]
    environment = dict(os.environ, PYTHONPATH=str(PROJECT))
    result = subprocess.run(
        [sys.executable, "-c", CRASHING_SESSION, *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=environment,
    )
    assert result.returncode == 3, result.stderr
    return result.stdout
