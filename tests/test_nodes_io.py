"""Input and output: a file plays sample for sample (offset, loop, gain, silence after its end),
live input reads the sound card's block, and the output normals a lone left to both sides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.nodetools import run_node, run_node_class

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


# -- the compiled kernels against the numpy they replaced (tests/reference_nodes) -------------
def _compare_input(path: Path, frames: int, block: int, sample_rate: int = RATE, **params) -> None:
    from nodes.io import Input
    from tests.reference_nodes.io import ReferenceInput

    def play_with(cls: type) -> dict[str, np.ndarray]:
        params_with_file = {"file": path.name, **params}
        return run_node_class(cls, params_with_file, {}, block, sample_rate, str(path.parent), frames)

    expected, got = play_with(ReferenceInput), play_with(Input)
    assert np.any(expected["out"])
    for port in Input.OUTPUTS:
        np.testing.assert_array_equal(got[port], expected[port], err_msg=port)


@pytest.mark.parametrize("block", [1, 7, 64, 65, 256, 1024])
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"loop": True, "gain_db": -60.0},
        {"loop": True, "start_s": 999 / RATE, "gain_db": 24.0},  # a loop of one frame
        {"loop": False, "start_s": 300 / RATE, "gain_db": -7.5},
    ],
)
def test_the_file_players_kernel_matches_the_reference(stereo_file, block: int, params: dict) -> None:
    path, _audio = stereo_file
    _compare_input(path, 2500, block, **params)


@pytest.mark.parametrize("sample_rate", [8000, 44100, 96000])
def test_the_file_players_kernel_matches_the_reference_resampled(stereo_file, sample_rate: int) -> None:
    path, _audio = stereo_file
    _compare_input(path, 3000, 64, sample_rate, loop=True, start_s=0.001)


def test_the_file_player_takes_a_new_file_live_from_its_start(tmp_path: Path, stereo_file) -> None:
    from patcher.spec import node_class

    path, audio = stereo_file
    other = tmp_path / "other.wav"
    soundfile.write(other, audio[::-1] * 0.5, RATE, subtype="FLOAT")
    node = node_class("input")({"file": path.name, "loop": True}, str(tmp_path))
    node.prepare(RATE, 64)
    outputs = {port: np.zeros(64) for port in node.OUTPUTS}
    node.process({}, dict(node.block_params), outputs)
    node.install_change("file", other.name, node.prepare_change("file", other.name, {}))
    node.install_change("gain_db", 6.0, node.prepare_change("gain_db", 6.0, {}))
    node.process({}, dict(node.block_params), outputs)
    np.testing.assert_allclose(outputs["left"], audio[::-1][:64, 0] * 0.5 * 10 ** (6 / 20), rtol=1e-7)


@pytest.mark.parametrize("block", [1, 7, 64, 65, 256, 1024])
@pytest.mark.parametrize("ports", [("left",), ("left", "right"), ("right",)])
def test_the_outputs_kernel_matches_the_reference(block: int, ports: tuple[str, ...]) -> None:
    from nodes.io import Output
    from tests.reference_nodes.io import ReferenceOutput

    rng = np.random.default_rng(block)
    inputs = {port: rng.standard_normal(1500) for port in ports}
    for params, level in (({"level_db": -60.0}, None), ({"level_db": 12.0}, None), ({}, (-60.0, 12.0))):
        if level is not None:
            inputs["level_db"] = np.linspace(*level, 1500)
        expected = run_node_class(ReferenceOutput, params, inputs, block)
        got = run_node_class(Output, params, inputs, block)
        for port in ("left", "right"):
            # numpy's power uses SIMD code that may differ from the C library's by an ulp.
            np.testing.assert_allclose(got[port], expected[port], rtol=0, atol=1e-9, err_msg=port)
