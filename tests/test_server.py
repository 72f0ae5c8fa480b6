"""The engine process's node-view channel, headless: the parent's and the child's halves of the
protocol run here in one process against a player driven block by block, plus the lifecycle
(a refused start leaves no child; the child never outlives its parent, on the JACK dummy device).
"""

from __future__ import annotations

import copy
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import patcher
from nodes.scopes import view_frequencies
from patcher.player import AudioDeviceError, Player
from patcher.server import (
    VIEW_CELLS,
    VIEW_LENGTH,
    VIEW_SLOTS,
    EngineProcess,
    _arrays,
    _handle,
    _memory_size,
    _publish,
    _publish_views,
    _read_meters,
    _read_view,
    _write_view,
)
from tests.test_protection import run_callback

RATE = 48000
ROOT = Path(__file__).resolve().parent.parent
#: How long a test waits for something to happen before it fails: long enough for a busy machine.
PATIENCE_S = 30.0


def meter_patch() -> patcher.Patch:
    patch = patcher.Patch()
    patch.add_node("oscillator", "osc", waveform="sine", frequency_hz=1500.0, amplitude=0.5)
    patch.add_node("output", "out")
    patch.add_node("scope", "scope", time_ms=4.0)
    patch.add_node("spectrum", "spectrum", fft_size="1024")
    patch.connect("osc.out", "out.left")
    patch.connect("osc.out", "scope.in")
    patch.connect("osc.out", "spectrum.in")
    return patch


class Loopback:
    """An EngineProcess whose child half runs here, on a player driven by hand."""

    def __init__(self, patch: patcher.Patch) -> None:
        self.engine = EngineProcess(patch, block_size=64)
        self.buffer = bytearray(_memory_size(64))
        self.engine._meters, self.engine._views = _arrays(self.buffer, 64)
        self.engine._commands = queue.Queue()
        self.engine._playing = True
        self.player = Player(patch, block_size=64)
        self.watched: dict = {}
        self.viewed: dict = {}
        self.failed: set = set()
        self.replies: queue.Queue = queue.Queue()

    def child_runs(self, blocks: int = 40) -> None:
        """The child's loop: take the commands, play some blocks, publish the views."""
        commands = self.engine._commands
        while not commands.empty():
            assert _handle(commands, self.replies, self.player, self.watched, self.viewed) is None
        run_callback(self.player, blocks)
        _publish_views(self.player, self.engine._views, self.viewed, self.failed, self.replies)


def test_a_view_is_watched_on_first_call_then_published_through_shared_memory() -> None:
    loop = Loopback(meter_patch())
    engine = loop.engine
    assert engine.node_view("scope") is None and engine.node_view("spectrum") is None
    assert engine.node_view("scope") is None  # watched, but nothing published yet
    loop.child_runs()
    scope, spectrum = engine.node_view("scope"), engine.node_view("spectrum")
    np.testing.assert_array_equal(scope, loop.player.node_view("scope"))
    np.testing.assert_array_equal(spectrum, loop.player.node_view("spectrum"))
    assert scope.dtype == np.float64 and len(scope) == 192  # 4 ms at 48 kHz
    assert view_frequencies(len(spectrum), RATE)[int(np.argmax(spectrum))] == pytest.approx(1500.0, abs=47)
    scope[:] = 9.0  # a copy: the slot is untouched
    assert np.max(engine.node_view("scope")) < 1.0


def test_a_node_without_a_view_or_a_missing_node_reads_as_none() -> None:
    loop = Loopback(meter_patch())
    for node_id in ("osc", "nope"):
        assert loop.engine.node_view(node_id) is None
    loop.child_runs()
    assert loop.engine.node_view("osc") is None and loop.engine.node_view("nope") is None


