"""Measure from the editor: which chain a selection names, the measurement in a process of its
own, the sentence and the plots the Measure window shows. GUI-free.

The measurement is :func:`patcher.analysis.analyze`, the one ``patcher analyze`` runs, in a
child process (as File > Render is): the window stays responsive, the audio engine's process
is not disturbed, and Cancel ends it by its process id. The plots are
:class:`~patcher.editor.visuals.Plot` values, drawn as the node pictures are, so they follow
the UI scale.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from patcher.audiofile import write_audio
from patcher.editor.commands import ReplaceGraph
from patcher.editor.jobs import ChildJob
from patcher.editor.visuals import PHASE, REFERENCE, RESPONSE, SPECTRUM, WAVE, Axis, Color, Curve, Plot, curve
from patcher.model import Patch, PatchError

if TYPE_CHECKING:  # the analysis (scipy.signal) is imported when first measured, not at start
    from patcher.analysis import Analysis

#: Points a measured curve is drawn with (a 5 s IR holds 240,000 samples).
CURVE_POINTS = 600
LOW_HZ = 20.0
FLOOR_DB = -160.0
#: The magnitude plot shows this many dB below its top.
MAGNITUDE_RANGE_DB = 120.0
#: The harmonic orders' colours, and their names for the caption (a plot has no legend).
ORDER_COLORS: tuple[tuple[str, Color], ...] = (
    ("orange", (255, 200, 90, 255)),
    ("blue", (120, 200, 255, 255)),
    ("green", (120, 230, 140, 255)),
    ("pink", (240, 120, 160, 255)),
)
RESIDUAL = (240, 110, 110, 255)


@dataclass(frozen=True)
class Chain:
    """What a measurement measures: from a port to a port ("node.port"); None is the
    analysis's default (the patch's inputs, the output's left input)."""

    from_port: str | None = None
    to_port: str | None = None

    def label(self) -> str:
        return f"{self.from_port or 'the inputs'} -> {self.to_port or 'the output'}"


def chain_for_selection(patch: Patch, selected: list[str]) -> Chain:
    """The chain a selection names: nothing selected is the whole patch; one node is that node
    (its first input to its first output); several are the chain from the first of them to
    run to the last (the first's input to the last's output). A source (no inputs) measured
    first takes its input from the patch's inputs; a sink last measures the output."""
    from patcher.analysis import running_order

    chosen = [node_id for node_id in running_order(patch) if node_id in selected]
    if not chosen:
        return Chain()
    first, last = patch.nodes[chosen[0]].spec, patch.nodes[chosen[-1]].spec
    from_port = f"{chosen[0]}.{first.INPUTS[0]}" if first.INPUTS and not first.IS_SINK else None
    to_port = f"{chosen[-1]}.{last.OUTPUTS[0]}" if last.OUTPUTS else None
    return Chain(from_port, to_port)


# -- the measurement, in a child process ------------------------------------------------------
@dataclass
class MeasureResult:
    ok: bool
    message: str
    analysis: Analysis | None = None


def measure_in_child(patch: Patch, chain: Chain, patch_name: str, updates: Any) -> None:
    """:func:`analyze` in a process of its own, telling ``updates`` ("progress", (fraction,
    step)) before each measurement, then ("done", Analysis) or ("failed", reason)."""

    from patcher.analysis import ANALYSIS_STEPS, analyze

    def tell(done: int, what: str) -> None:
        updates.put(("progress", (done / len(ANALYSIS_STEPS), what)))

    try:
        analysis = analyze(patch, chain.from_port, chain.to_port, patch_name=patch_name, progress=tell)
    except (PatchError, ValueError, OSError, MemoryError) as error:
        updates.put(("failed", str(error)))
        return
    updates.put(("done", analysis))


class MeasureJob(ChildJob):
    """A measurement of ``chain`` in ``patch`` running in a child process."""

    name = "measuring"

    def __init__(self, patch: Patch, chain: Chain, patch_name: str) -> None:
        self.chain = chain
        self.step = "starting"
        super().__init__(measure_in_child, patch, chain, patch_name)

    def poll(self) -> MeasureResult | None:
        """Take what the child said; its result once it has finished."""
        for kind, value in self.messages():
            if kind == "progress":
                self.progress, self.step = float(value[0]), str(value[1])
                continue
            self.finished()
            return MeasureResult(True, "", value) if kind == "done" else MeasureResult(False, str(value))
        died = self.died()
        return None if died is None else MeasureResult(False, died)


