"""The dearpygui window: renders the editor model and turns the user's actions into its calls.

The view keeps no state the model does not have. What it remembers are only caches of what
it last drew (which nodes and links exist as widgets, which params a picture was drawn for),
so it can update the widgets that changed. Every click, drag and key ends in one call on
:class:`~patcher.editor.model.EditorModel`; a test can make the same calls through the same
callbacks the widgets use.

Layout: a menu bar; the node browser (left); the canvas (dearpygui's node editor); the
selected node's params (right), generated from its spec; the transport and the status bar
(bottom). The palette opens at the mouse with Tab or a double click on the canvas.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dearpygui.dearpygui as dpg

from patcher.editor.layout import NODE_PICTURE, Size, node_size
from patcher.editor.model import EditorModel, node_help
from patcher.editor.plot_layout import Line, Polyline, Text, layout_plot
from patcher.editor.visuals import Picture, Plot, has_picture, has_view, node_picture
from patcher.model import Link, NodeData, PortRef
from patcher.spec import Param, registry

WIDTH, HEIGHT = 1400, 860
LEFT_WIDTH, RIGHT_WIDTH = 170, 330
BOTTOM_HEIGHT = 64
PANEL_PICTURE = (300, 110)
LIVE_PERIOD_S = 0.05
AUDIO_EXTENSIONS = (".wav", ".flac", ".aiff", ".aif", ".ogg")
FAMILY_COLORS = {
    "sources": (52, 101, 164),
    "modulators": (117, 80, 123),
    "filters": (78, 154, 6),
    "shapers": (196, 100, 0),
    "convolution": (32, 128, 128),
    "delays": (140, 60, 60),
    "mixing": (90, 90, 90),
    "io": (160, 130, 20),
    "meters": (40, 110, 150),
}
LEVEL_COLORS = {"info": (200, 200, 200), "warning": (240, 200, 80), "error": (255, 110, 100)}
SHORTCUTS = [
    ("Tab / double click", "open the node palette at the mouse (type, arrows, Enter)"),
    ("Ctrl+Z", "undo"),
    ("Ctrl+Shift+Z, Ctrl+Y", "redo"),
    ("Ctrl+C / Ctrl+V", "copy / paste the selected nodes with their links"),
    ("Ctrl+D", "duplicate the selection"),
    ("Delete, Backspace", "delete the selected nodes and links"),
    ("Ctrl+A", "select everything"),
    ("Ctrl+L", "arrange the nodes, signal flowing left to right"),
    ("Ctrl+N / Ctrl+O", "new / open"),
    ("Ctrl+S / Ctrl+Shift+S", "save / save as"),
    ("Space", "play / stop"),
    ("F1", "help on the selected node"),
    ("drag a link's end off its pin", "disconnect"),
    ("middle drag", "pan the canvas"),
]


def node_tag(node_id: str) -> str:
    return f"node:{node_id}"


def pin_tag(node_id: str, port: str, direction: str) -> str:
    return f"pin:{direction}:{node_id}.{port}"


def link_tag(link: Link) -> str:
    return f"link:{link.source}->{link.target}"


def parse_pin(alias: str) -> tuple[str, str] | None:
    """(direction, "node.port") of a pin alias."""
    if not alias.startswith("pin:"):
        return None
    _pin, direction, port = alias.split(":", 2)
    return direction, port


def parse_link(alias: str) -> Link | None:
    if not alias.startswith("link:"):
        return None
    source, _arrow, target = alias[5:].partition("->")
    return Link(PortRef.parse(source), PortRef.parse(target))


def _free(tag: str) -> None:
    if dpg.does_item_exist(tag):
        dpg.delete_item(tag)
    if dpg.does_alias_exist(tag):
        dpg.remove_alias(tag)


def _alias(item: int | str) -> str:
    if isinstance(item, str):
        return item
    try:
        return dpg.get_item_alias(item) or ""
    except SystemError:
        return ""


def _printf_literal(text: str) -> str:
    """Text for a widget's printf-style format that shows as it is."""
    return text.replace("%", "%%")


