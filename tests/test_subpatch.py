"""Subpatches and abstractions: they sound exactly like the patch they flatten to, loops pass
through their boundary, and every mistake is named by its path and file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import patcher
from patcher.flatten import flatten
from patcher.model import Patch, PatchError

RATE = 8000
SECONDS = 0.25


def voice() -> Patch:
    """A filter into a short feedback delay, between an inlet and two outlets."""
    inner = Patch()
    inner.add_node("inlet", "in", position=(0, 0))
    inner.add_node("filter", "lp", cutoff_hz=900.0)
    inner.add_node("delay", "echo", time_ms=7.0, feedback=0.4, mix=0.5)
    inner.add_node("outlet", "out", position=(0, 0))
    inner.add_node("outlet", "wet", position=(100, 0))
    inner.connect("in.out", "lp.in")
    inner.connect("lp.out", "echo.in")
    inner.connect("echo.out", "out.in")
    inner.connect("echo.tap", "wet.in")
    inner.publish("cutoff", "lp.cutoff_hz")
    return inner


def settings(patch: Patch) -> Patch:
    patch.settings = patcher.Settings(sample_rate=RATE, block_size=64, duration_s=SECONDS)
    return patch


def nested() -> Patch:
    """A saw through the voice twice over: once plainly, once with its wet tap fed back into
    it through a gain (a loop through a delay's tap, across the subpatch's boundary), the
    cutoff set by one and modulated by an LFO on the other."""
    patch = settings(Patch())
    patch.add_node("oscillator", "osc", waveform="saw", frequency_hz=110.0)
    patch.add_subpatch(voice(), "a", cutoff=1500.0)
    patch.add_subpatch(voice(), "b")
    patch.add_node("gain", "back", gain_db=-6.0)
    patch.add_node("lfo", "wobble", rate_hz=3.0, depth=400.0)
    patch.add_node("output", "out")
    patch.connect("osc.out", "a.in")
    patch.connect("osc.out", "b.in")
    patch.connect("b.wet", "back.in")
    patch.connect("back.out", "b.in")
    patch.connect("wobble.out", "b.cutoff")
    patch.connect("a.out", "out.left")
    patch.connect("b.out", "out.right")
    return patch


def flat_by_hand() -> Patch:
    """What ``nested`` means, written out without subpatches."""
    patch = settings(Patch())
    patch.add_node("oscillator", "osc", waveform="saw", frequency_hz=110.0)
    for name, cutoff in (("a", 1500.0), ("b", 900.0)):
        patch.add_node("filter", f"{name}_lp", cutoff_hz=cutoff)
        patch.add_node("delay", f"{name}_echo", time_ms=7.0, feedback=0.4, mix=0.5)
        patch.connect("osc.out", f"{name}_lp.in")
        patch.connect(f"{name}_lp.out", f"{name}_echo.in")
    patch.add_node("gain", "back", gain_db=-6.0)
    patch.add_node("lfo", "wobble", rate_hz=3.0, depth=400.0)
    patch.add_node("output", "out")
    patch.connect("b_echo.tap", "back.in")
    patch.connect("back.out", "b_lp.in")
    patch.connect("wobble.out", "b_lp.cutoff_hz")
    patch.connect("a_echo.out", "out.left")
    patch.connect("b_echo.out", "out.right")
    return patch


@pytest.mark.parametrize("block", [1, 64, 1024])
def test_a_subpatch_renders_sample_for_sample_like_its_flattened_equivalent(block: int) -> None:
    sub = patcher.render(nested(), block_size=block, limit=False)
    flat = patcher.render(flat_by_hand(), block_size=block, limit=False)
    assert np.max(np.abs(flat)) > 0.05
    np.testing.assert_array_equal(sub, flat)


def test_flattening_names_inner_nodes_by_their_path() -> None:
    flat = flatten(nested())
    assert {"a/lp", "a/echo", "b/lp", "b/echo"} <= set(flat.nodes)
    assert not {"a/in", "a/out", "a/wet"} & set(flat.nodes)  # the ports are joined away
    assert flat.nodes["a/lp"].params["cutoff_hz"] == 1500.0  # the subpatch's published value
    assert flat.nodes["b/lp"].params["cutoff_hz"] == 900.0  # the inner patch's own value


def test_a_loop_through_a_tap_across_the_boundary_loads_and_a_delay_free_one_is_refused() -> None:
    patch = nested()
    again = patcher.loads(patcher.dumps(patch))  # the tap loop b.wet -> back -> b.in is legal
    assert patcher.dumps(again) == patcher.dumps(patch)
    patch.disconnect("b.wet", "back.in")
    patch.connect("b.out", "back.in")  # 'out' includes the dry input: no delay in the loop
    with pytest.raises(PatchError, match=r"delay-free feedback loop .*b/(lp|echo)"):
        patcher.compile_patch(patch)
    with pytest.raises(PatchError, match="delay-free feedback loop"):
        patcher.loads(patcher.dumps(patch))


def test_an_outlet_linked_straight_back_into_its_inlet_is_a_delay_free_loop() -> None:
    inner = Patch()
    inner.add_node("inlet", "in")
    inner.add_node("outlet", "out")
    inner.connect("in.out", "out.in")
    patch = Patch()
    patch.add_subpatch(inner, "wire")
    patch.connect("wire.out", "wire.in")
    with pytest.raises(PatchError, match="delay-free feedback loop through 'wire/"):
        patcher.compile_patch(patch)


def test_a_published_param_has_the_inner_spec_and_is_validated() -> None:
    patch = nested()
    spec = patch.nodes["a"].spec
    param = spec.PARAMS["cutoff"]
    assert (param.unit, param.min, param.max, param.modulatable) == ("Hz", 10.0, 20000.0, True)
    assert param.default == 900.0 and "lp.cutoff_hz" in param.doc
    assert spec.input_ports() == ("in", "cutoff") and spec.OUTPUTS == ("out", "wet")
    with pytest.raises(PatchError, match=r"node 'a' \(subpatch\): param 'cutoff': 50000 is out of range"):
        patch.set_param("a", "cutoff", 50000)


def test_ports_follow_index_then_position() -> None:
    inner = Patch()
    inner.add_node("inlet", "right", position=(200, 0))
    inner.add_node("inlet", "left", position=(0, 0))
    inner.add_node("inlet", "side", index=1, position=(-100, 0))
    assert inner.ports("inlet") == ("left", "right", "side")


def test_live_edits_keep_inner_state_and_published_params_ramp() -> None:
    patch = nested()
    engine = patcher.Engine(patch, block_size=64)
    engine.render(0.05)
    echo = engine.schedule.nodes["b/echo"]
    edited = patcher.loads(patcher.dumps(patch))
    edited.set_param("back", "gain_db", -12.0)
    engine.update_patch(edited)
    assert engine.schedule.nodes["b/echo"] is echo  # the delay line plays on
    engine.set_param("a", "cutoff", 3000.0)
    engine.set_param("b/echo", "feedback", 0.1)  # a path into a subpatch
    engine.render(0.05)
    assert engine.schedule.nodes["a/lp"].params["cutoff_hz"] == 3000.0
    assert engine.schedule.nodes["b/echo"].params["feedback"] == 0.1
    assert edited.find("b/echo").params["feedback"] == 0.1


def test_an_inlet_at_the_top_level_plays_silence_and_an_outlet_is_not_heard() -> None:
    patch = settings(Patch())
    patch.add_node("inlet", "in")
    patch.add_node("oscillator", "osc")
    patch.add_node("outlet", "out")
    patch.add_node("output", "speaker")
    patch.connect("osc.out", "out.in")
    patch.connect("in.out", "speaker.left")
    assert np.max(np.abs(patcher.render(patch))) == 0.0
    assert "osc" not in patcher.compile_patch(patch).pruned  # an outlet is a sink


# -- abstractions ---------------------------------------------------------------------------
def write(path: Path, patch: Patch) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    patch.save(path)
    return path


def parent_of(file: str, *instances: str) -> dict:
    document = json.loads(patcher.dumps(settings(Patch())))
    document["nodes"] = [{"id": "osc", "type": "oscillator", "params": {"waveform": "saw"}}]
    document["nodes"] += [{"id": name, "type": "subpatch", "file": file} for name in instances]
    document["nodes"].append({"id": "out", "type": "output"})
    document["links"] = [{"from": "osc.out", "to": f"{name}.in"} for name in instances]
    document["links"] += [{"from": f"{instances[0]}.out", "to": "out.left"}]
    return document


def save_document(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_an_abstraction_used_twice_is_read_beside_the_patch_and_saved_by_reference(tmp_path: Path) -> None:
    write(tmp_path / "lib" / "voice.json", voice())
    path = save_document(tmp_path / "song.json", parent_of("lib/voice.json", "left", "right"))
    patch = patcher.load(path)
    assert patch.nodes["left"].inner is not patch.nodes["right"].inner  # an instance each
    assert patch.nodes["left"].spec.OUTPUTS == ("out", "wet")
    assert np.max(np.abs(patcher.render(patch, 0.1))) > 0.05
    saved = json.loads(patcher.dumps(patch))
    left = next(node for node in saved["nodes"] if node["id"] == "left")
    assert left["file"] == "lib/voice.json" and "patch" not in left
    (tmp_path / "elsewhere").mkdir()
    patch.save(tmp_path / "elsewhere" / "song.json")  # Save As elsewhere: the reference follows
    moved = json.loads((tmp_path / "elsewhere" / "song.json").read_text())
    assert next(node for node in moved["nodes"] if node["id"] == "left")["file"] == "../lib/voice.json"


def test_an_abstraction_is_found_in_the_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    library = tmp_path / "library"
    write(library / "voice.json", voice())
    (tmp_path / "song").mkdir()
    path = save_document(tmp_path / "song" / "song.json", parent_of("voice.json", "v"))
    with pytest.raises(PatchError, match="no such abstraction"):
        patcher.load(path)
    monkeypatch.setenv("PATCHER_LIBRARY", str(library))
    assert patcher.load(path).nodes["v"].inner.path == (library / "voice.json").resolve()


def test_a_missing_abstraction_is_named_with_where_it_was_looked_for(tmp_path: Path) -> None:
    path = save_document(tmp_path / "song.json", parent_of("lib/nowhere.json", "v"))
    with pytest.raises(PatchError) as caught:
        patcher.load(path)
    assert "node 'v' (subpatch lib/nowhere.json): no such abstraction (looked in " in str(caught.value)


def test_a_patch_that_includes_itself_is_refused_naming_the_chain(tmp_path: Path) -> None:
    a = parent_of("b.json", "inner")
    save_document(tmp_path / "a.json", a)
    b = json.loads(patcher.dumps(voice()))
    b["nodes"].append({"id": "again", "type": "subpatch", "file": "a.json"})
    save_document(tmp_path / "b.json", b)
    with pytest.raises(PatchError) as caught:
        patcher.load(tmp_path / "a.json")
    message = str(caught.value)
    assert "a patch includes itself:" in message
    assert f"{tmp_path / 'a.json'} -> b.json -> a.json" in message


def test_an_unknown_inlet_is_named_with_the_abstraction(tmp_path: Path) -> None:
    write(tmp_path / "voice.json", voice())
    document = parent_of("voice.json", "v")
    document["links"].append({"from": "osc.out", "to": "v.side"})
    with pytest.raises(PatchError) as caught:
        patcher.load(save_document(tmp_path / "song.json", document))
    assert "subpatch voice.json 'v' has no port 'side' (inputs: in, cutoff)" in str(caught.value)


def test_a_port_gone_from_a_changed_abstraction_is_named(tmp_path: Path) -> None:
    write(tmp_path / "voice.json", voice())
    document = parent_of("voice.json", "v")
    document["links"].append({"from": "v.wet", "to": "out.right"})
    path = save_document(tmp_path / "song.json", document)
    patcher.load(path)
    changed = voice()
    changed.remove_node("wet")
    write(tmp_path / "voice.json", changed)
    with pytest.raises(PatchError) as caught:
        patcher.load(path)
    assert "link v.wet -> out.right: subpatch voice.json 'v' has no port 'wet' (outputs: out)" in str(
        caught.value
    )


def test_a_problem_inside_an_abstraction_names_its_path_and_file(tmp_path: Path) -> None:
    inner = json.loads(patcher.dumps(voice()))
    next(node for node in inner["nodes"] if node["id"] == "lp")["params"]["cutoff_hz"] = -5
    save_document(tmp_path / "voice.json", inner)
    with pytest.raises(PatchError) as caught:
        patcher.load(save_document(tmp_path / "song.json", parent_of("voice.json", "v")))
    message = str(caught.value)
    assert "node 'v' (subpatch voice.json): node 'v/lp' (filter): param 'cutoff_hz': -5 is out" in message


def test_a_problem_inside_an_embedded_subpatch_names_its_path() -> None:
    document = json.loads(patcher.dumps(nested()))
    a = next(node for node in document["nodes"] if node["id"] == "a")
    next(node for node in a["patch"]["nodes"] if node["id"] == "echo")["params"]["feedback"] = 7
    a["patch"]["links"].append({"from": "lp.out", "to": "echo.nowhere"})
    with pytest.raises(PatchError) as caught:
        patcher.loads(json.dumps(document))
    message = str(caught.value)
    assert "node 'a/echo' (delay): param 'feedback': 7 is out of range" in message
    assert "in subpatch 'a': link lp.out -> echo.nowhere: delay 'echo' has no port 'nowhere'" in message


def test_an_abstraction_outside_the_folder_needs_consent(tmp_path: Path) -> None:
    write(tmp_path / "voice.json", voice())
    (tmp_path / "song").mkdir()
    path = save_document(tmp_path / "song" / "song.json", parent_of("../voice.json", "v"))
    with pytest.raises(PatchError, match="outside the patch's folder"):
        patcher.load(path)
    assert patcher.load(path, allow_outside_files=True).nodes["v"].inner is not None


def test_the_cli_names_a_missing_abstraction_in_one_line(tmp_path: Path) -> None:
    path = save_document(tmp_path / "song.json", parent_of("gone.json", "v"))
    for command in (["check", path], ["render", path, "-o", tmp_path / "x.wav"]):
        result = subprocess.run(
            [sys.executable, "-m", "patcher", *map(str, command)], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr
        assert "node 'v' (subpatch gone.json): no such abstraction" in lines[0]
