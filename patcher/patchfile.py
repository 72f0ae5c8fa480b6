"""Patch files (format v2): parse and validate with every problem reported, save atomically.

A v2 patch file::

    {
      "format": "patcher", "version": 2,
      "description": "free text",
      "settings": {"sample_rate": 48000, "block_size": 256, "duration_s": 5.0},
      "nodes": [
        {"id": "osc", "type": "oscillator", "params": {...}, "position": [x, y]},
        {"id": "fx", "type": "subpatch", "params": {...}, "position": [x, y],
         "patch": {"nodes": [...], "links": [...], "published": {"depth": "lfo.depth"}}},
        {"id": "voice", "type": "subpatch", "file": "lib/voice.json", "params": {...}}
      ],
      "links": [{"from": "osc.out", "to": "out.left"}],
      "comments": [{"text": "a note", "position": [x, y], "size": [w, h]}],
      "presets": {"bright": {"osc": {"frequency_hz": 880.0}}},
      "published": {"level": "out.level_db"},
      "mappings": [{"param": "lp.cutoff_hz", "midi_cc": 74, "channel": 1},
                   {"param": "lp.q", "osc": "/fader/1"}]
    }

Version 2 added subpatches (embedded in ``patch``, or an abstraction named by ``file``),
``published`` params, ``comments``, ``presets`` and ``mappings`` (a number param played by a
MIDI CC, on one channel or any, or by an OSC address: see :mod:`patcher.control`); a
version-1 file is read as before, and one from a newer version is refused, naming both
versions.

Validation is hand-written rather than a JSON schema because each message must name the node
or link at fault in the patch's own terms ("link osc.out -> out.lfet: output 'out' has no
port 'lfet'"), and most rules (ports, ranges, cycles) come from the node specs.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patcher.abstractions import find_abstraction, leaves_folder, where_looked
from patcher.archive import extract_privately, is_archive
from patcher.atomic import atomic_path, special_kind
from patcher.files import ALLOW_FLAG, as_saved_in, check_files, check_packed_files
from patcher.flatten import flatten
from patcher.graph import cycle_problems
from patcher.model import (
    FORMAT_NAME,
    FORMAT_VERSION,
    HOLDER_TYPES,
    MAPPABLE_KINDS,
    NODE_ID_PATTERN,
    PRESET_KINDS,
    READABLE_VERSIONS,
    SETTING_RANGES,
    Comment,
    ControlMapping,
    Link,
    NodeData,
    Patch,
    PatchError,
    PortRef,
    Settings,
    collector_paused,
    comment_problem,
    link_problem,
    link_text,
    missing_ends,
    preset_name_problem,
    publish_problem,
    unknown_param_problem,
    unknown_type_problem,
)
from patcher.spec import node_class
from patcher.text import PATH_LIMIT, did_you_mean, excerpt, quote

#: What a subpatch's embedded patch holds (its settings and presets are its parent's).
INNER_KEYS = {"description", "nodes", "links", "comments", "published"}
TOP_LEVEL_KEYS = {"format", "version", "settings", "presets", "mappings"} | INNER_KEYS
#: Keys a version-1 file cannot hold: what version 2 added.
VERSION_2_KEYS = {"comments", "presets", "published", "mappings"}
MIDI_MAPPING_KEYS = {"param", "midi_cc", "channel"}
OSC_MAPPING_KEYS = {"param", "osc"}
NODE_KEYS = {"id", "type", "params", "position"}
SUBPATCH_KEYS = NODE_KEYS | {"patch", "file"}
COMMENT_KEYS = {"text", "position", "size"}
#: The largest a comment's box may be drawn (the canvas's coordinates, as positions).
COMMENT_SIZE_LIMIT = 1e6


@dataclass
class _Reading:
    """What reading one document carries down into its subpatches and abstractions."""

    #: The files being read, outermost first: (resolved path, name as shown).
    chain: tuple[tuple[Path, str], ...] = ()
    allow_outside_files: bool = True
    #: Abstractions read so far, by resolved path: each instance gets its own copy.
    cache: dict[Path, Patch] = field(default_factory=dict)
    #: The path of the subpatch being read (``voice/``), so messages name ``voice/env``.
    prefix: str = ""
    #: A packed patch's folder: its abstractions are looked for only in it, refused by their
    #: names alone when they would leave it (an archive is untrusted: nothing outside is read).
    packed_root: Path | None = None


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
    except UnicodeDecodeError as error:  # a WAV, a picture: bytes, not a patch's text
        raise PatchError(
            f"{shown} is not a patch file (a patch is JSON text; this is not text, at byte {error.start})"
        ) from None
    reading = _Reading(((path.resolve(), str(path)),), allow_outside_files)
    patch = loads(text, str(path), path.resolve().parent, allow_outside_files, _reading=reading)
    patch.path = path.resolve()
    return patch


def load_packed(path: str | Path) -> Patch:
    """Read a packed patch (:mod:`patcher.archive`), extracted into a private folder that
    lives until the program exits — or goes at once when the patch in it is refused (an
    editor that fails to open one should not keep its files)."""
    folder, member = extract_privately(path)
    try:
        return load_extracted(path, folder, member)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def load_extracted(path: str | Path, folder: Path, member: str) -> Patch:
    """The patch ``member`` of the packed patch ``path``, extracted into ``folder``: parsed,
    validated, and its file params checked to name files packed with it."""
    source = f"{excerpt(path, PATH_LIMIT)} ({excerpt(member)})"
    try:
        text = (folder / member).read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise PatchError(f"cannot read the patch: {error}", source) from None
    reading = _Reading(((Path(folder, member).resolve(), member),), True, packed_root=Path(folder).resolve())
    patch = loads(text, source, folder, allow_outside_files=True, _reading=reading)
    check_packed_files(patch, source)
    return patch


def loads(
    text: str,
    source: str = "<patch>",
    base_dir: Path | None = None,
    allow_outside_files: bool = False,
    *,
    _reading: _Reading | None = None,
) -> Patch:
    """Parse and validate patch JSON text, its files in ``base_dir`` (default: the current
    folder) unless ``allow_outside_files``; abstractions are found beside it, then in the
    library (:mod:`patcher.abstractions`). A UTF-8 byte order mark before it is skipped, as
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
    reading = _reading or _Reading(allow_outside_files=allow_outside_files)
    patch = from_dict(document, source, base_dir, _reading=reading)
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
def from_dict(
    document: Any,
    source: str = "<patch>",
    base_dir: Path | None = None,
    allow_outside_files: bool = True,
    *,
    _reading: _Reading | None = None,
) -> Patch:
    """Validate a decoded patch document and build a :class:`Patch`. Its files are not
    checked against the patch's folder: this is for a document the program already holds
    (an autosave, the engine's copy); :func:`load` and :func:`loads` check them. The
    abstractions it names are read (refused outside its folder and the library unless
    ``allow_outside_files``)."""
    reading = _reading or _Reading(allow_outside_files=allow_outside_files)
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
    problems += _key_problems(document)
    patch = Patch(base_dir=base_dir or Path.cwd(), format_version=document["version"])
    patch.settings = _read_settings(document.get("settings", {}), problems)
    unusable = _read_body(document, patch, problems, reading)
    _read_presets(document.get("presets", {}), patch, problems, unusable)
    _read_mappings(document.get("mappings", []), patch, problems, unusable)
    # Every node and link read so far is sound (the others were left out), so the loops among
    # them are reported with the other problems, not after they are fixed; a loop may pass
    # into a subpatch and out again, so they are looked for in the flattened patch.
    if not reading.prefix:
        problems += _loop_problems(patch)
    if problems:
        raise PatchError(problems, source)
    return patch


