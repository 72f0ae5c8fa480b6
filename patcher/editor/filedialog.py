"""The editor's file dialog: a modal dearpygui window drawing a :class:`FileChooser`.

In dearpygui's own file dialog a new user found (issue 14) files listed in reverse order with
sizes in "Ko", no opening on a double click, and a Save As name that Ctrl+A did not select
(the typed name was appended to it). This one looks and behaves as the file dialogs Pd, Max
and VCV Rack users know::

    [Up] [/home/me/patches/                                   ]
    Places      | Name                        Size   Modified
    Patch folder| ..
    Home        | media/
    Examples    | chorus.json               2.1 KB   2024-05-01 14:03
    ------------+------------------------------------------------
    (a message: a folder that cannot be read, "replace it?")
    Name [chorus.json              ] [Patches (*.json)      v]
                                                [Save] [Cancel]

What each action does is decided by the chooser (GUI-free, tested without a window); this
module only draws it and passes the user's clicks and keys on. The editor routes every key to
:meth:`FileDialog.key` while the dialog is open, so no editor shortcut fires under it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dearpygui.dearpygui as dpg

from patcher.editor.filechooser import PARENT, FileChooser, format_modified, format_size
from patcher.editor.layout import BASE_FONT_SIZE, CHAR_WIDTH

TAG = "file_dialog"
#: The window at UI scale 1 (it never outgrows the editor's window).
SIZE = (820, 520)
PLACES_WIDTH = 130
MESSAGE_COLORS = {"error": (255, 120, 110), "question": (240, 200, 80), "hint": (120, 120, 120)}
HINTS = {
    "open": "Double-click or Enter opens. Backspace: up. Ctrl+L: type a folder. Escape: cancel.",
    "save": "Type a name; Enter saves ({extension} is added). Ctrl+L: type a folder. Escape: cancel.",
}
FOLDER_COLOR = (140, 190, 255)
DETAIL_COLOR = (150, 150, 150)
#: The highlighted row (dearpygui's default theme draws it barely lighter than the others).
HIGHLIGHT_COLORS = {
    dpg.mvThemeCol_Header: (45, 85, 140),
    dpg.mvThemeCol_HeaderHovered: (60, 70, 90),
    dpg.mvThemeCol_HeaderActive: (55, 100, 165),
}
ENTER_KEYS = (dpg.mvKey_Return, dpg.mvKey_NumPadEnter)
#: Two clicks on a row this close are a double click (ImGui's own 0.3 s is short for a newcomer;
#: Windows' default is 0.5 s, GNOME's 0.4 s).
DOUBLE_CLICK_S = 0.5
#: ... or this few frames apart: ImGui hands on mouse events that came in together one a frame,
#: so on a slow machine (software rendering, 300 ms a frame) a quick double click reaches the
#: dialog two frames, 0.6 s, apart. Two deliberate clicks are never two frames apart at 60 fps.
DOUBLE_CLICK_FRAMES = 2
#: Rows drawn at most (three widgets each): a folder of ten thousand takes would take seconds.
MAX_ROWS = 1500


def _tag(part: str) -> str:
    return f"{TAG}:{part}"


class FileDialog:
    """One open file dialog. ``chosen(path)`` or ``cancelled()`` is called once it closes;
    ``closed()`` (the editor's bookkeeping) before either."""

    def __init__(
        self,
        chooser: FileChooser,
        title: str,
        chosen: Callable[[Path], Any],
        cancelled: Callable[[], Any] | None = None,
        closed: Callable[[], Any] | None = None,
        ui_scale: float = 1.0,
        viewport: tuple[int, int] = (1400, 860),
    ) -> None:
        self.chooser = chooser
        self.title = title
        self.chosen = chosen
        self.cancelled = cancelled
        self.closed = closed
        self.ui_scale = ui_scale
        self.viewport = viewport
        self.open = False
        #: Bumped at each new listing: a click queued for a row of the last one is ignored.
        self._generation = 0
        self._drawn: tuple[Any, ...] | None = None
        #: Each row's cells (selectables), by entry index.
        self._rows: list[list[int | str]] = []
        #: The last row clicked, (generation, index), and when: the first click of a double one.
        self._last_click: tuple[tuple[int, int], float, int] | None = None

    @property
    def text_fields(self) -> tuple[str, str]:
        return (_tag("folder"), _tag("name"))

    # -- building -----------------------------------------------------------------------------------
    def build(self) -> None:
        self._delete()
        ui = self.ui_scale
        width = min(round(SIZE[0] * ui), self.viewport[0] - 40)
        height = min(round(SIZE[1] * ui), self.viewport[1] - 40)
        save = self.chooser.mode == "save"
        line = round(26 * ui)  # one row of widgets
        with dpg.theme(tag=_tag("folder_theme")), dpg.theme_component(dpg.mvAll):
            dpg.add_theme_color(dpg.mvThemeCol_Text, FOLDER_COLOR)
        with dpg.theme(tag=_tag("detail_theme")), dpg.theme_component(dpg.mvAll):
            dpg.add_theme_color(dpg.mvThemeCol_Text, DETAIL_COLOR)
        with dpg.theme(tag=_tag("list_theme")), dpg.theme_component(dpg.mvAll):
            for target, color in HIGHLIGHT_COLORS.items():
                dpg.add_theme_color(target, color)
        with dpg.window(
            tag=TAG,
            label=self.title,
            modal=True,
            width=width,
            height=height,
            pos=[(self.viewport[0] - width) // 2, max(20, (self.viewport[1] - height) // 3)],
            no_collapse=True,
            no_saved_settings=True,
            on_close=lambda *_a: self.cancel(),
            show=False,  # from the next frame on: see _show
        ):
            with dpg.group(horizontal=True):
                dpg.add_button(label="Up", tag=_tag("up"), width=round(44 * ui), callback=self._on_up)
                with dpg.tooltip(_tag("up")):
                    dpg.add_text("The folder above (Backspace)")
                dpg.add_input_text(tag=_tag("folder"), width=-1, hint="a folder: type it, Enter goes there")
            with dpg.group(horizontal=True):
                with dpg.child_window(tag=_tag("places"), width=round(PLACES_WIDTH * ui), height=-3 * line):
                    dpg.add_text("Places", color=(150, 150, 150))
                    for label, folder in self.chooser.places:
                        button = dpg.add_button(label=label, width=-1, callback=self._place_callback(folder))
                        with dpg.tooltip(button):
                            dpg.add_text(str(folder))
                with dpg.table(
                    tag=_tag("list"),
                    header_row=True,
                    scrollY=True,
                    freeze_rows=1,  # the header stays as the list scrolls
                    row_background=True,
                    borders_outerH=True,
                    borders_outerV=True,
                    policy=dpg.mvTable_SizingFixedFit,
                    height=-3 * line,
                    width=-1,
                ):
                    dpg.bind_item_theme(_tag("list"), _tag("list_theme"))
                    dpg.add_table_column(label="Name", width_stretch=True, init_width_or_weight=1.0)
                    dpg.add_table_column(
                        label="Size".rjust(7), width_fixed=True, init_width_or_weight=round(80 * ui)
                    )
                    dpg.add_table_column(
                        label="Modified", width_fixed=True, init_width_or_weight=round(130 * ui)
                    )
            dpg.add_text("", tag=_tag("message"), wrap=width - round(30 * ui))
            described = [file_filter.describe() for file_filter in self.chooser.filters]
            # The filter menu wide enough for its longest choice (the font is monospace), at most half.
            filter_width = min(round((CHAR_WIDTH * max(map(len, described)) + 40) * ui), width // 2)
            with dpg.group(horizontal=True):
                dpg.add_text("Name")
                dpg.add_input_text(
                    tag=_tag("name"),
                    width=-filter_width,
                    default_value=self.chooser.name,
                    auto_select_all=True,  # focused, the pre-filled name is selected: typing replaces it
                    hint="a file name" if save else "a file name, or click one",
                    callback=lambda _s, text, *_r: self.chooser.type_name(text),
                )
                dpg.add_combo(
                    described,
                    tag=_tag("filter"),
                    width=-1,
                    default_value=self.chooser.file_filter.describe(),
                    callback=self._on_filter,
                )
            with dpg.group(horizontal=True):
                button_width = round(90 * ui)
                dpg.add_spacer(width=max(0, width - 2 * button_width - 32))  # padding and spacing: 8 px each
                # Save / Cancel, or while "replace it?" is asked, Replace / Keep it in their place.
                buttons = (
                    ("accept", "Save" if save else "Open", self.accept, True),
                    ("cancel", "Cancel", self.cancel, True),
                    ("replace", "Replace", self._replace, False),
                    ("keep", "Keep it", self._keep_existing, False),
                )
                for part, label, action, shown in buttons:
                    dpg.add_button(
                        label=label,
                        tag=_tag(part),
                        width=button_width,
                        show=shown,
                        callback=lambda *_a, action=action: action(),
                    )
        self.open = True
        self.sync()
        dpg.set_frame_callback(dpg.get_frame_count() + 1, lambda *_a: self._show())

    def _show(self) -> None:
        """Shown a frame after it is built: a modal window opened in the frame another one
        (such as "save changes?") closes would be closed with it, as ImGui closes the popups
        stacked above one that closes."""
        if not self.open:
            return
        dpg.configure_item(TAG, show=True)
        dpg.focus_item(_tag("name"))
        self._scroll_to_highlight()

    def _place_callback(self, folder: Path) -> Callable[..., None]:
        return lambda *_a: self._act(lambda: self.chooser.go_to(folder))

    # -- keeping the widgets in step with the chooser -----------------------------------------------
    def sync(self) -> None:
        """Redraw what changed: the listing, the highlight, the name, the folder, the message."""
        if not self.open:
            return
        chooser = self.chooser
        listing = (chooser.folder, chooser.filter_index, tuple(chooser.entries))
        if listing != self._drawn:
            moved = self._drawn is None or self._drawn[0] != chooser.folder
            self._drawn = listing
            self._fill_rows()
            if moved:  # another folder is read from its top
                dpg.set_y_scroll(_tag("list"), 0.0)
            if not dpg.is_item_active(_tag("folder")):
                dpg.set_value(_tag("folder"), str(chooser.folder))
        # Every row's selectable state (a click toggles the one clicked, whatever it was).
        for index, cells in enumerate(self._rows):
            for cell in cells:
                dpg.set_value(cell, index == chooser.highlight)
        if dpg.get_value(_tag("name")) != chooser.name:
            dpg.set_value(_tag("name"), chooser.name)
        asking = chooser.overwrite is not None
        kind = "question" if asking else "error" if chooser.message else "hint"
        extensions = chooser.save_extensions if chooser.mode == "save" else ()
        message = chooser.message or HINTS[chooser.mode].format(extension=(extensions or (".json",))[0])
        dpg.set_value(_tag("message"), message + ("  (Enter replaces, Escape keeps it)" if asking else ""))
        dpg.configure_item(_tag("message"), color=MESSAGE_COLORS[kind])
        for part in ("replace", "keep"):
            dpg.configure_item(_tag(part), show=asking)
        for part in ("accept", "cancel"):
            dpg.configure_item(_tag(part), show=not asking)

    def _fill_rows(self) -> None:
        self._generation += 1
        table = _tag("list")
        for row in dpg.get_item_children(table, 1) or []:
            dpg.delete_item(row)
        self._rows = []
        for index, entry in enumerate(self.chooser.entries[:MAX_ROWS]):
            label = entry.name if entry.name == PARENT else entry.name + ("/" if entry.is_folder else "")
            details = (format_size(entry.size_bytes).rjust(7), format_modified(entry.modified))  # monospace
            # Every cell is a selectable of the row (a text beside a selectable sits a few pixels
            # lower than its label); the first draws the row's highlight across all columns.
            with dpg.table_row(parent=table):
                cells = []
                for column, text in enumerate((label, *details)):
                    cell = dpg.add_selectable(
                        label=text,
                        span_columns=column == 0,
                        disable_popup_close=True,  # a click must not close the modal window
                        user_data=(self._generation, index),
                        callback=self._on_row_click,
                    )
                    if column > 0:
                        dpg.bind_item_theme(cell, _tag("detail_theme"))
                    elif entry.is_folder:
                        dpg.bind_item_theme(cell, _tag("folder_theme"))
                    cells.append(cell)
                self._rows.append(cells)
        hidden = len(self.chooser.entries) - MAX_ROWS
        if hidden > 0:
            with dpg.table_row(parent=table):
                dpg.add_text(f"... and {hidden} more: type a name, or choose a filter", color=DETAIL_COLOR)

    def _scroll_to_highlight(self) -> None:
        """Bring the highlighted row into view (the current file of a file param)."""
        if self.chooser.highlight is None or not self._rows:
            return
        row_height = (BASE_FONT_SIZE + 4) * self.ui_scale  # a row's pitch, to a pixel or so
        with contextlib.suppress(Exception):  # a table too short to scroll
            dpg.set_y_scroll(_tag("list"), max(0.0, (self.chooser.highlight - 3) * row_height))

    # -- the user's actions -------------------------------------------------------------------------
    def _act(self, action: Callable[[], Any]) -> None:
        """Run a chooser action; a path it returns is the choice."""
        if not self.open:
            return
        result = action()
        if isinstance(result, Path):
            self._finish(result)
        else:
            self.sync()

    def _row(self, user_data: Any) -> int | None:
        generation, index = user_data
        return index if self.open and generation == self._generation else None

    def _on_row_click(self, _sender: Any, _value: Any, user_data: Any) -> None:
        """A click highlights; a second one on the same row soon after opens it."""
        index = self._row(user_data)
        if index is None:
            return
        now, frame = time.monotonic(), dpg.get_frame_count()
        last, self._last_click = self._last_click, (tuple(user_data), now, frame)
        soon = last is not None and (
            now - last[1] <= DOUBLE_CLICK_S or frame - last[2] <= DOUBLE_CLICK_FRAMES
        )
        if last is not None and last[0] == tuple(user_data) and soon:
            self._last_click = None  # a third click starts over
            self._act(lambda: self.chooser.activate(index))
        else:
            self._act(lambda: self.chooser.click(index))

    def _on_up(self, *_args: Any) -> None:
        self._act(self.chooser.go_up)

    def _on_filter(self, _sender: Any, described: str, *_rest: Any) -> None:
        names = [file_filter.describe() for file_filter in self.chooser.filters]
        if described in names:
            self._act(lambda: self.chooser.set_filter(names.index(described)))

    def _read_name(self) -> None:
        """The name as typed (its callback may not have run yet this frame)."""
        typed = dpg.get_value(_tag("name"))
        if typed != self.chooser.name:
            self.chooser.type_name(typed)

    def accept(self) -> None:
        """Enter or the Open / Save button."""
        if self.open:
            self._read_name()
            self._act(self.chooser.accept)

    def _replace(self) -> None:
        self._act(self.chooser.confirm_overwrite)

    def _keep_existing(self) -> None:
        self._act(self.chooser.decline_overwrite)
        if self.open:
            dpg.focus_item(_tag("name"))

    def key(self, key: int, ctrl: bool = False, shift: bool = False) -> None:
        """Every key while the dialog is open (the editor's shortcuts wait)."""
        if not self.open:
            return
        folder, name = _tag("folder"), _tag("name")
        in_folder = dpg.is_item_active(folder) or dpg.is_item_deactivated(folder)
        typing = in_folder or dpg.is_item_active(name) or dpg.is_item_deactivated(name)
        if key == dpg.mvKey_Escape:
            if self.chooser.overwrite is not None:
                self._keep_existing()
            else:
                self.cancel()
        elif key in ENTER_KEYS:
            if in_folder:  # Enter in the folder field goes there
                self._act(lambda: self.chooser.go_to_typed(dpg.get_value(folder)))
            elif self.chooser.overwrite is not None:
                self._replace()
            else:
                self.accept()
        elif key in (dpg.mvKey_Up, dpg.mvKey_Down) and not in_folder:
            self._act(lambda: self.chooser.move_highlight(1 if key == dpg.mvKey_Down else -1))
            if self.open and self.chooser.highlight is not None and self.chooser.highlight < len(self._rows):
                # The list takes the keyboard, so that the name field shows the new name.
                dpg.focus_item(self._rows[self.chooser.highlight][0])
        elif key == dpg.mvKey_Back and not typing:
            self._on_up()
        elif ctrl and key == dpg.mvKey_L:
            dpg.focus_item(folder)

    # -- closing ------------------------------------------------------------------------------------
    @staticmethod
    def _delete() -> None:
        for tag in (TAG, _tag("folder_theme"), _tag("detail_theme"), _tag("list_theme")):
            if dpg.does_item_exist(tag):
                dpg.delete_item(tag)

    def _close(self) -> None:
        self.open = False
        self._delete()
        if self.closed:
            self.closed()

    def _finish(self, path: Path) -> None:
        self._close()
        self.chosen(path)

    def cancel(self) -> None:
        if not self.open:
            return
        self._close()
        if self.cancelled:
            self.cancelled()
