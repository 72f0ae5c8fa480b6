"""The patcher command: exit codes, one-line messages for user mistakes, real files written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from patcher.model import Patch
from tests.test_patchfile import VALID

PROJECT = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "patcher", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def terminal(columns: int | None) -> dict[str, str]:
    """The environment of a terminal ``columns`` wide (None: output into a pipe, no COLUMNS)."""
    import os

    environment = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    if columns is not None:
        environment["COLUMNS"] = str(columns)
    return environment


@pytest.fixture
def patch_file(tmp_path: Path) -> Path:
    path = tmp_path / "constant.json"
    path.write_text(json.dumps(VALID))
    return path


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str, code: int = 1) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("patcher: error:") or code == 2
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_render_writes_the_file_it_says(patch_file: Path, tmp_path: Path, suffix: str) -> None:
    output = tmp_path / f"out{suffix}"
    result = run_cli("render", patch_file, "-o", output, "--seconds", "0.5", "--sample-rate", "44100")
    assert result.returncode == 0, result.stderr
    assert f"wrote {output}" in result.stdout
    audio, rate = soundfile.read(output)
    assert rate == 44100 and audio.shape == (22050, 2)
    np.testing.assert_allclose(audio, 0.25, atol=1e-4)


def test_render_uses_the_patch_duration_by_default(patch_file: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.wav"
    assert run_cli("render", patch_file, "-o", output, "--block", "64").returncode == 0
    assert soundfile.info(output).frames == 48000


def test_missing_patch_is_one_line(tmp_path: Path) -> None:
    result = run_cli("render", tmp_path / "nope.json", "-o", tmp_path / "x.wav")
    assert_user_error(result, "no such patch file", "nope.json")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.wav").exists()


def test_invalid_patch_names_every_problem(tmp_path: Path) -> None:
    document = json.loads(json.dumps(VALID))
    document["nodes"][2]["params"]["gain_db"] = 99
    document["links"].append({"from": "a.out", "to": "out.middle"})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    result = run_cli("check", path)
    assert_user_error(result, "2 problems", "node 'level' (gain): param 'gain_db'", "out.middle")


def test_version_is_the_installed_package_version() -> None:
    from importlib.metadata import version

    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"patcher {version('patcher')}\n"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--block", "0"], "0 is out of range [1, 8192]"),
        (["--seconds", "-1"], "must be a number of seconds in (0, 3600]"),
        (["--sample-rate", "fast"], "is not a whole number"),
        (["--bogus"], "patcher render: error: unrecognized arguments: --bogus"),
    ],
)
def test_bad_options_exit_2_with_a_message(patch_file: Path, tmp_path: Path, arguments, message) -> None:
    """And with the command's usage first, not the top level's."""
    result = run_cli("render", patch_file, "-o", tmp_path / "x.wav", *arguments)
    assert_user_error(result, message, code=2)
    assert result.stderr.startswith("usage: patcher render ")


def test_unknown_output_format_is_refused_before_rendering(patch_file: Path, tmp_path: Path) -> None:
    assert_user_error(run_cli("render", patch_file, "-o", tmp_path / "x.mp3"), "must end in .wav or .flac")


def test_output_folder_must_exist(patch_file: Path, tmp_path: Path) -> None:
    assert_user_error(run_cli("render", patch_file, "-o", tmp_path / "no" / "x.wav"), "does not exist")


def test_input_needs_an_input_node(patch_file: Path, tmp_path: Path) -> None:
    song = tmp_path / "song.wav"
    soundfile.write(song, np.zeros(100), 48000)
    assert_user_error(
        run_cli("render", patch_file, "-o", tmp_path / "x.wav", "--input", song), "no input node"
    )


def test_input_file_plays_through_the_input_node(tmp_path: Path) -> None:
    song = tmp_path / "song.wav"
    soundfile.write(song, np.full(4800, 0.5), 48000, subtype="FLOAT")
    patch = {
        "format": "patcher",
        "version": 1,
        "nodes": [{"id": "in", "type": "input"}, {"id": "out", "type": "output"}],
        "links": [{"from": "in.out", "to": "out.left"}],
    }
    path = tmp_path / "through.json"
    path.write_text(json.dumps(patch))
    result = run_cli("render", path, "-o", tmp_path / "x.wav", "--input", song, "--seconds", "0.2")
    assert result.returncode == 0, result.stderr
    audio, _ = soundfile.read(tmp_path / "x.wav")
    np.testing.assert_allclose(audio[:4800], 0.5, atol=1e-6)
    np.testing.assert_allclose(audio[4800:], 0.0)


def test_check_prints_the_description(patch_file: Path) -> None:
    result = run_cli("check", patch_file)
    assert result.returncode == 0
    assert "ok — 4 nodes, 2 links" in result.stdout
    assert "not heard (no path to an output): b" in result.stdout
    assert VALID["description"] in result.stdout


def test_nodes_lists_every_type_with_units_and_ranges() -> None:
    from patcher.spec import registry

    result = run_cli("nodes")
    assert result.returncode == 0
    rows = result.stdout.splitlines()
    for type_name, cls in registry().items():
        assert f"{type_name}  [{cls.FAMILY}]" in result.stdout
        for name, param in cls.PARAMS.items():
            row = next(row for row in rows if row.startswith(f"  {name} "))
            assert param.unit in row
            for part in param.choices or [param.describe_range()]:  # a long list of choices wraps
                assert part in result.stdout


@pytest.mark.parametrize(("columns", "fits"), [(None, 80), (80, 80), (60, 60), (200, 100)])
def test_the_node_table_fits_the_terminal(columns: int | None, fits: int) -> None:
    """80 columns into a pipe; a terminal's width from 60 to 100 (wider prose is hard to read)."""
    result = run_cli("nodes", env=terminal(columns))
    assert result.returncode == 0, result.stderr
    widths = [len(line) for line in result.stdout.splitlines()]
    assert max(widths) <= fits and max(widths) >= fits - 10
    assert "`patcher nodes TYPE` shows a type's params with their docs" in " ".join(result.stdout.split())


