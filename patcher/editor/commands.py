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

from patcher.model import Comment, Link, NodeData, Patch, PortRef

Position = tuple[float, float]


class Command:
    """One undoable edit."""

    label = "edit"
    #: False for edits the engine does not hear (moving a node).
    changes_sound = True
    #: True for edits of the patch on the canvas (maybe a subpatch opened in it); False for
    #: edits of the whole document (its settings, its presets, every instance of an abstraction).
    local = True
    #: The path of node ids from the top-level patch to the patch the edit applies to, set by
    #: the editor when it runs the command: undo takes it back there, wherever the canvas is.
    where: tuple[str, ...] = ()
    #: For an edit inside a subpatch: the document's mappings before it (they may name what
    #: the edit renamed or removed, by its path), put back by undo.
    root_mappings: list[Any] | None = None

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
    #: The patch's mappings, presets and published params before (they may name the nodes).
    references: tuple[Any, Any, Any] | None = None

    def apply(self, patch: Patch) -> None:
        self.references = _references(patch)
        _forget_references(patch, set(self.node_ids))
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
        if self.references is not None:
            _restore_references(patch, self.references)


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


def _references(patch: Patch) -> tuple[Any, Any, Any]:
    return copy.deepcopy(patch.mappings), copy.deepcopy(patch.presets), dict(patch.published)


def _restore_references(patch: Patch, references: tuple[Any, Any, Any]) -> None:
    mappings, presets, published = copy.deepcopy(references)
    patch.mappings, patch.presets, patch.published = mappings, presets, published


def _forget_references(patch: Patch, gone: set[str]) -> None:
    """Mappings, preset values and published params of removed nodes go with them (a file
    naming a node it has not cannot be opened)."""
    patch.mappings = [m for m in patch.mappings if m.node.split("/")[0] not in gone]
    for values in patch.presets.values():
        for node_id in gone:
            values.pop(node_id, None)
    patch.published = {name: ref for name, ref in patch.published.items() if ref.node not in gone}


def _rename_references(patch: Patch, old: str, new: str) -> None:
    def path(text: str) -> str:
        first, slash, rest = text.partition("/")
        return new + slash + rest if first == old else text

    patch.mappings = [dataclasses.replace(m, param=f"{path(m.node)}.{m.name}") for m in patch.mappings]
    for name, values in patch.presets.items():
        patch.presets[name] = {(new if node_id == old else node_id): v for node_id, v in values.items()}
    patch.published = {
        name: PortRef(new, ref.port) if ref.node == old else ref for name, ref in patch.published.items()
    }


def _rename(patch: Patch, old: str, new: str) -> None:
    _rename_references(patch, old, new)
    renamed = {}
    for node_id, node in patch.nodes.items():
        if node_id == old:
            node = dataclasses.replace(node, id=new)  # a subpatch keeps its inner patch
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
    local = False

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
    #: The document's MIDI/OSC mappings before and after, when the swap moves mapped nodes
    #: (grouping them into a subpatch renames ``g.gain_db`` to ``group1/g.gain_db``).
    mappings: tuple[list[Any], list[Any]] | None = None

    def apply(self, patch: Patch) -> None:
        _take_graph(patch, self.after)
        if self.mappings is not None:
            patch.mappings = copy.deepcopy(self.mappings[1])

    def revert(self, patch: Patch) -> None:
        _take_graph(patch, self.before)
        if self.mappings is not None:
            patch.mappings = copy.deepcopy(self.mappings[0])


def _take_graph(patch: Patch, source: Patch) -> None:
    patch.nodes.clear()
    patch.nodes.update((node_id, copy.deepcopy(node)) for node_id, node in source.nodes.items())
    patch.links[:] = list(source.links)
    patch.description = source.description


@dataclass
class SetComments(Command):
    """Replace the canvas's comments (add, edit, move or delete one): both lists are held
    whole, so undo is exact and the comments keep their order."""

    before: list[Comment]
    after: list[Comment]
    label: str = "comment"
    changes_sound = False

    def apply(self, patch: Patch) -> None:
        patch.comments[:] = copy.deepcopy(self.after)

    def revert(self, patch: Patch) -> None:
        patch.comments[:] = copy.deepcopy(self.before)


@dataclass
class SetPreset(Command):
    """Store, replace or delete the preset ``name`` (None: absent). The engine hears it: its
    copy of the patch must hold a preset to glide to it."""

    name: str
    old: dict[str, dict[str, Any]] | None
    new: dict[str, dict[str, Any]] | None
    label: str = "preset"
    local = False

    def apply(self, patch: Patch) -> None:
        _put_preset(patch, self.name, self.new)

    def revert(self, patch: Patch) -> None:
        _put_preset(patch, self.name, self.old)


def _put_preset(patch: Patch, name: str, new: dict[str, dict[str, Any]] | None) -> None:
    if new is None:
        del patch.presets[name]
    else:  # a replaced preset keeps its place in the bar's list (a dict keeps its keys' order)
        patch.presets[name] = copy.deepcopy(new)


@dataclass
class RecallPreset(SetParams):
    """Recall a preset: the params it sets, as one undo step. A playing engine glides to them
    over ``glide_s`` (undo sets the old values back with a knob's ramp)."""

    preset: str = ""
    glide_s: float = 0.0
    label: str = "recall preset"
    local = False

    def key(self) -> tuple[tuple[str, str], ...]:
        return ()  # never merged with a knob's drag


@dataclass
class SetInners(Command):
    """Give subpatch nodes new inner patches ({path: (old, new)}): an abstraction saved, and
    every instance of it in the document reloaded."""

    changes: dict[str, tuple[Patch, Patch]]
    label: str = "reload abstraction"
    #: The file each names, where that changes too: {path: (old, new)} ("" for embedded).
    files: dict[str, tuple[str, str]] = field(default_factory=dict)
    local = False

    def apply(self, patch: Patch) -> None:
        for path, (_old, new) in self.changes.items():
            patch.find(path).inner = copy.deepcopy(new)
        for path, (_old_file, new_file) in self.files.items():
            patch.find(path).file = new_file

    def revert(self, patch: Patch) -> None:
        for path, (old, _new) in self.changes.items():
            patch.find(path).inner = copy.deepcopy(old)
        for path, (old_file, _new_file) in self.files.items():
            patch.find(path).file = old_file


@dataclass
class SetMappings(Command):
    """Replace the document's MIDI/OSC mappings (a param learned or forgotten): both lists are
    held whole, so undo is exact. The engine hears it: its copy of the patch maps the CCs."""

    before: list[Any]
    after: list[Any]
    label: str = "mapping"
    local = False

    def apply(self, patch: Patch) -> None:
        patch.mappings = copy.deepcopy(self.after)

    def revert(self, patch: Patch) -> None:
        patch.mappings = copy.deepcopy(self.before)
