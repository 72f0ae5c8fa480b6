"""Subpatches: a patch used as a node, and the inlets and outlets that make its ports.

A ``subpatch`` node holds a patch: embedded in the parent document (Pd's ``[pd name]``) or
named by file (an abstraction). Its input ports are its inner ``inlet`` nodes, its output
ports its inner ``outlet`` nodes, each named by the node's id and ordered by ``index`` (then
left to right, as Pd orders them by position); its params are those the inner patch
publishes. The compiler flattens subpatches away before scheduling (:mod:`patcher.flatten`),
so none of these three ever runs inside a subpatch; in a top-level patch an inlet plays
silence and an outlet is a sink that nobody hears (so an abstraction opens and plays alone).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from patcher.spec import Node, Param

Signals = Mapping[str, np.ndarray]

INDEX_DOC = "Port order on the subpatch (lowest first; equal ones go left to right by position)."


class Inlet(Node):
    TYPE = "inlet"
    FAMILY = "subpatch"
    DOC = "A subpatch's input port, named by this node's id. At the top level of a patch it plays silence."
    OUTPUTS = ("out",)
    PARAMS = {"index": Param(0, 0, 64, kind="int", doc=INDEX_DOC)}

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        outputs["out"].fill(0.0)


class Outlet(Node):
    TYPE = "outlet"
    FAMILY = "subpatch"
    DOC = (
        "A subpatch's output port, named by this node's id. At the top level of a patch it "
        "is a sink nobody hears."
    )
    INPUTS = ("in",)
    PARAMS = {"index": Param(0, 0, 64, kind="int", doc=INDEX_DOC)}
    IS_SINK = True

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        pass


class Subpatch(Node):
    TYPE = "subpatch"
    FAMILY = "subpatch"
    DOC = (
        "A patch used as a node: embedded, or an abstraction named by file (found beside the "
        "patch, then in the library folder). Its ports are its inlets and outlets, its params "
        "those it publishes."
    )

    @classmethod
    def with_interface(
        cls, inputs: tuple[str, ...], outputs: tuple[str, ...], params: tuple[tuple[str, Param], ...]
    ) -> type[Node]:
        """The spec of one subpatch: this class with its own ports and params (not registered:
        every subpatch has its own). The same interface gives the same class."""
        return interface_spec(cls, inputs, outputs, params)

    def process(self, inputs: Signals, params: Mapping[str, Any], outputs: Signals) -> None:
        pass  # the compiler flattens a subpatch into its nodes: only a bare one (no ports) gets here


#: Specs made so far, by their interface (a param's repr: a table's default is a list).
_INTERFACES: dict[tuple[Any, ...], type[Node]] = {}


def interface_spec(
    base: type[Node], inputs: tuple[str, ...], outputs: tuple[str, ...], params: tuple[tuple[str, Param], ...]
) -> type[Node]:
    """The class ``base`` with these ports and params (a subpatch's, a poly's): made once per
    interface, not registered."""
    key = (base, inputs, outputs, repr(params))
    spec = _INTERFACES.get(key)
    if spec is None:
        namespace = {"TYPE": base.TYPE or "subpatch", "PER_INSTANCE": True, "INPUTS": inputs}
        namespace.update(OUTPUTS=outputs, PARAMS=dict(params))
        spec = _INTERFACES[key] = type(base.__name__, (base,), namespace)
    return spec
