"""Offline renders that sound like a play: the engine's blocks through the output protection.

``render`` returns the audio in memory (for scripts, notebooks and tests); ``render_to_file``
streams it to a WAV or FLAC file block by block, so a render's memory does not grow with its
length. Both report what the protection caught (a node that failed or made NaN, a runaway
loop, how far the limiter pulled the output down), as ``patcher play`` does.
``limit=False`` gives the engine's own output, unlimited (NaN is still scrubbed node by node).
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from patcher.audiofile import FLOAT32_MAX
from patcher.engine import Engine
from patcher.events import EventTimeline
from patcher.interrupts import request_stop, stop_requested
from patcher.model import Patch
from patcher.protection import OutputProtection, all_finite, scrub

#: An in-memory render larger than this is refused: ``render_to_file`` streams any length.
MAX_IN_MEMORY_BYTES = 4 << 30


@dataclass
class RenderReport:
    """What a render made and what the protection caught on the way."""

    seconds: float
    sample_rate: int
    block_size: int
    limited: bool
    #: The largest |sample| written, and the largest before the limiter (equal when unlimited).
    peak: float = 0.0
    peak_before_limiter: float = 0.0
    limited_blocks: int = 0
    warnings: list[str] = field(default_factory=list)

    def peak_text(self) -> str:
        """The peak in dBFS, and where the limiter acted, what it was before."""
        if self.peak == 0.0:
            return "silence"
        text = f"peak {dbfs(self.peak):.1f} dBFS"
        if self.limited_blocks:
            text += f", limited from {dbfs(self.peak_before_limiter):+.1f} dBFS"
        return text


class Rendering(np.ndarray):
    """A render: the (frames, 2) float64 array it always was, with its ``sample_rate`` and
    ``report`` (what the protection caught) attached."""

    sample_rate: int
    report: RenderReport | None

    def __new__(cls, audio: np.ndarray, report: RenderReport) -> Rendering:
        rendering = np.asarray(audio).view(cls)
        rendering.sample_rate = report.sample_rate
        rendering.report = report
        return rendering

    def __array_finalize__(self, source: Any) -> None:
        self.sample_rate = getattr(source, "sample_rate", 0)
        self.report = getattr(source, "report", None)

    @property
    def warnings(self) -> list[str]:
        return [] if self.report is None else self.report.warnings

    def _repr_html_(self) -> str | None:  # a notebook shows an audio player (patcher/notebook.py)
        from patcher.notebook import rendering_html

        return rendering_html(self)


def dbfs(peak: float) -> float:
    return 20.0 * math.log10(peak)


class _ProtectedBlocks:
    """The engine's blocks, protected as a play protects them, and the reports as they come."""

    def __init__(self, engine: Engine, report: RenderReport) -> None:
        self.engine = engine
        self.report = report
        self.protection = OutputProtection(engine.sample_rate, engine.block_size) if report.limited else None
        self.loops_reported = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        engine, report = self.engine, self.report
        total = round(report.seconds * engine.sample_rate)
        for start in range(0, total, engine.block_size):
            if stop_requested():  # a signal whose KeyboardInterrupt was lost
                raise KeyboardInterrupt
            block = engine.process_block(min(engine.block_size, total - start))
            if self.protection is not None:
                self.protection.process(block, engine.schedule)
            elif not all_finite(block):  # two sinks' huge values may overflow their sum
                scrub(block)
            self._measure(block)
            yield block.T

    def _measure(self, block: np.ndarray) -> None:
        peak = max(float(block.max()), -float(block.min())) if block.size else 0.0
        report = self.report
        report.peak = max(report.peak, peak)
        protection = self.protection
        report.peak_before_limiter = protection.peak_in if protection is not None else report.peak

    def finish(self) -> RenderReport:
        """Gather the warnings: nodes that failed or made NaN, runaway loops, unnamed NaN."""
        report, protection = self.report, self.protection
        report.warnings += self.engine.take_reports()
        if protection is not None:
            report.warnings += protection.loop_reports(0)
            report.limited_blocks = protection.limited_blocks
            if protection.nonfinite_blocks:
                report.warnings.append("the output held NaN or infinity that no node was named for: silenced")
        return report


