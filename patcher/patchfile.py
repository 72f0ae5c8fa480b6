"""Patch files (format v1): parse and validate with every problem reported, save atomically.

A v1 patch file::

    {
      "format": "patcher", "version": 1,
      "description": "free text",
      "settings": {"sample_rate": 48000, "block_size": 256, "duration_s": 5.0},
      "nodes": [{"id": "osc", "type": "oscillator", "params": {...}, "position": [x, y]}],
      "links": [{"from": "osc.out", "to": "out.left"}]
    }

Validation is hand-written rather than a JSON schema because each message must name the node
or link at fault in the patch's own terms ("link osc.out -> out.lfet: output 'out' has no
port 'lfet'"), and most rules (ports, ranges, cycles) come from the node specs.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

from patcher.archive import extract_privately, is_archive
from patcher.atomic import atomic_path, special_kind
from patcher.files import as_saved_in, check_files, check_packed_files
from patcher.graph import cycle_problems
from patcher.model import (
    FORMAT_NAME,
    FORMAT_VERSION,
    NODE_ID_PATTERN,
    SETTING_RANGES,
    Link,
    NodeData,
    Patch,
    PatchError,
    PortRef,
    Settings,
    collector_paused,
    link_problem,
    unknown_param_problem,
    unknown_type_problem,
)
from patcher.spec import node_class
from patcher.text import PATH_LIMIT, did_you_mean, excerpt, quote

TOP_LEVEL_KEYS = {"format", "version", "description", "settings", "nodes", "links"}
NODE_KEYS = {"id", "type", "params", "position"}


def load(path: str | Path, allow_outside_files: bool = False) -> Patch:
    """Read and validate a patch file; raise :class:`PatchError` listing every problem.
    Its file params must name files in its folder unless ``allow_outside_files``
    (:mod:`patcher.files`: a shared patch must not read the user's other files).
    A ``.patcher`` file is a packed patch (:func:`load_packed`)."""
    path = Path(path)
    if is_archive(path):
        return load_packed(path)
    shown = excerpt(path, PATH_LIMIT)
    try:
        kind = special_kind(os.stat(path).st_mode)
        if kind is not None and kind != "a folder":  # a pipe would hang the read for good
            raise PatchError(f"{shown} is {kind}, not a patch file")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PatchError(f"no such patch file: {shown}") from None
    except IsADirectoryError:
        raise PatchError(f"{shown} is a folder, not a patch file") from None
    except OSError as error:
        raise PatchError(f"cannot read {shown}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise PatchError(f"cannot read {shown}: {error}") from None
    return loads(text, str(path), path.resolve().parent, allow_outside_files)


def load_packed(path: str | Path) -> Patch:
    """Read a packed patch (:mod:`patcher.archive`), extracted into a private folder that
    lives until the program exits."""
    folder, member = extract_privately(path)
    return load_extracted(path, folder, member)


def load_extracted(path: str | Path, folder: Path, member: str) -> Patch:
    """The patch ``member`` of the packed patch ``path``, extracted into ``folder``: parsed,
    validated, and its file params checked to name files packed with it."""
    source = f"{excerpt(path, PATH_LIMIT)} ({excerpt(member)})"
    try:
        text = (folder / member).read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise PatchError(f"cannot read the patch: {error}", source) from None
    patch = loads(text, source, folder, allow_outside_files=True)
    check_packed_files(patch, source)
    return patch


def loads(
    text: str, source: str = "<patch>", base_dir: Path | None = None, allow_outside_files: bool = False
) -> Patch:
    """Parse and validate patch JSON text, its files in ``base_dir`` (default: the current
    folder) unless ``allow_outside_files``. A UTF-8 byte order mark before it is skipped, as
    editors on Windows write one and most JSON tools accept it."""
    text = text.removeprefix("\ufeff")
    try:
        document = json.loads(text, parse_constant=_refuse_constant, parse_int=_whole_number)
    except json.JSONDecodeError as error:
        problem = f"malformed JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        raise PatchError(problem, source) from None
    except RecursionError:
        raise PatchError("the JSON is nested too deeply to be a patch", source) from None
    except _TooManyDigits as error:
        raise PatchError(_too_many_digits(text, error.digits), source) from None
    except ValueError as error:
        raise PatchError(str(error), source) from None
    patch = from_dict(document, source, base_dir)
    check_files(patch, allow_outside_files, source)
    return patch


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number a patch may hold (use a finite value)")


class _TooManyDigits(ValueError):
    def __init__(self, digits: int) -> None:
        super().__init__(digits)
        self.digits = digits


def _whole_number(text: str) -> int:
    """A JSON integer; one longer than Python will convert (4300 digits by default, against
    quadratic-time denial of service) is a patch problem, not Python's advice to raise it."""
    limit = sys.get_int_max_str_digits()
    digits = len(text) - text.startswith("-")
    if limit and digits > limit:
        raise _TooManyDigits(digits)
    return int(text)


def _too_many_digits(text: str, digits: int) -> str:
    """Where the too-long integer is: the first such run of digits outside a JSON string."""
    integer = rf"(?<![\d.eE+-])-?\d{{{digits}}}\d*(?![\d.eE])"  # not a float's digits
    token = re.compile(r'"(?:[^"\\]+|\\.)*"|' + integer)
    for match in token.finditer(text):
        if not match.group().startswith('"'):
            line = text.count("\n", 0, match.start()) + 1
            column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
            return (
                f"line {line}, column {column}: a number of {digits} digits is too long for a patch "
                f"(the limit is {sys.get_int_max_str_digits()} digits)"
            )
    return f"a number of {digits} digits is too long for a patch"


@collector_paused()
def from_dict(document: Any, source: str = "<patch>", base_dir: Path | None = None) -> Patch:
    """Validate a decoded patch document and build a :class:`Patch`. Its files are not
    checked against the patch's folder: this is for a document the program already holds
    (an autosave, the engine's copy); :func:`load` and :func:`loads` check them."""
    problems: list[str] = []
    if not isinstance(document, dict):
        raise PatchError("a patch file holds a JSON object at the top level", source)
    if document.get("format") != FORMAT_NAME:
        problems.append(f"unknown format {quote(document.get('format'))}; expected {FORMAT_NAME!r}")
    version_problem = _version_problem(document.get("version"))
    if version_problem:
        problems.append(version_problem)
    if problems:
        raise PatchError(problems, source)
    for key in sorted(set(document) - TOP_LEVEL_KEYS):
        problems.append(f"unknown top-level key {quote(key)}{did_you_mean(key, sorted(TOP_LEVEL_KEYS))}")
    patch = Patch(base_dir=base_dir or Path.cwd())
    description = document.get("description", "")
    if isinstance(description, str):
        patch.description = description
    else:
        problems.append("description must be text")
    patch.settings = _read_settings(document.get("settings", {}), problems)
    unusable = _read_nodes(document.get("nodes", []), patch, problems)
    _read_links(document.get("links", []), patch, problems, unusable)
    # Every node and link read so far is sound (the others were left out), so the loops among
    # them are reported with the other problems, not after they are fixed.
    problems += cycle_problems(patch)
    if problems:
        raise PatchError(problems, source)
    return patch


def _version_problem(version: Any) -> str | None:
    """The version names a format, as ``format`` does: it must be the integer written as 1.
    ``true`` and ``1.0`` equal 1 in Python but are not what patcher writes; taking them would
    let a file pass here that another reader of the format refuses."""
    if type(version) is int and version == FORMAT_VERSION:
        return None
    if type(version) in (bool, float) and version == FORMAT_VERSION:
        written = json.dumps(version)
        return f'version must be written "version": {FORMAT_VERSION}, not {written}'
    return f"unsupported version {quote(version)}; this patcher reads version {FORMAT_VERSION}"


def _read_settings(raw: Any, problems: list[str]) -> Settings:
    if not isinstance(raw, dict):
        problems.append("settings must be an object")
        return Settings()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in SETTING_RANGES:
            known = ", ".join(SETTING_RANGES)
            hint = did_you_mean(key, SETTING_RANGES)
            problems.append(
                f"settings: unknown setting {quote(key)}"
                + (f"{hint} (known: {known})" if hint else f"; known: {known}")
            )
            continue
        kind, low, high = SETTING_RANGES[key]
        problem = _number_problem(value, kind, low, high)
        if problem:
            problems.append(f"settings: {key}: {problem}")
        else:
            values[key] = kind(value)
    return Settings(**values)


def _number_problem(value: Any, kind: type, low: float, high: float) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"expected a number, got {quote(value)}"
    if isinstance(value, int) and abs(value) > 2**53:
        return f"{quote(value, 30)} is out of range [{low:g}, {high:g}]"
    if not math.isfinite(value):
        return f"expected a finite number, got {quote(value)}"
    if kind is int and not float(value).is_integer():
        return f"expected a whole number, got {quote(value)}"
    if not low <= value <= high:
        return f"{quote(value)} is out of range [{low:g}, {high:g}]"
    return None


def _read_nodes(raw: Any, patch: Patch, problems: list[str]) -> set[str]:
    """Read every node into ``patch``; return the ids of nodes with a problem of their own."""
    unusable: set[str] = set()
    if not isinstance(raw, list):
        problems.append("nodes must be a list")
        return unusable
    for index, entry in enumerate(raw):
        node = _read_node(index, entry, problems)
        if node is None:
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                unusable.add(entry["id"])
            continue
        if node.id in patch.nodes:
            problems.append(f"node {quote(node.id)}: duplicate id (node #{index + 1} reuses it)")
            continue
        patch.nodes[node.id] = node
    return unusable


def _read_node(index: int, entry: Any, problems: list[str]) -> NodeData | None:
    where = f"node #{index + 1}"
    if not isinstance(entry, dict):
        problems.append(f"{where}: expected an object")
        return None
    node_id = entry.get("id")
    if not isinstance(node_id, str) or not NODE_ID_PATTERN.fullmatch(node_id):
        problems.append(
            f"{where}: id {quote(node_id)} must be text starting with a letter (letters, digits, _ or -)"
        )
        return None
    where = f"node {quote(node_id)}"
    for key in sorted(set(entry) - NODE_KEYS):
        problems.append(f"{where}: unknown key {quote(key)}{did_you_mean(key, sorted(NODE_KEYS))}")
    type_name = entry.get("type")
    cls = node_class(type_name) if isinstance(type_name, str) else None
    if cls is None:
        problems.append(f"{where}: {unknown_type_problem(type_name)}")
        return None
    params = _read_params(where, cls, entry.get("params", {}), problems)
    position = _read_position(where, entry.get("position", [0, 0]), problems)
    return NodeData(node_id, type_name, params, position)


def _read_params(where: str, cls: Any, raw: Any, problems: list[str]) -> dict[str, Any]:
    params = {name: p.default for name, p in cls.PARAMS.items()}
    if not isinstance(raw, dict):
        problems.append(f"{where}: params must be an object")
        return params
    for name, value in raw.items():
        param = cls.PARAMS.get(name)
        if param is None:
            problems.append(f"{where} ({cls.TYPE}): {unknown_param_problem(cls, name)}")
            continue
        problem = param.check(value)
        if problem:
            problems.append(f"{where} ({cls.TYPE}): param {quote(name)}: {problem}")
        else:
            params[name] = param.coerce(value)
    return params


def _read_position(where: str, raw: Any, problems: list[str]) -> tuple[float, float]:
    ok = isinstance(raw, list) and len(raw) == 2 and all(_is_coordinate(v) for v in raw)
    if not ok:
        problems.append(f"{where}: position must be [x, y] with two finite numbers, got {quote(raw)}")
        return (0.0, 0.0)
    return (float(raw[0]), float(raw[1]))


def _is_coordinate(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return abs(value) <= 1e9 if isinstance(value, int) else math.isfinite(value)


def _read_links(raw: Any, patch: Patch, problems: list[str], unusable: set[str]) -> None:
    if not isinstance(raw, list):
        problems.append("links must be a list")
        return
    for index, entry in enumerate(raw):
        link = _read_link(index, entry, problems)
        if link is None or {link.source.node, link.target.node} & unusable:
            continue  # a link of a node already reported is not reported again
        problem = link_problem(patch, link)
        if problem:
            problems.append(problem)
        else:
            patch.links.append(link)


def _read_link(index: int, entry: Any, problems: list[str]) -> Link | None:
    where = f"link #{index + 1}"
    if not isinstance(entry, dict) or set(entry) != {"from", "to"}:
        problems.append(f"{where}: expected an object with exactly the keys 'from' and 'to'")
        return None
    try:
        return Link(PortRef.parse(str(entry["from"])), PortRef.parse(str(entry["to"])))
    except ValueError as error:
        problems.append(f"{where}: {error}")
        return None


# -- saving -----------------------------------------------------------------------------
def to_dict(patch: Patch) -> dict[str, Any]:
    """The patch as a document: nodes sorted by id, links sorted, params in spec order."""
    settings = patch.settings
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "description": patch.description,
        "settings": {
            "sample_rate": settings.sample_rate,
            "block_size": settings.block_size,
            "duration_s": settings.duration_s,
        },
        "nodes": [_node_dict(patch.nodes[node_id]) for node_id in sorted(patch.nodes)],
        "links": [{"from": str(ln.source), "to": str(ln.target)} for ln in sorted(patch.links)],
    }


def _node_dict(node: NodeData) -> dict[str, Any]:
    order = list(node.spec.PARAMS)
    params = {name: node.params[name] for name in order if name in node.params}
    return {"id": node.id, "type": node.type, "params": params, "position": list(node.position)}


def dumps(patch: Patch) -> str:
    """Deterministic text: same patch, same bytes; a link or a list of numbers on one line."""
    return _encode(to_dict(patch), 0) + "\n"


def _encode(value: Any, depth: int) -> str:
    """JSON with two-space indents, short things inline; strings are never touched."""
    if isinstance(value, dict) and value and not _is_link(value):
        inner = "  " * (depth + 1)
        items = [f"{inner}{_scalar(key)}: {_encode(item, depth + 1)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * depth + "}"
    if isinstance(value, list) and value and not _is_number_list(value):
        inner = "  " * (depth + 1)
        items = [f"{inner}{_encode(item, depth + 1)}" for item in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * depth + "]"
    return _scalar(value)


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


def _is_link(value: dict[str, Any]) -> bool:
    return set(value) == {"from", "to"}


def _is_number_list(value: list[Any]) -> bool:
    return all(isinstance(item, int | float) and not isinstance(item, bool) for item in value)


def save(patch: Patch, path: str | Path) -> None:
    """Write atomically: a temporary file in the same folder, then a rename over the target.
    File params are written relative to the file's folder (:func:`patcher.files.as_saved_in`)."""
    path = Path(path)
    text = dumps(as_saved_in(patch, path.resolve().parent))
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
