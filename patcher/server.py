"""The player in a process of its own, as Pure Data and SuperCollider run their DSP servers.

The front end (the editor) keeps its Python interpreter, and so its GIL, away from the audio
callback: commands go in through a queue, meters, scope blocks and node views come back
through shared memory, warnings and the final report through a reply queue. The controls
mirror :class:`patcher.player.Player` (start, stop, set_param, update_patch, tap, node_view,
meters, warnings), so a front end can use either.

Node views (a scope's waveform, a spectrum's levels) are computed in the child, outside its
audio callback, by the node's own ``view()``: the first ``node_view(node_id)`` registers a
watch on a view slot, and the child's publish loop writes the view into that slot every
``VIEW_PERIOD_S``. Each slot starts with three cells — a sequence number (odd while the child
writes), the watch's token (so a slot reused after an edit never shows the previous node),
and the valid length — then ``VIEW_LENGTH`` values.

The per-node CPU meter (``set_metering(True)``, the editor's F3) comes back with the meters,
under their sequence lock: a generation number, the total, and each running node's share in
the order the engine runs them (at most ``LOAD_SLOTS``). Which node each cell is for is sent on
the reply queue once per generation, when the child's running schedule changes, not with every
reading; until the front end has it, ``meters()`` gives no shares.

The editor's engine is kept alive (``keep_alive=True``), as Pd keeps its DSP server between
"DSP on" and "DSP off": the child is launched in the background when the editor opens, loads
the engine and every node's compiled kernel while nobody waits, and then each Play only builds
the patch's player there and opens the stream (tens of milliseconds, where a new process took
seconds); Stop closes the stream and the child waits for the next Play, on whatever patch,
device and block size it is then given. A one-shot engine (the default) ends with its play.

The child never outlives the front end: ``close`` (or ``stop``, for a one-shot engine) asks
it to end and joins it, by its own handle, terminating it if it does not answer; a failed
start cleans up before it raises; and the child ends by itself when its parent process is
gone, playing or not.

Edits are validated in the front end first (the same model and cycle checks), so a refused
edit raises at once in the caller and never reaches the running engine.

The child also listens to MIDI and OSC (:mod:`patcher.live`), where the player is, so a note or
a CC lands on its sample as in ``patcher play``: ``set_live_inputs`` chooses the MIDI input
port and the OSC port, kept by the child between plays and told again to a child launched
anew. What the controls moved and which came in (for MIDI learn) come back on the reply queue
a few times a second, for ``take_live``.
"""

from __future__ import annotations

import copy
import multiprocessing
import queue
import signal
import time
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any

import numpy as np

from nodes.scopes import MAX_VIEW_LENGTH
from patcher.compiler import compile_patch
from patcher.live import LiveInputError, LiveInputs, LiveReport
from patcher.model import Patch, PatchError
from patcher.patchfile import from_dict, to_dict
from patcher.player import (
    AudioDeviceError,
    PlaybackReport,
    Player,
    ask_for_realtime_priority,
    check_buffer_ms,
    quiet_interpreter,
    read_consistently,
)

SCOPE_SLOTS = 8
HEADER = 8  # level left, level right, cpu load, underruns, callbacks, peak, running, sequence
SEQUENCE = 7  # odd while the child writes the meters and taps
#: Making the process, its imports and (kept alive) loading every kernel, on a slow machine.
LAUNCH_TIMEOUT_S = 120.0
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
LOADING_PATIENCE_S = 0.2  # for a child asked to quit while it still loads the engine
VIEW_SLOTS = 16
VIEW_CELLS = 3  # sequence (odd while written), token of the watch, valid length
VIEW_LENGTH = MAX_VIEW_LENGTH
VIEW_PERIOD_S = 0.02
#: Nodes whose CPU share comes back (a patch with more shows the first ones the engine runs).
LOAD_SLOTS = 1024
LOAD_CELLS = 2  # generation of the node order (0: no shares), total
POLL_S = 0.02
IDLE_POLL_S = 0.1  # between plays: how often the child looks whether its front end is alive


