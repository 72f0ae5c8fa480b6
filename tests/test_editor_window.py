"""The real dearpygui window under Xvfb: edits through the widgets' callbacks, real input, screenshots.

The fixture starts its own Xvfb on a free display number and stops it by its PID, even when a
test fails. The window runs in this process, so a test can call the very callbacks the
widgets call and read the widgets back; xdotool sends real mouse and key events.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from patcher.engine import Engine
from patcher.model import ControlMapping, Patch, PortRef
from patcher.patchfile import load as load_patch
from patcher.patchfile import save
from patcher.player import AudioDeviceError
from tests.editor_sessions import crashed_session

pytestmark = pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")

SCREEN = (1600, 1000)
ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT_DIR = Path("/tmp/patcher-editor-screenshots")
#: How long a test waits for the engine process to show something: long enough for a busy machine.
PATIENCE_S = 30.0


def _free_display() -> int:
    for number in range(90, 190):
        if not Path(f"/tmp/.X{number}-lock").exists() and not Path(f"/tmp/.X11-unix/X{number}").exists():
            return number
    raise RuntimeError("no free X display number between :90 and :189")


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A private Xvfb for this module; DISPLAY points at it while the tests run."""
    number = _free_display()
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    old = os.environ.get("DISPLAY")
    try:
        socket = Path(f"/tmp/.X11-unix/X{number}")
        deadline = time.monotonic() + PATIENCE_S
        while not socket.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"Xvfb :{number} did not start")
            time.sleep(0.05)
        os.environ["DISPLAY"] = f":{number}"
        yield f":{number}"
    finally:
        if old is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = old
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class OfflinePlayer:
    """A player without a sound card: the real engine, one block per poll of the meters."""

    def __init__(self, patch: Patch) -> None:
        self.engine = Engine(patch)
        self.device_name = "offline test engine"
        self.levels = np.zeros(2)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        self.engine.set_param(node_id, name, value)

    def recall_preset(self, name: str, glide_s: float = 0.0) -> None:
        """As Player and EngineProcess do: every change at one block boundary, gliding."""
        self.engine.recall_preset(name, glide_s)

    def update_patch(self, patch: Patch) -> None:
        self.engine.update_patch(patch)

    def set_metering(self, on: bool) -> None:
        self.engine.metering = on

    def meters(self) -> dict[str, Any]:
        for _ in range(8):
            block = self.engine.process_block()
        self.levels = np.max(np.abs(block), axis=1)
        node_loads, total = self.engine.node_loads()
        return {
            "level": self.levels,
            "cpu_load": 0.05,
            "underruns": 0,
            "callbacks": 1,
            "node_loads": node_loads,
            "node_loads_total": total,
        }

    def warnings(self) -> list[str]:
        return self.engine.take_reports()

    def node_view(self, node_id: str) -> np.ndarray | None:
        """As the engine process does, from the running node's ``view()``."""
        view = getattr(self.engine.schedule.nodes.get(node_id), "view", None)
        return None if view is None else np.asarray(view(), dtype=np.float64)


def demo_patch(folder: Path) -> Path:
    patch = Patch(base_dir=folder)
    patch.add_node("oscillator", "osc", position=(20.0, 40.0), waveform="saw", frequency_hz=110.0)
    patch.add_node("lfo", "lfo", position=(20.0, 300.0), rate_hz=0.5, depth=600.0)
    patch.add_node("filter", "lp", position=(280.0, 40.0), cutoff_hz=900.0, q=4.0)
    patch.add_node("waveshaper", "drive", position=(520.0, 40.0), drive_db=12.0)
    patch.add_node("output", "out", position=(760.0, 60.0), level_db=-6.0)
    patch.add_node("scope", "scope", position=(520.0, 330.0))
    patch.add_node("spectrum", "spectrum", position=(760.0, 330.0))
    for source, target in (
        ("osc.out", "lp.in"),
        ("lfo.out", "lp.cutoff_hz"),
        ("lp.out", "drive.in"),
        ("drive.out", "out.left"),
        ("drive.out", "scope.in"),
        ("drive.out", "spectrum.in"),
    ):
        patch.connect(source, target)
    patch.description = "A saw through a swept resonant filter and a drive, with a scope and a spectrum."
    path = folder / "demo.json"
    save(patch, path)
    return path


