"""Patch format v1: every error case names its culprit; saving is deterministic and atomic."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import pytest

from patcher.model import Patch, PatchError
from patcher.patchfile import dumps, load, loads, save
from patcher.render import render

VALID = {
    "format": "patcher",
    "version": 1,
    "description": "Two constants summed into the output.",
    "settings": {"sample_rate": 48000, "block_size": 256, "duration_s": 1.0},
    "nodes": [
        {"id": "a", "type": "math", "params": {"op": "constant", "b": 0.25}, "position": [0, 0]},
        {"id": "b", "type": "math", "params": {"op": "constant", "b": 0.5}, "position": [0, 100]},
        {"id": "level", "type": "gain", "params": {"gain_db": 0.0}, "position": [200, 0]},
        {"id": "out", "type": "output", "params": {}, "position": [400, 0]},
    ],
    "links": [
        {"from": "a.out", "to": "level.in"},
        {"from": "level.out", "to": "out.left"},
    ],
}


def document(**changes) -> dict:
    result = copy.deepcopy(VALID)
    result.update(changes)
    return result


def problems_of(doc: dict | str) -> str:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    with pytest.raises(PatchError) as caught:
        loads(text, source="p.json")
    return str(caught.value)


def with_node(**node) -> dict:
    doc = document()
    doc["nodes"].append({"position": [0, 0], "params": {}, **node})
    return doc


def with_link(source: str, target: str) -> dict:
    doc = document()
    doc["links"].append({"from": source, "to": target})
    return doc


def test_valid_document_loads() -> None:
    patch = loads(json.dumps(VALID))
    assert list(patch.nodes) == ["a", "b", "level", "out"]
    assert patch.settings.duration_s == 1.0


def test_malformed_json_gives_line_and_column() -> None:
    message = problems_of('{\n  "format": "patcher",\n  "version": 1,,\n}')
    assert "malformed JSON at line 3, column 16" in message
    assert message.startswith("p.json:")


def test_unknown_format_is_named() -> None:
    assert "unknown format 'pd'" in problems_of(document(format="pd"))


def test_unknown_version_is_named() -> None:
    assert "unsupported version 0; this patcher reads versions 1 and 2" in problems_of(document(version=0))


def test_a_newer_version_is_refused_naming_both_versions() -> None:
    message = problems_of(document(version=7))
    assert message == (
        "p.json: this patch is format version 7, made by a newer patcher; this patcher reads "
        "versions 1 and 2: update patcher to open it"
    )


def test_unknown_node_type_names_the_node() -> None:
    message = problems_of(with_node(id="fx", type="flanger9000"))
    assert "node 'fx': unknown node type 'flanger9000'" in message


def test_unknown_param_names_node_and_param() -> None:
    message = problems_of(with_node(id="g", type="gain", params={"loudness": 3}))
    assert "node 'g' (gain): unknown param 'loudness'; params: gain_db" in message


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        (
            with_node(id="osc", type="oscilator"),
            "node 'osc': unknown node type 'oscilator'; did you mean 'oscillator'?",
        ),
        (with_node(id="mod", type="LFO"), "node 'mod': unknown node type 'LFO'; did you mean 'lfo'?"),
        (
            with_node(id="osc", type="oscillator", params={"frequency": 440}),
            "node 'osc' (oscillator): unknown param 'frequency'; did you mean 'frequency_hz'? (params: ",
        ),
        (
            with_link("a.out", "out.lfet"),
            "output 'out' has no port 'lfet'; did you mean 'left'? (inputs: left, right, level_db)",
        ),
        (
            with_link("level.output", "out.left"),
            "gain 'level' has no port 'output'; did you mean 'out'? (outputs: out)",
        ),
        (
            document(settings={"samplerate": 44100}),
            "unknown setting 'samplerate'; did you mean 'sample_rate'? (known: sample_rate, block_size, ",
        ),
        (document(link=[]), "unknown top-level key 'link'; did you mean 'links'?"),
        (with_node(id="g", type="gain", param={}), "node 'g': unknown key 'param'; did you mean 'params'?"),
    ],
    ids=[
        "type",
        "type in capitals",
        "param",
        "input port",
        "output port",
        "setting",
        "top-level key",
        "node key",
    ],
)
def test_an_unknown_name_suggests_the_closest_known_one(mistake: dict, message: str) -> None:
    assert message in problems_of(mistake)


def test_an_unknown_name_close_to_nothing_lists_every_known_one() -> None:
    message = problems_of(with_node(id="fx", type="flanger9000"))
    assert "did you mean" not in message
    assert "unknown node type 'flanger9000'; known: adsr, clock, compressor, convolver, delay," in message


def test_a_suggestion_is_one_line_with_the_unknown_name_escaped() -> None:
    """A hostile name near a real one: the name shown escaped, the suggestion ours."""
    message = problems_of(with_node(id="g", type="gain", params={"gain_db\x1b[2J\n": 1}))
    assert message == (
        "p.json: node 'g' (gain): unknown param 'gain_db\\x1b[2J\\n'; "
        "did you mean 'gain_db'? (params: gain_db)"
    )


def test_unknown_port_names_the_link_and_the_ports() -> None:
    message = problems_of(with_link("a.out", "out.centre"))
    assert "link a.out -> out.centre" in message
    assert "has no port 'centre' (inputs: left, right, level_db)" in message


def test_wrong_type_names_the_param() -> None:
    message = problems_of(with_node(id="g", type="gain", params={"gain_db": "loud"}))
    assert "node 'g' (gain): param 'gain_db': expected a number, got 'loud'" in message


def test_out_of_range_names_the_range() -> None:
    message = problems_of(with_node(id="g", type="gain", params={"gain_db": 100}))
    assert "node 'g' (gain): param 'gain_db': 100 is out of range [-90, 24]" in message


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(constant: str) -> None:
    text = json.dumps(with_node(id="g", type="gain", params={"gain_db": 0})).replace(
        '"gain_db": 0', f'"gain_db": {constant}'
    )
    assert f"{constant} is not a number a patch may hold" in problems_of(text)


def test_nan_in_settings_via_python_api_is_refused() -> None:
    patch = Patch()
    patch.add_node("gain", "g")
    with pytest.raises(PatchError, match="expected a finite number, got nan"):
        patch.set_param("g", "gain_db", float("nan"))


def test_duplicate_id_is_named() -> None:
    message = problems_of(with_node(id="a", type="gain"))
    assert "node 'a': duplicate id" in message


def test_dangling_link_names_the_missing_node() -> None:
    message = problems_of(with_link("ghost.out", "out.right"))
    assert "link ghost.out -> out.right: its source node 'ghost' does not exist" in message


def test_output_linked_to_output_is_refused() -> None:
    message = problems_of(with_link("a.out", "level.out"))
    assert "link a.out -> level.out: level.out is an output" in message


def test_input_used_as_source_is_refused() -> None:
    message = problems_of(with_link("level.in", "out.right"))
    assert "level.in is an input" in message


def test_duplicate_link_is_refused() -> None:
    assert "link a.out -> level.in: it is already linked" in problems_of(with_link("a.out", "level.in"))


def test_two_links_into_one_input_are_summed() -> None:
    doc = with_link("b.out", "level.in")
    audio = render(loads(json.dumps(doc)), seconds=0.01)
    np.testing.assert_allclose(audio, 0.75)


def test_delay_free_cycle_names_its_path() -> None:
    doc = with_node(id="g2", type="gain")
    doc["links"] += [{"from": "level.out", "to": "g2.in"}, {"from": "g2.out", "to": "level.in"}]
    message = problems_of(doc)
    assert "delay-free feedback loop" in message
    assert "g2 -> level -> g2" in message or "level -> g2 -> level" in message


def test_a_delay_free_loop_is_reported_with_the_other_problems() -> None:
    """Loading reports every problem at once: a loop among the sound nodes too, beside a bad
    param, a misspelt type and a link to a missing port."""
    doc = with_node(id="g2", type="gain", params={"gain_db": 99})
    doc["nodes"].append({"id": "fx", "type": "flanger9000"})
    doc["links"] += [
        {"from": "level.out", "to": "g2.in"},
        {"from": "g2.out", "to": "level.in"},
        {"from": "a.out", "to": "out.centre"},
        {"from": "fx.out", "to": "out.right"},
    ]
    message = problems_of(doc)
    assert "4 problems" in message
    assert "param 'gain_db': 99 is out of range" in message and "unknown node type 'flanger9000'" in message
    assert "has no port 'centre'" in message and "delay-free feedback loop" in message


def test_self_loop_is_a_delay_free_cycle() -> None:
    assert "delay-free feedback loop level -> level" in problems_of(with_link("level.out", "level.in"))


def test_loop_through_a_delay_dry_output_is_refused_and_through_its_tap_accepted() -> None:
    doc = with_node(id="echo", type="delay")
    doc["links"] += [{"from": "level.out", "to": "echo.in"}, {"from": "echo.out", "to": "level.in"}]
    assert "delay-free feedback loop" in problems_of(doc)
    doc["links"][-1] = {"from": "echo.tap", "to": "level.in"}
    loads(json.dumps(doc))


def test_a_loop_into_a_delays_time_ms_says_the_tap_needs_time_ms_first() -> None:
    """The delay reads time_ms before it makes its tap: such a loop does pass through the tap
    and still has no delay in it; another delay's tap, entered by 'in', breaks it."""
    doc = with_node(id="echo", type="delay")
    doc["links"] += [{"from": "echo.tap", "to": "level.in"}, {"from": "level.out", "to": "echo.time_ms"}]
    message = problems_of(doc)
    assert "delay-free feedback loop" in message and "echo" in message
    assert "delay 'echo' needs its 'time_ms' before it can make its 'tap'" in message
    advice = "must pass through another delay, entering by 'in', 'feedback' or 'mix' and leaving by 'tap'"
    assert advice in message
    assert "a loop must pass through a delay's 'tap' output" not in message
    doc["nodes"].append({"id": "second", "type": "delay"})
    doc["links"][-1] = {"from": "level.out", "to": "second.in"}
    doc["links"].append({"from": "second.tap", "to": "echo.time_ms"})
    loads(json.dumps(doc))  # the advice holds: through another delay's tap, the loop is legal


