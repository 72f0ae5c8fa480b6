"""The per-node CPU meter (VCV Rack's F3): measured in the engine only while it is on, reported
by the in-process player and through the engine process. Behaviour, not exact timings: which
nodes have a share, which is larger, what they add up to, and that measuring changes no sample.
"""

from __future__ import annotations

import copy
import queue
import time

import numpy as np
import pytest

import patcher
from patcher.engine import Engine
from patcher.player import Player
from patcher.server import LOAD_SLOTS, EngineProcess, NodeOrder, _arrays, _handle, _memory_size, _publish
from tests.test_protection import run_callback

RATE = 48000
BLOCK = 256
#: How long a test waits for the engine process to show something: long enough for a busy machine.
PATIENCE_S = 30.0


def heavy_and_light_patch() -> patcher.Patch:
    """Noise through a convolver with a 10 s room (heavy) and a gain (light), plus a feedback
    loop (a delay and a gain in it) and a node that reaches no output (not run)."""
    patch = patcher.Patch()
    patch.add_node("noise", "source", amplitude=0.2)
    patch.add_node("convolver", "reverb", room_length_s=10.0, mix=0.5)
    patch.add_node("gain", "level", gain_db=-6.0)
    patch.add_node("delay", "echo", time_ms=2.0, feedback=0.0, mix=1.0)
    patch.add_node("gain", "loop_gain", gain_db=-9.0)
    patch.add_node("output", "out")
    patch.add_node("oscillator", "unheard")
    for source, target in (
        ("source.out", "reverb.in"),
        ("reverb.out", "level.in"),
        ("level.out", "out.left"),
        ("source.out", "echo.in"),
        ("echo.tap", "loop_gain.in"),
        ("loop_gain.out", "echo.in"),
        ("loop_gain.out", "out.right"),
    ):
        patch.connect(source, target)
    return patch


def render_in_pieces(engine: Engine, frames: list[int]) -> np.ndarray:
    """Blocks of the given lengths (whole and partial), as a (frames, 2) array."""
    return np.concatenate([engine.process_block(count).T.copy() for count in frames])


def test_metering_reports_a_share_for_every_running_node_larger_for_a_heavier_one() -> None:
    engine = Engine(heavy_and_light_patch(), RATE, BLOCK)
    engine.render(0.2)  # first calls (caches, FFT plans) before anything is measured
    engine.metering = True
    started = time.perf_counter()
    engine.render(2.0)
    elapsed = time.perf_counter() - started
    loads, total = engine.node_loads()
    assert set(loads) == {"source", "reverb", "level", "echo", "loop_gain", "out"}  # not "unheard"
    assert all(share > 0.0 for share in loads.values())
    assert loads["reverb"] > loads["level"]  # a 10 s impulse response against a multiplication
    # Every call is attributed to one node, loops included: the shares make up the measured total.
    assert sum(loads.values()) == pytest.approx(total, rel=1e-9)
    # A share is of the block's duration: the total is about the render's time over 2 s of audio.
    assert 0.1 < total / (elapsed / 2.0) < 10.0


def test_metering_off_reports_nothing_and_changes_no_sample() -> None:
    """Bit for bit, whole and partial blocks, a feedback loop in chunks, and turned on midway."""
    pieces = [BLOCK, 100, BLOCK, 1, 155, BLOCK] * 8
    plain = Engine(heavy_and_light_patch(), RATE, BLOCK)
    metered = Engine(heavy_and_light_patch(), RATE, BLOCK)
    switched = Engine(heavy_and_light_patch(), RATE, BLOCK)
    metered.metering = True
    expected = render_in_pieces(plain, pieces)
    assert plain.node_loads() == ({}, 0.0)
    np.testing.assert_array_equal(render_in_pieces(metered, pieces), expected)
    half = len(pieces) // 2
    first = render_in_pieces(switched, pieces[:half])
    switched.metering = True
    second = render_in_pieces(switched, pieces[half:])
    np.testing.assert_array_equal(np.concatenate([first, second]), expected)
    switched.metering = False
    assert switched.node_loads() == ({}, 0.0)


