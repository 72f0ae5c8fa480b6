"""Node documentation generated from the specs: the terminal table and the Markdown reference."""

from __future__ import annotations

from patcher.spec import Node, Param, registry


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


def node_table() -> str:
    """Every node type with its ports and params, as aligned plain text."""
    lines = []
    for cls in _by_family():
        lines.append(f"{cls.TYPE}  [{cls.FAMILY}]  {cls.DOC}")
        lines.append(f"  {_ports(cls)}")
        rows = [
            (name, p.describe_range(), _default(p), p.unit or "-", "~" if p.modulatable else "", p.doc)
            for name, p in cls.PARAMS.items()
        ]
        if rows:
            headers = ("param", "range", "default", "unit", "mod", "doc")
            widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(5)]
            for row in [headers, *rows]:
                cells = [str(cell).ljust(width) for cell, width in zip(row[:5], widths, strict=True)]
                lines.append("  " + "  ".join(cells) + "  " + row[5])
        lines.append("")
    lines.append("~ marks a modulatable param: link a signal to the port of the same name; it is added")
    lines.append("  to the set value.")
    return "\n".join(lines) + "\n"


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
        lines += [f"## `{cls.TYPE}` ({cls.FAMILY})", "", cls.DOC, "", f"Ports — {_ports(cls)}", ""]
        if cls.PARAMS:
            lines += ["| param | range | default | unit | mod | doc |", "|---|---|---|---|---|---|"]
            for name, p in cls.PARAMS.items():
                cells = (name, p.describe_range(), _default(p), p.unit, "~" if p.modulatable else "", p.doc)
                lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
            lines.append("")
    return "\n".join(lines)