def test_after_an_edit_a_reused_slot_never_shows_the_previous_node() -> None:
    loop = Loopback(meter_patch())
    engine = loop.engine
    engine.node_view("scope")
    loop.child_runs()
    assert engine.node_view("scope") is not None
    edited = meter_patch()
    edited.remove_node("scope")
    engine.update_patch(edited)
    # The spectrum now gets slot 0, which still holds the scope's picture: the token tells.
    assert engine.node_view("spectrum") is None and engine.node_view("spectrum") is None
    loop.child_runs()
    assert len(engine.node_view("spectrum")) == 512
    assert engine.node_view("scope") is None
    loop.child_runs()
    assert engine.node_view("scope") is None  # watched, but gone from the patch


def test_a_slot_being_written_is_not_read_and_lengths_are_bounded() -> None:
    row = np.zeros(VIEW_CELLS + VIEW_LENGTH)
    _write_view(row, 7, np.arange(5.0))
    np.testing.assert_array_equal(_read_view(row, 7), np.arange(5.0))
    assert _read_view(row, 8) is None  # another watch's data
    row[0] += 1  # the child is in the middle of a write
    assert _read_view(row, 7) is None
    row[0] += 1
    _write_view(row, 7, np.ones(VIEW_LENGTH + 100))
    assert len(_read_view(row, 7)) == VIEW_LENGTH
    _write_view(row, 7, None)
    assert _read_view(row, 7) is None


def test_views_beyond_the_slots_read_as_none() -> None:
    loop = Loopback(meter_patch())
    for index in range(VIEW_SLOTS):
        loop.engine.node_view(f"node{index}")
    assert loop.engine.node_view("scope") is None
    loop.child_runs()
    assert loop.engine.node_view("scope") is None and "scope" not in loop.engine._view_slots


def test_a_failing_view_is_one_warning_and_the_engine_goes_on() -> None:
    loop = Loopback(meter_patch())
    loop.engine.node_view("scope")
    loop.child_runs()
    loop.player.engine.schedule.nodes["scope"].view = lambda: 1 / 0
    loop.child_runs()
    loop.child_runs()
    kinds = [loop.replies.get_nowait() for _ in range(loop.replies.qsize())]
    assert kinds == [("warning", "node 'scope': its picture failed: ZeroDivisionError('division by zero')")]
    assert loop.engine.node_view("scope") is None and loop.engine.node_view("spectrum") is None


class CountingPlayer:
    """What _publish reads of a player, each call a new number everywhere: a block mixing two
    numbers is a torn read."""

    def __init__(self) -> None:
        self.count = 0.0

    def meters(self) -> dict:
        self.count += 1
        return {"level": np.full(2, self.count), "cpu_load": self.count, "underruns": 0, "callbacks": 0}

    def tap(self, _node_id: str, _port: str) -> np.ndarray:
        return np.full(BLOCK, self.count)


BLOCK = 256


def _publish_forever(memory_name: str, stop: multiprocessing.synchronize.Event) -> None:
    from multiprocessing import shared_memory

    memory = shared_memory.SharedMemory(name=memory_name)
    meters, views = _arrays(memory.buf, BLOCK)
    player = CountingPlayer()
    while not stop.is_set():
        _publish(player, meters, {0: ("osc", "out"), 1: ("osc", "out")}, BLOCK)
    del meters, views
    memory.close()


def test_meters_and_taps_are_never_read_half_written() -> None:
    """The child publishes as fast as it can while this process reads: every tap and the meter
    header come out whole, from one publication, never two. Read until more than 100
    publications were seen (a busy machine gives the writer less time, not fewer chances)."""
    from multiprocessing import shared_memory

    memory = shared_memory.SharedMemory(create=True, size=_memory_size(BLOCK))
    meters, views = _arrays(memory.buf, BLOCK)
    stop = multiprocessing.Event()
    writer = multiprocessing.Process(target=_publish_forever, args=(memory.name, stop))
    writer.start()
    try:
        seen, deadline = set(), time.monotonic() + PATIENCE_S
        while len(seen) <= 100 and time.monotonic() < deadline:
            header = _read_meters(meters, 0, 3)
            tap = _read_meters(meters, 8 + BLOCK, 8 + 2 * BLOCK)
            if header is None or tap is None:
                continue
            assert len(set(header)) == 1 and len(set(tap)) == 1
            seen.add(tap[0])
        assert len(seen) > 100  # it was read while being written, many times over
    finally:
        stop.set()
        writer.join(timeout=10)
        del meters, views
        memory.close()
        memory.unlink()


