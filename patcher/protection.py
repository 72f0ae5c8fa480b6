"""Output protection: what stands between a patch and the ears (or a file).

Live playback and offline renders share it, so a render sounds like a play: NaN and infinity
become silence, a runaway feedback loop is ducked and cleared, and a limiter with a hard
ceiling keeps every sample within ±1.0. Each step counts what it caught, for the reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from patcher.kernels import all_finite

CEILING = 0.99
LIMITER_RELEASE_S = 0.2
RUNAWAY_LEVEL = 8.0  # +18 dBFS inside a loop: no musical feedback gets there
RECOVERY_S = 0.5


def scrub(block: np.ndarray) -> None:
    """NaN and infinity become silence, in place."""
    np.nan_to_num(block, copy=False, nan=0.0, posinf=0.0, neginf=0.0)


class OutputProtection:
    """NaN scrub, runaway-loop ducking and a ceiling limiter, in place on each output block."""

    def __init__(self, sample_rate: int, block_size: int) -> None:
        self.sample_rate = sample_rate
        self.gain = 1.0
        self.duck = 1.0
        self.release = np.exp(-1.0 / (LIMITER_RELEASE_S * sample_rate))
        self.recovery_step = 1.0 / (RECOVERY_S * sample_rate)
        self.ramp = np.zeros(block_size)
        self.steps = np.arange(1, block_size + 1, dtype=float)
        self.nonfinite_blocks = 0
        self.limited_blocks = 0
        #: The largest |sample| the limiter was given (before it acted).
        self.peak_in = 0.0
        self.runaway_loops: list[Any] = []

    def process(self, block: np.ndarray, schedule: Any) -> None:
        """Protect one (2, frames) block of ``schedule``'s output in place."""
        frames = block.shape[1]
        if not all_finite(block):
            scrub(block)
            self.nonfinite_blocks += 1
        self._catch_runaway(schedule)
        if self.duck < 1.0:
            self._apply_ramp(block, self.duck, min(1.0, self.duck + self.recovery_step * frames))
            self.duck = min(1.0, self.duck + self.recovery_step * frames)
        self._limit(block)

    def _catch_runaway(self, schedule: Any) -> None:
        for group in schedule.loops:
            for buffer in group.loop_buffers:
                if buffer.max() > RUNAWAY_LEVEL or buffer.min() < -RUNAWAY_LEVEL:
                    if group not in self.runaway_loops:
                        self.runaway_loops.append(group)
                    for node in group.loop_nodes:
                        node.reset()  # clear the delay lines: the loop starts from silence
                    self.duck = 0.0
                    break

    def _limit(self, block: np.ndarray) -> None:
        peak = max(float(block.max()), -float(block.min())) if block.size else 0.0
        self.peak_in = max(self.peak_in, peak)
        most = 1.0 if peak <= CEILING else CEILING / peak  # the gain that keeps this block in
        if most < self.gain:  # attack at once: the whole block gets the lower gain
            self.gain = most
            block *= most
            self.limited_blocks += 1
        else:  # release smoothly towards unity, never above what this block allows
            frames = block.shape[1]
            released = min(1.0 - (1.0 - self.gain) * self.release**frames, most)
            self._apply_ramp(block, self.gain, released)
            self.gain = released
        np.clip(block, -1.0, 1.0, out=block)  # the last word: never beyond ±1.0

    def _apply_ramp(self, block: np.ndarray, start: float, end: float) -> None:
        frames = block.shape[1]
        if start == end == 1.0:
            return
        ramp = self.ramp[:frames]
        np.multiply(self.steps[:frames], (end - start) / frames, out=ramp)
        ramp += start
        block *= ramp

    def loop_reports(self, already: int) -> list[str]:
        """What it said of runaway loops caught after the first ``already``."""
        reports = []
        for group in self.runaway_loops[already:]:
            path = " -> ".join([*group.node_ids, group.node_ids[0]])
            reports.append(f"runaway feedback in the loop {path}: output ducked and the loop cleared")
        return reports
