"""The player in a process of its own, as Pure Data and SuperCollider run their DSP servers.

The front end (the editor) keeps its Python interpreter, and so its GIL, away from the audio
callback: commands go in through a queue, meters and scope blocks come back through shared
memory, warnings and the final report through a reply queue. The controls mirror
:class:`patcher.player.Player` (start, stop, set_param, update_patch, tap, meters, warnings),
so a front end can use either.

Edits are validated in the front end first (the same model and cycle checks), so a refused
edit raises at once in the caller and never reaches the running engine.
"""

from __future__ import annotations

import copy
import gc
import multiprocessing
import queue
import sys
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any

import numpy as np

from patcher.compiler import cycle_problems
from patcher.model import Patch, PatchError
from patcher.patchfile import from_dict, to_dict
from patcher.player import AudioDeviceError, PlaybackReport

SCOPE_SLOTS = 8
HEADER = 8  # level left, level right, cpu load, underruns, callbacks, peak, running, spare
START_TIMEOUT_S = 15.0


class EngineProcess:
    """Runs a :class:`~patcher.player.Player` in a child process and talks to it."""

    def __init__(
        self,
        patch: Patch,
        device: int | str | None = None,
        input_device: int | str | None = None,
        block_size: int | None = None,
    ) -> None:
        self.patch = copy.deepcopy(patch)
        self.device = device
        self.input_device = input_device
        self.block_size = block_size or patch.settings.block_size
        self.device_name = ""
        self._context = multiprocessing.get_context("spawn")
        self._commands: Any = None
        self._replies: Any = None
        self._process: Any = None
        self._memory: shared_memory.SharedMemory | None = None
        self._meters: np.ndarray | None = None
        self._slots: dict[tuple[str, str], int] = {}
        self._warnings: list[str] = []
        self._report: PlaybackReport | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        size = (HEADER + SCOPE_SLOTS * self.block_size) * 8
        self._memory = shared_memory.SharedMemory(create=True, size=size)
        self._meters = np.ndarray((HEADER + SCOPE_SLOTS * self.block_size,), dtype=np.float64, buffer=self._memory.buf)
        self._meters[:] = 0.0
        self._commands = self._context.Queue()
        self._replies = self._context.Queue()
        arguments = (
            to_dict(self.patch),
            str(self.patch.base_dir),
            self.device,
            self.input_device,
            self.block_size,
            self._memory.name,
            self._commands,
            self._replies,
        )
        self._process = self._context.Process(target=_serve, args=arguments, daemon=True, name="patcher-engine")
        self._process.start()
        kind, payload = self._wait_for_reply({"started", "error"}, START_TIMEOUT_S)
        if kind == "error":
            self._shutdown()
            raise AudioDeviceError(payload)
        self.device_name = payload

    def stop(self) -> PlaybackReport | None:
        if self._process is None:
            return self._report
        self._commands.put(("stop",))
        try:
            _kind, payload = self._wait_for_reply({"report"}, 10.0)
            self._report = PlaybackReport(**payload)
        except TimeoutError:
            self._warnings.append("the engine process did not stop in time and was terminated")
        self._shutdown()
        return self._report

    def _shutdown(self) -> None:
        if self._process is not None:
            self._process.join(timeout=5.0)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout=5.0)
            self._process = None
        self._meters = None
        if self._memory is not None:
            self._memory.close()
            self._memory.unlink()
            self._memory = None

    def __enter__(self) -> EngineProcess:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.is_alive()

    # -- controls -------------------------------------------------------------------------
    def set_param(self, node_id: str, name: str, value: Any) -> None:
        self.patch.set_param(node_id, name, value)  # raises PatchError here, in the caller
        self._commands.put(("param", node_id, name, self.patch.nodes[node_id].params[name]))

    def update_patch(self, patch: Patch) -> None:
        problems = cycle_problems(patch)
        if problems:
            raise PatchError(problems)
        self.patch = copy.deepcopy(patch)
        self._commands.put(("patch", to_dict(patch), str(patch.base_dir)))
        self._slots.clear()

    def tap(self, node_id: str, port: str) -> np.ndarray | None:
        """The latest block of a node's output (the first call starts watching it)."""
        key = (node_id, port)
        if key not in self._slots:
            if len(self._slots) >= SCOPE_SLOTS:
                return None
            self._slots[key] = len(self._slots)
            self._commands.put(("watch", node_id, port, self._slots[key]))
        if self._meters is None:
            return None
        start = HEADER + self._slots[key] * self.block_size
        return self._meters[start : start + self.block_size].copy()

    def meters(self) -> dict[str, Any]:
        if self._meters is None:
            return {"level": np.zeros(2), "cpu_load": 0.0, "underruns": 0, "callbacks": 0}
        values = self._meters[:HEADER].copy()
        return {"level": values[0:2], "cpu_load": float(values[2]), "underruns": int(values[3]), "callbacks": int(values[4])}

    def warnings(self) -> list[str]:
        new = []
        while self._replies is not None:
            try:
                kind, payload = self._replies.get_nowait()
            except queue.Empty:
                break
            if kind == "warning":
                new.append(payload)
        self._warnings += new
        return new

    def _wait_for_reply(self, kinds: set[str], timeout: float) -> tuple[str, Any]:
        try:
            while True:
                kind, payload = self._replies.get(timeout=timeout)
                if kind in kinds:
                    return kind, payload
                if kind == "warning":
                    self._warnings.append(payload)
        except queue.Empty:
            raise TimeoutError(f"the engine process did not answer within {timeout:g} s") from None


