"""Node documentation generated from the specs: the terminal table, one type's help page, and
the Markdown reference (docs/nodes.md)."""

from __future__ import annotations

import contextlib
import json
import textwrap
from pathlib import Path

from patcher.spec import Node, Param, registry
from patcher.text import PATH_LIMIT, excerpt, first_few

#: The example patches (in a source checkout; an installed package may have none).
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "patches"
#: The narrowest and widest the terminal text is laid out for (prose wider than 100 columns
#: is hard to read, whatever the terminal).
MIN_WIDTH, MAX_WIDTH = 60, 100
#: A long list of choices wraps rather than widen every row of the table.
RANGE_WIDTH = 32


def _by_family() -> list[type[Node]]:
    return sorted(registry().values(), key=lambda cls: (cls.FAMILY, cls.TYPE))


def _default(param: Param) -> str:
    if param.kind == "table":
        return f"[{len(param.default)} values]"
    if param.kind == "path":
        return repr(param.default) if param.default else "(none)"
    if isinstance(param.default, bool):
        return "true" if param.default else "false"
    return f"{param.default:g}" if isinstance(param.default, float) else str(param.default)


def _ports(cls: type[Node]) -> str:
    inputs = ", ".join(cls.INPUTS) or "-"
    outputs = ", ".join(cls.OUTPUTS) or "-"
    return f"in: {inputs}   out: {outputs}"


def _fit(width: int) -> int:
    return max(MIN_WIDTH, min(MAX_WIDTH, width))


