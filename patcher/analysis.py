"""Analysis: does an impulse response capture a patch? Measure it, through the engine that plays.

An impulse response characterises a linear, time-invariant (LTI) system, and only such a
system. This module measures, offline and through :class:`patcher.engine.Engine` (so what is
measured is what is heard), the whole patch or the chain between two of its ports:

* the impulse response, by an impulse and by an exponential sine sweep (Farina's method,
  with Novak's synchronised sweep so that harmonic orders line up in phase); the sweep also
  separates the harmonic distortion of each order from the linear response;
* the harmonics of a pure sine of known amplitude (a stepped-sine FFT, the exact reference);
* linearity: superposition f(a) + f(b) against f(a + b), homogeneity f(k a) against k f(a);
* time invariance: the same impulse sent at several times, the responses compared;
* a null test: the patch against a convolver holding its captured IR, on the same input.

Where the signal enters and where it is taken (``from_port`` and ``to_port``, "node.port"):

* ``from_port`` naming an *input* port: the test signal enters that port instead of whatever
  is linked into it. Naming an *output* port: the test signal replaces that output for every
  input it feeds. Without it, the test signal replaces the output of every ``input`` node
  (the patch's file players). Other input nodes are silenced: input nodes hold material, not
  the system under test. Oscillators and LFOs are part of the system and keep running.
* ``to_port`` naming an *output* port: that output is measured. Naming an *input* port: the
  sum of what is linked into it. Without it: the ``left`` input of the output node (before
  its level).

Thresholds (all relative to the output's energy): a linearity error below
``LINEARITY_THRESHOLD_DB`` counts as linear, a spread of the responses below
``TIME_INVARIANCE_THRESHOLD_DB`` as time-invariant, a residual below ``NULL_THRESHOLD_DB``
as a null. -60 dB is 0.1 % in amplitude: far above rounding noise (an LTI patch measures
-250 dB or lower) and far below any audible nonlinearity or modulation.
"""

from __future__ import annotations

import copy
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import networkx as nx
import numpy as np
import soundfile
from scipy.signal import fftconvolve, welch

from patcher.audiofile import read_audio, write_audio
from patcher.engine import Engine
from patcher.graph import components_in_order, node_graph
from patcher.model import Patch, PatchError, PortRef
from patcher.text import did_you_mean

DEFAULT_LEVEL_DBFS = -6.0
LINEARITY_THRESHOLD_DB = -60.0
TIME_INVARIANCE_THRESHOLD_DB = -60.0
NULL_THRESHOLD_DB = -60.0
#: dB values are floored here (an exact zero would be -inf, which JSON cannot hold).
DB_FLOOR = -300.0
#: The impulse is rendered this long; the IR is cut where what follows holds less than
#: ``IR_TAIL_DB`` of its energy.
MAX_IR_SECONDS = 5.0
IR_TAIL_DB = -120.0
SWEEP_START_HZ = 20.0
#: The sweep stops at this fraction of the sample rate (below the anti-alias region).
SWEEP_STOP_FRACTION = 0.45
SWEEP_SECONDS = 2.0
SWEEP_FADE_S = 0.002
SWEEP_ORDERS = (2, 3, 4, 5)
#: The stepped sine, the reference for harmonic levels, and the frequency the sweep's
#: per-order levels are read at.
SINE_FREQUENCY_HZ = 1000.0
SINE_ORDERS = (2, 3, 4, 5, 6, 7, 8, 9)
#: Linearity test signals: seeded noise this long; the chain's tail is rendered after it
#: (up to ``MAX_TAIL_SECONDS``).
TEST_SIGNAL_SECONDS = 0.5
MAX_TAIL_SECONDS = 1.0
HOMOGENEITY_FACTOR = 2.0
#: When the impulses of the time-invariance test are sent; the spacings are incommensurate,
#: so that no LFO rate brings every impulse to the same phase, and fall at different places
#: of the block and control-period grids.
IMPULSE_TIMES_S = (0.0, 0.1234, 0.2961, 0.5187)
#: Octave bands (centre Hz) of the null test's residual spectrum.
OCTAVE_BANDS_HZ = (31.5, 63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0)

IrMethod = Literal["impulse", "sweep"]
#: What :func:`analyze` measures, in order (its progress names them).
ANALYSIS_STEPS = (
    "impulse response",
    "exponential sweep",
    "stepped sine",
    "linearity",
    "time invariance",
    "null test",
)


# -- small helpers -------------------------------------------------------------------------
def db_to_amplitude(level_db: float) -> float:
    return float(10.0 ** (level_db / 20.0))


def energy_ratio_db(error: np.ndarray, reference: np.ndarray) -> float:
    """10 log10(sum error^2 / sum reference^2), floored at ``DB_FLOOR`` (and capped at -DB_FLOOR)."""
    error_energy = float(np.sum(np.square(error)))
    reference_energy = float(np.sum(np.square(reference)))
    if error_energy == 0.0:
        return DB_FLOOR
    if reference_energy == 0.0:
        return -DB_FLOOR
    return float(np.clip(10.0 * math.log10(error_energy / reference_energy), DB_FLOOR, -DB_FLOOR))


def amplitude_db(value: float, reference: float = 1.0) -> float:
    """20 log10(value / reference), floored at ``DB_FLOOR``."""
    if value <= 0.0 or reference <= 0.0:
        return DB_FLOOR
    return max(DB_FLOOR, 20.0 * math.log10(value / reference))


def describe_db(value: float) -> str:
    """An error, spread or residual for people: "exact" at the floor (equal to the last bit)."""
    return f"{DB_FLOOR:g} dB (exact)" if value <= DB_FLOOR else f"{value:.1f} dB"


def _fresh_id(patch: Patch, stem: str) -> str:
    if stem not in patch.nodes:
        return stem
    number = 2
    while f"{stem}{number}" in patch.nodes:
        number += 1
    return f"{stem}{number}"


def _heard(patch: Patch) -> set[str]:
    """Nodes with a path to a sink: the ones the compiler keeps (its pruning rule, on the graph
    alone, without instantiating nodes)."""
    graph = node_graph(patch)
    heard: set[str] = set()
    for node_id, node in patch.nodes.items():
        if node.spec.IS_SINK:
            heard |= {node_id} | nx.ancestors(graph, node_id)
    return heard


# -- where the probe enters and where it is taken ------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    """A port named by ``--from`` or ``--to``: ``kind`` says whether it is an input or output."""

    ref: PortRef
    kind: Literal["input", "output"]

    def __str__(self) -> str:
        return str(self.ref)