def _key_problems(document: dict[str, Any]) -> list[str]:
    problems = [
        f"unknown top-level key {quote(key)}{did_you_mean(key, sorted(TOP_LEVEL_KEYS))}"
        for key in sorted(set(document) - TOP_LEVEL_KEYS)
    ]
    if document["version"] < 2:
        problems += [
            f"{quote(key)} needs format version 2 (this file says version {document['version']})"
            for key in sorted(VERSION_2_KEYS & set(document))
        ]
    return problems


def _loop_problems(patch: Patch) -> list[str]:
    try:
        return cycle_problems(flatten(patch))
    except PatchError as error:
        return error.problems


def _version_problem(version: Any) -> str | None:
    """The version names a format, as ``format`` does: it must be an integer written as one.
    ``true`` and ``1.0`` equal 1 in Python but are not what patcher writes; taking them would
    let a file pass here that another reader of the format refuses."""
    readable = " and ".join(str(known) for known in READABLE_VERSIONS)
    if type(version) is int and version in READABLE_VERSIONS:
        return None
    if type(version) in (bool, float) and version in READABLE_VERSIONS:
        written = json.dumps(version)
        return f'version must be written "version": {int(version)}, not {written}'
    if type(version) is int and version > FORMAT_VERSION:
        return (
            f"this patch is format version {version}, made by a newer patcher; this patcher reads "
            f"versions {readable}: update patcher to open it"
        )
    return f"unsupported version {quote(version)}; this patcher reads versions {readable}"


