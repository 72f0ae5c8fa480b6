"""Inlets, outlets and subpatches have no kernels: their references are the nodes themselves
(an inlet's silence, an outlet's nothing), so a reference render still finds every type."""

from __future__ import annotations

from nodes.subpatch import Inlet, Outlet, Subpatch


class ReferenceInlet(Inlet):
    TYPE = ""  # not registered: the tests and reference renders use it by name


class ReferenceOutlet(Outlet):
    TYPE = ""


class ReferenceSubpatch(Subpatch):
    TYPE = ""


REFERENCES = {"inlet": ReferenceInlet, "outlet": ReferenceOutlet, "subpatch": ReferenceSubpatch}
