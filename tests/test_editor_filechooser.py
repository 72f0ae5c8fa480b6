"""The file dialog's behaviour without a window: listing, order, sizes, filters, names typed,
and what a click, a double click and Enter do (``patcher/editor/filechooser.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from patcher.editor import filechooser
from patcher.editor.filechooser import (
    ALL_FILES,
    PARENT,
    FileChooser,
    FileFilter,
    completed_save_name,
    format_size,
    list_folder,
    natural_key,
    nearest_folder,
    typed_path,
)

PATCHES = FileFilter("Patches", (".json",))
AUDIO = FileFilter("Audio files", (".wav", ".flac"))


def make_folder(root: Path) -> Path:
    """take10, Take2, take1, bass (audio), two patches, a text file, two folders, hidden ones."""
    for name, size in {
        "take10.wav": 2048,
        "Take2.wav": 1536,
        "take1.WAV": 100,
        "bass.flac": 3 * 1024 * 1024,
        "chorus.json": 10,
        "Alpha.json": 10,
        "notes.txt": 5,
        ".hidden.wav": 5,
    }.items():
        (root / name).write_bytes(b"\0" * size)
    for folder in ("media", "Drafts", ".git", "2 old", "10 older"):
        (root / folder).mkdir()
    return root


def names(entries: list[filechooser.Entry]) -> list[str]:
    return [entry.name for entry in entries]


# -- order, sizes, filters ------------------------------------------------------------------------
def test_names_sort_case_insensitively_with_numbers_as_numbers() -> None:
    listed = ["take10.wav", "Take2.wav", "bass.wav", "Alpha.wav", "take1.wav", "take2b.wav", "tAke2.wav"]
    assert sorted(listed, key=natural_key) == [
        "Alpha.wav",
        "bass.wav",
        "take1.wav",
        "Take2.wav",
        "tAke2.wav",  # the same but for case: a stable order all the same
        "take2b.wav",
        "take10.wav",
    ]


def test_a_folder_lists_parent_then_folders_then_matching_files_each_in_natural_order(tmp_path: Path) -> None:
    make_folder(tmp_path)
    entries = list_folder(tmp_path, AUDIO)
    folders = [PARENT, "2 old", "10 older", "Drafts", "media"]
    assert names(entries) == [*folders, "bass.flac", "take1.WAV", "Take2.wav", "take10.wav"]
    parent, *rest = entries
    assert parent.is_folder and parent.path == tmp_path.parent
    assert all(entry.is_folder for entry in rest[:4]) and not any(entry.is_folder for entry in rest[4:])
    assert entries[-1].size_bytes == 2048 and entries[-1].modified is not None
    assert ".git" not in names(entries) and ".hidden.wav" not in names(entries)
    assert names(list_folder(tmp_path, PATCHES))[-2:] == ["Alpha.json", "chorus.json"]
    everything = names(list_folder(tmp_path, ALL_FILES))
    assert "notes.txt" in everything and "chorus.json" in everything and "take10.wav" in everything
    assert PARENT not in names(list_folder(Path("/")))


def test_sizes_read_as_a_file_dialog_shows_them() -> None:
    assert format_size(0) == "0 B"
    assert format_size(812) == "812 B"
    assert format_size(1023) == "1023 B"
    assert format_size(1024) == "1.0 KB"
    assert format_size(1536) == "1.5 KB"
    assert format_size(24 * 1024 + 100) == "24 KB"
    assert format_size(int(3.2 * 1024 * 1024)) == "3.2 MB"
    assert format_size(700 * 1024 * 1024) == "700 MB"
    assert format_size(5 * 1024**4) == "5120 GB"
    assert format_size(None) == ""
    assert "Ko" not in format_size(2048)


def test_filters_match_extensions_in_any_case_and_describe_themselves() -> None:
    assert AUDIO.matches("take.WAV") and AUDIO.matches("x.flac") and not AUDIO.matches("x.wav.txt")
    assert ALL_FILES.matches("anything") and ALL_FILES.describe() == "All files (*)"
    assert AUDIO.describe() == "Audio files (*.wav, *.flac)"


# -- names typed ------------------------------------------------------------------------------------
def test_a_save_name_gets_the_patch_extension_unless_it_has_it(tmp_path: Path) -> None:
    assert completed_save_name(tmp_path / "my_chorus", (".json",)) == tmp_path / "my_chorus.json"
    assert completed_save_name(tmp_path / "my.JSON", (".json",)) == tmp_path / "my.JSON"
    # As EditorModel.save_as writes it: another extension is part of the name.
    assert completed_save_name(tmp_path / "take.v2", (".json",)) == tmp_path / "take.v2.json"
    assert completed_save_name(tmp_path / "notes", ()) == tmp_path / "notes"


def test_a_typed_name_may_be_a_relative_absolute_or_home_path(tmp_path: Path) -> None:
    assert typed_path(tmp_path, " take.wav ") == tmp_path / "take.wav"
    assert typed_path(tmp_path, "media/take.wav") == tmp_path / "media" / "take.wav"
    assert typed_path(tmp_path, "../x.json") == tmp_path.parent / "x.json"
    assert typed_path(tmp_path, "/etc/hosts") == Path("/etc/hosts")
    assert typed_path(tmp_path, "~/x.json") == Path.home() / "x.json"


def test_a_start_folder_that_is_gone_becomes_its_nearest_parent(tmp_path: Path) -> None:
    assert nearest_folder(tmp_path / "moved" / "away") == tmp_path
    chooser = FileChooser("open", tmp_path / "moved", [PATCHES])
    assert chooser.folder == tmp_path and chooser.message == ""


# -- clicks, double clicks, Enter -------------------------------------------------------------------
def test_a_click_highlights_and_names_a_file_and_a_double_click_opens_it(tmp_path: Path) -> None:
    make_folder(tmp_path)
    chooser = FileChooser("open", tmp_path, [AUDIO])
    assert chooser.file_filter == AUDIO and chooser.filters[-1] == ALL_FILES
    take2 = names(chooser.entries).index("Take2.wav")
    chooser.click(take2)
    assert chooser.highlight == take2 and chooser.name == "Take2.wav"
    chooser.click(names(chooser.entries).index("media"))  # a folder is highlighted, the name kept
    assert chooser.name == "Take2.wav"
    assert chooser.activate(take2) == tmp_path / "Take2.wav"
    assert chooser.activate(names(chooser.entries).index("media")) is None
    assert chooser.folder == tmp_path / "media" and names(chooser.entries) == [PARENT]
    assert chooser.activate(0) is None and chooser.folder == tmp_path  # ".." goes up


def test_enter_opens_the_highlighted_folder_or_the_named_file(tmp_path: Path) -> None:
    make_folder(tmp_path)
    (tmp_path / "media" / "ir.wav").write_bytes(b"\0" * 64)
    chooser = FileChooser("open", tmp_path, [AUDIO])
    chooser.move_highlight(1)  # the first entry: ".."
    chooser.move_highlight(1)
    chooser.move_highlight(1)
    assert chooser.highlighted().name == "10 older"
    chooser.move_highlight(-5)
    assert chooser.highlight == 0
    chooser.highlight_name("media")
    assert chooser.accept() is None and chooser.folder == tmp_path / "media"
    chooser.type_name("ir.wav")
    assert chooser.accept() == tmp_path / "media" / "ir.wav"
    chooser.type_name("missing.wav")
    assert chooser.accept() is None and "there is no file missing.wav" in chooser.message
    chooser.type_name("..")  # a folder typed is entered
    assert chooser.accept() is None and chooser.folder == tmp_path and chooser.name == ""
    assert chooser.accept() is None and chooser.message == "choose a file"
    chooser.type_name("media/ir.wav")
    assert chooser.accept() == tmp_path / "media" / "ir.wav"


def test_a_name_typed_after_highlighting_a_folder_wins(tmp_path: Path) -> None:
    make_folder(tmp_path)
    chooser = FileChooser("save", tmp_path, [PATCHES])
    chooser.highlight_name("media")
    chooser.type_name("new")
    assert chooser.accept() == tmp_path / "new.json"


def test_save_as_adds_json_and_asks_before_replacing(tmp_path: Path) -> None:
    make_folder(tmp_path)
    chooser = FileChooser("save", tmp_path, [PATCHES], name="chorus.json")
    chooser.highlight_name("chorus.json")
    assert chooser.name == "chorus.json"
    chooser.type_name("my_chorus")
    assert chooser.accept() == tmp_path / "my_chorus.json"
    chooser.type_name("chorus")  # exists once .json is added
    assert chooser.accept() is None
    assert chooser.overwrite == tmp_path / "chorus.json" and "Replace it?" in chooser.message
    assert chooser.highlighted().name == "chorus.json" and chooser.name == "chorus.json"
    chooser.decline_overwrite()
    assert chooser.overwrite is None and chooser.message == ""
    assert chooser.accept() is None and chooser.overwrite is not None
    assert chooser.confirm_overwrite() == tmp_path / "chorus.json" and chooser.overwrite is None
    (tmp_path / "media" / "old.json").write_text("{}")
    chooser.type_name("media/old")  # in another folder: the question is asked there
    assert chooser.accept() is None and chooser.overwrite == tmp_path / "media" / "old.json"
    assert chooser.folder == tmp_path / "media" and chooser.highlighted().name == "old.json"
    assert chooser.name == "old.json" and "already exists in this folder" in chooser.message
    assert chooser.confirm_overwrite() == tmp_path / "media" / "old.json"
    chooser.type_name("nowhere/x")
    assert chooser.accept() is None and "there is no folder" in chooser.message
    chooser.type_name("   ")
    assert chooser.accept() is None and chooser.message == "type a name for the file"


def test_the_all_files_filter_lists_every_file(tmp_path: Path) -> None:
    make_folder(tmp_path)
    chooser = FileChooser("open", tmp_path, [PATCHES])
    assert "notes.txt" not in names(chooser.entries)
    chooser.highlight_name("chorus.json")
    chooser.set_filter(chooser.filters.index(ALL_FILES))
    assert "notes.txt" in names(chooser.entries) and chooser.highlighted().name == "chorus.json"


def test_a_folder_that_cannot_be_read_is_a_message_and_the_listing_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_folder(tmp_path)
    chooser = FileChooser("open", tmp_path, [AUDIO])
    listed = list(chooser.entries)
    assert not chooser.go_to(tmp_path / "missing")
    assert chooser.message.startswith(f"cannot read {tmp_path / 'missing'}: no such file")
    assert chooser.folder == tmp_path and chooser.entries == listed
    assert not chooser.go_to_typed("notes.txt/deeper")
    assert chooser.folder == tmp_path and "no folder" in chooser.message

    real_scandir = os.scandir

    def refusing(path: object) -> object:
        if Path(str(path)) == tmp_path / "media":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(filechooser.os, "scandir", refusing)
    assert chooser.activate(names(chooser.entries).index("media")) is None
    assert chooser.message == f"cannot read {tmp_path / 'media'}: permission denied"
    assert chooser.folder == tmp_path
    assert chooser.go_to(tmp_path) and chooser.message == ""


def test_the_folder_field_goes_to_a_folder_or_to_a_file_in_it(tmp_path: Path) -> None:
    make_folder(tmp_path)
    chooser = FileChooser("open", Path.home(), [AUDIO])
    assert chooser.go_to_typed(str(tmp_path / "media"))
    assert chooser.folder == tmp_path / "media"
    assert chooser.go_to_typed(str(tmp_path / "take10.wav"))
    assert chooser.folder == tmp_path and chooser.name == "take10.wav"
    assert chooser.highlighted().name == "take10.wav"
    assert not chooser.go_to_typed("")
