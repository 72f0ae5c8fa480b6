"""Sources from and sinks to the outside world: the file player and the stereo output.

The file is decoded whole when it is chosen (off the audio thread while playing); a kernel
copies each block out of it with the gain, wrapping to the offset when it loops.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from patcher.audiofile import read_audio
from patcher.compiled import entry
from patcher.kernels import decibels_to_factor, kernel
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
        self._settle()

    def prepare_change(self, name: str, value: Any, params: Mapping[str, Any]) -> Any:
        """Decode a new file here, off the audio thread."""
        return self._decode(value) if name == "file" else None

    def install_change(self, name: str, value: Any, prepared: Any) -> None:
        Node.param_changed(self, name, value)
        if name == "file":
            self.audio = prepared
            self.reset()
        self._settle()

    def _load(self) -> None:
        self.audio = self._decode(self.params["file"])
        self.reset()
        self._settle()

    def _decode(self, file: str) -> np.ndarray:
        """The whole file, decoded and resampled to the engine's rate (silence for no file)."""
        if not file:
            return np.zeros((0, 2))
        return read_audio(Path(self.patch_dir) / file, self.sample_rate, channels=2)

    def _settle(self) -> None:
        """What the kernels take, worked out from the params once per change, not per block."""
        self.live = self.params["source"] == "live"
        self.looping = bool(self.params["loop"])
        self.gain = 10.0 ** (self.params["gain_db"] / 20.0)
        self.start_frame = min(round(self.params["start_s"] * self.sample_rate), len(self.audio))

    def reset(self) -> None:
        self.position = 0

    def process(
        self, inputs: Mapping[str, np.ndarray], params: Mapping[str, Any], outputs: Mapping[str, np.ndarray]
    ) -> None:
        out, left, right = outputs["out"], outputs["left"], outputs["right"]
        if self.live:
            _play_live(self.device_input, self.gain, out, left, right)
            return
        _play_file(self.audio, self.start_frame, self.position, self.looping, self.gain, left, right, out)
        self.position += len(out)


@kernel
def _play_file(
    audio: np.ndarray,
    start: int,
    position: int,
    looping: bool,
    gain: float,
    left: np.ndarray,
    right: np.ndarray,
    out: np.ndarray,
) -> None:
    """The file's frames from ``start``, ``position`` frames in: when looping, back to
    ``start`` at the end; otherwise silence after it. ``out`` is the mono mix."""
    length = len(audio) - start
    for i in range(len(out)):
        played = position + i
        if looping and length > 0:
            played %= length
        if played < length:
            left[i] = audio[start + played, 0] * gain
            right[i] = audio[start + played, 1] * gain
        else:
            left[i] = right[i] = 0.0
        out[i] = (left[i] + right[i]) * 0.5


@kernel
def _play_live(device: np.ndarray, gain: float, out: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
    for i in range(len(out)):
        out[i] = left[i] = right[i] = device[i] * gain


@entry(arrays=4)
def _output_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    _output(arrays[0], arrays[1], arrays[2], arrays[3].reshape((2, -1)))


class Output(Node):
    TYPE = "output"
    FAMILY = "io"
    DOC = "The stereo output; a lone 'left' link plays on both sides (as VCV Rack normals it)."
    INPUTS = ("left", "right")
    PARAMS = {"level_db": Param(0.0, -60.0, 12.0, "dB", "Master level.", modulatable=True)}
    IS_SINK = True
    ENTRY = _output_entry

    def prepare(self, sample_rate: int, max_block: int) -> None:
        #: What the engine adds to its mix: this block's left and right.
        self.stereo = np.zeros((2, max_block))
        super().prepare(sample_rate, max_block)

    def reset(self) -> None:
        self.stereo.fill(0.0)

    def process(
        self, inputs: Mapping[str, np.ndarray], params: Mapping[str, Any], outputs: Mapping[str, np.ndarray]
    ) -> None:
        _output(*self.kernel_arguments(inputs, params, outputs))

    def kernel_arguments(
        self, inputs: Mapping[str, np.ndarray], params: Mapping[str, Any], outputs: Mapping[str, np.ndarray]
    ) -> tuple[Any, ...]:
        left = inputs["left"]
        right = inputs["right"] if "right" in self.linked or "left" not in self.linked else left
        return left, right, params["level_db"], self.stereo


@kernel
def _output(left: np.ndarray, right: np.ndarray, level_db: np.ndarray, stereo: np.ndarray) -> None:
    factor, factor_db = 1.0, 0.0
    for i in range(len(left)):
        if level_db[i] != factor_db:  # a new level: its factor, once
            factor, factor_db = decibels_to_factor(level_db[i]), level_db[i]
        stereo[0, i] = left[i] * factor
        stereo[1, i] = right[i] * factor
