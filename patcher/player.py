"""Real-time playback: the engine fed from a PortAudio callback (through sounddevice).

The callback only runs the compiled schedule on pre-allocated buffers. It takes no lock, prints
nothing and lets no exception out: changes reach it through a deque that it drains at the
block boundary (param ramps and whole schedules, both prepared on the caller's thread), and
everything it reports (counts, loads, levels, faults) it writes into pre-allocated arrays and
attributes that other threads read.

Output protection (``patcher.protection``) is always on: NaN and infinity become silence, a
runaway feedback loop is ducked and cleared, and a limiter with a hard ceiling keeps every
sample within ±1.0.

With a safety buffer (``buffer_ms``, Pure Data's ``-audiobuf``), the engine instead runs in a
thread of its own that computes blocks ahead into PortAudio's output FIFO (the blocking
read/write API), and the device's real-time thread only copies from that FIFO, in C, without
ever taking Python's GIL. It costs ``buffer_ms`` of latency and survives any stall of the
engine shorter than that: on a virtual machine whose scheduler can stall a thread for several
milliseconds, it is what keeps block 64 free of underruns (README, "Real time").
"""

from __future__ import annotations

import collections
import gc
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from patcher.engine import Engine, ParamChange
from patcher.model import Patch
from patcher.protection import OutputProtection
from patcher.recorder import Recorder

LOAD_HISTORY = 1 << 16
MAX_BUFFER_MS = 1000.0
T = TypeVar("T")
TAP_SLOTS = 8  # node outputs a front end can watch at once (scopes)
REALTIME_PRIORITY = 1  # SCHED_FIFO, for the buffered engine thread: JACK's clients run at 5+
MAKE_WAY_POLL_S = 0.0001
MAKE_WAY_LIMIT_S = 0.05  # a block never takes this long; a stuck flag must not stall an edit
#: How long the FIFO's free space must hold still to be taken as its size (buffered play).
STEADY_S = 0.1