def resolve_port(patch: Patch, text: str, option: str) -> Endpoint:
    """Parse "node.port" and check it names a port of a node of ``patch`` (PatchError if not)."""
    try:
        ref = PortRef.parse(text)
    except ValueError:
        raise PatchError(f"{option} {text!r}: expected NODE.PORT, for example fuzz.in or tone.out") from None
    node = patch.nodes.get(ref.node)
    if node is None:
        known = ", ".join(sorted(patch.nodes)) or "none"
        hint = did_you_mean(ref.node, patch.nodes)
        raise PatchError(f"{option} {text}: the patch has no node {ref.node!r}{hint} (nodes: {known})")
    inputs, outputs = node.spec.input_ports(), node.spec.OUTPUTS
    if ref.port in inputs:
        return Endpoint(ref, "input")
    if ref.port in outputs:
        return Endpoint(ref, "output")
    raise PatchError(
        f"{option} {text}: {node.type} {ref.node!r} has no port {ref.port!r}"
        f"{did_you_mean(ref.port, (*inputs, *outputs))} "
        f"(inputs: {', '.join(inputs) or 'none'}; outputs: {', '.join(outputs) or 'none'})"
    )


def example_entry(patch: Patch) -> str | None:
    """A port of ``patch`` a test signal could enter by, for a message: the first ``in``, in
    running order, of a heard node with a link into it (the filter after the oscillators); else
    the first such signal input of another name (a mix's ``in1``); else any node's."""
    heard, linked = _heard(patch), {link.target for link in patch.links}
    inputs = [
        PortRef(node_id, port)
        for node_id in running_order(patch)
        if not patch.nodes[node_id].spec.IS_SINK
        for port in patch.nodes[node_id].spec.INPUTS
    ]
    fed = [ref for ref in inputs if ref.node in heard and ref in linked]
    in_heard_nodes = [ref for ref in inputs if ref.node in heard]
    for choices in ([ref for ref in fed if ref.port == "in"], fed, in_heard_nodes, inputs):
        if choices:
            return str(choices[0])
    return None


def example_exit(patch: Patch, start: str | None = None) -> str | None:
    """An output port of ``patch`` to measure, for a message: that of the last node to run
    (of those the signal entering at node ``start`` reaches, when given)."""
    reached = _reached_from(patch, start) if start is not None else set(patch.nodes)
    with_outputs = [
        node_id
        for node_id in running_order(patch)
        if patch.nodes[node_id].spec.OUTPUTS and node_id in reached and node_id != start
    ]
    if not with_outputs:
        return None
    return f"{with_outputs[-1]}.{patch.nodes[with_outputs[-1]].spec.OUTPUTS[0]}"


def _reached_from(patch: Patch, start: str) -> set[str]:
    """The nodes a signal leaving ``start`` reaches, through any links."""
    after: dict[str, set[str]] = {}
    for link in patch.links:
        after.setdefault(link.source.node, set()).add(link.target.node)
    reached, todo = {start}, [start]
    while todo:
        for node_id in after.get(todo.pop(), ()):
            if node_id not in reached:
                reached.add(node_id)
                todo.append(node_id)
    return reached


def running_order(patch: Patch) -> list[str]:
    """The patch's node ids in the order they would run (a loop's nodes together)."""
    successors: dict[str, list[str]] = {node_id: [] for node_id in patch.nodes}
    for link in patch.links:
        if link.target.node not in successors[link.source.node]:
            successors[link.source.node].append(link.target.node)
    return [node_id for component in components_in_order(successors) for node_id in component]


class Probe:
    """The patch rebuilt for measuring: a test signal in at ``from_port``, out at ``to_port``.

    ``run(signal)`` renders the chain's response to a numpy array through the real engine:
    the signal is written to a 64-bit float WAV in a temporary folder and played by an
    ``input`` node, and a fresh ``output`` node listens at the measuring point. Each run
    starts from a fresh engine (every node reset), so runs are repeatable.
    """

    def __init__(
        self,
        patch: Patch,
        from_port: str | None = None,
        to_port: str | None = None,
        sample_rate: int | None = None,
        block_size: int | None = None,
    ) -> None:
        self.patch = patch
        self.sample_rate = int(sample_rate or patch.settings.sample_rate)
        self.block_size = int(block_size or patch.settings.block_size)
        self.warnings: list[str] = []
        probe = copy.deepcopy(patch)
        self.input_id = _fresh_id(probe, "probe_in")
        probe.add_node("input", self.input_id)
        self.entry_point = self._inject(probe, from_port)
        self.target = self._resolve_target(probe, to_port)
        self._listen(probe)
        self.template = probe
        self.chain = self._chain(probe)
        self._idle = np.zeros(0)

    # -- building the probe patch ---------------------------------------------------------
    def _inject(self, probe: Patch, from_port: str | None) -> Endpoint | None:
        """Link the probe's input node in; record what fed the entry point (for a capture)."""
        #: Outputs that carried the signal now replaced by the test signal.
        self.entry_sources: list[PortRef] = []
        entries: list[PortRef] = []
        if from_port is None:
            players = [node_id for node_id, node in self.patch.nodes.items() if node.type == "input"]
            if not players:
                example = example_entry(self.patch)
                raise PatchError(
                    "the patch has no input node to send the test signal through; name where it "
                    "enters with --from NODE.PORT" + (f", for example --from {example}" if example else "")
                )
            self.from_label = "the input nodes" if len(players) > 1 else f"{players[0]} (input)"
            for node_id in players:
                entries += self._take_over_output(probe, node_id, probe.nodes[node_id].spec.OUTPUTS)
                self.entry_sources.append(PortRef(node_id, "out"))
            endpoint = None
        else:
            endpoint = resolve_port(self.patch, from_port, "--from")
            self.from_label = str(endpoint)
            ref = endpoint.ref
            if endpoint.kind == "input":
                for link in [ln for ln in probe.links if ln.target == ref]:
                    probe.links.remove(link)
                    self.entry_sources.append(link.source)
                entries.append(ref)
            else:
                entries += self._take_over_output(probe, ref.node, (ref.port,))
                self.entry_sources.append(ref)
        for node_id, node in probe.nodes.items():
            if node.type == "input" and node_id != self.input_id:
                probe.set_param(node_id, "source", "file")
                probe.set_param(node_id, "file", "")  # material, not system: silence it
        for ref in entries:
            probe.connect(f"{self.input_id}.out", str(ref))
        if not entries:
            raise PatchError(f"no path from {self.from_label}: it feeds nothing in the patch")
        return endpoint

    @staticmethod
    def _take_over_output(probe: Patch, node_id: str, ports: Sequence[str]) -> list[PortRef]:
        """Unlink ``node_id``'s ``ports`` and return the inputs they fed."""
        links = [ln for ln in probe.links if ln.source.node == node_id and ln.source.port in ports]
        for link in links:
            probe.links.remove(link)
        return sorted({link.target for link in links})

    def _resolve_target(self, probe: Patch, to_port: str | None) -> Endpoint:
        if to_port is not None:
            endpoint = resolve_port(self.patch, to_port, "--to")
        else:
            outputs = [node_id for node_id, node in self.patch.nodes.items() if node.type == "output"]
            if not outputs:
                example = example_exit(probe, start=self.input_id)
                raise PatchError(
                    "the patch has no output node; name the port to measure with --to NODE.PORT"
                    + (f", for example --to {example}" if example else "")
                )
            if len(outputs) > 1:
                raise PatchError(
                    f"the patch has {len(outputs)} output nodes ({', '.join(sorted(outputs))}); "
                    f"choose the one to measure with --to, for example --to {sorted(outputs)[0]}.left"
                )
            endpoint = Endpoint(PortRef(outputs[0], "left"), "input")
        self.to_label = str(endpoint)
        return endpoint

    def _listen(self, probe: Patch) -> None:
        """Remove the sinks and add a fresh output node fed from the measuring point."""
        ref = self.target.ref
        if self.target.kind == "output":
            sources = [ref]
        else:
            sources = sorted({ln.source for ln in probe.links if ln.target == ref})
            if not sources:
                raise PatchError(f"--to {ref}: nothing is linked into it, so there is nothing to measure")
        for node_id in [n for n, node in probe.nodes.items() if node.spec.IS_SINK]:
            probe.remove_node(node_id)
        self.output_id = _fresh_id(probe, "probe_out")
        probe.add_node("output", self.output_id)
        for source in sources:
            probe.connect(str(source), f"{self.output_id}.left")
        graph = node_graph(probe)
        if not nx.has_path(graph, self.input_id, self.output_id):
            raise PatchError(
                f"no path from {self.from_label} to {self.to_label}: no chain of links leads from "
                "the one to the other"
            )

    def _chain(self, probe: Patch) -> list[str]:
        """The patch's nodes between the entry and the measuring point (what is measured)."""
        graph = node_graph(probe)
        between = nx.descendants(graph, self.input_id) & nx.ancestors(graph, self.output_id)
        return sorted(between - {self.input_id, self.output_id})

    # -- running --------------------------------------------------------------------------
    def run(self, signal: np.ndarray) -> np.ndarray:
        """The chain's response to ``signal`` (mono), as many samples long, rendered offline."""
        signal = np.asarray(signal, dtype=float).ravel()
        with tempfile.TemporaryDirectory(prefix="patcher-probe-") as folder:
            path = Path(folder) / "probe.wav"
            soundfile.write(str(path), signal, self.sample_rate, format="WAV", subtype="DOUBLE")
            self.template.set_param(self.input_id, "file", str(path))
            engine = Engine(self.template, self.sample_rate, self.block_size)
            audio = engine.render(len(signal) / self.sample_rate)
            self.template.set_param(self.input_id, "file", "")
        for report in engine.take_reports():
            if report not in self.warnings:
                self.warnings.append(report)
        return np.ascontiguousarray(audio[: len(signal), 0])

    def idle(self, frames: int) -> np.ndarray:
        """The chain's output with no input (zero for a linear chain), ``frames`` long."""
        if len(self._idle) < frames:
            self._idle = self.run(np.zeros(frames))
        return self._idle[:frames]


