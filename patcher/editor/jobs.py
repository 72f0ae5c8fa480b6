"""Long work the editor starts and watches without waiting for it: a render to a file.

A job runs in a process of its own (so the window stays responsive and the audio engine's
process is not disturbed) and reports through a queue that the model reads once a frame.
GUI-free: the view shows ``progress`` and offers ``cancel``.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patcher.model import Patch


@dataclass
class JobResult:
    ok: bool
    message: str


class ChildJob:
    """A function run in a process of its own (spawned: not a fork of a process with a GL
    window), telling a queue ``(kind, value)`` messages; the editor reads them once a frame."""

    #: What the job is, for the message when its process dies without a word.
    name = "job"

    def __init__(self, target: Any, *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self.progress = 0.0
        self._updates: Any = context.Queue()
        self._process = context.Process(target=target, args=(*args, self._updates), daemon=True)
        self._process.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def messages(self) -> Iterator[tuple[str, Any]]:
        """What the child has said since the last call."""
        while True:
            try:
                yield self._updates.get_nowait()
            except (queue.Empty, EOFError, OSError):  # nothing more (or it died mid-message)
                return

    def finished(self) -> None:
        self._process.join(timeout=5)

    def died(self) -> str | None:
        """Why the job ended without saying so, once its process is gone; else None."""
        if not self._process.is_alive() and self._updates.empty():
            return f"the {self.name} process ended (exit code {self._process.exitcode})"
        return None

    def cancel(self) -> None:
        """End the job by its process id: SIGTERM first (a render removes its half-written
        file), then SIGKILL if it did not listen."""
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


class RenderJob(ChildJob):
    """``patcher render`` of a patch into ``path``, in a child process."""

    name = "render"

    def __init__(self, patch: Patch, path: Path, seconds: float | None = None) -> None:
        from patcher.render import render_in_child

        self.path = Path(path)
        super().__init__(render_in_child, patch, str(self.path), seconds)

    def poll(self) -> JobResult | None:
        """Take what the child said (its progress); its result once it has finished."""
        for kind, value in self.messages():
            if kind == "progress":
                self.progress = float(value)
            else:
                self.finished()
                return JobResult(kind == "done", str(value))
        died = self.died()
        return None if died is None else JobResult(False, died)