def test_nodes_name_shows_one_type_with_its_docs_and_the_examples_that_use_it() -> None:
    from patcher.spec import registry

    result = run_cli("nodes", "delay", cwd=PROJECT, env=terminal(None))
    assert result.returncode == 0, result.stderr
    page, flowing = result.stdout, " ".join(result.stdout.split())
    assert page.startswith("delay  [delays]\n") and "in: in   out: out, tap" in page
    assert "~ modulatable, also an input port" in flowing and "time_ms, feedback, mix" in flowing
    for name, param in registry()["delay"].PARAMS.items():
        assert name in page and " ".join(param.doc.split()) in flowing
    assert "time_ms ~    0 .. 10000 ms" in page and "damping_hz   100 .. 20000 Hz, log" in page
    assert (
        "  patches/echo.json  (echo)" in page and "patches/ping_pong.json  (delay_left, delay_right)" in page
    )
    assert "open one: patcher edit patches/" in page
    assert max(len(line) for line in page.splitlines()) <= 80


def test_nodes_name_of_a_type_no_example_uses_and_of_a_hostile_example(tmp_path: Path) -> None:
    from patcher.docs import node_help
    from patcher.spec import registry

    page = node_help(registry()["gain"], examples_dir=tmp_path)
    assert " ".join(page.split()).endswith(f"no example patch in {tmp_path} uses a gain")
    hostile = {"nodes": [{"id": "level\x1b[2J", "type": "gain"}], "links": []}
    (tmp_path / "shared.json").write_text(json.dumps(hostile))
    page = node_help(registry()["gain"], examples_dir=tmp_path)
    assert "shared.json (level\\x1b[2J)" in " ".join(page.split()) and "\x1b" not in page


def test_nodes_name_misspelt_is_a_usage_error_with_a_suggestion() -> None:
    result = run_cli("nodes", "oscilator")
    assert_user_error(result, "unknown node type 'oscilator'; did you mean 'oscillator'?", code=2)
    assert "Traceback" not in result.stderr and not result.stdout


def test_nodes_name_json_and_markdown_are_that_types_part_of_the_whole() -> None:
    whole = json.loads(run_cli("nodes", "--json").stdout)
    assert json.loads(run_cli("nodes", "gain", "--json").stdout) == next(
        s for s in whole if s["type"] == "gain"
    )
    section = run_cli("nodes", "gain", "--markdown").stdout
    assert section.startswith("## `gain` (mixing)") and section in run_cli("nodes", "--markdown").stdout
    assert run_cli("nodes", "--json", "--markdown").returncode == 2


def test_nodes_json_is_the_specs() -> None:
    specs = json.loads(run_cli("nodes", "--json").stdout)
    gain = next(spec for spec in specs if spec["type"] == "gain")
    assert gain["params"][0] == {
        "name": "gain_db",
        "kind": "float",
        "unit": "dB",
        "min": -90.0,
        "max": 24.0,
        "default": 0.0,
        "scale": "lin",
        "choices": [],
        "modulatable": True,
        "doc": "Level change (a signal adds dB).",
    }


def test_node_reference_in_docs_is_up_to_date() -> None:
    generated = run_cli("nodes", "--markdown").stdout
    committed = (Path(__file__).parent.parent / "docs" / "nodes.md").read_text()
    assert generated == committed, "docs/nodes.md is stale: run `make docs`"