def _read_body(document: dict[str, Any], patch: Patch, problems: list[str], reading: _Reading) -> set[str]:
    """Read what a top-level document and an embedded subpatch both hold into ``patch``;
    return the ids of nodes with a problem of their own."""
    description = document.get("description", "")
    if isinstance(description, str):
        patch.description = description
    else:
        problems.append(f"{_in(reading)}description must be text")
    unusable = _read_nodes(document.get("nodes", []), patch, problems, reading)
    before = len(problems)
    _read_links(document.get("links", []), patch, problems, unusable)
    if reading.prefix:  # a link's message names its ends; say which subpatch they are in
        problems[before:] = [_in(reading) + problem for problem in problems[before:]]
    _read_published(document.get("published", {}), patch, problems, unusable, reading)
    _read_comments(document.get("comments", []), patch, problems, reading)
    return unusable


def _in(reading: _Reading) -> str:
    """``in subpatch 'voice': `` to start a message about something inside one."""
    return f"in subpatch {quote(reading.prefix.rstrip('/'))}: " if reading.prefix else ""


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


def _read_nodes(raw: Any, patch: Patch, problems: list[str], reading: _Reading) -> set[str]:
    """Read every node into ``patch``; return the ids of nodes with a problem of their own."""
    unusable: set[str] = set()
    if not isinstance(raw, list):
        problems.append(f"{_in(reading)}nodes must be a list")
        return unusable
    for index, entry in enumerate(raw):
        node = _read_node(index, entry, problems, patch.base_dir, reading)
        if node is None:
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                unusable.add(entry["id"])
            continue
        if node.id in patch.nodes:
            problems.append(
                f"node {quote(reading.prefix + node.id)}: duplicate id (node #{index + 1} reuses it)"
            )
            continue
        patch.nodes[node.id] = node
    return unusable


def _read_node(
    index: int, entry: Any, problems: list[str], base_dir: Path, reading: _Reading
) -> NodeData | None:
    where = f"{_in(reading)}node #{index + 1}"
    if not isinstance(entry, dict):
        problems.append(f"{where}: expected an object")
        return None
    node_id = entry.get("id")
    if not isinstance(node_id, str) or not NODE_ID_PATTERN.fullmatch(node_id):
        problems.append(
            f"{where}: id {quote(node_id)} must be text starting with a letter (letters, digits, _ or -)"
        )
        return None
    where = f"node {quote(reading.prefix + node_id)}"
    type_name = entry.get("type")
    known = SUBPATCH_KEYS if type_name in HOLDER_TYPES else NODE_KEYS
    for key in sorted(set(entry) - known):
        problems.append(f"{where}: unknown key {quote(key)}{did_you_mean(key, sorted(known))}")
    cls = node_class(type_name) if isinstance(type_name, str) else None
    if cls is None:
        problems.append(f"{where}: {unknown_type_problem(type_name)}")
        return None
    node = NodeData(node_id, type_name, {})
    if type_name in HOLDER_TYPES:
        inner_reading = dataclasses.replace(reading, prefix=f"{reading.prefix}{node_id}/")
        node.inner, node.file = _read_subpatch(where, entry, base_dir, problems, inner_reading, type_name)
        if node.inner is None:
            return None
        check = getattr(cls, "inner_problem", None)  # what a poly asks of its voice
        problem = check(node.inner) if check is not None else None
        if problem:
            problems.append(f"{where} ({node.label}): {problem}")
            return None
    node.params = _read_params(where, node.spec, entry.get("params", {}), problems, node.label)
    node.position = _read_position(where, entry.get("position", [0, 0]), problems)
    return node


