"""Compiled calls: a block's nodes run from one call into compiled code, not one Python call each.

Calling a numba kernel from Python costs about 0.1 µs per argument (numba reads each one's
type) on top of the ``process`` method around it: 1-2 µs a node, while its arithmetic for a
block of 64 takes well under one. So a node may also offer its kernel through an *entry*: a
kernel of one uniform signature, ``entry(arrays, ints, floats)``, which unpacks those and calls
the node's own kernel with them. A :class:`Program` holds one entry per call of a block, each
with the arrays (buffers and state), integers and floats it was made with, and runs them in
order from one compiled loop: the crossing into compiled code is paid once per block, not per
node (numba's first-class functions: each entry is called through its address).

Entries are made off the block loop's hot path (a param change, a glide's end makes its node's
again) and bind the very arrays the node's kernel would be handed: the node keeps all of its
changing state in those arrays, never in Python attributes, so running it here or through
``process`` gives the same samples.
"""

from __future__ import annotations

import collections
import functools
import threading
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numba
import numpy as np
from numba import types
from numba.core.errors import NumbaExperimentalFeatureWarning
from numba.experimental.function_type import _get_wrapper_address
from numba.typed import List

from patcher.kernels import all_finite_flat, kernel

# numba marks first-class functions experimental (they have been since 0.49); this module
# relies on them as they are, tested in tests/test_compiled.py.
warnings.filterwarnings("ignore", category=NumbaExperimentalFeatureWarning)

ARRAY = types.float64[::1]
ARRAYS = types.ListType(ARRAY)
SIGNATURE = types.void(ARRAYS, types.int64[::1], types.float64[::1])
FUNCTION = types.FunctionType(SIGNATURE)
ENTRY = types.Tuple((FUNCTION, ARRAYS, types.int64[::1], types.float64[::1]))

#: What a program's slot does: run its entry, stop for a Python call, nothing (the rest of a
#: group that runs by Python), or stop only if its entry's first array is not all finite
#: (Python then finds the culprit, and the program goes on after it).
COMPILED, STOP, SKIP, CHECK = 0, 1, 2, 3


def entry(arrays: int, ints: int = 0, floats: int = 0) -> Callable[[Callable[..., None]], Any]:
    """A compiled kernel of the entry signature (``arrays``, ``ints``, ``floats``), taking that
    many of each: a node's arguments that split otherwise (a float setting that came as an
    int, say) run through ``process``, never an entry reading past what it was given."""

    def compile_entry(function: Callable[..., None]) -> Any:
        compiled = kernel(function)
        compiled.counts = (arrays, ints, floats)
        return compiled

    return compile_entry


Argument = np.ndarray | int | float | bool
#: The most arrays an entry takes (a kernel with more is called through ``process``).
MAX_ARRAYS = 16
NO_INTS = np.zeros(0, dtype=np.int64)
NO_FLOATS = np.zeros(0)


@entry(arrays=1)
def _nothing(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    """A slot's entry before it is made."""


class _Address(numba.core.types.WrapperAddressProtocol):
    """An entry's compiled address, as numba takes a first-class function."""

    def __init__(self, function: Any) -> None:
        self.address = _get_wrapper_address(function, SIGNATURE)

    def __wrapper_address__(self) -> int:
        return self.address

    def signature(self) -> Any:
        return SIGNATURE


class _Functions:
    """Every entry used so far, by number, in one compiled list: a program's slot is made by
    number (telling numba a function's type from Python costs 7 µs; a number costs nothing)."""

    def __init__(self) -> None:
        self.numbers: dict[Any, int] = {}
        self._functions: Any = None
        self.adding = threading.RLock()

    @property
    def functions(self) -> Any:
        """The compiled list, made on first use (``_nothing`` is its first)."""
        if self._functions is None:
            with self.adding:
                if self._functions is None:  # published whole: another thread reads it unlocked
                    functions = _new_functions()
                    _append_function(functions, _Address(_nothing))
                    self.numbers[_nothing] = 0
                    self._functions = functions
        return self._functions

    def number(self, function: Any) -> int:
        number = self.numbers.get(function)
        if number is None:
            with self.adding:  # one at a time: a number is the function's place in the list
                number = self.numbers.get(function)
                if number is None:
                    functions = self.functions
                    _append_function(functions, _Address(function))
                    number = self.numbers[function] = len(self.numbers)
        return number


FUNCTIONS = _Functions()


def split(arguments: Iterable[Argument]) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray] | None:
    """A kernel's arguments as an entry takes them: its arrays, integers (a bool is 0 or 1) and
    floats, each kind in order; None if one is of another kind (a string, a read-only or
    strided array) or there are more than ``MAX_ARRAYS`` arrays: that node is called through
    ``process``.

    Every array travels as a flat float64 array: one of int64 as its bits (the entry views it
    back, ``.view(np.int64)``), one of more dimensions flat (the entry reshapes it)."""
    arrays: list[np.ndarray] = []
    ints: list[int] = []
    floats: list[float] = []
    for argument in arguments:
        if isinstance(argument, np.ndarray):
            flags = argument.flags
            if argument.dtype not in _ARRAY_TYPES or not flags.c_contiguous or not flags.writeable:
                return None
            arrays.append(argument.reshape(-1).view(np.float64))
        elif isinstance(argument, bool | int | np.integer):
            ints.append(int(argument))
        elif isinstance(argument, float | np.floating):
            floats.append(float(argument))
        else:
            return None
    if len(arrays) > MAX_ARRAYS:
        return None
    return tuple(arrays), np.array(ints, dtype=np.int64), np.array(floats, dtype=np.float64)