# -- the editor's side: start, watch, capture, listen ----------------------------------------
@dataclass
class Measurement:
    """A finished measurement: what it measured, and the patch's sound when it did."""

    analysis: Analysis
    chain: Chain
    sound: tuple[Any, ...]


def sound_of(patch: Patch) -> tuple[Any, ...]:
    """What a patch sounds like, as comparable data: its nodes, params and links (not where
    the nodes sit). A measurement taken of another sound is stale."""
    nodes = tuple((node.id, node.type, repr(sorted(node.params.items()))) for node in patch.nodes.values())
    return nodes, tuple(patch.links), patch.settings.sample_rate


class Measuring:
    """Analyze > Measure and Capture IR for an :class:`~patcher.editor.model.EditorModel`:
    the job under way, the last measurement, and the A/B switch of a capture beside its chain."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.job: MeasureJob | None = None
        self.result: Measurement | None = None
        #: The A/B mix and the difference node of the last capture beside a chain.
        self.switch: str | None = None
        self._measuring_sound: tuple[Any, ...] = ()

    def start(self, chain: Chain | None = None) -> bool:
        """Measure ``chain`` (by default, what the selection names) of the patch as it is now."""
        model = self.model
        if chain is None:
            chain = chain_for_selection(model.patch, model.selected_nodes)
        self.cancel(quiet=True)
        name = model.path.name if model.path is not None else "untitled"
        try:
            self.job = MeasureJob(copy.deepcopy(model.patch), chain, name)
        except OSError as error:  # too many processes or files
            model.say(f"cannot start the measurement: {error}", "error")
            return False
        self._measuring_sound = sound_of(model.patch)
        model.say(f"measuring {chain.label()}...")
        return True

    def cancel(self, quiet: bool = False) -> None:
        job, self.job = self.job, None
        if job is not None:
            job.cancel()
            if not quiet:
                self.model.say("cancelled the measurement")

    def poll(self) -> None:
        """Called every frame by the model: take the job's result when it has one."""
        job = self.job
        if job is None:
            return
        result = job.poll()
        if result is None:
            return
        self.job = None
        if not result.ok or result.analysis is None:
            self.model.say(f"could not measure {job.chain.label()}: {result.message}", "error")
            return
        self.result = Measurement(result.analysis, job.chain, self._measuring_sound)
        self.model.say(f"measured {job.chain.label()}: {verdict_sentence(result.analysis)}")

    @property
    def stale(self) -> bool:
        """The patch's sound changed since the measurement (its IR may no longer be its own)."""
        return self.result is not None and self.result.sound != sound_of(self.model.patch)

    def capture(self, beside: bool = False) -> bool:
        """Capture IR: the measured chain replaced by a convolver holding its IR (or, beside,
        kept and switched against it). The IR is written beside the patch file; undoable."""
        from patcher.analysis import captured_patch

        model, result = self.model, self.result
        problem = self._capture_problem()
        if problem or result is None:
            model.say(problem or "measure a chain first", "error")
            return False
        # Beside the files it reads (for a .patcher, its private folder, packed again on Save).
        folder = Path(model.patch.base_dir).resolve()
        ir_file = fresh_file_name(folder, f"{model.path.stem}-{chain_slug(result.chain)}-ir.wav")
        chain = result.chain
        try:
            capture = captured_patch(model.patch, ir_file, chain.from_port, chain.to_port, beside)
            write_audio(
                folder / ir_file, np.asarray(result.analysis.captured_ir), model.patch.settings.sample_rate
            )
        except (PatchError, OSError) as error:
            model.say(f"cannot capture {chain.label()}: {error}", "error")
            return False
        how = "beside the chain (A/B)" if beside else "in place of the chain"
        command = ReplaceGraph(copy.deepcopy(model.patch), capture.patch, label="capture IR")
        if not model.execute(command, f"captured {chain.label()} as {ir_file}, {how}"):
            return False
        self.switch = capture.switch
        self.result = None  # a capture in place leaves no chain to measure; beside, a new sound
        return True

    def _capture_problem(self) -> str | None:
        if self.result is None:
            return "measure a chain first: Capture IR holds the measured impulse response"
        if self.model.path is None:
            return "save the patch first: the captured IR is written beside it"
        if self.stale:
            return "the patch changed since it was measured: measure it again before capturing"
        return None

    @property
    def listening(self) -> str | None:
        """What the A/B switch lets through ("chain", "capture", "difference"), or None."""
        from patcher.analysis import LISTEN_LEVELS

        node = self.model.patch.nodes.get(self.switch or "")
        if node is None or node.type != "mix":
            return None
        levels = {name: node.params[name] for name in ("level1", "level2", "level3")}
        return next((choice for choice, wanted in LISTEN_LEVELS.items() if wanted == levels), None)

    def listen(self, choice: str) -> bool:
        """Switch the capture's A/B mix: hear the chain, the capture or their difference."""
        from patcher.analysis import LISTEN_LEVELS

        if choice not in LISTEN_LEVELS:
            raise ValueError(f"unknown choice {choice!r}")
        switch = self.switch
        if switch not in self.model.patch.nodes:
            self.model.say("no capture beside a chain to switch: Capture IR beside it first", "error")
            return False
        levels = [(switch, name, value) for name, value in LISTEN_LEVELS[choice].items()]
        return self.model._set_params(levels, f"listen to the {choice}")