def _read_subpatch(
    where: str,
    entry: dict[str, Any],
    base_dir: Path,
    problems: list[str],
    reading: _Reading,
    type_name: str = "subpatch",
) -> tuple[Patch | None, str]:
    """A subpatch's (or a poly's voice's) patch (None if it has problems, which are reported)
    and its file."""
    if ("patch" in entry) == ("file" in entry):
        which = "both" if "patch" in entry else "neither"
        problems.append(
            f"{where} ({type_name}): give 'patch' (embedded) or 'file' (an abstraction), not {which}"
        )
        return None, ""
    if "file" in entry:
        file = entry["file"]
        if not isinstance(file, str) or not file:
            problems.append(f"{where} ({type_name}): file must name a patch file, got {quote(file)}")
            return None, ""
        return _read_abstraction(
            f"{where} ({type_name} {excerpt(file, PATH_LIMIT)})", file, base_dir, problems, reading
        ), file
    raw = entry["patch"]
    if not isinstance(raw, dict):
        problems.append(f"{where} ({type_name}): patch must be an object holding nodes and links")
        return None, ""
    before = len(problems)
    problems += [
        f"{where} ({type_name}): unknown key {quote(key)} in its patch{did_you_mean(key, sorted(INNER_KEYS))}"
        for key in sorted(set(raw) - INNER_KEYS)
    ]
    inner = Patch(base_dir=base_dir)
    _read_body(raw, inner, problems, reading)
    return (inner if len(problems) == before else None), ""


def _read_abstraction(
    where: str, file: str, base_dir: Path, problems: list[str], reading: _Reading
) -> Patch | None:
    """The abstraction ``file`` as a fresh patch of its own, or None (its problems reported)."""
    if leaves_folder(file) and not reading.allow_outside_files:  # refused from its name alone
        problems.append(
            f"{where}: the abstraction is outside the patch's folder; a patch reads only files in its "
            f"own folder and the library unless you allow others ({ALLOW_FLAG})"
        )
        return None
    if reading.packed_root is not None:
        return _read_packed_abstraction(where, file, base_dir, problems, reading)
    found = find_abstraction(file, base_dir)
    if found is None:
        problems.append(f"{where}: no such abstraction (looked in {where_looked(file, base_dir)})")
        return None
    return _read_found(where, found[0], file, problems, reading)


def _read_packed_abstraction(
    where: str, file: str, base_dir: Path, problems: list[str], reading: _Reading
) -> Patch | None:
    """An abstraction of a packed patch: in its folder, judged by its name before any lookup."""
    assert reading.packed_root is not None
    # Made absolute as the root is: an archive unpacked into a relative folder was refused.
    candidate = Path(os.path.normpath(os.path.join(Path(base_dir).resolve(), file)))
    if "\0" in file or not candidate.is_relative_to(reading.packed_root) or not candidate.is_file():
        problems.append(
            f"{where}: abstraction {excerpt(file, PATH_LIMIT)} is not in the archive; a packed patch "
            "reads only the files packed with it"
        )
        return None
    return _read_found(where, candidate, file, problems, reading)


def _read_found(where: str, found: Path, file: str, problems: list[str], reading: _Reading) -> Patch | None:
    path = found.resolve()
    chain = [resolved for resolved, _shown in reading.chain]
    if path in chain:
        names = [shown for _resolved, shown in reading.chain[chain.index(path) :]] + [file]
        problems.append(f"{where}: a patch includes itself: {' -> '.join(excerpt(n, 80) for n in names)}")
        return None
    if path not in reading.cache:
        inner = _load_abstraction(where, found, file, problems, reading)
        if inner is None:
            return None
        reading.cache[path] = inner
    return copy.deepcopy(reading.cache[path])


