"""Files a shared patch names: hostile ones (a pipe, an hour of 192 kHz) are refused at once
with one line, and a patch reads only files in its own folder unless the user allows others."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

import patcher
from patcher.editor.model import EditorModel
from patcher.files import OutsideFilesError
from patcher.patchfile import save
from tests.test_cli import assert_user_error, run_cli

RATE = 48000
MEMORY_CAP_BYTES = 1536 * 2**20


def patch_naming(folder: Path, node_type: str, file: str, name: str = "shared.json") -> Path:
    """``folder/name``: a node of ``node_type`` reading ``file``, heard at the output."""
    params = {"file": file} if node_type == "input" else {"source": "file", "file": file}
    nodes = [{"id": "reader", "type": node_type, "params": params}, {"id": "out", "type": "output"}]
    if node_type == "convolver":
        nodes.append({"id": "osc", "type": "oscillator"})
    links = [{"from": "reader.out", "to": "out.left"}]
    if node_type == "convolver":
        links.append({"from": "osc.out", "to": "reader.in"})
    document = {"format": "patcher", "version": 1, "nodes": nodes, "links": links}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(document))
    return path


def write_tone(path: Path, value: float = 0.5, seconds: float = 0.1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.full(round(seconds * RATE), value), RATE, subtype="FLOAT")


# -- hostile files: a pipe, an hour of 192 kHz -----------------------------------------------------
@pytest.fixture
def pipe(tmp_path: Path) -> Iterator[Path]:
    """A named pipe in the patch's folder. Should anything open it, a watcher lets that open
    return (so a regression fails instead of hanging) and records that it had to."""
    path = tmp_path / "media" / "pipe.wav"
    path.parent.mkdir()
    os.mkfifo(path)
    stop = threading.Event()
    opened: list[bool] = []

    def release_readers() -> None:
        while not stop.wait(0.05):
            try:  # succeeds only while somebody is blocked opening it for reading
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
                opened.append(True)
            except OSError:
                pass

    watcher = threading.Thread(target=release_readers, daemon=True)
    watcher.start()
    yield path
    stop.set()
    watcher.join()
    assert not opened, "the pipe was opened: it would have hung for ever"


@pytest.mark.parametrize("node_type", ["input", "convolver"])
@pytest.mark.parametrize("command", ["check", "render"])
def test_a_pipe_is_refused_in_one_line_without_opening_it(
    pipe: Path, tmp_path: Path, node_type: str, command: str
) -> None:
    path = patch_naming(tmp_path, node_type, "media/pipe.wav")
    extra = ["-o", tmp_path / "out.wav", "--seconds", "0.1"] if command == "render" else []
    result = run_cli(command, path, *extra)  # a hang ends in the helper's timeout
    assert_user_error(
        result, "media/pipe.wav: it is a named pipe, not a file", f"node 'reader' ({node_type})"
    )
    assert len(result.stderr.splitlines()) == 1


def test_the_editor_refuses_a_pipe_without_opening_it(pipe: Path, tmp_path: Path) -> None:
    opened = patch_naming(tmp_path, "input", "")
    editor = EditorModel(state_dir=tmp_path / "state", player_factory=lambda patch: None)
    assert editor.open(opened)
    assert not editor.set_param("reader", "file", "media/pipe.wav")
    assert editor.status.level == "error" and "is not a readable audio file" in editor.status.text


@pytest.fixture(scope="module")
def hour_of_silence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One hour of 192 kHz silence: about 2 MB of FLAC, 5.2 GB decoded as float64."""
    path = tmp_path_factory.mktemp("hour") / "media" / "hour.flac"
    path.parent.mkdir()
    minute = np.zeros(60 * 192000, dtype=np.int16)
    with soundfile.SoundFile(path, "w", 192000, 1, "PCM_16", format="FLAC") as stream:
        for _ in range(60):
            stream.write(minute)
    return path