def chain_slug(chain: Chain) -> str:
    """A file-name part naming a chain: "tone.in-tone.out" -> "tone"; the whole patch "patch"."""
    nodes = [port.split(".")[0] for port in (chain.from_port, chain.to_port) if port]
    unique = list(dict.fromkeys(nodes))
    return "-".join(unique) or "patch"


def fresh_file_name(folder: Path, name: str) -> str:
    """``name``, or ``stem-2.wav``, ``stem-3.wav``... : the first not taken in ``folder``."""
    path = Path(name)
    number = 2
    while (folder / name).exists():
        name = f"{path.stem}-{number}{path.suffix}"
        number += 1
    return name


# -- what the window says -------------------------------------------------------------------
def verdict_sentence(analysis: Analysis) -> str:
    """The verdict in one sentence a student understands (the notebook shows the same)."""
    from patcher.analysis_report import verdict

    return verdict(analysis)


# -- the plots --------------------------------------------------------------------------------
def measurement_plots(analysis: Analysis) -> list[Plot]:
    """Impulse response; magnitude and phase; harmonics per order; the null test's spectra."""
    return [
        impulse_plot(analysis),
        frequency_plot(analysis),
        harmonics_plot(analysis),
        residual_plot(analysis),
    ]


def impulse_plot(analysis: Analysis) -> Plot:
    samples = np.asarray(analysis.impulse.samples, dtype=float)
    if len(samples) == 0:
        samples = np.zeros(1)
    peak = float(np.max(np.abs(samples))) or 1.0
    length_ms = 1000.0 * len(samples) / analysis.sample_rate
    times, values = envelope_points(samples)
    y = (values / peak + 1.1) / 2.2
    x = times / max(len(samples) - 1, 1)
    y_axis = Axis(-1.1 * peak, 1.1 * peak)
    x_axis = Axis(0.0, max(length_ms, 1e-3), "ms")
    caption = f"impulse response  {len(analysis.captured_ir)} samples  peak {peak:.3g}"
    return Plot([curve(x, y, WAVE)], caption, [0.5], x_axis, y_axis)


