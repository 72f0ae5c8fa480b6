"""Format versions: version 1 files keep loading (and say so when saved as version 2),
version 2 round-trips, and a file from a newer patcher is refused clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import patcher
from patcher.model import FORMAT_VERSION, PatchError

PATCHES = Path(__file__).parent.parent / "patches"
V1 = {
    "format": "patcher",
    "version": 1,
    "nodes": [{"id": "osc", "type": "oscillator"}, {"id": "out", "type": "output"}],
    "links": [{"from": "osc.out", "to": "out.left"}],
}


def test_the_format_is_version_2() -> None:
    assert FORMAT_VERSION == 2
    assert json.loads(patcher.dumps(patcher.Patch()))["version"] == 2


def test_a_version_1_file_loads_and_saving_it_as_version_2_says_so(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps(V1))
    patch = patcher.load(path)
    assert patch.format_version == 1
    notes = patch.save(path)
    assert notes == [
        f"{path} was format version 1 and is saved as version 2: "
        "a patcher older than version 2 cannot open it"
    ]
    assert json.loads(path.read_text())["version"] == 2
    assert patch.save(path) == []  # said once
    assert patcher.load(path).format_version == 2


def test_version_2_keys_in_a_version_1_file_are_refused() -> None:
    document = {**V1, "comments": [{"text": "hi"}], "presets": {}}
    with pytest.raises(PatchError) as caught:
        patcher.loads(json.dumps(document))
    assert "'comments' needs format version 2 (this file says version 1)" in str(caught.value)
    assert "'presets' needs format version 2" in str(caught.value)


def test_a_version_2_file_with_everything_round_trips() -> None:
    text = (PATCHES / "stereo_chorus.json").read_text()
    patch = patcher.loads(text, base_dir=PATCHES)
    assert patch.comments and patch.presets
    assert patcher.dumps(patcher.loads(patcher.dumps(patch), base_dir=PATCHES)) == patcher.dumps(patch)


def test_a_file_from_a_newer_patcher_is_refused_naming_both_versions() -> None:
    with pytest.raises(PatchError) as caught:
        patcher.loads(json.dumps({**V1, "version": 3}), "new.json")
    assert str(caught.value) == (
        "new.json: this patch is format version 3, made by a newer patcher; this patcher reads "
        "versions 1 and 2: update patcher to open it"
    )
