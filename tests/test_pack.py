"""One file to share: a packed patch renders as the original, every command opens one, and a
hostile or malformed archive is refused with one line, nothing written outside the folder."""

from __future__ import annotations

import json
import stat
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile

import patcher
from patcher import cli
from patcher.archive import MAX_MEMBERS
from patcher.pack import pack, referenced_files, unpack
from tests.test_cli import assert_user_error, run_cli

RATE = 48000
SECONDS = 0.25


def write_audio(path: Path, signal: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, signal, RATE, subtype="FLOAT")


@pytest.fixture
def rig(tmp_path: Path) -> Path:
    """``src/rig.json``: a file player through two convolvers whose IRs share a name (in two
    folders), the player's file named twice (by the player and by a third convolver)."""
    source = tmp_path / "src"
    rng = np.random.default_rng(7)
    write_audio(source / "media" / "guitar.wav", rng.uniform(-0.5, 0.5, round(RATE * SECONDS)))
    write_audio(source / "irs" / "room.wav", rng.uniform(-0.1, 0.1, 480) * np.exp(-np.arange(480) / 80))
    write_audio(source / "other" / "room.wav", np.r_[1.0, np.zeros(100), 0.5])
    patch = patcher.Patch(base_dir=source)
    patch.settings = patcher.model.Settings(sample_rate=RATE, block_size=64, duration_s=SECONDS)
    patch.add_node("input", "guitar", source="file", file="media/guitar.wav")
    patch.add_node("convolver", "left_ir", source="file", file="irs/room.wav")
    patch.add_node("convolver", "right_ir", source="file", file="other/room.wav")
    patch.add_node("convolver", "again", source="file", file="media/guitar.wav", mix=0.5)
    patch.add_node("output", "out")
    for target in ("left_ir", "right_ir", "again"):
        patch.connect("guitar.out", f"{target}.in")
    patch.connect("left_ir.out", "out.left")
    patch.connect("right_ir.out", "out.right")
    patch.connect("again.out", "out.right")
    path = source / "rig.json"
    patch.save(path)
    return path


