"""``patcher analyze``: the report files, --json, --capture, and one clean line per mistake.

The tests go through ``patcher.cli.main``. Until ``patcher.cli`` registers the command itself,
the fixture below adds it to the parser the way the two hook lines will.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

import patcher
from patcher import cli
from patcher.analysis import default_material
from patcher.analysis_cli import add_analyze_command
from patcher.analysis_report import REPORT_FILES
from patcher.patchfile import load
from tests.test_analysis import RATE, chain_patch, chorus_patch, pedal_patch


@pytest.fixture(autouse=True)
def analyze_command(monkeypatch: pytest.MonkeyPatch) -> None:
    original = cli._parser

    def parser() -> argparse.ArgumentParser:
        parser = original()
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "analyze" not in commands.choices:
            add_analyze_command(commands)
        return parser

    monkeypatch.setattr(cli, "_parser", parser)


def run(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    code = cli.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, fragment: str) -> None:
    assert code == 1
    assert err.startswith("patcher: error: ") and err.count("\n") == 1, err
    assert fragment in err


@pytest.fixture
def pedal_file(tmp_path: Path) -> Path:
    path = tmp_path / "pedal.json"
    pedal_patch().save(path)
    return path


def test_analyze_writes_the_report_and_prints_the_summary(
    pedal_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "analyze", pedal_file, "--from", "fuzz.in", "--to", "fuzz.out")
    assert code == 0, err
    folder = tmp_path / "analysis-pedal"
    assert sorted(path.name for path in folder.iterdir()) == sorted(REPORT_FILES)
    for name in REPORT_FILES:
        if name.endswith(".png"):
            assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    figures = json.loads((folder / "report.json").read_text())
    assert figures["from"] == "fuzz.in" and figures["to"] == "fuzz.out" and figures["chain"] == ["fuzz"]
    assert figures["verdict"]["failed"] == ["nonlinear"]
    assert set(figures["sweep"]["harmonics_db"]) == {"2", "3", "4", "5"}
    assert "Not LTI" in out and "nonlinear" in out and "THD" in out
    assert (folder / "summary.txt").read_text() in out
    assert "wrote the report to analysis-pedal/" in out


def test_json_prints_only_the_figures(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "chorus.json"
    chorus_patch().save(path)
    report = tmp_path / "report"
    code, out, err = run(capsys, "analyze", path, "-o", report, "--json", "--no-plots")
    assert code == 0, err
    figures = json.loads(out)
    assert figures["verdict"]["failed"] == ["time-varying"]
    assert figures["time_invariance"]["time_invariant"] is False
    assert figures["linearity"]["linear"] is True
    assert str(report / "report.json") in figures["files"]
    assert "wrote the report" in err


def test_capture_writes_a_patch_and_its_ir(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "tone.json"
    chain_patch(("filter", "tone", {"type": "highpass", "cutoff_hz": 300.0})).save(path)
    captures = tmp_path / "captures"
    captures.mkdir()
    out_path = captures / "tone-ir.json"
    code, out, err = run(
        capsys,
        "analyze",
        path,
        "-o",
        tmp_path / "report",
        "--no-plots",
        "--capture",
        out_path,
        "--level",
        "-12",
    )
    assert code == 0, err
    assert "LTI" in out and f"wrote {out_path}" in out
    captured = load(out_path)
    assert captured.nodes["capture"].params["file"] == "tone-ir-ir.wav"
    assert "tone" not in captured.nodes
    ir, rate = soundfile.read(captures / "tone-ir-ir.wav")
    assert rate == RATE and abs(ir[0]) > 0.5


def test_user_material_is_used_for_the_null_test(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "tone.json"
    chain_patch(("filter", "tone", {})).save(path)
    material = tmp_path / "riff.wav"
    stereo = np.stack([default_material(44100, -10.0, 0.4)] * 2, axis=1)
    soundfile.write(material, stereo, 44100, subtype="FLOAT")
    code, out, err = run(
        capsys, "analyze", path, "--json", "--no-plots", "-o", tmp_path / "r", "--input", material
    )
    assert code == 0, err
    null = json.loads(out)["null_test"]
    assert null["material"] == str(material) and null["nulls"] is True


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--from", "nope.in"], "--from nope.in: the patch has no node 'nope'"),
        (["--from", "fuzz.inn"], "waveshaper 'fuzz' has no port 'inn'"),
        (["--to", "tone.in", "--from", "tone.out"], "no path from tone.out to tone.in"),
        (["--beside"], "--beside places a capture beside the chain"),
        (["--capture", "missing/x.json"], "folder missing does not exist"),
        (["--input", "nothing.wav"], "--input nothing.wav: no such file"),
    ],
)
def test_mistakes_are_one_clean_line(
    pedal_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    options: list[str],
    fragment: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, "analyze", pedal_file, "--no-plots", *options)
    assert_one_line_error(code, err, fragment)
    assert not (tmp_path / "analysis-pedal").exists()


def test_a_patch_without_input_node_asks_for_from(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "drone.json"
    path.write_text(
        json.dumps(
            {
                "format": "patcher",
                "version": 1,
                "nodes": [
                    {"id": "osc", "type": "oscillator"},
                    {"id": "out", "type": "output"},
                ],
                "links": [{"from": "osc.out", "to": "out.left"}],
            }
        )
    )
    code, _out, err = run(capsys, "analyze", path)
    assert_one_line_error(code, err, "no input node")


@pytest.mark.parametrize(
    ("example", "suggestion"),
    [
        ("synth_voice", "--from lowpass.in"),  # the filter after the oscillators' mix
        ("default", "--from tone.in"),
        ("karplus_strong", "--from string.in"),
    ],
)
def test_a_patch_without_input_node_suggests_one_of_its_own_ports(
    capsys: pytest.CaptureFixture, example: str, suggestion: str
) -> None:
    examples = Path(__file__).resolve().parent.parent / "patches"
    code, _out, err = run(capsys, "analyze", examples / f"{example}.json")
    assert_one_line_error(
        code,
        err,
        f"name where it enters with --from NODE.PORT, for example {suggestion}",
    )
    assert "fuzz" not in err


def test_a_patch_without_output_node_suggests_one_of_its_own_ports(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    patch = chain_patch(("filter", "tone", {}))
    patch.remove_node("out")
    patch.add_node("scope", "watch")
    patch.connect("tone.out", "watch.in")
    patch.save(tmp_path / "watched.json")
    code, _out, err = run(capsys, "analyze", tmp_path / "watched.json")
    assert_one_line_error(
        code, err, "no output node; name the port to measure with --to NODE.PORT, for example --to tone.out"
    )


def test_the_port_to_measure_suggested_is_one_the_signal_from_from_reaches(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review of issue 18: with a filter a -> gain b and, apart, an lfo -> scope, the
    suggestion for `--from a.in` was `--to lfo.out`, which the signal never reaches."""
    monkeypatch.chdir(tmp_path)  # the analysis it makes goes into the current folder
    patch = patcher.Patch()
    patch.add_node("filter", "a")
    patch.add_node("gain", "b")
    patch.add_node("lfo", "lfo")
    patch.add_node("scope", "watch")
    patch.connect("a.out", "b.in")
    patch.connect("lfo.out", "watch.in")
    patch.save(tmp_path / "apart.json")
    code, _out, err = run(capsys, "analyze", tmp_path / "apart.json", "--from", "a.in")
    assert_one_line_error(code, err, "for example --to b.out")
    assert run(capsys, "analyze", tmp_path / "apart.json", "--from", "a.in", "--to", "b.out")[0] == 0


