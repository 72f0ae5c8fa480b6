"""One file to share: pack a patch and every file it uses into a ``.patcher`` archive, unpack one.

An archive is a zip file (:mod:`patcher.archive` says why, and how one is read safely)::

    chorus.json          the patch, named after the archive; its file params rewritten
    media/pluck.wav      every file it uses, once each, by its own name
    media/pluck-2.wav    ... a second file of the same name gets a number
    media/voice.json     an abstraction (a patch file a param names): its files beside it

``edit``, ``render``, ``play``, ``check`` and ``analyze`` open one directly: they load
patches through :func:`patcher.patchfile.load`, which extracts it into a private folder.
"""

from __future__ import annotations

import contextlib
import copy
import os
import posixpath
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from patcher.archive import (
    ARCHIVE_SUFFIX,
    MAX_MEMBER_BYTES,
    MAX_MEMBERS,
    MAX_TOTAL_BYTES,
    MEDIA_FOLDER,
    ArchiveError,
    extract,
    megabytes,
)
from patcher.atomic import atomic_path, special_kind
from patcher.files import abstraction_files, file_params
from patcher.model import Patch, PatchError
from patcher.patchfile import dumps, load, load_extracted
from patcher.text import PATH_LIMIT, excerpt, first_few

#: A file param naming a file of these suffixes names a patch (an abstraction), not audio:
#: its own files are packed too, and it is written with its params rewritten. Audio is never
#: JSON, so this holds whichever param kind names a patch file.
PATCH_FILE_SUFFIXES = (".json",)
#: A :class:`FileUse`'s ``param`` for a subpatch node's abstraction file (not a param).
ABSTRACTION = ""
#: Every member gets this date: the same patch packs to the same bytes.
MEMBER_DATE = (1980, 1, 1, 0, 0, 0)
_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f\\/:]")


@dataclass(frozen=True)
class FileUse:
    """A file param naming a file: in which patch file (None: the patch packed itself; else an
    abstraction's file), which node and param, and the file it names (absolute)."""

    patch_file: Path | None
    node_id: str
    param: str
    file: Path


def referenced_files(patch: Patch, allow_outside_files: bool = False) -> list[FileUse]:
    """Every file ``patch`` uses: each file param of each node (as the node specs declare
    them), and, where one names a patch file (an abstraction), the uses in that patch too,
    each patch file followed once (a patch that names itself does not loop). Raise
    PatchError if an abstraction cannot be loaded."""
    uses: list[FileUse] = []
    _collect(patch, None, uses, set(), allow_outside_files)
    return uses


def _collect(
    patch: Patch, patch_file: Path | None, uses: list[FileUse], followed: set[Path], allow_outside_files: bool
) -> None:
    for node_id, name, value in file_params(patch):
        file = Path(os.path.abspath(os.path.join(patch.base_dir, value)))
        uses.append(FileUse(patch_file, node_id, name, file))
        if is_patch_file(file) and file not in followed:
            followed.add(file)
            _collect(load(file, allow_outside_files), file, uses, followed, allow_outside_files)
    for node_id, file in abstraction_files(patch):  # subpatch nodes naming a patch file
        uses.append(FileUse(patch_file, node_id, ABSTRACTION, file))
        if file not in followed:
            followed.add(file)
            _collect(load(file, allow_outside_files), file, uses, followed, allow_outside_files)


def is_patch_file(path: Path) -> bool:
    """Whether a file param's file is a patch (an abstraction) rather than audio."""
    return path.suffix.lower() in PATCH_FILE_SUFFIXES


# -- packing ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Packed:
    """What :func:`pack_patch` wrote: the archive, the patch's member and each file's member."""

    archive: Path
    patch_member: str
    members: dict[Path, str]


def pack(source: str | Path, output: str | Path, allow_outside_files: bool = False) -> Packed:
    """Pack the patch file ``source`` (a ``.json`` or a ``.patcher`` file) into ``output``."""
    return pack_patch(load(source, allow_outside_files), output, allow_outside_files)