def test_turned_on_again_the_meter_starts_afresh() -> None:
    engine = Engine(heavy_and_light_patch(), RATE, BLOCK)
    engine.metering = True
    engine.render(0.5)
    loads = engine.schedule.loads
    assert loads.blocks > 50
    engine.metering = False
    engine.render(0.1)
    assert loads.blocks > 50  # untouched while off
    engine.metering = True
    engine.process_block()
    assert loads.blocks == 1 and set(engine.node_loads()[0]) == set(engine.schedule.order)


def test_an_edit_gets_a_meter_of_its_own() -> None:
    patch = heavy_and_light_patch()
    engine = Engine(patch, RATE, BLOCK)
    engine.metering = True
    engine.render(0.1)
    edited = copy.deepcopy(patch)
    edited.remove_node("reverb")
    edited.add_node("filter", "tone")
    edited.connect("source.out", "tone.in")
    edited.connect("tone.out", "level.in")
    before = engine.schedule.loads
    engine.update_patch(edited)
    engine.render(0.1)
    assert engine.schedule.loads is not before
    loads, _total = engine.node_loads()
    assert "tone" in loads and "reverb" not in loads


def test_the_player_reports_node_loads_in_its_meters_when_asked() -> None:
    player = Player(heavy_and_light_patch(), block_size=BLOCK)
    run_callback(player, 20)
    meters = player.meters()
    assert meters["node_loads"] == {} and meters["node_loads_total"] == 0.0
    player.set_metering(True)
    run_callback(player, 20)
    meters = player.meters()
    assert set(meters["node_loads"]) == set(player.engine.schedule.order)
    assert meters["node_loads_total"] == pytest.approx(sum(meters["node_loads"].values()))
    player.set_metering(False)
    assert player.meters()["node_loads"] == {}


class Loopback:
    """An EngineProcess whose child half (commands, a player driven by hand, publishing)
    runs here, through the same shared-memory layout and reply queue."""

    def __init__(self, patch: patcher.Patch) -> None:
        self.engine = EngineProcess(patch, block_size=BLOCK)
        self.buffer = bytearray(_memory_size(BLOCK))
        self.engine._meters, self.engine._views = _arrays(self.buffer, BLOCK)
        self.engine._commands = queue.Queue()
        self.engine._replies = queue.Queue()
        self.engine._playing = True
        self.player = Player(patch, block_size=BLOCK)
        self.order = NodeOrder(self.engine._replies)

    def child_runs(self, blocks: int = 20) -> None:
        commands = self.engine._commands
        while not commands.empty():
            assert _handle(commands, self.engine._replies, self.player, {}, {}) is None
        run_callback(self.player, blocks)
        _publish(self.player, self.engine._meters, {}, BLOCK, self.order)


def test_node_loads_come_back_with_the_meters_and_follow_an_edit() -> None:
    patch = heavy_and_light_patch()
    loop = Loopback(patch)
    engine = loop.engine
    loop.child_runs()
    assert engine.meters()["node_loads"] == {}
    engine.set_metering(True)
    loop.child_runs()
    meters = engine.meters()
    assert set(meters["node_loads"]) == set(loop.player.engine.schedule.order)
    assert meters["node_loads_total"] == pytest.approx(sum(meters["node_loads"].values()))
    edited = copy.deepcopy(patch)
    edited.remove_node("reverb")
    edited.connect("source.out", "level.in")
    engine.update_patch(edited)
    loop.child_runs()
    assert set(engine.meters()["node_loads"]) == {"source", "level", "echo", "loop_gain", "out"}
    assert engine.warnings() == []  # the node orders are not warnings
    engine.set_metering(False)
    loop.child_runs()
    assert engine.meters()["node_loads"] == {} and not loop.player.engine.metering