def rendered(path: Path) -> np.ndarray:
    return patcher.render(patcher.load(path), seconds=SECONDS)


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``folder`` with its contents: what "unchanged" compares."""
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
        for path in sorted(folder.rglob("*"))
    }


# -- pack and unpack --------------------------------------------------------------------------------
def test_pack_then_unpack_elsewhere_renders_sample_for_sample(rig: Path, tmp_path: Path) -> None:
    archive = tmp_path / "shared" / "rig.patcher"
    archive.parent.mkdir()
    packed = pack(rig, archive)
    with zipfile.ZipFile(archive) as opened:
        names = sorted(opened.namelist())
    assert names == ["media/guitar.wav", "media/room-2.wav", "media/room.wav", "rig.json"]
    assert packed.patch_member == "rig.json"
    elsewhere = tmp_path / "elsewhere" / "unpacked"
    elsewhere.parent.mkdir()
    written = unpack(archive, elsewhere)
    assert written[0] == elsewhere / "rig.json" and len(written) == 4
    original = rendered(rig)
    assert np.abs(original).max() > 0.01
    np.testing.assert_array_equal(rendered(elsewhere / "rig.json"), original)
    np.testing.assert_array_equal(rendered(archive), original)  # opened directly
    document = json.loads((elsewhere / "rig.json").read_text())
    files = {node["id"]: node["params"]["file"] for node in document["nodes"] if "file" in node["params"]}
    assert files == {
        "again": "media/guitar.wav",
        "guitar": "media/guitar.wav",
        "left_ir": "media/room.wav",
        "right_ir": "media/room-2.wav",
    }


def test_the_same_patch_packs_to_the_same_bytes(rig: Path, tmp_path: Path) -> None:
    for folder in "abc":
        (tmp_path / folder).mkdir()
    pack(rig, tmp_path / "a" / "rig.patcher")
    pack(rig, tmp_path / "b" / "rig.patcher")
    pack(tmp_path / "a" / "rig.patcher", tmp_path / "c" / "rig.patcher")  # repacked from the archive
    packed = [(tmp_path / folder / "rig.patcher").read_bytes() for folder in "abc"]
    assert packed[0] == packed[1] == packed[2]


def test_referenced_files_follows_the_node_specs_and_patch_files(tmp_path: Path) -> None:
    """A file param naming a patch file (an abstraction) is followed, once: its own files are
    packed beside it and its params rewritten to name them there."""
    write_audio(tmp_path / "sounds" / "tone.wav", np.full(100, 0.25))
    voice = patcher.Patch(base_dir=tmp_path / "lib")
    voice.add_node("input", "player", source="file", file="../sounds/tone.wav")
    voice.add_node("input", "itself", source="file", file="voice.json")  # a loop of files ends
    (tmp_path / "lib").mkdir()
    voice.save(tmp_path / "lib" / "voice.json")
    top = patcher.Patch(base_dir=tmp_path)
    top.add_node("input", "uses", source="file", file="lib/voice.json")
    uses = referenced_files(top, allow_outside_files=True)
    assert [(use.patch_file and use.patch_file.name, use.node_id, use.file.name) for use in uses] == [
        (None, "uses", "voice.json"),
        ("voice.json", "itself", "voice.json"),
        ("voice.json", "player", "tone.wav"),
    ]
    top.save(tmp_path / "top.json")
    pack(tmp_path / "top.json", tmp_path / "top.patcher", allow_outside_files=True)
    with zipfile.ZipFile(tmp_path / "top.patcher") as archive:
        assert sorted(archive.namelist()) == ["media/tone.wav", "media/voice.json", "top.json"]
        inner = json.loads(archive.read("media/voice.json"))
    assert {node["id"]: node["params"]["file"] for node in inner["nodes"]} == {
        "itself": "voice.json",
        "player": "tone.wav",
    }


def test_pack_is_all_or_nothing(rig: Path, tmp_path: Path) -> None:
    output = tmp_path / "rig.patcher"
    output.write_bytes(b"the old one")
    (rig.parent / "other" / "room.wav").unlink()
    with pytest.raises(patcher.PatchError, match=r"room\.wav"):
        pack(rig, output)
    assert output.read_bytes() == b"the old one"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rig.patcher", "src"]


def test_unpack_replaces_files_only_when_forced_and_never_through_a_link(
    rig: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    archive = tmp_path / "rig.patcher"
    pack(rig, archive)
    target = tmp_path / "target"
    assert cli.main(["unpack", str(archive), "-o", str(target)]) == 0
    out = capsys.readouterr().out
    assert "wrote 4 files into" in out and "media/room-2.wav" in out and "rig.json" in out
    (target / "rig.json").write_text("mine")
    assert cli.main(["unpack", str(archive), "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert (
        "target: rig.json, media/guitar.wav, media/room-2.wav, media/room.wav already exist (--force" in err
    )
    assert (target / "rig.json").read_text() == "mine"
    assert cli.main(["unpack", str(archive), "-o", str(target), "--force"]) == 0
    assert (target / "rig.json").read_text() != "mine"
    linked = tmp_path / "linked"
    linked.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (linked / "media").symlink_to(outside)
    assert cli.main(["unpack", str(archive), "-o", str(linked), "--force"]) == 1
    assert "linked: media is a link or a file, not a folder" in capsys.readouterr().err
    assert list(outside.iterdir()) == [] and sorted(p.name for p in linked.iterdir()) == ["media"]


# -- every command opens a .patcher file --------------------------------------------------------------
def test_render_check_and_analyze_open_a_packed_patch_as_the_original(
    rig: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    archive = tmp_path / "rig.patcher"
    assert cli.main(["pack", str(rig), "-o", str(archive)]) == 0
    assert "wrote" in capsys.readouterr().out
    outputs = {}
    for name, path in (("original", rig), ("packed", archive)):
        wav = tmp_path / f"{name}.wav"
        assert cli.main(["render", str(path), "-o", str(wav)]) == 0
        assert cli.main(["check", str(path)]) == 0
        report = tmp_path / f"report-{name}"
        assert cli.main(["analyze", str(path), "--json", "--no-plots", "-o", str(report)]) == 0
        out = capsys.readouterr().out
        checked = next(line for line in out.splitlines() if ": ok" in line)
        figures = json.loads((report / "report.json").read_text())
        outputs[name] = (soundfile.read(wav)[0], checked.split(": ok")[1], _without_names(figures))
    original, packed = outputs["original"], outputs["packed"]
    np.testing.assert_array_equal(packed[0], original[0])
    assert packed[1] == original[1] == " — 5 nodes, 6 links"
    assert packed[2] == original[2]


def _without_names(figures: dict) -> dict:
    return {key: value for key, value in figures.items() if key not in ("patch", "files")}


def test_the_extracted_folder_goes_when_the_program_ends(rig: Path, tmp_path: Path) -> None:
    pack(rig, tmp_path / "rig.patcher")
    script = (
        "import patcher, sys; patch = patcher.load(sys.argv[1]); print(patch.base_dir); "
        "print(patcher.render(patch, seconds=0.01).shape)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "rig.patcher")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    folder = Path(result.stdout.splitlines()[0])
    assert folder.name.startswith("patcher-packed-") and not folder.exists()


# -- hostile archives ----------------------------------------------------------------------------
@dataclass
class Member:
    """A member written by hand: zipfile writes only honest ones."""

    name: str
    data: bytes = b""
    declared_size: int | None = None
    compressed: bytes | None = None  # deflated data; None: stored
    crc: int | None = None
    mode: int = stat.S_IFREG | 0o644


def raw_zip(members: list[Member]) -> bytes:
    """A zip file's bytes, each member saying what the test wants (its size, its type)."""
    body, directory = b"", b""
    for member in members:
        name = member.name.encode()
        data = member.compressed if member.compressed is not None else member.data
        method = zipfile.ZIP_DEFLATED if member.compressed is not None else zipfile.ZIP_STORED
        crc = zlib.crc32(member.data) if member.crc is None else member.crc
        size = len(member.data) if member.declared_size is None else member.declared_size
        fields = (20, 0x800, method, 0, 33, crc, len(data), size, len(name))
        offset = len(body)
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields, 0) + name + data
        directory += (
            struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 0x0314, *fields, 0, 0, 0, 0, member.mode << 16, offset)
            + name
        )
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), len(body), 0
    )
    return body + directory + end


