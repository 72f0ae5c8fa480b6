"""The node library: one module per family; importing this package registers every type."""

from nodes import (
    control,
    convolution,
    delays,
    dynamics,
    envelopes,
    filters,
    io,
    mixing,
    modulators,
    poly,
    scopes,
    sequencing,
    shapers,
    sources,
    subpatch,
)

__all__ = [
    "control",
    "convolution",
    "delays",
    "dynamics",
    "envelopes",
    "filters",
    "io",
    "mixing",
    "modulators",
    "poly",
    "scopes",
    "sequencing",
    "shapers",
    "sources",
    "subpatch",
]
