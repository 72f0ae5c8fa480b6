"""Reading a packed patch (a ``.patcher`` file: a zip archive) as the untrusted input it is.

A ``.patcher`` file holds a patch (the one ``.json`` member at its top level) and the files
it uses (``media/...``); :mod:`patcher.pack` writes one. It comes from someone else, so:

* nothing is written outside the folder chosen: every member's name is checked from its text
  alone (no absolute name, drive letter, ``..``, backslash, colon or control character), a
  symbolic link or any other special member is refused, and files are created, never opened
  through a name that exists;
* sizes are checked before a byte is extracted (the member count, each member's declared
  size, their total, the free space) and again while extracting: a member is read with a cap
  at its declared size, so one that lies about its size is refused whatever zipfile does;
* a malformed archive (not a zip, truncated, a CRC error, no patch or two) is one
  :class:`ArchiveError` naming the file, never a traceback.

Why zip: the standard library reads and writes it, every system opens it to look inside,
and its central directory gives each member's name, type and size before one is
decompressed. A tar file has no index (its sizes are known only by reading it through) and
carries hard links and devices to refuse as well.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import zipfile
import zlib
from pathlib import Path

from patcher.atomic import special_kind
from patcher.model import PatchError
from patcher.text import PATH_LIMIT, excerpt, first_few, quote

ARCHIVE_SUFFIX = ".patcher"
#: Where the files a patch uses go inside an archive.
MEDIA_FOLDER = "media"
#: A patch and a few dozen files is the usual; a thousand leaves room without letting an
#: archive make a folder of millions of entries.
MAX_MEMBERS = 1000
#: One member at most: as much as one audio file may take decoded
#: (:data:`patcher.audiofile.MAX_DECODED_BYTES`); a file that size could not play anyway.
MAX_MEMBER_BYTES = 512 * 2**20
#: Everything extracted together: two such files. An archive that expands to gigabytes is a bomb.
MAX_TOTAL_BYTES = 2 * MAX_MEMBER_BYTES
#: The patch itself: a patch of 100,000 nodes is about 20 MB of JSON.
MAX_PATCH_BYTES = 64 * 2**20
#: Longest member name, and longest part of one (most file systems' limit on a file name).
MAX_NAME_CHARS = 1024
MAX_PART_CHARS = 255
#: Read and written at a time while extracting.
CHUNK_BYTES = 2**20
#: Compression methods read: those pack writes (deflate) and none (stored). Others
#: (bzip2, lzma) cost more to decompress and are not needed.
READ_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
#: Errors zipfile and zlib raise on a damaged archive (a truncated one, a bad CRC, a header
#: that disagrees with the directory).
DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError, ValueError)
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f\\:]")


class ArchiveError(PatchError):
    """A ``.patcher`` file cannot be opened: it is malformed, unsafe or too large."""


def is_archive(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a packed patch (by its ``.patcher`` suffix, in any case)."""
    return Path(path).suffix.lower() == ARCHIVE_SUFFIX