_ARRAY_TYPES = (np.dtype(np.float64), np.dtype(np.int64))


def takes(function: Any, arrays: tuple[np.ndarray, ...], ints: np.ndarray, floats: np.ndarray) -> bool:
    """Whether the entry ``function`` takes as many arrays, integers and floats as these."""
    return bool(function.counts == (len(arrays), len(ints), len(floats)))


class Program:
    """A fixed number of slots, each an entry to run, a stop (Python runs something there, and
    the program goes on after it) or nothing. Slots change in place: a program is made once
    per schedule, off the audio thread (where its compiled parts are loaded, so that making a
    slot on the audio thread costs microseconds)."""

    def __init__(self, slots: int, functions: Iterable[Any] = ()) -> None:
        """``slots`` slots, each a stop until it is set; ``functions``: the entries it may be
        given (each loaded now, not when the audio thread first makes a slot of it)."""
        for function in functions:
            FUNCTIONS.number(function)
        self.slots = slots
        self.entries = _new_entries(FUNCTIONS.functions, slots)
        if slots:  # the setter and the runner loaded here too, not on the audio thread
            _set_entry(self.entries, FUNCTIONS.functions, 0, 0, _PADDING, 0, NO_INTS, NO_FLOATS)
        self.kinds = np.full(slots, STOP, dtype=np.int8)
        #: Each slot's arrays, as it holds them.
        self.held: list[tuple[np.ndarray, ...]] = [()] * slots
        #: ``run(start)``: run the entries from slot ``start`` to the next stop; return that
        #: stop's slot (or the number of slots at the end). Bound: no Python frame in between.
        self.run = functools.partial(_run, self.entries, self.kinds)
        self.run(0)  # every slot a stop: runs nothing

    def set(
        self, slot: int, function: Any, arrays: tuple[np.ndarray, ...], ints: np.ndarray, floats: np.ndarray
    ) -> None:
        """Slot ``slot`` runs ``function`` with these (made by :func:`split`; as many of each
        as it takes: see :func:`takes`)."""
        number = FUNCTIONS.number(function)
        padded = arrays + _PADDING[len(arrays) :]
        _set_entry(self.entries, FUNCTIONS.functions, slot, number, padded, len(arrays), ints, floats)
        self.kinds[slot] = COMPILED
        self._retire(slot, arrays)

    def _retire(self, slot: int, arrays: tuple[np.ndarray, ...]) -> None:
        """The slot's last arrays, if it held memory the new ones do not (a delay line just
        replaced by a longer one): kept in ``RETIRED`` for the caller's thread to free, not
        freed here, on the audio thread, as the slot lets go of them."""
        held, self.held[slot] = self.held[slot], arrays
        owners = {id(_owner(array)) for array in arrays}
        if any(id(_owner(array)) not in owners for array in held):
            RETIRED.append(held)

    def set_check(self, slot: int, values: np.ndarray) -> None:
        """Slot ``slot`` stops the program if ``values`` (1-D) holds NaN or infinity."""
        self.set(slot, _nothing, (values,), NO_INTS, NO_FLOATS)
        self.kinds[slot] = CHECK


#: What the audio thread lets go of (arrays a program's slot held, a poly copy's node's
#: replaced state), for :func:`release_retired` to free on the caller's thread.
RETIRED: collections.deque[Any] = collections.deque()


def release_retired() -> None:
    """Caller's thread: free what the audio thread let go of."""
    while RETIRED:
        RETIRED.popleft()


def _owner(array: np.ndarray) -> np.ndarray:
    """The array that owns ``array``'s memory (numpy's base of a view is its owner)."""
    return array if array.base is None else array.base


#: What fills an entry's arrays beyond its own (the arrays travel as one tuple of this many:
#: one compiled way to make a slot, whatever the entry).
_PADDING = (np.zeros(0),) * MAX_ARRAYS


# -- the compiled side -------------------------------------------------------------------------
@kernel
def _new_functions() -> Any:
    return List.empty_list(FUNCTION)


@kernel
def _append_function(functions: Any, function: Any) -> None:
    functions.append(function)


@kernel
def _new_entries(functions: Any, slots: int) -> Any:
    entries = List.empty_list(ENTRY)
    nothing = List.empty_list(ARRAY)
    for _ in range(slots):
        entries.append((functions[0], nothing, np.zeros(0, np.int64), np.zeros(0)))
    return entries


@kernel
def _set_entry(
    entries: Any,
    functions: Any,
    slot: int,
    number: int,
    arrays: tuple[np.ndarray, ...],
    count: int,
    ints: np.ndarray,
    floats: np.ndarray,
) -> None:
    bound = List.empty_list(ARRAY)
    for index in range(count):
        bound.append(arrays[index])
    entries[slot] = (functions[number], bound, ints, floats)


@kernel
def _run(entries: Any, kinds: np.ndarray, start: int) -> int:
    for slot in range(start, len(entries)):
        kind = kinds[slot]
        if kind == COMPILED:
            function, arrays, ints, floats = entries[slot]
            function(arrays, ints, floats)
        elif kind == STOP or (kind == CHECK and not all_finite_flat(entries[slot][1][0])):
            return slot
    return len(entries)