def _serve(
    document: dict[str, Any],
    base_dir: str,
    device: Any,
    input_device: Any,
    block_size: int,
    memory_name: str,
    commands: Any,
    replies: Any,
) -> None:
    """The child process: play, apply commands, publish meters, until told to stop."""
    from patcher.player import Player

    memory = shared_memory.SharedMemory(name=memory_name)
    meters = np.ndarray((HEADER + SCOPE_SLOTS * block_size,), dtype=np.float64, buffer=memory.buf)
    try:
        player = Player(from_dict(document, base_dir=Path(base_dir)), device, input_device, block_size)
        player.start()
    except (AudioDeviceError, PatchError) as error:
        replies.put(("error", str(error)))
        memory.close()
        return
    replies.put(("started", player.device_name))
    _quiet_interpreter()
    watched: dict[int, tuple[str, str]] = {}
    try:
        while _handle(commands, replies, player, watched):
            _publish(player, meters, watched, block_size)
            for warning in player.warnings():
                replies.put(("warning", warning))
    finally:
        player.stop()
        replies.put(("report", player.report().__dict__))
        del meters
        memory.close()


def _quiet_interpreter() -> None:
    """Keep this process's interpreter out of the callback's way.

    The cyclic garbage collector can pause any thread for milliseconds: everything built so
    far is frozen out of its reach and it runs rarely. A short switch interval hands the GIL to
    the audio thread soon after it asks, while this thread publishes meters.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    sys.setswitchinterval(0.0005)


def _handle(commands: Any, replies: Any, player: Any, watched: dict[int, tuple[str, str]]) -> bool:
    try:
        command = commands.get(timeout=0.02)
    except queue.Empty:
        return True
    kind = command[0]
    try:
        if kind == "stop":
            return False
        if kind == "param":
            player.set_param(*command[1:])
        elif kind == "patch":
            player.update_patch(from_dict(command[1], base_dir=Path(command[2])))
            watched.clear()
        elif kind == "watch":
            watched[command[3]] = (command[1], command[2])
    except PatchError as error:
        replies.put(("warning", str(error)))
    return True


def _publish(player: Any, meters: np.ndarray, watched: dict[int, tuple[str, str]], block_size: int) -> None:
    values = player.meters()
    meters[0:2] = values["level"]
    meters[2] = values["cpu_load"]
    meters[3] = values["underruns"]
    meters[4] = values["callbacks"]
    for slot, (node_id, port) in watched.items():
        block = player.tap(node_id, port)
        if block is not None:
            start = HEADER + slot * block_size
            meters[start : start + len(block)] = block
