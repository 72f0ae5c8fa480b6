"""Which files a patch may read: the file policy for shared patches.

A patch reads the audio files in its own folder (and below it), as a Pd patch finds its
soundfiles beside it. A file anywhere else is read only with the user's consent: a shared
patch must not play the user's other files into its output, nor tell, by its error
messages, whether a path exists. Consent is ``--allow-outside-files`` on the command line,
``allow_outside_files=True`` in the Python API, and in the editor a question when such a
patch is opened, or choosing the file in its file dialog.

The check is made where a patch comes in from a file, before anything reads or looks at
its files: a path outside the folder is refused from its text alone, without touching the
file system; a path inside it is followed through symbolic links, which must stay inside.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path

from patcher.model import Patch, PatchError
from patcher.text import PATH_LIMIT, quote

ALLOW_FLAG = "--allow-outside-files"
ALLOW_HELP = "let the patch read audio files outside its own folder (refused by default)"
#: No system opens a longer path (Linux's PATH_MAX); following one through its links would
#: take seconds, so it is refused unfollowed.
LONGEST_PATH = 4096


class OutsideFilesError(PatchError):
    """A patch names files outside its folder and the user has not allowed them; ``files``
    lists them as (node id, param name, path text)."""

    def __init__(self, files: list[tuple[str, str, str]], patch: Patch, source: str | None = None) -> None:
        self.files = files
        problems = [
            f"node {quote(node_id)} ({patch.find(node_id).label}): {name} {quote(value, PATH_LIMIT)} is "
            f"outside the patch's folder; a patch reads only files in its own folder unless you allow "
            f"others ({ALLOW_FLAG})"
            for node_id, name, value in files
        ]
        super().__init__(problems, source)


def is_inside(folder: str | os.PathLike[str], file: str) -> bool:
    """Whether ``file`` (a file param's text) names a file in ``folder`` or below it."""
    if "\0" in file or os.path.isabs(file) or len(file) > LONGEST_PATH:
        return False
    if os.path.normpath(file).split(os.sep)[0] == os.pardir:
        return False  # "../x" leaves the folder: no need to ask the file system
    real_folder = os.path.realpath(folder)
    # Resolved as the system will open it: "link/../x" goes up from the link's target.
    real_file = os.path.realpath(os.path.join(real_folder, file))
    return os.path.commonpath([real_folder, real_file]) == real_folder


def file_params(patch: Patch, prefix: str = "") -> Iterator[tuple[str, str, str]]:
    """Every non-empty file param of ``patch``: (node id, param name, path text); those of
    an embedded subpatch too, by their path (``fx/ir``), as they name files from the same
    folder. An abstraction's files are its own folder's, checked when it is read."""
    for node_id, node in patch.nodes.items():
        for name, param in node.spec.PARAMS.items():
            value = node.params.get(name)
            if param.kind == "path" and value:
                yield prefix + node_id, name, value
        if node.inner is not None and not node.file:
            yield from file_params(node.inner, f"{prefix}{node_id}/")


def outside_files(patch: Patch) -> list[tuple[str, str, str]]:
    """The file params of ``patch`` naming files outside its folder: (node id, param, path)."""
    return [entry for entry in file_params(patch) if not is_inside(patch.base_dir, entry[2])]


def check_files(patch: Patch, allow_outside_files: bool = False, source: str | None = None) -> None:
    """Refuse ``patch`` (OutsideFilesError, one problem per file) if it names files outside
    its folder, unless they are allowed. The message is the same whether a file exists."""
    if allow_outside_files:
        return
    outside = outside_files(patch)
    if outside:
        raise OutsideFilesError(outside, patch, source)


def abstraction_files(patch: Patch, prefix: str = "") -> Iterator[tuple[str, Path]]:
    """Every abstraction ``patch`` uses directly (its own, and its embedded subpatches'): (node
    path, the file it was read from). An abstraction's own abstractions are its to list."""
    for node_id, node in patch.nodes.items():
        if node.inner is None:
            continue
        if node.file and node.inner.path is not None:
            yield prefix + node_id, Path(node.inner.path)
        elif not node.file:
            yield from abstraction_files(node.inner, f"{prefix}{node_id}/")


def check_packed_files(patch: Patch, source: str | None = None, root: Path | None = None) -> None:
    """Refuse a packed patch (PatchError, one problem per file) whose file params or
    abstractions name a file not packed with it: outside the folder it was extracted into
    (``root``), or missing there; its abstractions are held to the same. No consent widens
    this, as it does a patch file's: an archive is made to hold every file it uses."""
    root = Path(root or patch.base_dir).resolve()
    problems = [
        f"node {quote(node_id)} ({patch.find(node_id).type}): {name} {quote(value, PATH_LIMIT)} is not "
        "in the archive; a packed patch reads only the files packed with it"
        for node_id, name, value in file_params(patch)
        if not _packed(root, Path(patch.base_dir) / value)
    ]
    for node_id, file in abstraction_files(patch):
        if not _packed(root, file):
            problems.append(
                f"node {quote(node_id)}: abstraction {quote(str(file), PATH_LIMIT)} is not in the archive; "
                "a packed patch reads only the files packed with it"
            )
            continue
        try:
            check_packed_files(patch.find(node_id).inner, source, root)  # type: ignore[arg-type]
        except PatchError as error:
            problems += [f"in node {quote(node_id)}: {problem}" for problem in error.problems]
    if problems:
        raise PatchError(problems, source)


def _packed(root: Path, file: Path) -> bool:
    resolved = Path(os.path.realpath(file))
    return resolved.is_relative_to(root) and resolved.is_file()


def as_saved_in(patch: Patch, folder: str | os.PathLike[str]) -> Patch:
    """A copy of ``patch`` to save in ``folder``: every file param relative to it, those
    outside it too (an absolute path would tell a patch's readers where its author keeps
    their files; a relative one still finds them when the patch and its media move together)."""
    moved = copy.deepcopy(patch)
    moved.rebase(folder)
    for node_id, name, value in file_params(moved):
        if os.path.isabs(value):
            moved.find(node_id).params[name] = _relative(value, Path(folder).resolve())
    return moved


def _relative(path: str, folder: Path) -> str:
    try:
        return os.path.relpath(path, folder)
    except ValueError:  # another drive (Windows): there is no relative path
        return path
