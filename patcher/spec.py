"""Node specs: the one declaration of each node type's ports and params.

A node type is a subclass of :class:`Node` in ``nodes/`` that sets ``TYPE``, ``INPUTS``,
``OUTPUTS`` and ``PARAMS``. Subclassing registers it. Everything else — patch validation,
``patcher nodes``, the README's node reference and the editor's widgets — reads these
declarations; nothing repeats them by hand.

The DSP contract (as in pedalboard and VCV Rack):

* ``prepare(sample_rate, max_block)`` allocates state and buffers;
* ``reset()`` clears state (phases, filter memory, delay lines);
* ``process(inputs, params, outputs)`` runs one block in place. Arrays all have the same
  length ``n <= max_block``; ``n`` varies (the engine splits blocks inside feedback loops),
  and the output must not depend on how a signal is cut into blocks.

A modulatable param is also an input port of the same name. Its value in ``process`` is the
set value *plus* the linked signal (VCV Rack's knob + CV), always as an array of ``n`` samples
(a set value fills it), so a node's compiled kernel has one signature.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from patcher.text import quote

ParamKind = Literal["float", "int", "bool", "choice", "path", "table"]
ParamValue = float | np.ndarray


@dataclass(frozen=True)
class Param:
    """One parameter: its range, unit and doc, as VCV Rack's ``configParam`` declares it."""

    default: Any
    min: float | None = None
    max: float | None = None
    unit: str = ""
    doc: str = ""
    kind: ParamKind = "float"
    #: How a slider spreads the range: evenly, by octaves (log), or both ways from zero by
    #: orders of magnitude (symlog: a range like -20000 .. 20000 that small values need too).
    scale: Literal["lin", "log", "symlog"] = "lin"
    choices: tuple[str, ...] = ()
    modulatable: bool = False

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not legal for this param, or None when it is."""
        if self.kind in ("float", "int"):
            return self._check_number(value)
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"expected true or false, got {quote(value)}"
        if self.kind == "choice":
            if value in self.choices:
                return None
            return f"expected one of {', '.join(self.choices)}; got {quote(value)}"
        if self.kind == "path":
            return None if isinstance(value, str) else f"expected a file path, got {quote(value)}"
        return self._check_table(value)

    def _check_number(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {quote(value)}"
        if isinstance(value, int) and abs(value) > 2**53:  # float() would overflow or round
            return f"{quote(value, 30)} is out of range [{_num(self.min)}, {_num(self.max)}]"
        if self.kind == "int" and not float(value).is_integer():
            return f"expected a whole number, got {quote(value)}"
        if not math.isfinite(value):
            return f"expected a finite number, got {quote(value)}"
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            return f"{quote(value)} is out of range [{_num(self.min)}, {_num(self.max)}]"
        return None

    def _check_table(self, value: Any) -> str | None:
        if not isinstance(value, list) or not 2 <= len(value) <= 4096:
            return "expected a list of 2 to 4096 numbers"
        for number in value:
            if isinstance(number, bool) or not isinstance(number, int | float):
                return f"expected numbers in the table, got {quote(number)}"
            if isinstance(number, int) and abs(number) > 2**53:  # float() would overflow or round
                return f"expected table values a float can hold, got {quote(number, 30)}"
            if not math.isfinite(number):
                return f"expected finite numbers in the table, got {quote(number)}"
        return None

    def coerce(self, value: Any) -> Any:
        """Normalise a legal value (an int for a float param becomes a float)."""
        if self.kind == "float":
            return float(value)
        if self.kind == "int":
            return int(value)
        if self.kind == "table":
            return [float(number) for number in value]
        return value

    def describe_range(self) -> str:
        if self.kind == "choice":
            return " | ".join(self.choices)
        if self.kind in ("float", "int"):
            return f"{_num(self.min)} .. {_num(self.max)}"
        return {"bool": "true | false", "path": "file path", "table": "list of numbers"}[self.kind]

    def to_json(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "kind": self.kind,
            "unit": self.unit,
            "min": self.min,
            "max": self.max,
            "default": self.default,
            "scale": self.scale,
            "choices": list(self.choices),
            "modulatable": self.modulatable,
            "doc": self.doc,
        }


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:g}"


#: 1, 2, 3, ...: the steps of a ramp, shared so that filling one allocates nothing.
_COUNTING = np.arange(1.0, 8193.0)
_COUNTING.flags.writeable = False


def _counting(steps: int) -> np.ndarray:
    global _COUNTING
    if steps > len(_COUNTING):  # beyond the largest block a patch may ask for
        _COUNTING = np.arange(1.0, steps + 1.0)
        _COUNTING.flags.writeable = False
    return _COUNTING[:steps]


class Ramp:
    """A linear glide of a param from its current value to a target, sample by sample."""

    def __init__(self, start: float, target: float, samples: int, delay: int = 0) -> None:
        self.target = float(target)
        self.samples = max(1, samples)
        #: Samples into its first block where the glide starts (an event's offset): until then
        #: the param goes on as it was (``before``, a glide under way, or ``value``).
        self.delay = max(0, delay)
        self.before: Ramp | None = None
        self.begin(start)

    def follow(self, before: Ramp | None, value: float) -> None:
        """Start where the param is: ``before`` (a glide under way) or the set ``value``; a
        delayed ramp lets that go on until its own start."""
        if self.delay:
            self.before, self.value = before, float(value)
        else:
            self.begin(before.value if before is not None else value)

    def begin(self, start: float) -> None:
        self.value = float(start)
        self.remaining = self.samples
        self.increment = (self.target - self.value) / self.remaining

    def fill(self, out: np.ndarray) -> bool:
        """Write the next ``len(out)`` values; True once the target is reached."""
        if self.delay and len(out):
            held = min(self.delay, len(out))
            if self.before is None:
                out[:held] = self.value
            else:
                self.before.fill(out[:held])
            self.delay -= held
            if self.delay:
                return False
            self.before = None
            self.begin(float(out[held - 1]))
            out = out[held:]
            if not len(out):  # the delay ended with this chunk: the glide starts with the next
                return self.remaining == 0
        steps = min(self.remaining, len(out))
        np.multiply(self.increment, _counting(steps), out=out[:steps])
        out[:steps] += self.value
        out[steps:] = self.target
        self.remaining -= steps
        self.value = self.target if self.remaining == 0 else float(out[steps - 1])
        return self.remaining == 0


_REGISTRY: dict[str, type[Node]] = {}


class Node:
    """Base class of every node type; subclasses declare and implement one type each."""

    TYPE: ClassVar[str] = ""
    DOC: ClassVar[str] = ""
    FAMILY: ClassVar[str] = ""
    INPUTS: ClassVar[tuple[str, ...]] = ()
    OUTPUTS: ClassVar[tuple[str, ...]] = ()
    PARAMS: ClassVar[Mapping[str, Param]] = {}
    #: A sink is kept by the compiler even with no path to an output (output, scope, ...).
    IS_SINK: ClassVar[bool] = False
    #: A node that may close a feedback loop (a delay) runs in two phases: ``read`` makes
    #: ``READ_OUTPUTS`` from its memory using only ``READ_INPUTS``; ``write`` takes the rest.
    #: A loop is legal when it passes through a read output; the engine then runs the loop in
    #: chunks no longer than every such node's ``loop_chunk()``.
    READ_OUTPUTS: ClassVar[tuple[str, ...]] = ()
    READ_INPUTS: ClassVar[tuple[str, ...]] = ()
    #: A node that plays events (notes): the engine sets ``events`` to its
    #: :class:`patcher.events.EventBlock`, whose offsets count from the block's first sample.
    TAKES_EVENTS: ClassVar[bool] = False
    #: The node's compiled entry (:mod:`patcher.compiled`): a kernel of ``(arrays, ints,
    #: floats)`` that calls the node's kernel with ``kernel_arguments``' arrays, integers and
    #: floats, each kind in its order. Whole blocks then run inside the block plan's compiled
    #: program; None: they run through ``process``.
    ENTRY: ClassVar[Any] = None
    #: A node that holds a patch (a poly's voice, :class:`patcher.model.Patch`): the compiler
    #: sets it, a copy of the model's, before ``prepare``; None for every other node.
    inner: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.TYPE or cls.__dict__.get("PER_INSTANCE"):  # a subpatch's own spec: not a type
            return
        if cls.TYPE in _REGISTRY and _REGISTRY[cls.TYPE] is not cls:
            raise TypeError(f"node type {cls.TYPE!r} is declared twice")
        clash = set(cls.INPUTS) & set(cls.PARAMS)
        if clash:
            raise TypeError(f"node type {cls.TYPE!r}: {sorted(clash)} is both input and param")
        _REGISTRY[cls.TYPE] = cls

    def __init__(self, params: Mapping[str, Any] | None = None, patch_dir: str = ".") -> None:
        self.params: dict[str, Any] = {name: p.default for name, p in self.PARAMS.items()}
        self.params.update(params or {})
        #: What ``process`` sees: set values, or per-sample arrays for modulated params.
        self.block_params: dict[str, Any] = dict(self.params)
        #: Input ports that have at least one link (set by the compiler).
        self.linked: frozenset[str] = frozenset()
        #: Engine-managed: param ramps under way, the exception that muted this node (cleared
        #: when an edit gives it another chance), how many times it raised and the last
        #: exception (kept for the report), and how many blocks of NaN or infinity it produced.
        #: The audio thread counts; the control thread reports, remembering what it reported.
        self.ramps: dict[str, Ramp] = {}
        #: Counts changes of ``params``, so that a step refills a param's buffer only then.
        self.params_serial = 0
        self.fault: Exception | None = None
        self.fault_count = 0
        self.last_fault: Exception | None = None
        self.nonfinite_blocks = 0
        self.reported_faults = 0
        self.reported_nonfinite = False
        self.patch_dir = patch_dir
        self.sample_rate = 48000
        self.max_block = 256

    # -- ports ----------------------------------------------------------------------------
    @classmethod
    def input_ports(cls) -> tuple[str, ...]:
        """Signal inputs, then one port per modulatable param."""
        ports = cls.__dict__.get("_input_ports")
        if ports is None:  # asked for every node of every compile: made once per class
            ports = cls.INPUTS + tuple(n for n, p in cls.PARAMS.items() if p.modulatable)
            cls._input_ports = ports
        return ports

    @classmethod
    def to_json(cls) -> dict[str, Any]:
        return {
            "type": cls.TYPE,
            "family": cls.FAMILY,
            "doc": cls.DOC,
            "inputs": list(cls.INPUTS),
            "outputs": list(cls.OUTPUTS),
            "params": [p.to_json(name) for name, p in cls.PARAMS.items()],
        }

    # -- DSP contract ---------------------------------------------------------------------
    def prepare(self, sample_rate: int, max_block: int) -> None:
        """Allocate state for this rate and largest block; then reset."""
        self.sample_rate = sample_rate
        self.max_block = max_block
        self.reset()

    def reset(self) -> None:
        """Clear state (phases, filter memory, delay lines)."""

    def process(
        self,
        inputs: Mapping[str, np.ndarray],
        params: Mapping[str, Any],
        outputs: Mapping[str, np.ndarray],
    ) -> None:
        raise NotImplementedError

    def kernel_arguments(
        self,
        inputs: Mapping[str, np.ndarray],
        params: Mapping[str, Any],
        outputs: Mapping[str, np.ndarray],
    ) -> tuple[Any, ...] | None:
        """What ``process`` hands its kernel for these buffers, in order (a node with an
        ``ENTRY``): the arrays must be the ones the kernel reads and writes every block (a
        copy made here would be read once and never again), and every value that changes
        between blocks must live in an array, as the compiled program keeps the numbers it was
        given until this node's params change. None: this block goes through ``process``
        (a mode the entry does not run)."""
        return None

    def inner_nodes(self) -> list[tuple[str, Node]]:
        """The nodes this node runs itself (a poly's voices), each with what follows this
        node's id to name it (``[2]/lp``): the engine reports their faults as its own."""
        return []

    def loop_chunk(self) -> int:
        """Longest chunk ``read`` can serve before ``write`` (two-phase nodes only)."""
        raise NotImplementedError

    def read(self, params: Mapping[str, Any], outputs: Mapping[str, np.ndarray]) -> None:
        raise NotImplementedError

    def write(
        self,
        inputs: Mapping[str, np.ndarray],
        params: Mapping[str, Any],
        outputs: Mapping[str, np.ndarray],
    ) -> None:
        raise NotImplementedError

    def prepare_change(self, name: str, value: Any, params: Mapping[str, Any]) -> Any:
        """Caller's thread: the slow part of a param change (read a file, build an IR, make a
        delay line longer), done before the audio thread sees anything; raise OSError or
        ValueError for a value that cannot work. ``params`` are all of the node's params as
        they will be once every change queued so far is in (``self.params`` lags behind them
        until the audio thread installs those changes). Must not touch state the audio thread
        reads. Returns what ``install_change`` takes, or None when there is nothing to install.
        It is called for modulatable params too: for those, a non-None result is installed at
        the block boundary where the param's ramp starts, the ramp then gliding as usual (so
        ``install_change`` must leave ``self.params[name]`` as it was)."""
        return None

    def install_change(self, name: str, value: Any, prepared: Any) -> None:
        """Audio thread, at a block boundary: take the change in with cheap reference swaps."""
        self.param_changed(name, value)

    def switch_to(self, name: str, value: Any, prepared: Any) -> None:
        """Audio thread: the param takes ``value`` now (a glide under way stops)."""
        self.ramps.pop(name, None)  # a ramp queued before the change must not carry on past it
        self.install_change(name, value, prepared)

    def glide_to(self, name: str, value: Any, ramp: Ramp, prepared: Any) -> None:
        """Audio thread: the param glides to ``value`` along ``ramp``, from where it is (a
        glide under way, or its set value); what the glide needs first is installed."""
        ramp.follow(self.ramps.get(name), self.params[name])
        if prepared is not None:  # what the glide needs in place first (a longer line)
            self.install_change(name, value, prepared)
        self.params[name] = value
        self.params_serial += 1
        self.ramps[name] = ramp

    def param_changed(self, name: str, value: Any) -> None:
        """A param got a new value (offline, all at once); nodes that derive cheap state from
        it (a random generator) override this, nodes with slow state the pair above."""
        self.params[name] = value
        self.params_serial += 1
        if not isinstance(self.block_params.get(name), np.ndarray):
            self.block_params[name] = value

    # -- helpers for subclasses -----------------------------------------------------------
    @staticmethod
    def first(value: ParamValue) -> float:
        """The value at the block's first sample (control-rate use of a modulatable param)."""
        return float(value) if isinstance(value, float | int) else float(value[0])


def registry() -> dict[str, type[Node]]:
    """All node types by their stable type name (loading ``nodes`` registers them)."""
    import nodes  # noqa: F401  (import registers every family)

    return dict(_REGISTRY)


def node_class(type_name: str) -> type[Node] | None:
    # Asked for every node of every patch loaded or compiled: no copy of the registry.
    return _REGISTRY.get(type_name) or registry().get(type_name)