def as_probe(patch_or_probe: Patch | Probe) -> Probe:
    return patch_or_probe if isinstance(patch_or_probe, Probe) else Probe(patch_or_probe)


# -- impulse response ----------------------------------------------------------------------
@dataclass
class ImpulseResponse:
    """The response to an impulse of height ``amplitude`` (the level), divided by it."""

    samples: np.ndarray
    sample_rate: int
    amplitude: float
    #: Whether the response died away (by ``IR_TAIL_DB``) within the rendered length.
    decayed: bool
    #: The raw rendered response (not divided, idle not subtracted): the time-invariance
    #: test's first response.
    raw: np.ndarray

    @property
    def length_s(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def peak_index(self) -> int:
        return int(np.argmax(np.abs(self.samples)))


def decay_length(response: np.ndarray, tail_db: float = IR_TAIL_DB) -> int:
    """Samples up to where what follows holds less than ``tail_db`` of the energy."""
    energy = np.square(response)
    total = float(energy.sum())
    if total == 0.0:
        return 0
    remaining = np.cumsum(energy[::-1])[::-1]  # remaining[n] = energy from n to the end
    below = np.flatnonzero(remaining > total * 10.0 ** (tail_db / 10.0))
    return int(below[-1]) + 1 if below.size else 1


def measure_impulse_response(
    patch_or_probe: Patch | Probe,
    level_dbfs: float = DEFAULT_LEVEL_DBFS,
    seconds: float | None = None,
    max_seconds: float = MAX_IR_SECONDS,
) -> ImpulseResponse:
    """Send one impulse of height 10^(level/20) and divide the response by that height.

    The output with no input is subtracted first (a patch that makes sound on its own would
    otherwise put that sound in the IR). With ``seconds`` the IR is that long; else it is
    cut where it has decayed by ``IR_TAIL_DB``, within ``max_seconds``.
    """
    probe = as_probe(patch_or_probe)
    rate = probe.sample_rate
    frames = max(1, round((seconds if seconds is not None else max_seconds) * rate))
    amplitude = db_to_amplitude(level_dbfs)
    impulse = np.zeros(frames)
    impulse[0] = amplitude
    raw = probe.run(impulse)
    response = (raw - probe.idle(frames)) / amplitude
    length = decay_length(response)
    if length == 0 and not _heard_later(probe, amplitude):
        raise PatchError(
            f"no signal reaches {probe.to_label} from {probe.from_label}: impulses at "
            f"{level_dbfs:g} dBFS gave silence"
        )
    # Silent at t = 0 but not later (a ring modulator's carrier crosses zero at t = 0): the
    # IR at t = 0 is silence, and the time-invariance test will say why.
    length = max(length, 1)
    decayed = length <= 0.9 * frames
    if seconds is not None:
        length = frames
    return ImpulseResponse(response[:length].copy(), rate, amplitude, decayed, raw)


def _heard_later(probe: Probe, amplitude: float, window_seconds: float = 0.2) -> bool:
    """Whether an impulse at any of the later ``IMPULSE_TIMES_S`` reaches the output."""
    window = round(window_seconds * probe.sample_rate)
    for time_s in IMPULSE_TIMES_S[1:]:
        offset = round(time_s * probe.sample_rate)
        signal = np.zeros(offset + window)
        signal[offset] = amplitude
        response = probe.run(signal)[offset:] - probe.idle(offset + window)[offset:]
        if decay_length(response) > 0:
            return True
    return False


# -- exponential sine sweep (Farina; Novak's synchronised form) -----------------------------
@dataclass
class Sweep:
    """A synchronised exponential sweep x(t) = sin(2 pi f1 L exp(t / L)) and its inverse."""

    signal: np.ndarray
    inverse: np.ndarray
    start_hz: float
    stop_hz: float
    rate_s: float  # L: the sweep's frequency grows by e every L seconds
    sample_rate: int

    def order_offset(self, order: int) -> float:
        """How many samples before the linear IR harmonic ``order``'s IR appears: L ln(order)."""
        return self.rate_s * math.log(order) * self.sample_rate


def exponential_sweep(
    sample_rate: int,
    seconds: float = SWEEP_SECONDS,
    start_hz: float = SWEEP_START_HZ,
    stop_hz: float | None = None,
) -> Sweep:
    """Novak et al. (2015): L = round(f1 T / ln(f2/f1)) / f1 makes order n's response an exact,
    in-phase copy of the sweep shifted by L ln(n). The inverse filter is Farina's: the sweep
    reversed, with an envelope falling 6 dB per octave of the sweep (so that sweep * inverse
    is flat), scaled to unit gain in the band."""
    stop_hz = stop_hz or SWEEP_STOP_FRACTION * sample_rate
    log_ratio = math.log(stop_hz / start_hz)
    rate_s = max(1, round(start_hz * seconds / log_ratio)) / start_hz
    frames = round(rate_s * log_ratio * sample_rate)
    t = np.arange(frames) / sample_rate
    signal = np.sin(2.0 * np.pi * start_hz * rate_s * np.exp(t / rate_s))
    fade = max(1, round(SWEEP_FADE_S * sample_rate))
    signal[-fade:] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, fade))
    inverse = signal[::-1] * np.exp(-t / rate_s)
    size = 1 << (2 * frames - 1).bit_length()
    gain = np.abs(np.fft.rfft(signal, size) * np.fft.rfft(inverse, size))
    frequencies = np.fft.rfftfreq(size, 1.0 / sample_rate)
    band = (frequencies > 2.0 * start_hz) & (frequencies < stop_hz / 2.0)
    inverse /= float(np.median(gain[band]))
    return Sweep(signal, inverse, start_hz, stop_hz, rate_s, sample_rate)