def test_devices_without_any_device_says_what_to_do_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """As on a machine with no sound card and no JACK server (this one, outside the JACK tests)."""
    import sounddevice

    from patcher import cli

    monkeypatch.setattr(sounddevice, "query_devices", lambda: sounddevice.DeviceList())
    monkeypatch.setattr(sounddevice, "query_hostapis", lambda: ({"name": "ALSA"}, {"name": "OSS"}))
    assert cli.main(["devices"]) == 1
    out, err = capsys.readouterr()
    assert not out
    assert err.splitlines() == [
        "patcher: error: no audio devices found (PortAudio's host APIs here: ALSA, OSS)",
        "patcher:   " + cli.NO_DEVICE_HINT,
    ]
    assert "Playing on a real machine" in cli.NO_DEVICE_HINT
    readme = (PROJECT / "README.md").read_text()
    assert "\n## Playing on a real machine\n" in readme


def readme_examples() -> dict[str, str]:
    """The README's ``console`` blocks: each command after ``$ `` and the output shown under it."""
    import re

    blocks = re.findall(r"```console\n\$ (.*?)\n(.*?)```", (PROJECT / "README.md").read_text(), re.S)
    return dict(blocks)


def masked(text: str) -> str:
    """Output with its numbers masked: the analysis's rounding-noise figures (-289.4 dB, or
    exactly zero and "-300 dB (exact)") depend on the machine's floating point."""
    import re

    return re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "#", text.replace(" (exact)", ""))


def test_the_readmes_example_outputs_are_what_the_commands_print(tmp_path: Path) -> None:
    """As a newcomer runs them, from a folder with the project's patches in it."""
    examples = readme_examples()
    assert set(examples) == {
        "patcher check patches/lowpass.json",
        "patcher render patches/fuzz.json -o fuzz.wav",
        "patcher analyze patches/lowpass.json",
    }
    (tmp_path / "patches").symlink_to(PROJECT / "patches")
    for command, shown in examples.items():
        result = run_cli(*command.split()[1:], cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        if command.startswith("patcher analyze"):
            assert masked(result.stdout) == masked(shown)
        else:
            assert result.stdout == shown
    assert (tmp_path / "fuzz.wav").is_file() and (tmp_path / "analysis-lowpass" / "ir.wav").is_file()


def test_the_readme_documents_where_the_editor_keeps_its_state(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from patcher.editor.model import default_state_dir

    monkeypatch.delenv("PATCHER_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_dir() == tmp_path / "xdg" / "patcher"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / ".local" / "state" / "patcher"
    monkeypatch.setenv("PATCHER_STATE_DIR", str(tmp_path / "mine"))
    assert default_state_dir() == tmp_path / "mine"
    readme = (PROJECT / "README.md").read_text()
    note = readme[readme.index("### Where the editor keeps its state") :][:1500]
    for words in (
        "`PATCHER_STATE_DIR`",
        "`$XDG_STATE_HOME/patcher`",
        "`~/.local/state/patcher`",
        "--screenshot",
    ):
        assert words in note


def test_patcher_alone_without_a_display_renders_the_default_patch_and_says_where(tmp_path: Path) -> None:
    import os

    hidden = ("DISPLAY", "WAYLAND_DISPLAY", "JACK_DEFAULT_SERVER")  # no screen, no sound card
    environment = {k: v for k, v in os.environ.items() if k not in hidden}
    environment["JACK_NO_START_SERVER"] = "1"
    command = [sys.executable, "-m", "patcher"]
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, env=environment, timeout=120
    )
    assert result.returncode == 0, result.stderr
    output = tmp_path / "out" / "default.wav"
    assert f"the result is in {output}" in result.stdout
    assert soundfile.info(output).duration == pytest.approx(8.0)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--seconds", "1e9"], "must be a number of seconds in (0, 3600]"),
        (["--seconds", "1e300"], "must be a number of seconds in (0, 3600]"),
    ],
)
def test_absurd_lengths_are_refused_before_rendering(
    patch_file: Path, tmp_path: Path, arguments, message
) -> None:
    assert_user_error(run_cli("render", patch_file, "-o", tmp_path / "x.wav", *arguments), message, code=2)


def test_huge_integers_and_deep_nesting_are_patch_problems_not_tracebacks(tmp_path: Path) -> None:
    document = json.loads(json.dumps(VALID))
    document["nodes"][2]["params"]["gain_db"] = 10**400
    document["nodes"][2]["position"] = [10**400, 0]
    document["settings"]["block_size"] = 10**400
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps(document))
    assert_user_error(run_cli("check", huge), "3 problems", "gain_db", "position", "block_size")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert_user_error(run_cli("check", deep), "nested too deeply")


