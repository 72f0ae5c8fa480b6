"""The file player's and the output's DSP before their kernels: numpy copies of the file's
runs, wrapped in Python (nodes/io.py as of 3cf4b93)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from nodes.io import Input, Output


class ReferenceInput(Input):
    """Input as it was before its kernel (numpy), for tests/test_nodes_io.py."""

    TYPE = ""  # not registered: the tests and reference renders use it by name

    def reset(self) -> None:
        self.position = 0

    def process(
        self, inputs: Mapping[str, np.ndarray], params: Mapping[str, Any], outputs: Mapping[str, np.ndarray]
    ) -> None:
        frames = len(outputs["out"])
        gain = 10.0 ** (params["gain_db"] / 20.0)
        if params["source"] == "live":
            for port in self.OUTPUTS:
                np.multiply(self.device_input[:frames], gain, out=outputs[port])
            return
        left, right = outputs["left"], outputs["right"]
        left.fill(0.0)
        right.fill(0.0)
        for done, source, count in self._segments(frames):
            np.multiply(self.audio[source : source + count, 0], gain, out=left[done : done + count])
            np.multiply(self.audio[source : source + count, 1], gain, out=right[done : done + count])
        np.add(left, right, out=outputs["out"])
        outputs["out"] *= 0.5

    def _segments(self, frames: int) -> Iterator[tuple[int, int, int]]:
        """The file's runs in this block, as (output offset, file frame, length): one, or
        several where a loop wraps; silence after the end. Advances the play position."""
        start = min(round(self.params["start_s"] * self.sample_rate), len(self.audio))
        length = len(self.audio) - start
        played, done = self.position, 0
        self.position += frames
        while done < frames and length > 0:
            if self.params["loop"]:
                played %= length
            elif played >= length:
                return
            count = min(frames - done, length - played)
            yield done, start + played, count
            done += count
            played += count


class ReferenceOutput(Output):
    """Output as it was before its kernel (numpy)."""

    TYPE = ""  # not registered: the tests and reference renders use it by name
    ENTRY = None  # its own process runs, not the node's compiled kernel

    def reset(self) -> None:
        self.stereo = np.zeros((2, self.max_block))

    def process(
        self, inputs: Mapping[str, np.ndarray], params: Mapping[str, Any], outputs: Mapping[str, np.ndarray]
    ) -> None:
        frames = len(inputs["left"])
        gain = 10.0 ** (params["level_db"] / 20.0)
        right = inputs["right"] if "right" in self.linked or "left" not in self.linked else inputs["left"]
        np.multiply(inputs["left"], gain, out=self.stereo[0, :frames])
        np.multiply(right, gain, out=self.stereo[1, :frames])


REFERENCES = {"input": ReferenceInput, "output": ReferenceOutput}