def _load_abstraction(
    where: str, path: Path, file: str, problems: list[str], reading: _Reading
) -> Patch | None:
    nested = dataclasses.replace(reading, chain=(*reading.chain, (path.resolve(), file)))
    try:
        text = path.read_text(encoding="utf-8")
        inner = loads(text, file, path.resolve().parent, reading.allow_outside_files, _reading=nested)
    except (OSError, UnicodeDecodeError) as error:
        problems.append(f"{where}: cannot read it: {getattr(error, 'strerror', None) or error}")
        return None
    except PatchError as error:
        problems += [f"{where}: {problem}" for problem in error.problems]
        return None
    inner.path = path.resolve()
    return inner


def _read_params(where: str, cls: Any, raw: Any, problems: list[str], label: str) -> dict[str, Any]:
    params = {name: p.default for name, p in cls.PARAMS.items()}
    if not isinstance(raw, dict):
        problems.append(f"{where}: params must be an object")
        return params
    for name, value in raw.items():
        param = cls.PARAMS.get(name)
        if param is None:
            problems.append(f"{where} ({label}): {unknown_param_problem(cls, name)}")
            continue
        problem = param.check(value)
        if problem:
            problems.append(f"{where} ({label}): param {quote(name)}: {problem}")
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
        if link is None:
            continue
        if {link.source.node, link.target.node} & unusable:  # that node's problem is listed:
            missing = missing_ends(patch, link, unusable)  # only a missing other end is news
            if missing:
                problems.append(f"link {link_text(link)}: " + "; ".join(missing))
            continue
        problem = link_problem(patch, link)
        if problem:
            problems.append(problem)
        else:
            patch.links.append(link)


def _read_published(
    raw: Any, patch: Patch, problems: list[str], unusable: set[str], reading: _Reading
) -> None:
    if not isinstance(raw, dict):
        problems.append(f"{_in(reading)}published must be an object of name: 'node.param'")
        return
    for name, target in raw.items():
        if isinstance(target, str) and target.rpartition(".")[0] in unusable:
            continue  # the node's own problem is reported
        problem = publish_problem(patch, name, target)
        if problem:
            problems.append(_in(reading) + problem)
        else:
            patch.published[name] = PortRef.parse(target)


def _read_comments(raw: Any, patch: Patch, problems: list[str], reading: _Reading) -> None:
    if not isinstance(raw, list):
        problems.append(f"{_in(reading)}comments must be a list")
        return
    for index, entry in enumerate(raw):
        where = f"{_in(reading)}comment #{index + 1}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected an object with a 'text'")
            continue
        for key in sorted(set(entry) - COMMENT_KEYS):
            problems.append(f"{where}: unknown key {quote(key)}{did_you_mean(key, sorted(COMMENT_KEYS))}")
        problem = comment_problem(entry.get("text"))
        if problem:
            problems.append(f"{where}: {problem}")
        position = _read_position(where, entry.get("position", [0, 0]), problems)
        size = _read_size(where, entry.get("size"), problems)
        if not problem:
            patch.comments.append(Comment(entry["text"], position, size))


def _read_size(where: str, raw: Any, problems: list[str]) -> tuple[float, float] | None:
    if raw is None:
        return None
    ok = isinstance(raw, list) and len(raw) == 2 and all(_is_coordinate(v) for v in raw)
    if not ok or not all(0 < v <= COMMENT_SIZE_LIMIT for v in raw):
        problems.append(
            f"{where}: size must be [width, height], two numbers above 0 and up to "
            f"{COMMENT_SIZE_LIMIT:g}, got {quote(raw)}"
        )
        return None
    return (float(raw[0]), float(raw[1]))


