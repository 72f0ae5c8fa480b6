"""Where abstractions are found: beside the patch that names them, then in the library.

An abstraction is a patch file used as a node (a ``subpatch`` node with a ``file``). Its name
is looked up relative to the folder of the patch naming it, then in each library folder:
those ``PATCHER_LIBRARY`` lists (separated as ``PATH`` is: ``:`` on Linux and macOS), or else
``library`` in the user's data folder (``~/.local/share/patcher/library`` on Linux), as Pd
searches a patch's folder, then its declared paths.
"""

from __future__ import annotations

import os
from pathlib import Path

LIBRARY_VARIABLE = "PATCHER_LIBRARY"


def library_folders() -> list[Path]:
    """The library folders, in the order they are searched."""
    listed = os.environ.get(LIBRARY_VARIABLE)
    if listed is not None:
        return [Path(folder) for folder in listed.split(os.pathsep) if folder]
    import platformdirs

    return [Path(platformdirs.user_data_dir("patcher", appauthor=False)) / "library"]


def leaves_folder(name: str) -> bool:
    """Whether the name alone reaches outside the folder it is looked up in (``..``, absolute)."""
    return "\0" in name or os.path.isabs(name) or os.pardir in Path(name).parts


def find_abstraction(name: str, folder: Path) -> tuple[Path, bool] | None:
    """Where the abstraction ``name`` is, and whether it was found in the library (None: nowhere)."""
    if "\0" in name:
        return None
    beside = Path(folder) / name
    if beside.is_file():
        return beside, False
    if leaves_folder(name):
        return None
    for library in library_folders():
        if (library / name).is_file():
            return library / name, True
    return None


def where_looked(name: str, folder: Path) -> str:
    """The folders a missing abstraction was looked for in, for its message."""
    folders = [str(folder)] + ([] if leaves_folder(name) else [str(f) for f in library_folders()])
    return ", ".join(folders)
