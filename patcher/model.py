"""The patch model: pure data — settings, nodes, links and a description. No DSP, no GUI.

A :class:`Patch` is what a patch file holds and what the editor edits. Every mutation checks
what it can check locally (a known type, a legal param value, an existing port) and raises
:class:`PatchError` naming the culprit; whole-graph checks (delay-free cycles) belong to the
compiler.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import gc
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, SupportsIndex

from patcher.spec import Node, Param, node_class, registry
from patcher.text import PATH_LIMIT, did_you_mean, excerpt, quote, visible

FORMAT_NAME = "patcher"
#: Version 2 added subpatches, published params, comments and presets.
FORMAT_VERSION = 2
#: The versions this patcher reads: a version-1 file is a version-2 file without those.
READABLE_VERSIONS = (1, 2)
#: The longest comment, and the longest preset name (a comment is a note, not a document).
COMMENT_LIMIT = 4000
PRESET_NAME_LIMIT = 64
#: What a preset snapshots: values a knob or a menu sets (files and tables are the patch's).
PRESET_KINDS = ("float", "int", "bool", "choice")
#: The node types that hold a patch: a subpatch (flattened away before compiling) and a poly
#: (which plays copies of its patch, its voice, itself).
HOLDER_TYPES = ("subpatch", "poly")
NODE_ID_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
#: How many problems a message lists; the rest are counted (20,000 bad nodes are one screen).
PROBLEMS_SHOWN = 20
#: The longest a problem is shown (one naming an OS error's path may hold anything).
PROBLEM_LIMIT = 400


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a patch is built in bulk (loaded,
    compiled): each of its passes walks every object made so far, so a pass every few
    hundred new objects made loading and compiling grow with the square of the patch."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class PatchError(ValueError):
    """A patch is not valid. ``problems`` lists every problem, each naming its culprit; the
    message shows the first :data:`PROBLEMS_SHOWN`, each one visible and at most a line long
    (a problem may hold text nobody quoted, such as an OS error naming a path)."""

    def __init__(self, problems: str | Iterable[str], source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        super().__init__(self.message())

    def message(self) -> str:
        prefix = f"{excerpt(self.source, PATH_LIMIT)}: " if self.source else ""
        shown = [excerpt(problem, PROBLEM_LIMIT) for problem in self.problems[:PROBLEMS_SHOWN]]
        if len(self.problems) == 1:
            return prefix + shown[0]
        lines = [f"{prefix}{len(self.problems)} problems:"]
        lines += [f"  - {problem}" for problem in shown]
        if len(self.problems) > PROBLEMS_SHOWN:
            lines.append(f"  … and {len(self.problems) - PROBLEMS_SHOWN} more problems")
        return "\n".join(lines)


@dataclass(frozen=True)
class Settings:
    sample_rate: int = 48000
    block_size: int = 256
    duration_s: float = 5.0


SETTING_RANGES: dict[str, tuple[type, float, float]] = {
    "sample_rate": (int, 8000, 192000),
    "block_size": (int, 1, 8192),
    "duration_s": (float, 0.001, 3600.0),
}


@dataclass(frozen=True, order=True)
class PortRef:
    node: str
    port: str

    @classmethod
    def parse(cls, text: str) -> PortRef:
        node, dot, port = text.rpartition(".")
        if not dot or not node or not port:
            raise ValueError(f"{quote(text)} is not of the form node.port")
        return cls(node, port)

    def __str__(self) -> str:
        return f"{self.node}.{self.port}"


@dataclass(frozen=True, order=True)
class Link:
    source: PortRef
    target: PortRef

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}"


class LinkList(list[Link]):
    """A patch's links in order, with a count of each beside them, so that asking whether a
    link exists costs the same in a patch of 20,000 links as in one of 2 (a list's ``in``
    compares every link: loading a large patch took minutes)."""

    def __init__(self, links: Iterable[Link] = ()) -> None:
        super().__init__(links)
        self._counts = collections.Counter(self)

    def __contains__(self, link: object) -> bool:
        return self._counts.get(link, 0) > 0  # type: ignore[call-overload]

    def __reduce__(self) -> tuple[Any, ...]:  # pickle and deepcopy rebuild the counts
        return (type(self), (list(self),))

    def _recount(self) -> None:
        self._counts = collections.Counter(self)

    def append(self, link: Link) -> None:
        super().append(link)
        self._counts[link] += 1

    def extend(self, links: Iterable[Link]) -> None:
        super().extend(links)
        self._recount()

    def __iadd__(self, links: Iterable[Link]) -> LinkList:  # type: ignore[override]
        self.extend(links)
        return self

    def insert(self, index: SupportsIndex, link: Link) -> None:
        super().insert(index, link)
        self._counts[link] += 1

    def remove(self, link: Link) -> None:
        super().remove(link)
        self._counts[link] -= 1

    def pop(self, index: SupportsIndex = -1) -> Link:
        link = super().pop(index)
        self._counts[link] -= 1
        return link

    def clear(self) -> None:
        super().clear()
        self._counts.clear()

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        self._recount()

    def __delitem__(self, index: Any) -> None:
        super().__delitem__(index)
        self._recount()


@dataclass
class NodeData:
    id: str
    type: str
    params: dict[str, Any]
    position: tuple[float, float] = (0.0, 0.0)
    #: A subpatch's patch (embedded, or read from ``file``); None for every other type.
    inner: Patch | None = None
    #: An abstraction's file as the patch names it ("" for an embedded subpatch).
    file: str = ""

    @property
    def spec(self) -> type[Node]:
        cls = node_class(self.type)
        assert cls is not None, f"unknown node type {self.type!r}"
        if self.inner is not None and hasattr(cls, "with_interface"):
            return cls.with_interface(*self.inner.interface())
        return cls

    @property
    def label(self) -> str:
        """The type as messages name it: an abstraction with its file."""
        return f"{self.type} {excerpt(self.file, PATH_LIMIT)}" if self.file else self.type


@dataclass
class Comment:
    """A text box on the canvas: its top-left corner and, if set, its width and height."""

    text: str
    position: tuple[float, float] = (0.0, 0.0)
    size: tuple[float, float] | None = None


def comment_problem(text: Any) -> str | None:
    """Why ``text`` cannot be a comment's text, or None."""
    if not isinstance(text, str):
        return f"a comment's text must be text, got {quote(text)}"
    if len(text) > COMMENT_LIMIT:
        return f"a comment holds at most {COMMENT_LIMIT} characters, this one {len(text)}"
    if visible(text, keep="\n\t") != text:
        return f"a comment may hold line breaks and tabs but no other control characters: {quote(text)}"
    return None


