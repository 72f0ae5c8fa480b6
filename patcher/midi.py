"""MIDI: files read into a timeline of events stamped in samples, and messages turned into events.

A file's ticks become seconds through its tempo map (every ``set_tempo`` from the start, in
whichever track it is), then samples at the render's rate, rounded once: an event lands on
its own sample, and a render does not depend on the block size. Read with ``mido``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from patcher.events import CONTROL, NOTE_OFF, NOTE_ON, PITCH_BEND, Event, EventTimeline

#: MIDI's tempo until a file says otherwise: 120 beats per minute.
DEFAULT_TEMPO_US = 500_000


class MidiFileError(ValueError):
    """A MIDI file that cannot be played: its message names the file and what is wrong."""


def message_event(message: Any, sample: int) -> Event | None:
    """The event a mido message makes (note on, note off, control change, pitch bend), or None
    for the others. A note on at velocity 0 is a note off, as MIDI's running status uses it."""
    kind = message.type
    if kind == "note_on" and message.velocity > 0:
        return Event(sample, NOTE_ON, message.channel + 1, message.note, message.velocity / 127.0)
    if kind in ("note_on", "note_off"):
        return Event(sample, NOTE_OFF, message.channel + 1, message.note)
    if kind == "control_change":
        return Event(sample, CONTROL, message.channel + 1, message.control, message.value / 127.0)
    if kind == "pitchwheel":  # -8192..8191: the centre is 0, each side spread over -1..1
        bend = message.pitch / (8192 if message.pitch < 0 else 8191)
        return Event(sample, PITCH_BEND, message.channel + 1, 0, bend)
    return None


def read_midi_file(path: str | Path, sample_rate: int) -> EventTimeline:
    """The notes and CCs of a MIDI file (type 0 or 1), each on its sample from the start."""
    import mido

    shown = Path(path).name
    try:
        midi = mido.MidiFile(path)
    except OSError as error:
        if error.errno is not None:  # the file system's (mido says "no MThd" as an OSError too)
            raise MidiFileError(f"cannot read {shown}: {error.strerror}") from None
        raise MidiFileError(f"{shown} is not a MIDI file ({error})") from None
    except Exception as error:  # mido raises what its parser meets: EOFError, ValueError, KeyError
        detail = str(error) or type(error).__name__
        raise MidiFileError(f"{shown} is not a MIDI file that can be read ({detail})") from None
    if midi.type == 2:
        raise MidiFileError(f"{shown} is a type 2 MIDI file (independent patterns): play a type 0 or 1 file")
    if not midi.ticks_per_beat or midi.ticks_per_beat <= 0:
        raise MidiFileError(f"{shown}: its header gives no ticks per beat (SMPTE timing is not supported)")
    events = []
    tempo, seconds, tick_seconds = DEFAULT_TEMPO_US, 0.0, DEFAULT_TEMPO_US / 1e6 / midi.ticks_per_beat
    for message in mido.merge_tracks(midi.tracks):
        seconds += message.time * tick_seconds
        if message.type == "set_tempo":
            tempo = message.tempo
            tick_seconds = tempo / 1e6 / midi.ticks_per_beat
            continue
        event = message_event(message, round(seconds * sample_rate))
        if event is not None:
            events.append(event)
    return EventTimeline(events)
