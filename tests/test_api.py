"""The Python API: build a patch in code, render it to numpy, save and load it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import patcher


def test_build_render_save_load(tmp_path: Path) -> None:
    patch = patcher.Patch()
    patch.add_node("math", "dc", op="constant", b=0.5)
    patch.add_node("pan", "pan", pan=1.0)
    patch.add_node("output", "out", level_db=-6.0)
    patch.connect("dc.out", "pan.in")
    patch.connect("pan.left", "out.left")
    patch.connect("pan.right", "out.right")
    audio = patcher.render(patch, seconds=0.1)
    assert audio.shape == (4800, 2)
    np.testing.assert_allclose(audio[:, 0], 0.0, atol=1e-12)
    np.testing.assert_allclose(audio[:, 1], 0.5 * 10 ** (-6 / 20))
    patch.save(tmp_path / "dc.json")
    again = patcher.load(tmp_path / "dc.json")
    np.testing.assert_array_equal(patcher.render(again, seconds=0.1), audio)


def test_api_mistakes_raise_patch_errors_naming_the_culprit() -> None:
    patch = patcher.Patch()
    patch.add_node("gain", "g")
    with pytest.raises(patcher.PatchError, match="unknown node type 'flange'"):
        patch.add_node("flange")
    with pytest.raises(patcher.PatchError, match="node id 'g' is already used"):
        patch.add_node("gain", "g")
    with pytest.raises(patcher.PatchError, match=r"gain 'g' has no port 'input' \(inputs: in, gain_db\)"):
        patch.add_node("output", "out")
        patch.connect("out.left", "g.input")


def test_pruned_nodes_are_not_run() -> None:
    patch = patcher.Patch()
    patch.add_node("math", "heard", op="constant", b=0.1)
    patch.add_node("math", "unheard", op="constant", b=0.2)
    patch.add_node("output", "out")
    patch.connect("heard.out", "out.left")
    engine = patcher.Engine(patch)
    assert engine.schedule.order == ["heard", "out"]
    assert engine.schedule.pruned == ["unheard"]


def test_a_lone_left_link_plays_on_both_sides_and_right_alone_stays_right() -> None:
    patch = patcher.Patch()
    patch.add_node("math", "dc", op="constant", b=0.3)
    patch.add_node("output", "out")
    patch.connect("dc.out", "out.right")
    audio = patcher.render(patch, seconds=0.01)
    assert np.all(audio[:, 0] == 0) and np.allclose(audio[:, 1], 0.3)
