"""Comments: text boxes on the canvas, saved in the patch, refused when they are not text a
canvas can show, and drawn in the gallery pictures."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

import patcher
from patcher.model import COMMENT_LIMIT, Patch, PatchError


def commented() -> Patch:
    patch = Patch()
    patch.add_node("oscillator", "osc", position=(0, 0))
    patch.add_node("output", "out", position=(300, 0))
    patch.connect("osc.out", "out.left")
    patch.add_comment("A sine into the output.\n\tThat is all.", (0, -120))
    patch.add_comment("Boxed", (300, 150), size=(180, 60))
    return patch


def test_comments_round_trip_with_their_places_and_sizes() -> None:
    patch = commented()
    again = patcher.loads(patcher.dumps(patch))
    assert again.comments == patch.comments
    assert again.comments[1].size == (180.0, 60.0) and again.comments[0].size is None
    assert patcher.dumps(again) == patcher.dumps(patch)


def test_an_embedded_subpatch_keeps_its_comments() -> None:
    patch = Patch()
    node_id = patch.add_node("subpatch", "group")
    patch.nodes[node_id].inner.add_comment("inside", (10, 10))
    again = patcher.loads(patcher.dumps(patch))
    assert again.nodes["group"].inner.comments[0].text == "inside"


@pytest.mark.parametrize(
    ("comment", "message"),
    [
        ({"text": 5}, r"comment #1: a comment's text must be text, got 5"),
        ({"position": [0, 0]}, r"comment #1: a comment's text must be text, got None"),
        (
            {"text": "x" * (COMMENT_LIMIT + 1)},
            rf"comment #1: a comment holds at most {COMMENT_LIMIT} characters",
        ),
        ({"text": "bell\x07"}, r"comment #1: a comment may hold line breaks and tabs but no other control"),
        ({"text": "x", "position": [0]}, r"comment #1: position must be \[x, y\]"),
        ({"text": "x", "size": [0, 10]}, r"comment #1: size must be \[width, height\], two numbers above 0"),
        ({"text": "x", "colour": "red"}, r"comment #1: unknown key 'colour'"),
        ("just text", r"comment #1: expected an object with a 'text'"),
    ],
)
def test_bad_comments_are_refused_naming_which(comment: object, message: str) -> None:
    document = json.loads(patcher.dumps(commented()))
    document["comments"] = [comment]
    with pytest.raises(PatchError, match=message):
        patcher.loads(json.dumps(document))


def test_the_api_refuses_a_bad_comment() -> None:
    with pytest.raises(PatchError, match="no other control characters"):
        Patch().add_comment("\x1b[2J")


def test_the_gallery_draws_comments_and_takes_them_into_view() -> None:
    from patcher.gallery import draw_graph

    figure = plt.figure()
    axes = figure.add_subplot()
    draw_graph(axes, commented(), "commented")
    texts = [text.get_text() for text in axes.texts]
    assert any(text.startswith("A sine into the output.") for text in texts)
    assert "Boxed" in texts
    bottom, top = axes.get_ylim()
    assert bottom <= -150 - 60 and top >= 120  # both notes are inside the view
    plt.close(figure)