def preset_name_problem(name: Any) -> str | None:
    """Why ``name`` cannot name a preset, or None."""
    if not isinstance(name, str) or not name.strip():
        return f"a preset's name must be non-empty text, got {quote(name)}"
    if len(name) > PRESET_NAME_LIMIT or visible(name) != name:
        return f"a preset's name is at most {PRESET_NAME_LIMIT} visible characters, got {quote(name)}"
    return None


#: What a mapping can move: a number (a choice or a switch has no range to spread a knob over).
MAPPABLE_KINDS = ("float", "int")


@dataclass(frozen=True)
class ControlMapping:
    """A param played from outside (Max's and VCV Rack's MIDI-Map): moved by a MIDI control
    change (``midi_cc`` on ``channel`` 1..16, or any channel when None) or by an OSC address,
    its 0..1 spread over the param's range on the param's own scale (log for Hz)."""

    param: str
    midi_cc: int | None = None
    channel: int | None = None
    osc: str | None = None

    @property
    def node(self) -> str:
        """The node's id (a path into a subpatch, ``voice/env``, is allowed)."""
        return self.param.rpartition(".")[0]

    @property
    def name(self) -> str:
        return self.param.rpartition(".")[2]

    def to_json(self) -> dict[str, Any]:
        if self.osc is not None:
            return {"param": self.param, "osc": self.osc}
        document: dict[str, Any] = {"param": self.param, "midi_cc": self.midi_cc}
        if self.channel is not None:
            document["channel"] = self.channel
        return document