def _read_presets(raw: Any, patch: Patch, problems: list[str], unusable: set[str]) -> None:
    if not isinstance(raw, dict):
        problems.append("presets must be an object of name: {node: {param: value}}")
        return
    for name, values in raw.items():
        problem = preset_name_problem(name)
        if problem:
            problems.append(problem)
            continue
        where = f"preset {quote(name)}"
        if not isinstance(values, dict):
            problems.append(f"{where}: expected an object of node: {{param: value}}")
            continue
        preset: dict[str, dict[str, Any]] = {}
        for node_id, params in values.items():
            if node_id not in unusable:
                _read_preset_node(where, node_id, params, patch, preset, problems)
        patch.presets[name] = preset


def _read_preset_node(
    where: str, node_id: Any, raw: Any, patch: Patch, preset: dict[str, dict[str, Any]], problems: list[str]
) -> None:
    node = patch.nodes.get(node_id)
    if node is None:
        problems.append(f"{where}: no node {quote(node_id)}{did_you_mean(node_id, patch.nodes)}")
        return
    where = f"{where}: node {quote(node_id)} ({node.label})"
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected an object of param: value")
        return
    for name, value in raw.items():
        param = node.spec.PARAMS.get(name)
        if param is None:
            problems.append(f"{where}: {unknown_param_problem(node.spec, name)}")
        elif param.kind not in PRESET_KINDS:
            problems.append(f"{where}: param {quote(name)}: a preset holds numbers, switches and choices")
        elif problem := param.check(value):
            problems.append(f"{where}: param {quote(name)}: {problem}")
        else:
            preset.setdefault(node_id, {})[name] = param.coerce(value)


def _read_mappings(raw: Any, patch: Patch, problems: list[str], unusable: set[str]) -> None:
    if not isinstance(raw, list):
        problems.append(
            'mappings must be a list of {"param": "node.param", "midi_cc": N} or {..., "osc": "/address"}'
        )
        return
    for index, entry in enumerate(raw):
        mapping = _read_mapping(f"mapping #{index + 1}", entry, patch, problems, unusable)
        if mapping is not None:
            patch.mappings.append(mapping)


def _read_mapping(
    where: str, entry: Any, patch: Patch, problems: list[str], unusable: set[str]
) -> ControlMapping | None:
    if not isinstance(entry, dict) or "param" not in entry or ("midi_cc" in entry) == ("osc" in entry):
        problems.append(
            f'{where}: expected an object with "param" and either "midi_cc" (and "channel") or "osc"'
        )
        return None
    allowed = MIDI_MAPPING_KEYS if "midi_cc" in entry else OSC_MAPPING_KEYS
    extra = sorted(set(entry) - allowed)
    if extra:
        problems.append(f"{where}: unknown key {quote(extra[0])}{did_you_mean(extra[0], sorted(allowed))}")
        return None
    target = entry["param"]
    problem = mapped_param_problem(patch, target, unusable)
    if problem is None and "osc" in entry:
        problem = osc_address_problem(entry["osc"])
    if problem is None and "midi_cc" in entry:
        problem = _midi_problem(entry["midi_cc"], entry.get("channel"))
    if problem is not None:
        if problem:  # empty: the node has a problem of its own, already listed
            problems.append(f"{where}: {problem}")
        return None
    return ControlMapping(target, entry.get("midi_cc"), entry.get("channel"), entry.get("osc"))


def mapped_param_problem(patch: Patch, target: Any, unusable: set[str] = frozenset()) -> str | None:
    """Why ``target`` (``"node.param"``) cannot be played from outside, or None."""
    if not isinstance(target, str) or "." not in target:
        return f'"param" must name a node\'s param as "node.param", got {quote(target)}'
    node_id, _, name = target.rpartition(".")
    if node_id.split("/")[0] in unusable:
        return ""
    try:
        _owner, node = patch.owner(node_id)
    except PatchError:
        return f"no node {quote(node_id)}{did_you_mean(node_id, patch.nodes)} for {quote(target)}"
    param = node.spec.PARAMS.get(name)
    if param is None:
        return f"node {quote(node_id)} ({node.label}): {unknown_param_problem(node.spec, name)}"
    if param.kind not in MAPPABLE_KINDS:
        return f"param {quote(target)} is not a number: only numbers can be mapped to a CC or an OSC address"
    return None


