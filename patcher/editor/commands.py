"""Undoable edits of a patch: each command knows how to apply itself and how to take itself back.

Commands hold plain data (node records, links, old and new values), never widgets, so the
undo stack is as GUI-free as the patch. ``apply`` and ``revert`` must be exact inverses:
after ``revert`` the patch is the same as before ``apply``, node order and link order included.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from patcher.model import Link, NodeData, Patch, PortRef

Position = tuple[float, float]


class Command:
    """One undoable edit."""

    label = "edit"
    #: False for edits the engine does not hear (moving a node).
    changes_sound = True

    def apply(self, patch: Patch) -> None:
        raise NotImplementedError

    def revert(self, patch: Patch) -> None:
        raise NotImplementedError


@dataclass
class AddNodes(Command):
    """Add nodes and links among (or to) them: adding one node, pasting, duplicating."""

    nodes: list[NodeData]
    links: list[Link] = field(default_factory=list)
    label: str = "add node"

    def apply(self, patch: Patch) -> None:
        for node in self.nodes:
            patch.nodes[node.id] = copy.deepcopy(node)
        patch.links.extend(self.links)

    def revert(self, patch: Patch) -> None:
        for link in reversed(self.links):
            patch.links.remove(link)
        for node in self.nodes:
            patch.forget_node(node.id)


@dataclass
class RemoveItems(Command):
    """Remove nodes (with every link touching them) and links, restoring order on undo."""

    node_ids: list[str]
    links: list[Link] = field(default_factory=list)
    label: str = "delete"
    #: Filled by the first ``apply``: (index, record) of what was removed.
    removed_nodes: list[tuple[int, NodeData]] = field(default_factory=list)
    removed_links: list[tuple[int, Link]] = field(default_factory=list)

    def apply(self, patch: Patch) -> None:
        gone = set(self.node_ids)
        wanted_links = set(self.links)
        self.removed_links = [
            (index, link)
            for index, link in enumerate(patch.links)
            if link in wanted_links or link.source.node in gone or link.target.node in gone
        ]
        self.removed_nodes = [
            (index, node) for index, node in enumerate(patch.nodes.values()) if node.id in gone
        ]
        removed = {link for _index, link in self.removed_links}
        patch.links[:] = [link for link in patch.links if link not in removed]
        for node_id in self.node_ids:
            patch.forget_node(node_id)

    def revert(self, patch: Patch) -> None:
        nodes = list(patch.nodes.values())
        for index, node in self.removed_nodes:
            nodes.insert(index, node)
        patch.nodes.clear()
        patch.nodes.update((node.id, node) for node in nodes)
        for index, link in self.removed_links:
            patch.links.insert(index, link)


@dataclass
class MoveNodes(Command):
    """Move nodes on the canvas: {node id: (old position, new position)}."""

    moves: dict[str, tuple[Position, Position]]
    label: str = "move"
    changes_sound = False

    def apply(self, patch: Patch) -> None:
        for node_id, (_old, new) in self.moves.items():
            patch.nodes[node_id].position = new

    def revert(self, patch: Patch) -> None:
        for node_id, (old, _new) in self.moves.items():
            patch.nodes[node_id].position = old


@dataclass
class Connect(Command):
    link: Link
    label: str = "connect"

    def apply(self, patch: Patch) -> None:
        patch.links.append(self.link)

    def revert(self, patch: Patch) -> None:
        patch.links.remove(self.link)


@dataclass
class ParamChange:
    node_id: str
    name: str
    old: Any
    new: Any


@dataclass
class SetParams(Command):
    """Set params (one, or the same param of several nodes, as the master level does)."""

    changes: list[ParamChange]
    label: str = "set param"

    def apply(self, patch: Patch) -> None:
        for change in self.changes:
            patch.nodes[change.node_id].params[change.name] = copy.deepcopy(change.new)

    def revert(self, patch: Patch) -> None:
        for change in reversed(self.changes):
            patch.nodes[change.node_id].params[change.name] = copy.deepcopy(change.old)

    def key(self) -> tuple[tuple[str, str], ...]:
        """What it changes: consecutive changes of the same params merge into one undo step."""
        return tuple((change.node_id, change.name) for change in self.changes)


@dataclass
class RenameNode(Command):
    """Give a node a new id: its place in the patch's order and its links go with it."""

    old: str
    new: str
    label: str = "rename"

    def apply(self, patch: Patch) -> None:
        _rename(patch, self.old, self.new)

    def revert(self, patch: Patch) -> None:
        _rename(patch, self.new, self.old)


def _rename(patch: Patch, old: str, new: str) -> None:
    renamed = {}
    for node_id, node in patch.nodes.items():
        if node_id == old:
            node = NodeData(new, node.type, node.params, node.position)
        renamed[node.id] = node
    patch.nodes.clear()
    patch.nodes.update(renamed)

    def moved(ref: PortRef) -> PortRef:
        return PortRef(new, ref.port) if ref.node == old else ref

    patch.links[:] = [Link(moved(link.source), moved(link.target)) for link in patch.links]


@dataclass
class SetPatchInfo(Command):
    """Change the patch's description or settings: {name: (old, new)} (``description``, or a
    field of ``Settings``). Not heard by a running engine: a new rate or block size restarts
    playback, which the model does."""

    changes: dict[str, tuple[Any, Any]]
    label: str = "patch settings"
    changes_sound = False

    def apply(self, patch: Patch) -> None:
        for name, (_old, new) in self.changes.items():
            _set_info(patch, name, new)

    def revert(self, patch: Patch) -> None:
        for name, (old, _new) in self.changes.items():
            _set_info(patch, name, old)


def _set_info(patch: Patch, name: str, value: Any) -> None:
    if name == "description":
        patch.description = value
    else:  # Settings are frozen: a new one
        patch.settings = dataclasses.replace(patch.settings, **{name: value})


@dataclass
class ReplaceGraph(Command):
    """Swap the patch's nodes, links and description for others (a capture replacing a chain
    by a convolver, or adding one beside it): both sides are held whole, so undo is exact."""

    before: Patch
    after: Patch
    label: str = "capture"

    def apply(self, patch: Patch) -> None:
        _take_graph(patch, self.after)

    def revert(self, patch: Patch) -> None:
        _take_graph(patch, self.before)


def _take_graph(patch: Patch, source: Patch) -> None:
    patch.nodes.clear()
    patch.nodes.update((node_id, copy.deepcopy(node)) for node_id, node in source.nodes.items())
    patch.links[:] = list(source.links)
    patch.description = source.description