@dataclass
class Patch:
    """A patch: the settings, the nodes in the order they were added, the links."""

    settings: Settings = field(default_factory=Settings)
    nodes: dict[str, NodeData] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    description: str = ""
    #: The folder relative file paths (impulse responses, input files) are resolved against.
    base_dir: Path = field(default_factory=Path.cwd)
    comments: list[Comment] = field(default_factory=list)
    #: Named snapshots of param values: {preset: {node id: {param: value}}}.
    presets: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: Inner params this patch shows as a subpatch's own: {name: node.param}.
    published: dict[str, PortRef] = field(default_factory=dict)
    #: Params played from outside: each by a MIDI CC or an OSC address.
    mappings: list[ControlMapping] = field(default_factory=list)
    #: The format version the patch was read from (saving writes :data:`FORMAT_VERSION`).
    format_version: int = FORMAT_VERSION
    #: The file the patch was read from, if any (an abstraction's: where it was found).
    path: Path | None = None
    #: Per type, a number below which every ``typeN`` id is taken: where ``fresh_id`` looks
    #: first (counting from 1 every time made building a large patch quadratic).
    _taken_below: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "links" and not isinstance(value, LinkList):
            value = LinkList(value)  # whatever list is given, membership stays cheap
        super().__setattr__(name, value)

    # -- shown in a notebook: patcher/notebook.py draws it (matplotlib only when asked) ------
    def __repr__(self) -> str:
        from patcher.notebook import patch_repr

        return patch_repr(self)

    def _repr_svg_(self) -> str | None:
        from patcher.notebook import patch_svg

        return patch_svg(self)

    # -- building -------------------------------------------------------------------------
    def add_node(
        self,
        type_name: str,
        node_id: str | None = None,
        position: tuple[float, float] = (0.0, 0.0),
        **params: Any,
    ) -> str:
        """Add a node of ``type_name`` and return its id (``type1``, ``type2`` ... if not given)."""
        cls = node_class(type_name)
        if cls is None:
            raise PatchError(unknown_type_problem(type_name))
        node_id = node_id or self.fresh_id(type_name)
        if not NODE_ID_PATTERN.fullmatch(node_id):
            raise PatchError(
                f"node id {quote(node_id)} must start with a letter and hold only letters, digits, _ or -"
            )
        if node_id in self.nodes:
            raise PatchError(f"node id {quote(node_id)} is already used")
        values = {name: p.default for name, p in cls.PARAMS.items()}
        inner = Patch(self.settings, base_dir=self.base_dir) if type_name in HOLDER_TYPES else None
        if type_name == "poly":  # a voice starts with the outlet it is heard through
            inner.add_node("outlet", "out", (400.0, 40.0))
        where = (float(position[0]), float(position[1]))
        self.nodes[node_id] = NodeData(node_id, type_name, values, where, inner)
        for name, value in params.items():
            self.set_param(node_id, name, value)
        return node_id

    def add_subpatch(
        self,
        inner: Patch,
        node_id: str | None = None,
        position: tuple[float, float] = (0.0, 0.0),
        file: str = "",
        type_name: str = "subpatch",
        **params: Any,
    ) -> str:
        """Add ``inner`` as a subpatch node: embedded, or an abstraction read from ``file``
        (as the patch names it; the caller has read it). Published params start at the
        values ``inner`` sets. ``type_name="poly"`` adds it as a poly node's voice instead."""
        if type_name not in HOLDER_TYPES:
            holders = ", ".join(HOLDER_TYPES)
            raise PatchError(f"a {quote(type_name)} node holds no patch; use one of {holders}")
        node_id = self.add_node(type_name, node_id, position)
        node = self.nodes[node_id]
        node.inner, node.file = inner, file
        node.params = {name: param.default for name, param in node.spec.PARAMS.items()}
        for name, value in params.items():
            self.set_param(node_id, name, value)
        return node_id

    # -- as a subpatch ----------------------------------------------------------------------
    def ports(self, type_name: str) -> tuple[str, ...]:
        """The ids of the ``inlet`` (or ``outlet``) nodes: the ports this patch has as a
        subpatch, ordered by ``index``, then left to right, then by id."""
        found = [node for node in self.nodes.values() if node.type == type_name]
        found.sort(key=lambda node: (node.params.get("index", 0), node.position[0], node.id))
        return tuple(node.id for node in found)

    def published_params(self) -> dict[str, Param]:
        """The published params with the inner node's spec (its unit, range and doc); the
        default is the value the inner patch sets."""
        params = {}
        for name, ref in self.published.items():
            node = self.nodes.get(ref.node)
            if node is None or node_class(node.type) is None or ref.port not in node.spec.PARAMS:
                continue  # a file's problem, reported by the loader
            param = node.spec.PARAMS[ref.port]
            default = node.params.get(ref.port, param.default)
            params[name] = dataclasses.replace(param, default=default, doc=f"{ref}: {param.doc}".strip())
        return params

    def interface(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, Param], ...]]:
        """Inputs, outputs and params as a subpatch (what its node's spec is made of)."""
        return self.ports("inlet"), self.ports("outlet"), tuple(self.published_params().items())

    def publish(self, name: str, target: str) -> None:
        """Show the inner param ``target`` (``node.param``) as the subpatch's param ``name``."""
        problem = publish_problem(self, name, target)
        if problem:
            raise PatchError(problem)
        self.published[name] = PortRef.parse(target)

    def find(self, path: str) -> NodeData:
        """The node at ``path``: an id, or ids joined by ``/`` into subpatches (``voice/env``)."""
        return self.owner(path)[1]

    def owner(self, path: str) -> tuple[Patch, NodeData]:
        """The patch holding the node at ``path``, and the node."""
        patch: Patch = self
        for part in path.split("/")[:-1]:
            inner = patch.node(part).inner
            if inner is None:
                raise PatchError(f"{quote(path)}: node {quote(part)} is not a subpatch")
            patch = inner
        return patch, patch.node(path.rpartition("/")[2])

    # -- comments and presets ---------------------------------------------------------------
    def add_comment(
        self, text: str, position: tuple[float, float] = (0.0, 0.0), size: tuple[float, float] | None = None
    ) -> Comment:
        problem = comment_problem(text)
        if problem:
            raise PatchError(problem)
        where = (float(position[0]), float(position[1]))
        comment = Comment(text, where, None if size is None else (float(size[0]), float(size[1])))
        self.comments.append(comment)
        return comment

    def store_preset(self, name: str) -> dict[str, dict[str, Any]]:
        """Snapshot every node's knob and menu values as the preset ``name`` (replacing one of
        that name); return the snapshot."""
        problem = preset_name_problem(name)
        if problem:
            raise PatchError(problem)
        snapshot = {
            node_id: {key: value for key, value in node.params.items() if _in_presets(node, key)}
            for node_id, node in self.nodes.items()
        }
        self.presets[name] = {node_id: values for node_id, values in snapshot.items() if values}
        return self.presets[name]

    def preset(self, name: str) -> dict[str, dict[str, Any]]:
        """The preset ``name``'s values: {node id: {param: value}}."""
        if name not in self.presets:
            listed = ", ".join(quote(known) for known in self.presets) or "none"
            raise PatchError(f"no preset {quote(name)}{did_you_mean(name, self.presets)} (presets: {listed})")
        return self.presets[name]

    def recall_preset(self, name: str) -> dict[str, dict[str, Any]]:
        """Set the params the preset ``name`` holds, at once; return them (of nodes that still
        exist). :meth:`patcher.engine.Engine.recall_preset` glides while playing."""
        applied: dict[str, dict[str, Any]] = {}
        for node_id, values in self.preset(name).items():
            for key, value in values.items():
                if node_id in self.nodes and key in self.nodes[node_id].spec.PARAMS:
                    self.set_param(node_id, key, value)
                    applied.setdefault(node_id, {})[key] = self.nodes[node_id].params[key]
        return applied

    def reads_the_sound_card(self) -> bool:
        """Whether an input node plays the sound card's input (a stream must open with it)."""
        nodes = self.nodes.values()
        return any(node.type == "input" and node.params.get("source") == "live" for node in nodes)

    def fresh_id(self, type_name: str) -> str:
        """``type1``, ``type2``...: the first one free."""
        number = self._taken_below.get(type_name, 1)
        while f"{type_name}{number}" in self.nodes:
            number += 1
        self._taken_below[type_name] = number
        return f"{type_name}{number}"

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        node = self.node(node_id)
        param = node.spec.PARAMS.get(name)
        if param is None:
            raise PatchError(
                f"node {quote(node_id)} ({node.label}): {unknown_param_problem(node.spec, name)}"
            )
        problem = param.check(value)
        if problem:
            raise PatchError(f"node {quote(node_id)} ({node.label}): param {quote(name)}: {problem}")
        node.params[name] = param.coerce(value)

    def connect(self, source: str, target: str) -> Link:
        """Link ``"node.port"`` to ``"node.port"``; several links into one input are summed."""
        link = Link(PortRef.parse(source), PortRef.parse(target))
        problem = link_problem(self, link)
        if problem:
            raise PatchError(problem)
        self.links.append(link)
        return link

    def disconnect(self, source: str, target: str) -> None:
        link = Link(PortRef.parse(source), PortRef.parse(target))
        if link not in self.links:
            raise PatchError(f"link {link_text(link)} does not exist")
        self.links.remove(link)

    def remove_node(self, node_id: str) -> None:
        self.forget_node(node_id)
        self.links = [ln for ln in self.links if node_id not in (ln.source.node, ln.target.node)]
        for values in self.presets.values():
            values.pop(node_id, None)
        self.published = {name: ref for name, ref in self.published.items() if ref.node != node_id}
        self.mappings = [mapping for mapping in self.mappings if mapping.node.split("/")[0] != node_id]

    def forget_node(self, node_id: str) -> NodeData:
        """Take a node out, leaving its links (the caller deals with them); its id may be
        given again by ``fresh_id``."""
        node = self.node(node_id)
        del self.nodes[node_id]
        number = node_id.removeprefix(node.type)
        if number.isdigit():
            self._taken_below[node.type] = min(self._taken_below.get(node.type, 1), int(number))
        return node

    def node(self, node_id: str) -> NodeData:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise PatchError(f"no node with id {quote(node_id)}") from None

    def links_into(self, node_id: str) -> list[Link]:
        return [ln for ln in self.links if ln.target.node == node_id]

    # -- files ----------------------------------------------------------------------------
    def rebase(self, folder: str | Path) -> None:
        """Move the patch to ``folder`` (where it will be saved): relative file params are
        rewritten so they still name the same files, and ``base_dir`` becomes ``folder``."""
        folder = Path(folder).resolve()
        old_folder = Path(self.base_dir).resolve()
        if old_folder != folder:
            for node in self.nodes.values():
                for name, value in relative_files(node.spec, node.params):
                    node.params[name] = os.path.relpath(old_folder / value, folder)
                _rebase_subpatch(node, old_folder, folder)
        self.base_dir = folder

    def save(self, path: str | Path) -> list[str]:
        """Save to ``path``; return notes for the user (see :func:`patcher.patchfile.save`)."""
        from patcher.patchfile import save

        return save(self, path)


