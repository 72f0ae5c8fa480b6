"""The file dialog's behaviour, GUI-free: what a folder lists, in what order, and what a click,
a double click, a typed name and Enter do.

The editor's Open, Save As and file-param pickers are one dialog (``filedialog.py`` draws it
with dearpygui); this module is everything it decides, so a test can drive it without a
window. It behaves as the file dialogs of Pd, Max and VCV Rack (the system's) do:

* a folder lists its folders, then its files, each sorted by name as a person reads it
  (case-insensitive, ``take2`` before ``take10``), hidden files left out, ``..`` first;
* only files of the chosen filter's extensions are listed (or all files);
* a click highlights an entry and puts a file's name in the name field; a double click, or
  Enter, opens a folder or chooses a file;
* a typed name may be a path (``sub/take.wav``, ``~/x.json``, ``/abs/path``); in Save mode a
  name without the patch extension gets it, and an existing file is not replaced unasked;
* what cannot be read is a sentence in :attr:`FileChooser.message`, never an exception.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Mode = Literal["open", "save"]
PARENT = ".."


@dataclass(frozen=True)
class FileFilter:
    """The files a dialog lists: those ending in one of ``extensions`` (none: every file)."""

    label: str
    extensions: tuple[str, ...] = ()

    def matches(self, name: str) -> bool:
        return not self.extensions or name.lower().endswith(tuple(e.lower() for e in self.extensions))

    def describe(self) -> str:
        """As a file dialog's filter menu says it: ``Patches (*.json)``."""
        patterns = ", ".join(f"*{extension}" for extension in self.extensions) or "*"
        return f"{self.label} ({patterns})"


ALL_FILES = FileFilter("All files")


@dataclass(frozen=True)
class Entry:
    """A folder or a file in a listing (``..`` is the parent folder)."""

    name: str
    path: Path
    is_folder: bool
    size_bytes: int | None = None
    modified: float | None = None


