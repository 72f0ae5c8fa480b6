"""The editor's widgets for composing patches: the breadcrumb bar of an opened subpatch, the
comments on the canvas, and the preset bar in the transport.

Each widget ends in one call of the model (:mod:`patcher.editor.composition`); this module only
draws what the model holds. dearpygui's node editor holds nodes, not free text, so a comment is
a node without pins, drawn as a pale note: the canvas moves, zooms and selects it like a node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dearpygui.dearpygui as dpg

from patcher.editor.composition import DEFAULT_GLIDE_S
from patcher.editor.layout import BASE_FONT_SIZE
from patcher.editor.widgets import item_alias as _alias
from patcher.model import Comment

if TYPE_CHECKING:
    from patcher.editor.view import EditorView

COMMENT_PREFIX = "comment:"
#: A note's colours: pale paper, dark ink, so it never reads as a node.
NOTE_BACKGROUND = (236, 226, 160)
NOTE_TITLE = (214, 200, 120)
NOTE_INK = (40, 36, 20)
#: Widest a comment is drawn before its lines wrap, in patch units.
NOTE_WRAP = 320.0
#: How far above the patch's top a new comment goes, in patch units (a two-line note's height).
NEW_COMMENT_ABOVE = 90.0


def comment_tag(index: int) -> str:
    return f"{COMMENT_PREFIX}{index}"


class CompositionView:
    """Breadcrumb, comments and presets for an :class:`~patcher.editor.view.EditorView`."""

    def __init__(self, view: EditorView) -> None:
        self.view = view
        self.model = view.model
        self._drawn_comments: list[tuple[str, tuple[float, float]]] | None = None
        self._drawn_scale = 0.0
        self._pushed: dict[int, tuple[float, float]] = {}
        self._drawn_crumbs: list[str] | None = None
        self._drawn_presets: list[str] | None = None
        #: The comment being edited in the dialog (None: a new one, placed at ``_new_at``).
        self._editing: int | None = None
        self._new_at = (0.0, 0.0)
        self._note_theme: int | None = None

    # -- building ----------------------------------------------------------------------------
    def build_breadcrumb(self) -> None:
        """The bar above the canvas while a subpatch is open: the way back, one button a level."""
        dpg.add_group(horizontal=True, tag="breadcrumb", show=False)

    def build_presets(self) -> None:
        """The preset bar, in the transport: choose, recall (gliding), store, delete."""
        dpg.add_text("preset", color=(160, 160, 160))
        dpg.add_combo([], tag="preset_combo", width=120)
        dpg.add_button(label="Recall", tag="preset_recall", callback=lambda *_a: self.recall())
        dpg.add_text("glide", color=(160, 160, 160))
        glide = dpg.add_input_float(
            tag="preset_glide", default_value=DEFAULT_GLIDE_S, width=70, step=0, format="%.2f s"
        )
        self.view._typing_widgets.add(glide)
        dpg.add_button(label="Store...", tag="preset_store", callback=lambda *_a: self.ask_preset_name())
        dpg.add_button(label="Delete", tag="preset_delete", callback=lambda *_a: self.delete_preset())
        with dpg.tooltip("preset_combo"):
            dpg.add_text("Named snapshots of every knob and menu, saved with the patch.")

    def build_dialogs(self) -> None:
        with dpg.window(tag="comment_dialog", label="Comment", modal=True, show=False, no_resize=True):
            text = dpg.add_input_text(tag="comment_input", multiline=True, width=380, height=120)
            self.view._typing_widgets.add(text)
            with dpg.group(horizontal=True):
                dpg.add_button(label="OK", width=90, callback=lambda *_a: self.finish_comment(True))
                dpg.add_button(label="Delete", tag="comment_delete", width=90, callback=self.delete_edited)
                dpg.add_button(label="Cancel", width=90, callback=lambda *_a: self.finish_comment(False))
        with dpg.window(tag="preset_dialog", label="Store preset", modal=True, show=False, no_resize=True):
            dpg.add_text("Name (an existing one is replaced):")
            name = dpg.add_input_text(
                tag="preset_name", width=260, on_enter=True, callback=lambda *_a: self.finish_store(True)
            )
            self.view._typing_widgets.add(name)
            with dpg.group(horizontal=True):
                dpg.add_button(label="Store", width=100, callback=lambda *_a: self.finish_store(True))
                dpg.add_button(label="Cancel", width=100, callback=lambda *_a: self.finish_store(False))

    # -- keeping in step with the model -------------------------------------------------------------
    def sync(self) -> None:
        self._sync_breadcrumb()
        self._sync_comments()
        self._sync_presets()

    def _sync_breadcrumb(self) -> None:
        crumbs = self.model.breadcrumb()
        if crumbs == self._drawn_crumbs:
            return
        self._drawn_crumbs = crumbs
        dpg.delete_item("breadcrumb", children_only=True)
        for depth, name in enumerate(crumbs):
            if depth:
                dpg.add_text(">", parent="breadcrumb", color=(140, 140, 140))
            here = depth == len(crumbs) - 1
            dpg.add_button(
                label=name,
                tag=f"crumb:{depth}",
                parent="breadcrumb",
                enabled=not here,
                callback=lambda _s, _a, depth=depth: self.model.close_subpatch(depth),
            )
        found = self.model.opened_abstraction()
        if found is not None:
            dpg.add_button(
                label=f"Save Abstraction ({found[1].file})",
                tag="crumb:save_abstraction",
                parent="breadcrumb",
                callback=lambda *_a: self.model.save_abstraction(),
            )
        dpg.configure_item("breadcrumb", show=len(crumbs) > 1)

    def _sync_comments(self) -> None:
        comments = self.model.patch.comments
        wanted = [(comment.text, comment.position) for comment in comments]
        scale = self.view.camera.scale
        if wanted == self._drawn_comments and scale == self._drawn_scale:
            return
        self.clear_comments()
        for index, comment in enumerate(comments):
            self._draw_comment(index, comment)
        self._drawn_comments, self._drawn_scale = wanted, scale

    def clear_comments(self) -> None:
        for index in list(self._pushed):
            tag = comment_tag(index)
            if dpg.does_item_exist(tag):
                dpg.delete_item(tag)
            if dpg.does_alias_exist(tag):
                dpg.remove_alias(tag)
        self._pushed.clear()
        self._drawn_comments = None

    def _draw_comment(self, index: int, comment: Comment) -> None:
        camera = self.view.camera
        grid = camera.to_grid(comment.position)
        tag = comment_tag(index)
        with (
            dpg.node(label="note", tag=tag, parent="canvas", pos=list(grid)),
            dpg.node_attribute(attribute_type=dpg.mvNode_Attr_Static),
        ):
            dpg.add_text(comment.text, color=NOTE_INK, wrap=round(NOTE_WRAP * camera.scale))
        dpg.bind_item_theme(tag, self.note_theme())
        font = self.view.font(BASE_FONT_SIZE * camera.scale)
        if font is not None:
            dpg.bind_item_font(tag, font)
        self._pushed[index] = grid

    def note_theme(self) -> int:
        if self._note_theme is None:
            nodes = dpg.mvThemeCat_Nodes
            with dpg.theme() as theme, dpg.theme_component(dpg.mvAll):
                dpg.add_theme_color(dpg.mvNodeCol_NodeBackground, NOTE_BACKGROUND, category=nodes)
                dpg.add_theme_color(dpg.mvNodeCol_NodeBackgroundHovered, NOTE_BACKGROUND, category=nodes)
                dpg.add_theme_color(dpg.mvNodeCol_NodeBackgroundSelected, NOTE_BACKGROUND, category=nodes)
                for part in (
                    dpg.mvNodeCol_TitleBar,
                    dpg.mvNodeCol_TitleBarHovered,
                    dpg.mvNodeCol_TitleBarSelected,
                ):
                    dpg.add_theme_color(part, NOTE_TITLE, category=nodes)
                dpg.add_theme_color(dpg.mvThemeCol_Text, NOTE_INK)
            self._note_theme = theme
        return self._note_theme

    def _sync_presets(self) -> None:
        names = self.model.preset_names()
        if names == self._drawn_presets:
            return
        self._drawn_presets = names
        chosen = dpg.get_value("preset_combo")
        dpg.configure_item("preset_combo", items=names)
        if chosen not in names:
            dpg.set_value("preset_combo", names[-1] if names else "")

    # -- the canvas's own edits of comments -------------------------------------------------------
    def commit_moves(self) -> bool:
        """Comments dragged on the canvas: each recorded as a move (undoable)."""
        moved = False
        for index, grid in list(self._pushed.items()):
            tag = comment_tag(index)
            if not dpg.does_item_exist(tag):
                continue
            x, y = dpg.get_item_pos(tag)
            if (float(x), float(y)) != grid:
                self._pushed[index] = (float(x), float(y))
                moved |= self.model.move_comment(index, self.view.camera.to_patch((float(x), float(y))))
        return moved

    def hovered_comment(self) -> int | None:
        for index in self._pushed:
            if dpg.does_item_exist(comment_tag(index)) and dpg.is_item_hovered(comment_tag(index)):
                return index
        return None

    def selected_comments(self) -> list[int]:
        aliases = [_alias(item) for item in dpg.get_selected_nodes("canvas")]
        return [int(alias[len(COMMENT_PREFIX) :]) for alias in aliases if alias.startswith(COMMENT_PREFIX)]

    def delete_selected(self) -> bool:
        """Delete the comments selected on the canvas (the last first, so indexes hold)."""
        chosen = sorted(self.selected_comments(), reverse=True)
        for index in chosen:
            self.model.delete_comment(index)
        return bool(chosen)

    # -- the comment dialog --------------------------------------------------------------------
    def ask_comment(self, index: int | None = None) -> None:
        """Edit comment ``index``, or write a new one (None) where the canvas is free."""
        self._editing = index
        if index is None:
            self._new_at = self._above_everything()
        text = self.model.patch.comments[index].text if index is not None else ""
        dpg.set_value("comment_input", text)
        dpg.configure_item("comment_delete", show=index is not None)
        view = self.view
        dpg.configure_item("comment_dialog", show=True, pos=[view.width // 2 - 200, view.height // 2 - 100])
        dpg.focus_item("comment_input")

    def _above_everything(self) -> tuple[float, float]:
        """A new comment's place: over the top-left of the patch, where it covers no node
        (a heading, as the examples' comments are); the canvas's middle on an empty patch."""
        patch = self.model.patch
        corners = [node.position for node in patch.nodes.values()]
        corners += [comment.position for comment in patch.comments]
        if not corners:
            return self.view.free_canvas_position()
        return (min(x for x, _y in corners), min(y for _x, y in corners) - NEW_COMMENT_ABOVE)

    def finish_comment(self, keep: bool) -> None:
        dpg.configure_item("comment_dialog", show=False)
        if not keep:
            return
        text = dpg.get_value("comment_input")
        if self._editing is None:
            if text.strip():
                self.model.add_comment(text, self._new_at)
        else:
            self.model.edit_comment(self._editing, text)

    def delete_edited(self) -> None:
        dpg.configure_item("comment_dialog", show=False)
        if self._editing is not None:
            self.model.delete_comment(self._editing)

    # -- presets ----------------------------------------------------------------------------------
    def recall(self) -> None:
        name = dpg.get_value("preset_combo")
        if not name:
            self.model.say("no preset to recall: Store one first", "warning")
            return
        self.model.recall_preset(name, float(dpg.get_value("preset_glide")))

    def ask_preset_name(self) -> None:
        names = self.model.preset_names()
        dpg.set_value("preset_name", dpg.get_value("preset_combo") or f"preset {len(names) + 1}")
        view = self.view
        dpg.configure_item("preset_dialog", show=True, pos=[view.width // 2 - 150, view.height // 2 - 60])
        dpg.focus_item("preset_name")

    def finish_store(self, store: bool) -> None:
        dpg.configure_item("preset_dialog", show=False)
        name = dpg.get_value("preset_name").strip()
        if store and self.model.store_preset(name):
            self._sync_presets()
            dpg.set_value("preset_combo", name)

    def delete_preset(self) -> None:
        name = dpg.get_value("preset_combo")
        if name:
            self.model.delete_preset(name)

    def dialog_shown(self) -> bool:
        return bool(dpg.is_item_shown("comment_dialog") or dpg.is_item_shown("preset_dialog"))

    def escape(self) -> None:
        self.finish_comment(False)
        self.finish_store(False)
