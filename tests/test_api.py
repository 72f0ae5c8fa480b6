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


def test_a_patch_s_links_answer_membership_as_a_list_would_through_any_edit() -> None:
    """Links keep a count beside the list (membership was a linear scan: loading 20,003
    links took a minute); every way code edits the list keeps the count right."""
    import copy
    import pickle
    import random

    from patcher.model import Link, LinkList, PortRef

    pool = [Link(PortRef(f"n{i}", "out"), PortRef(f"m{i % 7}", "in")) for i in range(12)]
    links, mirror = LinkList(), []
    rng = random.Random(3)
    for _ in range(2000):
        link, operation = rng.choice(pool), rng.randrange(9)
        place = rng.randrange(len(mirror) + 1)
        for target in (links, mirror):
            if operation == 0:
                target.append(link)
            elif operation == 1 and link in mirror:
                target.remove(link)
            elif operation == 2:
                target.insert(place, link)
            elif operation == 3 and mirror:
                target.pop()
            elif operation == 4:
                target[:] = [item for item in list(target) if item != link]
            elif operation == 5 and mirror:
                del target[0]
            elif operation == 6:
                target.extend([link, link])
            elif operation == 7 and mirror:
                target[min(place, len(mirror) - 1)] = link
            elif operation == 8 and len(mirror) > 40:
                target.clear()
        assert list(links) == mirror
        assert all((item in links) == (item in mirror) for item in pool)
    for copied in (copy.deepcopy(links), pickle.loads(pickle.dumps(links))):
        assert list(copied) == mirror and all((item in copied) == (item in mirror) for item in pool)


def test_any_list_given_to_a_patch_becomes_its_counted_links() -> None:
    from patcher.model import LinkList

    patch = patcher.Patch()
    patch.add_node("gain", "a")
    patch.add_node("output", "out")
    link = patch.connect("a.out", "out.left")
    patch.links = [link]  # as commands and scripts do
    assert isinstance(patch.links, LinkList) and link in patch.links
    with pytest.raises(patcher.PatchError, match="already linked"):
        patch.connect("a.out", "out.left")