def quiet_interpreter() -> None:
    """Keep this process's interpreter out of the audio callback's way; call it before the
    stream starts (the full collection here would otherwise cost an xrun).

    The cyclic garbage collector can pause any thread for milliseconds: everything built so
    far is frozen out of its reach and it runs rarely. A short switch interval hands the GIL to
    the audio thread soon after it asks. For a process whose main job is audio (``patcher
    play``, the engine process), not for one that hosts a GUI.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    sys.setswitchinterval(0.0005)


def check_buffer_ms(buffer_ms: float) -> float:
    """The safety buffer, if it is one (else ValueError)."""
    if not 0.0 <= buffer_ms <= MAX_BUFFER_MS:
        raise ValueError(f"the safety buffer must be 0 to {MAX_BUFFER_MS:g} ms, not {buffer_ms:g}")
    return buffer_ms


class AudioDeviceError(RuntimeError):
    """No device, a busy device, or a rate or block size it refuses: one sentence for the user."""


@dataclass
class PlaybackReport:
    seconds: float
    sample_rate: int
    block_size: int
    device: str
    callbacks: int
    expected_callbacks: int
    underruns: int
    overruns: int
    cpu_load_mean: float
    cpu_load_p99: float
    cpu_load_max: float
    peak_dbfs: float | None
    warnings: list[str]
    #: The safety buffer the engine computed ahead by (0: it ran in the device's callback).
    buffer_ms: float = 0.0
    #: Seconds from the start command to the first block with sound in it (None: silence).
    first_sound_s: float | None = None

    def text(self) -> str:
        peak = "silence" if self.peak_dbfs is None else f"{self.peak_dbfs:.1f} dBFS"
        buffer = f", buffer {self.buffer_ms:.1f} ms" if self.buffer_ms else ""
        lines = [
            f"played {self.seconds:.2f} s on {self.device} "
            f"({self.sample_rate} Hz, block {self.block_size}{buffer})",
            f"callbacks {self.callbacks} (expected {self.expected_callbacks}), "
            f"underruns {self.underruns}, overruns {self.overruns}",
            f"CPU load mean {self.cpu_load_mean:.1%}, p99 {self.cpu_load_p99:.1%}, "
            f"max {self.cpu_load_max:.1%}",
            f"peak output {peak}",
        ]
        return "\n".join(lines + [f"warning: {w}" for w in self.warnings])

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


class Player:
    """Plays a patch on an audio device; thread-safe controls, lock-free callback."""

    def __init__(
        self,
        patch: Patch,
        device: int | str | None = None,
        input_device: int | str | None = None,
        block_size: int | None = None,
        sample_rate: int | None = None,
        record_s: float = 0.0,
        buffer_ms: float = 0.0,
    ) -> None:
        check_buffer_ms(buffer_ms)
        self.engine = Engine(patch, sample_rate, block_size)
        #: Frames the engine computes ahead in buffered mode (0: it runs in the device callback);
        #: at least a block, which the engine writes whole.
        asked = round(buffer_ms * self.engine.sample_rate / 1000.0)
        self.buffer_frames = max(asked, self.engine.block_size) if buffer_ms else 0
        #: The output FIFO's size as measured once playing (host APIs round the request up).
        self.fifo_frames = 0
        self._block_out = np.zeros((self.engine.block_size, 2), dtype=np.float32)
        self._feeder: threading.Thread | None = None
        self._feeding = False
        #: Whether the buffered engine thread got a real-time priority.
        self.realtime_priority = False
        #: The first ``record_s`` seconds of what was played (pre-allocated; for tests and takes).
        self.recording = np.zeros((round(record_s * self.engine.sample_rate), 2), dtype=np.float32)
        self.recorded = 0
        #: Recording what plays into a file (``start_recording``), or None.
        self.recorder: Recorder | None = None
        self.device = device
        self.input_device = input_device
        self.commands: collections.deque[Any] = collections.deque()
        self.protection = OutputProtection(self.engine.sample_rate, self.engine.block_size)
        #: Watched node outputs: the audio thread copies each block of theirs, whole, under a
        #: sequence count (odd while it copies) for ``tap`` to read without tearing.
        self._taps: tuple[tuple[str, str], ...] = ()
        self._published_taps: tuple[tuple[str, str], ...] = ()
        self._tap_blocks = np.zeros((TAP_SLOTS, self.engine.block_size))
        self._tap_sequence = 0
        self.loads = np.zeros(LOAD_HISTORY)
        self.levels = np.zeros(2)
        self._level_work = np.zeros((2, 2))
        self.callbacks = 0
        self.underruns = 0
        self.overruns = 0
        self.peak = 0.0
        self.callback_errors = 0
        self.last_error: BaseException | None = None
        self.stream: Any = None
        self.started_at = 0.0
        self.stopped_at = 0.0
        #: When (``time.perf_counter``) playing was asked for, and when the first block with
        #: sound in it was computed (0 until then): the time from Play to sound.
        self.requested_at = 0.0
        self.first_sound_at = 0.0
        #: Set once the device plays what the engine makes (buffered: after the FIFO is measured).
        self.playing = threading.Event()
        self.device_name = ""
        self._warnings: list[str] = []
        self._reported_loops = 0
        self._reported_nonfinite = False
        #: Whether the stream reads the sound card's input (decided when it starts).
        self.has_input = False
        self._said_no_input = False
        #: True while the audio thread computes a block (``make_way`` waits for it to end).
        self._in_block = False
        #: The thread that turned numpy's warnings off for itself (the audio thread).
        self._quiet_thread: int | None = None
        #: Live events (notes from a MIDI port), each stamped on arrival: (time, kind, channel,
        #: number, value); the audio thread plays them in the next block, at the place their
        #: arrival had in the block before (a block of latency, and no jitter).
        self.live_events: collections.deque[tuple[float, int, int, int, float]] = collections.deque()
        #: When (``time.perf_counter``) the last block started computing.
        self._block_started = 0.0

    # -- control (any thread but the audio thread) ------------------------------------------
    @property
    def uses_live_input(self) -> bool:
        return self.input_device is not None or self.engine.patch.reads_the_sound_card()

    def start(self, requested_at: float | None = None) -> None:
        """Open the device and play; ``requested_at`` is when (``time.perf_counter``, the same
        clock in every process) playing was asked for, if before this call (another process)."""
        import sounddevice

        if self.stream is not None:
            raise RuntimeError("the player is already playing: stop() it first")
        self.requested_at = time.perf_counter() if requested_at is None else requested_at
        rate, block = self.engine.sample_rate, self.engine.block_size
        buffered = self.buffer_frames > 0
        options: dict[str, Any] = {"samplerate": rate, "blocksize": block, "dtype": "float32"}
        if buffered:  # no callback: PortAudio's blocking API, with a FIFO this long
            options["latency"] = self.buffer_frames / rate
        self._warm_up()
        self.has_input = self.uses_live_input
        try:
            if self.has_input:
                self.stream = sounddevice.Stream(
                    device=(self.input_device, self.device),
                    channels=(self._input_channels(sounddevice) if buffered else 1, 2),
                    callback=None if buffered else self._duplex_callback,
                    **options,
                )
            else:
                self.stream = sounddevice.OutputStream(
                    device=self.device,
                    channels=2,
                    callback=None if buffered else self._output_callback,
                    **options,
                )
            self.device_name = _device_name(sounddevice, self.stream.device)
            self.started_at = time.perf_counter()
            self.stream.start()
        except (sounddevice.PortAudioError, ValueError, OverflowError) as error:
            self.stream = None
            problem = _device_problem(error, self.device, self.input_device, rate, block)
            raise AudioDeviceError(problem) from None
        if not buffered:
            self.playing.set()
        else:
            self._feeding = True
            self._feeder = threading.Thread(target=self._feed, name="patcher-engine", daemon=True)
            self._feeder.start()

    def _input_channels(self, sounddevice: Any) -> int:
        """Stereo where the device has it: PortAudio's JACK blocking layer sizes its input FIFO
        for two channels whatever was asked (pa_jack.c), so mono would read past the buffer."""
        try:
            device = sounddevice.query_devices(self.input_device, "input")
        except (sounddevice.PortAudioError, ValueError):
            return 1
        return 2 if device["max_input_channels"] >= 2 else 1

    def _warm_up(self) -> None:
        """Run a few blocks before the stream starts, so first-call costs (imports, caches,
        FFT plans) are not paid in the first callbacks; then start from a clean state."""
        for _ in range(3):
            self.protection.process(self.engine.process_block(), self.engine.schedule)
        self.engine.reset()
        self.protection = OutputProtection(self.engine.sample_rate, self.engine.block_size)

    def start_recording(self, path: str | Path) -> None:
        """Record what plays into ``path`` (.wav or .flac) until ``stop_recording``; raises
        OSError or ValueError when that file cannot be written (nothing changes then)."""
        if self.recorder is not None:
            raise ValueError(f"already recording into {self.recorder.path}")
        recorder = Recorder(path, self.engine.sample_rate)
        recorder.start()
        self.recorder = recorder  # the audio thread takes it from its next block

    def stop_recording(self) -> str | None:
        """End the recording and write the file whole; what was recorded, in words (None when
        nothing was being recorded). Raises OSError when the file could not be written."""
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return None
        deadline = time.perf_counter() + 1.0
        while self._in_block and time.perf_counter() < deadline:  # a block may be capturing
            time.sleep(0.0005)
        return recorder.stop()

    def stop(self) -> None:
        if self._feeder is not None:
            self._feeding = False  # the feeder's next write returns within a device period
            self._feeder.join(timeout=2.0)
            self._feeder = None
        if self.stream is not None:
            self.stream.stop()
            self.stream.close()
            if not self.buffer_frames:  # buffered, the feeder noted when it stopped
                self.stopped_at = time.perf_counter()
            self.stream = None
        if self.recorder is not None:  # a recording ends with the sound: its file is written
            try:
                self._warnings.append(self.stop_recording() or "")
            except OSError as error:
                self._warnings.append(str(error))

    def __enter__(self) -> Player:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def set_param(self, node_id: str, name: str, value: Any, arrived_at: float = 0.0) -> None:
        """Validate now (raises PatchError), ramp in at the next block boundary; a live
        control's change (``arrived_at``, ``time.perf_counter``) ramps in from its place in it."""
        change = self.engine.prepare_param_change(node_id, name, value)
        change.arrived_at = arrived_at
        self.commands.append(change)

    def play_event(self, kind: int, channel: int, number: int, value: float = 0.0) -> None:
        """Any thread: play an event (:mod:`patcher.events`) in the next block, at the place
        its arrival, now, has in the block being computed."""
        self.live_events.append((time.perf_counter(), kind, channel, number, value))

    def recall_preset(self, name: str, glide_s: float = 0.0) -> None:
        """Recall the preset ``name`` (raises PatchError for an unknown one): every change
        starts at the same block boundary, numbers gliding over ``glide_s``
        (:meth:`Engine.prepare_preset`)."""
        self.commands.append(self.engine.prepare_preset(name, glide_s))

    def update_patch(self, patch: Patch) -> None:
        """Compile here (raises PatchError, leaving playback untouched); swap at a block boundary.
        The compile makes way for the audio thread whenever it computes a block."""
        self.commands.append(self.engine.prepare_patch(patch, pause=self.make_way))

    def make_way(self) -> None:
        """Wait while the audio thread computes a block. Python runs one thread at a time, and
        two threads that both want to run share it about equally: a compile beside a callback
        would halve the callback's speed, and a callback at half its budget would then miss its
        deadline. Work off the audio thread calls this between small steps, so that the
        callback, once it has the interpreter, keeps it until its block is done."""
        deadline = time.perf_counter() + MAKE_WAY_LIMIT_S
        while self._in_block and time.perf_counter() < deadline:
            time.sleep(MAKE_WAY_POLL_S)

    def tap(self, node_id: str, port: str) -> np.ndarray | None:
        """A copy of the latest whole block of a node's output, for scopes; the first call
        starts watching it (None until a block has been played). Never blocks the audio."""
        key = (node_id, port)
        if key not in self._taps:
            running = self.engine.latest.outputs
            kept = [tap for tap in self._taps if tap in running][-(TAP_SLOTS - 1) :]
            self._taps = (*kept, key)  # one reference swap: the audio thread sees old or new
            return None

        def read() -> np.ndarray | None:
            taps = self._published_taps
            return self._tap_blocks[taps.index(key)].copy() if key in taps else None

        return read_consistently(lambda: self._tap_sequence, read)

    def node_view(self, node_id: str) -> np.ndarray | None:
        """The running node's ``view()`` (a scope's waveform, a spectrum's levels), computed here
        on the caller's thread; None when the node is not running or has no view."""
        view = getattr(self.engine.schedule.nodes.get(node_id), "view", None)
        return None if view is None else np.asarray(view(), dtype=np.float64)

    def set_metering(self, on: bool) -> None:
        """Turn the per-node CPU meter on or off (``meters()["node_loads"]``)."""
        self.engine.metering = on

    def meters(self) -> dict[str, Any]:
        """The output levels, the callback's load (its time over the block's duration), the
        underruns and callbacks so far; with metering on, each running node's share of the
        block's duration (``node_loads``) and their total (``node_loads_total``)."""
        count = self.callbacks
        node_loads, total = self._node_loads()
        return {
            "level": self.levels.copy(),
            "cpu_load": float(self.loads[(count - 1) % LOAD_HISTORY]) if count else 0.0,
            "underruns": self.underruns,
            "callbacks": count,
            "node_loads": node_loads,
            "node_loads_total": total,
        }

    def _node_loads(self) -> tuple[dict[str, float], float]:
        engine = self.engine
        loads = engine.schedule.loads  # the schedule the audio thread runs now
        if not engine.metering:
            return {}, 0.0
        return read_consistently(lambda: loads.sequence, loads.read) or ({}, 0.0)

    def warnings(self) -> list[str]:
        """New warnings since the last call: faulty nodes, NaN, runaway loops, callback errors.
        Also frees what the audio thread replaced (call it now and then while playing)."""
        self.engine.release_retired()
        new = self.engine.take_reports()
        new += self.protection.loop_reports(self._reported_loops)
        self._reported_loops = len(self.protection.runaway_loops)
        if self.stream is not None and not (self.has_input or self._said_no_input) and self.uses_live_input:
            self._said_no_input = True  # the stream's kind is fixed when it opens
            new.append(
                "an input node reads the sound card now, but playback started without the "
                "card's input: stop and play again to open it"
            )
        if self.protection.nonfinite_blocks and not self._reported_nonfinite:
            self._reported_nonfinite = True  # the nodes' checks missed it: a bug of ours, said once
            new.append("the output held NaN or infinity that no node was named for: silenced")
        if self.callback_errors and self.last_error is not None:
            new.append(f"the audio callback failed {self.callback_errors} times: {self.last_error!r}")
            self.last_error = None
        self._warnings += new
        return new

    def report(self) -> PlaybackReport:
        count = self.callbacks
        loads = self.loads[: min(count, LOAD_HISTORY)]
        elapsed = (self.stopped_at or time.perf_counter()) - self.started_at
        rate, block = self.engine.sample_rate, self.engine.block_size
        self.warnings()
        return PlaybackReport(
            seconds=elapsed,
            sample_rate=rate,
            block_size=block,
            device=self.device_name,
            callbacks=count,
            # Buffered, the engine is a FIFO's length ahead of what the device has played.
            expected_callbacks=round(elapsed * rate / block) + (self.fifo_frames // block if count else 0),
            underruns=self.underruns,
            overruns=self.overruns,
            cpu_load_mean=float(loads.mean()) if count else 0.0,
            cpu_load_p99=float(np.percentile(loads, 99)) if count else 0.0,
            cpu_load_max=float(loads.max()) if count else 0.0,
            peak_dbfs=20 * float(np.log10(self.peak)) if self.peak > 0 else None,
            warnings=list(self._warnings),
            buffer_ms=1000.0 * (self.fifo_frames or self.buffer_frames) / rate,
            first_sound_s=self.first_sound_at - self.requested_at if self.first_sound_at else None,
        )

    # -- the audio thread ---------------------------------------------------------------------
    def _output_callback(self, outdata: np.ndarray, frames: int, _time: Any, status: Any) -> None:
        # PortAudio's JACK host API flags an xrun on the next callback as both underflow and
        # overflow, even on an output-only stream: count overruns only with an input.
        self._run_block(None, outdata, frames, status.output_underflow, False)

    def _duplex_callback(
        self, indata: np.ndarray, outdata: np.ndarray, frames: int, _time: Any, status: Any
    ) -> None:
        self._run_block(indata, outdata, frames, status.output_underflow, status.input_overflow)

    def _run_block(
        self, indata: np.ndarray | None, outdata: np.ndarray, frames: int, underflow: bool, overflow: bool
    ) -> None:
        started = time.perf_counter()
        self._in_block = True
        try:
            self.underruns += bool(underflow)
            self.overruns += bool(overflow)
            self._drain_commands(frames)
            engine = self.engine
            if self.live_events:
                self._take_live_events(frames)
            self._block_started = started
            if indata is not None:
                engine.device_input[:frames] = indata[:, 0]
            if self._quiet_thread != threading.get_ident():  # numpy keeps this per thread
                np.seterr(all="ignore")
                self._quiet_thread = threading.get_ident()
            block = engine.run_block(frames)
            self.protection.process(block, engine.schedule)
            outdata[:] = block.T
            self._record(outdata, frames)
            recorder = self.recorder
            if recorder is not None:
                recorder.capture(outdata)
            self._measure_levels(block)
            if self._taps:
                self._publish_taps()
        except Exception as error:  # never let an exception stop the stream
            outdata.fill(0.0)
            self.callback_errors += 1
            self.last_error = error
        self._in_block = False
        self.loads[self.callbacks % LOAD_HISTORY] = (
            (time.perf_counter() - started) * self.engine.sample_rate / frames
        )
        self.callbacks += 1

    def _publish_taps(self) -> None:
        """Copy the watched outputs' blocks for ``tap``, the count odd meanwhile."""
        taps, outputs = self._taps, self.engine.schedule.outputs
        self._tap_sequence += 1
        self._published_taps = taps
        for slot, key in enumerate(taps):
            buffer = outputs.get(key)
            if buffer is not None:
                np.copyto(self._tap_blocks[slot], buffer)
        self._tap_sequence += 1

    def _measure_levels(self, block: np.ndarray) -> None:
        """Each channel's peak, and the peak so far, without temporary arrays; ``levels``
        changes in one numpy call, so a meter reading it never sees a half-made value."""
        highs, lows = self._level_work
        np.max(block, axis=1, out=highs)
        np.min(block, axis=1, out=lows)
        np.negative(lows, out=lows)
        np.maximum(highs, lows, out=highs)
        np.copyto(self.levels, highs)
        self.peak = max(self.peak, float(highs.max()))
        if self.peak > 0.0 and not self.first_sound_at:
            self.first_sound_at = time.perf_counter()

    # -- the engine thread (buffered mode) ----------------------------------------------------
    def _feed(self) -> None:
        """Compute blocks into the output FIFO as fast as it takes them. A FIFO found empty
        when a block is ready to go in counts as an underrun (the device has been playing
        silence), as does an underflow the host API reports."""
        stream, block = self.stream, self.engine.block_size
        live = self.has_input
        self.realtime_priority = ask_for_realtime_priority()
        try:
            self.fifo_frames = fifo_frames = self._fifo_frames(stream)
            self.started_at = time.perf_counter()
            self.playing.set()
            priming = fifo_frames // block  # the first fill finds the FIFO empty by design
            while self._feeding:
                indata, overflow = stream.read(block) if live else (None, False)
                self._run_block(indata, self._block_out, block, False, overflow)
                starved = priming <= 0 and stream.write_available >= fifo_frames
                priming -= 1
                underflow = stream.write(self._block_out)
                self.underruns += bool(starved or underflow)
        except Exception as error:  # the device went away: report it, stop feeding
            self.callback_errors += 1
            self.last_error = error
        self.stopped_at = time.perf_counter()
        self.playing.set()  # nobody waits for a start that will not come

    def _fifo_frames(self, stream: Any) -> int:
        """The FIFO's size: its free space once the device has drained what it starts with
        (PortAudio's JACK layer starts it full of silence; other host APIs start it empty)."""
        period = self.engine.block_size / self.engine.sample_rate
        free, steady = stream.write_available, 0
        # Steady for a tenth of a second (at least 3 periods), not 3 periods alone: a sound
        # server held up that long on a busy machine looked drained (29184 of 32768 frames).
        enough = max(3, math.ceil(STEADY_S / period))
        # The initial silence drains in the FIFO's length, which the host API may round up to
        # the next power of two: allow twice the buffer asked for.
        deadline = time.perf_counter() + 0.5 + STEADY_S + 2.0 * self.buffer_frames / self.engine.sample_rate
        while steady < enough and time.perf_counter() < deadline and self._feeding:
            time.sleep(period)
            now = stream.write_available
            steady = steady + 1 if now == free else 0
            free = now
        return free if free > 0 else self.buffer_frames

    def _record(self, outdata: np.ndarray, frames: int) -> None:
        room = min(frames, len(self.recording) - self.recorded)
        if room > 0:
            self.recording[self.recorded : self.recorded + room] = outdata[:room]
            self.recorded += room

    def _offset(self, arrived_at: float, frames: int) -> int:
        """Where in this block something that arrived at ``arrived_at`` plays: at its place in
        the block before (the first sample for what arrived before that block started)."""
        if not self._block_started:  # the first block: no block before to place it in
            return 0
        offset = int((arrived_at - self._block_started) * self.engine.sample_rate)
        return min(max(offset, 0), frames - 1)

    def _take_live_events(self, frames: int) -> None:
        events = self.engine.events
        while self.live_events:
            arrived_at, kind, channel, number, value = self.live_events.popleft()
            events.add(self._offset(arrived_at, frames), kind, channel, number, value)

    def _drain_commands(self, frames: int) -> None:
        while self.commands:
            command = self.commands.popleft()
            if isinstance(command, ParamChange):
                if command.arrived_at and command.ramp is not None:
                    command.ramp.delay = self._offset(command.arrived_at, frames)
                self.engine.apply(command)
            elif isinstance(command, list):  # a preset: its changes at one boundary
                for change in command:
                    self.engine.apply(change)
            else:
                self.engine.swap(command)


def read_consistently(sequence: Callable[[], float], read: Callable[[], T]) -> T | None:
    """``read()`` under a sequence lock: retried while the writer's count is odd (writing) or
    moved on during the read; None if the writer never lets go. The writer never waits."""
    for _ in range(20):
        before = sequence()
        if before % 2 == 0:
            values = read()
            if sequence() == before:
                return values
        time.sleep(0.0002)
    return None


def ask_for_realtime_priority() -> bool:
    """Move the calling thread to the lowest real-time priority, where the system allows it
    (root, or an rtprio limit): above every ordinary thread, below JACK's and the device's own.
    It spends its time blocked on the FIFO, so it cannot starve the machine."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    except (AttributeError, OSError):
        return False
    return True


def find_devices(device: int | str | None, input_device: int | str | None = None) -> None:
    """Raise AudioDeviceError, in the words a failed stream would use, when the output device
    (or a named input device) does not exist: cheap, so commands ask before the slow work."""
    try:
        import sounddevice
    except OSError as error:  # the PortAudio library itself is missing
        raise AudioDeviceError(f"PortAudio is not installed ({error}); `make run` installs it") from None
    wanted = [(device, "output")] + ([(input_device, "input")] if input_device is not None else [])
    for which, kind in wanted:
        try:
            sounddevice.query_devices(which, kind)
        except (sounddevice.PortAudioError, ValueError, OverflowError) as error:
            if which is None:
                raise AudioDeviceError(
                    f"no audio {kind} device found; `patcher devices` lists them"
                ) from None
            name = "device" if kind == "output" else "input device"
            reason = "" if isinstance(error, OverflowError) else f" ({error})"
            raise AudioDeviceError(
                f"{name} {which!r} does not exist{reason}; `patcher devices` lists them"
            ) from None


def output_devices() -> list[str]:
    """The names of the devices that can play (what ``--device`` and the editor's Transport >
    Audio Device take); none when PortAudio is missing."""
    try:
        import sounddevice

        devices = sounddevice.query_devices()
    except (OSError, Exception):  # no PortAudio, or it failed to start: nothing to choose
        return []
    return [str(device["name"]) for device in devices if device["max_output_channels"] > 0]


def _device_name(sounddevice: Any, device: Any) -> str:
    index = device[1] if isinstance(device, tuple | list) else device
    try:
        return str(sounddevice.query_devices(index)["name"])
    except Exception:
        return str(index)


def _device_problem(error: Exception, device: Any, input_device: Any, rate: int, block: int) -> str:
    """One sentence for what PortAudio (or sounddevice) refused, naming the device at fault."""
    if isinstance(error, OverflowError):  # a device number beyond what PortAudio can hold
        huge_input = isinstance(input_device, int) and input_device >= 2**31
        device, kind = (input_device, "input device") if huge_input else (device, "device")
        return f"{kind} {device!r} does not exist; `patcher devices` lists them"
    text = str(error)
    if "input device" in text.lower() and "output device" not in text.lower():
        device, kind = input_device, "input device"
    else:
        kind = "device"
    which = f"the default {kind}" if device is None else f"{kind} {device!r}"
    if "Invalid sample rate" in text:
        return f"{which} does not support {rate} Hz: {text}"
    if device is None and ("No Default" in text or "Error querying device -1" in text):
        audio = "input" if kind == "input device" else "output"
        return f"no audio {audio} device found ({text}); `patcher devices` lists them"
    missing = ("No Default", "Error querying device", "No input device matching", "No output device matching")
    if any(sign in text for sign in missing):
        return f"{which} does not exist ({text}); `patcher devices` lists them"
    if "Device unavailable" in text or "busy" in text.lower():
        return f"{which} is busy: {text}"
    return f"cannot open {which} at {rate} Hz with blocks of {block}: {text}"
