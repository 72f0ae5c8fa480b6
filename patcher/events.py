"""Timestamped events (notes, control changes) that land on their sample inside a block.

Audio runs in blocks, but a note must start on its own sample, not on the next block
boundary, or a render would change with the block size. So events travel with an *offset*
into the block they belong to, as a VST host hands ``VstEvents`` with ``deltaFrames`` and
LV2 an atom sequence with frame times:

* :class:`EventBlock` holds the events of the block being computed, in pre-allocated arrays
  sorted by offset (the audio thread fills it without allocating). The engine hands the same
  object to every node that declares ``TAKES_EVENTS``; such a node's compiled kernel walks the
  arrays and renders per-sample signals from them (a gate that rises on its sample).
* :class:`EventTimeline` is a whole performance (a MIDI file) stamped in samples from the
  start: the engine moves each block's share into the :class:`EventBlock`.
* Live input (``patcher.control``) stamps an event on arrival and adds it to the next block
  at the offset its arrival had in the block before: one block of latency, no jitter.

Event kinds and their numbers: ``NOTE_ON`` (number = MIDI note, value = velocity 0..1),
``NOTE_OFF`` (number = MIDI note), ``CONTROL`` (number = CC number, value = 0..1),
``PITCH_BEND`` (number 0, value -1..1: the wheel from full down to full up; 0 at rest). Channels
count from 1 to 16, as MIDI devices label them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

NOTE_ON, NOTE_OFF, CONTROL, PITCH_BEND = 1, 2, 3, 4
#: Events one block can hold; more in one block are dropped (and counted).
MAX_EVENTS_PER_BLOCK = 1024


class EventBlock:
    """The events of one block, sorted by offset, in arrays allocated once."""

    def __init__(self, capacity: int = MAX_EVENTS_PER_BLOCK) -> None:
        self.offsets = np.zeros(capacity, dtype=np.int64)
        self.kinds = np.zeros(capacity, dtype=np.int64)
        self.channels = np.zeros(capacity, dtype=np.int64)
        self.numbers = np.zeros(capacity, dtype=np.int64)
        self.values = np.zeros(capacity)
        #: How many events this block holds, and the block's serial (``count``, ``serial``),
        #: also in an array: a compiled node reads them there as they change, block after block.
        self.tally = np.zeros(2, dtype=np.int64)
        self._count = self._serial = 0
        #: Events that found the block full (the player reports them).
        self.dropped = 0

    @property
    def count(self) -> int:
        """How many events this block holds."""
        return self._count

    @count.setter
    def count(self, count: int) -> None:
        self._count = self.tally[0] = count

    @property
    def serial(self) -> int:
        """Counts blocks: a node run in several chunks of one block (in a feedback loop) sees
        the same serial and goes on from where its last chunk ended."""
        return self._serial

    @serial.setter
    def serial(self, serial: int) -> None:
        self._serial = self.tally[1] = serial

    def add(self, offset: int, kind: int, channel: int, number: int, value: float) -> None:
        """Insert an event at ``offset`` after those at the same or an earlier offset."""
        count = self.count
        if count == len(self.offsets):
            self.dropped += 1
            return
        index = count
        offsets = self.offsets
        while index > 0 and offsets[index - 1] > offset:  # live and file events may interleave
            index -= 1
        if index < count:
            for array in (offsets, self.kinds, self.channels, self.numbers, self.values):
                array[index + 1 : count + 1] = array[index:count]
        offsets[index], self.kinds[index], self.channels[index] = offset, kind, channel
        self.numbers[index], self.values[index] = number, value
        self.count = count + 1

    def next_block(self) -> None:
        """After a block: empty, and a new serial."""
        self._count, self._serial = 0, self._serial + 1  # (asked of every copy of a poly, every block)
        tally = self.tally
        tally[0], tally[1] = 0, self._serial


@dataclass
class Event:
    """One event of a timeline: at ``sample`` from the start."""

    sample: int
    kind: int
    channel: int
    number: int
    value: float = 0.0


class EventTimeline:
    """Events stamped in samples from the start of a render, handed out block by block."""

    def __init__(self, events: Iterable[Event] = ()) -> None:
        # Stable: events on one sample keep their order (a note off before the next note on).
        self.events = sorted(events, key=lambda event: event.sample)
        self.next = 0

    @property
    def last_sample(self) -> int:
        return self.events[-1].sample if self.events else 0

    def deliver(self, start: int, frames: int, block: EventBlock) -> list[Event]:
        """Add the events in ``[start, start + frames)`` to ``block`` (those stamped before
        ``start`` too, at offset 0); return them."""
        events, first = self.events, self.next
        stop = start + frames
        index = first
        while index < len(events) and events[index].sample < stop:
            event = events[index]
            block.add(max(event.sample - start, 0), event.kind, event.channel, event.number, event.value)
            index += 1
        self.next = index
        return events[first:index]
