"""The engine: runs a compiled schedule block by block. Headless; offline and real time alike.

The real-time player and the analysis tools drive this same class, so what is measured is
what is heard.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from patcher.compiler import compile_patch
from patcher.model import Patch


class Engine:
    """Holds a schedule and the stereo mix of its output nodes."""

    def __init__(self, patch: Patch, sample_rate: int | None = None, block_size: int | None = None):
        self.patch = patch
        self.schedule = compile_patch(patch, sample_rate, block_size)
        self.mix = np.zeros((2, self.block_size))

    @property
    def sample_rate(self) -> int:
        return self.schedule.sample_rate

    @property
    def block_size(self) -> int:
        return self.schedule.block_size

    def reset(self) -> None:
        for node in self.schedule.nodes.values():
            node.reset()

    def process_block(self, frames: int | None = None) -> np.ndarray:
        """Run one block of ``frames`` (at most the block size); return a (2, frames) view."""
        frames = self.block_size if frames is None else frames
        for group in self.schedule.groups:
            group.run(frames)
        mix = self.mix[:, :frames]
        mix.fill(0.0)
        for node in self.schedule.nodes.values():
            stereo = getattr(node, "stereo", None)
            if stereo is not None:
                mix += stereo[:, :frames]
        return mix

    def render(self, seconds: float, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Render ``seconds`` of audio as a (frames, 2) array, calling ``progress(frames_done)``."""
        total = round(seconds * self.sample_rate)
        result = np.empty((total, 2))
        for start in range(0, total, self.block_size):
            frames = min(self.block_size, total - start)
            result[start : start + frames] = self.process_block(frames).T
            if progress is not None:
                progress(frames)
        return result


def render(
    patch: Patch,
    seconds: float | None = None,
    sample_rate: int | None = None,
    block_size: int | None = None,
    show_progress: bool = False,
) -> np.ndarray:
    """Render a patch offline to a (frames, 2) float64 array."""
    engine = Engine(patch, sample_rate, block_size)
    seconds = patch.settings.duration_s if seconds is None else seconds
    if not show_progress:
        return engine.render(seconds)
    from tqdm import tqdm

    total = round(seconds * engine.sample_rate)
    # tqdm shows nothing for renders shorter than its delay: a bar only where one helps.
    with tqdm(total=total, unit="frame", unit_scale=True, delay=1.0, file=sys.stderr, leave=False) as bar:
        return engine.render(seconds, bar.update)
