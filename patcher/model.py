"""The patch model: pure data — settings, nodes, links and a description. No DSP, no GUI.

A :class:`Patch` is what a patch file holds and what the editor edits. Every mutation checks
what it can check locally (a known type, a legal param value, an existing port) and raises
:class:`PatchError` naming the culprit; whole-graph checks (delay-free cycles) belong to the
compiler.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, SupportsIndex

from patcher.spec import Node, node_class, registry
from patcher.text import PATH_LIMIT, did_you_mean, excerpt, quote

FORMAT_NAME = "patcher"
FORMAT_VERSION = 1
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

    @property
    def spec(self) -> type[Node]:
        cls = node_class(self.type)
        assert cls is not None, f"unknown node type {self.type!r}"
        return cls


@dataclass
class Patch:
    """A patch: the settings, the nodes in the order they were added, the links."""

    settings: Settings = field(default_factory=Settings)
    nodes: dict[str, NodeData] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    description: str = ""
    #: The folder relative file paths (impulse responses, input files) are resolved against.
    base_dir: Path = field(default_factory=Path.cwd)
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
        self.nodes[node_id] = NodeData(node_id, type_name, values, (float(position[0]), float(position[1])))
        for name, value in params.items():
            self.set_param(node_id, name, value)
        return node_id

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
            raise PatchError(f"node {quote(node_id)} ({node.type}): {unknown_param_problem(node.spec, name)}")
        problem = param.check(value)
        if problem:
            raise PatchError(f"node {quote(node_id)} ({node.type}): param {quote(name)}: {problem}")
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
        self.base_dir = folder

    def save(self, path: str | Path) -> None:
        from patcher.patchfile import save

        save(self, path)


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


def link_problem(patch: Patch, link: Link) -> str | None:
    """Why ``link`` cannot exist in ``patch`` (ports and direction only), or None."""
    problems = []
    for end, ref in (("source", link.source), ("target", link.target)):
        node = patch.nodes.get(ref.node)
        if node is None:
            problems.append(f"its {end} node {quote(ref.node)} does not exist")
            continue
        cls = node_class(node.type)
        if cls is None:
            continue  # the unknown type is reported on the node itself
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
                f"{node.type} {quote(ref.node)} has no port {quote(ref.port)}{hint} ({noun}: {listed})"
            )
    if not problems and link in patch.links:
        problems.append("it is already linked")
    if problems:
        return f"link {link_text(link)}: " + "; ".join(problems)
    return None
