"""Presets: named snapshots of param values, stored in the patch, recalled at once (a render,
``--preset``) or gliding while playing, as Max's pattrstorage interpolates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

import patcher
from patcher.model import Patch, PatchError

RATE = 8000


def tone() -> Patch:
    """A 500 Hz sine through a gain: quiet by default, with a loud and a square preset."""
    patch = Patch()
    patch.settings = patcher.Settings(sample_rate=RATE, block_size=64, duration_s=1.0)
    patch.add_node("oscillator", "osc", frequency_hz=500.0)
    patch.add_node("gain", "level", gain_db=-20.0)
    patch.add_node("output", "out")
    patch.connect("osc.out", "level.in")
    patch.connect("level.out", "out.left")
    patch.store_preset("quiet")
    patch.set_param("level", "gain_db", 0.0)
    patch.set_param("osc", "waveform", "square")
    patch.store_preset("loud square")
    patch.recall_preset("quiet")
    return patch


def test_a_preset_snapshots_knobs_and_menus_and_recall_sets_them() -> None:
    patch = tone()
    assert patch.nodes["level"].params["gain_db"] == -20.0
    assert patch.presets["loud square"]["osc"]["waveform"] == "square"
    applied = patch.recall_preset("loud square")
    assert applied["level"] == {"gain_db": 0.0}
    assert patch.nodes["osc"].params["waveform"] == "square"


def test_an_unknown_preset_is_named_with_the_known_ones() -> None:
    with pytest.raises(PatchError, match=r"no preset 'lowd square'; did you mean 'loud square'\?"):
        tone().recall_preset("lowd square")


def test_presets_round_trip_and_follow_a_removed_node() -> None:
    patch = tone()
    again = patcher.loads(patcher.dumps(patch))
    assert again.presets == patch.presets
    patch.remove_node("osc")
    assert "osc" not in patch.presets["loud square"]
    patcher.loads(patcher.dumps(patch))  # still a valid file


@pytest.mark.parametrize(
    ("presets", "message"),
    [
        ({"x": {"ghost": {"gain_db": 1}}}, "preset 'x': no node 'ghost'"),
        ({"x": {"level": {"gain": 1}}}, "preset 'x': node 'level' (gain): unknown param 'gain'"),
        ({"x": {"level": {"gain_db": 99}}}, "node 'level' (gain): param 'gain_db': 99 is out of range"),
        ({"": {}}, "a preset's name must be non-empty text"),
        ({"x": []}, "preset 'x': expected an object"),
        ([], "presets must be an object"),
    ],
)
def test_bad_presets_are_refused_naming_the_culprit(presets: object, message: str) -> None:
    document = json.loads(patcher.dumps(tone()))
    document["presets"] = presets
    with pytest.raises(PatchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        patcher.loads(json.dumps(document))


def test_a_preset_holds_a_subpatchs_published_params() -> None:
    inner = Patch()
    inner.add_node("inlet", "in")
    inner.add_node("gain", "g")
    inner.add_node("outlet", "out")
    inner.connect("in.out", "g.in")
    inner.connect("g.out", "out.in")
    inner.publish("level_db", "g.gain_db")
    patch = Patch()
    patch.add_subpatch(inner, "amp", level_db=-3.0)
    patch.store_preset("soft")
    patch.set_param("amp", "level_db", 6.0)
    patch.recall_preset("soft")
    assert patch.nodes["amp"].params["level_db"] == -3.0
    assert patcher.loads(patcher.dumps(patch)).presets["soft"] == {"amp": {"level_db": -3.0}}


def test_render_with_a_preset_equals_setting_its_params_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "tone.json"
    tone().save(path)
    output = tmp_path / "out.wav"
    command = [sys.executable, "-m", "patcher", "render", path, "-o", output, "--preset", "loud square"]
    result = subprocess.run(list(map(str, command)), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    by_hand = tone()
    by_hand.set_param("level", "gain_db", 0.0)
    by_hand.set_param("osc", "waveform", "square")
    expected = patcher.render(by_hand)
    written, rate = soundfile.read(output)
    assert rate == RATE
    np.testing.assert_allclose(written, expected.astype(np.float32), rtol=0, atol=1e-7)
    assert not np.allclose(expected, patcher.render(tone()))  # the preset made a difference


def test_the_cli_refuses_an_unknown_preset_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "tone.json"
    tone().save(path)
    command = [sys.executable, "-m", "patcher", "render", str(path), "-o", str(tmp_path / "x.wav")]
    result = subprocess.run([*command, "--preset", "nope"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"patcher: error: {path}: no preset 'nope' (presets: 'quiet', 'loud square')"
    ]


def peak(block: np.ndarray) -> float:
    return float(np.max(np.abs(block)))


def test_recall_glides_numbers_and_switches_choices_at_once() -> None:
    patch = tone()
    engine = patcher.Engine(patch)
    engine.render(0.1)
    engine.recall_preset("loud square", glide_s=0.5)
    audio = engine.render(0.6)[:, 0]
    assert engine.schedule.nodes["osc"].params["waveform"] == "square"  # switched at the start
    by_hand = tone()
    by_hand.recall_preset("loud square")
    loud = peak(patcher.render(by_hand, 0.1))
    window = RATE // 40

    def level_at(seconds: float) -> float:
        start = round(seconds * RATE)
        return peak(audio[start : start + window])

    # gain_db glides linearly from -20 to 0 dB: about -10 dB halfway, between the two.
    assert level_at(0.025) < loud * 10 ** (-17 / 20)
    assert level_at(0.25) == pytest.approx(loud * 10 ** (-10 / 20), rel=0.15)
    assert level_at(0.55) == pytest.approx(loud, rel=0.05)  # there (peaks vary with the phase)
    assert patch.nodes["level"].params["gain_db"] == 0.0  # the model has the preset's values


def test_a_glide_does_not_depend_on_the_block_size() -> None:
    renders = []
    for block in (1, 64, 1024):
        engine = patcher.Engine(tone(), block_size=block)
        engine.recall_preset("loud square", glide_s=0.2)
        renders.append(engine.render(0.3))
    # As any ramp: the same glide, to the rounding of a ramp resumed at each block's end.
    np.testing.assert_allclose(renders[0], renders[1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(renders[0], renders[2], rtol=0, atol=1e-9)