def osc_address_problem(address: Any) -> str | None:
    if not isinstance(address, str) or not address.startswith("/") or len(address) > PATH_LIMIT:
        return f'"osc" must be an OSC address such as "/patcher/lp/cutoff_hz", got {quote(address)}'
    if any(char in address for char in " #*,?[]{}") or not address.isprintable():
        return f"OSC address {quote(address)} holds a character OSC reserves (space # * , ? [ ] {{ }})"
    return None


def _midi_problem(cc: Any, channel: Any) -> str | None:
    if type(cc) is not int or not 0 <= cc <= 127:
        return f'"midi_cc" must be a controller number 0..127, got {quote(cc)}'
    if channel is not None and (type(channel) is not int or not 1 <= channel <= 16):
        return f'"channel" must be a MIDI channel 1..16 (leave it out for any channel), got {quote(channel)}'
    return None


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
    """The patch as a document: nodes sorted by id, links sorted, params in spec order; the
    keys version 2 added only when they hold something."""
    settings = patch.settings
    document: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "description": patch.description,
        "settings": {
            "sample_rate": settings.sample_rate,
            "block_size": settings.block_size,
            "duration_s": settings.duration_s,
        },
    }
    document.update(_body(patch))
    presets = _presets_dict(patch)
    if presets:
        document["presets"] = presets
    if patch.mappings:
        document["mappings"] = [mapping.to_json() for mapping in patch.mappings]
    return document


def _body(patch: Patch) -> dict[str, Any]:
    """Nodes, links, comments and published params: a document's, or an embedded subpatch's."""
    body: dict[str, Any] = {
        "nodes": [_node_dict(patch.nodes[node_id]) for node_id in sorted(patch.nodes)],
        "links": [{"from": str(ln.source), "to": str(ln.target)} for ln in sorted(patch.links)],
    }
    if patch.comments:
        body["comments"] = [_comment_dict(comment) for comment in patch.comments]
    if patch.published:
        body["published"] = {name: str(ref) for name, ref in patch.published.items()}
    return body


def _comment_dict(comment: Comment) -> dict[str, Any]:
    entry: dict[str, Any] = {"text": comment.text, "position": list(comment.position)}
    if comment.size is not None:
        entry["size"] = list(comment.size)
    return entry


def _presets_dict(patch: Patch) -> dict[str, Any]:
    """The presets, without values of nodes or params that have gone since they were stored."""
    presets: dict[str, Any] = {}
    for name, values in patch.presets.items():
        kept: dict[str, dict[str, Any]] = {}
        for node_id, params in values.items():
            node = patch.nodes.get(node_id)
            spec_params = node.spec.PARAMS if node is not None else {}
            for key, value in params.items():
                if key in spec_params and spec_params[key].kind in PRESET_KINDS:
                    kept.setdefault(node_id, {})[key] = value
        presets[name] = kept
    return presets


def _node_dict(node: NodeData) -> dict[str, Any]:
    order = list(node.spec.PARAMS)
    params = {name: node.params[name] for name in order if name in node.params}
    entry: dict[str, Any] = {"id": node.id, "type": node.type}
    if node.file:
        entry["file"] = node.file
    entry.update(params=params, position=list(node.position))
    if node.inner is not None and not node.file:
        inner = _body(node.inner)
        entry["patch"] = {"description": node.inner.description, **inner} if node.inner.description else inner
    return entry


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


def save(patch: Patch, path: str | Path) -> list[str]:
    """Write atomically: a temporary file in the same folder, then a rename over the target.
    File params are written relative to the file's folder (:func:`patcher.files.as_saved_in`).
    Returns notes for the user: a patch read from an older format version says it is now
    written in this one (which older patchers cannot open), once."""
    path = Path(path)
    text = dumps(as_saved_in(patch, path.resolve().parent))
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    notes = []
    if patch.format_version < FORMAT_VERSION:
        notes.append(
            f"{excerpt(path, PATH_LIMIT)} was format version {patch.format_version} and is saved as "
            f"version {FORMAT_VERSION}: a patcher older than version {FORMAT_VERSION} cannot open it"
        )
        patch.format_version = FORMAT_VERSION
    return notes
