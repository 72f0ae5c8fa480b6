"""The delay line: echo, chorus, flanger, vibrato and Karplus–Strong, and the way to close a loop.

The line is read with 4-point cubic (Catmull–Rom) interpolation at a time that may move every
sample. Internal feedback passes a one-pole low-pass (``damping_hz``), so a feedback echo or a
plucked string needs no external loop.

A delay also closes external feedback loops, through its ``tap`` output (the delayed signal
alone; ``out`` mixes in the dry input and so cannot close a loop). The compiler runs such a loop
in chunks of at most ``loop_chunk()`` samples: inside a loop, the time is held at or above half
its set value (and at least 2 samples), so a loop can be as short as a few samples whatever the
block size.

Memory follows what a patch uses: the line holds ``max_time_ms`` (or a longer ``time_ms``),
plus the few samples the interpolation and a block need, rounded up to a power of two. A
modulated time beyond that is held at the line's end. Turning either up while playing makes
a longer line off the audio thread, and the echoes already in the line carry on in it; a line
never shrinks while it plays (turning them down again keeps the longer line and its end).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from patcher.compiled import entry
from patcher.kernels import kernel
from patcher.spec import Node, Param

MAX_DELAY_S = 10.0
MIN_DELAY_SAMPLES = 2.0
NO_DAMPING_HZ = 20000.0
#: Beyond the longest delay, the line keeps a block (written before it is read) and this many
#: samples more (the cubic's neighbours either side, and a margin).
LINE_MARGIN = 8


def _longest_delay(params: Mapping[str, Any], sample_rate: int) -> float:
    """In samples: the longest delay a line for these params serves."""
    return max(params["max_time_ms"], params["time_ms"]) * sample_rate / 1000.0


def _line_length(longest: float, max_block: int) -> int:
    """Room for the longest delay, a block and the margin, as a power of two (the write
    position wraps with a mask)."""
    length = math.ceil(longest) + max_block + LINE_MARGIN
    return 1 << (length - 1).bit_length()


def _copy_recent(old: np.ndarray, new: np.ndarray, written: int) -> None:
    """Copy the samples ``old`` holds (the last ``len(old)`` written) into the longer ring
    ``new`` at their own places: sample ``k`` lives at ``k % len(line)`` in either. At most
    three slice copies (one wrap in each ring)."""
    position = written - len(old)
    while position < written:
        old_slot, new_slot = position % len(old), position % len(new)
        count = min(written - position, len(old) - old_slot, len(new) - new_slot)
        new[new_slot : new_slot + count] = old[old_slot : old_slot + count]
        position += count


@entry(arrays=9, ints=1, floats=3)
def _delay_entry(arrays: Any, ints: np.ndarray, floats: np.ndarray) -> None:
    _delay_line(
        arrays[0],
        arrays[1].view(np.int64),
        arrays[2],
        arrays[3],
        arrays[4],
        arrays[5],
        floats[0],
        floats[1],
        ints[0] != 0,
        floats[2],
        arrays[6],
        arrays[7],
        arrays[8],
    )


class Delay(Node):
    TYPE = "delay"
    FAMILY = "delays"
    DOC = "Delay line with cubic interpolation, damped feedback and dry/wet mix; 'tap' closes loops."
    INPUTS = ("in",)
    OUTPUTS = ("out", "tap")
    READ_OUTPUTS = ("tap",)
    READ_INPUTS = ("time_ms",)
    PARAMS = {
        "time_ms": Param(
            250.0,
            0.0,
            MAX_DELAY_S * 1000,
            "ms",
            "Delay time, held at 2 samples or more, and at the line's end (max_time_ms, or a longer "
            "set time) when modulated beyond it.",
            modulatable=True,
        ),
        "max_time_ms": Param(
            1000.0,
            1.0,
            MAX_DELAY_S * 1000,
            "ms",
            doc="Longest time the line holds, modulation included: what memory it takes. "
            "A longer time_ms lengthens it.",
        ),
        "feedback": Param(0.0, -0.99, 0.99, "", "Share of the delayed signal fed back in.", modulatable=True),
        "damping_hz": Param(
            NO_DAMPING_HZ,
            100.0,
            NO_DAMPING_HZ,
            "Hz",
            "Low-pass in the feedback path; 20000 is off.",
            scale="log",
        ),
        "mix": Param(
            0.5, 0.0, 1.0, "", "0 is the dry input only, 1 the delayed signal only.", modulatable=True
        ),
    }

    #: ``params_serial`` when ``longest`` was last brought up to the params (-1: never).
    _longest_serial = -1
    ENTRY = _delay_entry

    @property
    def written(self) -> int:
        """Samples written since the last reset: where the ring's next write goes."""
        return int(self.counter[0])

    def prepare(self, sample_rate: int, max_block: int) -> None:
        #: The longest delay read, in samples (a longer one is held here): what the line was
        #: made for, or the longest time set since, as a glide down starts from there.
        self.longest = _longest_delay(self.params, sample_rate)
        self.line = np.zeros(_line_length(self.longest, max_block))
        self.mask = len(self.line) - 1
        self.samples_per_ms = sample_rate / 1000.0
        self.tap_scratch = np.zeros(max_block)  # silence: never written
        #: What a loop's read leaves for its write: the tap (the read's output) and the tap as
        #: fed back (through the damping), kept here; both silence after a reset.
        self._tap = self._returned = self.tap_scratch
        self.returned = np.zeros(max_block)
        self.damping_state = np.zeros(1)
        #: Samples written since the last reset (an array: the compiled kernel advances it).
        self.counter = np.zeros(1, dtype=np.int64)
        super().prepare(sample_rate, max_block)
        self._tune_damping()

    def reset(self) -> None:
        self.line.fill(0.0)
        self.counter[0] = 0
        self.damping_state.fill(0.0)
        self._chunk_minimum = float(MIN_DELAY_SAMPLES)
        # The engine's NaN scrub may reset a delay in a loop between its read and its write of
        # one chunk: that write then takes a silent tap.
        self._tap = self._returned = self.tap_scratch

    def param_changed(self, name: str, value: Any) -> None:
        super().param_changed(name, value)
        if name == "damping_hz":
            self._tune_damping()

    def _tune_damping(self) -> None:
        """The feedback low-pass's pole, once per change (20000 Hz and above: no low-pass)."""
        cutoff = self.params["damping_hz"]
        self.damping = bool(cutoff < NO_DAMPING_HZ)
        self.pole = float(np.exp(-2.0 * np.pi * min(cutoff, 0.49 * self.sample_rate) / self.sample_rate))

    # -- a longer line, live ---------------------------------------------------------------
    def prepare_change(self, name: str, value: Any, params: Mapping[str, Any]) -> Any:
        """A longer line, made here (off the audio thread), when the new time needs one."""
        if name not in ("time_ms", "max_time_ms"):
            return None
        length = _line_length(_longest_delay(params, self.sample_rate), self.max_block)
        if length <= len(self.line):  # it fits (a line only grows)
            return None
        line = np.empty(length)
        line.fill(0.0)  # its pages are touched here, not by the audio thread
        return line

    def install_change(self, name: str, value: Any, prepared: Any) -> None:
        """Move into the longer line: the recent samples keep their places relative to the
        write position, so the echoes under way go on. For a glide the engine sets the same
        value right after (the glide began from the old one); a graph edit steps to it."""
        if prepared is not None and len(prepared) > len(self.line):
            _copy_recent(self.line, prepared, self.written)
            self.line, self.mask = prepared, len(prepared) - 1
        elif prepared is not None:  # another change made it longer already: freed with the
            self.spare_line = prepared  # node's state the engine retires at the next install
        self.param_changed(name, value)
        self._hold_longest()

    def _hold_longest(self) -> float:
        """The longest delay read: at least the longest time set (a glide within the line's
        room needs no new line, and may start before the engine installs anything)."""
        if self.params_serial != self._longest_serial:  # asked every block; params seldom change
            self._longest_serial = self.params_serial
            self.longest = max(self.longest, _longest_delay(self.params, self.sample_rate))
        return self.longest

    # -- two-phase interface (inside a feedback loop) -------------------------------------
    def loop_chunk(self) -> int:
        self._hold_longest()
        # Reads in this block may come as close as the chunk allows, and no closer: the floor
        # is fixed with the chunk, not moved by a ramp within the block (block size would matter).
        self._chunk_minimum = self._loop_minimum()
        return max(1, int(self._chunk_minimum) - 1)

    def _loop_minimum(self) -> float:
        set_time_ms = self.params["time_ms"]
        ramp = self.ramps.get("time_ms")
        if ramp is not None:  # while a change glides in, from where the glide is
            set_time_ms = min(set_time_ms, ramp.value)
        half_set_time = float(math.floor(set_time_ms * self.sample_rate / 2000.0))
        return half_set_time if half_set_time > MIN_DELAY_SAMPLES else MIN_DELAY_SAMPLES

    def read(self, params: Mapping[str, Any], outputs: Mapping[str, np.ndarray]) -> None:
        tap = self._tap = outputs["tap"]
        self._returned = self.returned
        minimum = min(self._loop_minimum(), self._chunk_minimum)
        _read_line(
            self.line,
            self.counter,
            params["time_ms"],
            self.samples_per_ms,
            minimum,
            self.longest,
            self.damping,
            self.pole,
            self.damping_state,
            tap,
            self._returned,
        )

    def write(
        self, inputs: Mapping[str, np.ndarray], params: Mapping[str, Any], outputs: Mapping[str, np.ndarray]
    ) -> None:
        out = outputs["out"]
        _write_line(
            self.line,
            self.counter,
            inputs["in"],
            params["feedback"],
            self._returned,
            self._tap,
            params["mix"],
            out,
        )

    # -- one call per block (no loop through this node) -----------------------------------
    def process(
        self, inputs: Mapping[str, np.ndarray], params: Mapping[str, Any], outputs: Mapping[str, np.ndarray]
    ) -> None:
        _delay_line(*self.kernel_arguments(inputs, params, outputs))

    def kernel_arguments(
        self, inputs: Mapping[str, np.ndarray], params: Mapping[str, Any], outputs: Mapping[str, np.ndarray]
    ) -> tuple[Any, ...]:
        return (
            self.line,
            self.counter,
            inputs["in"],
            params["time_ms"],
            params["feedback"],
            params["mix"],
            self.samples_per_ms,
            self._hold_longest(),
            self.damping,
            self.pole,
            self.damping_state,
            outputs["tap"],
            outputs["out"],
        )