def test_a_link_to_a_node_of_unknown_type_is_not_reported_twice(tmp_path: Path) -> None:
    document = json.loads(json.dumps(VALID))
    document["nodes"].append({"id": "fx", "type": "flanger9000"})
    document["links"].append({"from": "fx.out", "to": "out.right"})
    path = tmp_path / "unknown.json"
    path.write_text(json.dumps(document))
    result = run_cli("check", path)
    assert_user_error(result, "node 'fx': unknown node type 'flanger9000'")
    assert "does not exist" not in result.stderr


def test_check_suggests_the_node_type_param_and_port_meant(tmp_path: Path) -> None:
    document = json.loads(json.dumps(VALID))
    document["nodes"].append({"id": "osc", "type": "oscilator"})
    document["nodes"][2]["params"] = {"gain": 3}
    document["links"].append({"from": "b.out", "to": "out.rigth"})
    path = tmp_path / "typos.json"
    path.write_text(json.dumps(document))
    result = run_cli("check", path)
    assert_user_error(
        result,
        "3 problems",
        "node 'osc': unknown node type 'oscilator'; did you mean 'oscillator'?",
        "node 'level' (gain): unknown param 'gain'; did you mean 'gain_db'? (params: gain_db)",
        "output 'out' has no port 'rigth'; did you mean 'right'? (inputs: left, right, level_db)",
    )
    assert len(result.stderr.splitlines()) == 4  # the count and one line per problem


def test_check_reports_a_delay_free_loop_with_the_other_problems(tmp_path: Path) -> None:
    document = json.loads(json.dumps(VALID))
    document["nodes"][0]["params"]["b"] = "loud"
    document["links"].append({"from": "level.out", "to": "level.in"})
    path = tmp_path / "loop.json"
    path.write_text(json.dumps(document))
    result = run_cli("check", path)
    assert_user_error(
        result, "2 problems", "param 'b': expected a number", "delay-free feedback loop level -> level"
    )


def test_render_input_plays_through_a_live_input_node_too(tmp_path: Path) -> None:
    song = tmp_path / "song.wav"
    soundfile.write(song, np.full(4800, 0.5), 48000, subtype="FLOAT")
    patch = {
        "format": "patcher",
        "version": 1,
        "nodes": [
            {"id": "mic", "type": "input", "params": {"source": "live"}},
            {"id": "out", "type": "output"},
        ],
        "links": [{"from": "mic.out", "to": "out.left"}],
    }
    path = tmp_path / "live.json"
    path.write_text(json.dumps(patch))
    result = run_cli("render", path, "-o", tmp_path / "x.wav", "--input", song, "--seconds", "0.1")
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(soundfile.read(tmp_path / "x.wav")[0], 0.5, atol=1e-6)


def test_a_node_id_with_a_trailing_newline_is_refused() -> None:
    from patcher.model import Patch, PatchError

    with pytest.raises(PatchError, match="must start with a letter"):
        Patch().add_node("gain", "out\n")


def test_render_of_a_patch_with_only_a_scope_warns_it_is_silent(tmp_path: Path) -> None:
    """A scope is a sink (it keeps its input running) but makes no sound."""
    patch = Patch()
    patch.add_node("oscillator", "osc")
    patch.add_node("scope", "watch")
    patch.connect("osc.out", "watch.in")
    patch.save(tmp_path / "watch.json")
    result = run_cli("render", tmp_path / "watch.json", "-o", tmp_path / "out.wav", "--seconds", "0.1")
    assert result.returncode == 0, result.stderr
    assert "has no output node" in result.stderr


def test_a_link_from_an_unknown_type_to_a_missing_node_is_reported_too(tmp_path: Path) -> None:
    """The unknown type is one problem; the link's other end, missing, is another (the link
    is not reported for the unknown type again)."""
    document = json.loads(json.dumps(VALID))
    document["nodes"].append({"id": "odd", "type": "nosuch"})
    document["links"].append({"from": "odd.out", "to": "gone.left"})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    result = run_cli("check", path)
    assert_user_error(
        result, "2 problems", "unknown node type 'nosuch'", "its target node 'gone' does not exist"
    )


def test_checking_a_sound_file_says_it_is_not_a_patch() -> None:
    """The README walk: a WAV given where a patch goes was "'utf-8' codec can't decode ..."."""
    result = run_cli("check", Path(__file__).resolve().parent.parent / "patches" / "media" / "drums.wav")
    assert_user_error(result, "drums.wav is not a patch file (a patch is JSON text")
    assert "codec" not in result.stderr
