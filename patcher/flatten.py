"""Flattening: a patch's subpatches become their inner nodes before anything is scheduled.

A subpatch node ``voice`` becomes its inner nodes, their ids prefixed ``voice/``
(``voice/env``), each with the values the subpatch node gives its published params. Its
inlets and outlets go, and every link through one is joined end to end: fan-in and fan-out
multiply out, so each input sums what it summed before. What is left is an ordinary patch,
so scheduling, pruning, feedback through a delay's tap (inside a subpatch, or out of it and
back in), block-size invariance and live edits hold as for any patch; ids hold a ``/`` no
node of a file may hold, so they never clash with the parent's. A ``poly`` node keeps its
patch (its voice): it compiles and plays copies of it itself, so it stays one node here.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from patcher.model import Link, NodeData, Patch, PatchError, PortRef
from patcher.text import quote

Overrides = Mapping[str, Mapping[str, Any]]  # {inner node id: {param: value}}


def has_subpatches(patch: Patch) -> bool:
    return any(node.type == "subpatch" for node in patch.nodes.values())


def _is_subpatch(node: NodeData) -> bool:
    """A node flattened into its inner nodes (a poly keeps its voice: it plays it itself)."""
    return node.type == "subpatch" and node.inner is not None


def flatten(patch: Patch) -> Patch:
    """``patch`` with every subpatch replaced by its nodes (``patch`` itself when it has none)."""
    if not has_subpatches(patch):
        return patch
    flat = Patch(patch.settings, description=patch.description, base_dir=patch.base_dir)
    links: list[Link] = []
    joints: list[str] = []
    _add(patch, "", {}, flat, links, joints)
    flat.links = _join(links, joints)
    return flat


def _add(
    patch: Patch, prefix: str, overrides: Overrides, flat: Patch, links: list[Link], joints: list[str]
) -> None:
    """Add ``patch``'s nodes and links to ``flat``, ids prefixed by ``prefix``."""
    for node_id, node in patch.nodes.items():
        params = {**node.params, **overrides.get(node_id, {})}
        if _is_subpatch(node):
            inner_overrides = _published_values(node.inner, params, patch.base_dir)
            _add(node.inner, f"{prefix}{node_id}/", inner_overrides, flat, links, joints)
            continue
        path = prefix + node_id
        if prefix and node.type in ("inlet", "outlet"):
            joints.append(path)  # a port of the subpatch, not a node of the flat patch
            continue
        if patch.base_dir != flat.base_dir:  # an abstraction's files are beside it
            params.update(_absolute_files(node, params, patch.base_dir))
        flat.nodes[path] = NodeData(path, node.type, params, node.position, node.inner, node.file)
    for link in patch.links:
        source = _source(patch, prefix, link.source)
        links.append(Link(source, _target(patch, prefix, link.target)))


def flat_param(patch: Patch, path: str, name: str) -> tuple[str, str]:
    """Where the param ``name`` of the node at ``path`` lives once flattened: a subpatch's
    published param is its inner node's (``voice.attack`` -> ``voice/env``, ``attack``)."""
    _owner, node = patch.owner(path)
    prefix = path[: len(path) - len(node.id)]
    while _is_subpatch(node):
        ref = node.inner.published[name]
        prefix = f"{prefix}{node.id}/"
        node, name = node.inner.node(ref.node), ref.port
    return prefix + node.id, name


def _published_values(inner: Patch, params: Mapping[str, Any], folder: Path) -> dict[str, dict[str, Any]]:
    """What a subpatch node's params set inside it: {inner node id: {param: value}}; a file
    is named from the folder of the patch that set it."""
    values: dict[str, dict[str, Any]] = {}
    for name, param in inner.published_params().items():
        ref = inner.published[name]
        value = params.get(name, param.default)
        if param.kind == "path" and value and not os.path.isabs(value):
            value = os.path.abspath(os.path.join(folder, value))
        values.setdefault(ref.node, {})[ref.port] = value
    return values


def _absolute_files(node: NodeData, params: Mapping[str, Any], folder: Path) -> dict[str, str]:
    spec = node.spec
    return {
        name: os.path.abspath(os.path.join(folder, value))
        for name, value in params.items()
        if name in spec.PARAMS and spec.PARAMS[name].kind == "path" and value and not os.path.isabs(value)
    }


def _source(patch: Patch, prefix: str, ref: PortRef) -> PortRef:
    """A link's source in flat ids: a subpatch's output is its outlet node (joined away)."""
    if _is_subpatch(patch.nodes[ref.node]):
        return PortRef(f"{prefix}{ref.node}/{ref.port}", "out")
    return PortRef(prefix + ref.node, ref.port)


def _target(patch: Patch, prefix: str, ref: PortRef) -> PortRef:
    """A link's target in flat ids: a subpatch's input is its inlet node (joined away), or the
    inner param it publishes (a modulation link reaches the inner node itself)."""
    node = patch.nodes[ref.node]
    if not _is_subpatch(node):
        return PortRef(prefix + ref.node, ref.port)
    inner = node.inner
    inner_prefix = f"{prefix}{ref.node}/"
    if ref.port in inner.published:
        return _target(inner, inner_prefix, inner.published[ref.port])
    return PortRef(inner_prefix + ref.port, "in")


def _join(links: list[Link], joints: list[str]) -> list[Link]:
    """Remove each joint (an inner inlet or outlet), linking what enters it to what it feeds."""
    edges: dict[int, Link] = {}
    into: dict[str, list[int]] = {}
    out_of: dict[str, list[int]] = {}
    numbers = itertools.count()

    def add(link: Link) -> None:
        number = next(numbers)
        edges[number] = link
        into.setdefault(link.target.node, []).append(number)
        out_of.setdefault(link.source.node, []).append(number)

    for link in links:
        add(link)
    for joint in joints:
        entering = [number for number in into.pop(joint, []) if number in edges]
        leaving = [number for number in out_of.pop(joint, []) if number in edges]
        if set(entering) & set(leaving):
            raise PatchError(
                f"delay-free feedback loop through {quote(joint)}: a subpatch's output is linked "
                "back into its input with no node between; a loop must pass through a delay's 'tap'"
            )
        pairs = [(edges[a].source, edges[b].target) for a in entering for b in leaving]
        for number in entering + leaving:
            del edges[number]
        for source, target in pairs:
            add(Link(source, target))
    return [edges[number] for number in sorted(edges)]