def test_before_start_and_after_stop_there_is_nothing_to_view() -> None:
    engine = EngineProcess(meter_patch())
    assert engine.node_view("scope") is None and engine.tap("osc", "out") is None
    assert engine.stop() is None and not engine.running


def test_a_device_that_cannot_play_leaves_no_process_and_no_shared_memory() -> None:
    engine = EngineProcess(meter_patch(), device="no-such-card")
    with pytest.raises(AudioDeviceError, match="no-such-card"):
        engine.start()
    assert engine._process is None and engine._memory is None
    assert multiprocessing.active_children() == []
    assert engine.node_view("scope") is None


#: A front end playing a sine through an engine process on the device given as argument.
FRONT_END = textwrap.dedent(
    """
    import sys, time
    import patcher
    from patcher.server import EngineProcess

    patch = patcher.Patch()
    patch.add_node("oscillator", "osc")
    patch.add_node("output", "out")
    patch.connect("osc.out", "out.left")
    engine = EngineProcess(patch, device=int(sys.argv[1]))
    engine.start()
    """
)
ORPHAN_SCRIPT = FRONT_END + textwrap.dedent(
    """
    print(engine._process.pid, flush=True)
    time.sleep(60)
    """
)


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1]
    except (OSError, IndexError):
        return False
    return not status.startswith("Z")


