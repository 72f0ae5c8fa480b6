"""The editor's edits for composing patches: open a subpatch, group and ungroup, comments,
presets and abstractions. A mixin of :class:`patcher.editor.model.EditorModel` (kept apart so
the model stays readable); every edit goes through its one ``execute`` path, so each is one
undo step and the engine hears it.

Abstractions: editing inside an abstraction's node edits that node's copy of it. "Save
Abstraction" writes the copy to the abstraction's file and gives every other instance of the
same file in the document the new inner patch (one undo step, heard while playing; undo does
not rewrite the file). Leaving the abstraction does not write it: saving a file others may use
is a decision, not a side effect of navigating.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from patcher.editor.commands import (
    Command,
    ParamChange,
    RecallPreset,
    ReplaceGraph,
    SetComments,
    SetInners,
    SetPreset,
)
from patcher.editor.grouping import group, ungroup
from patcher.model import (
    Comment,
    NodeData,
    Patch,
    PatchError,
    comment_problem,
    preset_name_problem,
)

if TYPE_CHECKING:
    from patcher.editor.model import EditorModel

#: A recalled preset's glide while playing, when none is given (the preset bar's default).
DEFAULT_GLIDE_S = 0.5


class CompositionEdits:
    """Subpatches, grouping, comments, presets and abstractions, for the editor model."""

    # -- opening a subpatch -------------------------------------------------------------------
    def open_subpatch(self: EditorModel, node_id: str) -> bool:
        """Show the subpatch ``node_id`` (a node on the canvas) on the canvas."""
        node = self.patch.nodes.get(node_id)
        if node is None or node.inner is None:
            self.say(f"{node_id!r} is not a subpatch: only a subpatch opens", "warning")
            return False
        self._go_to((*self.opened, node_id))
        what = f"the abstraction {node.file}" if node.file else f"the subpatch {node_id}"
        self.say(f"opened {what}: edits here are heard while playing; the bar above goes back")
        return True

    def close_subpatch(self: EditorModel, depth: int | None = None) -> bool:
        """Go back up: one level, or to ``depth`` levels down (0: the top level)."""
        if not self.opened:
            return False
        depth = len(self.opened) - 1 if depth is None else max(0, min(depth, len(self.opened)))
        self._go_to(tuple(self.opened[:depth]))
        return True

    def breadcrumb(self: EditorModel) -> list[str]:
        """The names along the way to the canvas: the document's, then each subpatch's."""
        top = self.path.stem if self.path is not None else "untitled"
        return [top, *self.opened]

    def port_problem(self: EditorModel, command: Command) -> str | None:
        """Why an edit inside a subpatch (or of an abstraction's instances) cannot stand: it
        took away a port a link outside still uses (checked here, not only by a playing
        engine, so the document never holds a link to nothing)."""
        paths = [command.where[: depth + 1] for depth in range(len(command.where))]
        if isinstance(command, SetInners):
            paths += [tuple(path.split("/")) for path in command.changes]
        for path in paths:
            parent, node_id = self._level(path[:-1]), path[-1]
            spec = parent.nodes[node_id].spec
            for link in parent.links:
                gone = (link.source.node == node_id and link.source.port not in spec.OUTPUTS) or (
                    link.target.node == node_id and link.target.port not in spec.input_ports()
                )
                if gone:
                    return (
                        f"refused: the link {link} outside the subpatch uses a port this edit takes "
                        "away: delete that link first"
                    )
        return None

    def opened_abstraction(self: EditorModel) -> tuple[str, NodeData] | None:
        """The innermost abstraction the canvas is in: its path (``voice`` or ``a/b``) and node."""
        for depth in range(len(self.opened), 0, -1):
            path = "/".join(self.opened[:depth])
            node = self.root.find(path)
            if node.file:
                return path, node
        return None

    # -- group and ungroup ----------------------------------------------------------------------
    def group_selection(self: EditorModel) -> str | None:
        """Put the selected nodes into a new embedded subpatch (Ctrl+G); its id, or None."""
        group_id = self.patch.fresh_id("group")
        try:
            after = group(self.patch, self.selected_nodes, group_id)
        except PatchError as error:
            self.say(str(error), "warning")
            return None
        grouped = ", ".join(node_id for node_id in self.patch.nodes if node_id in self.selected_nodes)
        command = ReplaceGraph(copy.deepcopy(self.patch), after, label=f"group {grouped}")
        moved = set(self.selected_nodes)
        command.mappings = self._remapped(
            lambda path: f"{group_id}/{path}" if path.split("/")[0] in moved else path
        )
        if not self.execute(command, f"grouped {grouped} into {group_id}: double-click it to open it"):
            return None
        self.select([group_id])
        return group_id

    def _remapped(self: EditorModel, moved: Callable[[str], str]) -> tuple[list[Any], list[Any]] | None:
        """The document's mappings before and after nodes move (their paths by ``moved``);
        None inside a subpatch, whose nodes the document's mappings name by longer paths."""
        if self.opened:
            return None
        before = copy.deepcopy(self.root.mappings)
        after = [dataclasses.replace(m, param=f"{moved(m.node)}.{m.name}") for m in before]
        return before, after

    def ungroup_selection(self: EditorModel) -> list[str]:
        """Replace each selected subpatch by its nodes (Ctrl+Shift+G); the nodes that came out."""
        chosen = [node_id for node_id in self.selected_nodes if self.patch.nodes[node_id].inner is not None]
        if not chosen:
            self.say("select a subpatch to ungroup", "warning")
            return []
        after = self.patch
        try:
            for node_id in chosen:
                after = ungroup(after, node_id)
        except PatchError as error:
            self.say(str(error), "error")
            return []
        before = set(self.patch.nodes)
        label = f"ungroup {', '.join(chosen)}"
        command = ReplaceGraph(copy.deepcopy(self.patch), after, label=label)
        command.mappings = self._remapped(lambda path: _out_of(path, chosen, after, before))
        if not self.execute(command, f"{label}ed"):
            return []
        came_out = [node_id for node_id in self.patch.nodes if node_id not in before or node_id in chosen]
        self.select(came_out)
        return came_out

    # -- comments -----------------------------------------------------------------------------
    def add_comment(self: EditorModel, text: str, position: tuple[float, float] = (0.0, 0.0)) -> int | None:
        """Add a comment to the canvas; its index, or None when the text cannot be one."""
        problem = comment_problem(text)
        if problem:
            self.say(problem, "error")
            return None
        after = [*self.patch.comments, Comment(text, (float(position[0]), float(position[1])))]
        if not self._set_comments(after, "add comment"):
            return None
        return len(after) - 1

    def edit_comment(self: EditorModel, index: int, text: str) -> bool:
        problem = comment_problem(text)
        if problem:
            self.say(problem, "error")
            return False
        return self._change_comment(index, "edit comment", text=text)

    def move_comment(self: EditorModel, index: int, position: tuple[float, float]) -> bool:
        return self._change_comment(index, "move comment", position=(float(position[0]), float(position[1])))

    def delete_comment(self: EditorModel, index: int) -> bool:
        after = [comment for number, comment in enumerate(self.patch.comments) if number != index]
        return self._set_comments(after, "delete comment")

    def _change_comment(self: EditorModel, index: int, label: str, **values: Any) -> bool:
        after = copy.deepcopy(self.patch.comments)
        if not 0 <= index < len(after):
            return False
        if all(getattr(after[index], name) == value for name, value in values.items()):
            return False  # nothing changed: no undo step
        for name, value in values.items():
            setattr(after[index], name, value)
        return self._set_comments(after, label)

    def _set_comments(self: EditorModel, after: list[Comment], label: str) -> bool:
        return self.execute(SetComments(copy.deepcopy(self.patch.comments), after, label=label), label)

    # -- presets --------------------------------------------------------------------------------
    def preset_names(self: EditorModel) -> list[str]:
        return list(self.root.presets)

    def store_preset(self: EditorModel, name: str) -> bool:
        """Snapshot the document's knob and menu values as ``name`` (replacing one so named)."""
        name = name.strip()
        problem = preset_name_problem(name)
        if problem:
            self.say(problem, "error")
            return False
        scratch = copy.copy(self.root)
        scratch.presets = {}
        values = scratch.store_preset(name)  # the model's rule for what a preset holds
        old = copy.deepcopy(self.root.presets.get(name))
        verb = "replaced" if old is not None else "stored"
        command = SetPreset(name, old, values, label=f"store preset {name}")
        return self.execute(command, f"{verb} preset {name!r}")

    def delete_preset(self: EditorModel, name: str) -> bool:
        if name not in self.root.presets:
            self.say(f"no preset {name!r} to delete", "warning")
            return False
        old = copy.deepcopy(self.root.presets[name])
        command = SetPreset(name, old, None, label=f"delete preset {name}")
        return self.execute(command, f"deleted preset {name!r}")

    def recall_preset(self: EditorModel, name: str, glide_s: float = DEFAULT_GLIDE_S) -> bool:
        """Set the params the preset holds, as one undo step; while playing they glide there
        over ``glide_s`` seconds."""
        try:
            values = self.root.preset(name)
        except PatchError as error:
            self.say(str(error), "error")
            return False
        changes = [
            ParamChange(node_id, key, copy.deepcopy(self.root.nodes[node_id].params[key]), value)
            for node_id, node_values in values.items()
            for key, value in node_values.items()
            if node_id in self.root.nodes
            and key in self.root.nodes[node_id].spec.PARAMS
            and self.root.nodes[node_id].params[key] != value
            # a value the param cannot take (the node was replaced by another type) is skipped
            and self.root.nodes[node_id].spec.PARAMS[key].check(value) is None
        ]
        if not changes:
            self.say(f"preset {name!r}: every value is already there")
            return True
        command = RecallPreset(changes, label=f"recall preset {name}", preset=name, glide_s=max(0.0, glide_s))
        return self.execute(command, f"recalled preset {name!r}")

    # -- abstractions -------------------------------------------------------------------------
    def save_abstraction(self: EditorModel) -> bool:
        """Write the abstraction the canvas is in to its file, and give every other instance
        of that file in the document the new inner patch (one undo step; heard while playing)."""
        found = self.opened_abstraction()
        if found is None:
            self.say("the canvas is not inside an abstraction: Save as Abstraction makes one", "warning")
            return False
        path, node = found
        assert node.inner is not None
        file = _abstraction_file(self.root, path, node)
        changes = {
            other: (copy.deepcopy(instance.inner), copy.deepcopy(node.inner))
            for other, instance in self._instances(file)
            if other != path and instance.inner is not None
        }
        if not changes:
            if not self._write_abstraction(node.inner, file):
                return False
            self.say(f"saved the abstraction {file}")
            return True
        # The other instances first: an edit they refuse (a port a link uses has gone) must
        # leave the file as it was, or the document would name ports its file has not.
        command = SetInners(changes, label=f"reload {node.file}")
        if not self.execute(command):
            return False
        if not self._write_abstraction(node.inner, file):
            self.undo()  # the file could not be written: the other instances as they were
            self.redo_stack.clear()
            return False
        self.say(f"saved the abstraction {file} and reloaded {len(changes)} other instances")
        return True

    def save_as_abstraction(self: EditorModel, node_id: str, file: Path | str) -> bool:
        """Write the subpatch ``node_id``'s inner patch to ``file`` and make the node name it."""
        node = self.patch.nodes.get(node_id)
        if node is None or node.inner is None:
            self.say(f"{node_id!r} is not a subpatch", "warning")
            return False
        file = Path(file) if Path(file).suffix == ".json" else Path(f"{file}.json")
        if file.exists():  # another patch (or another instance here) may use it
            self.say(f"{file} exists: an abstraction file may be used elsewhere, choose a new name", "error")
            return False
        inner = copy.deepcopy(node.inner)
        if not self._write_abstraction(inner, file):
            return False
        inner.rebase(file.resolve().parent)  # its files are named from its own folder now
        inner.path = file.resolve()
        name = os.path.relpath(file.resolve(), Path(self.patch.base_dir).resolve())
        path = "/".join((*self.opened, node_id))
        label = f"save {node_id} as abstraction"
        command = SetInners({path: (copy.deepcopy(node.inner), inner)}, label=label)
        command.files = {path: (node.file, name)}
        return self.execute(command, f"saved {node_id} as the abstraction {file}: the node now names it")

    def _write_abstraction(self: EditorModel, inner: Patch, file: Path) -> bool:
        from patcher.patchfile import save

        try:
            save(inner, file)
        except (OSError, ValueError) as error:
            self.say(f"could not save the abstraction {file}: {error}", "error")
            return False
        return True

    def _instances(self: EditorModel, file: Path) -> Iterator[tuple[str, NodeData]]:
        """Every subpatch node in the document that names ``file``, with its path."""
        return (item for item in _subpatches(self.root, "") if _same_file(self.root, item, file))


def _subpatches(patch: Patch, prefix: str) -> Iterator[tuple[str, NodeData]]:
    for node_id, node in patch.nodes.items():
        if node.inner is not None:
            yield prefix + node_id, node
            yield from _subpatches(node.inner, f"{prefix}{node_id}/")


def _abstraction_file(root: Patch, path: str, node: NodeData) -> Path:
    """Where the abstraction was read from, else its name from the folder of the patch naming it."""
    assert node.inner is not None
    if node.inner.path is not None:
        return Path(node.inner.path).resolve()
    owner, _node = root.owner(path)
    return (Path(owner.base_dir) / node.file).resolve()


def _same_file(root: Patch, item: tuple[str, NodeData], file: Path) -> bool:
    path, node = item
    return bool(node.file) and _abstraction_file(root, path, node) == file


def _out_of(path: str, ungrouped: list[str], after: Patch, before: set[str]) -> str:
    """A mapped node's path once the subpatches ``ungrouped`` are opened out: ``group1/g`` is
    ``g`` when the node came out under its own id."""
    first, _slash, rest = path.partition("/")
    if first in ungrouped and rest and rest.split("/")[0] in after.nodes and rest.split("/")[0] not in before:
        return rest
    return path
