"""Long work the editor starts and watches without waiting for it: a render to a file.

A job runs in a process of its own (so the window stays responsive and the audio engine's
process is not disturbed) and reports through a queue that the model reads once a frame.
GUI-free: the view shows ``progress`` and offers ``cancel``.
"""

from __future__ import annotations

import multiprocessing
import queue
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patcher.model import Patch


@dataclass
class JobResult:
    ok: bool
    message: str


class RenderJob:
    """``patcher render`` of a patch into ``path``, in a child process."""

    def __init__(self, patch: Patch, path: Path, seconds: float | None = None) -> None:
        from patcher.render import render_in_child

        context = multiprocessing.get_context("spawn")  # not a fork of a process with a GL window
        self.path = Path(path)
        self.progress = 0.0
        self._updates: Any = context.Queue()
        self._process = context.Process(
            target=render_in_child, args=(patch, str(self.path), seconds, self._updates), daemon=True
        )
        self._process.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def poll(self) -> JobResult | None:
        """Take what the child said (its progress); its result once it has finished."""
        while True:
            try:
                kind, value = self._updates.get_nowait()
            except queue.Empty:
                break
            if kind == "progress":
                self.progress = float(value)
            else:
                self._process.join(timeout=5)
                return JobResult(kind == "done", str(value))
        if not self._process.is_alive() and self._updates.empty():
            return JobResult(False, f"the render process ended (exit code {self._process.exitcode})")
        return None

    def cancel(self) -> None:
        """End the render by its process id; it removes its half-written file."""
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=10)
        if self._process.is_alive():  # it did not listen: no file can be saved by waiting more
            self._process.kill()
            self._process.join()