def test_a_misspelt_port_or_node_suggests_the_one_meant(
    pedal_file: Path, capsys: pytest.CaptureFixture
) -> None:
    code, _out, err = run(capsys, "analyze", pedal_file, "--from", "fuzz.inn")
    assert_one_line_error(code, err, "waveshaper 'fuzz' has no port 'inn'; did you mean 'in'?")
    code, _out, err = run(capsys, "analyze", pedal_file, "--from", "fuz.in")
    assert_one_line_error(code, err, "the patch has no node 'fuz'; did you mean 'fuzz'?")


def test_level_out_of_range_is_a_usage_error(pedal_file: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["analyze", str(pedal_file), "--level", "20"])
    assert exit_info.value.code == 2
    assert "out of range" in capsys.readouterr().err


def test_ring_modulator_silent_at_t0_is_time_varying_not_disconnected(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    examples = Path(__file__).resolve().parent.parent / "patches"
    code, out, err = run(
        capsys, "analyze", examples / "ring_modulator.json", "--no-plots", "--json", "-o", tmp_path
    )
    assert code == 0, err
    verdict = json.loads(out)["verdict"]
    assert verdict["failed"] == ["time-varying"] and not verdict["captured_by_ir"]


def test_a_packed_patch_is_captured_into_a_packed_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A .patcher's files live in a folder that goes at exit: a capture naming them from a
    .json would be broken for good, so it is refused, and a .patcher capture holds them."""
    from patcher.pack import pack

    path = tmp_path / "tone.json"
    tone = chain_patch(("filter", "tone", {"type": "lowpass", "cutoff_hz": 3000.0}))
    tone.add_node("noise", "hiss")  # something to hear through it (the input node plays nothing)
    tone.connect("hiss.out", "tone.in")
    tone.save(path)
    packed = tmp_path / "tone.patcher"
    pack(path, packed)
    report = ["-o", tmp_path / "report", "--no-plots", "--from", "tone.in", "--to", "tone.out"]
    code, _out, err = run(capsys, "analyze", packed, *report, "--capture", tmp_path / "cap.json")
    assert_one_line_error(code, err, "capture it into a .patcher file")
    assert not (tmp_path / "cap.json").exists()

    code, out, err = run(capsys, "analyze", packed, *report, "--capture", tmp_path / "cap.patcher")
    assert code == 0, err
    assert "the captured patch with its IR" in out
    captured = load(tmp_path / "cap.patcher")
    assert captured.nodes["capture"].type == "convolver" and "tone" not in captured.nodes
    original, capture = patcher.render(load(path), seconds=0.5), patcher.render(captured, seconds=0.5)
    error_db = 10 * np.log10(np.sum((capture - original) ** 2) / np.sum(original**2))
    assert error_db < -100.0, error_db
