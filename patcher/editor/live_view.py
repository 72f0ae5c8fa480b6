"""The editor's widgets for MIDI and OSC: Transport > MIDI Input and OSC Input, and a param's
right-click menu (MIDI learn, forget its mapping).

Each widget ends in one call of the model's live control (:mod:`patcher.editor.live_control`);
this module only draws what it holds. The MIDI ports are listed here, in the window's process,
when the menu is built and on "Look again" (as Transport > Audio Device lists the devices);
the engine process opens the one chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dearpygui.dearpygui as dpg

from patcher.editor.live_control import describe
from patcher.model import MAPPABLE_KINDS

if TYPE_CHECKING:
    from patcher.editor.view import EditorView

NO_PORTS = "No MIDI input ports found"
LEARNING_COLOR = (255, 200, 80)
MAPPED_COLOR = (130, 210, 160)


class LiveView:
    """The MIDI and OSC menus and the param menu of an :class:`~patcher.editor.view.EditorView`."""

    def __init__(self, view: EditorView) -> None:
        self.view = view
        self.model = view.model
        self.live = view.model.live
        #: The MIDI input ports found at the last look.
        self.ports: list[str] = []
        self._drawn_menu: Any = None
        #: The param the right-click menu is for: (node id, name).
        self._menu_param: tuple[str, str] | None = None

    # -- building -----------------------------------------------------------------------------
    def build_menus(self) -> None:
        """In the Transport menu: MIDI Input (the ports, None, Look again) and OSC Input."""
        dpg.add_menu(label="MIDI Input", tag="midi_menu")
        with dpg.menu(label="OSC Input", tag="osc_menu"):
            dpg.add_menu_item(
                label="Listen on UDP port",
                tag="osc_item",
                check=True,
                default_value=self.live.osc_on,
                callback=lambda _s, on, *_r: self.live.set_osc(on),
            )
            port = dpg.add_input_int(
                tag="osc_port_input",
                label="port",
                default_value=self.live.osc_port,
                step=0,
                width=round(80 * self.view.camera.ui_scale),
                on_enter=True,
                callback=lambda _s, port, *_r: self.live.set_osc(self.live.osc_on, port),
            )
            self.view._typing_widgets.add(port)
            dpg.add_text("/patcher/NODE/PARAM VALUE, or an address mapped", color=(150, 150, 150))

    def build_dialogs(self) -> None:
        """A param's right-click menu, filled when it opens."""
        with dpg.window(
            tag="param_menu",
            show=False,
            no_title_bar=True,
            no_resize=True,
            no_move=True,
            autosize=True,
            popup=True,
        ):
            pass

    def look_for_ports(self) -> None:
        """List the MIDI input ports there are now (a keyboard plugged in since shows up)."""
        from patcher.live import midi_input_names

        self.ports = midi_input_names()
        self._drawn_menu = None
        self.sync()

    # -- keeping them in step ---------------------------------------------------------------------
    def sync(self) -> None:
        """The menus show the choice and what the engine opened (redrawn when they change)."""
        live = self.live
        drawn = (tuple(self.ports), live.midi_input, live.midi_opened, live.osc_on, live.osc_port)
        if drawn == self._drawn_menu:
            return
        self._drawn_menu = drawn
        dpg.set_value("osc_item", live.osc_on)
        if not dpg.is_item_active("osc_port_input"):
            dpg.set_value("osc_port_input", live.osc_port)
        dpg.delete_item("midi_menu", children_only=True)
        chosen = live.midi_opened or live.midi_input
        dpg.add_menu_item(
            label="None",
            parent="midi_menu",
            check=True,
            default_value=live.midi_input is None,
            callback=lambda *_a: self.choose(None),
        )
        for name in self.ports:
            dpg.add_menu_item(
                label=name,
                parent="midi_menu",
                check=True,
                default_value=chosen == name,
                callback=lambda *_a, name=name: self.choose(name),
            )
        if not self.ports:
            dpg.add_menu_item(label=NO_PORTS, tag="midi_none_found", parent="midi_menu", enabled=False)
        if live.midi_input is not None and chosen not in self.ports:
            dpg.add_menu_item(
                label=f"{live.midi_input} (not found)", parent="midi_menu", check=True, default_value=True
            )
        dpg.add_separator(parent="midi_menu")
        dpg.add_menu_item(label="Look again", parent="midi_menu", callback=lambda: self.look_for_ports())

    def choose(self, name: str | None) -> None:
        self.live.choose_midi_input(name)
        self.sync()

    # -- a param's widgets --------------------------------------------------------------------------
    def note(self, node_id: str, name: str) -> str:
        """What a param's label adds: its mappings, or that it waits for a control."""
        if self.live.learning == self.live.target(node_id, name):
            return "  [learning...]"
        mappings = self.live.mappings_of(node_id, name)
        return f"  [{', '.join(describe(mapping) for mapping in mappings)}]" if mappings else ""

    def note_color(self, node_id: str, name: str) -> tuple[int, int, int] | None:
        if self.live.learning == self.live.target(node_id, name):
            return LEARNING_COLOR
        return MAPPED_COLOR if self.live.mappings_of(node_id, name) else None

    def panel_key(self, node_id: str) -> tuple[Any, ...]:
        """What the panel shows of the node's mappings: a change rebuilds it."""
        prefix = self.live.target(node_id, "")
        mapped = tuple(
            (m.param, m.midi_cc, m.channel, m.osc)
            for m in self.model.root.mappings
            if m.param.startswith(prefix)
        )
        learning = self.live.learning if (self.live.learning or "").startswith(prefix) else None
        return mapped, learning

    def hovered_param(self) -> tuple[str, str] | None:
        """The mappable param whose widget (slider, number box or label) is under the mouse."""
        node_id = self.model.focused_node
        node = self.model.patch.nodes.get(node_id or "")
        if node is None or not dpg.is_item_shown("panel"):
            return None
        for name, param in node.spec.PARAMS.items():
            if param.kind not in MAPPABLE_KINDS:
                continue
            tags = (f"param:{name}", f"param:{name}:typed", f"param:{name}:label")
            if any(dpg.does_item_exist(tag) and dpg.is_item_hovered(tag) for tag in tags):
                return node.id, name
        return None

    def on_right_click(self) -> bool:
        """Right click on a number param's widget: its menu at the mouse; whether it opened."""
        hovered = self.hovered_param()
        if hovered is None:
            return False
        node_id, name = hovered
        self._menu_param = hovered
        dpg.delete_item("param_menu", children_only=True)
        items = [("MIDI learn", "learn")]
        mappings = self.live.mappings_of(node_id, name)
        if mappings:
            gone = ", ".join(describe(mapping) for mapping in mappings)
            items.append((f"Forget mapping ({gone})", "forget"))
        if self.live.learning is not None:
            items.append(("Cancel MIDI learn", "cancel"))
        dpg.add_text(f"{node_id}.{name}", parent="param_menu", color=(160, 160, 160))
        for label, action in items:
            dpg.add_selectable(
                label=label,
                tag=f"param_menu:{action}",
                parent="param_menu",
                user_data=action,
                callback=lambda _s, _a, action: self.menu_choice(action),
            )
        mouse = dpg.get_mouse_pos(local=False)
        dpg.configure_item("param_menu", show=True, pos=[int(mouse[0]), int(mouse[1])])
        return True

    def menu_choice(self, action: str) -> None:
        dpg.configure_item("param_menu", show=False)
        if self._menu_param is None:
            return
        node_id, name = self._menu_param
        if action == "learn":
            self.live.start_learning(node_id, name)
        elif action == "forget":
            self.live.forget(node_id, name)
        elif action == "cancel":
            self.live.cancel_learning()

    def key(self, key: int) -> bool:
        """Esc while a param waits for a control cancels that; whether the key was taken."""
        if key == dpg.mvKey_Escape and self.live.learning is not None:
            self.live.cancel_learning()
            return True
        return False
