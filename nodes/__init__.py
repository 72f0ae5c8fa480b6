"""The node library: one module per family; importing this package registers every type."""

from nodes import convolution, delays, filters, io, mixing, modulators, scopes, shapers, sources, subpatch

__all__ = [
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
