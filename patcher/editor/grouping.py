"""Group and ungroup: nodes into an embedded subpatch and back, without changing the sound.

Both return the graph the patch will have (its nodes and links), which the editor swaps in
with one undoable :class:`~patcher.editor.commands.ReplaceGraph`. Grouping makes one inlet
per distinct port outside the selection that feeds into it, and one outlet per distinct port
inside it that feeds out, each named after that port (``osc_out``), so a signal used twice
crosses the boundary once. Ungrouping is flattening one level: it reuses
:func:`patcher.flatten.flatten` on the one subpatch, so what plays is what played.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Container

from patcher.flatten import flatten
from patcher.model import NODE_ID_PATTERN, Link, NodeData, Patch, PatchError, PortRef
from patcher.text import quote

#: Where the inlets and outlets go, left and right of the grouped nodes, and the spacing.
PORT_MARGIN = 220.0
PORT_SPACING = 90.0
PORT_TYPES = ("inlet", "outlet")
Position = tuple[float, float]


def group(patch: Patch, node_ids: list[str], group_id: str) -> Patch:
    """``patch``'s graph with ``node_ids`` moved into a subpatch node ``group_id``."""
    chosen = [node_id for node_id in patch.nodes if node_id in set(node_ids)]
    problem = _group_problem(patch, chosen)
    if problem:
        raise PatchError(problem)
    inside = set(chosen)
    inner = Patch(patch.settings, base_dir=patch.base_dir)
    left = min(patch.nodes[node_id].position[0] for node_id in chosen)
    top = min(patch.nodes[node_id].position[1] for node_id in chosen)
    for node_id in chosen:
        node = copy.deepcopy(patch.nodes[node_id])
        node.position = (node.position[0] - left + PORT_MARGIN, node.position[1] - top)
        inner.nodes[node_id] = node
    outer: list[Link] = []
    inlets: dict[PortRef, str] = {}
    outlets: dict[PortRef, str] = {}
    for link in patch.links:
        source_in, target_in = link.source.node in inside, link.target.node in inside
        if source_in and target_in:
            inner.links.append(link)
        elif target_in:  # feeds in: through the inlet named after the outside port
            name = _port_node(inner, inlets, link.source, "inlet")
            inner.links.append(Link(PortRef(name, "out"), link.target))
            _append_once(outer, Link(link.source, PortRef(group_id, name)))
        elif source_in:  # feeds out: through the outlet named after the inside port
            name = _port_node(inner, outlets, link.source, "outlet")
            _append_once(inner.links, Link(link.source, PortRef(name, "in")))
            outer.append(Link(PortRef(group_id, name), link.target))
        else:
            outer.append(link)
    _place_ports(inner, inlets, outlets)
    return _with_group(patch, chosen, group_id, inner, (left, top), outer)


def _group_problem(patch: Patch, chosen: list[str]) -> str | None:
    if not chosen:
        return "select the nodes to group first"
    ports = [node_id for node_id in chosen if patch.nodes[node_id].type in PORT_TYPES]
    if ports:
        return f"cannot group {quote(ports[0])}: an inlet or outlet is a port of the patch it is in"
    return None


def _port_node(inner: Patch, made: dict[PortRef, str], ref: PortRef, type_name: str) -> str:
    """The inlet (outlet) made for ``ref``, made now if it is the first link through it."""
    if ref not in made:
        name = _free_id(inner.nodes, re.sub(r"[^A-Za-z0-9_-]", "_", f"{ref.node}_{ref.port}"))
        inner.add_node(type_name, name, index=len(made))
        made[ref] = name
    return made[ref]


def _free_id(taken: Container[str], wanted: str) -> str:
    """``wanted``, or ``wanted2``, ``wanted3``... the first one not taken."""
    if not NODE_ID_PATTERN.fullmatch(wanted):
        wanted = f"port_{wanted}"
    name, number = wanted, 2
    while name in taken:
        name, number = f"{wanted}{number}", number + 1
    return name


