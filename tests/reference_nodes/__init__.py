"""The nodes' earlier pure-numpy DSP, kept as references for their compiled kernels.

Each module subclasses a node type (with no ``TYPE`` of its own, so it does not register)
and overrides its DSP with the numpy code it had before its kernel: the tests run both on
the same signals and compare, and ``reference_registry`` swaps them in for a whole render.
"""


def reference_registry() -> dict[str, type]:
    """Every node type's numpy reference, by type name."""
    from tests.reference_nodes import (
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

    references: dict[str, type] = {}
    modules = (control, convolution, delays, dynamics, envelopes, filters, io, mixing, modulators)
    for module in (*modules, poly, scopes, sequencing, shapers, sources, subpatch):
        references.update(module.REFERENCES)
    return references