def natural_key(name: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key for names as people read them: case-insensitive, runs of digits compared as
    numbers (``take2`` before ``take10``); ties broken by the exact name, so the order is total."""
    parts = re.split(r"(\d+)", name.casefold())
    key = tuple((0, int(part), part) if part.isdigit() else (1, 0, part) for part in parts if part)
    return (*key, (2, 0, name))


def format_size(size_bytes: int | None) -> str:
    """A file's size as a file dialog shows it: ``812 B``, ``1.5 KB``, ``24 KB``, ``3.2 MB``
    (1 KB is 1024 bytes)."""
    if size_bytes is None:
        return ""
    size = float(size_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            break
        size /= 1024
    if unit == "B":
        return f"{size_bytes} B"
    return f"{size:.1f} {unit}" if size < 10 else f"{size:.0f} {unit}"


def format_modified(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def list_folder(folder: Path, file_filter: FileFilter = ALL_FILES, hidden: bool = False) -> list[Entry]:
    """``folder``'s folders then its files that pass ``file_filter``, each in natural order,
    with ``..`` first where there is a parent. Raises OSError when the folder cannot be read."""
    folders: list[Entry] = []
    files: list[Entry] = []
    with os.scandir(folder) as listing:
        for item in listing:
            if item.name.startswith(".") and not hidden:
                continue
            try:
                is_folder = item.is_dir()
                status = item.stat() if not is_folder else None
            except OSError:  # a broken link, or one gone since it was listed
                is_folder, status = False, None
            if is_folder:
                folders.append(Entry(item.name, Path(item.path), True))
            elif file_filter.matches(item.name):
                size = status.st_size if status else None
                modified = status.st_mtime if status else None
                files.append(Entry(item.name, Path(item.path), False, size, modified))
    folders.sort(key=lambda entry: natural_key(entry.name))
    files.sort(key=lambda entry: natural_key(entry.name))
    parent = [Entry(PARENT, folder.parent, True)] if folder.parent != folder else []
    return parent + folders + files


def typed_path(folder: Path, typed: str) -> Path:
    """What a name typed in ``folder`` names: relative to it, or absolute, ``~`` expanded."""
    return Path(os.path.normpath(folder / Path(typed.strip()).expanduser()))


def completed_save_name(path: Path, extensions: Sequence[str]) -> Path:
    """``path`` with the first of ``extensions`` added unless it has one of them (as
    ``EditorModel.save_as`` writes it: ``my_chorus`` and ``take.v2`` become ``.json`` files)."""
    if not extensions or path.suffix.lower() in (e.lower() for e in extensions):
        return path
    return path.with_name(path.name + extensions[0])


def nearest_folder(path: Path) -> Path:
    """``path`` if it is a folder, else its nearest existing parent (a patch's folder may have
    been moved away since it was opened)."""
    path = Path(path).expanduser().absolute()
    while not path.is_dir() and path.parent != path:
        path = path.parent
    return path


def describe_error(folder: Path, error: OSError) -> str:
    reason = error.strerror or str(error)
    return f"cannot read {folder}: {reason.lower()}"


@dataclass
class FileChooser:
    """The state of one file dialog, and what each of the user's actions does to it.

    ``accept()`` and ``activate()`` return the chosen path once there is one (the dialog
    then closes); otherwise None, with :attr:`message` saying why, or :attr:`overwrite` set
    when Save As waits for "replace it?"."""

    mode: Mode
    folder: Path
    filters: list[FileFilter]
    name: str = ""
    filter_index: int = 0
    #: Places offered beside the listing: (label, folder).
    places: list[tuple[str, Path]] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    highlight: int | None = None
    message: str = ""
    #: An existing file Save As would replace, waiting for the user's yes.
    overwrite: Path | None = None
    #: True when the highlight was set after the name was last typed: Enter acts on it.
    _highlight_is_recent: bool = False

    def __post_init__(self) -> None:
        if not self.filters:
            self.filters = [ALL_FILES]
        if ALL_FILES not in self.filters:
            self.filters.append(ALL_FILES)
        start = nearest_folder(self.folder)
        self.folder = start
        if not self.go_to(start):
            self.go_to(Path.home())

    @property
    def file_filter(self) -> FileFilter:
        return self.filters[self.filter_index]

    @property
    def save_extensions(self) -> tuple[str, ...]:
        return self.filters[0].extensions

    def highlighted(self) -> Entry | None:
        return self.entries[self.highlight] if self.highlight is not None else None

    # -- where the dialog looks ---------------------------------------------------------------------
    def go_to(self, folder: Path) -> bool:
        """List ``folder``; when it cannot be read, say so and keep the current listing."""
        folder = Path(os.path.normpath(Path(folder).expanduser().absolute()))
        try:
            entries = list_folder(folder, self.file_filter)
        except OSError as error:
            self.message = describe_error(folder, error)
            return False
        self.folder, self.entries = folder, entries
        self.highlight, self._highlight_is_recent = None, False
        self.overwrite = None
        self.message = ""
        return True

    def go_up(self) -> bool:
        return self.go_to(self.folder.parent)

    def refresh(self) -> bool:
        highlighted = self.highlighted()
        listed = self.go_to(self.folder)
        if listed and highlighted is not None:
            self.highlight_name(highlighted.name)
        return listed

    def go_to_typed(self, typed: str) -> bool:
        """The folder field's Enter: a folder is listed; a file's folder is listed with the file
        highlighted (and named)."""
        if not typed.strip():
            return False
        path = typed_path(self.folder, typed)
        if path.is_dir():
            return self.go_to(path)
        if path.parent.is_dir() and path.exists():
            if self.go_to(path.parent):
                self.highlight_name(path.name)
                return True
            return False
        self.message = f"there is no folder {path}"
        return False

    def set_filter(self, index: int) -> None:
        self.filter_index = max(0, min(index, len(self.filters) - 1))
        self.refresh()

    # -- the listing --------------------------------------------------------------------------------
    def highlight_name(self, name: str) -> bool:
        for index, entry in enumerate(self.entries):
            if entry.name == name:
                self.click(index)
                return True
        return False

    def click(self, index: int) -> None:
        """A single click: highlight the entry; a file's name goes in the name field."""
        if not 0 <= index < len(self.entries):
            return
        self.highlight, self._highlight_is_recent = index, True
        self.overwrite = None
        self.message = ""
        entry = self.entries[index]
        if not entry.is_folder:
            self.name = entry.name

    def move_highlight(self, step: int) -> None:
        """Up and Down: the next or previous entry (the first, when none was highlighted)."""
        if not self.entries:
            return
        if self.highlight is None:
            index = 0 if step > 0 else len(self.entries) - 1
        else:
            index = max(0, min(self.highlight + step, len(self.entries) - 1))
        self.click(index)

    def activate(self, index: int) -> Path | None:
        """A double click: a folder is entered, a file chosen."""
        if not 0 <= index < len(self.entries):
            return None
        entry = self.entries[index]
        if entry.is_folder:
            self.go_to(entry.path)
            return None
        self.click(index)
        return self.accept()

    def type_name(self, text: str) -> None:
        self.name = text
        self._highlight_is_recent = False
        self.overwrite = None

    # -- choosing -----------------------------------------------------------------------------------
    def accept(self) -> Path | None:
        """Enter, or the Open / Save button."""
        entry = self.highlighted()
        if entry is not None and entry.is_folder and (self._highlight_is_recent or not self.name.strip()):
            self.go_to(entry.path)
            return None
        typed = self.name.strip()
        if not typed:
            self.message = "type a name for the file" if self.mode == "save" else "choose a file"
            return None
        path = typed_path(self.folder, typed)
        if path.is_dir():
            if self.go_to(path):
                self.name = ""
            return None
        if self.mode == "open":
            if path.is_file():
                return path
            self.message = f"there is no file {path.name} in {path.parent}"
            return None
        path = completed_save_name(path, self.save_extensions)
        if not path.parent.is_dir():
            self.message = f"there is no folder {path.parent}"
            return None
        if path.is_dir():
            self.message = f"{path.name} is a folder"
            return None
        if path.exists():
            if path.parent != self.folder:  # a name typed with a folder: show that folder
                self.go_to(path.parent)
            self.highlight_name(path.name)  # the file in question, named in full
            self.overwrite = path
            self.message = f"{path.name} already exists in this folder. Replace it?"
            return None
        return path

    def confirm_overwrite(self) -> Path | None:
        """The "replace it?" question answered yes."""
        path, self.overwrite = self.overwrite, None
        self.message = ""
        return path

    def decline_overwrite(self) -> None:
        self.overwrite = None
        self.message = ""
