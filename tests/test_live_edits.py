"""Edits while playing must not cost audio: the compile makes way for the audio callback."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import patcher
from patcher.compiler import compile_patch
from patcher.player import MAKE_WAY_LIMIT_S, Player
from patcher.server import EngineProcess
from tests.test_engine import dc_patch


def gain_chain(gains: int) -> patcher.Patch:
    patch = patcher.Patch()
    patch.add_node("math", "dc", op="constant", b=0.1)
    previous = "dc"
    for index in range(gains):
        patch.add_node("gain", f"g{index}")
        patch.connect(f"{previous}.out", f"g{index}.in")
        previous = f"g{index}"
    patch.add_node("output", "out")
    patch.connect(f"{previous}.out", "out.left")
    return patch


def test_a_compile_makes_way_between_every_node() -> None:
    """A player's compile stops to make way for its callback after each node it builds and
    each step it wires: the callback, once it runs, is never held up by more than one."""
    calls = 0

    def pause() -> None:
        nonlocal calls
        calls += 1

    compile_patch(gain_chain(50), pause=pause)
    assert calls == 2 * 52  # 52 nodes built, then 52 steps wired


def test_make_way_returns_once_the_block_is_done() -> None:
    player = Player(dc_patch())
    hold_s = 0.02
    assert hold_s < MAKE_WAY_LIMIT_S
    player._in_block = True

    def finish_block() -> None:
        time.sleep(hold_s)
        player._in_block = False

    finisher = threading.Thread(target=finish_block)
    started = time.perf_counter()
    finisher.start()
    player.make_way()
    waited = time.perf_counter() - started
    finisher.join()
    assert waited >= hold_s and not player._in_block


def test_make_way_does_not_wait_forever_for_a_stuck_flag() -> None:
    player = Player(dc_patch())
    player._in_block = True  # as if the audio thread had died inside a block
    started = time.perf_counter()
    player.make_way()
    assert time.perf_counter() - started >= MAKE_WAY_LIMIT_S


def test_an_edit_played_through_a_player_compiles_with_make_way(monkeypatch) -> None:
    player = Player(gain_chain(3))
    waits = 0
    original = player.make_way

    def counting() -> None:
        nonlocal waits
        waits += 1
        original()

    monkeypatch.setattr(player, "make_way", counting)
    edited = gain_chain(4)
    player.update_patch(edited)
    assert waits == 2 * 6


def _realtime_allowed() -> bool:
    code = "import os; os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_the_engine_process_control_thread_asks_for_realtime_priority(jack) -> None:
    """Its compiles and meters hold the interpreter the callback needs: preempted by the
    machine's other work while holding it, they would make the callback wait too."""
    engine = EngineProcess(dc_patch(), device=jack.device)
    engine.start()
    try:
        edited = dc_patch(0.25)
        engine.update_patch(edited)  # the patch travels as it is, checked in the front end
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and abs(engine.meters()["level"][0] - 0.25) > 1e-6:
            time.sleep(0.05)
        level = engine.meters()["level"][0]
    finally:
        engine.stop()
    assert engine.control_priority == _realtime_allowed()
    assert abs(level - 0.25) < 1e-6