def deflated_zeros(size: int) -> tuple[bytes, int]:
    """``size`` zero bytes deflated, and their CRC, without deflating them all: after a full
    flush each chunk compresses to the same bytes."""
    chunk = bytes(2**24)
    assert size % len(chunk) == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(chunk)
    for _ in range(size // len(chunk) - 1):
        crc = zlib.crc32(chunk, crc)
    count = size // len(chunk)
    return first + repeated * (count - 1) + compressor.flush(), crc


PATCH = Member(
    "shared.json", json.dumps({"format": "patcher", "version": 1, "nodes": [], "links": []}).encode()
)


def refused(tmp_path: Path, members: list[Member], *fragments: str, capsys: pytest.CaptureFixture) -> None:
    """The archive of ``members`` is refused by ``check`` and by ``unpack`` with one line and
    exit 1, nothing changed in ``tmp_path`` (the target folder's parent) or the temporary folder."""
    archive = tmp_path / "hostile.patcher"
    archive.write_bytes(raw_zip(members))
    before, temporary = tree(tmp_path), set(Path(tempfile.gettempdir()).glob("patcher-packed-*"))
    for command in (["check", str(archive)], ["unpack", str(archive), "-o", str(tmp_path / "target")]):
        assert cli.main(command) == 1
        err = capsys.readouterr().err
        assert err.startswith("patcher: error: ") and "Traceback" not in err, err
        for fragment in fragments:
            assert fragment in err, err
    assert tree(tmp_path) == before
    assert set(Path(tempfile.gettempdir()).glob("patcher-packed-*")) == temporary


@pytest.mark.parametrize(
    "name",
    ["../evil.txt", "media/../../evil.txt", "/ABSOLUTE/evil.txt", "C:/evil.txt", "..\\evil.txt", "media//x"],
)
def test_a_member_named_outside_the_folder_is_refused(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    name = name.replace("/ABSOLUTE", str(tmp_path))
    refused(tmp_path, [PATCH, Member(name, b"gotcha")], "refused (it could be written outside", capsys=capsys)


def test_a_symbolic_link_member_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    link = Member("media/ir.wav", str(tmp_path / "secret").encode(), mode=stat.S_IFLNK | 0o777)
    refused(tmp_path, [PATCH, link], "'media/ir.wav' is a symbolic link", capsys=capsys)


def test_an_archive_bomb_is_refused_before_extraction(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Two gigabytes of zeros in 2 MB, declared honestly; then three members each under the
    per-member limit whose total is over it."""
    zeros, crc = deflated_zeros(2**31)
    assert len(zeros) < 3 * 2**20
    bomb = Member("media/zeros.wav", compressed=zeros, declared_size=2**31, crc=crc)
    refused(tmp_path, [PATCH, bomb], "expands to 2.0 GB; a member may hold at most 512.0 MB", capsys=capsys)
    part, crc = deflated_zeros(400 * 2**20)
    parts = [Member(f"media/{n}.wav", compressed=part, declared_size=400 * 2**20, crc=crc) for n in range(3)]
    refused(
        tmp_path, [PATCH, *parts], "expands to 1.2 GB; a .patcher file may hold at most 1.0 GB", capsys=capsys
    )


def test_a_member_lying_about_its_size_is_cut_at_the_size_it_declares(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    zeros, _crc = deflated_zeros(2**24)
    liar = Member("media/small.wav", compressed=zeros, declared_size=1000, crc=zlib.crc32(bytes(2**24)))
    refused(tmp_path, [PATCH, liar], "member 'media/small.wav' is damaged", capsys=capsys)
    # With the CRC of its first 1000 bytes, it is read as the 1000 bytes it declares, no more.
    honest_crc = Member("media/small.wav", compressed=zeros, declared_size=1000, crc=zlib.crc32(bytes(1000)))
    archive = tmp_path / "liar.patcher"
    archive.write_bytes(raw_zip([PATCH, honest_crc]))
    unpack(archive, tmp_path / "target")
    assert (tmp_path / "target" / "media" / "small.wav").stat().st_size == 1000


def test_too_many_members_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    members = [PATCH] + [Member(f"media/{n}.wav", b"x") for n in range(MAX_MEMBERS)]
    refused(
        tmp_path, members, f"holds {MAX_MEMBERS + 1} members; a .patcher file holds at most", capsys=capsys
    )


# -- malformed archives: one line, exit 1 -------------------------------------------------------------
def _truncated(tmp_path: Path) -> bytes:
    return raw_zip([PATCH, Member("media/a.wav", bytes(5000))])[:3000]


def _bad_crc(tmp_path: Path) -> bytes:
    return raw_zip([PATCH, Member("media/a.wav", b"abc", crc=12345)])


MALFORMED = {
    "not a zip": (lambda _: b"{}", "not a packed patch (not a zip archive"),
    "truncated": (_truncated, "not a packed patch (not a zip archive"),
    "CRC error": (_bad_crc, "member 'media/a.wav' is damaged: Bad CRC-32"),
    "no patch": (lambda _: raw_zip([Member("media/a.wav", b"x")]), "holds no patch (a .json file at its top"),
    "two patches": (
        lambda _: raw_zip([PATCH, Member("other.json", PATCH.data)]),
        "holds 2 patches at its top level (shared.json, other.json)",
    ),
    "twice the patch": (lambda _: raw_zip([PATCH, PATCH]), "member 'shared.json' comes twice"),
    "not JSON": (
        lambda _: raw_zip([Member("shared.json", b"{nope")]),
        "(shared.json): malformed JSON at line 1",
    ),
    "a missing file": (
        lambda _: raw_zip([Member("shared.json", _naming("media/gone.wav"))]),
        "file 'media/gone.wav' is not in the archive",
    ),
    "a file outside": (
        lambda tmp: raw_zip([Member("shared.json", _naming(str(tmp / "secret.wav")))]),
        "is not in the archive; a packed patch reads only the files packed with it",
    ),
}


def _naming(file: str) -> bytes:
    node = {"id": "player", "type": "input", "params": {"source": "file", "file": file}}
    return json.dumps({"format": "patcher", "version": 1, "nodes": [node], "links": []}).encode()


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_archive_gets_one_line(case: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    make, fragment = MALFORMED[case]
    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    archive = tmp_path / "bad.patcher"
    archive.write_bytes(make(tmp_path))
    for command in (["check", str(archive)], ["unpack", str(archive), "-o", str(tmp_path / "target")]):
        assert cli.main(command) == 1
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and err.startswith("patcher: error: "), err
        assert fragment in err, err
    assert not (tmp_path / "target").exists()
    with pytest.raises(patcher.PatchError):
        patcher.load(archive)


def test_a_malformed_archive_is_one_line_from_the_command_too(tmp_path: Path) -> None:
    archive = tmp_path / "bad.patcher"
    archive.write_bytes(b"PK\x03\x04 and then nothing")
    assert_user_error(run_cli("render", archive, "-o", tmp_path / "x.wav"), "not a packed patch")
    assert not (tmp_path / "x.wav").exists()


# -- the editor ---------------------------------------------------------------------------------------
def test_the_editor_opens_a_packed_patch_and_saves_one(rig: Path, tmp_path: Path) -> None:
    from patcher.editor.model import EditorModel

    editor = EditorModel(state_dir=tmp_path / "state")
    assert editor.patch_extensions() == (".json", ".patcher")
    assert editor.open(rig)
    assert editor.save_as(tmp_path / "saved.patcher")
    assert "in one file to share" in editor.status.text
    assert editor.patch_extensions() == (".patcher", ".json")
    np.testing.assert_array_equal(rendered(tmp_path / "saved.patcher"), rendered(rig))
    other = EditorModel(state_dir=tmp_path / "state2")
    assert other.open(tmp_path / "saved.patcher")
    other.set_param("again", "mix", 0.25)
    assert other.save()  # Save packs again, into the file it came from
    assert patcher.load(tmp_path / "saved.patcher").nodes["again"].params["mix"] == 0.25
    assert other.save_as(tmp_path / "loose.json")
    assert other.status.level == "warning" and "save as .patcher" in other.status.text


# -- abstractions travel with the patch -----------------------------------------------------------
def abstraction(folder: Path, name: str, ir: str | None = None) -> Path:
    """A one-in one-out abstraction: a gain, or a convolver reading ``ir`` beside it."""
    inner = {"id": "fx", "type": "gain", "params": {"gain_db": -6.0}}
    if ir is not None:
        inner = {
            "id": "fx",
            "type": "convolver",
            "params": {"source": "file", "file": ir, "normalize": "none"},
        }
    nodes = [
        {"id": "in", "type": "inlet", "params": {"index": 0}},
        {"id": "out", "type": "outlet", "params": {"index": 0}},
        inner,
    ]
    links = [{"from": "in.out", "to": "fx.in"}, {"from": "fx.out", "to": "out.in"}]
    path = folder / name
    path.write_text(json.dumps({"format": "patcher", "version": 2, "nodes": nodes, "links": links}))
    return path


def using(folder: Path, file: str, name: str = "song.json") -> Path:
    """A patch playing noise through the abstraction ``file``."""
    nodes = [
        {"id": "src", "type": "noise", "params": {}},
        {"id": "box", "type": "subpatch", "file": file, "params": {}},
        {"id": "out", "type": "output", "params": {}},
    ]
    links = [{"from": "src.out", "to": "box.in"}, {"from": "box.out", "to": "out.left"}]
    path = folder / name
    path.write_text(json.dumps({"format": "patcher", "version": 2, "nodes": nodes, "links": links}))
    return path


def test_abstractions_and_their_files_are_packed_and_render_sample_for_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An abstraction beside the patch, and one found in the user's library (which whoever
    opens the archive does not have), both travel in it, with the IR one of them reads."""
    here, library = tmp_path / "here", tmp_path / "library"
    here.mkdir()
    (library / "fx").mkdir(parents=True)
    write_audio(library / "fx" / "ir.wav", np.r_[1.0, np.zeros(99), 0.5])
    abstraction(library / "fx", "verb.json", ir="ir.wav")
    abstraction(here, "quiet.json")
    monkeypatch.setenv("PATCHER_LIBRARY", str(library))
    song = using(here, "fx/verb.json")
    document = json.loads(song.read_text())
    document["nodes"].insert(2, {"id": "soft", "type": "subpatch", "file": "quiet.json", "params": {}})
    document["links"][1:] = [{"from": "box.out", "to": "soft.in"}, {"from": "soft.out", "to": "out.left"}]
    song.write_text(json.dumps(document))
    original = rendered(song)
    assert np.abs(original).max() > 0.01

    archive = tmp_path / "song.patcher"
    pack(song, archive)
    with zipfile.ZipFile(archive) as opened:
        assert sorted(opened.namelist()) == [
            "media/ir.wav",
            "media/quiet.json",
            "media/verb.json",
            "song.json",
        ]
    monkeypatch.setenv("PATCHER_LIBRARY", str(tmp_path / "nowhere"))  # elsewhere: no library
    np.testing.assert_array_equal(rendered(archive), original)
    unpack(archive, tmp_path / "elsewhere")
    np.testing.assert_array_equal(rendered(tmp_path / "elsewhere" / "song.json"), original)


def test_a_patch_with_abstractions_unpacks_by_relative_names_on_the_command_line(tmp_path: Path) -> None:
    """``patcher unpack song.patcher -o song`` in the archive's folder: the abstractions were
    judged against the folder made absolute, their own folder not, and refused as outside."""
    abstraction(tmp_path, "quiet.json")
    song = using(tmp_path, "quiet.json")
    original = rendered(song)
    pack(song, tmp_path / "song.patcher")
    result = run_cli("unpack", "song.patcher", "-o", "unpacked", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(rendered(tmp_path / "unpacked" / "song.json"), original)


def test_a_packed_abstraction_not_in_the_archive_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A packed patch naming an abstraction it does not hold (one in the reader's library),
    or an abstraction reading a file outside the archive, reads nothing from outside it."""
    library = tmp_path / "library"
    library.mkdir()
    abstraction(library, "mine.json")
    monkeypatch.setenv("PATCHER_LIBRARY", str(library))
    song = json.loads(using(tmp_path, "mine.json").read_text())
    refused(
        tmp_path,
        [Member("song.json", json.dumps(song).encode())],
        "'box'",
        "not in the archive",
        capsys=capsys,
    )

    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    holder = tmp_path / "holder"
    holder.mkdir()
    inner = abstraction(holder, "reads.json", ir="../../secret.wav").read_bytes()
    members = [
        Member("song.json", json.dumps(json.loads(using(holder, "media/reads.json").read_text())).encode()),
        Member("media/reads.json", inner),
    ]
    refused(tmp_path, members, "not in the archive", capsys=capsys)


@pytest.mark.parametrize("name", ["../secret.json", "/proc/kmsg", "media/../../secret.json"])
def test_a_packed_abstraction_leaving_the_archive_is_refused_by_its_name_unread(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Nothing outside the archive is read, not even to say what is wrong with it (a file's
    keys would leak, and /proc/kmsg would never end)."""
    (tmp_path / "secret.json").write_text(json.dumps({"password": "hunter2"}))
    song = json.loads(using(tmp_path, name).read_text())
    refused(tmp_path, [Member("song.json", json.dumps(song).encode())], "not in the archive", capsys=capsys)
    assert cli.main(["check", str(tmp_path / "hostile.patcher")]) == 1
    assert "password" not in capsys.readouterr().err


def test_names_that_differ_only_in_unicode_normalisation_are_one_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``café`` composed and decomposed look alike, and macOS's disk makes them one file."""
    song = _naming("media/caf\u00e9.wav")
    members = [Member("song.json", song), Member("media/caf\u00e9.wav"), Member("media/cafe\u0301.wav")]
    refused(tmp_path, members, "comes twice", capsys=capsys)
