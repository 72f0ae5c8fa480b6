"""Every example patch loads, round-trips, renders, and does not depend on the block size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import patcher

PATCHES = sorted((Path(__file__).parent.parent / "patches").glob("*.json"))
SECONDS = 1.5


@pytest.fixture(scope="module", params=PATCHES, ids=[p.stem for p in PATCHES])
def example(request) -> patcher.Patch:
    return patcher.load(request.param)


def test_there_are_examples() -> None:
    assert any(p.name == "default.json" for p in PATCHES)


def test_example_round_trips_exactly(example: patcher.Patch, tmp_path: Path) -> None:
    again = patcher.loads(patcher.dumps(example), base_dir=example.base_dir)
    assert patcher.dumps(again) == patcher.dumps(example)


def test_example_has_a_description(example: patcher.Patch) -> None:
    assert len(example.description) > 40


def test_example_renders_finite_audible_sound_whatever_the_block_size(example: patcher.Patch) -> None:
    small = patcher.render(example, SECONDS, block_size=64)
    large = patcher.render(example, SECONDS, block_size=1024)
    assert np.all(np.isfinite(small))
    assert np.max(np.abs(small)) > 0.01, "the example is silent"
    np.testing.assert_allclose(small, large, rtol=0, atol=1e-9)