def _memory_size(block_size: int) -> int:
    meters = _loads_start(block_size) + LOAD_CELLS + LOAD_SLOTS
    return 8 * (meters + VIEW_SLOTS * (VIEW_CELLS + VIEW_LENGTH))


def _loads_start(block_size: int) -> int:
    """Where the node loads start in the meters array: after the header and the taps."""
    return HEADER + SCOPE_SLOTS * block_size


def _arrays(buffer: Any, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The meters array (header, taps, node loads) and the view slots (one row per slot) over
    shared memory."""
    cells = _loads_start(block_size) + LOAD_CELLS + LOAD_SLOTS
    meters = np.ndarray((cells,), dtype=np.float64, buffer=buffer)
    views = np.ndarray(
        (VIEW_SLOTS, VIEW_CELLS + VIEW_LENGTH), dtype=np.float64, buffer=buffer, offset=8 * cells
    )
    return meters, views


class EngineProcess:
    """Runs a :class:`~patcher.player.Player` in a child process and talks to it.

    Made with ``keep_alive=True`` (the editor's engine), the child outlives a play: ``launch``
    starts it idle in the background, ``start`` plays (the patch given, or the last one),
    ``stop`` stops the stream and leaves the child waiting for the next ``start``, and
    ``close`` ends it. Otherwise ``start`` launches the child and ``stop`` ends it.
    """

    def __init__(
        self,
        patch: Patch,
        device: int | str | None = None,
        input_device: int | str | None = None,
        block_size: int | None = None,
        buffer_ms: float = 0.0,
        keep_alive: bool = False,
    ) -> None:
        self.buffer_ms = check_buffer_ms(buffer_ms)
        self.patch = copy.deepcopy(patch)
        #: The device, the input device and the block size (None: the patch's) of the next
        #: ``start``: a child kept alive plays each start on what they are then.
        self.device = device
        self.input_device = input_device
        self.asked_block_size = block_size
        self.block_size = block_size or patch.settings.block_size
        self.keep_alive = keep_alive
        #: When (``time.perf_counter``) the last ``start`` was called: with its report's
        #: ``first_sound_s``, when the first sound came.
        self.requested_at = 0.0
        self.device_name = ""
        #: Whether the engine's control thread got a real-time priority (where allowed).
        self.control_priority = False
        self._context = multiprocessing.get_context("spawn")
        self._commands: Any = None
        self._replies: Any = None
        self._process: Any = None
        self._ready = False
        self._playing = False
        self._exitcode: int | None = None
        self._memory: shared_memory.SharedMemory | None = None
        self._meters: np.ndarray | None = None
        self._views: np.ndarray | None = None
        self._slots: dict[tuple[str, str], int] = {}
        #: Watched node views: node id -> (slot, token). Tokens are never reused.
        self._view_slots: dict[str, tuple[int, int]] = {}
        self._view_token = 0
        self._warnings: list[str] = []
        #: Warnings taken from the reply queue that ``warnings()`` has not returned yet.
        self._unsaid: list[str] = []
        #: Whether the per-node CPU meter is on (sent at each start), and the child's latest
        #: node order: (generation, node ids), as it said.
        self.metering = False
        self._node_order: tuple[int, tuple[str, ...]] = (0, ())
        self._report: PlaybackReport | None = None
        #: The MIDI input port (part of its name) and the OSC port the child listens to
        #: (None: none), and what the running child was last told of them.
        self.midi_input: str | None = None
        self.osc_port: int | None = None
        self._live_told: tuple[str | None, int | None] = (None, None)
        self._live = LiveReport()

    # -- lifecycle ------------------------------------------------------------------------
    def launch(self) -> None:
        """Start the child, idle, and return at once: it loads the engine (and, kept alive,
        every node's compiled kernel) meanwhile. Nothing when it runs already; AudioDeviceError
        when no process can be made."""
        if self.running:
            return
        if self._process is not None:  # it ended (killed, or crashed): a new one replaces it
            self._shutdown()
        self._commands = self._context.Queue()
        self._replies = self._context.Queue()
        self._ready = False
        process = self._context.Process(
            target=_serve,
            args=(self._commands, self._replies, self.keep_alive),
            daemon=True,
            name="patcher-engine",
        )
        try:
            process.start()
        except OSError as error:  # no process could be made (too many processes or files)
            raise AudioDeviceError(f"the audio engine process could not start: {error}") from None
        self._process = process
        self._live_told = (None, None)  # a new child listens to nothing until told
        self._tell_live()

    def start(self, patch: Patch | None = None) -> None:
        """Play ``patch`` (a copy; default: the last one given), launching the child first if
        it is not running, and wait until it plays. AudioDeviceError if it cannot: kept alive,
        the child then waits for the next start; otherwise no child is left."""
        if self._playing:
            return
        if patch is not None:
            self.patch = copy.deepcopy(patch)
        self.requested_at = requested_at = time.perf_counter()
        self.launch()
        try:
            if not self._ready:  # one-shot, it loads no kernel before it plays
                self._wait_for_reply({"ready"}, LAUNCH_TIMEOUT_S if self.keep_alive else START_TIMEOUT_S)
                self._ready = True
            self._open_memory()
            self._commands.put(("play", self._play_arguments(requested_at)))
            kind, payload = self._wait_for_reply({"started", "error"}, START_TIMEOUT_S)
        except TimeoutError as error:
            self._shutdown(patience_s=0.5)
            raise AudioDeviceError(f"the audio engine process did not start: {error}") from None
        except BaseException:
            self._shutdown(patience_s=0.5)
            raise
        if kind == "error":
            self._close_memory()
            if not self.keep_alive:
                self._shutdown()
            raise AudioDeviceError(payload)
        self._playing = True
        self.device_name, self.control_priority = payload
        if self.metering:
            self._commands.put(("metering", True))

    def _play_arguments(self, requested_at: float) -> tuple[Any, ...]:
        return (
            to_dict(self.patch),
            str(self.patch.base_dir),
            self.device,
            self.input_device,
            self.block_size,
            self.buffer_ms,
            self._memory.name,
            requested_at,
        )

    def stop(self) -> PlaybackReport | None:
        """Stop playing; the report. Kept alive, the child waits for the next ``start``;
        otherwise it is joined (terminated if it does not answer)."""
        if self._playing:
            self._playing = False
            try:
                self._commands.put(("stop",))
                _kind, payload = self._wait_for_reply({"report"}, STOP_TIMEOUT_S)
                self._report = PlaybackReport(**payload)
            except TimeoutError as error:
                self._warnings.append(f"{error}: it was terminated")
                self._shutdown(patience_s=0.5)
            finally:
                self._close_memory()
        if not self.keep_alive:
            self._shutdown()
        return self._report

    def close(self) -> None:
        """Stop playing and end the child (asked to, then terminated, by its own handle)."""
        self.stop()
        self._shutdown()

    def _shutdown(self, patience_s: float = 5.0) -> None:
        process, self._process = self._process, None
        loading = not self._loaded()
        self._playing = self._ready = False
        if process is not None and process.pid is not None:  # it may never have started
            if process.is_alive():
                self._commands.put(("quit",))
            # Still loading the engine, it has nothing to release and would answer only once
            # loaded (seconds): an editor closed at once does not wait for that.
            process.join(timeout=LOADING_PATIENCE_S if loading else patience_s)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5.0)
            if process.is_alive():
                process.kill()
                process.join()
            self._exitcode = process.exitcode
        self._close_memory()

    def is_loaded(self) -> bool:
        """Whether the launched child is ready to play at once (never waits)."""
        return self._process is not None and self._loaded()

    def _loaded(self) -> bool:
        """Whether the child has said it is ready (looked for among its replies, not waited for)."""
        while not self._ready and self._replies is not None:
            try:
                kind, payload = self._replies.get_nowait()
            except (queue.Empty, OSError, ValueError):  # nothing yet, or the queue is closed
                break
            if kind == "ready":
                self._ready = True
            else:
                self._take_reply(kind, payload, say=False)
        return self._ready

    def _open_memory(self) -> None:
        """Fresh shared memory for a play, sized for its block size; nothing is watched yet."""
        self._close_memory()
        self.block_size = self.asked_block_size or self.patch.settings.block_size
        self._memory = shared_memory.SharedMemory(create=True, size=_memory_size(self.block_size))
        self._meters, self._views = _arrays(self._memory.buf, self.block_size)
        self._meters[:] = 0.0
        self._views[:] = 0.0
        self._slots.clear()
        self._view_slots.clear()
        self._node_order = (0, ())

    def _close_memory(self) -> None:
        self._meters = None
        self._views = None
        if self._memory is not None:
            self._memory.close()
            self._memory.unlink()
            self._memory = None

    def __enter__(self) -> EngineProcess:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        """Whether the child is alive (playing or, kept alive, waiting to)."""
        return self._process is not None and self._process.is_alive()

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def pid(self) -> int | None:
        """The child's process id (None before ``launch`` and after it ended)."""
        return None if self._process is None else self._process.pid

    @property
    def exitcode(self) -> int | None:
        """How the last child ended (a negative number: killed by that signal); None while it
        runs or before it was launched."""
        return self._exitcode if self._process is None else self._process.exitcode

    @property
    def last_report(self) -> PlaybackReport | None:
        """The report of the last play that stopped."""
        return self._report

    # -- controls -------------------------------------------------------------------------
    def start_recording(self, path: str | Path) -> None:
        """Record what plays into ``path`` (in the engine process, off its audio thread);
        raises OSError when the file cannot be written or nothing plays."""
        if not self._playing:
            raise OSError("nothing is playing to record")
        self._commands.put(("record", str(Path(path).resolve())))
        _kind, problem = self._wait_for_reply({"recording"}, STOP_TIMEOUT_S)
        if problem:
            raise OSError(problem)

    def stop_recording(self) -> str:
        """End the recording; what was recorded, in words. Raises OSError when the file could
        not be written."""
        if not self._playing:
            raise OSError("nothing is playing")
        self._commands.put(("stop_record",))
        _kind, (ok, text) = self._wait_for_reply({"recorded"}, STOP_TIMEOUT_S)
        if not ok:
            raise OSError(text)
        return text

    def set_live_inputs(self, midi_input: str | None, osc_port: int | None) -> None:
        """Listen to the MIDI input port whose name holds ``midi_input`` and to OSC on UDP
        ``osc_port`` (None: neither), playing or not, from now on and in a child launched
        later. The child says what it opened, or why not, in ``take_live().inputs``."""
        self.midi_input, self.osc_port = midi_input, osc_port
        self._tell_live()

    def _tell_live(self) -> None:
        if not self.running:
            return
        midi, osc = self._live_told
        if self.midi_input != midi:
            self._commands.put(("midi", self.midi_input))
        if self.osc_port != osc:
            self._commands.put(("osc", self.osc_port))
        self._live_told = (self.midi_input, self.osc_port)

    def take_live(self) -> LiveReport:
        """What the child's MIDI and OSC inputs did since the last call (never waits)."""
        if self._loaded():  # until it is, its replies are looked through for "ready" alone
            self._drain_replies()
        report, self._live = self._live, LiveReport()
        return report

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        """Validate here (raises PatchError), then send; while not playing only the patch changes.
        ``node_id`` may be a path into a subpatch (``voice/env``)."""
        owner, node = self.patch.owner(node_id)
        owner.set_param(node.id, name, value)
        if self._playing:
            self._commands.put(("param", node_id, name, node.params[name]))

    def recall_preset(self, name: str, glide_s: float = 0.0) -> None:
        """Recall the preset ``name`` (raises PatchError for an unknown one); while playing the
        engine glides to it over ``glide_s`` seconds, every change from one block boundary."""
        self.patch.recall_preset(name)
        if self._playing:
            self._commands.put(("preset", name, glide_s))

    def update_patch(self, patch: Patch) -> None:
        """Compile here first, as the engine will (raises PatchError for a delay-free loop or a
        node that cannot be set up, such as a missing file): a refused edit never reaches it."""
        compile_patch(patch)
        self.patch = copy.deepcopy(patch)
        if self._playing:
            # The patch itself, checked here: the engine does not check it again in its own
            # process, where every millisecond of Python is taken from the audio callback.
            # A queue pickles in its own thread, later: the copy sent must be one that nothing
            # here changes (set_param and recall_preset change ``self.patch`` at once).
            self._commands.put(("patch", copy.deepcopy(patch)))
        self._slots.clear()
        self._view_slots.clear()  # the editor asks again; a new token tells old data apart

    def tap(self, node_id: str, port: str) -> np.ndarray | None:
        """The latest block of a node's output (the first call starts watching it)."""
        if self._meters is None:  # not playing: nothing to watch
            return None
        key = (node_id, port)
        if key not in self._slots:
            if len(self._slots) >= SCOPE_SLOTS:
                return None
            self._slots[key] = len(self._slots)
            self._commands.put(("watch", node_id, port, self._slots[key]))
        start = HEADER + self._slots[key] * self.block_size
        return _read_meters(self._meters, start, start + self.block_size)

    def node_view(self, node_id: str) -> np.ndarray | None:
        """A copy of the node's latest ``view()`` (the first call starts watching it, so it and
        any call before the child has published give None; so does a node with no view)."""
        if self._views is None:
            return None
        watch = self._view_slots.get(node_id)
        if watch is None:
            if len(self._view_slots) >= VIEW_SLOTS:
                return None
            self._view_token += 1
            watch = self._view_slots[node_id] = (len(self._view_slots), self._view_token)
            self._commands.put(("view", node_id, *watch))
            return None
        return _read_view(self._views[watch[0]], watch[1])

    def set_metering(self, on: bool) -> None:
        """Turn the per-node CPU meter on or off (``meters()["node_loads"]``), now and for
        every later start."""
        self.metering = bool(on)
        if self._playing:
            self._commands.put(("metering", self.metering))

    def meters(self) -> dict[str, Any]:
        """As :meth:`patcher.player.Player.meters`, read from the child's last publication."""
        if self._meters is None:
            return {
                "level": np.zeros(2),
                "cpu_load": 0.0,
                "underruns": 0,
                "callbacks": 0,
                "node_loads": {},
                "node_loads_total": 0.0,
            }
        values = _read_meters(self._meters, 0, HEADER)
        if values is None:  # the child stalled mid-write (it never should): nothing new to show
            values = np.zeros(HEADER)
        node_loads, total = self._node_loads() if self.metering else ({}, 0.0)
        return {
            "level": values[0:2],
            "cpu_load": float(values[2]),
            "underruns": int(values[3]),
            "callbacks": int(values[4]),
            "node_loads": node_loads,
            "node_loads_total": total,
        }

    def _node_loads(self) -> tuple[dict[str, float], float]:
        """The shares the child published, once it has said which node each is for."""
        start = _loads_start(self.block_size)
        cells = _read_meters(self._meters, start, start + LOAD_CELLS + LOAD_SLOTS)
        if cells is None or cells[0] == 0:
            return {}, 0.0
        if cells[0] != self._node_order[0]:
            self._drain_replies()  # the order of this generation may be waiting there
        generation, node_ids = self._node_order
        if cells[0] != generation:
            return {}, 0.0
        shares = cells[LOAD_CELLS : LOAD_CELLS + len(node_ids)].tolist()
        return dict(zip(node_ids, shares, strict=True)), float(cells[1])

    def warnings(self) -> list[str]:
        self._drain_replies()
        new, self._unsaid = self._unsaid, []
        return new

    def _drain_replies(self) -> None:
        while self._replies is not None:
            try:
                kind, payload = self._replies.get_nowait()
            except queue.Empty:
                break
            self._take_reply(kind, payload)

    def _take_reply(self, kind: str, payload: Any, say: bool = True) -> None:
        """A reply nobody waits for: a warning (kept, and for ``warnings()`` to return if
        ``say``), or a node order."""
        if kind == "warning":
            self._warnings.append(payload)
            if say:
                self._unsaid.append(payload)
        elif kind == "node_order":
            self._node_order = payload
        elif kind == "live":
            moved, heard = payload
            self._live.moved.update(moved)
            self._live.heard += heard
        elif kind == "live_input":
            self._live.inputs.append(payload)

    def _wait_for_reply(self, kinds: set[str], timeout: float) -> tuple[str, Any]:
        """The next reply of one of ``kinds``; TimeoutError when none comes in time or the child
        has ended without sending one (warnings on the way are kept)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                kind, payload = self._replies.get(timeout=min(0.1, max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                if self._process is not None and not self._process.is_alive():
                    try:  # what it sent just before it ended may still be on its way
                        kind, payload = self._replies.get(timeout=0.2)
                    except queue.Empty:
                        code = self._process.exitcode
                        raise TimeoutError(
                            f"the engine process ended unexpectedly (exit code {code})"
                        ) from None
                elif time.monotonic() >= deadline:
                    raise TimeoutError(f"the engine process did not answer within {timeout:g} s") from None
                else:
                    continue
            if kind in kinds:
                return kind, payload
            self._take_reply(kind, payload, say=False)


def _read_meters(meters: np.ndarray, start: int, stop: int) -> np.ndarray | None:
    """A copy of meters or a tap that no write of the child's runs through."""
    return read_consistently(lambda: meters[SEQUENCE], lambda: meters[start:stop].copy())


def _read_view(row: np.ndarray, token: int) -> np.ndarray | None:
    """A consistent copy of a view slot's valid part, or None (not yet published, another
    watch's data, or no view)."""

    def read() -> np.ndarray | None:
        length = min(int(row[2]), VIEW_LENGTH)
        values = row[VIEW_CELLS : VIEW_CELLS + length].copy()
        return values if row[1] == token and length > 0 else None

    return read_consistently(lambda: row[0], read)


def _write_view(row: np.ndarray, token: int, values: np.ndarray | None) -> None:
    length = 0 if values is None else min(len(values), VIEW_LENGTH)
    row[0] += 1  # odd: being written
    row[1] = token
    if values is not None:
        row[VIEW_CELLS : VIEW_CELLS + length] = values[:length]
    row[2] = length
    row[0] += 1


def _serve(commands: Any, replies: Any, keep_alive: bool) -> None:
    """The child process: load the engine, then play each ``play`` command until its ``stop``,
    and wait between plays (kept alive) or end after the first one."""
    # Ctrl+C reaches the whole foreground process group: the front end decides what it
    # means (the editor may well live on) and stops the engine through its queue.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    no_audio = _load_engine(every_kernel=keep_alive)
    replies.put(("ready", None))
    parent = multiprocessing.parent_process()
    live = LiveInputs(None, report=True)  # between plays it hears, for learning, and moves nothing
    try:
        while parent is None or parent.is_alive():  # never outlive the front end
            try:
                command = commands.get(timeout=IDLE_POLL_S)
            except queue.Empty:
                _publish_live(live, replies)
                continue
            # Anything but these came after a play had stopped (a late param, a watch): dropped.
            if command[0] == "quit":
                return
            if command[0] in ("midi", "osc"):
                _live_command(live, replies, command)
                continue
            ended = _play(command[1], commands, replies, no_audio, live) if command[0] == "play" else None
            if ended == "quit" or (ended is not None and not keep_alive):
                return
    finally:
        live.close()


def _live_command(live: LiveInputs, replies: Any, command: tuple[Any, ...]) -> None:
    """Open the MIDI input port or the OSC port asked for, closing the one before; say what
    was opened, or why not (one sentence, and the child plays on)."""
    kind, wanted = command
    try:
        if kind == "midi":
            live.close_midi()
            opened = live.open_midi(wanted) if wanted else None
        else:
            live.close_osc()
            opened = live.open_osc(wanted) if wanted else None
    except LiveInputError as error:
        replies.put(("live_input", (kind, None, str(error))))
        return
    replies.put(("live_input", (kind, opened, None)))


def _publish_live(live: LiveInputs, replies: Any) -> None:
    """What the controls moved and which came in, and their warnings, to the front end."""
    report = live.take_reports()
    if report:
        replies.put(("live", (report.moved, report.heard)))
    for warning in live.take_warnings():
        replies.put(("warning", warning))


def _load_engine(every_kernel: bool) -> str | None:
    """Import what playing needs, so that a play does not wait for it; kept alive, load every
    node's compiled kernel too (seconds, once, instead of at the first play of each node).
    Why nothing can play (no PortAudio library), or None."""
    try:
        import sounddevice  # noqa: F401  (loaded before the interpreter is frozen for playing)
    except OSError as error:
        return f"no audio system ({error})"
    if every_kernel:
        from patcher.render import warm_up_kernels

        warm_up_kernels()
        quiet_interpreter()  # the full collection now, not at the first play
    return None


def _play(
    arguments: tuple[Any, ...], commands: Any, replies: Any, no_audio: str | None, live: LiveInputs
) -> str:
    """One play: build the player, start it, apply commands and publish meters until told to
    stop; how it ended ("stop", "quit", or "gone" when the front end is)."""
    document, base_dir, device, input_device, block_size, buffer_ms, memory_name, requested_at = arguments
    memory = shared_memory.SharedMemory(name=memory_name)
    meters, views = _arrays(memory.buf, block_size)
    try:
        if no_audio:
            raise AudioDeviceError(no_audio)
        patch = from_dict(document, base_dir=Path(base_dir))
        player = _start_player(patch, device, input_device, block_size, buffer_ms, requested_at)
    except Exception as error:  # kept alive, this process waits for the next play regardless
        if isinstance(error, AudioDeviceError | PatchError):
            problem = str(error)
        elif isinstance(error, OSError):
            problem = f"no audio system ({error})"
        else:
            problem = f"the engine failed: {error!r}"
        replies.put(("error", problem))
        del meters, views
        memory.close()
        return "stop"
    # This thread compiles edits and publishes meters beside the audio callback, which waits
    # for Python's interpreter whenever this thread holds it: were this thread preempted by
    # the machine's other work meanwhile, the callback would wait with it (on a busy 2-core
    # machine, 82 underruns in 40 edits of a 300-node patch; at this priority, 0 to 1).
    replies.put(("started", (player.device_name, ask_for_realtime_priority())))
    parent = multiprocessing.parent_process()
    watched: dict[int, tuple[str, str]] = {}
    viewed: dict[int, tuple[str, int]] = {}
    failed_views: set[str] = set()
    order = NodeOrder(replies)
    last_views = 0.0
    ended = "gone"
    live.player = player
    try:
        while parent is None or parent.is_alive():  # the front end is gone: never outlive it
            told = _handle(commands, replies, player, watched, viewed, live)
            if told is not None:
                ended = told
                break
            _publish(player, meters, watched, block_size, order)
            _publish_live(live, replies)
            now = time.monotonic()
            if viewed and now - last_views >= VIEW_PERIOD_S:
                last_views = now
                _publish_views(player, views, viewed, failed_views, replies)
            for warning in player.warnings():
                replies.put(("warning", warning))
    finally:
        live.player = None  # first: no control goes to a stopped player
        player.stop()
        replies.put(("report", player.report().__dict__))
        del meters, views
        memory.close()
    return ended


def _start_player(
    patch: Patch, device: Any, input_device: Any, block_size: int, buffer_ms: float, requested_at: float
) -> Any:
    """A playing Player. PortAudio lists the devices once, when it starts: a device that
    cannot be opened is looked for again among those there now (plugged in since, or a sound
    server started since) before giving up."""
    player = Player(patch, device, input_device, block_size, buffer_ms=buffer_ms)
    quiet_interpreter()  # before the stream runs: the full collection costs no xrun
    try:
        player.start(requested_at)
    except AudioDeviceError:
        if not _list_devices_again():
            raise
        player.start(requested_at)
    return player


def _list_devices_again() -> bool:
    """Restart PortAudio so that it lists the devices there now (no stream is open here);
    whether it could."""
    import sounddevice

    try:
        while sounddevice._initialized > 0:  # reference counted: drop every reference
            sounddevice._terminate()
        sounddevice._initialize()
    except (sounddevice.PortAudioError, OSError):
        return False
    return True


def _handle(
    commands: Any,
    replies: Any,
    player: Any,
    watched: dict[int, tuple[str, str]],
    viewed: dict[int, tuple[str, int]],
    live: LiveInputs | None = None,
) -> str | None:
    """Apply the next command, if one comes within ``POLL_S``; "stop" or "quit" to end the
    play, else None."""
    try:
        command = commands.get(timeout=POLL_S)
    except queue.Empty:
        return None
    kind = command[0]
    try:
        if kind in ("stop", "quit"):
            return kind
        if kind == "param":
            player.set_param(*command[1:])
        elif kind == "preset":
            player.recall_preset(*command[1:])
        elif kind == "patch":
            watched.clear()  # the front end watches again what it still shows
            viewed.clear()
            player.update_patch(command[1])
            if live is not None:  # a knob turned as the edit was sent stays where it is
                live.set_again(player)
        elif kind == "watch":
            watched[command[3]] = (command[1], command[2])
        elif kind == "view":
            _kind, node_id, slot, token = command
            viewed[slot] = (node_id, token)
        elif kind == "record":
            _record_command(player, replies, command[1])
        elif kind == "stop_record":
            try:
                replies.put(("recorded", (True, player.stop_recording() or "nothing was being recorded")))
            except OSError as error:
                replies.put(("recorded", (False, str(error))))
        elif kind == "metering":
            player.set_metering(command[1])
        elif kind in ("midi", "osc") and live is not None:
            _live_command(live, replies, command)
    except PatchError as error:
        replies.put(("warning", str(error)))
    return None


def _record_command(player: Any, replies: Any, path: str) -> None:
    try:
        player.start_recording(path)
    except (OSError, ValueError) as error:
        replies.put(("recording", str(error)))
        return
    replies.put(("recording", None))


def _publish(player: Any, meters: np.ndarray, watched: dict[int, tuple[str, str]], block_size: int) -> None:
    """Meters and taps into shared memory, under the sequence lock the readers check."""


class NodeOrder:
    """The child's half of the node loads: which node each cell is for, told to the front end
    (on the reply queue) once per change, under a new generation number."""

    def __init__(self, replies: Any) -> None:
        self.replies = replies
        self.generation = 0
        self.node_ids: tuple[str, ...] = ()

    def cells(self, node_loads: dict[str, float]) -> tuple[int, list[float]]:
        """The generation (0: nothing to show) and the shares in its order."""
        if not node_loads:
            return 0, []
        node_ids = tuple(node_loads)[:LOAD_SLOTS]
        if node_ids != self.node_ids:
            self.generation += 1
            self.node_ids = node_ids
            self.replies.put(("node_order", (self.generation, node_ids)))
        return self.generation, [node_loads[node_id] for node_id in node_ids]


def _publish(
    player: Any,
    meters: np.ndarray,
    watched: dict[int, tuple[str, str]],
    block_size: int,
    order: NodeOrder | None = None,
) -> None:
    """Meters, taps and (with ``order``) node loads into shared memory, under the sequence
    lock the readers check."""
    values = player.meters()
    blocks = [(HEADER + slot * block_size, player.tap(*watch)) for slot, watch in watched.items()]
    generation, shares = order.cells(values.get("node_loads", {})) if order else (0, [])
    loads = _loads_start(block_size)
    meters[SEQUENCE] += 1  # odd: being written
    meters[0:2] = values["level"]
    meters[2] = values["cpu_load"]
    meters[3] = values["underruns"]
    meters[4] = values["callbacks"]
    for start, block in blocks:
        if block is not None:
            meters[start : start + len(block)] = block
    meters[loads] = generation
    meters[loads + 1] = values.get("node_loads_total", 0.0)
    meters[loads + LOAD_CELLS : loads + LOAD_CELLS + len(shares)] = shares
    meters[SEQUENCE] += 1


def _publish_views(
    player: Any,
    views: np.ndarray,
    viewed: dict[int, tuple[str, int]],
    failed: set[str],
    replies: Any,
) -> None:
    """Compute each watched node's view here, outside the audio callback, into its slot."""
    for slot, (node_id, token) in viewed.items():
        try:
            values = player.node_view(node_id)
        except Exception as error:  # a faulty view must not stop the engine
            if node_id not in failed:
                failed.add(node_id)
                replies.put(("warning", f"node {node_id!r}: its picture failed: {error!r}"))
            values = None
        _write_view(views[slot], token, values)