def plays_alike(patch: Patch | None, other: Patch | None) -> bool:
    """Whether two patches sound the same: the same nodes, params, links (in any order),
    published params, files and folder; where nodes stand and what comments say aside."""
    if patch is None or other is None:
        return patch is other
    if set(patch.nodes) != set(other.nodes) or patch.published != other.published:
        return False
    if patch.base_dir != other.base_dir:
        return False
    if collections.Counter(patch.links) != collections.Counter(other.links):
        return False
    for node_id, node in patch.nodes.items():
        twin = other.nodes[node_id]
        if (node.type, node.params, node.file) != (twin.type, twin.params, twin.file):
            return False
        if not plays_alike(node.inner, twin.inner):
            return False
    return True


def _rebase_subpatch(node: NodeData, old_folder: Path, folder: Path) -> None:
    """An embedded subpatch moves with its parent; an abstraction found beside the parent is
    named from the new folder (one found in the library keeps its name)."""
    inner = node.inner
    if inner is None:
        return
    if not node.file:
        inner.rebase(folder)
        return
    beside = inner.path is not None and not os.path.isabs(node.file)
    if beside and (old_folder / node.file).resolve() == Path(inner.path).resolve():
        node.file = os.path.relpath(inner.path, folder)


def _in_presets(node: NodeData, name: str) -> bool:
    param = node.spec.PARAMS.get(name)
    return param is not None and param.kind in PRESET_KINDS


