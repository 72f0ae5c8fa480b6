"""The editor model: the patch being edited, the selection, the undo stack, files and transport.

Pure Python and headless: everything the window shows is here, and everything the user does
is a method here. The dearpygui view (``view.py``) only renders this state and turns clicks
and keys into these calls, so every behaviour is testable without a display.

Every edit is a :class:`~patcher.editor.commands.Command` executed through one path,
:meth:`EditorModel.execute`, which checks it, pushes it on the undo stack, marks the patch
unsaved and sends it to the playing engine (``player.set_param`` for a param,
``player.update_patch`` for anything else), exactly as undo and redo do.

The editor plays through :class:`~patcher.server.EngineProcess`: the engine runs in a child
process, so the editor's own Python work never holds the audio callback's GIL. What the
window shows of the sound (meters, and the live pictures of scopes and spectra) comes back
as plain data: ``player.meters()`` and ``player.node_view(node_id)``, the running node's
``view()`` array. That process is the session's: ``start_engine`` launches it in the
background when the window opens, Play and Stop only start and stop its stream, a patch
opened later plays in it too, one that died is replaced (and the user told), and
``close_engine`` ends it.

The per-node CPU meter (View > CPU Meters, F3) is measured in that engine while it is on:
``set_cpu_meters`` tells the player (one with ``set_metering``), and ``node_loads`` gives each
node's share of the block from the last meters polled.

MIDI and OSC reach that engine too (Transport > MIDI Input and OSC Input, ``model.live``:
:mod:`patcher.editor.live_control`): what their controls move comes back into the patch, and
MIDI learn maps the param waiting for one to the next CC that comes in.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

from patcher.archive import ARCHIVE_SUFFIX, is_archive, is_extracted
from patcher.atomic import atomic_path
from patcher.audiofile import audio_info
from patcher.editor.commands import (
    AddNodes,
    Command,
    Connect,
    MoveNodes,
    ParamChange,
    Position,
    RecallPreset,
    RemoveItems,
    RenameNode,
    SetParams,
    SetPatchInfo,
)
from patcher.editor.composition import CompositionEdits
from patcher.editor.layout import Size, arrange, clear_of, node_size, piled_up
from patcher.editor.live_control import LiveControl
from patcher.editor.measure import Measuring
from patcher.editor.visuals import has_view
from patcher.files import OutsideFilesError, as_saved_in, outside_files
from patcher.graph import cycle_problems
from patcher.model import (
    NODE_ID_PATTERN,
    SETTING_RANGES,
    Link,
    NodeData,
    Patch,
    PatchError,
    PortRef,
    link_problem,
    unknown_param_problem,
)
from patcher.patchfile import mapped_param_problem
from patcher.spec import Node, registry
from patcher.text import closest, did_you_mean, quote, safe_lines

try:
    import fcntl
except ImportError:  # Windows: every other session's autosave is offered back
    fcntl = None  # type: ignore[assignment]

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
EXAMPLES_DIR = PROJECT_DIR / "patches"
#: What Save As writes: a patch file, or a packed patch with its files (:mod:`patcher.pack`).
PATCH_EXTENSIONS = (".json", ARCHIVE_SUFFIX)
DEFAULT_PATCH = EXAMPLES_DIR / "default.json"
#: Consecutive changes of the same param within this time are one undo step (a slider drag).
MERGE_SECONDS = 1.0
AUTOSAVE_SECONDS = 20.0
RECENT_LIMIT = 10
PASTE_OFFSET = (40.0, 40.0)
STATUS_HISTORY = 100


class PlayerLike(Protocol):
    """What the editor needs of a player: :class:`patcher.server.EngineProcess` (the default)
    and :class:`patcher.player.Player` both have it; tests inject a fake."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def set_param(self, node_id: str, name: str, value: Any) -> None: ...
    def update_patch(self, patch: Patch) -> None: ...
    def meters(self) -> dict[str, Any]: ...
    def warnings(self) -> list[str]: ...
    def node_view(self, node_id: str) -> np.ndarray | None: ...

    # A player that can meter its nodes also has ``set_metering(on: bool)``, and its meters
    # then hold ``node_loads`` (node id -> share of the block) and ``node_loads_total``.


PlayerFactory = Callable[[Patch], PlayerLike]


def default_player_factory(patch: Patch) -> PlayerLike:
    """The engine in a process of its own, kept for the session: the editor's GIL stays away
    from the audio, and a Play after the first does not wait for a new process."""
    from patcher.server import EngineProcess

    return EngineProcess(patch, keep_alive=True)


def kept_alive(player: PlayerLike) -> bool:
    """Whether ``player`` outlives a Stop, to play again (an engine process kept alive: it has
    ``launch``, ``start(patch)``, ``close``, ``running`` and ``exitcode``)."""
    return bool(getattr(player, "keep_alive", False))


def default_state_dir() -> Path:
    """Where recent files and autosaves live: ``PATCHER_STATE_DIR`` if set, else the system's
    folder for an application's state, as platformdirs knows it: ``$XDG_STATE_HOME/patcher``
    (``~/.local/state/patcher`` by default) on Linux, ``~/Library/Application Support/patcher``
    on macOS, ``%LOCALAPPDATA%\\patcher`` on Windows."""
    if os.environ.get("PATCHER_STATE_DIR"):
        return Path(os.environ["PATCHER_STATE_DIR"])
    import platformdirs

    return Path(platformdirs.user_state_dir("patcher", appauthor=False))


@dataclass
class Message:
    level: str  # "info", "warning" or "error"
    text: str


@dataclass
class Palette:
    """The node palette (Pd's object box, VCV's module browser): open at a canvas position."""

    position: Position
    query: str = ""
    highlight: int = 0

    @property
    def matches(self) -> list[str]:
        return palette_matches(self.query)


@dataclass
class PendingAction:
    """An action waiting for the user to say what to do with unsaved changes."""

    action: str  # "new", "open" or "quit"
    path: Path | None = None


@dataclass
class OutsideFilesQuestion:
    """A patch that names files outside its folder, waiting for the user to allow them (it
    opens, reading them) or not (it does not open)."""

    path: Path
    files: list[tuple[str, str, str]]  # (node id, param name, path text)


@dataclass
class Autosave:
    """What a crashed session left: the patch and the file it belonged to."""

    file: Path
    original: Path | None
    saved_at: float


def palette_matches(query: str) -> list[str]:
    """Node types matching ``query`` (every word in the type, family or doc), best first."""
    words = query.lower().split()
    ranked = []
    for type_name, cls in registry().items():
        haystack = f"{type_name} {cls.FAMILY} {cls.DOC}".lower()
        if not all(word in haystack for word in words):
            continue
        first = words[0] if words else ""
        if type_name == first:
            rank = 0
        elif type_name.startswith(first):
            rank = 1
        elif first in type_name:
            rank = 2
        elif first in cls.FAMILY:
            rank = 3
        else:
            rank = 4
        ranked.append((rank, type_name))
    if not ranked and len(words) == 1:  # a typo ("oscilator"): the closest type, as the CLI does
        meant = closest(words[0], registry())
        return [meant] if meant is not None else []
    return [type_name for _rank, type_name in sorted(ranked)]


