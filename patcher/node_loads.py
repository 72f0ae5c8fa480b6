"""Each running node's share of the block's time: the engine's CPU meter (VCV Rack's F3).

While metering is on (``Engine.metering``), the engine runs a block through the schedule's
:class:`NodeLoads` instead of its plain list of calls: ``time.perf_counter_ns`` is read after
each call (in a feedback loop, after each step of each chunk) and the time since the last
reading is added to that call's node. After the block, each node's time over the block's
duration (``frames / sample_rate``: the real-time budget) is smoothed into its *share*, with a
time constant of ``TIME_CONSTANT_S``: 0.25 is a quarter of what the sound card allows. The
shares add up to the ``total``, the measured time of the whole schedule, smoothed alike.

Off, the engine runs the schedule's calls as before and nothing here is touched: metering costs
nothing until it is turned on. On, it costs about half a microsecond per node per block (a
chain of 300 gains at block 64 took 0.52-0.58 ms a block off, 0.65-0.73 ms on, here).

Each schedule gets its own NodeLoads when it is compiled, off the audio thread; the audio
thread then makes no array: times go into an ``array.array`` of nanoseconds that a numpy array
views, and the smoothing is a few numpy calls with ``out=``. A reader on another thread reads
under ``sequence`` (odd while the shares are being written), as taps are read.
"""

from __future__ import annotations

import array
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from patcher.compiler import Group, Schedule

#: How quickly a share follows a change (a node added, a longer impulse response).
TIME_CONSTANT_S = 0.5

#: A single node's call and its node's index, or a loop's steps, each with its node's index.
Timed = tuple[Callable[[int], None], int, "Group | None", list[tuple[Callable[[int, int], None], int]]]


class NodeLoads:
    """The per-node CPU meter of one schedule."""

    def __init__(self, schedule: Schedule) -> None:
        #: The running nodes, in the order they run: ``shares[i]`` is ``node_ids[i]``'s.
        self.node_ids: list[str] = schedule.order
        index = {node_id: position for position, node_id in enumerate(self.node_ids)}
        self.plan: list[Timed] = []
        for group in schedule.groups:
            if group.loop_nodes:
                steps = [(step.run, index[step.node_id]) for step in group.steps]
                self.plan.append((group.run, -1, group, steps))
            else:
                step = group.steps[0]
                self.plan.append((step.run, index[step.node_id], None, []))
        count = len(self.node_ids)
        self._elapsed_ns = array.array("q", bytes(8 * count))  # this block's, per node
        self._elapsed = np.frombuffer(self._elapsed_ns, dtype=np.int64)  # the same memory
        self._instant = np.zeros(count)
        self.shares = np.zeros(count)
        self.total = 0.0
        #: Blocks measured since metering was last turned on (0: the next one starts afresh).
        self.blocks = 0
        #: The engine's metering epoch this was last run in (a new one restarts the shares).
        self.epoch = -1
        #: Odd while the audio thread writes ``shares`` and ``total``.
        self.sequence = 0

    def run(self, frames: int, sample_rate: int, epoch: int) -> None:
        """Audio thread: run the schedule's block of ``frames``, timing every call."""
        if epoch != self.epoch:  # turned on again: what was measured before is old news
            self.epoch = epoch
            self.blocks = 0
        clock, elapsed = time.perf_counter_ns, self._elapsed_ns
        started = now = clock()
        for call, node, loop, steps in self.plan:
            if loop is None:
                call(frames)
                after = clock()
                elapsed[node] += after - now
                now = after
            else:
                now = self._run_loop(loop, steps, frames, now)
        self._smooth(frames, sample_rate, now - started)

    def _run_loop(
        self, loop: Group, steps: list[tuple[Callable[[int, int], None], int]], frames: int, now: int
    ) -> int:
        """A feedback loop in chunks, as ``Group.run`` runs it, each step's time to its node."""
        clock, elapsed = time.perf_counter_ns, self._elapsed_ns
        chunk = loop.chunk_length()
        for start in range(0, frames, chunk):
            length = min(chunk, frames - start)
            for run, node in steps:
                run(length, start)
                after = clock()
                elapsed[node] += after - now
                now = after
        return now

    def _smooth(self, frames: int, sample_rate: int, measured_ns: int) -> None:
        budget_ns = frames * 1e9 / sample_rate
        follow = 1.0 if self.blocks == 0 else -math.expm1(-frames / (sample_rate * TIME_CONSTANT_S))
        instant, shares = self._instant, self.shares
        np.multiply(self._elapsed, 1.0 / budget_ns, out=instant)
        self.sequence += 1
        np.subtract(instant, shares, out=instant)
        np.multiply(instant, follow, out=instant)
        np.add(shares, instant, out=shares)
        self.total += follow * (measured_ns / budget_ns - self.total)
        self.sequence += 1
        self._elapsed.fill(0)
        self.blocks += 1

    def read(self) -> tuple[dict[str, float], float]:
        """Each node's smoothed share and their total ({} and 0.0 before the first block)."""
        if not self.blocks:
            return {}, 0.0
        return dict(zip(self.node_ids, self.shares.tolist(), strict=True)), self.total