def pack_patch(patch: Patch, output: str | Path, allow_outside_files: bool = False) -> Packed:
    """Write ``patch`` and every file it uses into the archive ``output`` (``NAME.patcher``),
    atomically: an error or Ctrl+C leaves no half-written file, and an old one as it was.
    PatchError names every file that cannot be packed (missing, a pipe, too large)."""
    output = Path(output)
    uses = referenced_files(patch, allow_outside_files)
    members = _member_names(use.file for use in uses)
    _check_packable(members)
    patch_member = _safe_name(output.stem) + ".json"
    with atomic_path(output) as temporary, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        _write_bytes(archive, patch_member, dumps(_rewritten(patch, None, uses, members, "")).encode())
        for file, member in members.items():
            if is_patch_file(file):
                abstraction = load(file, allow_outside_files)
                rewritten = _rewritten(abstraction, file, uses, members, posixpath.dirname(member))
                _write_bytes(archive, member, dumps(rewritten).encode())
            else:
                _write_file(archive, member, file)
    return Packed(output, patch_member, members)


def _member_names(files: Iterable[Path]) -> dict[Path, str]:
    """Each file's member in the archive: ``media/`` and its name; a second file of the same
    name (whatever its case) gets ``-2`` before its suffix, a third ``-3``."""
    members: dict[Path, str] = {}
    taken: set[str] = set()
    for file in files:
        if file in members:
            continue
        stem, suffix = os.path.splitext(_safe_name(file.name))
        name, number = stem + suffix, 1
        while name.casefold() in taken:
            number += 1
            name = f"{stem}-{number}{suffix}"
        taken.add(name.casefold())
        members[file] = f"{MEDIA_FOLDER}/{name}"
    return members


def _safe_name(name: str) -> str:
    """``name`` as a member's name may hold it (:func:`patcher.archive.name_problem`)."""
    name = _UNSAFE_NAME_CHARS.sub("_", name)[:200]
    return name if name.strip(".") else "file"


def _check_packable(members: dict[Path, str]) -> None:
    """Refuse, before writing, what cannot be packed or would not be unpacked."""
    problems, total = [], 0
    for file in members:
        shown = excerpt(file, PATH_LIMIT)
        try:
            status = os.stat(file)
        except OSError as error:
            problems.append(f"cannot pack {shown}: {error.strerror or error}")
            continue
        kind = special_kind(status.st_mode)
        if kind is not None:
            problems.append(f"cannot pack {shown}: it is {kind}, not a file")
        elif status.st_size > MAX_MEMBER_BYTES:
            problems.append(f"cannot pack {shown}: a packed file holds at most {megabytes(MAX_MEMBER_BYTES)}")
        total += status.st_size
    if total > MAX_TOTAL_BYTES:
        limit = megabytes(MAX_TOTAL_BYTES)
        problems.append(f"the patch's files hold {megabytes(total)}; a .patcher file holds at most {limit}")
    if len(members) + 1 > MAX_MEMBERS:
        problems.append(f"the patch uses {len(members)} files; a .patcher file holds {MAX_MEMBERS - 1}")
    if problems:
        raise PatchError(problems)


def _rewritten(
    patch: Patch, patch_file: Path | None, uses: list[FileUse], members: dict[Path, str], folder: str
) -> Patch:
    """A copy of ``patch`` (the packed patch, or the abstraction ``patch_file``) whose file
    params name their members, relative to ``folder``, the member's own folder."""
    rewritten = copy.deepcopy(patch)
    for use in uses:
        if use.patch_file == patch_file:
            relative = posixpath.relpath(members[use.file], folder or ".")
            node = rewritten.find(use.node_id)
            if use.param == ABSTRACTION:
                node.file = relative
            else:
                node.params[use.param] = relative
    return rewritten