@pytest.mark.parametrize(("version", "written"), [(True, "true"), (1.0, "1.0")])
def test_version_must_be_the_integer_1(version: object, written: str) -> None:
    message = problems_of(document(version=version))
    assert message == f'p.json: version must be written "version": 1, not {written}'


def test_a_utf8_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "windows.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(VALID).encode("utf-8"))
    assert list(load(path).nodes) == ["a", "b", "level", "out"]


def test_a_5000_digit_integer_is_one_line_naming_where_it_is() -> None:
    doc = document(description="1" * 5000)  # digits in a string are not the number
    text = json.dumps(doc, indent=1).replace('"gain_db": 0.0', '"gain_db": ' + "9" * 5000)
    before = text[: text.index("9" * 5000)]
    line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
    message = problems_of(text)
    assert message.startswith(f"p.json: line {line}, column {column}: a number of 5000 digits is too long")
    assert "\n" not in message and "set_int_max_str_digits" not in message


def test_a_huge_integer_in_a_table_is_a_patch_problem() -> None:
    doc = with_node(id="shape", type="waveshaper", params={"shape": "curve", "curve": [0, 10**400]})
    message = problems_of(doc)
    assert "node 'shape' (waveshaper): param 'curve': expected table values a float can hold" in message


def test_every_problem_is_reported_at_once() -> None:
    doc = with_node(id="g", type="gain", params={"gain_db": 1000, "volume": 1})
    doc["nodes"].append({"id": "x", "type": "nope"})
    doc["links"].append({"from": "g.out", "to": "nowhere.in"})
    doc["settings"]["block_size"] = 0
    message = problems_of(doc)
    assert message.startswith("p.json: 5 problems:")
    for fragment in ("block_size", "'gain_db'", "'volume'", "'nope'", "'nowhere'"):
        assert fragment in message