def publish_problem(patch: Patch, name: Any, target: Any) -> str | None:
    """Why the inner param ``target`` (``node.param``) cannot be published as ``name``."""
    where = f"published param {quote(name)}"
    if not isinstance(name, str) or not NODE_ID_PATTERN.fullmatch(name):
        return f"{where}: a name starts with a letter and holds only letters, digits, _ or -"
    if name in patch.published:
        return f"{where}: already published"
    try:
        ref = PortRef.parse(target) if isinstance(target, str) else None
    except ValueError as error:
        return f"{where}: {error}"
    if ref is None:
        return f"{where}: expected 'node.param', got {quote(target)}"
    node = patch.nodes.get(ref.node)
    if node is None:
        return f"{where}: no node {quote(ref.node)}{did_you_mean(ref.node, patch.nodes)}"
    if ref.port not in node.spec.PARAMS:
        return f"{where}: node {quote(ref.node)} ({node.label}): {unknown_param_problem(node.spec, ref.port)}"
    if name in patch.ports("inlet"):
        return f"{where}: an inlet is called {quote(name)} too; a subpatch's ports need different names"
    return None


def relative_files(spec: Any, params: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """The file params of a node of type ``spec`` named relative to a folder: (name, path)."""
    for name, param in spec.PARAMS.items():
        value = params.get(name)
        if param.kind == "path" and value and not os.path.isabs(value):
            yield name, value


def unknown_type_problem(type_name: Any) -> str:
    """Why ``type_name`` is no node type, with the closest one (or, if none is close, all of them)."""
    known = sorted(registry())
    return f"unknown node type {quote(type_name)}" + (
        did_you_mean(type_name, known) or f"; known: {', '.join(known)}"
    )


def unknown_param_problem(spec: type[Node], name: Any) -> str:
    """Why ``name`` is no param of a node of type ``spec``, with the closest one and them all."""
    listed = ", ".join(spec.PARAMS) or "none"
    hint = did_you_mean(name, spec.PARAMS)
    return f"unknown param {quote(name)}" + (f"{hint} (params: {listed})" if hint else f"; params: {listed}")


def link_text(link: Link) -> str:
    """``a.out -> b.in`` for a message: each end visible and short (ids may be anything)."""
    return f"{excerpt(link.source)} -> {excerpt(link.target)}"


def missing_ends(patch: Patch, link: Link, reported: Iterable[str] = ()) -> list[str]:
    """What is wrong with ``link``'s ends that do not exist (those ``reported`` aside)."""
    return [
        _no_node(end, ref)
        for end, ref in (("source", link.source), ("target", link.target))
        if ref.node not in patch.nodes and ref.node not in reported
    ]


def _no_node(end: str, ref: PortRef) -> str:
    return f"its {end} node {quote(ref.node)} does not exist"


def link_problem(patch: Patch, link: Link) -> str | None:
    """Why ``link`` cannot exist in ``patch`` (ports and direction only), or None."""
    problems = []
    for end, ref in (("source", link.source), ("target", link.target)):
        node = patch.nodes.get(ref.node)
        if node is None:
            problems.append(_no_node(end, ref))
            continue
        if node_class(node.type) is None:
            continue  # the unknown type is reported on the node itself
        cls = node.spec
        outputs, inputs = cls.OUTPUTS, cls.input_ports()
        wanted, other = (outputs, inputs) if end == "source" else (inputs, outputs)
        if ref.port in wanted:
            continue
        if ref.port in other:
            kind = "an input" if end == "source" else "an output"
            problems.append(f"{excerpt(ref)} is {kind}; a link goes from an output to an input")
        else:
            listed = ", ".join(wanted) or "none"
            noun = "outputs" if end == "source" else "inputs"
            hint = did_you_mean(ref.port, wanted)
            problems.append(
                f"{node.label} {quote(ref.node)} has no port {quote(ref.port)}{hint} ({noun}: {listed})"
            )
    if not problems and link in patch.links:
        problems.append("it is already linked")
    if problems:
        return f"link {link_text(link)}: " + "; ".join(problems)
    return None
