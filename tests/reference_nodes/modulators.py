"""The LFO's numpy DSP as it was before its kernel.

``ReferenceLfo`` runs the old block-wise code on ``tests.reference_nodes.sources``'
``PhaseAccumulator`` against the node type's spec and live-change methods (a new seed calls
its ``_reseed``). Copied verbatim but for the imports and ``Node.prepare`` called by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nodes.modulators import Lfo
from nodes.sources import PHASE_MASK, PHASE_ONE, PHASE_SCALE
from patcher.spec import Node
from tests.reference_nodes.sources import PhaseAccumulator

Signals = Mapping[str, np.ndarray]


class ReferenceLfo(Lfo):
    """The LFO as it was before its kernel (numpy), for tests/test_nodes_modulators.py."""

    TYPE = ""  # a stand-in for the node type, not a type of its own: not registered
    ENTRY = None  # its own process runs, not the node's compiled kernel

    def prepare(self, sample_rate: int, max_block: int) -> None:
        self.accumulator = PhaseAccumulator()
        self.accumulator.prepare(max_block)
        self._high = np.zeros(max_block, dtype=bool)
        self._passed = np.zeros(max_block, dtype=np.int64)
        Node.prepare(self, sample_rate, max_block)

    def reset(self) -> None:
        self.accumulator.reset(self.params["phase_deg"] / 360.0)
        self._reseed(self.params["seed"])

    def _reseed(self, seed: int) -> None:
        self.generator = np.random.default_rng(int(seed))
        self.held = 2.0 * self.generator.random() - 1.0

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        out = outputs["out"]
        frames = len(out)
        if frames == 0:
            return
        self.accumulator.advance(params["rate_hz"], self.sample_rate, frames)
        shape = params["shape"]
        unipolar = params["polarity"] == "unipolar"
        depth, offset = params["depth"], params["offset"]
        # Triangle, saw and square are exact in the integer phase, unipolar or not; the
        # sine and the held values are made unipolar as (wave + 1) / 2.
        if shape == "sample_and_hold":
            level = self._sample_and_hold(out)
        elif shape == "square":
            level = self._square(unipolar, out)
        else:
            level = None
            self._ramp_shape(shape, unipolar, out)
        if level is not None:  # the same value all block long
            if unipolar and shape == "sample_and_hold":
                level = (level + 1.0) * 0.5
            if not isinstance(depth, np.ndarray) and not isinstance(offset, np.ndarray):
                out.fill(level * depth + offset)
                return
            out.fill(level)
        elif unipolar and shape in ("sine", "sample_and_hold"):
            out += 1.0
            out *= 0.5
        if isinstance(depth, np.ndarray) or depth != 1.0:
            np.multiply(out, depth, out=out)
        if isinstance(offset, np.ndarray) or offset != 0.0:
            np.add(out, offset, out=out)

    def _ramp_shape(self, shape: str, unipolar: bool, out: np.ndarray) -> None:
        """Sine, or ``naive_wave``'s triangle and saw computed exactly in phase units."""
        accumulator = self.accumulator
        half, quarter = PHASE_ONE >> 1, PHASE_ONE >> 2
        if shape == "sine":
            np.multiply(accumulator.masked(), 2.0 * np.pi * PHASE_SCALE, out=out)
            np.sin(out, out=out)
        elif shape == "saw":  # 2 frac(phase + 1/2) - 1
            masked = accumulator.masked(half)
            if not unipolar:
                masked -= half
            np.multiply(masked, (1.0 if unipolar else 2.0) * PHASE_SCALE, out=out)
        else:  # triangle: 1 - 4 |frac(phase + 1/4) - 1/2|
            masked = accumulator.masked(quarter)
            masked -= half
            np.abs(masked, out=masked)
            np.subtract(half if unipolar else quarter, masked, out=masked)
            np.multiply(masked, (2.0 if unipolar else 4.0) * PHASE_SCALE, out=out)

    def _square(self, unipolar: bool, out: np.ndarray) -> float | None:
        """High for the first half of each cycle; returns the level if it holds all block."""
        accumulator = self.accumulator
        half = PHASE_ONE >> 1
        high, low = 1.0, 0.0 if unipolar else -1.0
        step = accumulator.step
        if step is not None:
            rises, falls = accumulator.edges(), accumulator.edges(-half)
            if not isinstance(rises, tuple) and not isinstance(falls, tuple):
                first = accumulator.first
                level = high if (first & PHASE_MASK) < half else low
                changes = sorted({edge[0] for edge in (rises or []) + (falls or [])} - {0})
                if not changes:
                    return level
                out.fill(level)
                for index in changes:
                    out[index:] = high if ((first + index * step) & PHASE_MASK) < half else low
                return None
        is_high = np.less(accumulator.masked(), half, out=self._high[: len(out)])
        out.fill(low)
        np.copyto(out, high, where=is_high)
        return None

    def _sample_and_hold(self, out: np.ndarray) -> float | None:
        """A new value each time the phase passes a whole cycle, either way round.

        Returns the held value if no cycle ends in this block.
        """
        edges = self.accumulator.edges()
        if edges is None:
            return self.held
        # Generator.random draws one double per value, so chunking never changes the sequence.
        if isinstance(edges, list):
            total = sum(abs(edge[1]) for edge in edges)
            values = (2.0 * self.generator.random(total) - 1.0).tolist()
            out.fill(self.held)
            drawn = 0
            for index, count, _, _ in edges:
                drawn += abs(count)
                out[index:] = values[drawn - 1]
            self.held = values[-1]
            return None
        index, count, _, _ = edges
        passed = self._passed[: len(out)]
        passed.fill(0)
        passed[index] = np.abs(count)
        total = int(passed.sum())
        values = np.empty(total + 1)
        values[0] = self.held
        values[1:] = 2.0 * self.generator.random(total) - 1.0
        np.take(values, np.cumsum(passed), out=out)
        self.held = float(values[-1])
        return None


REFERENCES: dict[str, type[Node]] = {"lfo": ReferenceLfo}