@dataclass
class SweepResponse:
    """The sweep's deconvolution split into the linear IR and the harmonic IRs."""

    sweep: Sweep
    amplitude: float
    #: The linear IR from time zero on (its causal part, what a convolver can hold), per unit input.
    linear: np.ndarray
    #: The linear IR with its window's ``pre_samples`` before time zero: the band-limited
    #: deconvolution rings a little before it, and its spectrum needs that part.
    linear_window: np.ndarray
    pre_samples: int
    harmonics: dict[int, np.ndarray]  # order -> its windowed IR
    #: Per order: distortion relative to the fundamental at ``frequency_hz``, in dB.
    levels_db: dict[int, float]
    thd_db: float
    frequency_hz: float
    #: Per order: input frequencies (Hz) and the distortion there (dB re the fundamental).
    curves: dict[int, tuple[np.ndarray, np.ndarray]]

    def linear_spectrum(self, size: int) -> np.ndarray:
        """The linear response H(f) on ``size``-point rfft bins, time zero at sample 0 (the
        pre-ringing wrapped round to the end, as negative times)."""
        size = max(size, len(self.linear_window))
        buffer = np.zeros(size)
        buffer[: len(self.linear_window)] = self.linear_window
        return np.fft.rfft(np.roll(buffer, -self.pre_samples))

    @property
    def thd_percent(self) -> float:
        return 100.0 * 10.0 ** (self.thd_db / 20.0)


def _spectrum_at(impulse_response: np.ndarray, sample_rate: int, frequencies: np.ndarray) -> np.ndarray:
    """|H(f)| of an IR at the given frequencies (interpolated on a fine FFT grid)."""
    size = max(1 << 15, 1 << (len(impulse_response) - 1).bit_length())
    spectrum = np.abs(np.fft.rfft(impulse_response, size))
    grid = np.fft.rfftfreq(size, 1.0 / sample_rate)
    return np.interp(frequencies, grid, spectrum)


def measure_sweep(
    patch_or_probe: Patch | Probe,
    level_dbfs: float = DEFAULT_LEVEL_DBFS,
    tail_seconds: float = 0.1,
    seconds: float = SWEEP_SECONDS,
    frequency_hz: float = SINE_FREQUENCY_HZ,
    orders: Sequence[int] = SWEEP_ORDERS,
) -> SweepResponse:
    """Sweep at the level, deconvolve, and window the linear and harmonic IRs.

    Order n's IR sits L ln(n) before the linear one; each is windowed half-way to its
    neighbours. Its spectrum at n f is the n-th harmonic of an input sine at f, so the
    distortion of order n at f is |H_n(n f)| / |H_1(f)|.
    """
    probe = as_probe(patch_or_probe)
    rate = probe.sample_rate
    sweep = exponential_sweep(rate, seconds)
    amplitude = db_to_amplitude(level_dbfs)
    tail = max(1, round(tail_seconds * rate))
    signal = np.concatenate((amplitude * sweep.signal, np.zeros(tail)))
    response = probe.run(signal) - probe.idle(len(signal))
    deconvolved = fftconvolve(response, sweep.inverse) / amplitude
    origin = len(sweep.signal) - 1  # where the linear IR starts
    orders = sorted(set(orders))
    positions = {order: origin - sweep.order_offset(order) for order in range(1, max(orders) + 2)}

    def window(order: int) -> np.ndarray:
        before = (positions[order] - positions[order + 1]) / 2.0
        start = max(0, round(positions[order] - before))
        after = (positions[order - 1] - positions[order]) / 2.0
        return deconvolved[start : round(positions[order] + after)]

    linear = deconvolved[origin : origin + tail].copy()
    pre_samples = round((positions[1] - positions[2]) / 2.0)
    linear_window = deconvolved[origin - pre_samples : origin + tail].copy()
    harmonics = {order: window(order).copy() for order in orders}
    nyquist = rate / 2.0
    levels_db: dict[int, float] = {}
    curves: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    fundamental = float(_spectrum_at(linear_window, rate, np.array([frequency_hz]))[0])
    powers = []
    for order, harmonic in harmonics.items():
        top = min(sweep.stop_hz, nyquist) / order
        inputs = np.geomspace(sweep.start_hz * 2.0, top * 0.95, 200)
        ratio = _spectrum_at(harmonic, rate, order * inputs) / np.maximum(
            _spectrum_at(linear_window, rate, inputs), 1e-300
        )
        curves[order] = (inputs, 20.0 * np.log10(np.maximum(ratio, 1e-15)))
        if order * frequency_hz < min(sweep.stop_hz, nyquist):
            level = float(_spectrum_at(harmonic, rate, np.array([order * frequency_hz]))[0])
            levels_db[order] = amplitude_db(level, fundamental)
            powers.append(level**2)
    thd_db = amplitude_db(math.sqrt(sum(powers)), fundamental) if powers else DB_FLOOR
    return SweepResponse(
        sweep,
        amplitude,
        linear,
        linear_window,
        pre_samples,
        harmonics,
        levels_db,
        thd_db,
        frequency_hz,
        curves,
    )


