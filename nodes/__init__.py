"""The node library: one module per family; importing this package registers every type."""

from nodes import (
    control,
    convolution,
    delays,
    filters,
    io,
    mixing,
    modulators,
    scopes,
    shapers,
    sources,
    subpatch,
)

__all__ = [
    "control",
    "convolution",
    "delays",
    "filters",
    "io",
    "mixing",
    "modulators",
    "scopes",
    "shapers",
    "sources",
    "subpatch",
]
