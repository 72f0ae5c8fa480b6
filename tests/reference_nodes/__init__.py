"""The nodes' earlier pure-numpy DSP, kept as references for their compiled kernels.

Each module subclasses a node type (with no ``TYPE`` of its own, so it does not register)
and overrides its DSP with the numpy code it had before its kernel: the tests run both on
the same signals and compare, and ``reference_registry`` swaps them in for a whole render.
"""