def envelope_points(samples: np.ndarray, points: int = CURVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """A long signal as at most ``points`` points that keep its peaks: the minimum and maximum
    of each stretch, in the order they come."""
    if len(samples) <= points:
        return np.arange(len(samples), dtype=float), samples
    edges = np.linspace(0, len(samples), points // 2 + 1).astype(int)
    times, values = [], []
    for start, stop in itertools.pairwise(edges):
        part = samples[start:stop]
        low, high = start + int(np.argmin(part)), start + int(np.argmax(part))
        for index in sorted((low, high)):
            times.append(index)
            values.append(samples[index])
    return np.asarray(times, dtype=float), np.asarray(values)


def frequency_plot(analysis: Analysis) -> Plot:
    """Magnitude of the IR by impulse and by sweep (its linear part), and the impulse's phase."""
    rate = analysis.sample_rate
    impulse = analysis.impulse.samples
    size = max(1 << 16, 1 << (max(len(impulse), len(analysis.sweep.linear_window)) - 1).bit_length())
    grid = np.fft.rfftfreq(size, 1.0 / rate)
    frequencies = np.geomspace(LOW_HZ, rate / 2.0, CURVE_POINTS)
    bins = np.minimum(np.searchsorted(grid, frequencies), len(grid) - 1)
    by_impulse = np.fft.rfft(impulse, size)[bins]
    # The phase less the IR's delay to its peak: a latency alone would wrap it hundreds of
    # times across the plot, hiding the filter's own phase.
    delay = analysis.impulse.peak_index
    excess = by_impulse * np.exp(2j * np.pi * frequencies * delay / rate)
    by_sweep = analysis.sweep.linear_spectrum(size)[bins]
    magnitude_impulse, magnitude_sweep = level_db(by_impulse), level_db(by_sweep)
    top = math.ceil((max(float(np.max(magnitude_impulse)), float(np.max(magnitude_sweep))) + 3.0) / 6.0) * 6.0
    gain = Axis(top - MAGNITUDE_RANGE_DB, top, "dB", color=RESPONSE)
    phase = Axis(-180.0, 180.0, "°", ticks=(-180.0, 0.0, 180.0), color=PHASE)
    frequency = Axis(LOW_HZ, rate / 2.0, "Hz", log=True)
    x = np.array([frequency.position(f) for f in frequencies])
    curves = [
        curve(x, (magnitude_sweep - gain.low) / MAGNITUDE_RANGE_DB, REFERENCE),
        curve(x, (magnitude_impulse - gain.low) / MAGNITUDE_RANGE_DB, RESPONSE),
    ]
    curves += wrapped_curves(x, (np.degrees(np.angle(excess)) + 180.0) / 360.0, PHASE)
    caption = f"magnitude (grey: by sweep)  phase (less {delay} samples of delay)"
    return Plot(curves, caption, [], frequency, gain, phase)


def wrapped_curves(x: np.ndarray, y: np.ndarray, color: Color) -> list[Curve]:
    """A wrapped phase as separate curves, broken where it jumps across the box (a line drawn
    across would be a wall)."""
    breaks = np.flatnonzero(np.abs(np.diff(y)) > 0.5) + 1
    return [
        curve(x[start:stop], y[start:stop], color)
        for start, stop in zip(np.r_[0, breaks], np.r_[breaks, len(y)], strict=True)
        if stop - start >= 2
    ]


def harmonics_plot(analysis: Analysis) -> Plot:
    """The sweep's distortion of each order over the input frequency, dB re the fundamental."""
    frequency = Axis(LOW_HZ, analysis.sample_rate / 2.0, "Hz", log=True)
    level = Axis(-120.0, 0.0, "dB", ticks=(-120.0, -60.0, 0.0))
    curves, names = [], []
    for index, (order, (inputs, levels)) in enumerate(sorted(analysis.sweep.curves.items())):
        shown = np.asarray(inputs) >= LOW_HZ
        if not shown.any():
            continue
        x = np.array([frequency.position(f) for f in np.asarray(inputs)[shown]])
        y = (np.maximum(np.asarray(levels)[shown], level.low) - level.low) / (level.high - level.low)
        step = max(1, len(x) // CURVE_POINTS)
        color_name, color = ORDER_COLORS[index % len(ORDER_COLORS)]
        curves.append(curve(x[::step], y[::step], color))
        names.append(f"H{order} {color_name}")
    caption = "  ".join([f"harmonics THD {analysis.harmonics.thd_percent:.3g} %", *names])
    return Plot(curves, caption, [], frequency, level)


def residual_plot(analysis: Analysis) -> Plot:
    """The null test: spectra of the chain's output and of the residual (chain minus capture)."""
    null = analysis.null
    shown = (null.frequencies >= LOW_HZ) & (null.frequencies <= null.sample_rate / 2.0)
    frequencies = null.frequencies[shown]
    output, residual = null.output_spectrum_db[shown], null.residual_spectrum_db[shown]
    top = math.ceil((float(np.max(output)) + 6.0) / 10.0) * 10.0 if len(output) else 0.0
    low = top - 2.0 * MAGNITUDE_RANGE_DB
    level = Axis(low, top, "dB")
    frequency = Axis(LOW_HZ, null.sample_rate / 2.0, "Hz", log=True)
    step = max(1, len(frequencies) // CURVE_POINTS)
    frequencies, output, residual = frequencies[::step], output[::step], residual[::step]
    x = np.array([frequency.position(f) for f in frequencies])
    curves = [
        curve(x, (output - low) / (top - low), SPECTRUM),
        curve(x, (np.maximum(residual, low) - low) / (top - low), RESIDUAL),
    ]
    caption = f"null test  residual {null.residual_db:.1f} dB  (green: output, red: residual)"
    return Plot(curves, caption, [], frequency, level)


def level_db(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.maximum(20.0 * np.log10(np.abs(values)), FLOOR_DB)
