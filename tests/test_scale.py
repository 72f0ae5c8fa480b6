"""Building, loading and compiling grow with the size of a patch, not its square (issue 12,
item 7: loading 20,003 links took a minute). Counted in comparisons, not timed: how many
times a link is compared with another must stay proportional to the links."""

from __future__ import annotations

from pathlib import Path

import pytest

import patcher
from patcher.compiler import compile_patch
from patcher.model import Link


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    count = [0]
    compare = Link.__eq__

    def counted(self: Link, other: object) -> bool:
        count[0] += 1
        return compare(self, other)

    monkeypatch.setattr(Link, "__eq__", counted)
    return count


def chain(nodes: int) -> patcher.Patch:
    patch = patcher.Patch()
    previous = patch.add_node("oscillator", "osc")
    for _ in range(nodes - 2):
        node = patch.add_node("gain")
        patch.connect(f"{previous}.out", f"{node}.in")
        patch.connect("osc.out", f"{node}.gain_db")
        previous = node
    patch.add_node("output", "out")
    patch.connect(f"{previous}.out", "out.left")
    return patch


def test_links_are_compared_a_few_times_each_not_with_every_other(
    comparisons: list[int], tmp_path: Path
) -> None:
    patch = chain(3000)
    links = len(patch.links)
    assert links == 2 * 2998 + 1
    built = comparisons[0]
    patch.save(tmp_path / "chain.json")
    loaded = patcher.load(tmp_path / "chain.json")
    compile_patch(loaded)
    loaded.connect("osc.out", "out.right")
    loaded.disconnect("osc.out", "out.right")
    # A list's `in` would make about links * links / 2 = 18 million comparisons here.
    assert built < 3 * links and comparisons[0] < 10 * links, (built, comparisons[0])