def render(
    patch: Patch,
    seconds: float | None = None,
    sample_rate: int | None = None,
    block_size: int | None = None,
    show_progress: bool = False,
    limit: bool = True,
    events: EventTimeline | None = None,
) -> Rendering:
    """Render a patch offline to a (frames, 2) float64 array, protected as a play is (within
    ±1.0, NaN silenced, runaway loops ducked) unless ``limit`` is False. What the protection
    caught is in ``.report`` (and ``.warnings``). ``events`` (a MIDI file's, from
    :func:`patcher.midi.read_midi_file`) are played on their samples. Raises ValueError for a
    render too large to hold in memory: ``render_to_file`` streams any length."""
    engine = _engine(patch, sample_rate, block_size, events)
    seconds = patch.settings.duration_s if seconds is None else seconds
    total = round(seconds * engine.sample_rate)
    size = total * 2 * 8
    if size > MAX_IN_MEMORY_BYTES:
        raise ValueError(
            f"rendering {seconds:g} s at {engine.sample_rate} Hz in memory takes {size / 2**30:.1f} GiB "
            f"(the limit is {MAX_IN_MEMORY_BYTES / 2**30:g} GiB): render to a file instead "
            "(patcher render, or patcher.render_to_file), which streams it"
        )
    report = RenderReport(seconds, engine.sample_rate, engine.block_size, limit)
    blocks = _ProtectedBlocks(engine, report)
    audio = np.empty((total, 2))
    done = 0
    with _progress(total, show_progress) as advance:
        for block in blocks:
            audio[done : done + len(block)] = block
            done += len(block)
            advance(len(block))
    return Rendering(audio, blocks.finish())


def render_to_file(
    patch: Patch,
    path: str | Path,
    seconds: float | None = None,
    sample_rate: int | None = None,
    block_size: int | None = None,
    show_progress: bool = False,
    limit: bool = True,
    progress: Callable[[int, int], Any] | None = None,
    events: EventTimeline | None = None,
) -> RenderReport:
    """Render a patch into a WAV (32-bit float) or FLAC (24-bit) file, block by block: the
    file appears whole or not at all. Raises ValueError for a bad file name and OSError when
    the file cannot be written (no room, no such folder). ``progress(done, total)`` is told
    the frames written after each block (the editor's progress bar)."""
    from patcher.audiofile import AudioWriter

    engine = _engine(patch, sample_rate, block_size, events)
    seconds = patch.settings.duration_s if seconds is None else seconds
    total = round(seconds * engine.sample_rate)
    report = RenderReport(seconds, engine.sample_rate, engine.block_size, limit)
    blocks = _ProtectedBlocks(engine, report)
    with AudioWriter(path, engine.sample_rate, channels=2, frames=total) as writer:
        with _progress(total, show_progress) as advance:
            done = 0
            for block in blocks:
                writer.write(block)
                advance(len(block))
                done += len(block)
                if progress is not None:
                    progress(done, total)
        if not limit and report.peak > 1.0 and writer.clips:
            report.warnings.append(
                f"{Path(path).name}: FLAC holds samples within ±1.0: the peak of "
                f"{dbfs(report.peak):+.1f} dBFS is clipped (a .wav file keeps it, as 32-bit float)"
            )
        elif report.peak > FLOAT32_MAX:
            report.warnings.append(
                f"{Path(path).name}: samples beyond 32-bit float's range ({FLOAT32_MAX:.3g}) are "
                "written as its largest value"
            )
    return blocks.finish()


def _engine(
    patch: Patch, sample_rate: int | None, block_size: int | None, events: EventTimeline | None
) -> Engine:
    """The render's engine; with events, of a copy of the patch (a mapped CC moves a param of
    the patch an engine plays, as a knob does: the caller's stays as it was)."""
    if events is None:
        return Engine(patch, sample_rate, block_size)
    engine = Engine(copy.deepcopy(patch), sample_rate, block_size)
    engine.play_events(events)
    return engine