# -- the kernels: one sample at a time, the line a ring indexed by samples written -----------
@kernel
def _delay_line(
    line: np.ndarray,
    counter: np.ndarray,
    signal: np.ndarray,
    time_ms: np.ndarray,
    feedback: np.ndarray,
    mix: np.ndarray,
    samples_per_ms: float,
    longest: float,
    damping: bool,
    pole: float,
    damping_state: np.ndarray,
    tap: np.ndarray,
    out: np.ndarray,
) -> None:
    """A block: each sample reads the line ``time_ms`` behind, then writes the input plus the
    damped tap times ``feedback``. A read reaches back 2 samples or more, so it never needs
    what its own sample writes (the same as reading the whole block first, chunk by chunk).
    ``counter`` holds the samples written before this block; it is advanced by the block."""
    written = counter[0]
    for i in range(len(signal)):
        delay = _delay_samples(time_ms[i], samples_per_ms, MIN_DELAY_SAMPLES, longest)
        tap[i] = _catmull_rom(line, written + i - delay)
        returned = _one_pole(tap[i], pole, damping_state) if damping else tap[i]
        line[(written + i) & (len(line) - 1)] = _fed(signal[i], feedback[i], returned)
        out[i] = _dry_wet(signal[i], tap[i], mix[i])
    counter[0] = written + len(signal)