# -- stepped sine: the exact reference for harmonic levels ----------------------------------
@dataclass
class Harmonics:
    """The output spectrum for a pure sine of ``amplitude`` at ``frequency_hz``."""

    frequency_hz: float
    amplitude: float
    #: Gain of the fundamental, dB.
    gain_db: float
    #: Per order: level relative to the fundamental, dB (None above the Nyquist frequency).
    levels_db: dict[int, float | None]
    thd_db: float
    frequencies: np.ndarray
    spectrum_dbfs: np.ndarray  # amplitude of each bin's sine, dBFS

    @property
    def thd_percent(self) -> float:
        return 100.0 * 10.0 ** (self.thd_db / 20.0)


def measure_harmonics(
    patch_or_probe: Patch | Probe,
    frequency_hz: float = SINE_FREQUENCY_HZ,
    level_dbfs: float = DEFAULT_LEVEL_DBFS,
    orders: Sequence[int] = SINE_ORDERS,
    settle_seconds: float = 0.1,
) -> Harmonics:
    """A sine of peak 10^(level/20), analysed by an FFT over a whole number of its periods.

    The sine sits exactly on an odd FFT bin k of a power-of-two length N; N and k share no
    factor, so harmonics that alias past Nyquist never land on a harmonic's bin, and the
    rectangular window leaks nothing. The first ``settle_seconds`` are skipped.
    """
    probe = as_probe(patch_or_probe)
    rate = probe.sample_rate
    size = 1 << max(10, math.ceil(math.log2(rate * 0.5)))
    bin_index = max(1, round(frequency_hz * size / rate))
    if bin_index % 2 == 0:
        bin_index += 1 if frequency_hz * size / rate >= bin_index else -1
    settle = round(settle_seconds * rate)
    amplitude = db_to_amplitude(level_dbfs)
    n = np.arange(settle + size, dtype=np.int64)
    signal = amplitude * np.sin(2.0 * np.pi * ((bin_index * n) % size) / size)
    output = probe.run(signal)[settle:]
    spectrum = np.abs(np.fft.rfft(output)) * 2.0 / size
    fundamental = float(spectrum[bin_index])
    levels_db: dict[int, float | None] = {}
    powers = []
    for order in orders:
        index = order * bin_index
        if index >= size // 2:
            levels_db[order] = None
            continue
        levels_db[order] = amplitude_db(float(spectrum[index]), fundamental)
        powers.append(float(spectrum[index]) ** 2)
    thd_db = amplitude_db(math.sqrt(sum(powers)), fundamental) if powers else DB_FLOOR
    frequencies = np.fft.rfftfreq(size, 1.0 / rate)
    spectrum_dbfs = 20.0 * np.log10(np.maximum(spectrum, 1e-15))
    return Harmonics(
        bin_index * rate / size,
        amplitude,
        amplitude_db(fundamental, amplitude),
        levels_db,
        thd_db,
        frequencies,
        spectrum_dbfs,
    )


# -- linearity -------------------------------------------------------------------------------
@dataclass
class Linearity:
    superposition_db: float  # f(a) + f(b) against f(a + b)
    homogeneity_db: float  # f(k a) against k f(a)
    factor: float
    threshold_db: float = LINEARITY_THRESHOLD_DB

    @property
    def error_db(self) -> float:
        return max(self.superposition_db, self.homogeneity_db)

    @property
    def linear(self) -> bool:
        return self.error_db < self.threshold_db


