"""Where nodes go: sizes estimated from the specs, the Arrange command, and the example patches.

The window test (``test_editor_window.py``) checks the estimated sizes against the sizes
dearpygui really draws; here the layout is checked with them, headless.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from patcher.editor import layout
from patcher.editor.layout import arrange, node_size, overlapping
from patcher.editor.model import EditorModel
from patcher.model import Patch
from patcher.patchfile import load, save

EXAMPLES = sorted(Path(__file__).resolve().parent.parent.joinpath("patches").glob("*.json"))


def arranged(patch: Patch) -> Patch:
    for node_id, position in arrange(patch).items():
        patch.nodes[node_id].position = position
    return patch


def right_edge(patch: Patch, node_id: str) -> float:
    node = patch.nodes[node_id]
    return node.position[0] + node_size(node)[0]


def feeds_back(patch: Patch, source: str, target: str) -> bool:
    """Whether a link closes a loop (target reaches source), so it cannot run left to right."""
    import networkx as nx

    graph = nx.DiGraph([(link.source.node, link.target.node) for link in patch.links])
    return nx.has_path(graph, target, source)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_no_example_patch_has_a_node_covering_another(path: Path) -> None:
    assert overlapping(load(path)) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_arrange_lays_every_example_out_left_to_right_without_overlaps(path: Path) -> None:
    patch = arranged(load(path))
    assert overlapping(patch) == []
    for link in patch.links:
        source, target = link.source.node, link.target.node
        if not feeds_back(patch, source, target):
            assert right_edge(patch, source) < patch.nodes[target].position[0], f"{source} -> {target}"
    assert min(x for x, _y in (n.position for n in patch.nodes.values())) == layout.MARGIN


def test_a_chain_is_one_straight_row_in_signal_order() -> None:
    patch = arranged(load(EXAMPLES[0].parent / "fuzz.json"))
    chain = ["guitar", "pre_emphasis", "drive", "clipper", "tone", "out"]
    xs = [patch.nodes[node_id].position[0] for node_id in chain]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    assert {patch.nodes[node_id].position[1] for node_id in chain} == {layout.MARGIN}


def test_a_modulator_sits_just_before_what_it_modulates() -> None:
    """The default patch's tremolo LFO feeds the gain three columns in: it goes beside the
    gain, not with the oscillators at the far left."""
    patch = arranged(load(EXAMPLES[0].parent / "default.json"))
    shimmer, tremolo = (patch.nodes[n].position[0] for n in ("shimmer", "tremolo"))
    between = [n.id for n in patch.nodes.values() if shimmer < n.position[0] < tremolo]
    assert shimmer < tremolo and between == []
    assert shimmer > patch.nodes["root"].position[0]


def test_a_feedback_loop_is_laid_out_from_its_input() -> None:
    patch = Patch()
    patch.add_node("input", "src")
    patch.add_node("delay", "echo")
    patch.add_node("gain", "fb")
    patch.add_node("output", "out")
    for source, target in (("src.out", "echo.in"), ("echo.tap", "fb.in"), ("fb.out", "echo.in")):
        patch.connect(source, target)
    patch.connect("echo.out", "out.left")
    patch = arranged(patch)
    x = {node_id: node.position[0] for node_id, node in patch.nodes.items()}
    assert x["src"] < x["echo"] < x["fb"] and x["echo"] < x["out"]
    assert overlapping(patch) == []


def test_unlinked_nodes_are_stacked_not_piled() -> None:
    patch = Patch()
    for index in range(4):
        patch.add_node("oscillator", f"osc{index}")
    patch = arranged(patch)
    assert overlapping(patch) == [] and len({n.position for n in patch.nodes.values()}) == 4
    assert arrange(Patch()) == {}


def test_sizes_follow_the_spec() -> None:
    patch = Patch()
    patch.add_node("mix", "m")
    patch.add_node("gain", "g")
    patch.add_node("oscillator", "o")
    patch.add_node("gain", "a_gain_with_a_very_long_name_indeed")
    mix, gain, osc = (node_size(patch.nodes[n]) for n in "mgo")
    assert mix[1] > gain[1]  # nine ports against three
    assert osc[1] - gain[1] >= layout.NODE_PICTURE[1]  # its waveform
    assert node_size(patch.nodes["a_gain_with_a_very_long_name_indeed"])[0] > gain[0] + 80


def test_opening_a_patch_made_without_places_lays_it_out(tmp_path: Path) -> None:
    patch = Patch()  # as a script makes one: every node at (0, 0)
    patch.add_node("oscillator", "osc")
    patch.add_node("filter", "lp")
    patch.add_node("output", "out")
    patch.connect("osc.out", "lp.in")
    patch.connect("lp.out", "out.left")
    save(patch, tmp_path / "scripted.json")

    model = EditorModel(state_dir=tmp_path / "state")
    assert model.open(tmp_path / "scripted.json")
    nodes = model.patch.nodes
    assert overlapping(model.patch) == []
    assert nodes["osc"].position[0] < nodes["lp"].position[0] < nodes["out"].position[0]
    assert "arranged" in model.status.text and model.dirty
    assert model.undo()
    assert {node.position for node in nodes.values()} == {(0.0, 0.0)}


def test_arrange_is_one_undo_step_and_says_when_there_is_nothing_to_do(tmp_path: Path) -> None:
    model = EditorModel(state_dir=tmp_path / "state")
    assert model.open(EXAMPLES[0].parent / "ping_pong.json")
    before = {node_id: node.position for node_id, node in model.patch.nodes.items()}
    assert model.arrange() and "arranged" in model.status.text
    assert overlapping(model.patch) == []
    assert not model.arrange() and "already arranged" in model.status.text
    assert model.undo()
    assert {node_id: node.position for node_id, node in model.patch.nodes.items()} == before


def test_a_laid_out_patch_with_two_nodes_dropped_together_keeps_its_layout(tmp_path: Path) -> None:
    patch = load(EXAMPLES[0].parent / "chorus.json")
    nodes = list(patch.nodes.values())
    nodes[1].position = nodes[0].position  # one node dropped on another, by hand
    save(patch, tmp_path / "chorus.json")
    model = EditorModel(state_dir=tmp_path / "state")
    # Its media stayed in patches/media, outside the copy's folder.
    assert model.open(tmp_path / "chorus.json", allow_outside_files=True) and not model.dirty
    assert [n.position for n in model.patch.nodes.values()] == [n.position for n in patch.nodes.values()]
