"""Live control of a playing patch: a MIDI input port and an OSC server feeding a Player.

MIDI comes through ``mido`` with the ``python-rtmidi`` backend, from whichever of its systems
(ALSA, JACK, CoreMIDI, Windows MM) has a port whose name holds the one asked for. Notes go to
the nodes that take events (``note``); a CC moves the params mapped to it (the patch's
``mappings``). OSC comes over UDP on 127.0.0.1 (``python-osc``): a param's own address,
``/patcher/NODE/PARAM``, or a mapped one (:mod:`patcher.control`). Each message is stamped
when it arrives and played in the next block, at the place its arrival had in the block
before.

Nothing here stops the sound: a port that is not there is one :class:`LiveInputError`, and a
message that sets nothing (an unknown address, a value out of range) is one line in
``warnings`` for the front end to print.

The editor's engine process keeps one :class:`LiveInputs` for its whole life, between plays
too (``player`` is None then), with ``report`` on: what each control moved, and which CCs and
OSC addresses came in (for MIDI learn), are kept for :meth:`LiveInputs.take_reports`, which the
process sends to the editor.
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from patcher.events import CONTROL
from patcher.midi import message_event
from patcher.model import PatchError
from patcher.player import Player
from patcher.text import quote

#: The rtmidi systems tried, in order: a JACK server's ports when one runs, else ALSA's, ...
MIDI_APIS = ("UNIX_JACK", "LINUX_ALSA", "MACOSX_CORE", "WINDOWS_MM")
OSC_HOST = "127.0.0.1"
#: Warnings kept for the front end to print (older ones are dropped).
WARNINGS_KEPT = 100
#: Distinct controls kept between two reports (an OSC app spraying addresses cannot grow it).
HEARD_KEPT = 64
#: How long a value a control set is set again after a patch from the front end (which may
#: not hold it yet: it comes back to the front end a frame or two later).
RECENT_S = 0.5


@contextlib.contextmanager
def _c_stderr_silenced() -> Iterator[None]:
    """While looking for ports: C libraries' complaints (``ALSA lib seq_hw.c: ... failed``,
    ``jack server is not running``) would bury the one message that says what happened."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class LiveInputError(RuntimeError):
    """A MIDI port or an OSC port that cannot be opened: one sentence saying which and why."""


def _midi_systems() -> Iterator[tuple[Any, list[str]]]:
    """Each rtmidi system that answers here, with the names of its input ports."""
    import mido

    for api in MIDI_APIS:
        try:
            backend = mido.Backend(f"mido.backends.rtmidi/{api}")
            with _c_stderr_silenced():  # ALSA and JACK print their own failures there
                names = backend.get_input_names()
        except Exception:  # rtmidi raises its own SystemError where a system is absent
            continue
        yield backend, names


def midi_input_names() -> list[str]:
    """The MIDI input ports there are now, in the order :meth:`LiveInputs.open_midi` looks
    through them (a JACK server's first); empty where there are none, or no MIDI system."""
    found: list[str] = []
    for _backend, names in _midi_systems():
        found += [name for name in names if name not in found]
    return found


@dataclass
class LiveReport:
    """What the live inputs did since the last report (the editor's engine process sends it)."""

    #: (node id, param) -> the value a control last set it to.
    moved: dict[tuple[str, str], Any] = field(default_factory=dict)
    #: The controls that came in, in order: ("cc", channel 1..16, number) or ("osc", address).
    heard: list[tuple[Any, ...]] = field(default_factory=list)
    #: What was opened or closed: ("midi", port name or None, why not or None), or
    #: ("osc", port or None, why not or None).
    inputs: list[tuple[str, Any, str | None]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.moved or self.heard or self.inputs)