def _noise(frames: int, peak: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(frames)
    return noise * (peak / np.max(np.abs(noise)))


def measure_linearity(
    patch_or_probe: Patch | Probe,
    level_dbfs: float = DEFAULT_LEVEL_DBFS,
    tail_seconds: float = 0.1,
    seconds: float = TEST_SIGNAL_SECONDS,
    factor: float = HOMOGENEITY_FACTOR,
) -> Linearity:
    """Superposition and homogeneity on seeded noise: a and b peak at half the level (so a + b
    stays within it), and k a at the level with k = ``factor``. Errors are the energy of the
    difference relative to the output, in dB."""
    probe = as_probe(patch_or_probe)
    frames = max(1, round(seconds * probe.sample_rate))
    tail = np.zeros(round(tail_seconds * probe.sample_rate))
    peak = db_to_amplitude(level_dbfs)
    first = np.concatenate((_noise(frames, peak / 2.0, seed=1), tail))
    second = np.concatenate((_noise(frames, peak / 2.0, seed=2), tail))
    out_first, out_second, out_sum = probe.run(first), probe.run(second), probe.run(first + second)
    superposition = energy_ratio_db(out_first + out_second - out_sum, out_sum)
    # k a peaks at the level: with k = 2 (the default), a is the first signal again.
    small = first if factor == 2.0 else np.concatenate((_noise(frames, peak / factor, seed=1), tail))
    out_small = out_first if factor == 2.0 else probe.run(small)
    out_scaled = probe.run(small * factor)
    homogeneity = energy_ratio_db(out_scaled - factor * out_small, out_scaled)
    return Linearity(superposition, homogeneity, factor)


# -- time invariance ----------------------------------------------------------------------------
@dataclass
class TimeInvariance:
    spread_db: float  # the worst response against the first, relative to the first
    times_s: list[float]
    responses: list[np.ndarray]
    threshold_db: float = TIME_INVARIANCE_THRESHOLD_DB

    @property
    def time_invariant(self) -> bool:
        return self.spread_db < self.threshold_db


def measure_time_invariance(
    patch_or_probe: Patch | Probe,
    level_dbfs: float = DEFAULT_LEVEL_DBFS,
    window_seconds: float = 0.2,
    times_s: Sequence[float] = IMPULSE_TIMES_S,
    first_response: np.ndarray | None = None,
) -> TimeInvariance:
    """The same impulse sent at each of ``times_s`` (one render each, from a fresh engine);
    each response, ``window_seconds`` long from its impulse, is compared with the first."""
    probe = as_probe(patch_or_probe)
    rate = probe.sample_rate
    window = max(1, round(window_seconds * rate))
    amplitude = db_to_amplitude(level_dbfs)
    responses = []
    for index, time_s in enumerate(times_s):
        offset = round(time_s * rate)
        if index == 0 and offset == 0 and first_response is not None and len(first_response) >= window:
            responses.append(first_response[:window].copy())
            continue
        signal = np.zeros(offset + window)
        signal[offset] = amplitude
        responses.append(probe.run(signal)[offset:])
    spread = max(
        (energy_ratio_db(response - responses[0], responses[0]) for response in responses[1:]),
        default=DB_FLOOR,
    )
    return TimeInvariance(spread, [round(t * rate) / rate for t in times_s], responses)


# -- null test ----------------------------------------------------------------------------------
def default_material(
    sample_rate: int, level_dbfs: float = DEFAULT_LEVEL_DBFS, seconds: float = 1.5
) -> np.ndarray:
    """Music-like test material: plucked harmonic notes (a bass note, a fifth, a chord) and a
    noise burst, peaking at the level. The same samples every time."""
    frames = round(seconds * sample_rate)
    t = np.arange(frames) / sample_rate
    material = np.zeros(frames)
    notes = ((0.0, 110.0), (0.35, 164.81), (0.7, 220.0), (0.7, 277.18), (0.7, 329.63))
    for start_s, pitch_hz in notes:
        since = t - start_s
        sounding = since >= 0.0
        envelope = np.exp(-np.maximum(since, 0.0) / 0.25) * sounding
        for harmonic in range(1, 16):
            if harmonic * pitch_hz < 0.45 * sample_rate:
                material += envelope * np.sin(2.0 * np.pi * harmonic * pitch_hz * since) / harmonic
    burst_s = 0.75 * seconds
    since = t - burst_s
    burst = np.random.default_rng(7).standard_normal(frames) * np.exp(-np.maximum(since, 0.0) / 0.05)
    material += 0.5 * burst * (since >= 0.0)
    return material * (db_to_amplitude(level_dbfs) / np.max(np.abs(material)))


def read_material(path: str | Path, sample_rate: int, max_seconds: float = 30.0) -> np.ndarray:
    """A user's audio file as mono (channels averaged) at ``sample_rate``, at its own level."""
    audio = read_audio(path, sample_rate)
    mono = audio.mean(axis=1)
    if len(mono) == 0:
        raise PatchError(f"{path} holds no samples; choose another file")
    return mono[: round(max_seconds * sample_rate)]


def run_convolver(
    impulse_response: np.ndarray, signal: np.ndarray, sample_rate: int, block_size: int = 256
) -> np.ndarray:
    """``signal`` through a convolver node holding ``impulse_response``, rendered by the engine
    (the IR stored as a 32-bit float WAV, exactly as a capture stores it)."""
    with tempfile.TemporaryDirectory(prefix="patcher-null-") as folder:
        ir_path = Path(folder) / "ir.wav"
        write_audio(ir_path, np.asarray(impulse_response, dtype=float), sample_rate)
        patch = Patch(base_dir=Path(folder))
        patch.add_node("input", "material")
        patch.add_node("convolver", "capture", source="file", file=str(ir_path), normalize="none", mix=1.0)
        patch.add_node("output", "out")
        patch.connect("material.out", "capture.in")
        patch.connect("capture.out", "out.left")
        probe = Probe(patch, "capture.in", "capture.out", sample_rate, block_size)
        return probe.run(signal)


@dataclass
class NullTest:
    material: str  # "test material" or the file's path
    residual_db: float  # residual energy relative to the patch's output
    output: np.ndarray
    captured: np.ndarray
    sample_rate: int
    frequencies: np.ndarray
    output_spectrum_db: np.ndarray
    residual_spectrum_db: np.ndarray
    #: Octave band centre (Hz) -> residual relative to the output in that band, dB.
    bands_db: dict[float, float]
    threshold_db: float = NULL_THRESHOLD_DB

    @property
    def residual(self) -> np.ndarray:
        return self.output - self.captured

    @property
    def nulls(self) -> bool:
        return self.residual_db < self.threshold_db


def null_test(
    patch_or_probe: Patch | Probe,
    impulse_response: np.ndarray,
    material: np.ndarray | None = None,
    level_dbfs: float = DEFAULT_LEVEL_DBFS,
    tail_seconds: float = 0.1,
    material_name: str = "test material",
) -> NullTest:
    """The chain and a convolver holding ``impulse_response`` on the same input; the residual
    (their difference) relative to the chain's output, overall and per octave band."""
    probe = as_probe(patch_or_probe)
    rate = probe.sample_rate
    if material is None:
        material = default_material(rate, level_dbfs)
    signal = np.concatenate((np.asarray(material, dtype=float), np.zeros(round(tail_seconds * rate))))
    output = probe.run(signal)
    captured = run_convolver(impulse_response, signal, rate, probe.block_size)
    residual = output - captured
    segment = min(len(signal), 4096)
    frequencies, output_power = welch(output, rate, nperseg=segment)
    _, residual_power = welch(residual, rate, nperseg=segment)
    bands = {}
    for centre in OCTAVE_BANDS_HZ:
        inside = (frequencies >= centre / math.sqrt(2.0)) & (frequencies < centre * math.sqrt(2.0))
        if centre * math.sqrt(2.0) <= rate / 2.0 and inside.any():
            bands[centre] = _power_ratio_db(residual_power[inside].sum(), output_power[inside].sum())
    return NullTest(
        material_name,
        energy_ratio_db(residual, output),
        output,
        captured,
        rate,
        frequencies,
        10.0 * np.log10(np.maximum(output_power, 1e-30)),
        10.0 * np.log10(np.maximum(residual_power, 1e-30)),
        bands,
    )


def _power_ratio_db(power: float, reference: float) -> float:
    if power <= 0.0:
        return DB_FLOOR
    if reference <= 0.0:
        return -DB_FLOOR
    return float(np.clip(10.0 * math.log10(power / reference), DB_FLOOR, -DB_FLOOR))


# -- everything at once ---------------------------------------------------------------------------
@dataclass
class Analysis:
    """Every measurement of one chain, its verdict, and the IR a capture would hold."""

    patch_name: str
    from_label: str
    to_label: str
    chain: list[str]
    sample_rate: int
    level_dbfs: float
    impulse: ImpulseResponse
    sweep: SweepResponse
    harmonics: Harmonics
    linearity: Linearity
    time_invariance: TimeInvariance
    null: NullTest
    ir_method: IrMethod
    captured_ir: np.ndarray
    idle_dbfs: float  # RMS output with no input
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        """The LTI properties that failed: "nonlinear", "time-varying", both or none."""
        failed = []
        if not self.linearity.linear:
            failed.append("nonlinear")
        if not self.time_invariance.time_invariant:
            failed.append("time-varying")
        return failed

    @property
    def verdict(self) -> str:
        """One paragraph: is the chain LTI, and does its IR capture it?"""
        lin, time = self.linearity, self.time_invariance
        linear = (
            f"linear (superposition error {describe_db(lin.superposition_db)}, homogeneity error "
            f"{describe_db(lin.homogeneity_db)})"
        )
        if not lin.linear:
            linear = "non" + linear
        kind = "time-invariant" if time.time_invariant else "time-varying"
        invariant = f"{kind} (spread of the responses {describe_db(time.spread_db)})"
        null = f"the captured IR nulls it to {describe_db(self.null.residual_db)}"
        if not self.failed and self.null.nulls:
            return f"LTI: the chain is {linear} and {invariant}; {null}: the impulse response captures it."
        if not self.failed:
            if self.ir_method == "sweep":
                sweep = self.sweep.sweep
                why = (
                    f"a sweep measures only its band ({sweep.start_hz:g} Hz to {sweep.stop_hz:g} Hz), and "
                    "a convolver cannot hold what the band-limited IR rings before time zero; "
                    "--ir-method impulse captures an LTI chain exactly"
                )
            elif not self.impulse.decayed:
                why = "the IR was cut before it died away (see --ir-seconds)"
            else:
                why = "the residual is above the threshold"
            return (
                f"The chain is {linear} and {invariant}, yet {null} "
                f"(threshold {NULL_THRESHOLD_DB:g} dB): {why}."
            )
        which = " and ".join(self.failed)
        return (
            f"Not LTI: the chain is {linear} and {invariant}. {null[0].upper()}{null[1:]} "
            f"(threshold {NULL_THRESHOLD_DB:g} dB): an impulse response cannot capture a "
            f"{which} system."
        )

    # A notebook shows the verdict, the figures and the plots (patcher/notebook.py); the
    # generated repr would print every array.
    def __repr__(self) -> str:
        from patcher.notebook import analysis_repr

        return analysis_repr(self)

    def _repr_html_(self) -> str:
        from patcher.notebook import analysis_html

        return analysis_html(self)

    def impulse_gain_db(self, frequency_hz: float) -> float:
        """The gain of the impulse-measured IR at ``frequency_hz``, dB."""
        at = np.array([frequency_hz])
        return amplitude_db(float(_spectrum_at(self.impulse.samples, self.sample_rate, at)[0]))

    def figures(self) -> dict[str, Any]:
        """The numbers, as JSON-ready plain data."""
        impulse, sweep, sine = self.impulse, self.sweep, self.harmonics
        lin, time, null = self.linearity, self.time_invariance, self.null
        return {
            "patch": self.patch_name,
            "from": self.from_label,
            "to": self.to_label,
            "chain": self.chain,
            "sample_rate": self.sample_rate,
            "level_dbfs": self.level_dbfs,
            "idle_output_dbfs": _round(self.idle_dbfs),
            "impulse_response": {
                "method": self.ir_method,
                "length_samples": len(self.captured_ir),
                "length_s": _round(len(self.captured_ir) / self.sample_rate, 6),
                "decayed": impulse.decayed,
                "peak": _round(float(np.max(np.abs(impulse.samples)))),
                "peak_at_samples": impulse.peak_index,
                "gain_at_sine_db": _round(
                    amplitude_db(
                        float(
                            _spectrum_at(impulse.samples, self.sample_rate, np.array([sine.frequency_hz]))[0]
                        )
                    )
                ),
            },
            "sweep": {
                "start_hz": sweep.sweep.start_hz,
                "stop_hz": _round(sweep.sweep.stop_hz),
                "duration_s": _round(len(sweep.sweep.signal) / self.sample_rate, 4),
                "at_hz": sweep.frequency_hz,
                "harmonics_db": {str(order): _round(level) for order, level in sweep.levels_db.items()},
                "thd_db": _round(sweep.thd_db),
                "thd_percent": _round(sweep.thd_percent, 6),
            },
            "sine": {
                "frequency_hz": _round(sine.frequency_hz, 3),
                "amplitude": _round(sine.amplitude, 6),
                "gain_db": _round(sine.gain_db),
                "harmonics_db": {str(order): _round(level) for order, level in sine.levels_db.items()},
                "thd_db": _round(sine.thd_db),
                "thd_percent": _round(sine.thd_percent, 6),
            },
            "linearity": {
                "superposition_error_db": _round(lin.superposition_db),
                "homogeneity_error_db": _round(lin.homogeneity_db),
                "homogeneity_factor": lin.factor,
                "threshold_db": lin.threshold_db,
                "linear": lin.linear,
            },
            "time_invariance": {
                "spread_db": _round(time.spread_db),
                "impulse_times_s": [_round(t, 6) for t in time.times_s],
                "threshold_db": time.threshold_db,
                "time_invariant": time.time_invariant,
            },
            "null_test": {
                "material": null.material,
                "residual_db": _round(null.residual_db),
                "octave_bands_db": {f"{centre:g}": _round(level) for centre, level in null.bands_db.items()},
                "threshold_db": null.threshold_db,
                "nulls": null.nulls,
            },
            "verdict": {
                "lti": not self.failed,
                "failed": self.failed,
                "captured_by_ir": null.nulls,
                "text": self.verdict,
            },
            "warnings": self.warnings,
        }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


def analyze(
    patch: Patch,
    from_port: str | None = None,
    to_port: str | None = None,
    level_dbfs: float = DEFAULT_LEVEL_DBFS,
    material: np.ndarray | None = None,
    material_name: str = "test material",
    ir_method: IrMethod = "impulse",
    ir_seconds: float | None = None,
    sweep_seconds: float = SWEEP_SECONDS,
    patch_name: str = "patch",
    progress: Callable[[int, str], None] | None = None,
) -> Analysis:
    """Run every measurement on the chain from ``from_port`` to ``to_port`` at ``level_dbfs``.

    ``progress(done, what)`` is told before each of the :data:`ANALYSIS_STEPS` measurements
    (``done`` of them finished) and once at the end (the editor shows it)."""
    tell = progress or (lambda _done, _what: None)
    tell(0, ANALYSIS_STEPS[0])
    probe = Probe(patch, from_port, to_port)
    rate = probe.sample_rate
    impulse = measure_impulse_response(probe, level_dbfs, seconds=ir_seconds)
    tail_s = min(impulse.length_s, MAX_TAIL_SECONDS)
    sweep_tail_s = max(impulse.length_s, 0.1)
    tell(1, ANALYSIS_STEPS[1])
    sweep = measure_sweep(probe, level_dbfs, tail_seconds=sweep_tail_s, seconds=sweep_seconds)
    tell(2, ANALYSIS_STEPS[2])
    harmonics = measure_harmonics(probe, level_dbfs=level_dbfs, settle_seconds=max(0.05, tail_s))
    tell(3, ANALYSIS_STEPS[3])
    linearity = measure_linearity(probe, level_dbfs, tail_seconds=tail_s)
    tell(4, ANALYSIS_STEPS[4])
    time_invariance = measure_time_invariance(
        probe, level_dbfs, window_seconds=impulse.length_s + 0.1, first_response=impulse.raw
    )
    captured = impulse.samples if ir_method == "impulse" else sweep.linear[: len(impulse.samples)]
    tell(5, ANALYSIS_STEPS[5])
    null = null_test(probe, captured, material, level_dbfs, tail_seconds=tail_s, material_name=material_name)
    tell(len(ANALYSIS_STEPS), "done")
    idle = probe.idle(len(impulse.raw))
    idle_dbfs = amplitude_db(float(np.sqrt(np.mean(np.square(idle)))))
    warnings = list(probe.warnings)
    if not impulse.decayed:
        warnings.append(
            f"the impulse response did not die away (by {-IR_TAIL_DB:g} dB) within "
            f"{len(impulse.raw) / rate:g} s; the captured IR is cut at {impulse.length_s:.3f} s "
            "(set its length with --ir-seconds)"
        )
    if idle_dbfs > DB_FLOOR:
        warnings.append(
            f"the chain makes sound with no input ({idle_dbfs:.1f} dBFS RMS): a source inside it "
            "adds to the signal, which no impulse response can hold"
        )
    if from_port is not None and not probe.entry_sources:
        warnings.append(f"nothing is linked into {from_port} in the patch, so a capture there hears silence")
    return Analysis(
        patch_name,
        probe.from_label,
        probe.to_label,
        probe.chain,
        rate,
        level_dbfs,
        impulse,
        sweep,
        harmonics,
        linearity,
        time_invariance,
        null,
        ir_method,
        np.asarray(captured, dtype=float),
        idle_dbfs,
        warnings,
    )


# -- capture: the chain becomes a convolver ------------------------------------------------------
#: In a capture beside the chain, the A/B switch's levels for what is heard: the chain, the
#: capture, or their difference (the null test's residual, heard).
LISTEN_LEVELS = {
    "chain": {"level1": 1.0, "level2": 0.0, "level3": 0.0},
    "capture": {"level1": 0.0, "level2": 1.0, "level3": 0.0},
    "difference": {"level1": 0.0, "level2": 0.0, "level3": 1.0},
}


@dataclass
class Capture:
    """A patch with a chain captured: the new patch, and the ids of what the capture added."""

    patch: Patch
    convolver: str
    switch: str | None = None  # the A/B mix, beside the chain
    difference: str | None = None  # chain minus capture, into the switch's in3


def captured_patch(
    patch: Patch,
    ir_file: str,
    from_port: str | None = None,
    to_port: str | None = None,
    beside: bool = False,
    note: str = "",
) -> Capture:
    """``patch`` (unchanged) copied with the chain from ``from_port`` to ``to_port`` replaced by
    a convolver reading the IR file ``ir_file`` (as written in the patch: relative to its
    folder) — or, with ``beside``, the chain kept and the convolver beside it, behind a ``mix``
    node used as an A/B switch: in1 the chain, in2 the capture, in3 their difference (a
    ``math`` node subtracting them: the null test's residual), levels as in
    :data:`LISTEN_LEVELS` ("chain" at first). Nodes heard only through a replaced chain (an LFO
    that modulated it) go too. Nothing is written."""
    probe = Probe(patch, from_port, to_port)
    new = copy.deepcopy(patch)
    heard_before = _heard(new)
    positions = [np.array(patch.nodes[n].position) for n in probe.chain] or [np.zeros(2)]
    centre = np.mean(positions, axis=0)
    capture_id = _fresh_id(new, "capture")
    new.add_node(
        "convolver",
        capture_id,
        position=tuple(centre + (np.array([0.0, 200.0]) if beside else 0.0)),
        source="file",
        file=ir_file,
        normalize="none",
        mix=1.0,
        output_db=0.0,
    )
    for source in probe.entry_sources:
        new.connect(str(source), f"{capture_id}.in")
    destinations, original = _unhook_target(new, probe)
    capture = Capture(new, capture_id)
    captured_out = f"{capture_id}.out"
    if beside:
        captured_out = _ab_switch(new, capture, original, centre)
    for destination in destinations:
        new.connect(captured_out, str(destination))
    if not beside:
        for node_id in sorted(heard_before - _heard(new)):
            new.remove_node(node_id)
    how = (
        f"beside the chain, behind the A/B switch {capture.switch!r} (level1: the chain, level2: the "
        f"capture, level3: their difference from {capture.difference!r})"
        if beside
        else "in place of the chain"
    )
    chain = ", ".join(probe.chain) or "nothing"
    summary = (
        f"Captured by patcher analyze: the chain {probe.from_label} -> {probe.to_label} ({chain}) "
        f"as its impulse response {ir_file} in convolver {capture_id!r}, {how}.{note}"
    )
    new.description = summary + ("\n\n" + patch.description if patch.description else "")
    return capture


def _unhook_target(new: Patch, probe: Probe) -> tuple[list[PortRef], list[PortRef]]:
    """Remove the links that carry the chain's output; return where they went (to be fed by
    the capture) and what the chain's output is (the sources of the measured port)."""
    target = probe.target.ref
    if probe.target.kind == "output":
        moved = [ln for ln in new.links if ln.source == target]
        destinations = [ln.target for ln in moved]
        original = [target]
        if not destinations:
            raise PatchError(
                f"--to {target} feeds nothing in the patch, so a capture there would not be heard"
            )
    else:
        moved = [ln for ln in new.links if ln.target == target]
        destinations = [target]
        original = sorted({ln.source for ln in moved})
    for link in moved:
        new.links.remove(link)
    return destinations, original


def _ab_switch(new: Patch, capture: Capture, original: list[PortRef], centre: np.ndarray) -> str:
    """The A/B mix beside the chain, and the difference node into its in3; its output."""
    switch_id = _fresh_id(new, "ab")
    difference_id = _fresh_id(new, "difference")
    new.add_node(
        "mix", switch_id, position=tuple(centre + np.array([240.0, 100.0])), **LISTEN_LEVELS["chain"]
    )
    new.add_node("math", difference_id, position=tuple(centre + np.array([120.0, 300.0])), op="subtract")
    for source in original:
        new.connect(str(source), f"{switch_id}.in1")
        new.connect(str(source), f"{difference_id}.a")
    new.connect(f"{capture.convolver}.out", f"{switch_id}.in2")
    new.connect(f"{capture.convolver}.out", f"{difference_id}.b")
    new.connect(f"{difference_id}.out", f"{switch_id}.in3")
    capture.switch, capture.difference = switch_id, difference_id
    return f"{switch_id}.out"


def capture_patch(
    patch: Patch,
    impulse_response: np.ndarray,
    out_path: str | Path,
    from_port: str | None = None,
    to_port: str | None = None,
    beside: bool = False,
    note: str = "",
) -> Patch:
    """Write ``out_path``: :func:`captured_patch` of ``patch``, its IR written as a 32-bit
    float WAV next to ``out_path`` (``<stem>-ir.wav``) and referenced by a relative path;
    other relative file paths are rewritten for the new folder. Returns the new patch (as
    saved)."""
    out_path = Path(out_path)
    folder = out_path.resolve().parent
    rebased = copy.deepcopy(patch)
    rebased.rebase(folder)
    ir_name = f"{out_path.stem}-ir.wav"
    new = captured_patch(rebased, ir_name, from_port, to_port, beside, note).patch
    new.base_dir = folder
    write_audio(folder / ir_name, np.asarray(impulse_response, dtype=float), patch.settings.sample_rate)
    new.save(out_path)
    return new