def _prose(text: str, width: int, indent: str = "  ") -> list[str]:
    lines = textwrap.wrap(
        text,
        width,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return lines or [indent.rstrip()]


def _columns(rows: list[tuple[str, ...]], widths: list[int], indent: str = "  ") -> list[str]:
    """Rows of cells aligned in columns; a cell longer than its column wraps within it (a long
    list of choices breaks after a ``|``), the other cells of its row on its first line."""
    lines = []
    for row in rows:
        cells = [
            textwrap.wrap(cell, width, break_on_hyphens=False) or [""]
            for cell, width in zip(row, widths, strict=True)
        ]
        for depth in range(max(len(cell) for cell in cells)):
            parts = [
                (cell[depth] if depth < len(cell) else "").ljust(width)
                for cell, width in zip(cells, widths, strict=True)
            ]
            lines.append((indent + "  ".join(parts)).rstrip())
    return lines


def node_table(width: int = 80) -> str:
    """Every node type with its ports and params, as plain text at most ``width`` columns wide
    (60 to 100); each param's doc is on its type's own page (:func:`node_help`)."""
    width = _fit(width)
    headers = ("param", "range", "default", "unit", "~")
    params = [(name, p) for cls in registry().values() for name, p in cls.PARAMS.items()]
    name_width = max(len(headers[0]), *(len(name) for name, _p in params))
    default_width = max(len(headers[2]), *(len(_default(p)) for _name, p in params))
    unit_width = max(len(headers[3]), *(len(p.unit or "-") for _name, p in params))
    room = width - len("  ") - name_width - default_width - unit_width - 1 - 4 * len("  ")
    range_width = min(room, RANGE_WIDTH, max(len(p.describe_range()) for _name, p in params))
    widths = [name_width, range_width, default_width, unit_width, 1]
    lines = []
    for cls in _by_family():
        lines += textwrap.wrap(f"{cls.TYPE}  [{cls.FAMILY}]  {cls.DOC}", width, subsequent_indent="  ")
        lines.append(f"  {_ports(cls)}")
        rows = [
            (name, p.describe_range(), _default(p), p.unit or "-", "~" if p.modulatable else "")
            for name, p in cls.PARAMS.items()
        ]
        if rows:
            lines += _columns([headers, *rows], widths)
        lines.append("")
    lines += textwrap.wrap(
        "~ marks a modulatable param: link a signal to the port of the same name; it is added to "
        "the set value. `patcher nodes TYPE` shows a type's params with their docs, and the "
        "example patches that use it.",
        width,
    )
    return "\n".join(lines) + "\n"


def node_help(cls: type[Node], width: int = 80, examples_dir: Path = EXAMPLES_DIR) -> str:
    """One node type's page, as Pd's help patch or ``man``: its doc, ports, params with their
    ranges, defaults and docs, and the example patches that use it."""
    width = _fit(width)
    lines = [f"{cls.TYPE}  [{cls.FAMILY}]", *_prose(cls.DOC, width), "", f"  {_ports(cls)}"]
    modulatable = [name for name, p in cls.PARAMS.items() if p.modulatable]
    if modulatable:
        lines += _prose(
            f"~ modulatable, also an input port (a linked signal is added to the set value): "
            f"{', '.join(modulatable)}",
            width,
        )
    if cls.READ_OUTPUTS:
        closes = " or ".join(repr(port) for port in cls.READ_OUTPUTS)
        lines += _prose(f"a feedback loop may pass through {closes} (it reads the node's memory)", width)
    if cls.PARAMS:
        rows = [("param", "range", "default")] + [
            (
                name + (" ~" if p.modulatable else ""),
                p.describe_range() + (f" {p.unit}" if p.unit else "") + (", log" if p.scale == "log" else ""),
                _default(p),
            )
            for name, p in cls.PARAMS.items()
        ]
        name_width = max(len(row[0]) for row in rows)
        default_width = max(len(row[2]) for row in rows)
        room = width - len("  ") - name_width - default_width - 2 * len("  ")
        widths = [name_width, min(room, RANGE_WIDTH, max(len(row[1]) for row in rows)), default_width]
        lines.append("")
        lines += _columns(rows[:1], widths)
        for row, param in zip(rows[1:], cls.PARAMS.values(), strict=True):
            lines += _columns([row], widths)
            lines += _prose(param.doc, width, " " * 6)
    lines.append("")
    lines += _examples_text(cls.TYPE, examples_dir, width)
    return "\n".join(lines) + "\n"


def examples_using(type_name: str, examples_dir: Path = EXAMPLES_DIR) -> list[tuple[Path, list[str]]]:
    """The example patches with nodes of ``type_name``, and those nodes' ids (read as JSON,
    not validated: a help page must not fail on a broken example)."""
    found = []
    for path in sorted(examples_dir.glob("*.json")):
        try:
            nodes = json.loads(path.read_text(encoding="utf-8")).get("nodes", [])
            ids = sorted(str(node["id"]) for node in nodes if node.get("type") == type_name)
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            continue
        if ids:
            found.append((path, ids))
    return found


def _examples_text(type_name: str, examples_dir: Path, width: int) -> list[str]:
    found = examples_using(type_name, examples_dir)
    if not found:
        return _prose(f"no example patch in {_shown(examples_dir)} uses a {type_name}", width, "")
    lines = ["examples:"]
    for path, ids in found:
        lines += textwrap.wrap(
            f"{_shown(path)}  ({first_few(ids)})", width, initial_indent="  ", subsequent_indent="      "
        )
    lines.append(f"open one: patcher edit {_shown(found[0][0])}")
    return lines


def _shown(path: Path) -> str:
    """A path as the user would type it from here (relative below the current folder), made
    visible: an example patch is a file like any other."""
    with contextlib.suppress(ValueError, OSError):
        path = path.resolve().relative_to(Path.cwd().resolve())
    return excerpt(path, PATH_LIMIT)


def _markdown_section(cls: type[Node]) -> list[str]:
    lines = [f"## `{cls.TYPE}` ({cls.FAMILY})", "", cls.DOC, "", f"Ports — {_ports(cls)}", ""]
    if cls.PARAMS:
        lines += ["| param | range | default | unit | mod | doc |", "|---|---|---|---|---|---|"]
        for name, p in cls.PARAMS.items():
            cells = (name, p.describe_range(), _default(p), p.unit, "~" if p.modulatable else "", p.doc)
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return lines


def node_reference_markdown() -> str:
    """The README's node reference (docs/nodes.md), one section per node type."""
    lines = [
        "# Node reference",
        "",
        "Generated from the node specs by `patcher nodes --markdown`; do not edit by hand.",
        "A modulatable param (~) is also an input port: a linked signal is added to its set value.",
        "",
    ]
    for cls in _by_family():
        lines += _markdown_section(cls)
    return "\n".join(lines)


def node_markdown(cls: type[Node]) -> str:
    """One node type's section of the reference."""
    return "\n".join(_markdown_section(cls))
