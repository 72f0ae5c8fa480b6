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
import ctypes
import ctypes.util
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dearpygui.dearpygui as dpg

from patcher.editor.camera import UI_SCALES, Box, Camera, bounding_box, clamp_ui_scale
from patcher.editor.composition_view import CompositionView
from patcher.editor.filechooser import FileChooser, FileFilter
from patcher.editor.filedialog import FileDialog
from patcher.editor.layout import BASE_FONT_SIZE, CHAR_WIDTH, NODE_PICTURE, Size, font_file, node_size
from patcher.editor.live_view import LiveView
from patcher.editor.measure_window import MeasureWindow
from patcher.editor.model import EditorModel, node_help
from patcher.editor.plot_layout import Line, Polyline, Text, layout_plot
from patcher.editor.sliders import Drag, from_slider, slider_range, to_slider
from patcher.editor.visuals import Picture, Plot, has_picture, has_view, node_picture
from patcher.editor.widgets import item_alias as _alias
from patcher.model import MAPPABLE_KINDS, Link, NodeData, PortRef
from patcher.spec import Param, registry
from patcher.text import PATH_LIMIT, excerpt

WIDTH, HEIGHT = 1400, 860
#: Side panels and transport at UI scale 1 (they grow with it; the params panel takes at most
#: a quarter of the window, and the node browser shows by default on windows this wide).
LEFT_WIDTH, RIGHT_WIDTH = 170, 330
BROWSER_FROM_WIDTH = 1280
BOTTOM_HEIGHT = 64
PANEL_PICTURE = (300, 110)
#: The sample rates and block sizes the patch panel offers (a patch file may hold others).
SAMPLE_RATES = (22050, 32000, 44100, 48000, 88200, 96000, 192000)
BLOCK_SIZES = (16, 32, 64, 128, 256, 512, 1024, 2048)
#: The = / + key: ImGuiKey_Equal, four after the minus key (dearpygui's mvKey_Plus is a stale
#: number from before it used ImGui's keys, and no key sends it).
EQUAL_KEY = dpg.mvKey_Minus + 4
#: Text smaller than this is not drawn sharper by a font of its own.
MIN_FONT_SIZE = 3
#: imnodes' defaults at zoom 1, scaled with the zoom.
NODE_PADDING = (8.0, 8.0)
PIN_RADIUS = 4.0
#: A cable dragged off an input this far (pixels at zoom 1) and let go on no pin is removed.
DETACH_DISTANCE = 24.0
LINK_THICKNESS = 3.0
GRID_SPACING = 24.0
LIVE_PERIOD_S = 0.05
#: How often the CPU meters are redrawn: often enough to follow, seldom enough to be read.
CPU_METER_PERIOD_S = 0.25
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
    "envelopes": (150, 110, 40),
    "sequencing": (120, 60, 140),
    "dynamics": (170, 70, 100),
    "control": (50, 140, 120),
    "subpatch": (88, 84, 150),  # a patch in a node: its own colour, so it reads as one to open
}
NODE_MENU = [
    ("Open", "open_subpatch"),
    ("Help", "help"),
    ("Rename...", "rename"),
    ("Duplicate", "duplicate"),
    ("Delete", "delete"),
    ("Disconnect All", "disconnect"),
    ("Measure", "measure"),
    ("Ungroup", "ungroup"),
    ("Save as Abstraction...", "save_as_abstraction"),
]
LEVEL_COLORS = {"info": (200, 200, 200), "warning": (240, 200, 80), "error": (255, 110, 100)}
SHORTCUTS = [
    ("Tab / double click", "open the node palette at the mouse (type, arrows, Enter)"),
    ("Ctrl+Z", "undo"),
    ("Ctrl+Shift+Z, Ctrl+Y", "redo"),
    ("Ctrl+C / Ctrl+V", "copy / paste the selected nodes with their links"),
    ("Ctrl+D", "duplicate the selection"),
    ("Ctrl+G / Ctrl+Shift+G", "group the selection into a subpatch / ungroup the selected subpatch"),
    ("double click a subpatch", "open it (the bar above the canvas goes back)"),
    ("double click a comment", "edit it (Edit > Add Comment adds one)"),
    ("Delete, Backspace", "delete the selected nodes and links"),
    ("Ctrl+A", "select everything"),
    ("Ctrl+L", "arrange the nodes, signal flowing left to right"),
    ("Ctrl+M", "measure the selection (a node, a chain, or nothing: the whole patch)"),
    ("Ctrl+N / Ctrl+O", "new / open"),
    ("Ctrl+S / Ctrl+Shift+S", "save / save as"),
    ("Space", "play / stop"),
    ("Ctrl+wheel, Ctrl+plus / minus", "zoom about the mouse"),
    ("Ctrl+0", "fit the patch to the canvas"),
    ("F1", "help on the selected node"),
    ("F2", "rename the selected node"),
    ("F3", "CPU meters: each node's share of the engine's time, in its title"),
    ("right click on a node", "help, rename, duplicate, delete, disconnect all"),
    ("right click on a number param", "MIDI learn (then move a control; Esc cancels), forget its mapping"),
    ("Ctrl+Q", "quit"),
    ("drag a cable off an input", "disconnect it (or Ctrl+drag its end, or click it, then Delete)"),
    ("Shift+drag a slider", "move it ten times slower"),
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


def drawn_key(node: NodeData) -> str:
    """What a drawn node shows that only a new widget can change: its type, and a subpatch's
    ports (an inlet added inside it is a new pin outside)."""
    if node.inner is None:
        return node.type
    inputs, outputs, _params = node.inner.interface()
    return f"{node.type}:{node.file}:{','.join(inputs)}:{','.join(outputs)}"


def _free(tag: str) -> None:
    if dpg.does_item_exist(tag):
        dpg.delete_item(tag)
    if dpg.does_alias_exist(tag):
        dpg.remove_alias(tag)


def _printf_literal(text: str) -> str:
    """Text for a widget's printf-style format that shows as it is."""
    return text.replace("%", "%%")


class EditorView:
    """Builds the window for a model and keeps it in step, one frame at a time."""

    def __init__(
        self,
        model: EditorModel,
        width: int | None = None,
        height: int | None = None,
        position: tuple[int, int] | None = None,
        ui_scale: float | None = None,
    ) -> None:
        self.model = model
        if width is None or height is None:  # sized to the screen, as a document window is
            (width, height), position = window_for_screen(screen_size())
        self.width, self.height = width, height
        self.position = position or (0, 0)
        remembered = model.preferences.get("ui_scale", 1.0)
        self.camera = Camera(ui_scale=clamp_ui_scale(ui_scale if ui_scale is not None else remembered))
        self._fonts: dict[int, int] = {}
        self.browser_shown = bool(model.preferences.get("browser", self.width >= BROWSER_FROM_WIDTH))
        self._node_themes: dict[tuple[str, float, bool], int] = {}
        #: A newly opened patch is fitted to the canvas once it has been drawn.
        self._fitted_patch: Any = None
        # Caches of what is drawn (never consulted as the truth about the patch):
        self._drawn_version = -1
        self._drawn_nodes: dict[str, str] = {}
        self._drawn_links: set[Link] = set()
        #: Grid positions last set on the widgets (a node dragged since is a move).
        self._pushed_positions: dict[str, tuple[float, float]] = {}
        self._drawn_selected: dict[str, bool] = {}
        self._picture_keys: dict[str, Any] = {}
        self._panel_key: Any = None
        self._panel_picture_key: Any = None
        self._canvas_selection: tuple[list[str], list[Link]] = ([], [])
        #: The patch the canvas's selection belongs to: a node of the same id in the next
        #: patch opened is not selected (it took over the panel from the one the user chose).
        self._selection_patch: Any = None
        self._drawn_recent: list[Path] | None = None
        self._palette_key: Any = None
        self._last_live = 0.0
        self._typing_widgets: set[int | str] = set()
        self._title = ""
        #: The message the status line shows (its count stops at STATUS_HISTORY: not a sign).
        self._status_shown: Any = None
        #: The open file dialog, which takes every key while it is shown.
        self.file_window: FileDialog | None = None
        self._drag_tag: Any = None  # the slider being dragged, and its drag
        self._drag = Drag()
        self._knobs_stale = False
        self._menu_node: str | None = None
        #: A press on a linked input's pin: (the input, where the mouse was); a release far
        #: from it, on no pin and with no link made, takes the cable off (as in VCV Rack).
        self._pin_press: tuple[PortRef, tuple[float, float]] | None = None
        self._linked_during_press = False
        self._renaming: str | None = None
        self._cpu_meters_drawn_at = 0.0
        self._cpu_labelled: set[str] = set()  # nodes whose title shows a share
        self.measure_window = MeasureWindow(self)
        self.composition = CompositionView(self)
        self.live_view = LiveView(self)
        #: The subpatch whose nodes are drawn (node ids from the top level).
        self._drawn_level: tuple[str, ...] = ()

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
        dpg.add_font_registry(tag="fonts")
        with dpg.window(tag="main", no_scrollbar=True):
            self._menus()
            with dpg.group(horizontal=True):
                with dpg.child_window(
                    tag="browser",
                    width=self.browser_width,
                    height=-self.bottom_height,
                    show=self.browser_shown,
                ):
                    self._browser()
                with dpg.child_window(tag="canvas_area", width=-self.panel_width, height=-self.bottom_height):
                    self.composition.build_breadcrumb()
                    dpg.add_node_editor(
                        tag="canvas",
                        callback=self.on_link,
                        delink_callback=self.on_delink,
                        minimap=False,  # View > Minimap: on, it covers the nodes beneath it
                        minimap_location=dpg.mvNodeMiniMap_Location_BottomRight,
                    )
                dpg.add_child_window(tag="panel", width=-1, height=-self.bottom_height)
            self._transport()
        self._apply_ui_scale()
        self._device_menu()
        self.live_view.look_for_ports()
        self._palette_window()
        self._dialogs()
        self.live_view.build_dialogs()
        self.composition.build_dialogs()
        self.measure_window.build()
        with dpg.handler_registry():
            dpg.add_key_press_handler(callback=self.on_key)
            dpg.add_mouse_release_handler(button=dpg.mvMouseButton_Left, callback=self.on_mouse_release)
            dpg.add_mouse_double_click_handler(button=dpg.mvMouseButton_Left, callback=self.on_double_click)
            dpg.add_mouse_wheel_handler(callback=self.on_wheel)
            dpg.add_mouse_click_handler(button=dpg.mvMouseButton_Right, callback=self.on_right_click)
            dpg.add_mouse_click_handler(button=dpg.mvMouseButton_Left, callback=self.on_left_press)
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

    # -- zoom and UI scale ------------------------------------------------------------------------
    @property
    def bottom_height(self) -> int:
        return round(BOTTOM_HEIGHT * self.camera.ui_scale)

    @property
    def browser_width(self) -> int:
        return round(LEFT_WIDTH * self.camera.ui_scale)

    @property
    def panel_width(self) -> int:
        return round(min(RIGHT_WIDTH * self.camera.ui_scale, self.width / 4))

    def show_browser(self, shown: bool) -> None:
        """View > Node Browser (the palette, Tab, adds nodes without it)."""
        self.browser_shown = shown
        self.model.remember_preference("browser", shown)
        dpg.configure_item("browser", show=shown)
        dpg.set_value("browser_item", shown)

    def font(self, size: float) -> int | None:
        """The UI's font at ``size`` pixels (loaded once per size; None: dearpygui's own)."""
        pixels = max(MIN_FONT_SIZE, round(size))
        if pixels not in self._fonts:
            path = font_file()
            if path is None:
                return None
            self._fonts[pixels] = dpg.add_font(str(path), pixels, parent="fonts")
        return self._fonts[pixels]

    def node_theme(self, family: str, selected: bool) -> int:
        """A node's colours and its padding and pins at the current zoom; a node the model
        selected (added, pasted) is outlined as the canvas outlines the ones clicked."""
        scale = self.camera.scale
        key = (family, scale, selected)
        if key not in self._node_themes:
            color = FAMILY_COLORS.get(family, (90, 90, 90))
            lighter = tuple(min(255, c + 40) for c in color)
            nodes = dpg.mvThemeCat_Nodes
            with dpg.theme() as theme, dpg.theme_component(dpg.mvAll):
                dpg.add_theme_color(dpg.mvNodeCol_TitleBar, color, category=nodes)
                dpg.add_theme_color(dpg.mvNodeCol_TitleBarHovered, lighter, category=nodes)
                dpg.add_theme_color(dpg.mvNodeCol_TitleBarSelected, lighter, category=nodes)
                if selected:
                    dpg.add_theme_color(dpg.mvNodeCol_NodeOutline, (255, 255, 255), category=nodes)
                    dpg.add_theme_style(dpg.mvNodeStyleVar_NodeBorderThickness, 2 * scale, category=nodes)
                padding = (NODE_PADDING[0] * scale, NODE_PADDING[1] * scale)
                dpg.add_theme_style(dpg.mvNodeStyleVar_NodePadding, *padding, category=nodes)
                dpg.add_theme_style(dpg.mvNodeStyleVar_PinCircleRadius, PIN_RADIUS * scale, category=nodes)
                dpg.add_theme_style(dpg.mvStyleVar_ItemSpacing, 8 * scale, 4 * scale)
            self._node_themes[key] = theme
        return self._node_themes[key]

    def _apply_ui_scale(self) -> None:
        """Fonts, panels and the canvas's grid at the current UI scale."""
        ui = self.camera.ui_scale
        font = self.font(BASE_FONT_SIZE * ui)
        if font is not None:
            dpg.bind_font(font)
        dpg.configure_item("browser", width=self.browser_width, height=-self.bottom_height)
        dpg.configure_item("canvas_area", width=-self.panel_width, height=-self.bottom_height)
        dpg.configure_item("panel", height=-self.bottom_height)
        self._size_transport()
        self._apply_zoom()
        self._panel_key = None  # rebuilt at the new size

    def _apply_zoom(self) -> None:
        """Redraw the canvas at the camera's scale: every node is made again at its size."""
        scale = self.camera.scale
        nodes = dpg.mvThemeCat_Nodes
        with dpg.theme() as canvas_theme, dpg.theme_component(dpg.mvAll):
            dpg.add_theme_style(dpg.mvNodeStyleVar_GridSpacing, GRID_SPACING * scale, category=nodes)
            dpg.add_theme_style(dpg.mvNodeStyleVar_LinkThickness, LINK_THICKNESS * scale, category=nodes)
        old = dpg.get_item_theme("canvas") if dpg.does_item_exist("canvas") else None
        dpg.bind_item_theme("canvas", canvas_theme)
        if old:
            dpg.delete_item(old)
        for node_id in list(self._drawn_nodes):
            self._delete_node(node_id)
        self._canvas_selection = ([], [])  # the new widgets start unselected; the model keeps it
        self._drawn_version = -1

    def set_ui_scale(self, scale: float) -> None:
        """The menu's UI scale (remembered for the next session)."""
        self.camera.ui_scale = clamp_ui_scale(scale)
        self.model.remember_preference("ui_scale", self.camera.ui_scale)
        for choice in UI_SCALES:
            dpg.set_value(f"ui_scale:{choice:g}", choice == self.camera.ui_scale)
        self._apply_ui_scale()
        self._fitted_patch = None  # fit again at the new size

    def zoom(self, steps: int, about: tuple[float, float] | None = None) -> None:
        """Zoom in or out by steps about a screen point (the canvas's middle by default)."""
        origin = self.canvas_origin()
        if about is None:
            left, top, right, bottom = self.visible_canvas()
            grid = ((left + right) / 2, (top + bottom) / 2)
        else:
            grid = (about[0] - origin[0], about[1] - origin[1])
        if self.camera.step(grid, steps):
            self._apply_zoom()
            self.model.say(f"zoom {self.camera.zoom:.0%}")

    def fit(self) -> None:
        """Ctrl+0: the whole patch in view, as large as fits (at most its own size)."""
        boxes: list[Box] = []
        for node in self.model.patch.nodes.values():
            width, height = node_size(node)
            boxes.append(
                (node.position[0], node.position[1], node.position[0] + width, node.position[1] + height)
            )
        bounds = bounding_box(boxes)
        if bounds is None:
            return
        self.camera.fit(bounds, self.visible_canvas())
        self._apply_zoom()

    def visible_canvas(self) -> Box:
        """The part of the node editor's grid in view: (left, top, right, bottom). (The node
        editor reports no size of its own: it fills the child window around it.)"""
        origin = self.canvas_origin()
        x, y = dpg.get_item_pos("canvas_area")
        width, height = dpg.get_item_rect_size("canvas_area") or (0, 0)
        if not width or not height:
            width, height = self.width * 0.6, self.height * 0.8
        inset = 8.0  # the child window's padding
        left, top = x + inset - origin[0], y + inset - origin[1]
        return (left, top, left + width - 2 * inset, top + height - 2 * inset)

    def on_wheel(self, _sender: Any, delta: Any) -> None:
        if dpg.is_key_down(dpg.mvKey_ModCtrl) and self.canvas_hovered() and delta:
            self.zoom(1 if delta > 0 else -1, about=tuple(dpg.get_mouse_pos(local=False)))

    def _menus(self) -> None:
        with dpg.menu_bar():
            with dpg.menu(label="File"):
                dpg.add_menu_item(label="New", shortcut="Ctrl+N", callback=lambda: self.perform("new"))
                dpg.add_menu_item(label="Open...", shortcut="Ctrl+O", callback=lambda: self.perform("open"))
                dpg.add_menu(label="Open Recent", tag="recent_menu")
                with dpg.menu(label="Examples", tag="examples_menu"):
                    for path in self.model.example_patches():
                        teaches = example_summary(path)
                        item = dpg.add_menu_item(
                            label=f"{path.stem:<14} {teaches}", callback=self._open_callback(path)
                        )
                        with dpg.tooltip(item):
                            dpg.add_text(example_description(path), wrap=480)
                    if not self.model.example_patches():
                        dpg.add_menu_item(label="(no examples found)", enabled=False)
                dpg.add_separator()
                dpg.add_menu_item(label="Save", shortcut="Ctrl+S", callback=lambda: self.perform("save"))
                dpg.add_menu_item(
                    label="Save As...", shortcut="Ctrl+Shift+S", callback=lambda: self.perform("save_as")
                )
                dpg.add_separator()
                dpg.add_menu_item(label="Render to File...", callback=lambda: self.perform("render"))
                dpg.add_menu_item(
                    label="Record...", tag="record_item", callback=lambda: self.perform("record")
                )
                dpg.add_separator()
                dpg.add_menu_item(label="Quit", shortcut="Ctrl+Q", callback=lambda: self.perform("quit"))
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
                    ("Add Comment...", "add_comment", ""),
                    ("Group into Subpatch", "group", "Ctrl+G"),
                    ("Ungroup Subpatch", "ungroup", "Ctrl+Shift+G"),
                    ("Save Abstraction", "save_abstraction", ""),
                ):
                    dpg.add_menu_item(label=label, shortcut=shortcut, callback=self._action_callback(action))
            with dpg.menu(label="View", tag="view_menu"):
                dpg.add_menu_item(
                    label="Zoom In", shortcut="Ctrl+Plus", callback=lambda: self.perform("zoom_in")
                )
                dpg.add_menu_item(
                    label="Zoom Out", shortcut="Ctrl+Minus", callback=lambda: self.perform("zoom_out")
                )
                dpg.add_menu_item(label="Fit Patch", shortcut="Ctrl+0", callback=lambda: self.perform("fit"))
                dpg.add_menu_item(
                    label="Node Browser",
                    tag="browser_item",
                    check=True,
                    default_value=self.browser_shown,
                    callback=lambda _s, shown, *_r: self.show_browser(shown),
                )
                dpg.add_menu_item(
                    label="Minimap",
                    tag="minimap_item",
                    check=True,
                    callback=lambda _s, shown, *_r: dpg.configure_item("canvas", minimap=shown),
                )
                dpg.add_menu_item(
                    label="CPU Meters",
                    tag="cpu_meters_item",
                    shortcut="F3",
                    check=True,
                    callback=lambda *_a: self.perform("cpu_meters"),
                )
                with dpg.menu(label="UI Scale", tag="ui_scale_menu"):
                    for scale in UI_SCALES:
                        dpg.add_menu_item(
                            label=f"{scale:g}x",
                            tag=f"ui_scale:{scale:g}",
                            check=True,
                            default_value=scale == self.camera.ui_scale,
                            callback=lambda *_a, scale=scale: self.set_ui_scale(scale),
                        )
            with dpg.menu(label="Analyze"):
                dpg.add_menu_item(
                    label="Measure Selection", shortcut="Ctrl+M", callback=lambda: self.perform("measure")
                )
                dpg.add_menu_item(label="Capture IR", callback=lambda: self.perform("capture"))
                dpg.add_menu_item(
                    label="Capture IR beside (A/B)", callback=lambda: self.perform("capture_beside")
                )
            with dpg.menu(label="Transport"):
                dpg.add_menu_item(
                    label="Play / Stop", shortcut="Space", callback=lambda: self.perform("play")
                )
                dpg.add_menu(label="Audio Device", tag="device_menu")
                self.live_view.build_menus()
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
        """Play, the master level, the engine's load and underruns, and the output meters, each
        with its own label and space between them, so that they read as separate things."""
        with dpg.group(horizontal=True, tag="transport"):
            dpg.add_button(label="Play", tag="play_button", callback=lambda: self.perform("play"))
            dpg.add_spacer(tag="transport_gap1")
            dpg.add_text("master", color=(160, 160, 160))
            dpg.add_slider_float(
                tag="master_level",
                min_value=-60.0,
                max_value=12.0,
                format="%.1f dB",
                callback=lambda _sender, value, *_rest: self.model.set_master_level(value),
            )
            with dpg.tooltip("master_level"):
                dpg.add_text("The output node's level_db (every output node): saved and undoable.")
            dpg.add_spacer(tag="transport_gap2")
            dpg.add_text("CPU  --", tag="cpu_text")
            with dpg.tooltip("cpu_text"):
                dpg.add_text("The engine's share of each block's time (100 %: it cannot keep up).")
            self._cpu_total_text()
            dpg.add_spacer(tag="transport_gap3")
            dpg.add_text("underruns 0", tag="underrun_text")
            with dpg.tooltip("underrun_text"):
                dpg.add_text("Blocks the sound card asked for before the engine had them ready.")
            dpg.add_spacer(tag="transport_gap4")
            with dpg.group():
                dpg.add_progress_bar(tag="meter_left", overlay="L")
                dpg.add_progress_bar(tag="meter_right", overlay="R")
            dpg.add_spacer(tag="transport_gap5")
            self.composition.build_presets()
            dpg.add_text("", tag="record_text", color=(255, 80, 80))
            with dpg.group(horizontal=True, tag="render_group", show=False):
                dpg.add_progress_bar(tag="render_progress", overlay="rendering")
                dpg.add_button(
                    label="Cancel", tag="render_cancel", callback=lambda: self.model.cancel_render()
                )
        dpg.add_text("", tag="status_text")
        with dpg.tooltip("status_text"):
            dpg.add_text("", tag="status_history")

    def _size_transport(self) -> None:
        ui = self.camera.ui_scale
        dpg.configure_item("play_button", width=round(70 * ui))
        dpg.configure_item("master_level", width=round(130 * ui))
        for gap in range(1, 6):
            dpg.configure_item(f"transport_gap{gap}", width=round(14 * ui))
        for side in ("left", "right"):
            dpg.configure_item(f"meter_{side}", width=round(220 * ui), height=round(BASE_FONT_SIZE * ui))
        dpg.configure_item("render_progress", width=round(200 * ui))

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
        with dpg.window(
            tag="node_menu",
            show=False,
            no_title_bar=True,
            no_resize=True,
            no_move=True,
            autosize=True,
            popup=True,
        ):
            for label, action in NODE_MENU:
                dpg.add_selectable(
                    label=label,
                    tag=f"node_menu:{action}",
                    callback=lambda _s, _a, u: self.node_menu_choice(u),
                )
        with dpg.window(tag="rename_dialog", label="Rename node", modal=True, show=False, no_resize=True):
            dpg.add_text("", tag="rename_text")
            rename = dpg.add_input_text(
                tag="rename_input", width=260, on_enter=True, callback=lambda *_a: self.finish_rename(True)
            )
            self._typing_widgets.add(rename)
            with dpg.group(horizontal=True):
                dpg.add_button(label="Rename", width=100, callback=lambda: self.finish_rename(True))
                dpg.add_button(label="Cancel", width=100, callback=lambda: self.finish_rename(False))
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
            "delete": self._delete,
            "select_all": model.select_all,
            "arrange": lambda: model.arrange(self.drawn_size),
            "play": lambda: model.toggle_play(wait=False),
            "quit": lambda: model.request("quit"),
            "palette": lambda: model.open_palette(self.mouse_canvas_position()),
            "shortcuts": self.show_shortcuts,
            "zoom_in": lambda: self.zoom(1, self._mouse_on_canvas()),
            "zoom_out": lambda: self.zoom(-1, self._mouse_on_canvas()),
            "fit": self.fit,
            "cpu_meters": self.toggle_cpu_meters,
            "measure": self.measure_window.open,
            "capture": lambda: model.measuring.capture(beside=False),
            "capture_beside": lambda: model.measuring.capture(beside=True),
            "group": model.group_selection,
            "ungroup": model.ungroup_selection,
            "add_comment": self.composition.ask_comment,
            "save_abstraction": model.save_abstraction,
        }
        if action in simple:
            simple[action]()
        elif action == "open":
            extensions = model.patch_extensions()
            self.file_dialog("Open patch", lambda path: model.request("open", path), extensions)
        elif action == "save":
            if not model.save():
                self.perform("save_as")
        elif action == "record":
            if model.recording is not None:
                model.stop_recording()
            else:
                self.file_dialog("Record into", model.start_recording, (".wav", ".flac"), save=True)
        elif action == "render":
            self.file_dialog("Render to file", model.start_render, (".wav", ".flac"), save=True)
        elif action == "save_as":
            extensions = model.patch_extensions()
            self.file_dialog("Save patch as", self.save_as_then_continue, extensions, save=True)
        elif action == "help":
            if model.focused_node:
                self.show_help(model.patch.nodes[model.focused_node].type)
        elif action == "rename":
            if model.focused_node in model.patch.nodes:
                self.ask_rename(model.focused_node)
        else:
            raise ValueError(f"unknown action {action!r}")

    def _delete(self) -> None:
        """Delete: the comments selected on the canvas, and the nodes and links selected."""
        comments = self.composition.delete_selected()
        if not comments or self.model.selected_nodes or self.model.selected_links:
            self.model.delete_selection()

    def on_right_click(self, *_args: Any) -> None:
        """Right click on a node: its menu at the mouse (the node is selected first); on a
        number param's widget: MIDI learn and its mapping."""
        if self.live_view.on_right_click():
            return
        if not self.canvas_hovered():
            return
        hovered = [node_id for node_id in self._drawn_nodes if dpg.is_item_hovered(node_tag(node_id))]
        if not hovered or hovered[-1] not in self.model.patch.nodes:
            return
        node_id = hovered[-1]
        self._menu_node = node_id
        if node_id not in self.model.selected_nodes:
            self.model.select([node_id])
        mouse = dpg.get_mouse_pos(local=False)
        for _label, action in NODE_MENU:
            dpg.set_value(f"node_menu:{action}", False)
            dpg.set_item_user_data(f"node_menu:{action}", action)
        dpg.configure_item("node_menu", show=True, pos=[int(mouse[0]), int(mouse[1])])

    def node_menu_choice(self, action: str) -> None:
        dpg.configure_item("node_menu", show=False)
        node_id = self._menu_node
        if node_id not in self.model.patch.nodes:
            return
        if action == "help":
            self.show_help(self.model.patch.nodes[node_id].type)
        elif action == "rename":
            self.ask_rename(node_id)
        elif action == "duplicate":
            self.model.select([node_id])
            self.model.duplicate()
        elif action == "delete":
            self.model.select([node_id])
            self.model.delete_selection()
        elif action == "disconnect":
            self.model.disconnect_all(node_id)
        elif action == "measure":
            self.model.select([node_id])
            self.measure_window.open()
        else:
            self._subpatch_menu_choice(action, node_id)

    def _subpatch_menu_choice(self, action: str, node_id: str) -> None:
        model = self.model
        if action == "open_subpatch":
            model.open_subpatch(node_id)
        elif action == "ungroup":
            model.select([node_id])
            model.ungroup_selection()
        elif action == "save_as_abstraction":
            if model.patch.nodes[node_id].inner is None:
                model.say(f"{node_id!r} is not a subpatch", "warning")
                return
            self.file_dialog(
                "Save subpatch as abstraction",
                lambda path: model.save_as_abstraction(node_id, path),
                (".json",),
                save=True,
                selected=f"{node_id}.json",
            )

    def ask_rename(self, node_id: str) -> None:
        self._renaming = node_id
        dpg.set_value("rename_text", f"New id for {node_id} ({self.model.patch.nodes[node_id].type}):")
        dpg.set_value("rename_input", node_id)
        dpg.configure_item("rename_dialog", show=True, pos=[self.width // 2 - 150, self.height // 2 - 60])
        dpg.focus_item("rename_input")

    def finish_rename(self, rename: bool) -> None:
        dpg.configure_item("rename_dialog", show=False)
        node_id, self._renaming = self._renaming, None
        if rename and node_id is not None:
            self.model.rename_node(node_id, dpg.get_value("rename_input"))

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
        self._linked_during_press = True
        self.model.connect(first, second)
        self._drawn_version = -1  # dearpygui may have drawn a refused link: redraw from the model

    def on_delink(self, _sender: Any, app_data: Any) -> None:
        """A link dragged off its pin."""
        link = parse_link(_alias(app_data))
        if link is not None and link in self.model.patch.links:
            self.model.disconnect(str(link.source), str(link.target))

    def on_mouse_release(self, *_args: Any) -> None:
        if self._drag_tag is not None:  # a slider let go: its knob goes to the value set
            self._drag_tag = None  # (a Shift-drag's is not under the mouse)
            self._knobs_stale = True
        moved = self.commit_moves()
        moved |= self.composition.commit_moves()
        press, self._pin_press = self._pin_press, None
        if press is not None and not moved and not self._linked_during_press:
            self._drop_cable(*press)

    def on_left_press(self, *_args: Any) -> None:
        """Remember a press on an input pin that has a cable (see :meth:`_drop_cable`)."""
        self._pin_press, self._linked_during_press = None, False
        if not self.canvas_hovered() or dpg.is_key_down(dpg.mvKey_ModCtrl):
            return  # Ctrl+drag is the node editor's own detach
        mouse = tuple(dpg.get_mouse_pos(local=False))
        pin = self.input_pin_at(mouse)
        if pin is not None and any(link.target == pin for link in self.model.patch.links):
            self._pin_press = (pin, mouse)

    def _drop_cable(self, pin: PortRef, pressed_at: tuple[float, float]) -> None:
        """A drag from a linked input let go away from it and on no pin: its last cable goes
        (VCV Rack's pick-up-and-drop; dearpygui's node editor only detaches with Ctrl)."""
        mouse = dpg.get_mouse_pos(local=False)
        far = math.dist(mouse, pressed_at) > DETACH_DISTANCE * self.camera.scale
        if not far or self.pin_at(tuple(mouse)) is not None:
            return
        cables = [link for link in self.model.patch.links if link.target == pin]
        if cables:
            self.model.disconnect(str(cables[-1].source), str(cables[-1].target))

    def input_pin_at(self, point: tuple[float, float]) -> PortRef | None:
        found = self.pin_at(point)
        return found[1] if found is not None and found[0] == "in" else None

    def pin_at(self, point: tuple[float, float]) -> tuple[str, PortRef] | None:
        """The pin whose circle is at ``point`` (screen pixels): ("in" or "out", its port)."""
        reach = (PIN_RADIUS + 4.0) * self.camera.scale
        for node_id in self._drawn_nodes:
            node = self.model.patch.nodes.get(node_id)
            tag = node_tag(node_id)
            if node is None or not dpg.does_item_exist(tag):
                continue
            left, top = dpg.get_item_rect_min(tag)
            width, height = dpg.get_item_rect_size(tag)
            if not (top <= point[1] <= top + height):
                continue
            sides = (("in", node.spec.input_ports(), left), ("out", node.spec.OUTPUTS, left + width))
            for direction, ports, edge in sides:
                if abs(point[0] - edge) > reach:
                    continue
                for port in ports:
                    centre = self._pin_centre_y(node_id, port, direction)
                    if centre is not None and abs(point[1] - centre) <= reach + 2:
                        return direction, PortRef(node_id, port)
        return None

    @staticmethod
    def _pin_centre_y(node_id: str, port: str, direction: str) -> float | None:
        tag = pin_tag(node_id, port, direction)
        if not dpg.does_item_exist(tag):
            return None
        children = dpg.get_item_children(tag, 1)
        if not children:
            return None
        y = dpg.get_item_rect_min(children[0])[1]
        return y + dpg.get_item_rect_size(children[0])[1] / 2

    def commit_moves(self) -> bool:
        """Nodes dragged on the canvas: record where they ended up as one undoable move; True
        when some were."""
        positions, grids = {}, {}
        for node_id in self._drawn_nodes:
            tag = node_tag(node_id)
            if dpg.does_item_exist(tag):
                x, y = dpg.get_item_pos(tag)
                if (float(x), float(y)) != self._pushed_positions.get(node_id):
                    grids[node_id] = (float(x), float(y))
                    positions[node_id] = self.camera.to_patch(grids[node_id])
        if positions and self.model.move_nodes(positions):
            self._pushed_positions.update(grids)
        return bool(positions)

    def on_double_click(self, *_args: Any) -> None:
        """On a subpatch: open it; on a comment: edit it; on the empty canvas: the palette."""
        if not self.canvas_hovered():
            return
        hovered = [node_id for node_id in self._drawn_nodes if dpg.is_item_hovered(node_tag(node_id))]
        comment = self.composition.hovered_comment()
        if hovered:
            node = self.model.patch.nodes.get(hovered[-1])
            if node is not None and node.inner is not None:
                self.model.open_subpatch(node.id)
        elif comment is not None:
            self.composition.ask_comment(comment)
        else:
            self.model.open_palette(self.mouse_canvas_position())

    def on_key(self, _sender: Any, key: int) -> None:
        ctrl = dpg.is_key_down(dpg.mvKey_ModCtrl)
        shift = dpg.is_key_down(dpg.mvKey_ModShift)
        model = self.model
        if self.file_window is not None:
            self.file_window.key(key, ctrl, shift)
            return
        if model.palette is not None:
            self.palette_key(key)
            return
        if dpg.is_item_shown("rename_dialog"):
            if key == dpg.mvKey_Escape:
                self.finish_rename(False)
            return
        if self.composition.dialog_shown():
            if key == dpg.mvKey_Escape:
                self.composition.escape()
            return
        if dpg.is_item_shown("outside_dialog"):
            if key == dpg.mvKey_Escape:
                self.on_outside_files(False)
            return
        if dpg.is_item_shown("confirm_dialog") or dpg.is_item_shown("recover_dialog"):
            if key == dpg.mvKey_Escape and model.pending is not None:
                self.on_confirm("cancel")
            return
        if self.live_view.key(key):
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
                dpg.mvKey_G: "ungroup" if shift else "group",
                dpg.mvKey_A: "select_all",
                dpg.mvKey_L: "arrange",
                dpg.mvKey_M: "measure",
                dpg.mvKey_N: "new",
                dpg.mvKey_O: "open",
                dpg.mvKey_Q: "quit",
                dpg.mvKey_S: "save_as" if shift else "save",
                EQUAL_KEY: "zoom_in",  # the = / + key
                dpg.mvKey_Add: "zoom_in",
                dpg.mvKey_Minus: "zoom_out",
                dpg.mvKey_Subtract: "zoom_out",
                dpg.mvKey_0: "fit",
                dpg.mvKey_NumPad0: "fit",
            }
            return with_ctrl.get(key)
        plain = {
            dpg.mvKey_Delete: "delete",
            dpg.mvKey_Back: "delete",
            dpg.mvKey_Spacebar: "play",
            dpg.mvKey_Tab: "palette",
            dpg.mvKey_F1: "help",
            dpg.mvKey_F2: "rename",
            dpg.mvKey_F3: "cpu_meters",
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
                self.model.patch_extensions(),
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
        if holds == "slider":  # a position on the slider's scale; Shift-drag moves it finely
            if self._drag_tag != sender:
                self._drag_tag, self._drag = sender, Drag()
            current = to_slider(param, self.model.patch.nodes[node_id].params[name])
            position = self._drag.position(float(app_data), current, dpg.is_key_down(dpg.mvKey_ModShift))
            value = from_slider(param, position)
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
        """Browse... beside a file param: the picker starts where the current file is, else in
        the patch's folder (what the param's path is relative to), never the working folder."""

        def chosen(path: Path) -> None:
            self.model.set_param(node_id, name, self.model.file_param_value(path))

        model = self.model
        current = str(model.patch.nodes[node_id].params.get(name) or "")
        current_file = (Path(model.patch.base_dir) / current).resolve() if current else None
        if current_file is not None and current_file.parent.is_dir():
            folder, selected = current_file.parent, current_file.name
        else:
            folder, selected = self._patch_folder(), ""
        self.file_dialog(
            f"Choose {name} for {node_id}",
            chosen,
            AUDIO_EXTENSIONS,
            folder=folder,
            selected=selected,
        )

    def _patch_folder(self) -> Path:
        model = self.model
        return (model.path.parent if model.path else Path(model.patch.base_dir)).resolve()

    def file_dialog(
        self,
        title: str,
        chosen: Callable[[Path], Any],
        extensions: tuple[str, ...],
        save: bool = False,
        folder: Path | None = None,
        cancelled: Callable[[], Any] | None = None,
        selected: str = "",
        kind: str | None = None,
    ) -> FileDialog:
        """Our own modal file dialog (``filedialog.py``): ``chosen(path)`` once a file is
        chosen, ``cancelled()`` if it is closed without one. Saving starts with the patch's
        name (``chorus.json``; ``chorus.wav`` for a recording) in the name field, selected, so
        typing replaces it. ``kind`` names the files of ``extensions`` in the filter menu."""
        if self.file_window is not None:
            self.file_window.cancel()
        model = self.model
        if kind is None:
            audio = set(extensions) <= set(AUDIO_EXTENSIONS)
            kind = "Patches" if ".json" in extensions else "Audio files" if audio else "Files"
        if save and not selected:
            selected = (model.path.stem if model.path else "untitled") + (extensions[:1] or ("",))[0]
        places = [("Patch folder", self._patch_folder()), ("Home", Path.home())]
        places.append(("Examples", model.examples_dir.resolve()))
        places = [(label, place) for label, place in places if place.is_dir()]
        chooser = FileChooser(
            "save" if save else "open",
            folder or self._patch_folder(),
            [FileFilter(kind, extensions)],
            places=places,
        )
        if selected and not chooser.highlight_name(selected):
            chooser.name = selected

        def closed() -> None:
            self._typing_widgets.difference_update(window.text_fields)
            self.file_window = None

        window = FileDialog(
            chooser,
            title,
            chosen,
            cancelled,
            closed,
            ui_scale=self.camera.ui_scale,
            viewport=(self.width, self.height),
        )
        self.file_window = window
        window.build()
        self._typing_widgets.update(window.text_fields)
        return window

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
        """Where the node editor's grid (0, 0) is on the screen, its panning included (measured
        on any node drawn: dearpygui reports a node's grid and screen positions, not the pan)."""
        for node_id in self._drawn_nodes:
            tag = node_tag(node_id)
            rect, size = dpg.get_item_rect_min(tag), dpg.get_item_rect_size(tag)
            if rect and size and size[0] > 0:
                x, y = dpg.get_item_pos(tag)
                return rect[0] - x, rect[1] - y
        x, y = dpg.get_item_pos("canvas_area")  # no node to measure: the unpanned grid's corner
        return float(x + 16), float(y + 16)

    def _mouse_on_canvas(self) -> tuple[float, float] | None:
        return tuple(dpg.get_mouse_pos(local=False)) if self.canvas_hovered() else None

    def mouse_canvas_position(self) -> tuple[float, float]:
        """The patch position under the mouse."""
        mouse = dpg.get_mouse_pos(local=False)
        origin = self.canvas_origin()
        return self.camera.to_patch((mouse[0] - origin[0], mouse[1] - origin[1]))

    def drawn_size(self, node: NodeData) -> Size:
        """The node's size in patch units as drawn on the canvas (estimated until drawn)."""
        tag = node_tag(node.id)
        drawn = dpg.get_item_rect_size(tag) if dpg.does_item_exist(tag) else None
        if drawn and min(drawn) > 0:
            return (float(drawn[0]) / self.camera.scale, float(drawn[1]) / self.camera.scale)
        return node_size(node)

    def free_canvas_position(self) -> tuple[float, float]:
        """A third into the visible canvas, moved down past any node it would cover."""
        left, top, right, bottom = self.visible_canvas()
        x, y = self.camera.to_patch((left + (right - left) / 3, top + (bottom - top) / 3))
        return (x, y)  # the model moves a new node down, clear of the others

    # -- keeping the widgets in step with the model ---------------------------------------------------
    def refresh(self) -> None:
        """Bring every widget up to date with the model, if it changed since the last frame."""
        model = self.model
        if model.patch is not self._selection_patch:  # another patch (or level): its own selection
            self._selection_patch = model.patch
            dpg.clear_selected_nodes("canvas")
            dpg.clear_selected_links("canvas")
            self._canvas_selection = ([], [])  # the canvas reports the old one until it draws
        else:
            self._read_canvas_selection()
        if self._fitted_patch is not model.patch and self._canvas_measured():
            self._fitted_patch = model.patch  # a patch just opened: show it whole
            self.fit()
        if self._knobs_stale and not any(dpg.is_item_active(item) for item in self._param_sliders()):
            self._knobs_stale = False
            self._drawn_version = -1
        if model.version != self._drawn_version:
            self._drawn_version = model.version
            self._follow_level()
            self._sync_nodes()
            self._sync_links()
            self._sync_panel()
            self._sync_palette()
            self._sync_dialogs()
            self._sync_menus()
            self.live_view.sync()
            self._sync_status()
            self._sync_pictures(live_only=False)
            self.composition.sync()
        title = model.title()
        if title != self._title:
            self._title = title
            dpg.set_viewport_title(title)
        label = "Stop" if model.playing else "Starting..." if model.play_pending else "Play"
        dpg.configure_item("play_button", label=label)
        level = model.master_level_db()
        if level is not None and not dpg.is_item_active("master_level"):
            dpg.set_value("master_level", level)

    def frame(self) -> None:
        """One frame: meters, live pictures, autosave, then draw."""
        meters = self.model.poll()
        self._show_meters(meters)
        self._show_render()
        self.measure_window.sync()
        self._sync_cpu_meters()
        now = time.monotonic()
        if now - self._last_live >= LIVE_PERIOD_S:
            self._last_live = now
            self._sync_pictures(live_only=True)
        self.model.autosave_if_due()
        self.refresh()
        dpg.render_dearpygui_frame()

    def _follow_level(self) -> None:
        """A subpatch opened or left: the canvas starts afresh with the other patch's nodes
        (ids may be the same in both, the nodes are not)."""
        level = tuple(self.model.opened)
        if level == self._drawn_level:
            return
        self._drawn_level = level
        for node_id in list(self._drawn_nodes):
            self._delete_node(node_id)
        self.composition.clear_comments()
        dpg.clear_selected_nodes("canvas")
        self._canvas_selection = ([], [])

    def _param_sliders(self) -> list[str]:
        node = self.model.patch.nodes.get(self.model.focused_node or "")
        names = node.spec.PARAMS if node is not None else {}
        return [f"param:{name}" for name in names if dpg.does_item_exist(f"param:{name}")]

    def _canvas_measured(self) -> bool:
        """True once the canvas and a node (if any) have been laid out by a frame."""
        size = dpg.get_item_rect_size("canvas_area")
        if not size or min(size) <= 32:  # the first frame lays windows out at 4 x 4
            return False
        return not self._drawn_nodes or any(
            (dpg.get_item_rect_size(node_tag(node_id)) or (0, 0))[0] > 0 for node_id in self._drawn_nodes
        )

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
            if node is None or drawn_key(node) != self._drawn_nodes[node_id]:
                self._delete_node(node_id)
        for node_id, node in patch.nodes.items():
            if node_id not in self._drawn_nodes:
                self._create_node(node_id)
            else:
                grid = self.camera.to_grid(node.position)
                if self._pushed_positions.get(node_id) != grid:
                    dpg.set_item_pos(node_tag(node_id), list(grid))
                    self._pushed_positions[node_id] = grid
                selected = node_id in self.model.selected_nodes
                if self._drawn_selected.get(node_id) != selected:
                    dpg.bind_item_theme(node_tag(node_id), self.node_theme(node.spec.FAMILY, selected))
                    self._drawn_selected[node_id] = selected

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
        self._drawn_selected.pop(node_id, None)
        self._pushed_positions.pop(node_id, None)
        self._picture_keys.pop(node_id, None)

    def _create_node(self, node_id: str) -> None:
        node = self.model.patch.nodes[node_id]
        cls = node.spec
        tag = node_tag(node_id)
        _free(tag)
        scale = self.camera.scale
        grid = self.camera.to_grid(node.position)
        with dpg.node(label=node_id, tag=tag, parent="canvas", pos=list(grid)):
            with dpg.node_attribute(attribute_type=dpg.mvNode_Attr_Static):
                dpg.add_text(node.label, color=(170, 170, 170))
                if has_picture(node.type):
                    picture = self._picture_for(node_id)
                    for index in range(len(picture.plots) if picture else 1):
                        _free(f"draw:{node_id}:{index}")
                        dpg.add_drawlist(*self.node_picture_size, tag=f"draw:{node_id}:{index}")
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
                    indent = (NODE_PICTURE[0] - CHAR_WIDTH * len(port) - 10) * scale
                    dpg.add_text(port, indent=max(0, round(indent)))
        selected = node_id in self.model.selected_nodes
        dpg.bind_item_theme(tag, self.node_theme(cls.FAMILY, selected))
        font = self.font(BASE_FONT_SIZE * scale)
        if font is not None:
            dpg.bind_item_font(tag, font)
        self._drawn_nodes[node_id] = drawn_key(node)
        self._drawn_selected[node_id] = selected
        self._pushed_positions[node_id] = grid
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
        unpinned = set()
        for link in wanted - self._drawn_links:
            tag = link_tag(link)
            _free(tag)
            source = pin_tag(link.source.node, link.source.port, "out")
            target = pin_tag(link.target.node, link.target.port, "in")
            if not (dpg.does_item_exist(source) and dpg.does_item_exist(target)):
                unpinned.add(link)  # a port gone from a subpatch (the model refuses that): no crash
                continue
            dpg.add_node_link(source, target, parent="canvas", tag=tag)
        self._drawn_links = wanted - unpinned

    # -- the param panel, generated from the spec ---------------------------------------------------
    def _sync_panel(self) -> None:
        model = self.model
        node_id = model.focused_node
        node = model.patch.nodes.get(node_id) if node_id else None
        key: Any = (node_id, node.type if node else None, self.live_view.panel_key(node_id or ""))
        if node is None:  # the patch's own panel: another patch, or its text or settings changed
            patch = model.root
            key = (None, id(patch), patch.description, patch.settings)
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
            self._patch_panel()
            return
        node = self.model.patch.nodes[node_id]
        cls = node.spec
        with dpg.group(parent="panel"):
            with dpg.group(horizontal=True):
                dpg.add_text(node_id, color=(255, 255, 255))
                dpg.add_text(f"{cls.TYPE} ({cls.FAMILY})", color=(160, 160, 160))
                dpg.add_button(label="?", callback=self._help_callback(cls.TYPE))
            dpg.add_text(
                cls.DOC, wrap=self.panel_width - round(30 * self.camera.ui_scale), color=(180, 180, 180)
            )
            if has_picture(node.type):
                picture = self._picture_for(node_id)
                for index in range(len(picture.plots) if picture else 1):
                    dpg.add_drawlist(*self.panel_picture_size, tag=f"panel_draw:{index}")
            dpg.add_separator()
            for name, param in cls.PARAMS.items():
                self._param_widget(node_id, name, param, node.params[name])
        self._sync_pictures(live_only=False)

    def _patch_panel(self) -> None:
        """With no node selected: the patch itself, what it is for and how it runs."""
        patch = self.model.root  # the document's: its settings hold inside a subpatch too
        wrap = self.panel_width - round(30 * self.camera.ui_scale)
        with dpg.group(parent="panel"):
            dpg.add_text("This patch", color=(255, 255, 255))
            dpg.add_text(patch.description or "(no description yet)", tag="patch:description_text", wrap=wrap)
            dpg.add_button(
                label="Edit description...",
                tag="patch:edit_description",
                callback=lambda *_a: dpg.configure_item("patch:description", show=True),
            )
            description = dpg.add_input_text(  # ImGui's text box does not wrap: shown to edit only
                tag="patch:description",
                default_value=patch.description,
                multiline=True,
                width=-1,
                height=round(120 * self.camera.ui_scale),
                show=False,
            )
            self._typing_widgets.add(description)
            with dpg.item_handler_registry() as handlers:
                dpg.add_item_deactivated_after_edit_handler(
                    callback=lambda *_a: self.model.set_patch_info(
                        description=dpg.get_value("patch:description")
                    )
                )
            dpg.bind_item_handler_registry(description, handlers)
            dpg.add_separator()
            settings = patch.settings
            dpg.add_combo(
                [str(rate) for rate in SAMPLE_RATES],
                tag="patch:sample_rate",
                label="sample rate (Hz)",
                default_value=str(settings.sample_rate),
                width=round(90 * self.camera.ui_scale),
                callback=lambda _s, value, *_r: self.model.set_patch_info(sample_rate=int(value)),
            )
            dpg.add_combo(
                [str(block) for block in BLOCK_SIZES],
                tag="patch:block_size",
                label="block (samples)",
                default_value=str(settings.block_size),
                width=round(90 * self.camera.ui_scale),
                callback=lambda _s, value, *_r: self.model.set_patch_info(block_size=int(value)),
            )
            duration = dpg.add_input_float(
                tag="patch:duration_s",
                label="render length (s)",
                default_value=settings.duration_s,
                step=0,
                format="%.3g",
                width=round(90 * self.camera.ui_scale),
                on_enter=True,
                callback=lambda _s, value, *_r: self.model.set_patch_info(duration_s=value),
            )
            self._typing_widgets.add(duration)
            dpg.add_separator()
            dpg.add_text(
                "Click a node to edit its params; Tab (or a double click) on the canvas opens the palette.",
                wrap=wrap,
                color=(150, 150, 150),
            )

    def _param_widget(self, node_id: str, name: str, param: Param, value: Any) -> None:
        tag = f"param:{name}"
        label = f"~{name}" if param.modulatable else name
        callback = self.on_param
        width = -110
        note = self.live_view.note(node_id, name)  # its MIDI/OSC mapping, or that it learns one
        if param.kind == "float":
            unit = f" ({param.unit})" if param.unit else ""
            color = (170, 190, 230) if param.modulatable else (190, 190, 190)
            dpg.add_text(
                f"{label}{unit}{note}",
                tag=f"{tag}:label",
                color=self.live_view.note_color(node_id, name) or color,
            )
            with dpg.group(horizontal=True):
                low, high = slider_range(param)
                dpg.add_slider_float(
                    tag=tag,
                    width=-80,
                    min_value=low,
                    max_value=high,
                    default_value=to_slider(param, value),
                    format=_printf_literal(self._number_text(value, param)),
                    callback=callback,
                    user_data=(node_id, name, "slider"),
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
                    label=label + note,
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
                    label=label + note,
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
                dpg.add_button(
                    label="Browse...",
                    callback=lambda *_a: self.choose_file_param(node_id, name),
                    tag=f"{tag}:browse",
                )
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
            scale = {"log": ", log scale", "symlog": ", log scale both ways from 0"}.get(param.scale, "")
            dpg.add_text(f"{name}: {param.describe_range()}{unit}{scale}", color=(255, 255, 255))
            dpg.add_text(param.doc, wrap=360)
            if param.modulatable:
                dpg.add_text("~ modulatable: link a signal to the port of this name; it adds to this value.")
            if param.kind in MAPPABLE_KINDS:
                mapped = note.strip(" []") or "no MIDI or OSC mapping"
                dpg.add_text(f"{mapped}: right click for MIDI learn", color=(150, 150, 150))

    @staticmethod
    def _number_text(value: float, param: Param) -> str:
        unit = f" {param.unit}" if param.unit else ""
        if param.unit == "Hz" and value >= 1000:
            return f"{value / 1000:.4g} kHz"
        return f"{value:.4g}{unit}"

    def _show_param_value(self, node_id: str, name: str, param: Param, value: Any) -> None:
        """The param's widgets show ``value``: while a slider is dragged, its text and the
        number box beside it follow what plays (the knob stays under the mouse)."""
        tag = f"param:{name}"
        if not dpg.does_item_exist(tag):
            return
        active = dpg.is_item_active(tag)
        if param.kind == "float":
            dpg.configure_item(tag, format=_printf_literal(self._number_text(value, param)))
            if not active:
                dpg.set_value(tag, to_slider(param, value))
            if not dpg.is_item_active(f"{tag}:typed"):
                dpg.set_value(f"{tag}:typed", value)
            return
        if active:
            return
        elif param.kind == "table":
            dpg.set_value(tag, ", ".join(f"{number:g}" for number in value))
        else:
            dpg.set_value(tag, value)

    # -- pictures ------------------------------------------------------------------------------------
    @property
    def node_picture_size(self) -> tuple[int, int]:
        scale = self.camera.scale
        return max(1, round(NODE_PICTURE[0] * scale)), max(1, round(NODE_PICTURE[1] * scale))

    @property
    def panel_picture_size(self) -> tuple[int, int]:
        scale = self.panel_picture_scale
        return round(PANEL_PICTURE[0] * scale), round(PANEL_PICTURE[1] * scale)

    @property
    def panel_picture_scale(self) -> float:
        """The UI scale, less where the panel is narrower than the picture (a small screen)."""
        room = self.panel_width - 24 * self.camera.ui_scale
        return min(self.camera.ui_scale, room / PANEL_PICTURE[0])

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
                self._draw_plot(f"draw:{node_id}:{index}", plot, *NODE_PICTURE, self.camera.scale)
            if in_panel:
                self._panel_picture_key = (node_id, key)
                for index, plot in enumerate(picture.plots):
                    self._draw_plot(f"panel_draw:{index}", plot, *PANEL_PICTURE, self.panel_picture_scale)

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
        # Where each would really read, whole (start and end kept): a long path could hide
        # its way out of the folder past any cut.
        folder = question.path.parent
        listed = [
            f"  {excerpt(node_id, 40)}.{name}: {excerpt(os.path.abspath(folder / value), PATH_LIMIT)}"
            for node_id, name, value in question.files[:8]
        ]
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

    def _device_menu(self) -> None:
        """Transport > Audio Device: the system's default and every device that can play (read
        again when the menu is rebuilt, so a card plugged in since shows up)."""
        from patcher.player import output_devices

        dpg.delete_item("device_menu", children_only=True)
        chosen = self.model.audio_device
        choices: list[str | None] = [None, *output_devices()]
        for device in choices:
            dpg.add_menu_item(
                label=device or "System default",
                parent="device_menu",
                check=True,
                default_value=device == chosen,
                callback=lambda *_a, device=device: self._choose_device(device),
            )
        dpg.add_separator(parent="device_menu")
        dpg.add_menu_item(label="Look again", parent="device_menu", callback=lambda: self._device_menu())

    def _choose_device(self, device: str | None) -> None:
        self.model.set_audio_device(device)
        self._device_menu()

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
        if messages and messages[-1] is self._status_shown:
            return
        self._status_shown = messages[-1] if messages else None
        status = self.model.status
        first_line = status.text.splitlines()[0] if status.text else ""
        more = " (hover for more)" if "\n" in status.text else ""
        dpg.set_value("status_text", first_line + more)
        dpg.configure_item("status_text", color=LEVEL_COLORS.get(status.level, LEVEL_COLORS["info"]))
        dpg.set_value("status_history", "\n".join(f"[{m.level}] {m.text}" for m in messages[-12:]))

    def _show_render(self) -> None:
        recording = self.model.recording
        text = f"REC {self.model.recorded_seconds:.0f} s" if recording is not None else ""
        if dpg.get_value("record_text") != text:
            dpg.set_value("record_text", text)
            dpg.configure_item("record_item", label="Stop Recording" if recording else "Record...")
        job = self.model.render_job
        dpg.configure_item("render_group", show=job is not None)
        if job is not None:
            dpg.set_value("render_progress", job.progress)
            dpg.configure_item("render_progress", overlay=f"rendering {job.path.name}  {job.progress:.0%}")

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

    # -- the per-node CPU meter (F3) -------------------------------------------------------------------
    @staticmethod
    def _cpu_total_text() -> None:
        """In the transport, beside CPU: the nodes' total, shown while the CPU meters are on."""
        dpg.add_text("(nodes --)", tag="cpu_nodes_text", show=False)
        with dpg.tooltip("cpu_nodes_text"):
            dpg.add_text(
                "CPU meters (F3): the running nodes' total share of the block, as measured around "
                "each node; each node's share is in its title. CPU also counts the output's "
                "protection and the audio callback itself."
            )

    def toggle_cpu_meters(self) -> None:
        """View > CPU Meters, F3: each node's share of the engine's time in its title."""
        on = self.model.toggle_cpu_meters()
        dpg.set_value("cpu_meters_item", on)
        self._cpu_meters_drawn_at = 0.0  # drawn (or cleared) at the next frame

    def _sync_cpu_meters(self) -> None:
        """At the meter rate, not every frame: each running node's share after its name, and
        the total in the transport; plain names again once the meters are off."""
        now = time.monotonic()
        showing = self.model.cpu_meters
        if (not showing and not self._cpu_labelled) or now - self._cpu_meters_drawn_at < CPU_METER_PERIOD_S:
            return
        self._cpu_meters_drawn_at = now
        loads = self.model.node_loads() if showing else {}
        for node_id in set(self._drawn_nodes) | self._cpu_labelled:
            tag = node_tag(node_id)
            if not dpg.does_item_exist(tag):
                continue
            share = loads.get(node_id)
            label = node_id if share is None else f"{node_id}  {100 * share:.1f}%"
            if dpg.get_item_label(tag) != label:
                dpg.configure_item(tag, label=label)
        self._cpu_labelled = set(loads)
        total = self.model.node_loads_total()
        dpg.configure_item("cpu_nodes_text", show=showing)
        dpg.set_value("cpu_nodes_text", "(nodes --)" if total is None else f"(nodes {100 * total:.1f}%)")

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


def screen_size() -> tuple[int, int] | None:
    """The X screen's size in pixels, or None where it cannot be asked (no X, not Linux)."""
    if not os.environ.get("DISPLAY"):
        return None
    try:
        xlib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
        xlib.XOpenDisplay.restype = ctypes.c_void_p
        xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        xlib.XDefaultScreen.argtypes = [ctypes.c_void_p]
        xlib.XDisplayWidth.argtypes = xlib.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
        xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
        display = xlib.XOpenDisplay(None)
        if not display:
            return None
        try:
            screen = xlib.XDefaultScreen(display)
            return int(xlib.XDisplayWidth(display, screen)), int(xlib.XDisplayHeight(display, screen))
        finally:
            xlib.XCloseDisplay(display)
    except (OSError, AttributeError):
        return None


def window_for_screen(screen: tuple[int, int] | None) -> tuple[tuple[int, int], tuple[int, int]]:
    """The window's size and position: the screen's, less room for a panel and a title bar."""
    if screen is None:
        return (WIDTH, HEIGHT), (60, 40)
    width, height = screen
    return (max(640, width - 16), max(480, height - 64)), (8, 32)


def example_description(path: Path) -> str:
    """An example patch's description (what it teaches), or nothing when it cannot be read."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    text = document.get("description", "") if isinstance(document, dict) else ""
    return text if isinstance(text, str) else ""


def example_summary(path: Path, limit: int = 60) -> str:
    """The description's first clause, short enough for a menu."""
    text = example_description(path).split(". ")[0].split(": ")[0].strip().rstrip(".")
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
