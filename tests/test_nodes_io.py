"""Input and output: a file plays sample for sample (offset, loop, gain, silence after its end),
live input reads the sound card's block, and the output normals a lone left to both sides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.nodetools import run_node

RATE = 48000
BLOCKS = (1, 64, 65, 1024)


@pytest.fixture
def stereo_file(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """1000 frames of distinct left and right noise, written as a float WAV (exact samples)."""
    rng = np.random.default_rng(3)
    audio = 0.5 * rng.standard_normal((1000, 2))
    path = tmp_path / "take.wav"
    soundfile.write(path, audio, RATE, subtype="FLOAT")
    return path, audio.astype(np.float32).astype(float)


def play(path: Path, frames: int, block: int = 256, **params) -> dict[str, np.ndarray]:
    return run_node(
        "input", {"file": path.name, **params}, frames=frames, block=block, patch_dir=str(path.parent)
    )


@pytest.mark.parametrize("block", BLOCKS)
def test_a_file_plays_sample_for_sample_then_silence(stereo_file, block: int) -> None:
    path, audio = stereo_file
    out = play(path, 1500, block)
    np.testing.assert_array_equal(out["left"][:1000], audio[:, 0])
    np.testing.assert_array_equal(out["right"][:1000], audio[:, 1])
    np.testing.assert_array_equal(out["out"][:1000], 0.5 * (audio[:, 0] + audio[:, 1]))
    assert not np.any(out["left"][1000:]) and not np.any(out["out"][1000:])


@pytest.mark.parametrize("block", BLOCKS)
def test_a_looped_file_from_an_offset_wraps_to_the_offset(stereo_file, block: int) -> None:
    path, audio = stereo_file
    offset = 250  # start_s = 250 / 48000
    out = play(path, 2600, block, loop=True, start_s=offset / RATE)
    expected = np.tile(audio[offset:, 0], 4)[:2600]
    np.testing.assert_array_equal(out["left"], expected)


def test_gain_scales_the_file(stereo_file) -> None:
    path, audio = stereo_file
    out = play(path, 1000, gain_db=-6.0)
    np.testing.assert_allclose(out["left"], audio[:, 0] * 10 ** (-6 / 20), rtol=1e-12)


def test_an_offset_past_the_end_is_silence(stereo_file) -> None:
    path, _audio = stereo_file
    out = play(path, 500, loop=True, start_s=1.0)
    assert not np.any(out["out"])


def test_live_input_plays_the_sound_cards_block_on_every_output() -> None:
    from patcher.spec import node_class

    node = node_class("input")({"source": "live", "gain_db": 6.0})
    node.prepare(RATE, 64)
    card = np.linspace(-0.5, 0.5, 64)
    node.device_input[:] = card
    outputs = {port: np.zeros(64) for port in node.OUTPUTS}
    node.process({}, dict(node.params), outputs)
    for port in node.OUTPUTS:
        np.testing.assert_allclose(outputs[port], card * 10 ** (6 / 20))


def test_a_lone_left_plays_on_both_sides_and_the_level_applies() -> None:
    signal = np.linspace(-1.0, 1.0, 300)
    out = run_node("output", {"level_db": -6.0}, {"left": signal})
    np.testing.assert_allclose(out["left"], signal * 10 ** (-6 / 20))
    np.testing.assert_allclose(out["right"], out["left"])
    both = run_node("output", {}, {"left": signal, "right": -signal})
    np.testing.assert_allclose(both["right"], -signal)