def start_front_end(script: str, jack, **options) -> subprocess.Popen:
    """A front end script in a process of its own, playing on the JACK device."""
    return subprocess.Popen(
        [sys.executable, "-c", script, str(jack.device)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


@pytest.mark.kills_jack_clients
def test_the_engine_process_ends_when_its_front_end_is_killed(jack) -> None:
    front_end = start_front_end(ORPHAN_SCRIPT, jack)
    try:
        line = front_end.stdout.readline()
        assert line.strip().isdigit(), front_end.stderr.read() if front_end.poll() is not None else line
        child = int(line)
        assert _alive(child)
    finally:
        os.kill(front_end.pid, signal.SIGKILL)  # no stop(), no atexit: a crash
        front_end.wait(timeout=10)
    deadline = time.monotonic() + PATIENCE_S
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the engine process outlived its front end"


#: A front end whose engine process is kept alive and waits, never having played.
IDLE_ORPHAN_SCRIPT = textwrap.dedent(
    """
    import time
    import patcher
    from patcher.server import EngineProcess

    engine = EngineProcess(patcher.Patch(), keep_alive=True)
    engine.launch()
    print(engine.pid, flush=True)
    time.sleep(60)
    """
)


def test_a_waiting_engine_process_ends_when_its_front_end_is_killed() -> None:
    front_end = subprocess.Popen(
        [sys.executable, "-c", IDLE_ORPHAN_SCRIPT],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = front_end.stdout.readline()
        assert line.strip().isdigit(), front_end.stderr.read() if front_end.poll() is not None else line
        child = int(line)
        assert _alive(child)
    finally:
        os.kill(front_end.pid, signal.SIGKILL)  # no close(), no atexit: a crash
        front_end.wait(timeout=10)
    deadline = time.monotonic() + PATIENCE_S
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the waiting engine process outlived its front end"


def test_a_process_that_cannot_be_made_is_one_message_and_leaves_no_shared_memory(monkeypatch) -> None:
    """Too many processes or open files: the reason, not an assertion about joining."""
    import multiprocessing.context

    def cannot_fork(_process) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(multiprocessing.context.SpawnProcess, "start", cannot_fork)
    before = set(Path("/dev/shm").glob("psm_*"))
    engine = EngineProcess(meter_patch())
    with pytest.raises(AudioDeviceError, match=r"could not start: .*Resource temporarily unavailable"):
        engine.start()
    # None of its own left (others' may come and go meanwhile: the machine is not ours alone).
    assert not set(Path("/dev/shm").glob("psm_*")) - before
    assert engine._process is None and engine._memory is None


#: A front end started in a terminal's foreground: Ctrl+C raises KeyboardInterrupt. Python keeps
#: SIGINT ignored when the process starts with it ignored (by a background job of a shell
#: without job control, `make test &` or a CI runner), so this one says what it expects.
INTERRUPTIBLE = textwrap.dedent(
    """
    import signal
    signal.signal(signal.SIGINT, signal.default_int_handler)
    """
)
CTRL_C_SCRIPT = (
    INTERRUPTIBLE
    + FRONT_END
    + textwrap.dedent(
        """
    print("playing", flush=True)
    try:
        time.sleep(60)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    time.sleep(0.5)  # the front end lives on after Ctrl+C, as the editor may
    print("still running" if engine.running else "engine gone", flush=True)
    report = engine.stop()
    print("report" if report is not None else "no report", flush=True)
    """
    )
)


@pytest.mark.kills_jack_clients
def test_ctrl_c_is_the_front_ends_to_handle_not_the_engine_process(jack) -> None:
    """A terminal's Ctrl+C goes to the whole process group: the engine must not die of it
    (with a traceback) under a front end that carries on."""
    # Its own process group, which this test interrupts.
    front_end = start_front_end(CTRL_C_SCRIPT, jack, start_new_session=True)
    try:
        assert front_end.stdout.readline().strip() == "playing", front_end.stderr.read()
        time.sleep(0.5)
        os.killpg(front_end.pid, signal.SIGINT)
        out, err = front_end.communicate(timeout=30)
    finally:
        if front_end.poll() is None:
            os.killpg(front_end.pid, signal.SIGKILL)
            front_end.wait(timeout=10)
    assert out.split() == ["interrupted", "still", "running", "report"], err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_an_edit_the_engine_would_refuse_raises_in_the_front_end(tmp_path) -> None:
    import patcher as api

    patch = api.Patch(base_dir=tmp_path)
    patch.add_node("math", "dc", op="constant", b=0.1)
    patch.add_node("output", "out")
    patch.connect("dc.out", "out.left")
    engine = EngineProcess(patch)  # not started: the checks are the front end's own
    edited = copy.deepcopy(patch)
    edited.add_node("convolver", "rev", source="file", file="missing.wav")
    edited.connect("dc.out", "rev.in")
    edited.connect("rev.out", "out.right")
    with pytest.raises(api.PatchError, match="node 'rev' \\(convolver\\): no such audio file"):
        engine.update_patch(edited)
    assert "rev" not in engine.patch.nodes
    engine.set_param("dc", "b", 0.2)  # before start: the patch it will play changes
    assert engine.patch.nodes["dc"].params["b"] == 0.2


def test_a_patch_sent_as_a_control_moved_a_param_does_not_take_it_back() -> None:
    """The editor sends its whole patch with each edit; one sent just as an OSC message (or a
    CC) moved a param still holds the old value, since the front end learns of the move a
    frame later: the engine process sets the control's value again after it."""
    from patcher.live import LiveInputs

    patch = meter_patch()
    as_the_editor_has_it = copy.deepcopy(patch)  # the player's engine keeps its own in step
    player = Player(patch, block_size=64)
    live = LiveInputs(player, report=True)
    live._osc_message("/patcher/osc/frequency_hz", 440.0)
    run_callback(player, 20)
    assert player.engine.schedule.nodes["osc"].params["frequency_hz"] == 440.0
    commands: queue.Queue = queue.Queue()
    commands.put(("patch", as_the_editor_has_it))  # an edit, sent before the move came back
    assert _handle(commands, queue.Queue(), player, {}, {}, live) is None
    run_callback(player, 20)
    assert player.engine.schedule.nodes["osc"].params["frequency_hz"] == 440.0
    assert live.take_reports().moved == {("osc", "frequency_hz"): 440.0}
