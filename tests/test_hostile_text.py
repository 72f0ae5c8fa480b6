"""Hostile text in shared patches and in file names: what patcher prints stays short, and a
terminal is never sent a control character it would obey (issue 12, item 6)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path

import pytest

from patcher.model import PatchError
from patcher.text import excerpt, quote
from tests.test_cli import run_cli
from tests.test_patchfile import VALID

#: Sets the terminal's window title, then clears the screen.
ESCAPES = "\x1b]0;title\x07\x1b[2J"
SHOWN_ESCAPES = r"\x1b]0;title\x07\x1b[2J"
#: Control characters a terminal obeys: everything below a space but newline and tab, DEL, C1.
OBEYED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
OUTPUT_LIMIT = 10_000
LONG_ID = "a" + "x" * 999_999


def write_patch(folder: Path, document: dict, name: str = "hostile.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(document))
    return path


def with_nodes(*nodes: dict, links: tuple[dict, ...] = ()) -> dict:
    document = copy.deepcopy(VALID)
    document["nodes"] += list(nodes)
    document["links"] += list(links)
    return document


def assert_printed_safely(result: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    """The exit code, no traceback, a bounded output with nothing a terminal would obey, and
    the culprit still named."""
    output = result.stdout + result.stderr
    assert result.returncode == code, output[:2000]
    assert "Traceback" not in output
    assert len(output) < OUTPUT_LIMIT, f"{len(output)} characters printed"
    assert not OBEYED.search(output), OBEYED.search(output)
    for fragment in fragments:
        assert fragment in output, output[:2000]


@pytest.mark.parametrize(
    ("node", "link", "fragments"),
    [
        ({"id": LONG_ID, "type": "nope"}, None, ["unknown node type 'nope'"]),
        ({"id": "1" + LONG_ID, "type": "gain"}, None, ["node #5: id '1axxx", "must be text starting"]),
        (None, {"from": f"{LONG_ID}.out", "to": "out.right"}, ["link axxx", "does not exist"]),
    ],
    ids=["unknown type", "bad id", "link from it"],
)
def test_a_million_character_id_is_quoted_short(tmp_path: Path, node, link, fragments) -> None:
    document = with_nodes(*[node] if node else [], links=(link,) if link else ())
    result = run_cli("check", write_patch(tmp_path, document))
    assert_printed_safely(result, 1, "characters)", *fragments)


def test_a_5_mb_string_param_is_quoted_short(tmp_path: Path) -> None:
    document = copy.deepcopy(VALID)
    document["nodes"][2]["params"]["gain_db"] = "z" * 5_000_000
    result = run_cli("check", write_patch(tmp_path, document))
    assert_printed_safely(
        result, 1, "node 'level' (gain): param 'gain_db': expected a number, got 'zzz", "(5000000 characters)"
    )


def test_20000_bad_nodes_print_the_first_problems_and_a_count(tmp_path: Path) -> None:
    document = with_nodes(*({"id": f"n{index}", "type": "nope"} for index in range(20_000)))
    result = run_cli("check", write_patch(tmp_path, document))
    assert_printed_safely(
        result, 1, "20000 problems", "node 'n0': unknown node type 'nope'", "… and 19980 more problems"
    )
    assert len(result.stderr.splitlines()) == 22  # the count, 20 problems, how many more


def test_check_shows_escape_sequences_in_the_description_without_obeying_them(tmp_path: Path) -> None:
    document = copy.deepcopy(VALID)
    document["description"] = f"Pwned{ESCAPES}.\nSecond line:\tindented; a lone surrogate \ud800."
    result = run_cli("check", write_patch(tmp_path, document))
    assert_printed_safely(
        result, 0, f"Pwned{SHOWN_ESCAPES}.\nSecond line:\tindented; a lone surrogate \\ud800."
    )


def test_check_of_a_flood_that_is_valid_prints_a_screenful(tmp_path: Path) -> None:
    """20,000 unheard nodes with long ids and a 5 MB description: a valid patch, a short report."""
    unheard = ({"id": f"g{index}{'x' * 100}", "type": "gain"} for index in range(20_000))
    document = with_nodes(*unheard)
    document["description"] = "d" * 5_000_000
    result = run_cli("check", write_patch(tmp_path, document))
    assert_printed_safely(result, 0, "not heard (no path to an output): b, g0xxx", "and 19991 more", "ddd")


def test_a_file_param_with_escape_sequences_is_named_visibly(tmp_path: Path) -> None:
    convolver = {"id": "room", "type": "convolver", "params": {"source": "file", "file": f"{ESCAPES}.wav"}}
    links = ({"from": "a.out", "to": "room.in"}, {"from": "room.out", "to": "out.right"})
    result = run_cli("check", write_patch(tmp_path, with_nodes(convolver, links=links)))
    assert_printed_safely(result, 1, "node 'room' (convolver): no such audio file", f"{SHOWN_ESCAPES}.wav")


def test_file_names_with_escape_sequences_are_printed_visibly(tmp_path: Path) -> None:
    good = write_patch(tmp_path, VALID, f"{ESCAPES}good.json")
    assert_printed_safely(run_cli("check", good), 0, f"{SHOWN_ESCAPES}good.json: ok")
    output = tmp_path / f"{ESCAPES}out.wav"
    result = run_cli("render", good, "-o", output, "--seconds", "0.05")
    assert_printed_safely(result, 0, f"wrote {tmp_path}/{SHOWN_ESCAPES}out.wav")
    bad = copy.deepcopy(VALID)
    bad["nodes"][2]["params"]["gain_db"] = 99
    result = run_cli("check", write_patch(tmp_path, bad, f"{ESCAPES}bad.json"))
    assert_printed_safely(result, 1, f"{SHOWN_ESCAPES}bad.json: node 'level' (gain)")


def test_analyze_prints_a_file_name_with_escape_sequences_visibly(tmp_path: Path) -> None:
    patch = tmp_path / f"{ESCAPES}lowpass.json"
    patch.write_text((Path(__file__).parent.parent / "patches" / "lowpass.json").read_text())
    report = tmp_path / f"{ESCAPES}report"
    result = run_cli("analyze", patch, "--no-plots", "-o", report)
    assert_printed_safely(
        result,
        0,
        f"patcher analyze: {SHOWN_ESCAPES}lowpass.json",
        f"wrote the report to {tmp_path}/{SHOWN_ESCAPES}",
    )
    result = run_cli("analyze", patch, "--no-plots", "-o", report, "--input", tmp_path / f"{ESCAPES}.wav")
    assert_printed_safely(result, 1, f"--input {tmp_path}/{SHOWN_ESCAPES}.wav: no such file")


# -- the quoting itself --------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [LONG_ID, ESCAPES * 1000, "\u202e\u2028\ud800" * 50, list(range(100_000)), [ESCAPES] * 100, 10**400],
    ids=["long", "escapes", "bidi, separator, surrogate", "long list", "list of escapes", "huge int"],
)
def test_quote_and_excerpt_are_short_and_visible(value) -> None:
    for shown in (quote(value), excerpt(value)):
        assert len(shown) <= 80, shown
        assert not re.search("[\x00-\x1f\x7f-\x9f\u2028-\u202e\ud800-\udfff]", shown), shown
        shown.encode("utf-8")  # printable on any UTF-8 stream


def test_short_values_are_quoted_as_python_writes_them() -> None:
    assert quote("loud") == "'loud'" and quote(ESCAPES) == f"'{SHOWN_ESCAPES}'"
    assert quote(True) == "True" and quote(2.5) == "2.5" and quote([1, "a"]) == "[1, 'a']"
    assert excerpt("osc.out") == "osc.out" and excerpt(excerpt(LONG_ID)) == excerpt(LONG_ID)
    assert excerpt(LONG_ID).endswith("xxx (1000000 characters)")


def test_a_patch_error_lists_twenty_problems_and_counts_the_rest() -> None:
    message = str(PatchError([f"problem {index}" for index in range(50)], "p.json"))
    lines = message.splitlines()
    assert lines[0] == "p.json: 50 problems:"
    assert lines[1:21] == [f"  - problem {index}" for index in range(20)]
    assert lines[21:] == ["  … and 30 more problems"]