def node_help(type_name: str) -> str:
    """A node type's documentation, generated from its spec."""
    cls: type[Node] = registry()[type_name]
    lines = [f"{cls.TYPE}  ({cls.FAMILY})", "", cls.DOC, ""]
    lines.append(f"inputs: {', '.join(cls.INPUTS) or '-'}")
    lines.append(f"outputs: {', '.join(cls.OUTPUTS) or '-'}")
    modulatable = [name for name, param in cls.PARAMS.items() if param.modulatable]
    if modulatable:
        lines.append(f"modulation inputs (added to the set value): {', '.join(modulatable)}")
    if cls.PARAMS:
        lines += ["", "params:"]
    for name, param in cls.PARAMS.items():
        unit = f" {param.unit}" if param.unit else ""
        scale = {"log": ", log scale", "symlog": ", log scale both ways from 0"}.get(param.scale, "")
        lines.append(f"  {name}: {param.describe_range()}{unit}{scale}, default {param.default!r}")
        lines.append(f"      {param.doc}")
    return "\n".join(lines)


def new_patch() -> Patch:
    """What File > New gives: an empty patch with its output, ready to be wired."""
    patch = Patch()
    patch.add_node("output", "out", position=(600.0, 200.0))
    return patch


class EditorModel(CompositionEdits):
    """The patch being edited and everything around it; the view renders this."""

    def __init__(
        self,
        patch: Patch | None = None,
        path: Path | None = None,
        *,
        state_dir: Path | None = None,
        player_factory: PlayerFactory = default_player_factory,
        clock: Callable[[], float] = time.monotonic,
        examples_dir: Path = EXAMPLES_DIR,
        allow_outside_files: bool = False,
    ) -> None:
        #: The document: the top-level patch, what is saved and what plays.
        self.root = patch if patch is not None else new_patch()
        #: The subpatch on the canvas: node ids from the top level down (empty: the top level).
        self.opened: list[str] = []
        self.path = Path(path) if path is not None else None
        self.state_dir = state_dir or default_state_dir()
        self.player_factory = player_factory
        self.clock = clock
        self.examples_dir = examples_dir
        self.selected_nodes: list[str] = []
        self.selected_links: list[Link] = []
        self.undo_stack: list[Command] = []
        self.redo_stack: list[Command] = []
        self.clipboard: dict[str, Any] | None = None
        self.messages: list[Message] = []
        self.palette: Palette | None = None
        self.pending: PendingAction | None = None
        #: Files outside an opened patch's folder are read only if the user allows them.
        self.allow_outside_files = allow_outside_files
        self.outside_question: OutsideFilesQuestion | None = None
        #: The player while playing, else None.
        self.player: PlayerLike | None = None
        #: The session's engine process between plays (kept alive), else None.
        self.idle_engine: PlayerLike | None = None
        self._engine_replaced = False  # since the last Play: a second death is not retried
        #: Which node the param panel shows (the last one clicked).
        self.focused_node: str | None = None
        #: Bumped on every change; the view redraws what changed when it sees a new number.
        self.version = 0
        self.quit_requested = False
        self._saved_top: Command | None = None
        self._unsaved_without_command = False
        self._last_merge_time = -1e9
        self._autosaved_version = 0
        self._owns_autosave = False  # a crashed session's autosave is not ours to remove
        self._session = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._session_lock: IO[bytes] | None = None
        self._last_autosave = clock()
        self.recent_files: list[Path] = self._read_recent()
        #: Settings that outlive a session (the UI scale), in the state folder.
        self.preferences: dict[str, Any] = self._read_preferences()
        #: Transport > Audio Device: the output device's name, None for the system's default.
        self.audio_device: str | None = self.preferences.get("device")
        #: Space pressed while the engine process was still loading: it plays once ready.
        self.play_pending = False
        #: File > Record: the file what plays is being recorded into, or None.
        self.recording: Path | None = None
        self._recording_since = 0.0
        #: File > Render to File under way (its progress is shown), or None.
        self.render_job: Any = None
        self._playing_with_input = False
        #: Whether each node shows its share of the engine's time (View > CPU Meters, F3).
        self.cpu_meters = False
        #: What ``poll`` last read of the playing engine (None while silent).
        self.last_meters: dict[str, Any] | None = None
        #: Analyze > Measure and Capture IR: the job under way and the last measurement.
        self.measuring = Measuring(self)
        #: Transport > MIDI Input and OSC Input, what their controls move, and MIDI learn.
        self.live = LiveControl(self)

    # -- the patch on the canvas: the document, or a subpatch opened in it ------------------
    @property
    def patch(self) -> Patch:
        """The patch on the canvas, which every edit of nodes, links and comments edits."""
        return self._level(tuple(self.opened))

    @patch.setter
    def patch(self, patch: Patch) -> None:
        self.root = patch
        self.opened = []

    def _level(self, where: tuple[str, ...]) -> Patch:
        patch = self.root
        for node_id in where:
            inner = patch.nodes[node_id].inner
            assert inner is not None, f"{node_id!r} is not a subpatch"
            patch = inner
        return patch

    def _apply(self, command: Command) -> None:
        if command.where:
            command.root_mappings = copy.deepcopy(self.root.mappings)
        command.apply(self._level(command.where))
        if command.where:
            self._follow_inner_edit(command)

    def _revert(self, command: Command) -> None:
        command.revert(self._level(command.where))
        if command.where and command.root_mappings is not None:
            self.root.mappings = copy.deepcopy(command.root_mappings)

    def _follow_inner_edit(self, command: Command) -> None:
        """The document's mappings follow an edit inside a subpatch, as they follow one at
        the top: a renamed node's by its new path; those of a node or a published param
        removed go (a file naming what it has not cannot be opened)."""
        prefix = "".join(f"{node_id}/" for node_id in command.where)
        mappings = self.root.mappings
        if isinstance(command, RenameNode):
            old, new = prefix + command.old, prefix + command.new
            mappings = [
                dataclasses.replace(m, param=new + m.param[len(old) :])
                if m.node == old or m.node.startswith(old + "/")
                else m
                for m in mappings
            ]
        self.root.mappings = [m for m in mappings if mapped_param_problem(self.root, m.param) is None]

    def _go_to(self, where: tuple[str, ...]) -> None:
        """Show the patch at ``where`` (undo goes back where the edit was made)."""
        if tuple(self.opened) != where:
            self.opened = list(where)
            self.selected_nodes, self.selected_links = [], []
            self.focused_node = None
            self._changed()

    # -- state the view shows -------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        top = self.undo_stack[-1] if self.undo_stack else None
        return self._unsaved_without_command or top is not self._saved_top

    @property
    def status(self) -> Message:
        return self.messages[-1] if self.messages else Message("info", "")

    def title(self) -> str:
        name = self.path.name if self.path else "untitled"
        mark = " *" if self.dirty else ""
        folder = f" ({self.path.parent})" if self.path else ""
        return f"{name}{mark}{folder} - patcher"

    def say(self, text: str, level: str = "info") -> None:
        """Show ``text`` in the status line; it may quote a patch or a file name, so each line
        is made visible and short (a 5 MB string is not a status message)."""
        self.messages.append(Message(level, "\n".join(safe_lines(text))))
        del self.messages[:-STATUS_HISTORY]
        self.version += 1

    def _changed(self) -> None:
        self.version += 1

    # -- the one path every edit takes ---------------------------------------------------------
    def execute(self, command: Command, message: str | None = None) -> bool:
        """Apply ``command``, check it, tell the engine, record it for undo and say ``message``.
        An edit refused here or by the playing engine is taken back: what the editor shows is
        what plays."""
        command.where = tuple(self.opened) if command.local else ()
        self._apply(command)
        problem = self._problem_after(command) or self._send_to_engine(command, reverted=False)
        if problem:
            self._revert(command)
            self.say(problem, "error")
            return False
        self.undo_stack.append(command)
        self.redo_stack.clear()
        if not isinstance(command, SetParams):
            self._last_merge_time = -1e9
        if message:
            self.say(message)
        self._after_edit(command)
        return True

    def _problem_after(self, command: Command) -> str | None:
        if isinstance(command, AddNodes | Connect):
            problems = cycle_problems(self._level(command.where))
            if problems:
                return "refused: " + "; ".join(problems)
        return self.port_problem(command)

    def undo(self) -> bool:
        if not self.undo_stack:
            self.say("nothing to undo")
            return False
        command = self.undo_stack[-1]
        self._last_merge_time = -1e9  # a change after an undo is a new step
        if not self._reachable(command):
            return False
        self._revert(command)
        problem = self._send_to_engine(command, reverted=True)
        if problem:  # e.g. a deleted node's file has gone since: the edit stays
            self._apply(command)
            self.say(f"cannot undo {command.label}: {problem}", "error")
            return False
        self.redo_stack.append(self.undo_stack.pop())
        self._after_edit(command)
        self.say(f"undid {command.label}")
        return True

    def redo(self) -> bool:
        if not self.redo_stack:
            self.say("nothing to redo")
            return False
        command = self.redo_stack[-1]
        self._last_merge_time = -1e9
        if not self._reachable(command):
            return False
        self._apply(command)
        problem = self._send_to_engine(command, reverted=False)
        if problem:
            self._revert(command)
            self.say(f"cannot redo {command.label}: {problem}", "error")
            return False
        self.undo_stack.append(self.redo_stack.pop())
        self._after_edit(command)
        self.say(f"redid {command.label}")
        return True

    def _reachable(self, command: Command) -> bool:
        """Go where ``command`` was made, to show it undone; False if that subpatch is gone."""
        try:
            self._level(command.where)
        except (KeyError, AssertionError):
            self.say(f"cannot reach {'/'.join(command.where)} to undo {command.label}", "error")
            return False
        if command.local:
            self._go_to(command.where)
        return True

    def _after_edit(self, command: Command) -> None:
        self.selected_nodes = [node_id for node_id in self.selected_nodes if node_id in self.patch.nodes]
        self.selected_links = [link for link in self.selected_links if link in self.patch.links]
        if self.focused_node not in self.patch.nodes:
            self.focused_node = None
        self._changed()
        self._reopen_for_input()

    def _reopen_for_input(self) -> None:
        """A stream's input is opened with it: reopen it when a live input node appears."""
        if self.player is not None and self.root.reads_the_sound_card() and not self._playing_with_input:
            self.stop()
            if self.play():
                self.say("restarted playing, to open the sound card's input for the live input node")

    def _send_to_engine(self, command: Command, reverted: bool) -> str | None:
        """Live edits: a param ramps in; any other edit recompiles and swaps at a block boundary.
        Why the engine refused it (it plays on as before), or None."""
        if self.player is None or not command.changes_sound:
            return None
        if not isinstance(command, SetParams):
            error = self._update_engine()
            return None if error is None else f"refused by the engine, so nothing changed: {error}"
        try:
            self._send_params(command, reverted)
        except Exception as error:  # PatchError, or the engine's own failure
            # Some of the changes may have gone through: bring the engine back to what the
            # patch will be once the caller takes the edit back.
            back, forth = (self._apply, self._revert) if reverted else (self._revert, self._apply)
            back(command)
            self._update_engine()
            forth(command)
            return f"refused by the engine, so nothing changed: {error}"
        return None

    def _send_params(self, command: SetParams, reverted: bool) -> None:
        """Param changes, each by its path from the top level (``voice/env``): the engine
        plays the whole document. A recalled preset glides as one, if the player can."""
        assert self.player is not None
        recall = getattr(self.player, "recall_preset", None)
        if isinstance(command, RecallPreset) and not reverted and recall is not None:
            recall(command.preset, command.glide_s)
            return
        prefix = "".join(f"{node_id}/" for node_id in command.where)
        for change in command.changes:
            value = change.old if reverted else change.new
            self.player.set_param(prefix + change.node_id, change.name, copy.deepcopy(value))

    def _update_engine(self) -> str | None:
        """Send the whole patch to the engine; why it refused it (it plays on as before), or None."""
        if self.player is None:
            return None
        try:
            self.player.update_patch(copy.deepcopy(self.root))
        except PatchError as error:
            return str(error)
        except Exception as error:  # the engine's own failure: still one message, no half edit
            return f"the engine failed: {error!r}"
        return None

    # -- edits ---------------------------------------------------------------------------------
    def add_node(self, type_name: str, position: Position = (0.0, 0.0), **params: Any) -> str | None:
        """Add a node of ``type_name``; its id is the type and a number (osc -> oscillator1)."""
        scratch = Patch()
        try:
            node_id = scratch.add_node(type_name, self.patch.fresh_id(type_name), position, **params)
        except PatchError as error:
            self.say(str(error), "error")
            return None
        node = scratch.nodes[node_id]
        node.position = (node.position[0], node.position[1] + clear_of([node], self.patch.nodes.values()))
        if not self.execute(AddNodes([node], label=f"add {type_name}"), f"added {node_id}"):
            return None
        self.selected_nodes = [node_id]
        self.focused_node = node_id
        return node_id

    def rename_node(self, node_id: str, new_id: str) -> bool:
        """Give a node another id (its links follow; undoable). The engine hears a new node:
        its state (a delay's echoes) starts afresh, gliding in."""
        new_id = new_id.strip()
        if node_id not in self.patch.nodes or new_id == node_id:
            return False
        if not NODE_ID_PATTERN.fullmatch(new_id):
            self.say(
                f"{safe_lines(new_id)[0]!r}: an id starts with a letter, then letters, digits, _ or -",
                "error",
            )
            return False
        if new_id in self.patch.nodes:
            self.say(f"there is already a node {new_id!r}", "error")
            return False
        was_selected, was_focused = node_id in self.selected_nodes, self.focused_node == node_id
        command = RenameNode(node_id, new_id, label=f"rename {node_id}")
        renamed = self.execute(command, f"renamed {node_id} to {new_id}")
        if renamed:
            if was_selected:
                self.select([new_id])
            if was_focused:
                self.focused_node = new_id
        return renamed

    def disconnect_all(self, node_id: str) -> bool:
        """Remove every link into and out of a node (undoable as one edit)."""
        links = [link for link in self.patch.links if node_id in (link.source.node, link.target.node)]
        if not links:
            self.say(f"{node_id} has no links")
            return False
        return self.execute(RemoveItems([], links, label=f"disconnect {node_id}"), f"disconnected {node_id}")

    def set_patch_info(self, **values: Any) -> bool:
        """The patch's description or settings (sample_rate, block_size, duration_s), undoable.
        A new rate or block size restarts playback at it."""
        changes: dict[str, tuple[Any, Any]] = {}
        for name, value in values.items():
            if name == "description":
                old, new = self.root.description, str(value)
            elif name in SETTING_RANGES:
                kind, low, high = SETTING_RANGES[name]
                try:
                    new = kind(value)
                except (TypeError, ValueError):
                    self.say(f"{name}: not a number", "error")
                    return False
                if not low <= new <= high:
                    self.say(f"{name}: {new:g} is outside {low:g} .. {high:g}", "error")
                    return False
                old = getattr(self.root.settings, name)
            else:
                known = ["description", *SETTING_RANGES]
                self.say(f"a patch has no setting {quote(name)}{did_you_mean(name, known)}", "error")
                return False
            if new != old:
                changes[name] = (old, new)
        if not changes:
            return True
        done = self.execute(
            SetPatchInfo(changes, label=f"set {', '.join(changes)}"), f"set {', '.join(changes)}"
        )
        if done and self.player is not None and {"sample_rate", "block_size"} & changes.keys():
            self.stop()
            if self.play():
                settings = self.root.settings
                self.say(f"playing again at {settings.sample_rate} Hz, block {settings.block_size}")
        return done

    def connect(self, source: str, target: str) -> bool:
        """Link an output ``node.port`` to an input ``node.port``; say why when refused."""
        try:
            link = Link(PortRef.parse(source), PortRef.parse(target))
        except ValueError as error:
            self.say(f"refused: {error}", "error")
            return False
        problem = link_problem(self.patch, link)
        if problem:
            self.say(f"refused: {problem}", "error")
            return False
        return self.execute(Connect(link, label=f"connect {link}"), f"connected {link}")

    def disconnect(self, source: str, target: str) -> bool:
        link = Link(PortRef.parse(source), PortRef.parse(target))
        if link not in self.patch.links:
            self.say(f"link {link} does not exist", "error")
            return False
        return self.execute(RemoveItems([], [link], label=f"disconnect {link}"), f"disconnected {link}")

    def set_param(self, node_id: str, name: str, value: Any) -> bool:
        """Set a param; a burst of changes to the same param (a slider drag) is one undo step."""
        node = self.patch.nodes.get(node_id)
        if node is None:
            self.say(f"no node with id {node_id!r}", "error")
            return False
        param = node.spec.PARAMS.get(name)
        if param is None:
            self.say(
                f"node {quote(node_id)} ({node.type}): {unknown_param_problem(node.spec, name)}", "error"
            )
            return False
        problem = param.check(value) or (self._file_problem(value) if param.kind == "path" else None)
        if problem:
            self.say(f"{node_id}.{name}: {problem}", "error")
            return False
        value = param.coerce(value)
        if param.kind == "path" and value and value == node.params[name]:
            # The same file chosen again: it may have changed on disk, so it is read again.
            reload = SetParams([ParamChange(node_id, name, value, value)], f"reload {node_id}.{name}")
            return self.execute(reload, f"read {value} again")
        values = [(node_id, name, value)]
        source = node.spec.PARAMS.get("source")
        if param.kind == "path" and value and source is not None and "file" in (source.choices or ()):
            values.append((node_id, "source", "file"))  # a file chosen is a file to hear
        return self._set_params(values, f"set {node_id}.{name}")

    def file_param_value(self, path: Path) -> str:
        """A chosen file as a file param: relative to the patch's folder (so a patch moved
        with its media still finds them), absolute where no relative path exists."""
        try:
            return os.path.relpath(Path(path).resolve(), Path(self.patch.base_dir).resolve())
        except ValueError:  # another drive (Windows)
            return str(Path(path).resolve())

    def _file_problem(self, value: str) -> str | None:
        """Why an audio file param cannot work (the engine would refuse every later edit)."""
        if not value:
            return None
        path = Path(self.patch.base_dir) / value
        try:
            audio_info(path)  # a pipe is refused unopened: it would hang the editor
        except OSError:  # missing, or not audio
            return f"{path} is not a readable audio file"
        return None

    def _set_params(self, values: list[tuple[str, str, Any]], label: str, on_canvas: bool = True) -> bool:
        """Set params of the patch on the canvas (or, ``on_canvas`` False, of the document)."""
        patch = self.patch if on_canvas else self.root
        changes = [
            ParamChange(node_id, name, copy.deepcopy(patch.nodes[node_id].params[name]), value)
            for node_id, name, value in values
            if patch.nodes[node_id].params[name] != value
        ]
        if not changes:
            return True
        command = SetParams(changes, label=label)
        command.local = on_canvas
        command.where = tuple(self.opened) if on_canvas else ()
        now = self.clock()
        top = self.undo_stack[-1] if self.undo_stack else None
        mergeable = (
            isinstance(top, SetParams)
            and top is not self._saved_top
            and top.key() == command.key()
            and top.where == command.where
            and now - self._last_merge_time < MERGE_SECONDS
        )
        self._last_merge_time = now
        if not mergeable:
            return self.execute(command)
        assert isinstance(top, SetParams)
        self._apply(command)
        problem = self._send_to_engine(command, reverted=False)
        if problem:
            self._revert(command)
            self.say(problem, "error")
            return False
        for merged, change in zip(top.changes, command.changes, strict=True):
            merged.new = copy.deepcopy(change.new)
        self.redo_stack.clear()
        self._changed()
        return True

    def move_nodes(self, positions: dict[str, Position]) -> bool:
        """Record where nodes were dropped (the canvas moved them already)."""
        moves = {
            node_id: (self.patch.nodes[node_id].position, (float(x), float(y)))
            for node_id, (x, y) in positions.items()
            if node_id in self.patch.nodes and self.patch.nodes[node_id].position != (float(x), float(y))
        }
        if not moves:
            return False
        return self.execute(MoveNodes(moves, label=f"move {', '.join(moves)}"))

    def arrange(self, size: Callable[[NodeData], Size] = node_size) -> bool:
        """Lay every node out afresh, signal flowing left to right (one undo step).
        ``size`` gives a node's size on the canvas: the view passes the sizes it drew."""
        moves = {
            node_id: (self.patch.nodes[node_id].position, position)
            for node_id, position in arrange(self.patch, size).items()
            if self.patch.nodes[node_id].position != position
        }
        if not moves:
            self.say("the nodes are already arranged")
            return False
        return self.execute(MoveNodes(moves, label="arrange nodes"), f"arranged {len(moves)} nodes")

    def select(
        self, node_ids: list[str] | tuple[str, ...] = (), links: list[Link] | tuple[Link, ...] = ()
    ) -> None:
        node_ids = [node_id for node_id in node_ids if node_id in self.patch.nodes]
        links = [link for link in links if link in self.patch.links]
        if node_ids == self.selected_nodes and links == self.selected_links:
            return
        self.selected_nodes = node_ids
        self.selected_links = links
        if len(node_ids) == 1:
            self.focused_node = node_ids[0]
        self._changed()

    def select_all(self) -> None:
        self.select(list(self.patch.nodes), list(self.patch.links))

    def delete_selection(self) -> bool:
        if not self.selected_nodes and not self.selected_links:
            self.say("nothing selected to delete")
            return False
        nodes, links = list(self.selected_nodes), list(self.selected_links)
        what = ", ".join(nodes + [str(link) for link in links])
        self.selected_nodes, self.selected_links = [], []
        return self.execute(RemoveItems(nodes, links, label=f"delete {what}"), f"deleted {what}")

    def copy_selection(self) -> bool:
        fragment = self._fragment(self.selected_nodes)
        if fragment is None:
            self.say("select nodes to copy")
            return False
        self.clipboard = fragment
        self.say(f"copied {len(fragment['nodes'])} nodes and {len(fragment['links'])} links")
        return True

    def paste(self, position: Position | None = None) -> list[str]:
        """Paste the clipboard (at ``position``, or beside the original) as new nodes."""
        if self.clipboard is None:
            self.say("the clipboard is empty: copy nodes first")
            return []
        return self._place(self.clipboard, position, "paste")

    def duplicate(self) -> list[str]:
        """Copy and paste the selection in one step, leaving the clipboard as it was."""
        fragment = self._fragment(self.selected_nodes)
        if fragment is None:
            self.say("select nodes to duplicate")
            return []
        return self._place(fragment, None, "duplicate")

    def _fragment(self, node_ids: list[str]) -> dict[str, Any] | None:
        """The nodes and the links among them, as plain data."""
        if not node_ids:
            return None
        chosen = set(node_ids)
        return {
            "nodes": [copy.deepcopy(self.patch.nodes[node_id]) for node_id in node_ids],
            "links": [
                link for link in self.patch.links if link.source.node in chosen and link.target.node in chosen
            ],
        }

    def _place(self, fragment: dict[str, Any], position: Position | None, label: str) -> list[str]:
        originals: list[NodeData] = fragment["nodes"]
        left = min(node.position[0] for node in originals)
        top = min(node.position[1] for node in originals)
        shift = PASTE_OFFSET if position is None else (position[0] - left, position[1] - top)
        renamed: dict[str, str] = {}
        scratch = Patch(nodes=dict(self.patch.nodes))
        new_nodes = []
        for node in originals:
            new_id = scratch.fresh_id(node.type)
            renamed[node.id] = new_id
            position_now = (node.position[0] + shift[0], node.position[1] + shift[1])
            clone = dataclasses.replace(copy.deepcopy(node), id=new_id, position=position_now)
            scratch.nodes[new_id] = clone
            new_nodes.append(clone)
        new_links = [
            Link(
                PortRef(renamed[link.source.node], link.source.port),
                PortRef(renamed[link.target.node], link.target.port),
            )
            for link in fragment["links"]
        ]
        down = clear_of(new_nodes, self.patch.nodes.values())
        for clone in new_nodes:
            clone.position = (clone.position[0], clone.position[1] + down)
        ids = [node.id for node in new_nodes]
        if not self.execute(AddNodes(new_nodes, new_links, label=label), f"{label}: {', '.join(ids)}"):
            return []
        self.select(ids, new_links)
        return ids

    # -- master level: the output nodes' level, so it is saved, undone and heard like any param --
    def output_nodes(self) -> list[str]:
        """The document's output nodes (the ones heard), wherever the canvas is."""
        return [node_id for node_id, node in self.root.nodes.items() if node.type == "output"]

    def master_level_db(self) -> float | None:
        outputs = self.output_nodes()
        return self.root.nodes[outputs[0]].params["level_db"] if outputs else None

    def set_master_level(self, level_db: float) -> bool:
        outputs = self.output_nodes()
        if not outputs:
            self.say("there is no output node to set the level of", "warning")
            return False
        param = self.root.nodes[outputs[0]].spec.PARAMS["level_db"]
        level_db = min(max(float(level_db), param.min), param.max)
        values = [(node_id, "level_db", level_db) for node_id in outputs]
        return self._set_params(values, "master level", on_canvas=False)

    # -- the palette ---------------------------------------------------------------------------
    def open_palette(self, position: Position) -> None:
        self.palette = Palette((float(position[0]), float(position[1])))
        self._changed()

    def type_in_palette(self, query: str) -> None:
        if self.palette is not None:
            self.palette.query = query
            self.palette.highlight = 0
            self._changed()

    def move_palette_highlight(self, step: int) -> None:
        if self.palette is not None and self.palette.matches:
            count = len(self.palette.matches)
            self.palette.highlight = (self.palette.highlight + step) % count
            self._changed()

    def accept_palette(self, type_name: str | None = None) -> str | None:
        """Place the highlighted (or given) node type where the palette was opened."""
        palette = self.palette
        if palette is None:
            return None
        matches = palette.matches
        if type_name is None:
            if not matches:
                self.say(f"no node type matches {palette.query!r}", "warning")
                return None
            type_name = matches[min(palette.highlight, len(matches) - 1)]
        self.close_palette()
        return self.add_node(type_name, palette.position)

    def close_palette(self) -> None:
        self.palette = None
        self._changed()

    # -- files ---------------------------------------------------------------------------------
    def request(self, action: str, path: Path | None = None) -> bool:
        """Do ``action`` ("new", "open", "quit") now, or ask first when there are unsaved changes."""
        if self.dirty:
            self.pending = PendingAction(action, Path(path) if path else None)
            self._changed()
            return False
        return self._perform(PendingAction(action, Path(path) if path else None))

    def resolve_pending(self, choice: str) -> bool:
        """The answer to "save changes?": "save", "discard" or "cancel"."""
        pending, self.pending = self.pending, None
        self._changed()
        if pending is None or choice == "cancel":
            return False
        if choice == "save":
            if self.path is None:
                self.pending = pending  # the view asks where to save, then resolves again
                self.say("choose where to save the patch first", "warning")
                return False
            if not self.save():
                return False
        return self._perform(pending)

    def _perform(self, pending: PendingAction) -> bool:
        if pending.action == "new":
            return self.new()
        if pending.action == "open":
            assert pending.path is not None
            return self.open(pending.path)
        if pending.action == "quit":
            self.discard_autosave()
            self.quit_requested = True
            self._changed()
            return True
        raise ValueError(f"unknown action {pending.action!r}")

    def new(self) -> bool:
        self.say("new patch")
        self._replace(new_patch(), None)
        return True

    def open(self, path: Path | str, allow_outside_files: bool | None = None) -> bool:
        """Load ``path``; a bad file leaves the current patch as it was and says why. A patch
        naming files outside its folder opens only once the user allows them: until then
        ``outside_question`` asks (:meth:`answer_outside_files`)."""
        from patcher.patchfile import load

        path = Path(path)
        allowed = self.allow_outside_files if allow_outside_files is None else allow_outside_files
        try:
            patch = load(path, allow_outside_files=allowed)
        except OutsideFilesError as error:
            self.outside_question = OutsideFilesQuestion(path, error.files)
            count = len(error.files)
            self.say(
                f"{path} reads {count} file{'s' * (count > 1)} outside its folder: allow them?", "warning"
            )
            return False
        except PatchError as error:
            self.say(f"could not open {path}: {error}", "error")
            return False
        self.say(f"opened {path}")
        self._replace(patch, path)
        self._remember(path)
        if piled_up(patch):  # made by a script or by hand, without places: lay it out
            self.arrange()
            self.say(f"opened {path}; its nodes had no places, so they were arranged (undo puts them back)")
        return True

    def answer_outside_files(self, allow: bool) -> bool:
        """The user's answer to ``outside_question``: open the patch reading its files
        outside its folder, or leave it unopened."""
        question, self.outside_question = self.outside_question, None
        self._changed()
        if question is None:
            return False
        if allow:
            return self.open(question.path, allow_outside_files=True)
        self.say(f"did not open {question.path}: it reads files outside its folder")
        return False

    def _replace(self, patch: Patch, path: Path | None) -> None:
        self.patch = patch
        self.path = path
        self.undo_stack.clear()
        self.redo_stack.clear()
        self._saved_top = None
        self._unsaved_without_command = False
        self.selected_nodes, self.selected_links = [], []
        self.focused_node = None
        self.palette = None
        self.live.learning = None  # the param waiting for a control was the old patch's
        self.discard_autosave()
        self._changed()
        error = self._update_engine()
        if error:  # the old patch must not play on under the new one's name
            self.stop()
            self.say(f"stopped playing: this patch cannot play: {error}", "error")
        self._reopen_for_input()

    def save(self) -> bool:
        """Save to the current file; False (and nothing written) when it has none yet."""
        if self.path is None:
            self.say("the patch has no file yet: use Save As", "warning")
            return False
        return self.save_as(self.path)

    def save_as(self, path: Path | str) -> bool:
        """Save to ``path``: a ``.patcher`` name packs the patch with its files into one file
        (:mod:`patcher.pack`); any other is a ``.json`` patch file."""
        path = Path(path)
        if path.suffix.lower() not in PATCH_EXTENSIONS:
            path = path.with_name(path.name + ".json")
        # The file names files relative to its own folder (save does it); in memory they stay
        # relative to the patch's folder, which the undo history, the clipboard and the engine share.
        try:
            self._write(path)
        except (OSError, ValueError) as error:  # a PatchError too: a file that cannot be packed
            self.say(f"could not save {path}: {error}", "error")
            return False
        self.path = path
        self._saved_top = self.undo_stack[-1] if self.undo_stack else None
        self._unsaved_without_command = False
        self._remember(path)
        self.discard_autosave()
        outside = outside_files(as_saved_in(self.root, path.resolve().parent))
        if is_archive(path):
            self.say(f"saved {path}: the patch and every file it uses, in one file to share")
        elif outside and is_extracted(self.root.base_dir):
            self.say(
                f"saved {path}; its files are still in the .patcher file it came from (in a temporary "
                "folder while it is open): save as .patcher to keep them together, or `patcher unpack` it",
                "warning",
            )
        elif outside:
            count = len(outside)
            self.say(
                f"saved {path}; {count} of its files {'are' if count > 1 else 'is'} outside its folder "
                f"(such as {outside[0][2]!r}): whoever opens it must allow that, so copy them into "
                "its folder to share it",
                "warning",
            )
        else:
            self.say(f"saved {path}")
        return True

    def _write(self, path: Path) -> None:
        from patcher.pack import pack_patch
        from patcher.patchfile import save

        if is_archive(path):  # files outside its folder were allowed when they came in
            pack_patch(self.root, path, allow_outside_files=True)
        else:
            save(self.root, path)

    def patch_extensions(self) -> tuple[str, ...]:
        """The file dialog's patch names, the current file's kind first (what a bare name gets)."""
        first = ARCHIVE_SUFFIX if self.path is not None and is_archive(self.path) else ".json"
        return (first, *(extension for extension in PATCH_EXTENSIONS if extension != first))

    def example_patches(self) -> list[Path]:
        return sorted(self.examples_dir.glob("*.json"))

    # -- recent files ----------------------------------------------------------------------------
    @property
    def _recent_file(self) -> Path:
        return self.state_dir / "recent.json"

    def _read_recent(self) -> list[Path]:
        try:
            entries = json.loads(self._recent_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        if not isinstance(entries, list):
            return []
        return [Path(entry) for entry in entries if isinstance(entry, str)][:RECENT_LIMIT]

    def _remember(self, path: Path) -> None:
        path = path.resolve()
        self.recent_files = [path] + [p for p in self.recent_files if p != path]
        del self.recent_files[RECENT_LIMIT:]
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._recent_file.write_text(json.dumps([str(p) for p in self.recent_files], indent=1))
        except OSError as error:
            self.say(f"could not remember recent files in {self.state_dir}: {error}", "warning")

    # -- preferences -------------------------------------------------------------------------------
    @property
    def _preferences_file(self) -> Path:
        return self.state_dir / "preferences.json"

    def _read_preferences(self) -> dict[str, Any]:
        try:
            preferences = json.loads(self._preferences_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return preferences if isinstance(preferences, dict) else {}

    def remember_preference(self, name: str, value: Any) -> None:
        """Keep a setting for the next session (a failure to write is a warning, no more)."""
        self.preferences[name] = value
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            with atomic_path(self._preferences_file) as temporary:
                temporary.write_text(json.dumps(self.preferences, indent=1), encoding="utf-8")
        except OSError as error:
            self.say(f"could not remember the settings in {self.state_dir}: {error}", "warning")

    # -- autosave and crash recovery ----------------------------------------------------------------
    # Each session autosaves to a file of its own and holds a lock on it while it lives (the
    # system drops the lock when the process dies, however it dies): an autosave whose lock
    # nobody holds is a crashed session's, offered back; a live session's is left alone.
    @property
    def autosave_file(self) -> Path:
        """This session's autosave (another editor running beside it has its own)."""
        return self.state_dir / f"autosave-{self._session}.json"

    def autosave_if_due(self) -> bool:
        """Called every frame: write the autosave when there are unsaved edits not yet in it."""
        now = self.clock()
        if now - self._last_autosave < AUTOSAVE_SECONDS:
            return False
        self._last_autosave = now
        if not self.dirty or self._autosaved_version == self.version:
            return False
        return self.autosave()

    def autosave(self) -> bool:
        from patcher.patchfile import to_dict

        document = {
            "original": str(self.path.resolve()) if self.path else None,
            "saved_at": time.time(),
            "base_dir": str(Path(self.root.base_dir).resolve()),  # what its relative files are in
            "patch": to_dict(self.root),
        }
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            if self._session_lock is None:
                self._session_lock = _hold_lock(_lock_file(self.autosave_file))
            with atomic_path(self.autosave_file) as temporary:  # removed if the write fails
                temporary.write_text(json.dumps(document, indent=1), encoding="utf-8")
        except (OSError, ValueError) as error:
            self.say(f"autosave failed: {error}", "warning")
            return False
        self._autosaved_version = self.version
        self._owns_autosave = True
        return True

    def discard_autosave(self, declined: bool = False) -> None:
        """Remove this session's autosave; with ``declined``, the crashed session's autosave
        the user declined to recover instead (opening the file it came from must not delete
        it unasked)."""
        if declined:
            info = self.recovery_available()
            if info is not None:
                self._remove_autosave(info.file)
            return
        if not self._owns_autosave:
            return
        self._remove_autosave(self.autosave_file)
        if self._session_lock is not None:
            self._session_lock.close()
            self._session_lock = None
        self._owns_autosave = False

    def _remove_autosave(self, file: Path) -> None:
        try:
            file.unlink(missing_ok=True)
            _lock_file(file).unlink(missing_ok=True)
        except OSError as error:
            self.say(f"could not remove the autosave {file}: {error}", "warning")

    def crashed_autosaves(self) -> list[Autosave]:
        """The autosaves crashed sessions left behind (a clean exit removes its own), newest
        first; those of editors still running are not among them."""
        found = []
        for file in self.state_dir.glob("autosave*.json"):
            if file == self.autosave_file or _is_locked(_lock_file(file)):
                continue
            try:
                document = json.loads(file.read_text(encoding="utf-8"))
                original = document.get("original")
                saved_at = float(document["saved_at"])
                found.append(Autosave(file, Path(original) if original else None, saved_at))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
        return sorted(found, key=lambda autosave: autosave.saved_at, reverse=True)

    def recovery_available(self) -> Autosave | None:
        """The newest autosave a crashed session left behind, if any."""
        crashed = self.crashed_autosaves()
        return crashed[0] if crashed else None

    def recover(self) -> bool:
        """Reopen the autosaved patch, unsaved, under the file it belonged to; it becomes this
        session's autosave."""
        from patcher.patchfile import from_dict

        info = self.recovery_available()
        if info is None:
            self.say("there is no autosaved patch to recover", "warning")
            return False
        try:
            document = json.loads(info.file.read_text(encoding="utf-8"))
            base_dir = document.get("base_dir") or (info.original.parent if info.original else Path.cwd())
            patch = from_dict(document["patch"], str(info.file), base_dir)
        except (OSError, ValueError, KeyError) as error:
            self.say(f"the autosave could not be recovered: {error}", "error")
            return False
        self.say("recovered the autosaved patch: save it to keep it")
        self._replace(patch, info.original)
        self._unsaved_without_command = True
        if self.autosave():  # keep it, as ours, until the recovered patch is saved
            self._remove_autosave(info.file)
        return True

    # -- transport ---------------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self.player is not None

    def toggle_play(self, wait: bool = True) -> bool:
        """Space. With ``wait=False`` (the window's), a Play pressed while the session's engine
        is still loading is remembered and starts once it is ready (``play_pending``), rather
        than freezing the window for those seconds; Space again cancels it."""
        if self.playing:
            self.stop()
            return False
        if self.play_pending:
            self.play_pending = False
            self.say("play cancelled before the audio engine was ready")
            return False
        if not wait and self._engine_loading():
            self.play_pending = True
            self.say("starting the audio engine (a few seconds, once a session): it plays when ready")
            return False
        return self.play()

    def _engine_loading(self) -> bool:
        engine = self.idle_engine
        is_loaded = getattr(engine, "is_loaded", None)
        return engine is not None and is_loaded is not None and engine.running and not is_loaded()

    def _play_when_ready(self) -> None:
        if self.play_pending and not self._engine_loading():
            self.play_pending = False
            self.play()

    def set_audio_device(self, device: str | None) -> None:
        """Play on ``device`` (a name from ``patcher.player.output_devices``; None: the system's
        default), from now on and in later sessions; playing, it moves there at once."""
        self.audio_device = device
        self.remember_preference("device", device)
        where = device or "the default audio device"
        if self.player is None:
            self.say(f"will play on {where}")
            return
        self.stop()
        if self.play():
            self.say(f"playing on {where}")

    def _choose_device(self, player: PlayerLike) -> None:
        if hasattr(player, "device"):  # the engine process opens it at each Play
            player.device = self.audio_device
        self.live.tell(player)  # and listens to MIDI and OSC

    def start_engine(self) -> None:
        """Launch the session's engine process in the background (nothing waits for it), so
        that a Play only starts the stream. Nothing when it runs already, or for a player that
        is not kept between plays."""
        if self.player is not None or self.idle_engine is not None:
            return
        try:
            engine = self.player_factory(copy.deepcopy(self.root))
            if not kept_alive(engine):
                return
            self.live.tell(engine)  # MIDI and OSC, listened to from its start, playing or not
            engine.launch()
        except Exception as error:  # no process could be made: Play will say why again
            self.say(f"the audio engine could not start: {error}", "warning")
            return
        self.idle_engine = engine

    def play(self) -> bool:
        """Play a copy of the patch: in the session's engine process when there is one (only
        its stream starts), else in a new player; no sound card is a message, not a crash."""
        if self.player is not None:
            return True
        reused, replaced = self._take_idle_engine()
        player, problem = self._start_player(reused)
        if problem and reused is not None and not reused.running:
            # It died as this Play began, too recently to be seen before: once more, anew.
            replaced = _replaced_note(reused)
            reused.close()
            player, problem = self._start_player(None)
        if problem or player is None:
            self.say(f"{problem}{replaced}", "error")
            return False
        self.player = player
        self._engine_replaced = False
        self._playing_with_input = self.root.reads_the_sound_card()
        self._tell_metering(player)
        device = getattr(player, "device_name", "") or "the audio device"
        self.say(f"playing on {device}{replaced}")
        return True

    def _start_player(self, engine: PlayerLike | None) -> tuple[PlayerLike | None, str]:
        """Start ``engine`` (the session's, on this patch) or else a new player: the player,
        or why it cannot play (and then nothing is left playing, or a process behind)."""
        from patcher.player import AudioDeviceError

        player = engine
        try:
            if player is None:
                player = self.player_factory(copy.deepcopy(self.root))
                self._choose_device(player)
                player.start()
            else:
                self._choose_device(player)
                player.start(copy.deepcopy(self.root))
        except AudioDeviceError as error:
            self._keep_idle(player)
            return None, f"cannot play: {error}"
        except PatchError as error:
            self._keep_idle(player)
            return None, f"cannot play this patch: {error}"
        except OSError as error:  # no PortAudio library at all
            self._keep_idle(player)
            return None, f"cannot play: no audio system ({error})"
        except Exception as error:  # whatever it was, leave no engine (or process) behind
            if player is not None:
                with contextlib.suppress(Exception):
                    if kept_alive(player):
                        player.close()
                    else:
                        player.stop()
            return None, f"cannot play: {error!r}"
        return player, ""

    def _take_idle_engine(self) -> tuple[PlayerLike | None, str]:
        """The session's engine for a Play (None: make a new one), and a note for the Play's
        message when the one there has died since (it is closed)."""
        engine, self.idle_engine = self.idle_engine, None
        if engine is None or engine.running:
            return engine, ""
        note = _replaced_note(engine)
        engine.close()
        return None, note

    def _keep_idle(self, player: PlayerLike | None) -> None:
        """Keep a stopped engine process for the next Play; close one that has died."""
        if player is None or not kept_alive(player):
            return
        if player.running:
            self.idle_engine = player
        else:
            player.close()

    def stop(self) -> None:
        if self.player is None:
            return
        if self.recording is not None:  # its file is written before the sound stops
            self.stop_recording()
        player, self.player = self.player, None
        try:
            player.stop()
        except Exception as error:  # a device that vanished must not take the editor down
            self.say(f"stopping the audio device failed: {error}", "warning")
        self._keep_idle(player)
        self.say("stopped")

    # -- rendering to a file ----------------------------------------------------------------
    def start_render(self, path: Path | str, seconds: float | None = None) -> bool:
        """File > Render to File: the patch as it is now, for ``seconds`` (its render length by
        default), into a WAV or FLAC file, in the background (``render_job.progress``)."""
        path = Path(path)
        if self.render_job is not None:
            self.say("a render is already under way: cancel it first", "error")
            return False
        if path.suffix.lower() not in (".wav", ".flac"):
            self.say(f"cannot render to {path.name}: the file must end in .wav or .flac", "error")
            return False
        if not path.parent.is_dir() or path.is_dir():
            self.say(f"cannot render to {path}: no such folder, or it is one", "error")
            return False
        from patcher.editor.jobs import RenderJob

        try:
            self.render_job = RenderJob(copy.deepcopy(self.root), path, seconds)
        except OSError as error:  # too many processes or files
            self.say(f"cannot start the render: {error}", "error")
            return False
        length = self.root.settings.duration_s if seconds is None else seconds
        self.say(f"rendering {length:g} s to {path}...")
        return True

    # -- recording what plays ------------------------------------------------------------------
    def start_recording(self, path: Path | str) -> bool:
        """File > Record: what plays, knob turns and all, into a WAV or FLAC file, written by the
        engine off its audio thread, until ``stop_recording`` (or Stop)."""
        path = Path(path)
        if self.player is None or not hasattr(self.player, "start_recording"):
            self.say("press Play first: a recording takes what plays", "error")
            return False
        if self.recording is not None:
            self.say(f"already recording into {self.recording}", "error")
            return False
        try:
            self.player.start_recording(path)
        except (OSError, ValueError) as error:
            self.say(f"cannot record into {path}: {error}", "error")
            return False
        self.recording, self._recording_since = path, self.clock()
        self.say(f"recording into {path} (File > Stop Recording ends it)")
        return True

    def stop_recording(self) -> bool:
        path, self.recording = self.recording, None
        if path is None or self.player is None:
            return False
        try:
            self.say(self.player.stop_recording() or f"nothing was recorded into {path}")
        except OSError as error:
            self.say(str(error), "error")
            return False
        return True

    @property
    def recorded_seconds(self) -> float:
        return self.clock() - self._recording_since if self.recording is not None else 0.0

    def cancel_render(self) -> None:
        job, self.render_job = self.render_job, None
        if job is not None:
            job.cancel()
            self.say(f"cancelled the render to {job.path}")

    def _poll_render(self) -> None:
        job = self.render_job
        if job is None:
            return
        result = job.poll()  # the view reads job.progress every frame
        if result is None:
            return
        self.render_job = None
        if result.ok:
            self.say(f"rendered {job.path} ({result.message})")
        else:
            self.say(f"could not render {job.path}: {result.message}", "error")

    def poll(self) -> dict[str, Any] | None:
        """Called every frame: take the player's warnings into the status; return its meters.
        An engine process that died is said, and replaced in the background."""
        self.last_meters = None
        self._poll_render()
        self.measuring.poll()
        self.live.poll()
        self._play_when_ready()
        if self.player is None:
            self._watch_idle_engine()
            return None
        for warning in self.player.warnings():
            self.say(warning, "warning")
        if getattr(self.player, "running", True) is False:  # the engine process has died
            player, how = self.player, _how_it_ended(self.player)
            self.stop()
            if not kept_alive(player):
                self.say("the audio engine stopped unexpectedly: press Play to start it again", "error")
                return None
            self.say(
                f"the audio engine stopped unexpectedly (it {how}): a new one is starting, "
                "press Play to play again",
                "error",
            )
            self._engine_replaced = True
            self.start_engine()
            return None
        self.last_meters = self.player.meters()
        return self.last_meters

    # -- the per-node CPU meter ------------------------------------------------------------------
    def set_cpu_meters(self, on: bool) -> None:
        """Show (and have the engine measure) each node's share of the block, or stop."""
        self.cpu_meters = bool(on)
        for player in (self.player, self.idle_engine):
            self._tell_metering(player)
        self.say("CPU meters on: each node's share of the block" if on else "CPU meters off")

    def toggle_cpu_meters(self) -> bool:
        self.set_cpu_meters(not self.cpu_meters)
        return self.cpu_meters

    def _tell_metering(self, player: PlayerLike | None) -> None:
        set_metering = getattr(player, "set_metering", None)
        if set_metering is None:  # a player that cannot meter its nodes shows none
            return
        try:
            set_metering(self.cpu_meters)
        except Exception as error:  # a meter must never take the editor down
            self.say(f"the CPU meters could not be turned on: {error}", "warning")

    def node_loads(self) -> dict[str, float]:
        """Each node's share of the block's duration (0.05: 5 % of what the sound card
        allows), as last polled; empty while the meters are off or nothing plays. Nodes that
        reach no output do not run, and have none."""
        meters = self.last_meters
        if not self.cpu_meters or meters is None:
            return {}
        loads = meters.get("node_loads") or {}
        prefix = self.flat_prefix()
        shares = {node_id.removeprefix(prefix): share for node_id, share in loads.items()}
        return {node_id: share for node_id, share in shares.items() if node_id in self.patch.nodes}

    def node_loads_total(self) -> float | None:
        """The running nodes' total share (None while the meters are off or nothing plays)."""
        meters = self.last_meters
        if not self.cpu_meters or meters is None or not meters.get("node_loads"):
            return None
        return float(meters.get("node_loads_total", 0.0))

    def _watch_idle_engine(self) -> None:
        """Replace the waiting engine process if it died (once: one that dies again before a
        Play is left to the next Play, which says why it cannot start)."""
        engine = self.idle_engine
        if engine is None or engine.running:
            return
        self.idle_engine, how = None, _how_it_ended(engine)
        engine.close()
        if self._engine_replaced:
            self.say(f"the audio engine {how} again: Play starts a new one", "error")
            return
        self.say(f"the audio engine {how}: a new one is starting", "warning")
        self._engine_replaced = True
        self.start_engine()

    def close_engine(self) -> None:
        """Stop playing and end the session's engine process, by its own handle: a closed
        editor leaves no process behind."""
        self.stop()
        engine, self.idle_engine = self.idle_engine, None
        if engine is not None:
            engine.close()

    def node_view(self, node_id: str) -> np.ndarray | None:
        """The running node's view (a scope's waveform, a spectrum's levels), or None when
        silent, when the node has no view, or before the engine has published one."""
        node = self.patch.nodes.get(node_id)
        if self.player is None or node is None or not has_view(node.type):
            return None
        return self.player.node_view(self.flat_prefix() + node_id)

    def flat_prefix(self) -> str:
        """What the engine's ids of the canvas's nodes start with (``voice/`` in ``voice``)."""
        return "".join(f"{node_id}/" for node_id in self.opened)

    def shutdown(self) -> None:
        """A clean exit: stop the sound, end the engine process and drop the autosave (unsaved
        work was asked about)."""
        self.cancel_render()
        self.measuring.cancel(quiet=True)
        self.close_engine()
        self.discard_autosave()


def _how_it_ended(engine: PlayerLike) -> str:
    """How an engine process ended, in words: "was killed (SIGKILL)", "ended (exit code 1)"."""
    code = getattr(engine, "exitcode", None)
    if code is None:
        return "ended"
    if code >= 0:
        return f"ended (exit code {code})"
    try:
        return f"was killed ({signal.Signals(-code).name})"
    except ValueError:
        return f"was killed (signal {-code})"


def _replaced_note(engine: PlayerLike) -> str:
    return f" (the audio engine {_how_it_ended(engine)}: a new one was started)"


def _lock_file(autosave: Path) -> Path:
    return autosave.with_suffix(".lock")


def _hold_lock(path: Path) -> IO[bytes]:
    """``path`` opened and locked for as long as the returned file stays open."""
    stream = open(path, "wb")  # noqa: SIM115 (held open for the session's life)
    if fcntl is not None:
        try:
            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            stream.close()
            raise
    return stream


def _is_locked(path: Path) -> bool:
    """Whether a live session holds the lock ``path`` (no lock file: its session is gone)."""
    if fcntl is None:
        return False
    try:
        stream = open(path, "rb")  # noqa: SIM115
    except OSError:
        return False
    with stream:
        try:
            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        fcntl.flock(stream, fcntl.LOCK_UN)
        return False