def name_problem(name: str) -> str | None:
    """Why ``name`` may not be a member's name (it would land outside the folder extracted
    into, or cannot be a file there), or None. Judged from the text alone."""
    if len(name) > MAX_NAME_CHARS:
        return f"a name of {len(name)} characters is too long"
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "an absolute name"
    if _UNSAFE_CHARS.search(name):
        return "a name with a backslash, a colon or a control character"
    parts = name.removesuffix("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "a name with an empty, '.' or '..' part"
    if any(len(part) > MAX_PART_CHARS for part in parts):
        return f"a name with a part longer than {MAX_PART_CHARS} characters"
    return None


def file_members(archive: zipfile.ZipFile, source: str) -> list[zipfile.ZipInfo]:
    """The archive's files (folders left out: they are made as needed), each checked: a safe
    name, a regular file, not encrypted, a method read here, sizes within the limits. Raise
    :class:`ArchiveError` listing every problem."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ArchiveError(f"holds {len(infos)} members; a .patcher file holds at most {MAX_MEMBERS}", source)
    problems = [problem for info in infos if (problem := _member_problem(info))]
    problems += _clash_problems(infos)
    files = [info for info in infos if not info.is_dir()]
    total = sum(info.file_size for info in files)
    if total > MAX_TOTAL_BYTES:
        problems.append(
            f"expands to {megabytes(total)}; a .patcher file may hold at most {megabytes(MAX_TOTAL_BYTES)}"
        )
    if problems:
        raise ArchiveError(problems, source)
    return files


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    shown = quote(info.filename, PATH_LIMIT)
    problem = name_problem(info.filename)
    if problem is not None:
        return f"member {shown} has {problem}; refused (it could be written outside the folder)"
    mode = info.external_attr >> 16  # the Unix mode, where the archiver wrote one
    if stat.S_ISLNK(mode):
        return f"member {shown} is a symbolic link; a .patcher file holds only files"
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return f"member {shown} is a special file; a .patcher file holds only files"
    if info.flag_bits & 0x1:
        return f"member {shown} is encrypted; a .patcher file is not"
    if info.compress_type not in READ_METHODS:
        return (
            f"member {shown} uses compression method {info.compress_type}; patcher reads stored and deflated"
        )
    if info.file_size > MAX_MEMBER_BYTES:
        return (
            f"member {shown} expands to {megabytes(info.file_size)}; "
            f"a member may hold at most {megabytes(MAX_MEMBER_BYTES)}"
        )
    return None


def _file_key(name: str) -> str:
    """What a name is on the most forgiving disk: case-blind and Unicode-normalised (macOS)."""
    return unicodedata.normalize("NFC", name).casefold()


def _clash_problems(infos: list[zipfile.ZipInfo]) -> list[str]:
    """Two members that would be one file (``a`` and ``A`` on a case-blind disk, ``é`` composed
    and decomposed on one that normalises Unicode), or a file that another member needs as a
    folder."""
    seen: set[str] = set()
    folders: set[str] = set()
    problems = []
    for info in infos:
        key = _file_key(info.filename.removesuffix("/"))
        if key in seen and not info.is_dir():
            problems.append(f"member {quote(info.filename, PATH_LIMIT)} comes twice")
        seen.add(key)
        parts = key.split("/")
        folders.update("/".join(parts[:end]) for end in range(1, len(parts)))
    for info in infos:
        if not info.is_dir() and _file_key(info.filename) in folders:
            problems.append(f"member {quote(info.filename, PATH_LIMIT)} is a file and a folder")
    return problems


def patch_member(files: list[zipfile.ZipInfo], source: str) -> zipfile.ZipInfo:
    """The patch: the one ``.json`` file at the archive's top level."""
    patches = [info for info in files if "/" not in info.filename and info.filename.lower().endswith(".json")]
    if not patches:
        raise ArchiveError("holds no patch (a .json file at its top level); it is no packed patch", source)
    if len(patches) > 1:
        names = first_few(info.filename for info in patches)
        raise ArchiveError(
            f"holds {len(patches)} patches at its top level ({names}); a .patcher file holds one", source
        )
    if patches[0].file_size > MAX_PATCH_BYTES:
        size = megabytes(patches[0].file_size)
        raise ArchiveError(
            f"its patch holds {size}; a patch may hold at most {megabytes(MAX_PATCH_BYTES)}", source
        )
    return patches[0]


def extract(path: str | os.PathLike[str], folder: Path) -> str:
    """Extract the packed patch ``path`` into ``folder`` (existing, empty, the caller's own)
    after checking it; return the patch member's name. :class:`ArchiveError` if the archive
    is malformed, unsafe or too large: what was extracted stays in ``folder`` for the caller
    to remove."""
    source = excerpt(path, PATH_LIMIT)
    with _open(Path(path), source) as archive:
        files = file_members(archive, source)
        patch = patch_member(files, source)
        _check_free_space(folder, sum(info.file_size for info in files), source)
        for info in files:
            _extract_member(archive, info, folder, source)
    return patch.filename


def extract_privately(path: str | os.PathLike[str]) -> tuple[Path, str]:
    """Extract the packed patch ``path`` into a new private temporary folder, removed when
    the program exits (the patch's files are read from it as long as the patch plays);
    return the folder and the patch member's name."""
    folder = Path(tempfile.mkdtemp(prefix="patcher-packed-"))  # mode 0700: nobody else reads it
    try:
        member = extract(path, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    atexit.register(_remove_folder, folder, os.getpid())
    _EXTRACTED.add(folder.resolve())
    return folder, member


def is_extracted(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` is a packed patch's private folder, removed when the program exits."""
    return Path(folder).resolve() in _EXTRACTED


_EXTRACTED: set[Path] = set()


def _remove_folder(folder: Path, owner: int) -> None:
    if os.getpid() == owner:  # not in a forked child, whose parent still reads the files
        shutil.rmtree(folder, ignore_errors=True)


def _open(path: Path, source: str) -> zipfile.ZipFile:
    try:
        kind = special_kind(os.stat(path).st_mode)
        if kind is not None:  # a pipe would hang the read for good
            raise ArchiveError(f"{source} is {kind}, not a .patcher file")
        return zipfile.ZipFile(path)
    except ArchiveError:
        raise
    except FileNotFoundError:
        raise ArchiveError(f"no such .patcher file: {source}") from None
    except OSError as error:
        raise ArchiveError(f"cannot read {source}: {error.strerror or error}") from None
    except DAMAGE as error:
        raise ArchiveError(f"not a packed patch (not a zip archive: {error})", source) from None


def _check_free_space(folder: Path, needed: int, source: str) -> None:
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise ArchiveError(
            f"expands to {megabytes(needed)}, and {excerpt(folder, PATH_LIMIT)} has {megabytes(free)} free",
            source,
        )


def _extract_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, folder: Path, source: str) -> None:
    """Copy one checked member into ``folder``, reading at most its declared size."""
    target = folder.joinpath(*info.filename.split("/"))
    target.parent.mkdir(parents=True, exist_ok=True)
    shown = quote(info.filename, PATH_LIMIT)
    written = 0
    try:
        # "xb": created here, never opened through a name that exists (a link planted by another member)
        with archive.open(info) as member, open(target, "xb") as out:
            while chunk := member.read(min(CHUNK_BYTES, info.file_size - written + 1)):
                written += len(chunk)
                if written > info.file_size:
                    raise ArchiveError(
                        f"member {shown} holds more than the {info.file_size} bytes it declares", source
                    )
                out.write(chunk)
    except ArchiveError:
        raise
    except DAMAGE as error:
        raise ArchiveError(f"member {shown} is damaged: {error}", source) from None
    except OSError as error:
        raise ArchiveError(f"cannot extract member {shown}: {error.strerror or error}", source) from None
    if written != info.file_size:
        raise ArchiveError(
            f"member {shown} holds {written} bytes, not the {info.file_size} it declares", source
        )


def megabytes(size: int) -> str:
    """A size as messages say it: ``12.5 MB``, ``2.0 GB``."""
    return f"{size / 2**20:.1f} MB" if size < 2**30 else f"{size / 2**30:.1f} GB"