class EditorView:
    """Builds the window for a model and keeps it in step, one frame at a time."""

    def __init__(
        self,
        model: EditorModel,
        width: int = WIDTH,
        height: int = HEIGHT,
        position: tuple[int, int] = (60, 40),
    ) -> None:
        self.model = model
        self.width, self.height = width, height
        self.position = position
        # Caches of what is drawn (never consulted as the truth about the patch):
        self._drawn_version = -1
        self._drawn_nodes: dict[str, str] = {}
        self._drawn_links: set[Link] = set()
        self._pushed_positions: dict[str, tuple[float, float]] = {}
        self._picture_keys: dict[str, Any] = {}
        self._panel_key: Any = None
        self._panel_picture_key: Any = None
        self._canvas_selection: tuple[list[str], list[Link]] = ([], [])
        self._drawn_recent: list[Path] | None = None
        self._palette_key: Any = None
        self._last_live = 0.0
        self._typing_widgets: set[int | str] = set()
        self._title = ""
        self._status_count = -1
        self._file_dialog_count = 0

    # -- building the window ------------------------------------------------------------------
    def build(self, show: bool = True) -> None:
        dpg.create_context()
        dpg.create_viewport(
            title=self.model.title(),
            width=self.width,
            height=self.height,
            x_pos=self.position[0],
            y_pos=self.position[1],
            disable_close=True,
        )
        self._themes()
        with dpg.window(tag="main", no_scrollbar=True):
            self._menus()
            with dpg.group(horizontal=True):
                with dpg.child_window(tag="browser", width=LEFT_WIDTH, height=-BOTTOM_HEIGHT):
                    self._browser()
                with dpg.child_window(tag="canvas_area", width=-RIGHT_WIDTH, height=-BOTTOM_HEIGHT):
                    dpg.add_node_editor(
                        tag="canvas",
                        callback=self.on_link,
                        delink_callback=self.on_delink,
                        minimap=True,
                        minimap_location=dpg.mvNodeMiniMap_Location_BottomRight,
                    )
                dpg.add_child_window(tag="panel", width=-1, height=-BOTTOM_HEIGHT)
            self._transport()
        self._palette_window()
        self._dialogs()
        with dpg.handler_registry():
            dpg.add_key_press_handler(callback=self.on_key)
            dpg.add_mouse_release_handler(button=dpg.mvMouseButton_Left, callback=self.on_mouse_release)
            dpg.add_mouse_double_click_handler(button=dpg.mvMouseButton_Left, callback=self.on_double_click)
        dpg.set_exit_callback(lambda: self.perform("quit"))
        dpg.set_primary_window("main", True)
        dpg.setup_dearpygui()
        if show:
            dpg.show_viewport()
        self.offer_recovery()
        self.refresh()

    def offer_recovery(self) -> bool:
        """After a crash: ask whether to reopen the autosaved patch."""
        info = self.model.recovery_available()
        if info is None:
            return False
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.saved_at))
        what = str(info.original) if info.original else "an untitled patch"
        text = f"patcher did not close cleanly.\nRecover the unsaved changes to\n{what}\n(autosaved {when})?"
        dpg.set_value("recover_text", text)
        dpg.configure_item("recover_dialog", show=True, pos=[self.width // 2 - 200, self.height // 2 - 80])
        return True

    def _themes(self) -> None:
        self.family_themes: dict[str, int] = {}
        for family, color in FAMILY_COLORS.items():
            with dpg.theme() as theme, dpg.theme_component(dpg.mvAll):
                dpg.add_theme_color(dpg.mvNodeCol_TitleBar, color, category=dpg.mvThemeCat_Nodes)
                lighter = tuple(min(255, c + 40) for c in color)
                dpg.add_theme_color(dpg.mvNodeCol_TitleBarHovered, lighter, category=dpg.mvThemeCat_Nodes)
                dpg.add_theme_color(dpg.mvNodeCol_TitleBarSelected, lighter, category=dpg.mvThemeCat_Nodes)
            self.family_themes[family] = theme

    def _menus(self) -> None:
        with dpg.menu_bar():
            with dpg.menu(label="File"):
                dpg.add_menu_item(label="New", shortcut="Ctrl+N", callback=lambda: self.perform("new"))
                dpg.add_menu_item(label="Open...", shortcut="Ctrl+O", callback=lambda: self.perform("open"))
                dpg.add_menu(label="Open Recent", tag="recent_menu")
                with dpg.menu(label="Examples", tag="examples_menu"):
                    for path in self.model.example_patches():
                        dpg.add_menu_item(label=path.stem, callback=self._open_callback(path))
                    if not self.model.example_patches():
                        dpg.add_menu_item(label="(no examples found)", enabled=False)
                dpg.add_separator()
                dpg.add_menu_item(label="Save", shortcut="Ctrl+S", callback=lambda: self.perform("save"))
                dpg.add_menu_item(
                    label="Save As...", shortcut="Ctrl+Shift+S", callback=lambda: self.perform("save_as")
                )
                dpg.add_separator()
                dpg.add_menu_item(label="Quit", callback=lambda: self.perform("quit"))
            with dpg.menu(label="Edit"):
                for label, action, shortcut in (
                    ("Undo", "undo", "Ctrl+Z"),
                    ("Redo", "redo", "Ctrl+Shift+Z"),
                    ("Copy", "copy", "Ctrl+C"),
                    ("Paste", "paste", "Ctrl+V"),
                    ("Duplicate", "duplicate", "Ctrl+D"),
                    ("Delete", "delete", "Delete"),
                    ("Select All", "select_all", "Ctrl+A"),
                    ("Arrange Nodes", "arrange", "Ctrl+L"),
                    ("Add Node...", "palette", "Tab"),
                ):
                    dpg.add_menu_item(label=label, shortcut=shortcut, callback=self._action_callback(action))
            with dpg.menu(label="Transport"):
                dpg.add_menu_item(
                    label="Play / Stop", shortcut="Space", callback=lambda: self.perform("play")
                )
            with dpg.menu(label="Help"):
                with dpg.menu(label="Node Reference"):
                    for family in sorted({cls.FAMILY for cls in registry().values()}):
                        with dpg.menu(label=family):
                            for type_name, cls in sorted(registry().items()):
                                if family == cls.FAMILY:
                                    dpg.add_menu_item(
                                        label=type_name, callback=self._help_callback(type_name)
                                    )
                dpg.add_menu_item(label="Keyboard Shortcuts", callback=lambda: self.perform("shortcuts"))

    def _browser(self) -> None:
        dpg.add_text("Nodes", color=(180, 180, 180))
        dpg.add_text("click to add, or Tab\non the canvas", color=(120, 120, 120))
        for family in sorted({cls.FAMILY for cls in registry().values()}):
            with dpg.collapsing_header(label=family, default_open=True):
                for type_name, cls in sorted(registry().items()):
                    if family != cls.FAMILY:
                        continue
                    button = dpg.add_button(
                        label=type_name,
                        width=-1,
                        callback=self._add_callback(type_name),
                        tag=f"add:{type_name}",
                    )
                    with dpg.tooltip(button):
                        dpg.add_text(cls.DOC, wrap=320)

    def _transport(self) -> None:
        with dpg.group(horizontal=True):
            dpg.add_button(label="Play", tag="play_button", width=70, callback=lambda: self.perform("play"))
            dpg.add_slider_float(
                tag="master_level",
                label="master dB",
                width=150,
                min_value=-60.0,
                max_value=12.0,
                format="%.1f dB",
                callback=lambda _sender, value, *_rest: self.model.set_master_level(value),
            )
            with dpg.tooltip("master_level"):
                dpg.add_text("The output node's level_db (every output node): saved and undoable.")
            dpg.add_text("CPU  --", tag="cpu_text")
            dpg.add_text("underruns 0", tag="underrun_text")
            with dpg.group():
                dpg.add_progress_bar(tag="meter_left", width=220, height=14, overlay="L")
                dpg.add_progress_bar(tag="meter_right", width=220, height=14, overlay="R")
        dpg.add_text("", tag="status_text")
        with dpg.tooltip("status_text"):
            dpg.add_text("", tag="status_history")

    def _palette_window(self) -> None:
        with dpg.window(
            tag="palette",
            show=False,
            no_title_bar=True,
            no_resize=True,
            no_move=True,
            no_collapse=True,
            width=260,
            height=300,
        ):
            dpg.add_text("Add node: type to search", color=(160, 160, 160))
            query = dpg.add_input_text(
                tag="palette_query",
                width=-1,
                callback=lambda _sender, text, *_rest: self.model.type_in_palette(text),
            )
            self._typing_widgets.add(query)
            dpg.add_child_window(tag="palette_list", height=-1)

    def _dialogs(self) -> None:
        with dpg.window(tag="confirm_dialog", label="Unsaved changes", modal=True, show=False, no_close=True):
            dpg.add_text("", tag="confirm_text")
            with dpg.group(horizontal=True):
                dpg.add_button(label="Save", width=90, callback=lambda: self.on_confirm("save"))
                dpg.add_button(label="Don't Save", width=90, callback=lambda: self.on_confirm("discard"))
                dpg.add_button(label="Cancel", width=90, callback=lambda: self.on_confirm("cancel"))
        with dpg.window(tag="recover_dialog", label="Recover", modal=True, show=False, no_close=True):
            dpg.add_text("", tag="recover_text")
            with dpg.group(horizontal=True):
                dpg.add_button(label="Recover", width=100, callback=lambda: self.on_recover(True))
                dpg.add_button(label="Discard", width=100, callback=lambda: self.on_recover(False))
        with dpg.window(
            tag="outside_dialog", label="Files outside the patch", modal=True, show=False, no_close=True
        ):
            dpg.add_text("", tag="outside_text", wrap=520)
            with dpg.group(horizontal=True):
                dpg.add_button(
                    label="Allow and Open", width=130, callback=lambda: self.on_outside_files(True)
                )
                dpg.add_button(label="Don't Open", width=130, callback=lambda: self.on_outside_files(False))
        with dpg.window(tag="help_window", label="Help", show=False, width=560, height=460, pos=(300, 120)):
            dpg.add_text("", tag="help_text", wrap=520)

    # -- callbacks: each ends in one model call ---------------------------------------------------
    def _action_callback(self, action: str) -> Callable[..., None]:
        return lambda *_args: self.perform(action)

    def _add_callback(self, type_name: str) -> Callable[..., None]:
        return lambda *_args: self.model.add_node(type_name, self.free_canvas_position())

    def _help_callback(self, type_name: str) -> Callable[..., None]:
        return lambda *_args: self.show_help(type_name)

    def _open_callback(self, path: Path) -> Callable[..., None]:
        return lambda *_args: self.model.request("open", path)

    def perform(self, action: str) -> None:
        """A menu item or a shortcut."""
        model = self.model
        simple: dict[str, Callable[[], Any]] = {
            "new": lambda: model.request("new"),
            "undo": model.undo,
            "redo": model.redo,
            "copy": model.copy_selection,
            "paste": lambda: model.paste(self.mouse_canvas_position() if self.canvas_hovered() else None),
            "duplicate": model.duplicate,
            "delete": model.delete_selection,
            "select_all": model.select_all,
            "arrange": lambda: model.arrange(self.drawn_size),
            "play": model.toggle_play,
            "quit": lambda: model.request("quit"),
            "palette": lambda: model.open_palette(self.mouse_canvas_position()),
            "shortcuts": self.show_shortcuts,
        }
        if action in simple:
            simple[action]()
        elif action == "open":
            self.file_dialog("Open patch", lambda path: model.request("open", path), (".json",))
        elif action == "save":
            if not model.save():
                self.perform("save_as")
        elif action == "save_as":
            self.file_dialog("Save patch as", self.save_as_then_continue, (".json",), save=True)
        elif action == "help":
            if model.focused_node:
                self.show_help(model.patch.nodes[model.focused_node].type)
        else:
            raise ValueError(f"unknown action {action!r}")

    def save_as_then_continue(self, path: Path) -> None:
        """Save As; when it answered "save changes?" for a new file, go on with the action."""
        if self.model.save_as(path) and self.model.pending is not None:
            self.model.resolve_pending("save")

    def on_link(self, _sender: Any, app_data: tuple[Any, Any]) -> None:
        """A link dragged from pin to pin: either direction; the model refuses illegal ones."""
        ends = [parse_pin(_alias(item)) for item in app_data]
        if None in ends:
            return
        (first_direction, first), (second_direction, second) = ends  # type: ignore[misc]
        if first_direction == "in" and second_direction == "out":
            first, second = second, first
        if first_direction == second_direction == "in":
            self.model.say(
                f"refused: {first} and {second} are both inputs; link an output to an input", "error"
            )
            return
        self.model.connect(first, second)
        self._drawn_version = -1  # dearpygui may have drawn a refused link: redraw from the model

    def on_delink(self, _sender: Any, app_data: Any) -> None:
        """A link dragged off its pin."""
        link = parse_link(_alias(app_data))
        if link is not None and link in self.model.patch.links:
            self.model.disconnect(str(link.source), str(link.target))

    def on_mouse_release(self, *_args: Any) -> None:
        self.commit_moves()

    def commit_moves(self) -> None:
        """Nodes dragged on the canvas: record where they ended up as one undoable move."""
        positions = {}
        for node_id in self._drawn_nodes:
            tag = node_tag(node_id)
            if dpg.does_item_exist(tag):
                x, y = dpg.get_item_pos(tag)
                if (float(x), float(y)) != self._pushed_positions.get(node_id):
                    positions[node_id] = (float(x), float(y))
        if positions and self.model.move_nodes(positions):
            self._pushed_positions.update(positions)

    def on_double_click(self, *_args: Any) -> None:
        if self.canvas_hovered() and not any(
            dpg.is_item_hovered(node_tag(node_id)) for node_id in self._drawn_nodes
        ):
            self.model.open_palette(self.mouse_canvas_position())

    def on_key(self, _sender: Any, key: int) -> None:
        ctrl = dpg.is_key_down(dpg.mvKey_ModCtrl)
        shift = dpg.is_key_down(dpg.mvKey_ModShift)
        model = self.model
        if model.palette is not None:
            self.palette_key(key)
            return
        if dpg.is_item_shown("outside_dialog"):
            if key == dpg.mvKey_Escape:
                self.on_outside_files(False)
            return
        if dpg.is_item_shown("confirm_dialog") or dpg.is_item_shown("recover_dialog"):
            if key == dpg.mvKey_Escape and model.pending is not None:
                self.on_confirm("cancel")
            return
        if self.typing():
            return
        action = self.shortcut(key, ctrl, shift)
        if action:
            self.perform(action)

    @staticmethod
    def shortcut(key: int, ctrl: bool, shift: bool) -> str | None:
        if ctrl:
            with_ctrl = {
                dpg.mvKey_Z: "redo" if shift else "undo",
                dpg.mvKey_Y: "redo",
                dpg.mvKey_C: "copy",
                dpg.mvKey_V: "paste",
                dpg.mvKey_D: "duplicate",
                dpg.mvKey_A: "select_all",
                dpg.mvKey_L: "arrange",
                dpg.mvKey_N: "new",
                dpg.mvKey_O: "open",
                dpg.mvKey_S: "save_as" if shift else "save",
            }
            return with_ctrl.get(key)
        plain = {
            dpg.mvKey_Delete: "delete",
            dpg.mvKey_Back: "delete",
            dpg.mvKey_Spacebar: "play",
            dpg.mvKey_Tab: "palette",
            dpg.mvKey_F1: "help",
        }
        return plain.get(key)

    def palette_key(self, key: int) -> None:
        model = self.model
        if key in (dpg.mvKey_Return, dpg.mvKey_NumPadEnter):
            model.accept_palette()
        elif key == dpg.mvKey_Escape:
            model.close_palette()
        elif key == dpg.mvKey_Down:
            model.move_palette_highlight(1)
        elif key == dpg.mvKey_Up:
            model.move_palette_highlight(-1)

    def typing(self) -> bool:
        """True while a text field has the keyboard: its keys are text, not shortcuts."""
        return any(dpg.does_item_exist(item) and dpg.is_item_active(item) for item in self._typing_widgets)

    def on_confirm(self, choice: str) -> None:
        self.model.resolve_pending(choice)
        if self.model.pending is not None and choice == "save":  # no file yet: ask where
            dpg.configure_item("confirm_dialog", show=False)
            # Cancelling the file dialog cancels the whole "save changes?" question.
            self.file_dialog(
                "Save patch as",
                self.save_as_then_continue,
                (".json",),
                save=True,
                cancelled=lambda: self.model.resolve_pending("cancel"),
            )

    def on_recover(self, recover: bool) -> None:
        dpg.configure_item("recover_dialog", show=False)
        if recover:
            self.model.recover()
        else:
            self.model.discard_autosave(declined=True)
            self.model.say("discarded the autosaved patch")
            self.offer_recovery()  # another crashed session's, if any

    def on_outside_files(self, allow: bool) -> None:
        dpg.configure_item("outside_dialog", show=False)
        self.model.answer_outside_files(allow)

    def on_param(self, sender: Any, app_data: Any, user_data: tuple[str, str, str]) -> None:
        """Every param widget calls this: (node id, param name, how the widget holds the value)."""
        node_id, name, holds = user_data
        node = self.model.patch.nodes.get(node_id)
        if node is None:
            return
        param = node.spec.PARAMS[name]
        value = app_data
        if holds == "log10":
            value = min(max(10.0 ** float(app_data), param.min), param.max)
        elif holds == "typed":
            value = float(app_data)
        elif holds == "table":
            try:
                value = [float(part) for part in str(app_data).replace(";", ",").split(",") if part.strip()]
            except ValueError:
                self.model.say(f"{node_id}.{name}: type numbers separated by commas", "error")
                return
        self.model.set_param(node_id, name, value)

    def choose_file_param(self, node_id: str, name: str) -> None:
        def chosen(path: Path) -> None:
            self.model.set_param(node_id, name, self.model.file_param_value(path))

        model = self.model
        folder = model.path.parent if model.path else model.patch.base_dir  # where the user saves
        self.file_dialog(f"Choose {name} for {node_id}", chosen, AUDIO_EXTENSIONS, folder=folder)

    def file_dialog(
        self,
        title: str,
        chosen: Callable[[Path], Any],
        extensions: tuple[str, ...],
        save: bool = False,
        folder: Path | None = None,
        cancelled: Callable[[], Any] | None = None,
    ) -> None:
        self._file_dialog_count += 1
        tag = f"file_dialog_{self._file_dialog_count}"
        start = folder or (self.model.path.parent if self.model.path else Path.cwd())

        def done(_sender: Any, app_data: dict[str, Any]) -> None:
            dpg.delete_item(tag)
            path = app_data.get("file_path_name") or ""
            if path:
                chosen(Path(path))

        with dpg.file_dialog(
            label=title,
            tag=tag,
            callback=done,
            cancel_callback=lambda *_a: (dpg.delete_item(tag), cancelled and cancelled()),
            width=720,
            height=460,
            modal=True,
            default_path=str(start),
            default_filename=(self.model.path.stem if save and self.model.path else ""),
        ):
            for extension in extensions:
                dpg.add_file_extension(extension, color=(150, 255, 150, 255))
            dpg.add_file_extension(".*")

    def show_help(self, type_name: str) -> None:
        dpg.set_value("help_text", node_help(type_name))
        dpg.configure_item("help_window", label=f"Help: {type_name}", show=True)
        dpg.focus_item("help_window")

    def show_shortcuts(self) -> None:
        width = max(len(keys) for keys, _what in SHORTCUTS)
        text = "\n".join(f"{keys.ljust(width)}  {what}" for keys, what in SHORTCUTS)
        dpg.set_value("help_text", text)
        dpg.configure_item("help_window", label="Keyboard shortcuts", show=True)

    # -- canvas coordinates ---------------------------------------------------------------------------
    def canvas_hovered(self) -> bool:
        return bool(dpg.is_item_hovered("canvas"))

    def canvas_origin(self) -> tuple[float, float]:
        """Where the canvas's (0, 0) is on the screen, panning included."""
        for node_id in self._drawn_nodes:
            tag = node_tag(node_id)
            rect = dpg.get_item_rect_min(tag)
            if rect and dpg.is_item_visible(tag):
                x, y = dpg.get_item_pos(tag)
                return rect[0] - x, rect[1] - y
        x, y = dpg.get_item_pos("canvas_area")  # no node to measure: the unpanned grid's corner
        return float(x + 16), float(y + 16)

    def mouse_canvas_position(self) -> tuple[float, float]:
        mouse = dpg.get_mouse_pos(local=False)
        origin = self.canvas_origin()
        return float(round(mouse[0] - origin[0])), float(round(mouse[1] - origin[1]))

    def drawn_size(self, node: NodeData) -> Size:
        """The node's size as drawn on the canvas (estimated until it has been drawn)."""
        tag = node_tag(node.id)
        drawn = dpg.get_item_rect_size(tag) if dpg.does_item_exist(tag) else None
        return (float(drawn[0]), float(drawn[1])) if drawn and min(drawn) > 0 else node_size(node)

    def free_canvas_position(self) -> tuple[float, float]:
        """Near the middle of the visible canvas, stepped aside until no node starts there."""
        x, y = dpg.get_item_pos("canvas_area")
        width, height = dpg.get_item_rect_size("canvas_area") or (800, 600)
        origin = self.canvas_origin()
        position = (float(round(x + width / 3 - origin[0])), float(round(y + height / 3 - origin[1])))
        taken = {node.position for node in self.model.patch.nodes.values()}
        while position in taken:
            position = (position[0] + 30.0, position[1] + 30.0)
        return position

    # -- keeping the widgets in step with the model ---------------------------------------------------
    def refresh(self) -> None:
        """Bring every widget up to date with the model, if it changed since the last frame."""
        model = self.model
        self._read_canvas_selection()
        if model.version != self._drawn_version:
            self._drawn_version = model.version
            self._sync_nodes()
            self._sync_links()
            self._sync_panel()
            self._sync_palette()
            self._sync_dialogs()
            self._sync_menus()
            self._sync_status()
            self._sync_pictures(live_only=False)
        title = model.title()
        if title != self._title:
            self._title = title
            dpg.set_viewport_title(title)
        dpg.configure_item("play_button", label="Stop" if model.playing else "Play")
        level = model.master_level_db()
        if level is not None and not dpg.is_item_active("master_level"):
            dpg.set_value("master_level", level)

    def frame(self) -> None:
        """One frame: meters, live pictures, autosave, then draw."""
        meters = self.model.poll()
        self._show_meters(meters)
        now = time.monotonic()
        if now - self._last_live >= LIVE_PERIOD_S:
            self._last_live = now
            self._sync_pictures(live_only=True)
        self.model.autosave_if_due()
        self.refresh()
        dpg.render_dearpygui_frame()

    def _read_canvas_selection(self) -> None:
        """The canvas owns clicking-to-select; pass a changed selection to the model."""
        nodes = [_alias(item)[5:] for item in dpg.get_selected_nodes("canvas")]
        links = [parse_link(_alias(item)) for item in dpg.get_selected_links("canvas")]
        selection = ([n for n in nodes if n], [link for link in links if link is not None])
        if selection != self._canvas_selection:
            self._canvas_selection = selection
            self.model.select(*selection)

    def _sync_nodes(self) -> None:
        patch = self.model.patch
        for node_id in list(self._drawn_nodes):
            node = patch.nodes.get(node_id)
            if node is None or node.type != self._drawn_nodes[node_id]:
                self._delete_node(node_id)
        for node_id, node in patch.nodes.items():
            if node_id not in self._drawn_nodes:
                self._create_node(node_id)
            elif self._pushed_positions.get(node_id) != node.position:
                dpg.set_item_pos(node_tag(node_id), list(node.position))
                self._pushed_positions[node_id] = node.position

    def _delete_node(self, node_id: str) -> None:
        for link in [link for link in self._drawn_links if node_id in (link.source.node, link.target.node)]:
            _free(link_tag(link))
            self._drawn_links.discard(link)
        cls = registry().get(self._drawn_nodes[node_id])
        if cls is not None:
            for port in cls.input_ports():
                _free(pin_tag(node_id, port, "in"))
            for port in cls.OUTPUTS:
                _free(pin_tag(node_id, port, "out"))
        for index in range(3):
            _free(f"draw:{node_id}:{index}")
        _free(node_tag(node_id))
        del self._drawn_nodes[node_id]
        self._pushed_positions.pop(node_id, None)
        self._picture_keys.pop(node_id, None)

    def _create_node(self, node_id: str) -> None:
        node = self.model.patch.nodes[node_id]
        cls = node.spec
        tag = node_tag(node_id)
        _free(tag)
        with dpg.node(label=node_id, tag=tag, parent="canvas", pos=list(node.position)):
            with dpg.node_attribute(attribute_type=dpg.mvNode_Attr_Static):
                dpg.add_text(cls.TYPE, color=(170, 170, 170))
                if has_picture(node.type):
                    picture = self._picture_for(node_id)
                    for index in range(len(picture.plots) if picture else 1):
                        _free(f"draw:{node_id}:{index}")
                        dpg.add_drawlist(*NODE_PICTURE, tag=f"draw:{node_id}:{index}")
            for port in cls.input_ports():
                _free(pin_tag(node_id, port, "in"))
                with dpg.node_attribute(
                    attribute_type=dpg.mvNode_Attr_Input, tag=pin_tag(node_id, port, "in")
                ):
                    modulation = port in cls.PARAMS
                    dpg.add_text(
                        f"~ {port}" if modulation else port, color=(150, 190, 255) if modulation else None
                    )
            for port in cls.OUTPUTS:
                _free(pin_tag(node_id, port, "out"))
                with dpg.node_attribute(
                    attribute_type=dpg.mvNode_Attr_Output, tag=pin_tag(node_id, port, "out")
                ):
                    dpg.add_text(port, indent=NODE_PICTURE[0] - 8 * len(port) - 10)
        theme = self.family_themes.get(cls.FAMILY)
        if theme is not None:
            dpg.bind_item_theme(tag, theme)
        self._drawn_nodes[node_id] = node.type
        self._pushed_positions[node_id] = node.position
        self._picture_keys.pop(node_id, None)

    def _sync_links(self) -> None:
        wanted = set(self.model.patch.links)
        for link in self._drawn_links - wanted:
            _free(link_tag(link))
        # A link dearpygui drew by itself (it should not) or one refused: drop what is unknown.
        for item in dpg.get_item_children("canvas", 0) or []:
            alias = _alias(item)
            if alias.startswith("link:") and parse_link(alias) not in wanted:
                dpg.delete_item(item)
        for link in wanted - self._drawn_links:
            tag = link_tag(link)
            _free(tag)
            dpg.add_node_link(
                pin_tag(link.source.node, link.source.port, "out"),
                pin_tag(link.target.node, link.target.port, "in"),
                parent="canvas",
                tag=tag,
            )
        self._drawn_links = wanted

    # -- the param panel, generated from the spec ---------------------------------------------------
    def _sync_panel(self) -> None:
        model = self.model
        node_id = model.focused_node
        node = model.patch.nodes.get(node_id) if node_id else None
        key = (node_id, node.type if node else None)
        if key != self._panel_key:
            self._panel_key = key
            self._panel_picture_key = None
            self._build_panel()
        elif node is not None:
            for name, param in node.spec.PARAMS.items():
                self._show_param_value(node_id or "", name, param, node.params[name])

    def _build_panel(self) -> None:
        dpg.delete_item("panel", children_only=True)
        for index in range(3):
            _free(f"panel_draw:{index}")
        self._typing_widgets = {item for item in self._typing_widgets if dpg.does_item_exist(item)}
        node_id = self.model.focused_node
        if node_id is None or node_id not in self.model.patch.nodes:
            dpg.add_text("No node selected.", parent="panel")
            dpg.add_text(
                "Click a node to edit its params.\nTab (or a double click) on the canvas\nopens the palette.",
                parent="panel",
                color=(150, 150, 150),
            )
            return
        node = self.model.patch.nodes[node_id]
        cls = node.spec
        with dpg.group(parent="panel"):
            with dpg.group(horizontal=True):
                dpg.add_text(node_id, color=(255, 255, 255))
                dpg.add_text(f"{cls.TYPE} ({cls.FAMILY})", color=(160, 160, 160))
                dpg.add_button(label="?", callback=self._help_callback(cls.TYPE))
            dpg.add_text(cls.DOC, wrap=RIGHT_WIDTH - 30, color=(180, 180, 180))
            if has_picture(node.type):
                picture = self._picture_for(node_id)
                for index in range(len(picture.plots) if picture else 1):
                    dpg.add_drawlist(*PANEL_PICTURE, tag=f"panel_draw:{index}")
            dpg.add_separator()
            for name, param in cls.PARAMS.items():
                self._param_widget(node_id, name, param, node.params[name])
        self._sync_pictures(live_only=False)

    def _param_widget(self, node_id: str, name: str, param: Param, value: Any) -> None:
        tag = f"param:{name}"
        label = f"~{name}" if param.modulatable else name
        callback = self.on_param
        width = -110
        if param.kind == "float":
            unit = f" ({param.unit})" if param.unit else ""
            dpg.add_text(f"{label}{unit}", color=(170, 190, 230) if param.modulatable else (190, 190, 190))
            with dpg.group(horizontal=True):
                if param.scale == "log" and param.min and param.min > 0:
                    dpg.add_slider_float(
                        tag=tag,
                        width=-80,
                        min_value=math.log10(param.min),
                        max_value=math.log10(param.max),
                        default_value=math.log10(value),
                        format=_printf_literal(self._number_text(value, param)),
                        callback=callback,
                        user_data=(node_id, name, "log10"),
                    )
                else:
                    dpg.add_slider_float(
                        tag=tag,
                        width=-80,
                        min_value=param.min,
                        max_value=param.max,
                        default_value=value,
                        format="%.4g " + _printf_literal(param.unit),
                        callback=callback,
                        user_data=(node_id, name, "value"),
                    )
                typed = dpg.add_input_float(
                    tag=f"{tag}:typed",
                    width=-1,
                    default_value=value,
                    step=0,
                    format="%.4g",
                    on_enter=True,
                    callback=callback,
                    user_data=(node_id, name, "typed"),
                )
                self._typing_widgets.add(typed)
        elif param.kind == "int":
            if param.max - param.min <= 10000:
                dpg.add_slider_int(
                    tag=tag,
                    label=label,
                    width=width,
                    min_value=int(param.min),
                    max_value=int(param.max),
                    default_value=value,
                    callback=callback,
                    user_data=(node_id, name, "value"),
                )
            else:
                widget = dpg.add_input_int(
                    tag=tag,
                    label=label,
                    width=width,
                    default_value=value,
                    on_enter=True,
                    callback=callback,
                    user_data=(node_id, name, "value"),
                )
                self._typing_widgets.add(widget)
        elif param.kind == "bool":
            dpg.add_checkbox(
                tag=tag,
                label=label,
                default_value=value,
                callback=callback,
                user_data=(node_id, name, "value"),
            )
        elif param.kind == "choice":
            dpg.add_combo(
                list(param.choices),
                tag=tag,
                label=label,
                width=width,
                default_value=value,
                callback=callback,
                user_data=(node_id, name, "value"),
            )
        elif param.kind == "path":
            with dpg.group(horizontal=True):
                dpg.add_input_text(tag=tag, width=150, default_value=value, readonly=True, hint="(no file)")
                dpg.add_button(label="Browse...", callback=lambda *_a: self.choose_file_param(node_id, name))
                dpg.add_button(
                    label="x",
                    callback=lambda *_a: self.model.set_param(node_id, name, ""),
                    tag=f"{tag}:clear",
                )
                dpg.add_text(label)
        else:  # a table of numbers
            widget = dpg.add_input_text(
                tag=tag,
                label=label,
                width=width,
                default_value=", ".join(f"{number:g}" for number in value),
                on_enter=True,
                callback=callback,
                user_data=(node_id, name, "table"),
            )
            self._typing_widgets.add(widget)
        with dpg.tooltip(tag):
            unit = f" {param.unit}" if param.unit else ""
            scale = ", log scale" if param.scale == "log" else ""
            dpg.add_text(f"{name}: {param.describe_range()}{unit}{scale}", color=(255, 255, 255))
            dpg.add_text(param.doc, wrap=360)
            if param.modulatable:
                dpg.add_text("~ modulatable: link a signal to the port of this name; it adds to this value.")

    @staticmethod
    def _number_text(value: float, param: Param) -> str:
        unit = f" {param.unit}" if param.unit else ""
        if param.unit == "Hz" and value >= 1000:
            return f"{value / 1000:.4g} kHz"
        return f"{value:.4g}{unit}"

    def _show_param_value(self, node_id: str, name: str, param: Param, value: Any) -> None:
        tag = f"param:{name}"
        if not dpg.does_item_exist(tag) or dpg.is_item_active(tag):
            return
        if param.kind == "float":
            if param.scale == "log" and param.min and param.min > 0:
                dpg.set_value(tag, math.log10(value))
                dpg.configure_item(tag, format=_printf_literal(self._number_text(value, param)))
            else:
                dpg.set_value(tag, value)
            if not dpg.is_item_active(f"{tag}:typed"):
                dpg.set_value(f"{tag}:typed", value)
        elif param.kind == "table":
            dpg.set_value(tag, ", ".join(f"{number:g}" for number in value))
        else:
            dpg.set_value(tag, value)

    # -- pictures ------------------------------------------------------------------------------------
    def _picture_for(self, node_id: str) -> Picture | None:
        model = self.model
        node = model.patch.nodes[node_id]
        try:
            return node_picture(
                node.type,
                node.params,
                model.patch.settings.sample_rate,
                model.node_view(node_id),
                str(model.patch.base_dir),
            )
        except Exception as error:  # a picture must never take the editor down
            model.say(f"cannot draw {node_id}: {error}", "warning")
            return None

    def _sync_pictures(self, live_only: bool) -> None:
        """Redraw pictures whose params changed, and live ones (meters) while playing."""
        model = self.model
        for node_id, node in model.patch.nodes.items():
            if not has_picture(node.type) or node_id not in self._drawn_nodes:
                continue
            live = model.playing and has_view(node.type)
            key = (repr(node.params), model.playing)
            in_panel = node_id == model.focused_node
            panel_stale = in_panel and self._panel_picture_key != (node_id, key)
            if live_only and not live:
                continue
            if not live and self._picture_keys.get(node_id) == key and not panel_stale:
                continue
            self._picture_keys[node_id] = key
            picture = self._picture_for(node_id)
            if picture is None:
                continue
            for index, plot in enumerate(picture.plots):
                self._draw_plot(f"draw:{node_id}:{index}", plot, *NODE_PICTURE)
            if in_panel:
                self._panel_picture_key = (node_id, key)
                for index, plot in enumerate(picture.plots):
                    self._draw_plot(f"panel_draw:{index}", plot, *PANEL_PICTURE)

    @staticmethod
    def _draw_plot(tag: str, plot: Plot, width: int, height: int, scale: float = 1.0) -> None:
        """Draw ``plot`` in the drawlist ``tag``, ``width`` x ``height`` at scale 1, times ``scale``
        (the zoom): :func:`~patcher.editor.plot_layout.layout_plot` places everything."""
        if not dpg.does_item_exist(tag):
            return
        dpg.delete_item(tag, children_only=True)
        size = (round(width * scale), round(height * scale))
        if tuple(dpg.get_item_configuration(tag)[key] for key in ("width", "height")) != size:
            dpg.configure_item(tag, width=size[0], height=size[1])
        for shape in layout_plot(plot, *size, scale):
            style: dict[str, Any] = {"color": shape.color, "parent": tag}
            if isinstance(shape, Text):
                dpg.draw_text(shape.position, shape.text, size=shape.size, **style)
                continue
            style["thickness"] = shape.thickness
            if isinstance(shape, Polyline):
                dpg.draw_polyline(shape.points, **style)
            elif isinstance(shape, Line):
                dpg.draw_line(shape.start, shape.end, **style)
            else:
                dpg.draw_rectangle(shape.corner, shape.opposite, fill=shape.fill or (0, 0, 0, 0), **style)

    # -- everything else ---------------------------------------------------------------------------
    def _sync_palette(self) -> None:
        palette = self.model.palette
        if palette is None:
            if dpg.is_item_shown("palette"):
                dpg.configure_item("palette", show=False)
            self._palette_key = None
            return
        if not dpg.is_item_shown("palette"):
            mouse = dpg.get_mouse_pos(local=False)
            dpg.configure_item("palette", show=True, pos=[int(mouse[0]), int(mouse[1])])
            dpg.set_value("palette_query", palette.query)
            dpg.focus_item("palette_query")
        key = (palette.query, palette.highlight)
        if key == self._palette_key:
            return
        self._palette_key = key
        if dpg.get_value("palette_query") != palette.query:
            dpg.set_value("palette_query", palette.query)
        dpg.delete_item("palette_list", children_only=True)
        for index, type_name in enumerate(palette.matches):
            cls = registry()[type_name]
            item = dpg.add_selectable(
                label=f"{type_name}   [{cls.FAMILY}]",
                parent="palette_list",
                default_value=index == palette.highlight,
                callback=lambda *_a, t=type_name: self.model.accept_palette(t),
            )
            with dpg.tooltip(item):
                dpg.add_text(cls.DOC, wrap=320)
        if not palette.matches:
            dpg.add_text("no node type matches", parent="palette_list", color=(200, 120, 120))

    def _sync_dialogs(self) -> None:
        self._sync_outside_dialog()
        pending = self.model.pending
        if pending is None:
            dpg.configure_item("confirm_dialog", show=False)
            return
        if dpg.is_item_shown("confirm_dialog") or any(
            dpg.get_item_alias(item).startswith("file_dialog")
            for item in dpg.get_windows()
            if dpg.get_item_alias(item)
        ):
            return
        name = self.model.path.name if self.model.path else "the untitled patch"
        doing = {"new": "starting a new patch", "open": f"opening {pending.path}", "quit": "quitting"}[
            pending.action
        ]
        dpg.set_value("confirm_text", f"Save the changes to {name} before {doing}?")
        dpg.configure_item("confirm_dialog", show=True, pos=[self.width // 2 - 200, self.height // 2 - 80])

    def _sync_outside_dialog(self) -> None:
        question = self.model.outside_question
        if question is None or dpg.is_item_shown("outside_dialog"):
            return
        listed = [f"  {node_id}.{name}: {value[:100]!r}" for node_id, name, value in question.files[:8]]
        if len(question.files) > 8:
            listed.append(f"  and {len(question.files) - 8} more")
        text = "\n".join(
            [
                f"{question.path.name} reads files outside its folder:",
                *listed,
                "A patch someone shared could play your other files this way.",
                "Open it and let it read them?",
            ]
        )
        dpg.set_value("outside_text", text)
        dpg.configure_item("outside_dialog", show=True, pos=[self.width // 2 - 280, self.height // 2 - 100])

    def _sync_menus(self) -> None:
        recent = list(self.model.recent_files)
        if recent == self._drawn_recent:
            return
        self._drawn_recent = recent
        dpg.delete_item("recent_menu", children_only=True)
        for path in recent:
            dpg.add_menu_item(label=str(path), parent="recent_menu", callback=self._open_callback(path))
        if not recent:
            dpg.add_menu_item(label="(none yet)", parent="recent_menu", enabled=False)

    def _sync_status(self) -> None:
        messages = self.model.messages
        if len(messages) == self._status_count and messages:
            return
        self._status_count = len(messages)
        status = self.model.status
        first_line = status.text.splitlines()[0] if status.text else ""
        more = " (hover for more)" if "\n" in status.text else ""
        dpg.set_value("status_text", first_line + more)
        dpg.configure_item("status_text", color=LEVEL_COLORS.get(status.level, LEVEL_COLORS["info"]))
        dpg.set_value("status_history", "\n".join(f"[{m.level}] {m.text}" for m in messages[-12:]))

    def _show_meters(self, meters: dict[str, Any] | None) -> None:
        if meters is None:
            dpg.set_value("cpu_text", "CPU  --")
            for side in ("left", "right"):
                dpg.set_value(f"meter_{side}", 0.0)
                dpg.configure_item(f"meter_{side}", overlay=f"{side[0].upper()}  silent")
            return
        dpg.set_value("cpu_text", f"CPU {100 * meters['cpu_load']:3.0f}%")
        dpg.set_value("underrun_text", f"underruns {meters['underruns']}")
        for side, level in zip(("left", "right"), meters["level"], strict=True):
            level_db = 20 * math.log10(level) if level > 1e-6 else -120.0
            dpg.set_value(f"meter_{side}", min(1.0, max(0.0, (level_db + 60.0) / 60.0)))
            dpg.configure_item(f"meter_{side}", overlay=f"{side[0].upper()}  {level_db:5.1f} dBFS")

    # -- running ---------------------------------------------------------------------------------------
    def run(self) -> None:
        while dpg.is_dearpygui_running() and not self.model.quit_requested:
            self.frame()

    def screenshot(self, path: Path, frames: int = 12) -> bool:
        """Render ``frames`` frames, then save the window as a PNG; True once the file exists."""
        for _ in range(frames):
            self.frame()
        path = Path(path)
        path.unlink(missing_ok=True)
        dpg.output_frame_buffer(file=str(path))
        for _ in range(30):
            self.frame()
            if path.is_file() and path.stat().st_size > 0:
                return True
        return path.is_file()

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            dpg.destroy_context()