def _member_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=MEMBER_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o100644 << 16  # a regular file, readable by all: as an unzip would make it
    return info


def _write_bytes(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    archive.writestr(_member_info(name), data)


def _write_file(archive: zipfile.ZipFile, name: str, file: Path) -> None:
    with open(file, "rb") as source, archive.open(_member_info(name), "w") as member:
        shutil.copyfileobj(source, member)


# -- unpacking --------------------------------------------------------------------------------
def unpack(archive: str | Path, folder: str | Path, force: bool = False) -> list[Path]:
    """Extract the packed patch ``archive`` into ``folder`` (made if missing; its parent must
    exist) and return the files written, the patch first. The archive is checked whole, and
    its patch validated, in a hidden folder inside ``folder`` before any file is moved into
    place; an existing file is replaced only with ``force``. Nothing is written outside
    ``folder``, and a link in it is not followed."""
    archive, folder = Path(archive), Path(folder)
    made = _make_folder(folder)
    staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=folder))
    try:
        member = extract(archive, staging)
        load_extracted(archive, staging, member)
        names = [member, *sorted(_relative_files(staging) - {member})]
        _check_targets(folder, names, force)
        return [_move(staging, folder, name) for name in names]
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if made:
            with contextlib.suppress(OSError):  # a file already moved in stays, and so does its folder
                folder.rmdir()
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def default_unpack_folder(archive: str | Path) -> Path:
    """``chorus.patcher`` unpacks into ``chorus/`` in the current folder."""
    return Path(Path(archive).name.removesuffix(Path(archive).suffix) or "unpacked")


def _make_folder(folder: Path) -> bool:
    """Make ``folder`` if it is missing; whether it was made."""
    shown = excerpt(folder, PATH_LIMIT)
    if folder.is_dir():
        return False
    if os.path.lexists(folder):
        raise ArchiveError(f"cannot unpack into {shown}: it is not a folder")
    try:
        folder.mkdir()
        return True
    except FileNotFoundError:
        raise ArchiveError(f"cannot unpack into {shown}: its folder does not exist") from None
    except OSError as error:
        raise ArchiveError(f"cannot unpack into {shown}: {error.strerror or error}") from None


def _relative_files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def _check_targets(folder: Path, names: list[str], force: bool) -> None:
    """Refuse, before moving a file, a target that exists (unless ``force``), is a folder, or
    lies under something in ``folder`` that is a link or no folder: writing through it could
    land outside ``folder``."""
    existing, problems = [], {}
    for name in names:
        parts = name.split("/")
        for end in range(1, len(parts)):
            parent = folder.joinpath(*parts[:end])
            if parent.is_symlink() or (parent.exists() and not parent.is_dir()):
                problems[parent] = f"{excerpt('/'.join(parts[:end]))} is a link or a file, not a folder"
        target = folder.joinpath(*parts)
        if target.is_dir() and not target.is_symlink():
            problems[target] = f"{excerpt(name)} is a folder"
        elif os.path.lexists(target):
            existing.append(name)
    if existing and not force:
        verb = "exists" if len(existing) == 1 else "exist"
        problems[folder] = f"{first_few(existing, 5)} already {verb} (--force replaces them)"
    if problems:
        raise ArchiveError(list(problems.values()), f"cannot unpack into {excerpt(folder, PATH_LIMIT)}")


def _move(staging: Path, folder: Path, name: str) -> Path:
    """Move one extracted file into place; a link or a file in its place is replaced, not followed."""
    target = folder.joinpath(*name.split("/"))
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging.joinpath(*name.split("/")), target)
    return target


def archive_name(path: str | Path) -> Path:
    """``path`` with the ``.patcher`` suffix (``chorus.json`` gives ``chorus.patcher``)."""
    path = Path(path)
    return path.with_suffix(ARCHIVE_SUFFIX) if path.suffix else path.with_name(path.name + ARCHIVE_SUFFIX)