def _append_once(links: list[Link], link: Link) -> None:
    if link not in links:
        links.append(link)


def _place_ports(inner: Patch, inlets: dict[PortRef, str], outlets: dict[PortRef, str]) -> None:
    """Inlets in a column on the left, outlets on the right, in their order."""
    right = max((node.position[0] for node in inner.nodes.values()), default=0.0) + PORT_MARGIN
    for column, names in ((0.0, inlets.values()), (right, outlets.values())):
        for row, name in enumerate(names):
            inner.nodes[name].position = (column, row * PORT_SPACING)


def _with_group(
    patch: Patch, chosen: list[str], group_id: str, inner: Patch, where: Position, links: list[Link]
) -> Patch:
    """The graph: the group node where the first grouped node was, the others in order."""
    after = Patch(patch.settings, description=patch.description, base_dir=patch.base_dir)
    group_node = NodeData(group_id, "subpatch", {}, where, inner)
    for node_id, node in patch.nodes.items():
        if node_id == chosen[0]:
            after.nodes[group_id] = group_node
        elif node_id not in chosen:
            after.nodes[node_id] = node
    after.links = links
    return after


def ungroup(patch: Patch, node_id: str) -> Patch:
    """``patch``'s graph with the subpatch node ``node_id`` replaced by its inner nodes (ids
    kept where free), its links joined through its inlets and outlets."""
    group_node = patch.node(node_id)
    if group_node.inner is None or group_node.type != "subpatch":  # a poly plays its voice: it stays
        raise PatchError(f"node {quote(node_id)} ({group_node.type}) is not a subpatch: nothing to ungroup")
    inner = group_node.inner
    # Only this one subpatch opens: every other (and each one nested in it) stays a node.
    shallow = dataclasses.replace(patch, nodes={}, links=list(patch.links), comments=[], presets={})
    for other_id, node in patch.nodes.items():
        shallow.nodes[other_id] = node if other_id == node_id else dataclasses.replace(node, inner=None)
    shallow.nodes[node_id] = dataclasses.replace(group_node, inner=_closed_inside(inner))
    flat = flatten(shallow)
    return _unprefixed(patch, flat, node_id, inner)


def _closed_inside(inner: Patch) -> Patch:
    nodes = {node_id: dataclasses.replace(node, inner=None) for node_id, node in inner.nodes.items()}
    return dataclasses.replace(inner, nodes=nodes, links=list(inner.links))


def _unprefixed(patch: Patch, flat: Patch, node_id: str, inner: Patch) -> Patch:
    """``flat`` with the ungrouped nodes' ids (``group/osc``) made plain and free, placed where
    the group was, and every other node the one ``patch`` has (with its inner patch)."""
    prefix = f"{node_id}/"
    taken = {other for other in patch.nodes if other != node_id}
    moved = [path for path in flat.nodes if path.startswith(prefix)]
    left = min((inner.nodes[path[len(prefix) :]].position[0] for path in moved), default=0.0)
    top = min((inner.nodes[path[len(prefix) :]].position[1] for path in moved), default=0.0)
    origin = patch.nodes[node_id].position
    renamed: dict[str, str] = {}
    after = dataclasses.replace(flat, nodes={}, links=[])
    for path, flat_node in flat.nodes.items():
        if not path.startswith(prefix):
            after.nodes[path] = patch.nodes[path]
            continue
        original = inner.nodes[path[len(prefix) :]]
        new_id = _free_id(taken, original.id)
        taken.add(new_id)
        renamed[path] = new_id
        x, y = original.position[0] - left + origin[0], original.position[1] - top + origin[1]
        after.nodes[new_id] = dataclasses.replace(
            copy.deepcopy(original), id=new_id, params=flat_node.params, position=(x, y)
        )

    def plain(ref: PortRef) -> PortRef:
        return PortRef(renamed.get(ref.node, ref.node), ref.port)

    after.links = [Link(plain(link.source), plain(link.target)) for link in flat.links]
    return after
