"""The editor's live control: the MIDI input port and the OSC port its engine listens to, the
params the controls move (the patch follows, so Save saves what is heard), and MIDI learn.

The engine process listens (:class:`patcher.server.EngineProcess`, ``set_live_inputs``), where
the player is, so a note or a CC lands on its sample as in ``patcher play``. The choice is
kept in the editor's preferences and told to every engine process the session starts.

What a control moves is not an undo step: a knob on a controller is not taken back by Ctrl+Z
(VCV Rack records no history for MIDI-mapped params either). The patch is marked unsaved.

MIDI learn follows VCV Rack's MIDI-Map: the next CC that comes in maps the param waiting for
one, replacing that param's own MIDI mapping (a param answers one CC); a CC already mapped to
other params keeps moving them too (one CC may move several params, as Rack's map slots and
the patch's ``mappings`` allow), and the message says so. An OSC address that comes in first
maps it instead; an address moves one param, so it is taken from any other. Learning and
forgetting are undoable edits of the patch's ``mappings``, saved with it.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from patcher.control import OSC_PREFIX
from patcher.editor.commands import SetMappings
from patcher.model import MAPPABLE_KINDS, ControlMapping, PatchError
from patcher.text import quote

if TYPE_CHECKING:
    from patcher.editor.model import EditorModel

DEFAULT_OSC_PORT = 9000


def describe(mapping: ControlMapping) -> str:
    """A mapping as its param's widget shows it: "CC 74", "CC 74 ch 2", "OSC /fader/1"."""
    if mapping.osc is not None:
        return f"OSC {mapping.osc}"
    channel = f" ch {mapping.channel}" if mapping.channel is not None else ""
    return f"CC {mapping.midi_cc}{channel}"


