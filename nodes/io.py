"""Sources from and sinks to the outside world: the file player and the stereo output."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from patcher.audiofile import read_audio
from patcher.spec import Node, Param


class Input(Node):
    TYPE = "input"
    FAMILY = "io"
    DOC = "Plays an audio file, or the sound card's input while playing live (mono mix on 'out')."
    OUTPUTS = ("out", "left", "right")
    PARAMS = {
        "source": Param(
            "file",
            kind="choice",
            choices=("file", "live"),
            doc="file: play 'file'; live: the sound card's input (silence when rendering offline).",
        ),
        "file": Param("", kind="path", doc="Audio file, relative to the patch file; empty for silence."),
        "loop": Param(False, kind="bool", doc="Start again at the offset when the file ends."),
        "start_s": Param(0.0, 0.0, 3600.0, "s", "Offset into the file where playback starts."),
        "gain_db": Param(0.0, -60.0, 24.0, "dB", "Level applied to the file."),
    }

    def prepare(self, sample_rate: int, max_block: int) -> None:
        #: Set by the engine: the block the sound card delivered (silence offline).
        self.device_input = np.zeros(max_block)
        super().prepare(sample_rate, max_block)
        self._load()

    def param_changed(self, name: str, value: Any) -> None:
        super().param_changed(name, value)
        if name == "file":
            self._load()

    def prepare_change(self, name: str, value: Any, params: Mapping[str, Any]) -> Any:
        """Decode a new file here, off the audio thread."""
        return self._decode(value) if name == "file" else None

    def install_change(self, name: str, value: Any, prepared: Any) -> None:
        Node.param_changed(self, name, value)
        if name == "file":
            self.audio = prepared
            self.reset()

    def _load(self) -> None:
        self.audio = self._decode(self.params["file"])
        self.reset()

    def _decode(self, file: str) -> np.ndarray:
        """The whole file, decoded and resampled to the engine's rate (silence for no file)."""
        if not file:
            return np.zeros((0, 2))
        return read_audio(Path(self.patch_dir) / file, self.sample_rate, channels=2)

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


class Output(Node):
    TYPE = "output"
    FAMILY = "io"
    DOC = "The stereo output; a lone 'left' link plays on both sides (as VCV Rack normals it)."
    INPUTS = ("left", "right")
    PARAMS = {"level_db": Param(0.0, -60.0, 12.0, "dB", "Master level.", modulatable=True)}
    IS_SINK = True

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