def test_unknown_keys_are_reported() -> None:
    assert "unknown top-level key 'author'" in problems_of(document(author="me"))


def test_load_save_load_is_exact(tmp_path: Path) -> None:
    source = tmp_path / "a.json"
    source.write_text(json.dumps(VALID))
    first = load(source)
    save(first, tmp_path / "b.json")
    second = load(tmp_path / "b.json")
    assert dumps(first) == dumps(second)
    assert first.nodes == second.nodes and first.links == second.links
    assert first.settings == second.settings and first.description == second.description


def test_saving_is_deterministic_whatever_the_order_of_building() -> None:
    forward, backward = Patch(), Patch()
    for patch, order in ((forward, ["x", "y"]), (backward, ["y", "x"])):
        for node_id in order:
            patch.add_node("gain", node_id, position=(1.5, 2))
        patch.add_node("output", "out")
        for node_id in order:
            patch.connect(f"{node_id}.out", "out.left")
    assert dumps(forward) == dumps(backward)
    assert '"position": [1.5, 2.0]' in dumps(forward)


def test_failed_save_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "patch.json"
    target.write_text("old contents")

    def broken_replace(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save(loads(json.dumps(VALID)), target)
    assert target.read_text() == "old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["patch.json"]


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PatchError, match=r"no such patch file: .*missing\.json"):
        load(tmp_path / "missing.json")


def test_text_that_looks_like_json_survives_a_round_trip(tmp_path: Path) -> None:
    patch = Patch(base_dir=tmp_path)
    patch.description = 'see [1,2] and {"from": "a.out","to": "b.in"}'
    patch.add_node("input", "take", file="take[1,2].wav")
    again = loads(dumps(patch), base_dir=tmp_path)
    assert again.description == patch.description
    assert again.nodes["take"].params["file"] == "take[1,2].wav"


def test_saved_files_get_normal_permissions_and_keep_existing_ones(tmp_path: Path) -> None:
    fresh, private = tmp_path / "fresh.json", tmp_path / "private.json"
    private.write_text("{}")
    private.chmod(0o600)
    patch = loads(json.dumps(VALID))
    save(patch, fresh)
    save(patch, private)
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask
    assert private.stat().st_mode & 0o777 == 0o600


def test_saving_through_a_symlink_writes_its_target_and_keeps_the_link(tmp_path: Path) -> None:
    """A patch kept elsewhere and linked into a project: saving must not break the link."""
    target = tmp_path / "library" / "patch.json"
    target.parent.mkdir()
    target.write_text("old contents")
    target.chmod(0o600)
    link = tmp_path / "project" / "patch.json"
    link.parent.mkdir()
    link.symlink_to(target)
    save(loads(json.dumps(VALID)), link)
    assert link.is_symlink() and link.resolve() == target
    assert json.loads(target.read_text())["nodes"][0]["id"] == "a"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [path.name for path in link.parent.iterdir()] == ["patch.json"]