def test_a_node_order_is_sent_once_per_change_and_bounded() -> None:
    replies: queue.Queue = queue.Queue()
    order = NodeOrder(replies)
    assert order.cells({}) == (0, [])
    assert order.cells({"a": 0.1, "b": 0.2}) == (1, [0.1, 0.2])
    assert order.cells({"a": 0.3, "b": 0.4}) == (1, [0.3, 0.4])
    assert replies.get_nowait() == ("node_order", (1, ("a", "b")))
    assert replies.empty()
    many = {f"node{index}": 0.001 for index in range(LOAD_SLOTS + 500)}
    generation, shares = order.cells(many)
    assert generation == 2 and len(shares) == LOAD_SLOTS
    assert len(replies.get_nowait()[1][1]) == LOAD_SLOTS


def test_node_loads_arrive_through_a_real_engine_process(jack) -> None:
    engine = EngineProcess(heavy_and_light_patch(), device=jack.device, block_size=BLOCK)
    engine.set_metering(True)  # before it plays: sent at the start
    engine.start()
    try:
        deadline = time.monotonic() + PATIENCE_S
        loads: dict[str, float] = {}
        while time.monotonic() < deadline and len(loads) < 6:
            loads = engine.meters()["node_loads"]
            time.sleep(0.02)
        assert set(loads) == {"source", "reverb", "level", "echo", "loop_gain", "out"}
        time.sleep(0.5)  # a smoothing time constant of real-time blocks
        meters = engine.meters()
        assert meters["node_loads"]["reverb"] > meters["node_loads"]["level"]
        # A share of the block's duration (not seconds, not nanoseconds): the engine keeps up.
        assert 0.0 < meters["node_loads_total"] < 10.0
        engine.set_metering(False)
        assert engine.meters()["node_loads"] == {}
    finally:
        engine.close()
    assert not engine.running


class OfflineMeteredPlayer:
    """A player without a sound card that can meter its nodes: the real engine, rendering a
    little at each poll of the meters."""

    def __init__(self, patch: patcher.Patch) -> None:
        self.engine = Engine(patch, RATE, BLOCK)
        self.device_name = "offline test engine"

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def set_param(self, node_id: str, name: str, value: object) -> None:
        self.engine.set_param(node_id, name, value)

    def update_patch(self, patch: patcher.Patch) -> None:
        self.engine.update_patch(patch)

    def set_metering(self, on: bool) -> None:
        self.engine.metering = on

    def meters(self) -> dict:
        self.engine.render(0.05)
        node_loads, total = self.engine.node_loads()
        return {
            "level": np.zeros(2),
            "cpu_load": 0.0,
            "underruns": 0,
            "callbacks": 1,
            "node_loads": node_loads,
            "node_loads_total": total,
        }

    def warnings(self) -> list[str]:
        return []

    def node_view(self, node_id: str) -> None:
        return None


def test_the_editor_model_turns_the_meters_on_and_gives_each_nodes_share(tmp_path) -> None:
    from patcher.editor.model import EditorModel

    model = EditorModel(heavy_and_light_patch(), state_dir=tmp_path, player_factory=OfflineMeteredPlayer)
    model.set_cpu_meters(True)  # before playing: the player is told when it starts
    assert model.play()
    engine = model.player.engine
    assert engine.metering
    model.poll()
    loads = model.node_loads()
    assert set(loads) == {"source", "reverb", "level", "echo", "loop_gain", "out"}
    assert model.node_loads_total() == pytest.approx(sum(loads.values()))
    model.select(["reverb"])
    assert model.delete_selection()  # an edit: the next poll has the new schedule's nodes
    model.poll()
    assert "reverb" not in model.node_loads() and "source" in model.node_loads()
    assert not model.toggle_cpu_meters()
    assert not engine.metering and model.node_loads() == {} and model.node_loads_total() is None
    model.poll()
    assert model.node_loads() == {}
    model.stop()


def test_a_player_that_cannot_meter_shows_no_loads(tmp_path) -> None:
    from patcher.editor.model import EditorModel

    class Unmetered(OfflineMeteredPlayer):
        set_metering = None  # as a player without the method

    model = EditorModel(heavy_and_light_patch(), state_dir=tmp_path, player_factory=Unmetered)
    assert model.play()
    model.set_cpu_meters(True)
    model.poll()
    assert model.node_loads() == {} and model.node_loads_total() is None
    assert model.status.level == "info"
    model.stop()