@kernel
def _read_line(
    line: np.ndarray,
    counter: np.ndarray,
    time_ms: np.ndarray,
    samples_per_ms: float,
    minimum: float,
    longest: float,
    damping: bool,
    pole: float,
    damping_state: np.ndarray,
    tap: np.ndarray,
    returned: np.ndarray,
) -> None:
    """A loop's first phase: the tap of a chunk no longer than its shortest delay, and the tap
    as it is fed back (damped), for the write (``counter``: the samples written so far)."""
    written = counter[0]
    for i in range(len(tap)):
        delay = _delay_samples(time_ms[i], samples_per_ms, minimum, longest)
        tap[i] = _catmull_rom(line, written + i - delay)
        returned[i] = _one_pole(tap[i], pole, damping_state) if damping else tap[i]


@kernel
def _write_line(
    line: np.ndarray,
    counter: np.ndarray,
    signal: np.ndarray,
    feedback: np.ndarray,
    returned: np.ndarray,
    tap: np.ndarray,
    mix: np.ndarray,
    out: np.ndarray,
) -> None:
    """A loop's second phase: write the chunk's input (the loop's return in it) plus the
    internal feedback, and mix; ``counter`` advanced by the chunk."""
    written = counter[0]
    for i in range(len(signal)):
        line[(written + i) & (len(line) - 1)] = _fed(signal[i], feedback[i], returned[i])
        out[i] = _dry_wet(signal[i], tap[i], mix[i])
    counter[0] = written + len(signal)


@kernel
def _delay_samples(time_ms: float, samples_per_ms: float, minimum: float, longest: float) -> float:
    """The delay in samples, held between ``minimum`` and the line's end."""
    delay = time_ms * samples_per_ms
    if delay < minimum:
        return minimum
    if delay > longest:
        return longest
    return delay


@kernel
def _catmull_rom(line: np.ndarray, position: float) -> float:
    """The line at a fractional ``position`` (in samples written), from the 4 samples around
    it: exact at the samples, with a continuous slope between them."""
    whole = np.floor(position)
    fraction = position - whole
    index, mask = int(whole), len(line) - 1
    before, at = line[(index - 1) & mask], line[index & mask]
    after, later = line[(index + 1) & mask], line[(index + 2) & mask]
    slope_at = (after - before) * 0.5  # the slopes at ``at`` and ``after``
    slope_after = (later - at) * 0.5
    difference = after - at
    cubic = (slope_at + slope_after - difference * 2.0) * fraction
    quadratic = (difference * 3.0 - slope_at * 2.0 - slope_after + cubic) * fraction
    return at + (slope_at + quadratic) * fraction


@kernel
def _one_pole(sample: float, pole: float, state: np.ndarray) -> float:
    """The damping low-pass, y[n] = (1 - p) x[n] + p y[n-1], in the order scipy's lfilter
    computes it (its state holds p y[n-1])."""
    damped = state[0] + (1.0 - pole) * sample
    state[0] = pole * damped
    return damped


@kernel
def _fed(sample: float, feedback: float, returned: float) -> float:
    """What goes into the line: the input, plus the tap fed back."""
    return sample + feedback * returned if feedback != 0.0 else sample


@kernel
def _dry_wet(sample: float, tap: float, mix: float) -> float:
    return tap * mix + (1.0 - mix) * sample