class LiveControl:
    """MIDI and OSC input for an :class:`~patcher.editor.model.EditorModel` (``model.live``)."""

    def __init__(self, model: EditorModel) -> None:
        self.model = model
        preferences = model.preferences
        midi = preferences.get("midi_input")
        port = preferences.get("osc_port")
        #: The MIDI input port chosen (a name, or part of one), or None.
        self.midi_input: str | None = midi if isinstance(midi, str) and midi else None
        self.osc_port: int = port if type(port) is int and 1 <= port <= 65535 else DEFAULT_OSC_PORT
        self.osc_on: bool = preferences.get("osc_on") is True
        #: What the engine process says it opened: the port's full name, the UDP port.
        self.midi_opened: str | None = None
        self.osc_opened: int | None = None
        #: The param waiting for a control, as its mapping names it (``voice/env.attack_ms``).
        self.learning: str | None = None
        self._told: Any = None  # the engine last told: another has opened nothing yet

    # -- what the engine listens to -----------------------------------------------------------
    @property
    def osc_wanted(self) -> int | None:
        return self.osc_port if self.osc_on else None

    def choose_midi_input(self, name: str | None, remember: bool = True) -> None:
        """Listen to the MIDI input port ``name`` (or the first whose name holds it; None:
        none), from now on and, ``remember``-ed, in later sessions."""
        self.midi_input = name or None
        if remember:
            self.model.remember_preference("midi_input", self.midi_input)
        told = self.tell()
        if self.midi_input is None:
            self.midi_opened = None
            self.model.say("not listening to MIDI")
        elif not told:
            self.model.say(f"MIDI input {quote(self.midi_input)}: opened when the audio engine starts")

    def set_osc(self, on: bool, port: int | None = None, remember: bool = True) -> bool:
        """Listen to OSC on UDP ``port`` (default: the one chosen before), or not."""
        if port is not None:
            if type(port) is not int or not 1 <= port <= 65535:
                self.model.say(f"OSC port {port}: a UDP port is 1..65535", "error")
                return False
            self.osc_port = port
        self.osc_on = bool(on)
        if remember:
            self.model.remember_preference("osc_port", self.osc_port)
            self.model.remember_preference("osc_on", self.osc_on)
        if not self.osc_on:
            self.osc_opened = None
            self.model.say("not listening to OSC")
        self.tell()
        return True

    def tell(self, player: Any = None) -> bool:
        """Tell ``player`` (default: the session's engine) what to listen to; whether it can."""
        player = player if player is not None else self._engine()
        set_live_inputs = getattr(player, "set_live_inputs", None)
        if set_live_inputs is None:  # no engine yet, or a player that takes no MIDI
            return False
        if player is not self._told:  # a new engine (one that died was replaced): it says anew
            self._told = player
            self.midi_opened = self.osc_opened = None
        set_live_inputs(self.midi_input, self.osc_wanted)
        return True

    def _engine(self) -> Any:
        return self.model.player if self.model.player is not None else self.model.idle_engine

    # -- what comes back ------------------------------------------------------------------------
    def poll(self, learn: bool = True) -> None:
        """Every frame: what the engine opened, the params its controls moved (the patch
        follows), and, while learning, the control that maps the param."""
        take_live = getattr(self._engine(), "take_live", None)
        if take_live is None:
            return
        report = take_live()
        for kind, opened, problem in report.inputs:
            self._opened(kind, opened, problem)
        if report.moved:
            self._follow(report.moved)
        if learn and self.learning is not None:
            for control in report.heard:
                if self._learnable(control):
                    self._learn(control)
                    break

    def _opened(self, kind: str, opened: Any, problem: str | None) -> None:
        if kind == "midi":
            self.midi_opened = opened
            if opened is not None:
                self.model.say(f"listening to MIDI from {quote(opened)}")
        else:
            self.osc_opened = opened
            if opened is not None:
                self.model.say(f"listening to OSC on udp://127.0.0.1:{opened} (/patcher/NODE/PARAM VALUE)")
        if problem:
            self.model.say(problem, "warning")

    def _follow(self, moved: dict[tuple[str, str], Any]) -> None:
        """The values the controls set, into the patch (not an undo step: see the module)."""
        changed = False
        for (path, name), value in moved.items():
            try:
                _owner, node = self.model.root.owner(path)
            except PatchError:  # gone in an edit since
                continue
            if name in node.params and node.params[name] != value:
                node.params[name] = value
                changed = True
        if changed:
            self.model._unsaved_without_command = True
            self.model._changed()

    # -- MIDI learn -------------------------------------------------------------------------------
    def target(self, node_id: str, name: str) -> str:
        """A param of the canvas as a mapping names it: its path from the top, a dot, its name."""
        return f"{self.model.flat_prefix()}{node_id}.{name}"

    def mappings_of(self, node_id: str, name: str) -> list[ControlMapping]:
        target = self.target(node_id, name)
        return [mapping for mapping in self.model.root.mappings if mapping.param == target]

    def start_learning(self, node_id: str, name: str) -> bool:
        """Wait for the next CC (or OSC address) to map ``node_id.name`` to; Esc cancels."""
        model = self.model
        node = model.patch.nodes.get(node_id)
        param = node.spec.PARAMS.get(name) if node is not None else None
        if param is None or param.kind not in MAPPABLE_KINDS:
            model.say(f"{node_id}.{name}: only a number param can be mapped to a MIDI control", "error")
            return False
        self.poll(learn=False)  # a control moved before this does not count
        self.learning = self.target(node_id, name)
        text = f"Move a MIDI control to map {self.learning}… (or send an OSC message; Esc cancels)"
        if self.midi_opened is None and self.osc_opened is None:
            model.say(f"{text}: no MIDI input is open, choose one in Transport > MIDI Input", "warning")
        else:
            model.say(text)
        return True

    def cancel_learning(self) -> None:
        if self.learning is not None:
            self.model.say(f"MIDI learn for {self.learning} cancelled")
            self.learning = None

    def _learnable(self, control: tuple[Any, ...]) -> bool:
        """A CC, or an OSC address of the user's own (a param's own ``/patcher/...`` address
        needs no mapping) that a patch file can hold."""
        if control[0] == "cc":
            return True
        from patcher.patchfile import osc_address_problem

        address = control[1]
        return not address.startswith(f"{OSC_PREFIX}/") and osc_address_problem(address) is None

    def _learn(self, control: tuple[Any, ...]) -> bool:
        target, self.learning = self.learning, None
        assert target is not None
        try:
            self.model.root.owner(target.rpartition(".")[0])
        except PatchError:
            self.model.say(f"{target} is gone: nothing was mapped", "warning")
            return False
        if control[0] == "cc":
            _kind, channel, number = control
            mapping = ControlMapping(target, number, channel)
            shares = [  # VCV Rack's MIDI-Map: a CC moves every param mapped to it
                other.param
                for other in self.model.root.mappings
                if other.param != target and other.midi_cc == number and other.channel in (None, channel)
            ]
        else:
            mapping = ControlMapping(target, osc=control[1])
            shares = []
        before = copy.deepcopy(self.model.root.mappings)
        after = [
            other
            for other in before
            if not (other.param == target and (other.osc is None) == (mapping.osc is None))
            and not (mapping.osc is not None and other.osc == mapping.osc)
        ]
        after.append(mapping)
        what = describe(mapping)
        also = f"; it also moves {', '.join(shares)}" if shares else ""
        command = SetMappings(before, after, label=f"map {what} to {target}")
        return self.model.execute(command, f"mapped {what} to {target}{also}")

    def forget(self, node_id: str, name: str) -> bool:
        """Take away every MIDI and OSC mapping of ``node_id.name`` (undoable)."""
        target = self.target(node_id, name)
        before = copy.deepcopy(self.model.root.mappings)
        after = [mapping for mapping in before if mapping.param != target]
        if len(after) == len(before):
            self.model.say(f"{target} is not mapped to a MIDI control or an OSC address")
            return False
        gone = ", ".join(describe(mapping) for mapping in before if mapping.param == target)
        command = SetMappings(before, after, label=f"forget {gone} of {target}")
        return self.model.execute(command, f"{target} no longer follows {gone}")