@pytest.fixture(scope="module")
def shared_window(display: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One window for the module: dearpygui does not survive a second context in one process."""
    from patcher.editor.model import EditorModel
    from patcher.editor.view import EditorView

    state = tmp_path_factory.mktemp("state")
    model = EditorModel(state_dir=state, player_factory=OfflinePlayer)
    view = EditorView(model, width=1400, height=860, position=(0, 0))
    view.build()
    try:
        yield view
    finally:
        model.stop()
        view.destroy()


@pytest.fixture
def window(shared_window: Any, tmp_path: Path) -> Iterator[Any]:
    """The window with the demo patch freshly opened, nothing pending, nothing playing."""
    view, model = shared_window, shared_window.model
    model.stop()
    model.player_factory = OfflinePlayer
    model.pending = None
    model.palette = None
    if view.file_window is not None:  # left open by a test that failed
        view.file_window.cancel()
    import dearpygui.dearpygui as dpg

    dpg.configure_item("measure_window", show=False)  # it would cover the canvas
    model.measuring.cancel(quiet=True)
    assert model.open(demo_patch(tmp_path))
    frames(view, 3)
    yield view
    model.stop()


def shown_within_frames(view: Any, tag: str, count: int = 60) -> None:
    """Frames until ``tag`` is drawn (a panel rebuilt after a patch opened and fitted)."""
    import dearpygui.dearpygui as dpg

    for _ in range(count):
        if dpg.does_item_exist(tag) and dpg.is_item_shown(tag) and "rect_min" in dpg.get_item_state(tag):
            return
        view.frame()
    raise AssertionError(f"{tag} was not drawn within {count} frames; panel shows {view.model.focused_node}")


def frames(view: Any, count: int = 2) -> None:
    for _ in range(count):
        view.frame()


def alias_id(tag: str) -> int:
    import dearpygui.dearpygui as dpg

    return dpg.get_alias_id(tag)


def pixels_of(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    image = imread(path)
    return np.round(image[..., :3] * 255).astype(int)


def has_colour(image: np.ndarray, colour: tuple[int, int, int], at_least: int = 200) -> bool:
    close = np.all(np.abs(image - np.array(colour)) <= 3, axis=-1)
    return int(close.sum()) >= at_least


def test_smoke_edit_through_widget_callbacks_then_screenshot(window: Any) -> None:
    import dearpygui.dearpygui as dpg

    view, model = window, window.model
    assert dpg.does_item_exist("node:osc") and dpg.does_item_exist("link:osc.out->lp.in")
    assert tuple(dpg.get_item_pos("node:lp")) == view.camera.to_grid((280.0, 40.0))

    # Add a node with the browser button, exactly as a click does.
    dpg.get_item_callback("add:gain")("add:gain", None, dpg.get_item_user_data("add:gain"))
    frames(view)
    assert "gain1" in model.patch.nodes and dpg.does_item_exist("node:gain1")

    # Link it with the canvas's link callback (pin ids as dearpygui passes them, either order).
    view.on_link("canvas", (alias_id("pin:in:gain1.in"), alias_id("pin:out:lp.out")))
    frames(view)
    assert dpg.does_item_exist("link:lp.out->gain1.in")

    # A delay-free loop is refused and the status bar names it.
    view.on_link("canvas", (alias_id("pin:out:gain1.out"), alias_id("pin:in:lp.in")))
    frames(view)
    status = dpg.get_value("status_text")
    assert "delay-free feedback loop" in status and "gain1" in status
    assert not dpg.does_item_exist("link:gain1.out->lp.in")
    # Two inputs cannot be linked either.
    view.on_link("canvas", (alias_id("pin:in:gain1.in"), alias_id("pin:in:lp.in")))
    assert "both inputs" in model.status.text

    # Select the filter (as a click on the canvas would) and move its cutoff slider.
    model.select(["lp"])
    frames(view)
    slider = "param:cutoff_hz"
    assert dpg.does_item_exist(slider)
    assert dpg.get_item_configuration(slider)["min_value"] == pytest.approx(1.0)  # log10(10 Hz)
    callback = dpg.get_item_callback(slider)
    callback(slider, math.log10(3000.0), dpg.get_item_user_data(slider))
    frames(view)
    assert model.patch.nodes["lp"].params["cutoff_hz"] == pytest.approx(3000.0)
    assert "3 kHz" in dpg.get_item_configuration(slider)["format"]
    combo = "param:type"
    dpg.get_item_callback(combo)(combo, "highpass", dpg.get_item_user_data(combo))
    assert model.patch.nodes["lp"].params["type"] == "highpass"

    # Undo twice through the menu's action: the type, then the cutoff, come back.
    view.perform("undo")
    view.perform("undo")
    frames(view)
    assert model.patch.nodes["lp"].params["cutoff_hz"] == 900.0
    assert dpg.get_value("param:cutoff_hz:typed") == pytest.approx(900.0)

    # The title shows the file and the unsaved mark.
    assert dpg.get_viewport_title().startswith("demo.json *")

    SCREENSHOT_DIR.mkdir(exist_ok=True)
    shot = SCREENSHOT_DIR / "smoke.png"
    assert view.screenshot(shot, frames=4)
    image = pixels_of(shot)
    assert image.shape[0] >= 800 and image.shape[1] >= 1300
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50, "the screenshot is nearly blank"
    from patcher.editor.view import FAMILY_COLORS

    for family in ("sources", "filters", "shapers", "io", "meters"):
        assert has_colour(image, FAMILY_COLORS[family]), f"no {family} node title bar in the screenshot"


def test_play_shows_meters_and_live_scope_and_edits_reach_the_engine(window: Any) -> None:
    import dearpygui.dearpygui as dpg

    view, model = window, window.model
    view.perform("play")
    frames(view, 4)
    assert model.playing and dpg.get_item_configuration("play_button")["label"] == "Stop"
    assert "dBFS" in dpg.get_item_configuration("meter_left")["overlay"]
    assert dpg.get_value("meter_left") > 0.0
    picture = view._picture_for("scope")
    assert "peak" in picture.plots[0].caption
    spectrum = view._picture_for("spectrum")
    assert spectrum.plots[0].caption.startswith("peak")
    assert len(model.node_view("spectrum")) == 2048  # the default fft_size of 4096, over the view channel
    engine = model.player.engine
    dpg.get_item_callback("master_level")("master_level", -20.0, None)
    assert engine.patch.nodes["out"].params["level_db"] == -20.0
    model.select(["drive"])
    frames(view)
    assert dpg.does_item_exist("panel_draw:0")
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    assert view.screenshot(SCREENSHOT_DIR / "playing.png", frames=6)
    view.perform("play")
    frames(view)
    assert not model.playing and dpg.get_item_configuration("play_button")["label"] == "Play"


def test_playing_through_the_engine_process_draws_its_node_views(window: Any, jack: Any) -> None:
    import multiprocessing

    import dearpygui.dearpygui as dpg

    from patcher.server import EngineProcess

    view, model = window, window.model
    model.player_factory = lambda patch: EngineProcess(patch, device=jack.device)
    view.perform("play")
    try:
        assert model.playing and isinstance(model.player, EngineProcess), model.status.text
        deadline = time.monotonic() + PATIENCE_S
        while time.monotonic() < deadline and (
            model.node_view("scope") is None or model.node_view("spectrum") is None
        ):
            frames(view)
            time.sleep(0.02)
        frames(view)  # draw what came in during the last wait
        assert "peak" in view._picture_for("scope").plots[0].caption
        assert view._picture_for("spectrum").plots[0].caption.startswith("peak")
        model.set_param("osc", "frequency_hz", 220.0)  # a param and a graph edit reach the engine
        model.select(["spectrum"])
        assert model.delete_selection() and "spectrum" not in model.player.patch.nodes
        deadline = time.monotonic() + PATIENCE_S
        while time.monotonic() < deadline and model.node_view("scope") is None:  # watched again
            frames(view)
            time.sleep(0.02)
        frames(view)
        assert "peak" in view._picture_for("scope").plots[0].caption
        assert dpg.get_value("meter_left") > 0.0
    finally:
        view.perform("play")
    assert not model.playing and multiprocessing.active_children() == []


def test_no_audio_device_is_a_status_message(window: Any) -> None:
    import dearpygui.dearpygui as dpg

    def no_device(patch: Patch) -> OfflinePlayer:
        raise AudioDeviceError("no audio output device found (test)")

    window.model.player_factory = no_device
    window.perform("play")
    frames(window)
    assert "no audio output device" in dpg.get_value("status_text")
    assert dpg.get_item_configuration("play_button")["label"] == "Play"


def drawn_boxes(model: Any) -> dict[str, tuple[float, float, float, float]]:
    """Each node as dearpygui drew it: x, y, width, height."""
    import dearpygui.dearpygui as dpg

    from patcher.editor.view import node_tag

    return {
        node_id: (*dpg.get_item_pos(node_tag(node_id)), *dpg.get_item_rect_size(node_tag(node_id)))
        for node_id in model.patch.nodes
    }


def test_node_sizes_are_estimated_as_drawn_and_arrange_leaves_no_node_covered(
    window: Any, tmp_path: Path
) -> None:
    """The headless layout trusts node_size(); here every type is drawn and measured. Then the
    patch, made by a script with every node at (0, 0), is laid out on opening and by Ctrl+L."""
    from patcher.editor.layout import node_size
    from patcher.spec import registry

    view, model = window, window.model
    patch = Patch()
    for type_name in sorted(registry()):
        patch.add_node(type_name, f"{type_name}_node")
    previous = None
    for node_id in patch.nodes:  # a chain through every type that has an input and an output
        spec = patch.nodes[node_id].spec
        if previous is not None and spec.INPUTS:
            source = f"{previous}.{patch.nodes[previous].spec.OUTPUTS[0]}"
            patch.connect(source, f"{node_id}.{spec.INPUTS[0]}")
        previous = node_id if spec.OUTPUTS else previous
    save(patch, tmp_path / "scripted.json")
    assert model.open(tmp_path / "scripted.json") and "arranged" in model.status.text
    frames(view, 4)
    view.camera.zoom = 1.0  # opened fitted: sizes are compared at the patch's own size
    view._apply_zoom()
    frames(view, 3)

    boxes = drawn_boxes(model)
    for node_id, (x, y, width, height) in boxes.items():
        node = model.patch.nodes[node_id]
        estimated = node_size(node)
        assert (x, y) == view.camera.to_grid(node.position)
        assert width <= estimated[0] <= width + 12, f"{node.type}: drawn {width}, estimated {estimated[0]}"
        assert height <= estimated[1] <= height + 6, f"{node.type}: drawn {height}, estimated {estimated[1]}"

    def overlaps() -> list[tuple[str, str]]:
        items = list(drawn_boxes(model).items())
        return [
            (a, b)
            for i, (a, (ax, ay, aw, ah)) in enumerate(items)
            for b, (bx, by, bw, bh) in items[i + 1 :]
            if ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah
        ]

    assert overlaps() == []
    model.undo()  # back to the pile the script made
    frames(view, 2)
    assert len(overlaps()) == len(boxes) * (len(boxes) - 1) // 2
    import dearpygui.dearpygui as dpg

    assert view.shortcut(dpg.mvKey_L, ctrl=True, shift=False) == "arrange"
    view.perform("arrange")  # Edit > Arrange Nodes, Ctrl+L
    frames(view, 2)
    assert overlaps() == [] and "arranged" in model.status.text


def test_opening_a_bad_patch_keeps_the_canvas(window: Any, tmp_path: Path) -> None:
    import dearpygui.dearpygui as dpg

    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "patcher", "version": 1, "nodes": [{"id": "x", "type": "nope"}]}')
    window.model.request("open", bad)
    frames(window)
    assert "unknown node type 'nope'" in dpg.get_value("status_text")
    assert dpg.does_item_exist("node:osc")


def test_unsaved_changes_open_the_confirm_dialog(window: Any, tmp_path: Path) -> None:
    import dearpygui.dearpygui as dpg

    window.model.add_node("noise")
    window.perform("new")
    frames(window)
    assert dpg.is_item_shown("confirm_dialog")
    window.on_confirm("discard")
    frames(window)
    assert not dpg.is_item_shown("confirm_dialog")
    assert list(window.model.patch.nodes) == ["out"]
    assert not dpg.does_item_exist("node:osc") and dpg.does_item_exist("node:out")


def test_crashed_sessions_are_offered_back_one_by_one(window: Any, tmp_path: Path) -> None:
    import dearpygui.dearpygui as dpg

    model = window.model
    crashed_session(model.state_dir, opened=demo_patch(tmp_path))
    crashed_session(model.state_dir)  # a later one, on a new patch
    assert window.offer_recovery()
    frames(window)
    assert dpg.is_item_shown("recover_dialog") and "an untitled patch" in dpg.get_value("recover_text")
    window.on_recover(False)  # the newest declined: the other is offered next
    frames(window)
    assert dpg.is_item_shown("recover_dialog") and "demo.json" in dpg.get_value("recover_text")
    window.on_recover(True)
    frames(window)
    assert model.path is not None and model.path.name == "demo.json"
    assert "noise1" in model.patch.nodes and model.dirty
    assert dpg.does_item_exist("node:noise1") and not dpg.is_item_shown("recover_dialog")
    assert not window.offer_recovery()


def test_a_patch_reading_files_outside_its_folder_is_opened_only_when_allowed(
    window: Any, tmp_path: Path
) -> None:
    import dearpygui.dearpygui as dpg
    import soundfile

    soundfile.write(tmp_path / "private.wav", np.full(4800, 0.5), 48000)
    shared = Patch(base_dir=tmp_path / "downloads")
    shared.add_node("input", "reader", file="../private.wav")
    # A path longer than any cut, that looks like the patch's own media at its start:
    hidden = "media/" + "x" * 95 + "/../" * 1 + "../../private.wav"
    shared.add_node("input", "hider", file=hidden)
    shared.add_node("output", "out")
    shared.connect("reader.out", "out.left")
    shared.connect("hider.out", "out.right")
    (tmp_path / "downloads").mkdir()
    path = tmp_path / "downloads" / "shared.json"
    save(shared, path)
    model = window.model
    assert not model.open(path)
    frames(window)
    # Each file as where it would really be read: both reach the same private file.
    shown = dpg.get_value("outside_text")
    assert dpg.is_item_shown("outside_dialog") and shown.count(str(tmp_path / "private.wav")) == 2, shown
    window.on_outside_files(False)
    frames(window)
    assert not dpg.is_item_shown("outside_dialog") and model.path != path
    assert not dpg.does_item_exist("node:reader")
    model.open(path)
    frames(window)
    window.on_outside_files(True)
    frames(window)
    assert model.path == path and dpg.does_item_exist("node:reader")


# -- real input through xdotool -----------------------------------------------------------------
def xdotool(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True, timeout=10)


def screen_point(tag: str, where: str = "centre") -> tuple[int, int]:
    """Screen position of an item (the viewport sits at the screen's origin)."""
    import dearpygui.dearpygui as dpg

    x, y = dpg.get_item_rect_min(tag)
    width, height = dpg.get_item_rect_size(tag)
    if where == "left":
        return int(x), int(y + height / 2)
    if where == "right":
        return int(x + width), int(y + height / 2)
    if where == "top":  # a node's title, near its left end (its right end may be scrolled off)
        return int(x + 20), int(y + 6)
    return int(x + width / 2), int(y + height / 2)


def pin_point(node_id: str, port: str, direction: str) -> tuple[int, int]:
    """Where the pin's circle is: on the node's left edge for inputs, its right edge for outputs."""
    import dearpygui.dearpygui as dpg

    node_left, _top = dpg.get_item_rect_min(f"node:{node_id}")
    node_width, _height = dpg.get_item_rect_size(f"node:{node_id}")
    label = dpg.get_item_children(f"pin:{direction}:{node_id}.{port}", 1)[0]  # the port's name
    _x, y = screen_point(label)
    return (int(node_left), y) if direction == "in" else (int(node_left + node_width), y)


def move_and_settle(view: Any, x: int, y: int) -> None:
    xdotool("mousemove", str(x), str(y))
    frames(view, 3)


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_real_input_drag_a_link_delete_a_node_and_type_in_the_palette(window: Any) -> None:
    import dearpygui.dearpygui as dpg

    view, model = window, window.model
    model.disconnect("drive.out", "out.left")
    frames(view, 3)
    assert not dpg.does_item_exist("link:drive.out->out.left")

    # Drag from the drive's output pin to the output's left pin.
    start, end = pin_point("drive", "out", "out"), pin_point("out", "left", "in")
    move_and_settle(view, *start)
    xdotool("mousedown", "1")
    frames(view, 3)
    for step in range(1, 6):
        move_and_settle(
            view, start[0] + (end[0] - start[0]) * step // 5, start[1] + (end[1] - start[1]) * step // 5
        )
    xdotool("mouseup", "1")
    frames(view, 4)
    assert any(str(link) == "drive.out -> out.left" for link in model.patch.links), model.status.text
    assert dpg.does_item_exist("link:drive.out->out.left")

    # Click the spectrum node's title to select it, then press Delete.
    move_and_settle(view, *screen_point("node:spectrum", "top"))
    xdotool("mousedown", "1")
    frames(view, 3)
    xdotool("mouseup", "1")
    frames(view, 4)
    assert model.selected_nodes == ["spectrum"]
    xdotool("key", "Delete")
    frames(view, 4)
    assert "spectrum" not in model.patch.nodes and not dpg.does_item_exist("node:spectrum")

    # Tab on an empty part of the canvas opens the palette at the mouse; type, Enter places the node.
    left, top = dpg.get_item_pos("canvas_area")  # the main window fills the viewport from (0, 0)
    move_and_settle(view, int(left + 300), int(top + 600))
    xdotool("key", "Tab")
    frames(view, 4)
    assert model.palette is not None and dpg.is_item_shown("palette")
    xdotool("type", "--delay", "30", "noi")
    frames(view, 4)
    assert model.palette.query == "noi" and model.palette.matches[0] == "noise"
    xdotool("key", "Return")
    frames(view, 4)
    assert "noise1" in model.patch.nodes and model.palette is None
    placed = model.patch.nodes["noise1"].position
    assert dpg.does_item_exist("node:noise1")
    node_left, node_top = dpg.get_item_rect_min("node:noise1")
    assert abs(node_left - (left + 300)) < 40 and abs(node_top - (top + 600)) < 40, placed

    # Drag a node by its title: one undoable move; panning with the middle button moves nothing.
    depth = len(model.undo_stack)
    grid = dpg.get_item_pos("node:scope")
    start = screen_point("node:scope", "top")
    move_and_settle(view, *start)
    xdotool("mousedown", "1")
    frames(view, 3)
    for step in range(1, 4):
        move_and_settle(view, start[0] + 20 * step, start[1] + 10 * step)
    xdotool("mouseup", "1")
    frames(view, 4)
    assert model.patch.nodes["scope"].position == view.camera.to_patch((grid[0] + 60, grid[1] + 30))
    assert len(model.undo_stack) == depth + 1
    move_and_settle(view, int(left + 500), int(top + 650))
    xdotool("mousedown", "2")
    frames(view, 3)
    move_and_settle(view, int(left + 450), int(top + 620))
    xdotool("mouseup", "2")
    frames(view, 4)
    assert len(model.undo_stack) == depth + 1, "panning was recorded as a move"
    model.undo()
    frames(view, 3)
    assert tuple(dpg.get_item_pos("node:scope")) == view.camera.to_grid((520.0, 330.0))

    # Ctrl+Z through the keyboard takes the node back.
    xdotool("key", "ctrl+z")
    frames(view, 4)
    assert "noise1" not in model.patch.nodes
    xdotool("key", "space")
    frames(view, 4)
    assert model.playing and "offline test engine" in dpg.get_value("status_text")
    xdotool("key", "space")
    frames(view, 4)
    assert not model.playing
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    assert view.screenshot(SCREENSHOT_DIR / "after-xdotool.png", frames=3)


def node_boxes_on_screen() -> dict[str, tuple[float, float, float, float]]:
    import dearpygui.dearpygui as dpg

    from patcher.editor.view import node_tag

    boxes = {}
    for item in dpg.get_item_children("canvas", 1) or []:
        alias = dpg.get_item_alias(item)
        if alias.startswith("node:"):
            (x, y), (w, h) = dpg.get_item_rect_min(node_tag(alias[5:])), dpg.get_item_rect_size(item)
            boxes[alias[5:]] = (x, y, x + w, y + h)
    return boxes


def test_real_input_zoom_about_the_mouse_fit_and_ui_scale(window: Any, tmp_path: Path) -> None:
    """Ctrl+wheel zooms about the mouse (what is under it stays there) and text grows with it;
    Ctrl+0 fits a patch larger than the canvas; an opened patch is shown whole; the UI scale
    from the menu grows the panels' text and is remembered for the next session."""
    import dearpygui.dearpygui as dpg

    view, model = window, window.model
    area_left, area_top = dpg.get_item_pos("canvas_area")
    area_width, area_height = dpg.get_item_rect_size("canvas_area")
    inside = lambda box: (  # noqa: E731
        box[0] >= area_left
        and box[1] >= area_top
        and box[2] <= area_left + area_width
        and box[3] <= area_top + area_height
    )
    assert all(inside(box) for box in node_boxes_on_screen().values()), "the opened patch is not all shown"

    # Ctrl+wheel over the filter's title: the filter stays under the mouse and grows.
    zoom = view.camera.zoom
    x, y = screen_point("node:lp", "top")
    move_and_settle(view, x, y)
    before = node_boxes_on_screen()["lp"]
    xdotool("keydown", "ctrl")
    xdotool("click", "4")
    frames(view, 4)
    xdotool("keyup", "ctrl")
    frames(view, 3)
    after = node_boxes_on_screen()["lp"]
    assert view.camera.zoom > zoom
    assert after[2] - after[0] > (before[2] - before[0]) * 1.05, (before, after)
    # The point under the mouse keeps its place in the node (to a pixel or two of rounding).
    share = (x - before[0]) / (before[2] - before[0])
    assert abs(after[0] + share * (after[2] - after[0]) - x) <= 3
    assert (
        abs(after[1] - before[1] - (y - before[1]) * (1 - (after[3] - after[1]) / (before[3] - before[1])))
        <= 3
    )
    text_before = dpg.get_item_rect_size(dpg.get_item_children("pin:in:lp.in", 1)[0])[1]

    # Ctrl+minus twice zooms out; the node and its text shrink.
    xdotool("key", "ctrl+minus")
    frames(view, 3)
    xdotool("key", "ctrl+minus")
    frames(view, 3)
    assert view.camera.zoom < zoom
    assert dpg.get_item_rect_size(dpg.get_item_children("pin:in:lp.in", 1)[0])[1] < text_before

    # A patch larger than the canvas: opened, it is fitted; zoomed in, Ctrl+0 fits it again.
    patch = Patch()
    for index in range(24):
        patch.add_node("oscillator", f"osc{index}", position=(400.0 * (index % 6), 380.0 * (index // 6)))
    save(patch, tmp_path / "large.json")
    assert model.open(tmp_path / "large.json")
    frames(view, 4)
    boxes = node_boxes_on_screen()
    assert len(boxes) == 24 and all(inside(box) for box in boxes.values())
    assert view.camera.zoom < 1.0
    fitted = view.camera.zoom
    for _ in range(4):
        xdotool("key", "ctrl+plus")
        frames(view, 2)
    assert view.camera.zoom > fitted, model.status.text
    assert not all(inside(box) for box in node_boxes_on_screen().values())
    xdotool("key", "ctrl+0")
    frames(view, 4)
    assert all(inside(box) for box in node_boxes_on_screen().values())

    # UI scale 1.5 from the View menu: the panel's text is half as tall again, and remembered.
    line = dpg.get_item_rect_size("status_text")[1]
    callback = dpg.get_item_callback("ui_scale:1.5")
    callback("ui_scale:1.5", True, None)
    frames(view, 4)
    try:
        assert dpg.get_item_rect_size("status_text")[1] >= line * 1.4
        assert dpg.get_value("ui_scale:1.5") and not dpg.get_value("ui_scale:1")
        from patcher.editor.model import EditorModel

        assert EditorModel(state_dir=model.state_dir).preferences["ui_scale"] == 1.5
    finally:
        view.set_ui_scale(1.0)
        frames(view, 3)


def drag_slider(view: Any, tag: str, pixels: int, shift: bool = False) -> None:
    x, y = screen_point(tag)
    move_and_settle(view, x, y)
    if shift:
        xdotool("keydown", "shift")
    xdotool("mousedown", "1")
    frames(view, 3)
    for step in range(1, 6):
        move_and_settle(view, x + pixels * step // 5, y)
    xdotool("mouseup", "1")
    if shift:
        xdotool("keyup", "shift")
    frames(view, 4)


def test_real_input_a_dragged_slider_shows_what_plays_and_shift_drags_finely(window: Any) -> None:
    """Issue 14: after a drag the slider's text and the number box kept the old value. And a
    Shift-drag moves the value ten times slower than a plain one."""
    import dearpygui.dearpygui as dpg

    from patcher.editor.sliders import to_slider

    view, model = window, window.model
    model.select(["lp"])
    frames(view, 3)
    tag = "param:cutoff_hz"
    param = model.patch.nodes["lp"].spec.PARAMS["cutoff_hz"]
    start = model.patch.nodes["lp"].params["cutoff_hz"]
    drag_slider(view, tag, 60)
    plain = model.patch.nodes["lp"].params["cutoff_hz"]
    assert plain > start * 1.2
    assert dpg.get_value(f"{tag}:typed") == pytest.approx(plain, rel=1e-6)
    assert view._number_text(plain, param) in dpg.get_item_configuration(tag)["format"]
    assert dpg.get_value(tag) == pytest.approx(to_slider(param, plain), abs=1e-6)

    drag_slider(view, tag, 60, shift=True)
    fine = model.patch.nodes["lp"].params["cutoff_hz"]
    moved = to_slider(param, plain) - to_slider(param, start)
    assert 0 < to_slider(param, fine) - to_slider(param, plain) < moved / 5
    assert view._number_text(fine, param) in dpg.get_item_configuration(tag)["format"]
    assert dpg.get_value(tag) == pytest.approx(to_slider(param, fine), abs=1e-6)


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_real_input_f3_shows_each_nodes_cpu_share_in_its_title(window: Any) -> None:
    """VCV's F3: pressed while playing, each node's title gets its share of the block and
    the transport the total; pressed again, the titles are plain and the total hidden."""
    import re

    import dearpygui.dearpygui as dpg

    view, model = window, window.model
    view.perform("play")
    move_and_settle(view, *screen_point("node:osc"))  # the window has the keyboard
    xdotool("key", "F3")
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline and dpg.get_item_label("node:lp") == "lp":
        frames(view)
    assert model.cpu_meters and dpg.get_value("cpu_meters_item")
    for node_id in ("osc", "lfo", "lp", "drive", "out"):
        assert re.fullmatch(rf"{node_id}  \d+\.\d%", dpg.get_item_label(f"node:{node_id}"))
    assert dpg.is_item_shown("cpu_nodes_text")
    assert re.fullmatch(r"\(nodes \d+\.\d%\)", dpg.get_value("cpu_nodes_text"))
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    assert view.screenshot(SCREENSHOT_DIR / "cpu-meters.png", frames=2)
    xdotool("key", "F3")
    frames(view, 3)
    assert not model.cpu_meters and not dpg.get_value("cpu_meters_item")
    assert dpg.get_item_label("node:lp") == "lp" and not dpg.is_item_shown("cpu_nodes_text")
    assert model.player.engine.metering is False  # the engine measures nothing any more


def test_real_input_right_click_menu_rename_patch_panel_and_ctrl_q(window: Any) -> None:
    """What a Pd, Max or VCV user reaches for: a node's right-click menu (here: Rename, then
    Disconnect All), the patch's description and settings when no node is selected, the
    examples with what they teach, and Ctrl+Q."""
    import dearpygui.dearpygui as dpg

    view, model = window, window.model
    move_and_settle(view, *screen_point("node:lp", "top"))
    xdotool("click", "3")
    frames(view, 4)
    assert dpg.is_item_shown("node_menu") and model.selected_nodes == ["lp"]
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    assert view.screenshot(SCREENSHOT_DIR / "node-menu.png", frames=2)
    move_and_settle(view, *screen_point("node_menu:rename"))
    xdotool("click", "1")
    frames(view, 4)
    assert dpg.is_item_shown("rename_dialog") and not dpg.is_item_shown("node_menu")
    xdotool("key", "ctrl+a")
    xdotool("type", "--delay", "30", "sweeper")
    frames(view, 12)  # dearpygui takes a typed character a frame
    xdotool("key", "Return")
    frames(view, 4)
    assert "sweeper" in model.patch.nodes and "lp" not in model.patch.nodes, model.status.text
    assert "osc.out -> sweeper.in" in {str(link) for link in model.patch.links}
    assert dpg.does_item_exist("node:sweeper") and len(model.undo_stack) == 1  # Ctrl+A was typing

    move_and_settle(view, *screen_point("node:sweeper", "top"))
    xdotool("click", "3")
    frames(view, 4)
    move_and_settle(view, *screen_point("node_menu:disconnect"))
    xdotool("click", "1")
    frames(view, 4)
    assert not any("sweeper" in str(link) for link in model.patch.links)

    # Nothing selected: the panel shows the patch; its description is edited there.
    model.select([])
    model.focused_node = None
    model.version += 1
    frames(view, 4)
    assert dpg.get_value("patch:description_text").startswith("A saw through")
    move_and_settle(view, *screen_point("patch:edit_description"))
    xdotool("click", "1")
    frames(view, 3)
    move_and_settle(view, *screen_point("patch:description"))
    xdotool("click", "1")
    frames(view, 2)
    xdotool("key", "ctrl+End")
    xdotool("type", "--delay", "20", " Try it.")
    frames(view, 12)
    move_and_settle(view, *screen_point("patch:sample_rate"))
    xdotool("click", "1")  # clicking elsewhere ends the edit
    frames(view, 4)
    xdotool("key", "Escape")
    frames(view, 2)
    assert model.patch.description.endswith("Try it."), model.patch.description
    assert view.screenshot(SCREENSHOT_DIR / "patch-panel.png", frames=2)

    examples = dpg.get_item_children("examples_menu", 1)
    labels = [dpg.get_item_label(item) for item in examples]
    assert any(label.startswith("chorus") and len(label.split()) > 2 for label in labels), labels

    assert view.shortcut(dpg.mvKey_Q, ctrl=True, shift=False) == "quit"
    devices = [dpg.get_item_label(item) for item in dpg.get_item_children("device_menu", 1)]
    assert devices[0] == "System default" and "Look again" in devices


# -- the file dialog, with real keys and mouse --------------------------------------------------
def click_at(view: Any, x: int, y: int) -> None:
    move_and_settle(view, x, y)
    xdotool("mousedown", "1")
    frames(view, 2)
    xdotool("mouseup", "1")
    frames(view, 3)


def double_click_at(view: Any, x: int, y: int) -> None:
    """Two clicks 40 ms apart (ImGui takes one queued mouse event a frame: four frames)."""
    move_and_settle(view, x, y)
    xdotool("click", "--repeat", "2", "--delay", "40", "1")
    frames(view, 6)


def dialog_names(view: Any) -> list[str]:
    return [entry.name for entry in view.file_window.chooser.entries]


def dialog_row(view: Any, name: str) -> tuple[int, int]:
    """A point on the name of the dialog's row for ``name``."""
    cell = view.file_window._rows[dialog_names(view).index(name)][0]
    x, y = screen_point(cell, "left")
    return x + 30, y


def press(view: Any, keys: str) -> None:
    xdotool("key", keys)
    frames(view, 4)


def type_in(view: Any, text: str) -> None:
    """Type ``text``: ImGui takes queued key events one a frame, so a frame or two per key."""
    xdotool("type", "--delay", "30", text)
    frames(view, 2 * len(text) + 4)


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_real_input_save_as_a_typed_name_replaces_the_prefilled_one(window: Any, tmp_path: Path) -> None:
    """Issue 14: in dearpygui's Save As the typed name was appended to the pre-filled one
    (``chorusmy_chorus.json``) and Ctrl+A did not select it. Here the name is selected when the
    dialog opens, Ctrl+A selects it (and does not select the patch's nodes), .json is added, an
    existing file is replaced only when asked, and Escape cancels."""
    import dearpygui.dearpygui as dpg

    view, model = window, window.model
    model.select(["osc"])
    frames(view, 2)
    press(view, "ctrl+shift+s")
    dialog = view.file_window
    assert dialog is not None and dpg.is_item_shown("file_dialog")
    assert dialog.chooser.folder == tmp_path.resolve()
    assert dpg.get_value("file_dialog:name") == "demo.json" and dpg.is_item_active("file_dialog:name")
    assert dialog_names(view) == ["..", "demo.json"]
    type_in(view, "my_chorus")
    assert dpg.get_value("file_dialog:name") == "my_chorus"
    press(view, "Return")
    assert view.file_window is None and not dpg.does_item_exist("file_dialog")
    assert model.path == tmp_path.resolve() / "my_chorus.json" and model.path.is_file()
    assert "saved" in model.status.text

    # Ctrl+A in the name field selects its text: typing replaces it; the nodes stay as selected.
    press(view, "ctrl+shift+s")
    assert dpg.get_value("file_dialog:name") == "my_chorus.json"
    press(view, "End")  # the selection made on opening is gone: the cursor is at the end
    press(view, "ctrl+a")
    type_in(view, "second")
    assert dpg.get_value("file_dialog:name") == "second"
    assert model.selected_nodes == ["osc"], "Ctrl+A in the dialog selected the patch's nodes"
    press(view, "Return")
    assert model.path == tmp_path.resolve() / "second.json" and model.path.is_file()

    # An existing file: asked first. Escape keeps it; Replace (a click) replaces it.
    before = (tmp_path / "demo.json").read_text()
    model.add_node("noise")
    press(view, "ctrl+shift+s")
    assert dialog_names(view) == ["..", "demo.json", "my_chorus.json", "second.json"]
    type_in(view, "demo")
    press(view, "Return")
    dialog = view.file_window
    assert dialog is not None and dialog.chooser.overwrite == tmp_path.resolve() / "demo.json"
    assert "Replace it?" in dpg.get_value("file_dialog:message") and dpg.is_item_shown("file_dialog:replace")
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    assert view.screenshot(SCREENSHOT_DIR / "file-dialog-replace.png", frames=3)
    press(view, "Escape")
    assert view.file_window is dialog and dialog.chooser.overwrite is None
    assert (tmp_path / "demo.json").read_text() == before
    press(view, "Return")
    assert dialog.chooser.overwrite is not None
    click_at(view, *screen_point("file_dialog:replace"))
    assert view.file_window is None and model.path == tmp_path.resolve() / "demo.json"
    assert (tmp_path / "demo.json").read_text() != before and not model.dirty

    # Escape cancels: nothing is written.
    press(view, "ctrl+shift+s")
    type_in(view, "never")
    press(view, "Escape")
    assert view.file_window is None and not (tmp_path / "never.json").exists()
    assert model.path == tmp_path.resolve() / "demo.json"

    # File > Render to File: the same dialog, for audio files, named after the patch.
    view.perform("render")
    frames(view, 3)
    assert dpg.get_value("file_dialog:name") == "demo.wav"
    assert dpg.get_value("file_dialog:filter") == "Audio files (*.wav, *.flac)"
    press(view, "Escape")
    assert view.file_window is None


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_real_input_open_double_click_enters_a_folder_and_opens_a_patch(window: Any, tmp_path: Path) -> None:
    """Issue 14: double-click did not open, and files were listed in reverse order."""
    import dearpygui.dearpygui as dpg

    view, model = window, window.model
    sketches = tmp_path / "Sketches"
    sketches.mkdir()
    for name in ("take10", "take2", "Take1"):
        patch = Patch(base_dir=sketches)
        patch.add_node("noise", f"hiss_{name}", position=(20.0, 40.0))
        patch.add_node("output", "out", position=(300.0, 40.0))  # placed: opening arranges nothing
        save(patch, sketches / f"{name}.json")
    (sketches / "notes.txt").write_text("not a patch")
    (tmp_path / "archive").mkdir()

    press(view, "ctrl+o")
    assert view.file_window is not None and view.file_window.chooser.folder == tmp_path.resolve()
    assert dialog_names(view) == ["..", "archive", "Sketches", "demo.json"]
    double_click_at(view, *dialog_row(view, "Sketches"))
    assert view.file_window.chooser.folder == sketches.resolve()
    assert dialog_names(view) == ["..", "Take1.json", "take2.json", "take10.json"]
    assert model.palette is None, "the double click reached the canvas under the dialog"
    size_cell = view.file_window._rows[1][1]
    assert dpg.get_item_label(size_cell).strip().endswith(("B", "KB")) and "Ko" not in dpg.get_item_label(
        size_cell
    )
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    assert view.screenshot(SCREENSHOT_DIR / "file-dialog-open.png", frames=3)
    double_click_at(view, *dialog_row(view, "take10.json"))
    assert view.file_window is None, (dpg.get_value("file_dialog:name"), dpg.get_mouse_pos(local=False))
    assert not dpg.does_item_exist("file_dialog")
    assert model.path == sketches.resolve() / "take10.json" and "hiss_take10" in model.patch.nodes

    # A single click names the file; the arrow keys move along the list; Enter opens.
    press(view, "ctrl+o")
    assert view.file_window.chooser.folder == sketches.resolve()  # where the open patch is
    click_at(view, *dialog_row(view, "take10.json"))
    assert view.file_window is not None and dpg.get_value("file_dialog:name") == "take10.json"
    press(view, "Up")
    assert view.file_window.chooser.highlighted().name == "take2.json"
    frames(view, 2)
    assert dpg.get_value("file_dialog:name") == "take2.json"
    # Backspace (no field typed in) goes up; Ctrl+L types a folder: ".." and Enter.
    press(view, "BackSpace")
    assert view.file_window.chooser.folder == tmp_path.resolve()
    press(view, "ctrl+l")
    assert dpg.is_item_active("file_dialog:folder")
    press(view, "ctrl+a")
    type_in(view, "Sketches")
    press(view, "Return")
    assert view.file_window.chooser.folder == sketches.resolve(), view.file_window.chooser.message
    assert dialog_names(view)[1:] == ["Take1.json", "take2.json", "take10.json"]
    press(view, "Down")
    press(view, "Down")
    press(view, "Down")
    assert dpg.get_value("file_dialog:name") == "take2.json"
    press(view, "Return")
    assert view.file_window is None and model.path == sketches.resolve() / "take2.json", model.status.text


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_real_input_the_ir_picker_starts_in_the_patch_folder(window: Any, tmp_path: Path) -> None:
    """Issue 14: the IR picker opened in the working folder. It starts in the patch's folder,
    then where the chosen file is, with that file highlighted."""
    import dearpygui.dearpygui as dpg
    import soundfile

    view, model = window, window.model
    project = tmp_path / "project"
    (project / "irs").mkdir(parents=True)
    impulse = np.zeros(4800)
    impulse[0] = 1.0
    soundfile.write(project / "irs" / "hall.wav", impulse, 48000)
    soundfile.write(project / "room.wav", impulse, 48000)
    patch = Patch(base_dir=project)
    patch.add_node("convolver", "verb")
    patch.add_node("output", "out")
    patch.connect("verb.out", "out.left")
    save(patch, project / "verb.json")
    assert model.open(project / "verb.json")
    assert Path.cwd().resolve() != project.resolve()
    model.select(["verb"])
    frames(view, 4)
    shown_within_frames(view, "param:file:browse")

    click_at(view, *screen_point("param:file:browse"))
    dialog = view.file_window
    assert dialog is not None and dialog.chooser.folder == project.resolve()
    assert dialog_names(view) == ["..", "irs", "room.wav"]  # audio files only: not verb.json
    double_click_at(view, *dialog_row(view, "irs"))
    double_click_at(view, *dialog_row(view, "hall.wav"))
    assert view.file_window is None
    assert model.patch.nodes["verb"].params["file"] == "irs/hall.wav", model.status.text

    frames(view, 3)
    click_at(view, *screen_point("param:file:browse"))
    dialog = view.file_window
    assert dialog.chooser.folder == (project / "irs").resolve()
    assert dialog.chooser.highlighted().name == "hall.wav" and dpg.get_value("file_dialog:name") == "hall.wav"
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    assert view.screenshot(SCREENSHOT_DIR / "file-dialog-ir.png", frames=3)
    press(view, "Escape")
    assert view.file_window is None and model.patch.nodes["verb"].params["file"] == "irs/hall.wav"


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_real_input_save_changes_of_an_untitled_patch_asks_where_and_escape_cancels_it_all(
    window: Any, tmp_path: Path
) -> None:
    """ "Save changes?" answered Save on an untitled patch opens Save As: Escape there cancels
    the whole question (the patch stays); a name saves it and the new patch follows."""
    import dearpygui.dearpygui as dpg

    view, model = window, window.model
    assert model.new()
    model.add_node("noise")
    view.perform("new")
    frames(view, 3)
    assert dpg.is_item_shown("confirm_dialog")
    view.on_confirm("save")
    frames(view, 3)
    assert view.file_window is not None, (model.path, model.pending, model.status.text)
    assert not dpg.is_item_shown("confirm_dialog")
    assert dpg.get_value("file_dialog:name") == "untitled.json"
    press(view, "Escape")
    assert view.file_window is None and model.pending is None and "noise1" in model.patch.nodes
    assert not dpg.is_item_shown("confirm_dialog")

    view.perform("new")
    frames(view, 3)
    view.on_confirm("save")
    frames(view, 3)
    view.file_window.chooser.go_to(tmp_path)  # (typing the whole path would take long)
    view.file_window.sync()
    type_in(view, "sketch")
    press(view, "Return")
    assert view.file_window is None and (tmp_path / "sketch.json").is_file()
    assert model.pending is None and "noise1" not in model.patch.nodes and model.path is None


def test_the_patch_panel_follows_the_patch_opened_and_its_plots_fit_the_panel(window: Any) -> None:
    """Review of issue 14: the patch panel kept the previous patch's description after another
    was opened (editing it there wrote the old text into the new patch); and on a 1024-wide
    screen the panel's plot was wider than the panel."""
    import dearpygui.dearpygui as dpg

    view, model = window, window.model
    model.select([])
    model.focused_node = None
    model.version += 1
    frames(view, 3)
    assert dpg.get_value("patch:description_text").startswith("A saw through")
    assert model.open(ROOT / "patches" / "chorus.json")
    frames(view, 3)
    shown_within_frames(view, "patch:description_text")  # the panel is rebuilt once the patch is fitted
    assert dpg.get_value("patch:description_text").startswith("Stereo chorus")
    assert dpg.get_value("patch:description") == model.patch.description
    model.set_patch_info(description="Changed.")
    frames(view, 2)
    assert dpg.get_value("patch:description_text") == "Changed."
    model.undo()
    frames(view, 2)
    assert dpg.get_value("patch:description_text").startswith("Stereo chorus")

    width = view.width
    try:
        view.width = 1008  # a 1024 x 768 screen's window
        assert view.panel_picture_size[0] <= view.panel_width - 16
    finally:
        view.width = width


# -- the command line -------------------------------------------------------------------------
def test_screenshot_command_line(display: str, tmp_path: Path) -> None:
    shot = tmp_path / "cli.png"
    environment = dict(os.environ, DISPLAY=display, PATCHER_STATE_DIR=str(tmp_path / "state"))
    result = subprocess.run(
        [sys.executable, "-m", "patcher.editor", str(demo_patch(tmp_path)), "--screenshot", str(shot)],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    image = pixels_of(shot)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    shutil.copy(shot, SCREENSHOT_DIR / "cli.png")


def test_a_screenshot_run_leaves_the_users_recent_files_and_autosaves_alone(
    display: str, tmp_path: Path
) -> None:
    """`patcher edit X --screenshot` (the docs' pictures, tests) is not a session of the
    user's: their recent list stays as it was, and a crashed session's autosave stays to be
    offered back to them (not to the picture)."""
    from tests.editor_sessions import crashed_session

    state = tmp_path / "state"
    state.mkdir()
    recent = state / "recent.json"
    recent.write_text(json.dumps(["/home/someone/song.json"]))
    crashed_session(state)
    before = {file.name: file.read_bytes() for file in state.iterdir()}
    shot = tmp_path / "shot.png"
    environment = dict(os.environ, DISPLAY=display, PATCHER_STATE_DIR=str(state))
    result = subprocess.run(
        [sys.executable, "-m", "patcher", "edit", str(demo_patch(tmp_path)), "--screenshot", str(shot)],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert shot.is_file() and f"wrote {shot}" in result.stdout
    assert {file.name: file.read_bytes() for file in state.iterdir()} == before


def test_screenshot_of_a_bad_patch_fails_with_the_loader_message(display: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    environment = dict(os.environ, DISPLAY=display, PATCHER_STATE_DIR=str(tmp_path / "state"))
    result = subprocess.run(
        [sys.executable, "-m", "patcher.editor", str(bad), "--screenshot", str(tmp_path / "x.png")],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert "malformed JSON" in result.stderr


def test_edit_play_screenshot_plays_the_chorus_through_the_engine_process(
    display: str, jack: Any, tmp_path: Path
) -> None:
    from patcher.editor.view import FAMILY_COLORS

    shot = tmp_path / "chorus.png"
    environment = dict(os.environ, DISPLAY=display, PATCHER_STATE_DIR=str(tmp_path / "state"))
    command = [sys.executable, "-m", "patcher", "edit", "patches/chorus.json", "--play", "--screenshot"]
    command.append(str(shot))
    result = subprocess.run(command, capture_output=True, text=True, timeout=90, env=environment, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    image = pixels_of(shot)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50
    assert has_colour(image, FAMILY_COLORS["delays"]) and has_colour(image, FAMILY_COLORS["modulators"])
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    shutil.copy(shot, SCREENSHOT_DIR / "chorus-playing.png")


def test_patcher_alone_opens_the_editor_playing_the_default_patch(
    display: str, jack: Any, tmp_path: Path
) -> None:
    """`make run` with a display and a sound card: the editor's engine process appears on the
    sound card (its JACK ports), and goes away with the editor."""
    environment = dict(os.environ, DISPLAY=display, PATCHER_STATE_DIR=str(tmp_path / "state"))
    editor = subprocess.Popen(
        [sys.executable, "-m", "patcher"], env=environment, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        playing: set[str] = set()
        while len(playing) < 2 and time.monotonic() < deadline and editor.poll() is None:  # one by one
            time.sleep(0.2)
            playing = {port for port in jack.ports("output") if not port.startswith("system:")}
        assert playing, f"no engine on the sound card; editor exited with {editor.poll()}"
        assert len(playing) == 2  # stereo out
    finally:
        editor.terminate()  # by its process id; its engine process follows it
        try:
            editor.wait(timeout=10)
        except subprocess.TimeoutExpired:
            editor.kill()
            editor.wait()
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline and any(not p.startswith("system:") for p in jack.ports("output")):
        time.sleep(0.2)
    assert not any(not port.startswith("system:") for port in jack.ports("output")), "an engine lived on"


# -- Analyze > Measure and Capture IR -------------------------------------------------------------
def pedal_vs_ir_copy(folder: Path) -> Path:
    """The example and its media in a folder of the test's own (a capture writes beside it)."""
    shutil.copy(ROOT / "patches" / "pedal_vs_ir.json", folder / "pedal_vs_ir.json")
    shutil.copytree(ROOT / "patches" / "media", folder / "media")
    return folder / "pedal_vs_ir.json"


def measured(view: Any) -> dict[str, str]:
    """Frames until the measurement under way has finished; what the Measure window says."""
    deadline = time.monotonic() + 4 * PATIENCE_S
    while view.model.measuring.job is not None:
        assert time.monotonic() < deadline, "the measurement did not finish"
        view.frame()
    frames(view, 3)
    return view.measure_window.shown_text()


def analyze_printed(patch_file: Path, chain: tuple[str, str], folder: Path) -> str:
    """What ``patcher analyze`` prints for the chain."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "patcher",
            "analyze",
            str(patch_file),
            "--from",
            chain[0],
            "--to",
            chain[1],
            "-o",
            str(folder / "report"),
            "--no-plots",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split("wrote the report")[0]


def hear(model: Any, blocks: int = 40) -> float:
    """The left channel's peak over the next blocks the playing engine makes."""
    engine = model.player.engine
    return max(float(np.max(np.abs(engine.process_block()[0]))) for _ in range(blocks))


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_measure_the_pedal_and_its_low_pass_then_capture_the_low_pass_and_hear_it_null(
    window: Any, tmp_path: Path
) -> None:
    import dearpygui.dearpygui as dpg

    view, model = window, window.model
    patch_file = pedal_vs_ir_copy(tmp_path)
    assert model.open(patch_file)
    frames(view, 4)

    # The pedal side, chosen by selecting its three nodes, measured with a real Ctrl+M.
    model.select(["pre_emphasis", "clipper", "tone"])
    left, top = dpg.get_item_pos("canvas_area")
    move_and_settle(view, int(left + 300), int(top + 600))
    xdotool("key", "ctrl+m")
    frames(view, 4)
    assert dpg.is_item_shown("measure_window")
    assert (dpg.get_value("measure_from"), dpg.get_value("measure_to")) == ("pre_emphasis.in", "tone.out")
    shown = measured(view)
    assert shown["measure_verdict"].startswith("Nonlinear: its impulse response cannot capture it")
    assert "nonlinear" in shown["measure_figures"] and "does not null" in shown["measure_figures"]
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    assert view.screenshot(SCREENSHOT_DIR / "measure-pedal.png")

    # The tone low-pass alone, from its node's right-click menu: LTI, and its figures are
    # those patcher analyze prints for the same chain.
    view._menu_node = "tone"
    view.node_menu_choice("measure")
    shown = measured(view)
    assert shown["measure_verdict"].startswith("Linear and time-invariant: its impulse response captures it")
    assert shown["measure_figures"] == analyze_printed(patch_file, ("tone.in", "tone.out"), tmp_path)
    for index in range(4):  # the four plots, drawn at the UI scale
        tag = f"measure_plot:{index}"
        assert dpg.is_item_shown(tag) and len(dpg.get_item_children(tag, 2)) > 10
        assert dpg.get_item_configuration(tag)["width"] == round(400 * view.camera.ui_scale)
    scale = view.camera.ui_scale
    view.set_ui_scale(1.5)  # on a projector: the plots and the window grow with the UI
    frames(view, 3)
    assert dpg.get_item_configuration("measure_plot:0")["width"] == 600
    assert dpg.get_item_configuration("measure_window")["width"] == round(840 * 1.5)
    view.set_ui_scale(scale)
    frames(view, 3)

    # Capture beside the chain, through the window's button, while playing.
    model.toggle_play()
    assert model.playing
    dpg.get_item_callback("capture_beside")()
    frames(view, 3)
    capture = model.patch.nodes["capture"]
    assert (tmp_path / capture.params["file"]).is_file()  # the IR, beside the patch
    assert dpg.is_item_shown("measure_listen_group") and dpg.get_value("measure_listen") == "chain"
    chain_peak = hear(model)
    assert chain_peak > 0.01

    # The difference (chain minus capture), heard live through the A/B switch: it nulls.
    dpg.get_item_callback("measure_listen")("measure_listen", "difference")
    frames(view, 2)
    hear(model, 4)  # the levels glide over a few blocks
    residual_db = 20 * math.log10(max(hear(model), 1e-30) / chain_peak)
    assert residual_db < -100.0, residual_db
    dpg.get_item_callback("measure_listen")("measure_listen", "capture")
    hear(model, 4)
    assert hear(model) > 0.01
    model.stop()

    # Undo takes the capture back whole.
    assert model.undo() and model.undo() and model.undo()
    assert "capture" not in model.patch.nodes and "tone" in model.patch.nodes


def test_measuring_can_be_cancelled_and_a_capture_in_place_replaces_the_chain(
    window: Any, tmp_path: Path
) -> None:
    import dearpygui.dearpygui as dpg

    view, model = window, window.model
    patch_file = pedal_vs_ir_copy(tmp_path)
    assert model.open(patch_file)
    frames(view, 2)
    before = patcher_render(model.patch)

    model.select(["tone"])
    view.perform("measure")
    job = model.measuring.job
    frames(view, 1)
    assert job is not None and dpg.is_item_shown("measure_running")
    dpg.get_item_callback("measure_cancel")()
    assert model.measuring.job is None and model.measuring.result is None
    assert not _alive(job.pid)
    frames(view, 2)
    assert not dpg.is_item_shown("measure_running")

    view.perform("measure")
    measured(view)
    dpg.get_item_callback("capture_in_place")()
    frames(view, 2)
    assert "tone" not in model.patch.nodes and model.patch.nodes["capture"].type == "convolver"
    after = patcher_render(model.patch)
    error_db = 10 * math.log10(np.sum((after - before) ** 2) / np.sum(before**2))
    assert error_db < -100.0, error_db


def patcher_render(patch: Patch) -> np.ndarray:
    from patcher.render import render

    return np.asarray(render(patch, seconds=0.5))[:, 0]


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def drag(view: Any, start: tuple[int, int], end: tuple[int, int], steps: int = 5) -> None:
    """A real left-button drag from ``start`` to ``end``, a few frames per step."""
    move_and_settle(view, *start)
    xdotool("mousedown", "1")
    frames(view, 3)
    for step in range(1, steps + 1):
        move_and_settle(
            view,
            start[0] + (end[0] - start[0]) * step // steps,
            start[1] + (end[1] - start[1]) * step // steps,
        )
    xdotool("mouseup", "1")
    frames(view, 4)


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_real_input_dragging_a_cable_off_its_input_disconnects_it(window: Any) -> None:
    """As in VCV Rack, without Ctrl: drag from a linked input and let go on empty canvas. A
    short drag, or a drag onto another pin, or a node drag keeps the cable."""
    import dearpygui.dearpygui as dpg

    view, model = window, window.model
    assert any(str(link) == "drive.out -> out.left" for link in model.patch.links)
    pin = pin_point("out", "left", "in")
    assert view.pin_at(pin) == ("in", PortRef("out", "left"))
    assert view.pin_at(pin_point("drive", "out", "out")) == ("out", PortRef("drive", "out"))

    drag(view, pin, (pin[0] - 8, pin[1] + 4), steps=2)  # a wobble, not a drag off
    assert any(str(link) == "drive.out -> out.left" for link in model.patch.links)

    drag(view, screen_point("node:out", "top"), (screen_point("node:out", "top")[0] + 60, 300))
    assert any(str(link) == "drive.out -> out.left" for link in model.patch.links)  # the node moved
    pin = pin_point("out", "left", "in")

    drag(view, pin, (pin[0] - 150, pin[1] + 120))
    assert not any(str(link) == "drive.out -> out.left" for link in model.patch.links), model.status.text
    assert not dpg.does_item_exist("link:drive.out->out.left")
    assert model.undo_stack[-1].label.startswith("disconnect")
    model.undo()
    frames(view, 3)
    assert any(str(link) == "drive.out -> out.left" for link in model.patch.links)


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_real_input_delete_with_a_link_clicked_removes_the_link_not_the_node_just_added(window: Any) -> None:
    """A node added from the browser is selected (and outlined); clicking a link selects the
    link instead, so Delete removes the link, never a node the canvas does not show selected."""

    view, model = window, window.model
    move_and_settle(view, *screen_point("add:clock"))  # the browser's button (one still on screen)
    xdotool("click", "1")
    frames(view, 4)
    added = model.selected_nodes
    assert added and model.patch.nodes[added[0]].type == "clock"
    start, end = pin_point("lp", "out", "out"), pin_point("drive", "in", "in")
    middle = ((start[0] + end[0]) // 2, (start[1] + end[1]) // 2)  # a bezier's midpoint
    move_and_settle(view, *middle)
    xdotool("click", "1")
    frames(view, 4)
    assert model.selected_links and str(model.selected_links[0]) == "lp.out -> drive.in"
    assert model.selected_nodes == []
    xdotool("key", "Delete")
    frames(view, 4)
    assert added[0] in model.patch.nodes
    assert not any(str(link) == "lp.out -> drive.in" for link in model.patch.links)


def test_real_input_a_linear_sliders_box_follows_every_drag(window: Any) -> None:
    """Issue 14: the box beside a linear slider lagged one edit behind."""
    import dearpygui.dearpygui as dpg

    view, model = window, window.model
    model.select(["drive"])
    frames(view, 3)
    tag = "param:bias"
    assert model.patch.nodes["drive"].spec.PARAMS["bias"].scale == "lin"
    values = []
    for pixels in (40, -25, 30):
        drag_slider(view, tag, pixels)
        value = model.patch.nodes["drive"].params["bias"]
        values.append(value)
        assert dpg.get_value(f"{tag}:typed") == pytest.approx(value, rel=1e-6)
        assert dpg.get_value(tag) == pytest.approx(value, abs=1e-6)
    assert values[0] > 0 and values[1] < values[0] and values[2] > values[1]


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_real_input_ctrl_g_groups_double_click_opens_the_breadcrumb_goes_back_ctrl_shift_g_ungroups(
    window: Any,
) -> None:
    import dearpygui.dearpygui as dpg

    view, model = window, window.model
    model.add_comment("A saw, swept by an LFO,\nthen driven.", (20.0, -120.0))
    model.select(["lp", "drive"])
    frames(view, 3)
    left, top = dpg.get_item_pos("canvas_area")
    move_and_settle(view, int(left + 300), int(top + 600))
    xdotool("key", "ctrl+g")
    frames(view, 4)
    assert "group1" in model.patch.nodes and "lp" not in model.patch.nodes, model.status.text
    assert dpg.does_item_exist("node:group1") and not dpg.does_item_exist("node:lp")
    assert dpg.does_item_exist("link:osc.out->group1.osc_out")
    assert not dpg.is_item_shown("breadcrumb")
    from patcher.editor.view import FAMILY_COLORS

    shot = SCREENSHOT_DIR / "grouped.png"
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    assert view.screenshot(shot, frames=4)
    assert has_colour(pixels_of(shot), FAMILY_COLORS["subpatch"]), "no subpatch title bar"

    double_click_at(view, *screen_point("node:group1", "top"))
    assert model.opened == ["group1"], model.status.text
    frames(view, 4)
    assert dpg.does_item_exist("node:lp") and dpg.does_item_exist("node:osc_out")
    assert not dpg.does_item_exist("node:osc") and dpg.is_item_shown("breadcrumb")
    assert dpg.get_item_label("crumb:0") == "demo" and dpg.get_item_label("crumb:1") == "group1"
    model.add_comment("Inside the group: the filter and the drive.", (200.0, -110.0))
    frames(view, 4)
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    assert view.screenshot(SCREENSHOT_DIR / "subpatch-open.png", frames=4)

    click_at(view, *screen_point("crumb:0"))
    frames(view, 3)
    assert model.opened == [] and dpg.does_item_exist("node:osc") and not dpg.does_item_exist("node:lp")
    assert not dpg.is_item_shown("breadcrumb")
    model.select(["group1"])
    frames(view, 2)
    xdotool("key", "ctrl+shift+g")
    frames(view, 4)
    assert "group1" not in model.patch.nodes and {"lp", "drive"} <= set(model.patch.nodes)
    assert dpg.does_item_exist("node:lp") and dpg.does_item_exist("link:osc.out->lp.in")
    xdotool("key", "ctrl+z")  # the ungroup, then the comment made inside: undo goes back in
    frames(view, 3)
    xdotool("key", "ctrl+z")
    frames(view, 4)
    assert model.opened == ["group1"] and model.patch.comments == []


def test_a_comment_is_shown_on_the_canvas_and_edited_in_its_dialog(window: Any) -> None:
    import dearpygui.dearpygui as dpg

    from patcher.editor.composition_view import NOTE_BACKGROUND

    view, model = window, window.model
    view.perform("add_comment")
    frames(view, 2)
    assert dpg.is_item_shown("comment_dialog")
    dpg.set_value("comment_input", "The LFO sweeps\nthe filter's cutoff.")
    view.composition.finish_comment(True)
    frames(view, 4)
    assert model.patch.comments[0].text == "The LFO sweeps\nthe filter's cutoff."
    assert dpg.does_item_exist("comment:0")
    shot = SCREENSHOT_DIR / "comment.png"
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    assert view.screenshot(shot, frames=4)
    assert has_colour(pixels_of(shot), NOTE_BACKGROUND, at_least=2000), "no note on the canvas"
    view.composition.ask_comment(0)
    dpg.set_value("comment_input", "edited")
    view.composition.finish_comment(True)
    frames(view, 3)
    assert model.patch.comments[0].text == "edited"
    view.perform("undo")
    frames(view, 3)
    assert model.patch.comments[0].text.startswith("The LFO")


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_real_input_preset_recall_while_playing_glides_the_level(window: Any) -> None:
    import dearpygui.dearpygui as dpg

    view, model = window, window.model
    model.store_preset("normal")
    model.set_master_level(-40.0)
    model.store_preset("quiet")
    frames(view, 2)
    assert dpg.get_item_configuration("preset_combo")["items"] == ["normal", "quiet"]
    view.perform("play")
    frames(view, 6)
    quiet = float(np.max(model.player.levels))
    dpg.set_value("preset_combo", "normal")
    dpg.set_value("preset_glide", 0.5)
    click_at(view, *screen_point("preset_recall"))  # a real click, as the user recalls
    assert model.root.nodes["out"].params["level_db"] == -6.0
    levels = []  # click_at drew 5 frames: the glide has begun
    for _ in range(16):  # each frame polls the offline engine: 8 blocks of 256 samples
        frames(view, 1)
        levels.append(float(np.max(model.player.levels)))
    assert quiet < levels[2] < levels[-1], levels
    assert levels[-1] > 10 * quiet
    view.perform("undo")
    assert model.root.nodes["out"].params["level_db"] == -40.0
    view.perform("play")


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_real_input_right_click_save_as_abstraction_writes_the_file_and_the_node_names_it(
    window: Any, tmp_path: Path
) -> None:
    import dearpygui.dearpygui as dpg

    from patcher.patchfile import load

    view, model = window, window.model
    model.select(["lp", "drive"])
    assert model.group_selection() == "group1"
    frames(view, 4)
    move_and_settle(view, *screen_point("node:group1", "top"))
    xdotool("click", "3")
    frames(view, 4)
    assert dpg.is_item_shown("node_menu")
    move_and_settle(view, *screen_point("node_menu:save_as_abstraction"))
    xdotool("click", "1")
    frames(view, 4)
    assert view.file_window is not None and dpg.get_value("file_dialog:name") == "group1.json"
    press(view, "ctrl+a")
    type_in(view, "tone")
    press(view, "Return")
    assert view.file_window is None, model.status.text
    assert model.root.nodes["group1"].file == "tone.json" and (tmp_path / "tone.json").is_file()
    assert set(load(tmp_path / "tone.json").nodes) == set(model.root.nodes["group1"].inner.nodes)
    frames(view, 3)
    assert "subpatch tone.json" in {
        dpg.get_value(item) for item in dpg.get_item_children(dpg.get_item_children("node:group1", 1)[0], 1)
    }
    # Inside it, the bar offers to save the abstraction.
    double_click_at(view, *screen_point("node:group1", "top"))
    assert model.opened == ["group1"] and dpg.does_item_exist("crumb:save_abstraction")
    model.close_subpatch()
    frames(view, 2)


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_real_input_a_comment_is_dragged_then_selected_and_deleted(window: Any) -> None:
    import dearpygui.dearpygui as dpg

    view, model = window, window.model
    model.add_comment("drag me", (300.0, 200.0))
    frames(view, 4)
    depth = len(model.undo_stack)
    start = screen_point("comment:0", "top")
    move_and_settle(view, *start)
    xdotool("mousedown", "1")
    frames(view, 3)
    for step in range(1, 4):
        move_and_settle(view, start[0] + 20 * step, start[1] + 10 * step)
    xdotool("mouseup", "1")
    frames(view, 4)
    moved = model.patch.comments[0].position
    assert moved != (300.0, 200.0) and len(model.undo_stack) == depth + 1, model.status.text
    assert dpg.get_item_pos("comment:0") == list(view.camera.to_grid(moved))
    click_at(view, *screen_point("comment:0", "top"))
    press(view, "Delete")
    assert model.patch.comments == [] and not dpg.does_item_exist("comment:0")
    press(view, "ctrl+z")
    assert model.patch.comments[0].position == moved and dpg.does_item_exist("comment:0")


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_a_node_clicked_in_one_patch_is_not_selected_in_the_next_opened(window: Any, tmp_path: Path) -> None:
    """Both patches have a node 'out': the canvas kept it selected across the open, and it
    took the panel over from the node the user then chose."""
    view, model = window, window.model
    move_and_settle(view, *screen_point("node:out", "top"))
    xdotool("click", "1")
    frames(view, 4)
    assert model.selected_nodes == ["out"]
    other = Patch(base_dir=tmp_path)
    other.add_node("noise", "hiss")
    other.add_node("output", "out", position=(300.0, 0.0))
    other.connect("hiss.out", "out.left")
    save(other, tmp_path / "other.json")
    assert model.open(tmp_path / "other.json")
    frames(view, 4)
    assert model.selected_nodes == []
    model.select(["hiss"])
    frames(view, 4)
    assert model.selected_nodes == ["hiss"] and model.focused_node == "hiss"


# -- MIDI and OSC in the editor: the engine process's ports, MIDI learn ------------------------
def live_patch(folder: Path) -> Path:
    """Left: a 2 kHz sine through a low-pass open at 20 kHz. Right: a ``note`` node's voice."""
    patch = Patch(base_dir=folder)
    patch.add_node("oscillator", "tone", (20.0, 40.0), frequency_hz=2000.0, amplitude=0.5)
    patch.add_node("filter", "lp", (260.0, 40.0), cutoff_hz=20000.0, q=0.707)
    patch.add_node("note", "keys", (20.0, 260.0))
    patch.add_node("oscillator", "voice", (260.0, 260.0), frequency_hz=0.1, amplitude=0.5)
    patch.add_node("math", "vca", (500.0, 260.0), op="multiply")
    patch.add_node("output", "out", (740.0, 120.0), level_db=0.0)
    for source, target in (
        ("tone.out", "lp.in"),
        ("lp.out", "out.left"),
        ("keys.pitch_hz", "voice.frequency_hz"),
        ("voice.out", "vca.a"),
        ("keys.gate", "vca.b"),
        ("vca.out", "out.right"),
    ):
        patch.connect(source, target)
    save(patch, folder / "live.json")
    return folder / "live.json"


def frames_until(view: Any, condition: Any, what: str) -> None:
    """Frames (as the window runs) until ``condition()``, or fail saying ``what`` never came."""
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not come within {PATIENCE_S:g} s: {view.model.status.text}")
        frames(view, 1)
        time.sleep(0.01)


def show_midi_menu(view: Any, picture: str) -> None:
    """Open Transport > MIDI Input with the mouse, save a screenshot, close it again."""
    from patcher.editor.layout import CHAR_WIDTH

    # A menu in the bar has no rectangle to ask for: the titles are measured in characters.
    scale, left = view.camera.ui_scale, 12.0
    for title in ("File", "Edit", "View", "Analyze"):
        left += len(title) * CHAR_WIDTH + 14.3
    click_at(view, round((left + 4.5 * CHAR_WIDTH) * scale), round(10 * scale))
    # Its rows (no rectangle either): Play / Stop, Audio Device, MIDI Input, 18 pixels apart.
    move_and_settle(view, round((left + 30) * scale), round((35 + 2 * 18) * scale))
    frames(view, 3)
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    assert view.screenshot(SCREENSHOT_DIR / picture, frames=2)
    xdotool("key", "Escape")
    click_at(view, 600, 700)  # on the canvas: the menu closes
    frames(view, 2)


def menu_labels(menu: str) -> list[str]:
    import dearpygui.dearpygui as dpg

    return [label for item in dpg.get_item_children(menu, 1) if (label := dpg.get_item_label(item))]


class Keyboard:
    """Another process with a JACK MIDI output port, ``keyboard:keys``, sending what it is told."""

    def __init__(self) -> None:
        from tests.test_live import KEYBOARD

        self.process = subprocess.Popen(
            [sys.executable, "-c", KEYBOARD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout.readline().strip() == "ready"

    def send(self, *message: int) -> None:
        self.process.stdin.write(" ".join(map(str, message)) + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "sent"

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()  # by its own handle
            self.process.wait()


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_real_input_midi_learn_maps_a_cc_from_another_jack_client_and_notes_sound(
    window: Any, jack: Any, tmp_path: Path
) -> None:
    """No port: the menu says so. A keyboard on JACK MIDI appears, is chosen in the menu and
    opened in the engine process; right click the cutoff, MIDI learn, a CC maps it (saved);
    the next CC moves the slider and what plays; a note sounds at its pitch; the choice
    survives a Stop and a Play; Esc cancels a learn; the menu forgets the mapping."""
    import dearpygui.dearpygui as dpg
    import soundfile
    from pythonosc.udp_client import SimpleUDPClient

    from patcher.editor.live_view import NO_PORTS
    from patcher.server import EngineProcess
    from tests.test_live import free_udp_port

    view, model = window, window.model
    view.live_view.look_for_ports()
    assert menu_labels("midi_menu") == ["None", NO_PORTS, "Look again"]  # the separator has none
    assert not dpg.get_item_configuration("midi_none_found")["enabled"]
    show_midi_menu(view, "midi-menu-no-ports.png")
    assert model.open(live_patch(tmp_path))
    model.player_factory = lambda patch: EngineProcess(patch, device=jack.device, keep_alive=True)
    keyboard = Keyboard()
    try:
        view.live_view.look_for_ports()
        assert "keyboard:keys" in menu_labels("midi_menu") and NO_PORTS not in menu_labels("midi_menu")
        (item,) = [
            i for i in dpg.get_item_children("midi_menu", 1) if dpg.get_item_label(i) == "keyboard:keys"
        ]
        dpg.get_item_callback(item)(item, True, None)  # the menu item, as a click calls it
        model.start_engine()
        view.perform("play")
        frames_until(
            view, lambda: model.playing and model.live.midi_opened == "keyboard:keys", "the port open"
        )
        checked = [dpg.get_item_label(i) for i in dpg.get_item_children("midi_menu", 1) if dpg.get_value(i)]
        assert checked == ["keyboard:keys"]  # the menu, redrawn, shows what the engine opened
        show_midi_menu(view, "midi-menu.png")
        frames_until(view, lambda: model.last_meters and model.last_meters["level"][0] > 0.4, "the tone")

        model.select(["lp"])
        shown_within_frames(view, "param:cutoff_hz")
        move_and_settle(view, *screen_point("param:cutoff_hz"))
        xdotool("click", "3")
        frames(view, 4)
        assert dpg.is_item_shown("param_menu")
        SCREENSHOT_DIR.mkdir(exist_ok=True)
        assert view.screenshot(SCREENSHOT_DIR / "param-menu.png", frames=2)
        move_and_settle(view, *screen_point("param_menu:learn"))
        xdotool("click", "1")
        frames(view, 4)
        assert model.live.learning == "lp.cutoff_hz"
        assert dpg.get_value("status_text").startswith("Move a MIDI control to map lp.cutoff_hz")
        assert "[learning...]" in dpg.get_value("param:cutoff_hz:label")
        move_and_settle(view, 600, 700)  # off the panel: no tooltip over it
        assert view.screenshot(SCREENSHOT_DIR / "midi-learn.png", frames=2)

        keyboard.send(0xB0, 74, 127)  # CC 74 on channel 1: learned
        frames_until(view, lambda: model.live.learning is None, "the CC learned")
        assert model.status.text == "mapped CC 74 ch 1 to lp.cutoff_hz"
        frames(view, 3)
        assert "[CC 74 ch 1]" in dpg.get_value("param:cutoff_hz:label")
        assert model.save_as(tmp_path / "learned.json")
        assert load_patch(tmp_path / "learned.json").mappings == [ControlMapping("lp.cutoff_hz", 74, 1)]

        keyboard.send(0xB0, 74, 0)  # the knob down: the cutoff to its bottom, 10 Hz
        frames_until(view, lambda: model.patch.nodes["lp"].params["cutoff_hz"] < 11.0, "the cutoff down")
        frames(view, 2)
        assert dpg.get_value("param:cutoff_hz:typed") == pytest.approx(10.0)  # the widget follows
        assert "*" in model.title() and model.undo_stack[-1].label.startswith("map CC 74")
        frames_until(view, lambda: model.last_meters["level"][0] < 0.005, "the tone filtered away")
        assert view.screenshot(SCREENSHOT_DIR / "midi-mapped.png", frames=2)

        recording = tmp_path / "note.wav"
        assert model.start_recording(recording)
        keyboard.send(0x90, 69, 100)  # A4
        frames_until(view, lambda: model.last_meters["level"][1] > 0.4, "the note heard")
        time.sleep(0.3)
        keyboard.send(0x80, 69, 0)
        assert model.stop_recording()
        audio, rate = soundfile.read(recording)
        right = audio[:, 1]
        loud = np.flatnonzero(np.abs(right) > 0.25)
        heard = right[loud[0] : loud[0] + rate // 5]
        spectrum = np.abs(np.fft.rfft(heard * np.hanning(len(heard)), 8 * len(heard)))
        assert np.argmax(spectrum) * rate / (8 * len(heard)) == pytest.approx(440.0, abs=2.0)

        view.perform("play")  # Stop, and Play again: still listening, in the same process
        view.perform("play")
        assert model.playing
        keyboard.send(0xB0, 74, 127)
        frames_until(view, lambda: model.patch.nodes["lp"].params["cutoff_hz"] > 19000.0, "the cutoff up")
        frames_until(view, lambda: model.last_meters["level"][0] > 0.4, "the tone again")

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:  # OSC on a port in use
            taken.bind(("127.0.0.1", 0))
            port = taken.getsockname()[1]
            dpg.get_item_callback("osc_port_input")("osc_port_input", port, None)
            dpg.get_item_callback("osc_item")("osc_item", True, None)
            frames_until(view, lambda: "OSC port" in model.status.text, "the OSC port refused")
            assert model.status.level == "warning" and model.live.osc_opened is None
            assert model.status.text.startswith(f"OSC port {port} cannot be opened: ")
            assert model.playing  # and the sound plays on
        port = free_udp_port()
        dpg.get_item_callback("osc_port_input")("osc_port_input", port, None)
        frames_until(view, lambda: model.live.osc_opened == port, "the OSC port open")
        SimpleUDPClient("127.0.0.1", port).send_message("/patcher/lp/q", 2.0)
        frames_until(view, lambda: model.patch.nodes["lp"].params["q"] == 2.0, "q moved by OSC")
        frames(view, 2)
        assert dpg.get_value("param:q:typed") == pytest.approx(2.0)
        dpg.get_item_callback("osc_item")("osc_item", False, None)
        assert model.status.text == "not listening to OSC"

        move_and_settle(view, *screen_point("param:cutoff_hz:label"))
        xdotool("click", "3")
        frames(view, 4)
        move_and_settle(view, *screen_point("param_menu:learn"))
        xdotool("click", "1")
        frames(view, 3)
        assert model.live.learning == "lp.cutoff_hz"
        xdotool("key", "Escape")
        frames(view, 3)
        assert model.live.learning is None and "cancelled" in model.status.text

        move_and_settle(view, *screen_point("param:cutoff_hz"))
        xdotool("click", "3")
        frames(view, 4)
        assert dpg.get_item_label("param_menu:forget") == "Forget mapping (CC 74 ch 1)"
        move_and_settle(view, *screen_point("param_menu:forget"))
        xdotool("click", "1")
        frames(view, 3)
        assert model.root.mappings == [] and "[CC" not in dpg.get_value("param:cutoff_hz:label")
    finally:
        model.live.choose_midi_input(None)  # the module's other tests play with no MIDI
        model.live.set_osc(False)
        model.close_engine()
        keyboard.close()
    view.live_view.look_for_ports()
    assert menu_labels("midi_menu") == ["None", NO_PORTS, "Look again"]


def test_the_status_line_follows_past_its_history_limit(window: Any) -> None:
    """The history keeps the last STATUS_HISTORY messages: its length stops growing there, and
    the status line used to stop following then (seen in a long session, and in this module)."""
    import dearpygui.dearpygui as dpg

    from patcher.editor.model import STATUS_HISTORY

    for number in range(STATUS_HISTORY + 3):
        window.model.say(f"message {number}")
        frames(window, 1)
    assert dpg.get_value("status_text") == f"message {STATUS_HISTORY + 2}"
