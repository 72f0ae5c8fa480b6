"""Every example patch loads, round-trips, renders, and does not depend on the block size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import patcher

PATCHES = sorted((Path(__file__).parent.parent / "patches").glob("*.json"))
SECONDS = 1.5


@pytest.fixture(scope="module", params=PATCHES, ids=[p.stem for p in PATCHES])
def example(request) -> patcher.Patch:
    return patcher.load(request.param)


def score(example: patcher.Patch) -> Any:
    """The events of the MIDI file beside an example (``NAME.mid``), or None."""
    midi = Path(example.path).with_suffix(".mid") if example.path is not None else None
    if midi is None or not midi.is_file():
        return None
    return patcher.read_midi_file(midi, example.settings.sample_rate)


def test_there_are_examples() -> None:
    assert any(p.name == "default.json" for p in PATCHES)


def test_example_round_trips_exactly(example: patcher.Patch, tmp_path: Path) -> None:
    again = patcher.loads(patcher.dumps(example), base_dir=example.base_dir)
    assert patcher.dumps(again) == patcher.dumps(example)


def test_example_has_a_description(example: patcher.Patch) -> None:
    assert len(example.description) > 40


def test_example_renders_finite_audible_sound_whatever_the_block_size(example: patcher.Patch) -> None:
    events = score(example)  # an example played from MIDI is rendered with its own score
    small = patcher.render(example, SECONDS, block_size=64, events=events)
    large = patcher.render(example, SECONDS, block_size=1024, events=events)
    assert np.all(np.isfinite(small))
    assert np.max(np.abs(small)) > 0.01, "the example is silent"
    np.testing.assert_allclose(small, large, rtol=0, atol=1e-9)


def test_example_keeps_sounding_after_its_material_ends(example: patcher.Patch) -> None:
    """A patch is edited while it plays: its material loops, or the first session goes quiet."""
    from patcher.audiofile import audio_info

    nodes = example.nodes.values()
    files = [node.params for node in nodes if node.type == "input" and node.params["source"] == "file"]
    if not files:
        pytest.skip("no file player: the example makes its own sound")
    assert all(params["loop"] for params in files)
    longest_s = max(audio_info(example.base_dir / params["file"]).seconds for params in files)
    after = patcher.render(example, longest_s + 1.0)[-round(0.5 * example.settings.sample_rate) :]
    assert np.max(np.abs(after)) > 0.01, "silent once the material has played"


def test_every_node_type_has_its_numpy_reference() -> None:
    from patcher.spec import registry
    from tests.reference_nodes import reference_registry

    assert set(reference_registry()) == set(registry())


def test_every_reference_runs_its_own_process() -> None:
    """A reference subclasses its node: it must not inherit the node's compiled entry, which
    the block plan would run instead of the reference's process."""
    from tests.reference_nodes import reference_registry

    assert [name for name, cls in reference_registry().items() if cls.ENTRY is not None] == []


def test_example_sounds_as_it_did_before_the_compiled_kernels(example: patcher.Patch, monkeypatch) -> None:
    """Every node's kernel against the numpy code it replaced, in the whole example at once."""
    from patcher import spec
    from tests.reference_nodes import reference_registry

    kernels = patcher.Engine(example, block_size=256).render(SECONDS)
    for type_name, reference in reference_registry().items():
        monkeypatch.setitem(spec._REGISTRY, type_name, reference)
    before = patcher.Engine(example, block_size=256).render(SECONDS)
    assert any(
        type(node).__name__.startswith("Reference")
        for node in patcher.Engine(example).schedule.nodes.values()
    )
    np.testing.assert_allclose(kernels, before, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["midi_synth", "poly_synth"])
def test_the_gallery_plays_an_example_from_its_midi_file(name: str) -> None:
    """Its picture showed silence: the examples played from MIDI were rendered without it."""
    from patcher.gallery import PATCHES_DIR, rendered

    path = PATCHES_DIR / f"{name}.json"
    output, score = rendered(patcher.load(path), path)
    assert score == path.with_suffix(".mid") and np.abs(output).max() > 0.05