@contextmanager
def _progress(total: int, show: bool) -> Iterator[Callable[[int], Any]]:
    """``advance(frames)``: a tqdm bar on stderr for renders long enough to need one (tqdm
    shows nothing before its delay), or nothing."""
    if not show:
        yield _ignore
        return
    from tqdm import tqdm

    # disable=None: no bar where stderr is not a terminal (a log would fill with them).
    with tqdm(
        total=total, unit="frame", unit_scale=True, delay=1.0, file=sys.stderr, leave=False, disable=None
    ) as bar:
        yield bar.update


def _ignore(_frames: int) -> None:
    pass


def warm_up_kernels() -> None:
    """Run every node type once, its inputs and modulatable params driven and not, and every
    two-phase node in a feedback loop, so that each kernel is compiled (and cached) and loaded
    now rather than in the middle of some later patch (in an audio callback, after an edit)."""
    from patcher import plan
    from patcher.spec import registry

    plan.warm_up()
    patch = Patch()
    patch.add_node("noise", "drive")
    patch.add_node("output", "sink")
    for type_name, cls in sorted(registry().items()):
        for driven in (False, True):
            node_id = patch.add_node(type_name)
            if driven:
                for port in cls.input_ports():
                    patch.connect("drive.out", f"{node_id}.{port}")
            for port in cls.OUTPUTS[:1]:
                patch.connect(f"{node_id}.{port}", "sink.right" if driven else "sink.left")
    for type_name, cls in sorted(registry().items()):  # each choice (an oversampling, a shape)
        for name, param in cls.PARAMS.items():
            for choice in param.choices:
                if choice != param.default and choice != "file":  # a file param would need a file
                    node_id = patch.add_node(type_name, **{name: choice})
                    for port in cls.OUTPUTS[:1]:
                        patch.connect(f"{node_id}.{port}", "sink.left")
    for type_name, cls in sorted(registry().items()):  # two-phase nodes in a feedback loop
        if not cls.READ_OUTPUTS:
            continue
        params = {"time_ms": 0.1} if "time_ms" in cls.PARAMS else {}
        node_id = patch.add_node(type_name, **params)
        back = patch.add_node("gain")
        patch.connect(f"{node_id}.{cls.READ_OUTPUTS[0]}", f"{back}.in")
        patch.connect(f"{back}.out", f"{node_id}.{cls.INPUTS[0]}")
        patch.connect(f"{node_id}.{cls.OUTPUTS[0]}", "sink.left")
    for block_size in (64, 65):  # the first partitions of a convolver's level of 128 end
        engine = Engine(patch, block_size=block_size)
        engine.render(0.015)
        while engine.schedule.fast.made < len(engine.schedule.fast.groups):  # every compiled entry
            engine.process_block()
    # A convolver alone, long enough for its larger levels' partitions (1024, 8192) to end.
    room = Patch()
    room.add_node("noise", "drive")
    room.add_node("convolver", "room", room_length_s=0.2)
    room.add_node("output", "sink")
    room.connect("drive.out", "room.in")
    room.connect("room.out", "sink.left")
    for block_size in (64, 65):
        Engine(room, block_size=block_size).render(0.2)


def render_in_child(patch: Patch, path: str, seconds: float | None, updates: Any) -> None:
    """A render in a process of its own (the editor's File > Render), telling ``updates`` (a
    multiprocessing queue) ("progress", fraction) now and then, then ("done", report text) or
    ("failed", reason). Ended with SIGTERM (Cancel), it leaves no file."""
    import signal
    import time

    def cancelled(_signal: int, _frame: Any) -> None:
        request_stop()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, cancelled)
    last = [0.0]

    def tell(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.1 or done == total:
            last[0] = now
            updates.put(("progress", done / max(total, 1)))

    try:
        report = render_to_file(patch, path, seconds, progress=tell)
    except KeyboardInterrupt:
        updates.put(("failed", "cancelled"))
        return
    except (OSError, ValueError, MemoryError) as error:
        updates.put(("failed", str(error)))
        return
    warnings = "; ".join(report.warnings)
    updates.put(("done", f"{report.peak_text()}" + (f" ({warnings})" if warnings else "")))
