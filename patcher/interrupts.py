"""A stop asked for by a signal (SIGTERM, Ctrl+C), seen even where its exception is lost.

A signal handler that raises KeyboardInterrupt loses it when the signal lands in a callback
from C: numba loading or compiling a kernel calls one ("Exception ignored on calling ctypes
callback function"), and the render went on. So the handler also sets a flag here, and a render looks
at it before each block (it then stops, and removes its half-written file).
"""

from __future__ import annotations


class _Stop:
    requested = False


def request_stop() -> None:
    """From a signal handler: the render under way stops before its next block."""
    _Stop.requested = True


def stop_requested() -> bool:
    return _Stop.requested
