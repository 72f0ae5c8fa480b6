"""Playing a patch from outside: MIDI CCs and OSC messages moving params.

A patch's ``mappings`` (:class:`patcher.model.ControlMapping`) tie a number param to a MIDI
control change or an OSC address; a CC's 0..127 (or a mapped OSC address's 0..1) is spread
over the param's range on the param's own scale, as its slider spreads it (log for Hz), and
the param glides there with the usual ramp, so a knob never zips. Every number param also
answers its default OSC address, ``/patcher/NODE/PARAM``, with no mapping: that one takes the
value itself, in the param's unit (``/patcher/lp/cutoff_hz 1200.0``).

:class:`ControlMap` answers "what does this CC or message set?"; the engine (a MIDI file's
CCs) and the live inputs (``patcher.live``) apply what it answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from patcher.model import MAPPABLE_KINDS, Patch, PatchError
from patcher.scales import from_slider, slider_range
from patcher.spec import Param
from patcher.text import quote

OSC_PREFIX = "/patcher"


@dataclass(frozen=True)
class Target:
    """A param a control moves: the node's id (a path), the param's name and declaration."""

    node: str
    name: str
    param: Param

    def scaled(self, fraction: float) -> float | int:
        """The value at ``fraction`` (0..1, clamped) of the param's range, on its scale."""
        low, high = slider_range(self.param)
        fraction = min(max(float(fraction), 0.0), 1.0) if math.isfinite(fraction) else 0.0
        value = from_slider(self.param, low + fraction * (high - low))
        return round(value) if self.param.kind == "int" else value


def default_osc_address(node_id: str, name: str) -> str:
    return f"{OSC_PREFIX}/{node_id}/{name}"


class ControlMap:
    """A patch's mappings, looked up by CC and by OSC address (made off the audio thread)."""

    def __init__(self, patch: Patch) -> None:
        #: (channel or 0 for any, cc) -> targets
        self.by_cc: dict[tuple[int, int], list[Target]] = {}
        #: address -> (target, whether the message's value is a 0..1 fraction)
        self.by_address: dict[str, tuple[Target, bool]] = {}
        for node_id, node in patch.nodes.items():
            for name, param in node.spec.PARAMS.items():
                if param.kind in MAPPABLE_KINDS:
                    target = Target(node_id, name, param)
                    self.by_address[default_osc_address(node_id, name)] = (target, False)
        for mapping in patch.mappings:
            try:
                _owner, node = patch.owner(mapping.node)
            except PatchError:
                continue  # gone since it was mapped: the file's validation names it
            param = node.spec.PARAMS.get(mapping.name)
            if param is None or param.kind not in MAPPABLE_KINDS:
                continue
            target = Target(mapping.node, mapping.name, param)
            if mapping.osc is not None:
                self.by_address[mapping.osc] = (target, True)
            else:
                self.by_cc.setdefault((mapping.channel or 0, mapping.midi_cc), []).append(target)

    def control_change(self, channel: int, cc: int, fraction: float) -> list[tuple[str, str, float | int]]:
        """What a CC (its value as 0..1) sets: (node, param, value) for each param mapped to it."""
        targets = self.by_cc.get((channel, cc), []) + self.by_cc.get((0, cc), [])
        return [(target.node, target.name, target.scaled(fraction)) for target in targets]

    def osc_message(self, address: str, arguments: tuple[Any, ...]) -> tuple[str, str, float | int]:
        """What an OSC message sets; raises ValueError saying why it sets nothing."""
        found = self.by_address.get(address)
        if found is None:
            raise ValueError(
                f"OSC {quote(address)}: no param answers it (a param's own address is "
                f"{OSC_PREFIX}/NODE/PARAM, or map one in the patch's mappings)"
            )
        target, fraction = found
        if len(arguments) != 1 or isinstance(arguments[0], bool) or not isinstance(arguments[0], int | float):
            raise ValueError(f"OSC {quote(address)}: expected one number, got {quote(list(arguments))}")
        if not math.isfinite(arguments[0]):  # inf would not round, NaN would set the minimum
            raise ValueError(f"OSC {quote(address)}: expected a finite number, got {arguments[0]}")
        if fraction:
            return target.node, target.name, target.scaled(arguments[0])
        value = round(arguments[0]) if target.param.kind == "int" else arguments[0]
        problem = target.param.check(value)
        if problem:
            raise ValueError(f"OSC {quote(address)}: {problem}")
        return target.node, target.name, target.param.coerce(value)