class LiveInputs:
    """The MIDI port and OSC server a player listens to (each optional); ``close()`` them.
    With ``report``, what they moved and heard is kept for :meth:`take_reports`."""

    def __init__(self, player: Player | None, report: bool = False) -> None:
        #: The player controls go to; None (between plays): only heard, for learning.
        self.player = player
        self.report = report
        self.warnings: collections.deque[str] = collections.deque(maxlen=WARNINGS_KEPT)
        self.midi_port: Any = None
        self.midi_port_name = ""
        self.osc_server: Any = None
        self._osc_thread: threading.Thread | None = None
        self._reports_lock = threading.Lock()  # rtmidi's thread and the OSC thread write them
        self._moved: dict[tuple[str, str], Any] = {}
        self._heard: dict[tuple[Any, ...], None] = {}
        #: (node id, param) -> (value, when): what controls set lately, for ``set_again``.
        self._recent: dict[tuple[str, str], tuple[Any, float]] = {}

    # -- MIDI -------------------------------------------------------------------------------
    def open_midi(self, wanted: str) -> str:
        """Listen to the MIDI input port whose name holds ``wanted`` (case aside); return its
        full name. Raises LiveInputError when no MIDI system has one."""
        seen: list[str] = []
        reached = False
        for backend, names in _midi_systems():
            reached = True
            seen += names
            for name in names:
                if wanted.lower() in name.lower():
                    try:
                        self.midi_port = backend.open_input(name, callback=self._midi_message)
                    except Exception as error:
                        raise LiveInputError(f"MIDI port {quote(name)} cannot be opened: {error}") from None
                    self.midi_port_name = name
                    return name
        if not reached:
            raise LiveInputError(
                f"MIDI port {quote(wanted)}: no MIDI system runs here (no JACK server, no ALSA "
                "sequencer): playing without MIDI"
            )
        listed = ", ".join(quote(name) for name in seen) or "none"
        raise LiveInputError(
            f"no MIDI input port matches {quote(wanted)} (ports: {listed}): playing without MIDI"
        )

    def _midi_message(self, message: Any) -> None:
        """rtmidi's thread: a note to the nodes that take events, a CC to its mapped params."""
        event = message_event(message, 0)
        if event is None:
            return
        if event.kind == CONTROL and self.report:
            self._hear(("cc", event.channel, event.number))
        player = self.player
        if player is None:
            return
        if event.kind != CONTROL:
            player.play_event(event.kind, event.channel, event.number, event.value)
            return
        arrived_at = time.perf_counter()
        for node_id, name, value in player.engine.controls.control_change(
            event.channel, event.number, event.value
        ):
            self._set(player, node_id, name, value, arrived_at, f"CC {event.number}")

    def _set(
        self, player: Player, node_id: str, name: str, value: Any, arrived_at: float, source: str
    ) -> None:
        try:
            player.set_param(node_id, name, value, arrived_at)
        except PatchError as error:  # the node went in an edit since: say so, play on
            self.warnings.append(f"{source}: {error}")
            return
        if self.report:
            with self._reports_lock:
                self._moved[(node_id, name)] = value
                self._recent[(node_id, name)] = (value, arrived_at)

    def _hear(self, control: tuple[Any, ...]) -> None:
        with self._reports_lock:
            if len(self._heard) < HEARD_KEPT:
                self._heard[control] = None

    def take_reports(self) -> LiveReport:
        """What controls moved and which came in since the last call (``report`` on)."""
        with self._reports_lock:
            moved, self._moved = self._moved, {}
            heard, self._heard = self._heard, {}
        return LiveReport(moved, list(heard))

    def set_again(self, player: Player) -> None:
        """After a patch from the front end replaced the player's: the values controls set in
        the last ``RECENT_S``, which that patch may not hold yet (the front end learns them a
        frame or two later), set again, so that what plays is where the knob is."""
        now = time.perf_counter()
        with self._reports_lock:
            self._recent = {key: seen for key, seen in self._recent.items() if now - seen[1] < RECENT_S}
            recent = list(self._recent.items())
        for (node_id, name), (value, _at) in recent:
            with contextlib.suppress(PatchError):  # gone in that edit
                player.set_param(node_id, name, value)

    def close_midi(self) -> None:
        if self.midi_port is not None:
            self.midi_port.close()
            self.midi_port = None
            self.midi_port_name = ""

    # -- OSC --------------------------------------------------------------------------------
    def open_osc(self, port: int) -> int:
        """Serve OSC on UDP ``127.0.0.1:port`` (0: any free port); return the port."""
        from pythonosc.dispatcher import Dispatcher
        from pythonosc.osc_server import BlockingOSCUDPServer

        dispatcher = Dispatcher()
        dispatcher.set_default_handler(self._osc_message)
        try:
            self.osc_server = BlockingOSCUDPServer((OSC_HOST, port), dispatcher)
        except OSError as error:
            raise LiveInputError(f"OSC port {port} cannot be opened: {error.strerror or error}") from None
        self._osc_thread = threading.Thread(
            target=self.osc_server.serve_forever, name="patcher-osc", daemon=True
        )
        self._osc_thread.start()
        return self.osc_server.server_address[1]

    def _osc_message(self, address: str, *arguments: Any) -> None:
        """The OSC server's thread: a param's new value, or a warning saying why not."""
        arrived_at = time.perf_counter()
        if self.report:
            self._hear(("osc", address))
        player = self.player  # read once: it may go between plays
        if player is None:
            return
        try:
            node_id, name, value = player.engine.controls.osc_message(address, arguments)
        except ValueError as error:
            self.warnings.append(str(error))
            return
        self._set(player, node_id, name, value, arrived_at, f"OSC {quote(address)}")

    def take_warnings(self) -> list[str]:
        taken = []
        while self.warnings:
            taken.append(self.warnings.popleft())
        return taken

    def close(self) -> None:
        self.close_midi()
        self.close_osc()

    def close_osc(self) -> None:
        if self.osc_server is not None:
            self.osc_server.shutdown()
            self.osc_server.server_close()
            self.osc_server = None
            if self._osc_thread is not None:
                self._osc_thread.join(timeout=2.0)

    def __enter__(self) -> LiveInputs:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