def capped_run_cli(*args: object) -> subprocess.CompletedProcess:
    """The command with its address space capped, as a user's memory limit would."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))

    return subprocess.run(
        [sys.executable, "-m", "patcher", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap,
    )


@pytest.mark.parametrize(
    ("node_type", "limit"),
    [
        ("input", "more than fits in the 512 MB a file may take decoded"),
        ("convolver", "is 3600.0 s long; the convolver takes at most 30 s"),
    ],
)
def test_an_hour_of_192khz_is_refused_from_its_header_under_a_memory_cap(
    hour_of_silence: Path, node_type: str, limit: str
) -> None:
    assert hour_of_silence.stat().st_size < 10 * 2**20
    path = patch_naming(hour_of_silence.parent.parent, node_type, "media/hour.flac", f"{node_type}.json")
    result = capped_run_cli("check", path)
    assert_user_error(result, "hour.flac", limit)
    assert len(result.stderr.splitlines()) == 1


# -- the file policy ----------------------------------------------------------------------------
def test_files_outside_the_patch_folder_are_refused_alike_whether_they_exist_or_not(tmp_path: Path) -> None:
    write_tone(tmp_path / "private" / "secret.wav")
    shared = tmp_path / "downloads"
    messages = []
    for name in ("secret.wav", "nothing.wav"):  # one exists, one does not
        path = patch_naming(shared, "input", f"../private/{name}", f"{name}.json")
        result = run_cli("check", path)
        assert_user_error(
            result, f"'../private/{name}' is outside the patch's folder", "--allow-outside-files"
        )
        messages.append(result.stderr.replace(name, "NAME"))
    assert messages[0] == messages[1], "the message must not tell whether the file exists"


@pytest.mark.parametrize(
    "outside",
    ["{private}/secret.wav", "../private/secret.wav", "media/../../private/secret.wav", "link/secret.wav"],
)
def test_every_way_out_of_the_folder_is_refused(tmp_path: Path, outside: str) -> None:
    write_tone(tmp_path / "private" / "secret.wav")
    shared = tmp_path / "shared"
    (shared / "media").mkdir(parents=True)
    (shared / "link").symlink_to(tmp_path / "private")  # a link in the folder, out of it
    file = outside.format(private=tmp_path / "private")
    path = patch_naming(shared, "convolver", file)
    with pytest.raises(OutsideFilesError, match="is outside the patch's folder"):
        patcher.load(path)
    allowed = patcher.load(path, allow_outside_files=True)
    assert np.max(np.abs(patcher.render(allowed, 0.05))) > 0.0


def test_files_inside_the_folder_and_below_it_are_read(tmp_path: Path) -> None:
    write_tone(tmp_path / "shared" / "media" / "deep" / "tone.wav")
    (tmp_path / "shared" / "sounds").symlink_to(tmp_path / "shared" / "media")  # stays inside
    for file in ("media/deep/tone.wav", "./media/../media/deep/tone.wav", "sounds/deep/tone.wav"):
        patch = patcher.load(patch_naming(tmp_path / "shared", "input", file))
        np.testing.assert_allclose(patcher.render(patch, 0.05)[:, 0], 0.5, atol=1e-6)


def test_the_flag_allows_outside_files_on_every_command(tmp_path: Path) -> None:
    write_tone(tmp_path / "private" / "secret.wav")
    path = patch_naming(tmp_path / "shared", "input", "../private/secret.wav")
    output = tmp_path / "out.wav"
    assert_user_error(run_cli("render", path, "-o", output), "outside the patch's folder")
    assert not output.exists()
    result = run_cli("render", path, "-o", output, "--seconds", "0.05", "--allow-outside-files")
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(soundfile.read(output)[0][:, 0], 0.5, atol=1e-6)
    assert run_cli("check", path, "--allow-outside-files").returncode == 0
    for command in ("play", "analyze", "edit"):
        assert "--allow-outside-files" in run_cli(command, "--help").stdout


def test_the_users_own_input_file_is_always_allowed(tmp_path: Path) -> None:
    write_tone(tmp_path / "mine" / "song.wav", 0.25)
    path = patch_naming(tmp_path / "shared", "input", "")
    output = tmp_path / "out.wav"
    result = run_cli(
        "render", path, "-o", output, "--seconds", "0.05", "--input", tmp_path / "mine" / "song.wav"
    )
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(soundfile.read(output)[0][:, 0], 0.25, atol=1e-6)


def test_the_editor_asks_before_opening_a_patch_with_outside_files(tmp_path: Path) -> None:
    write_tone(tmp_path / "private" / "secret.wav")
    path = patch_naming(tmp_path / "shared", "input", "../private/secret.wav")
    editor = EditorModel(state_dir=tmp_path / "state", player_factory=lambda patch: None)
    before = dict(editor.patch.nodes)
    assert not editor.open(path)
    question = editor.outside_question
    assert question is not None and question.files == [("reader", "file", "../private/secret.wav")]
    assert not editor.answer_outside_files(allow=False)
    assert editor.patch.nodes.keys() == before.keys() and editor.path is None  # nothing opened
    assert not editor.open(path)
    assert editor.answer_outside_files(allow=True) and editor.path == path
    trusting = EditorModel(
        state_dir=tmp_path / "state", allow_outside_files=True
    )  # edit --allow-outside-files
    assert trusting.open(path) and trusting.outside_question is None


# -- saving ---------------------------------------------------------------------------------------
def test_saving_writes_every_file_relative_to_the_patch(tmp_path: Path) -> None:
    """An absolute path would tell whoever opens the patch where its author keeps files."""
    write_tone(tmp_path / "project" / "media" / "a.wav")
    write_tone(tmp_path / "samples" / "b.wav")
    patch = patcher.Patch(base_dir=tmp_path / "elsewhere")
    patch.add_node("input", "a", file=str(tmp_path / "project" / "media" / "a.wav"))
    patch.add_node("convolver", "b", source="file", file=str(tmp_path / "samples" / "b.wav"))
    save(patch, tmp_path / "project" / "song.json")
    saved = json.loads((tmp_path / "project" / "song.json").read_text())
    files = {node["id"]: node["params"]["file"] for node in saved["nodes"]}
    assert files == {"a": "media/a.wav", "b": "../samples/b.wav"}


def test_save_as_in_another_folder_writes_relative_paths(tmp_path: Path) -> None:
    write_tone(tmp_path / "samples" / "b.wav")
    opened = patch_naming(tmp_path / "downloads", "input", str(tmp_path / "samples" / "b.wav"))
    editor = EditorModel(state_dir=tmp_path / "state", player_factory=lambda patch: None)
    assert editor.open(opened, allow_outside_files=True)
    (tmp_path / "mine").mkdir()
    assert editor.save_as(tmp_path / "mine" / "song.json")
    saved = json.loads((tmp_path / "mine" / "song.json").read_text())
    files = {node["id"]: node["params"].get("file") for node in saved["nodes"]}
    assert files["reader"] == "../samples/b.wav"
    assert editor.status.level == "warning" and "outside its folder" in editor.status.text
