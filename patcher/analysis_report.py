"""The analysis report: a text summary, the JSON figures, the captured IR and four PNG plots.

Plots use matplotlib's object-oriented API on the Agg canvas (no pyplot, no global backend
state), so a report can be written from any thread and with no display.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from patcher.analysis import DB_FLOOR, Analysis, describe_db
from patcher.audiofile import write_audio

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REPORT_FILES = (
    "summary.txt",
    "report.json",
    "ir.wav",
    "ir.png",
    "response.png",
    "harmonics.png",
    "residual.png",
)
#: Plotted levels stop here (a measured exact zero would otherwise pull the axis to -300 dB).
PLOT_FLOOR_DB = -160.0
#: An IR shorter than this is plotted over this long (a one-sample IR would be one dot).
IR_PLOT_MIN_S = 0.005


# -- text ----------------------------------------------------------------------------------
def _db(value: float | None) -> str:
    """A level: "none" when nothing was measured at all."""
    if value is None:
        return "above Nyquist"
    if value <= DB_FLOOR:
        return "none"
    return f"{value:.1f} dB"


def _yes(flag: bool, yes: str, no: str) -> str:
    return yes if flag else no


#: Why an impulse response cannot hold a chain that failed an LTI test, per failure.
WHY_NOT_CAPTURED = {
    "nonlinear": "it adds harmonics an impulse response cannot make",
    "time-varying": "it changes over time, an impulse response does not",
}


def verdict(analysis: Analysis) -> str:
    """The verdict in one sentence a student understands ("Nonlinear: its impulse response
    cannot capture it (...)."); ``Analysis.verdict`` is the paragraph with the figures behind it."""
    failed = analysis.failed
    if failed:
        reasons = "; ".join(WHY_NOT_CAPTURED[kind] for kind in failed)
        return f"{' and '.join(failed).capitalize()}: its impulse response cannot capture it ({reasons})."
    residual = analysis.null.residual_db
    if analysis.null.nulls:
        return (
            f"Linear and time-invariant: its impulse response captures it (the capture nulls it to "
            f"{residual:.0f} dB)."
        )
    # LTI, yet the capture missed (a band-limited sweep IR, an IR cut short): say so, not "captures".
    return (
        f"Linear and time-invariant, yet the captured impulse response leaves a residual of "
        f"{residual:.0f} dB: see the figures."
    )


def figure_rows(analysis: Analysis) -> list[tuple[str, str, str]]:
    """The main figures as (measure, value, what it means) rows: a table for people."""
    a = analysis
    lin, time, null, sine, sweep = a.linearity, a.time_invariance, a.null, a.harmonics, a.sweep
    ir_length = len(a.captured_ir)
    return [
        (
            "superposition error",
            describe_db(lin.superposition_db),
            _against(lin.superposition_db, lin.threshold_db, "holds", "fails"),
        ),
        (
            f"homogeneity error (k = {lin.factor:g})",
            describe_db(lin.homogeneity_db),
            _against(lin.homogeneity_db, lin.threshold_db, "holds", "fails"),
        ),
        (
            f"spread of {len(time.times_s)} impulse responses",
            describe_db(time.spread_db),
            _against(time.spread_db, time.threshold_db, "time-invariant", "time-varying"),
        ),
        (f"THD, sine at {sine.frequency_hz:.0f} Hz", f"{sine.thd_percent:.3g} %", _harmonics(sine.thd_db)),
        (f"THD, sweep at {sweep.frequency_hz:g} Hz", f"{sweep.thd_percent:.3g} %", _harmonics(sweep.thd_db)),
        (
            f"null-test residual ({null.material})",
            describe_db(null.residual_db),
            _against(null.residual_db, null.threshold_db, "nulls", "does not null"),
        ),
        (
            f"impulse response ({a.ir_method})",
            f"{ir_length} samples ({ir_length / a.sample_rate:.3f} s)",
            _yes(a.impulse.decayed, "died away", "cut before it died away"),
        ),
    ]


def _harmonics(thd_db: float) -> str:
    return "no harmonics" if thd_db <= DB_FLOOR else f"harmonics {thd_db:.1f} dB re the fundamental"


def _against(value_db: float, threshold_db: float, below: str, above: str) -> str:
    """A figure judged against its threshold, as the verdict judges it."""
    return _yes(value_db < threshold_db, below, above) + f" (threshold {threshold_db:g} dB)"


def summary_text(analysis: Analysis) -> str:
    """The report as a few lines a student can read: what was measured, and the verdict."""
    a = analysis
    impulse, sweep, sine = a.impulse, a.sweep, a.harmonics
    lin, time, null = a.linearity, a.time_invariance, a.null
    chain = ", ".join(a.chain) or "nothing in between"
    lines = [
        f"patcher analyze: {a.patch_name}",
        f"  chain: {a.from_label} -> {a.to_label} ({chain})",
        f"  level: {a.level_dbfs:g} dBFS, sample rate {a.sample_rate} Hz",
        "",
        a.verdict,
        "",
        f"Impulse response ({a.ir_method}): {len(a.captured_ir)} samples "
        f"({len(a.captured_ir) / a.sample_rate:.3f} s), peak {np.max(np.abs(impulse.samples)):.3g} "
        f"at sample {impulse.peak_index}" + ("" if impulse.decayed else ", did not die away"),
        f"Gain at {sine.frequency_hz:.1f} Hz: impulse {_db(a.impulse_gain_db(sine.frequency_hz))}, "
        f"sine {_db(sine.gain_db)}",
        f"Linearity: superposition error {describe_db(lin.superposition_db)}, homogeneity error "
        f"{describe_db(lin.homogeneity_db)} (k = {lin.factor:g}) -> "
        + _yes(lin.linear, "linear", "nonlinear")
        + f" (threshold {lin.threshold_db:g} dB)",
        f"Time invariance: spread of {len(time.times_s)} impulse responses {describe_db(time.spread_db)} -> "
        + _yes(time.time_invariant, "time-invariant", "time-varying")
        + f" (threshold {time.threshold_db:g} dB)",
        "",
        f"Harmonic distortion at {a.level_dbfs:g} dBFS, relative to the fundamental "
        f"(sweep at {sweep.frequency_hz:g} Hz, sine at {sine.frequency_hz:.1f} Hz):",
        "  order        sweep          sine",
    ]
    for order, level in sine.levels_db.items():
        swept = _db(sweep.levels_db[order]) if order in sweep.levels_db else "-"
        lines.append(f"  {order:>5}  {swept:>11}  {_db(level):>12}")
    lines += [
        f"  THD    {_db(sweep.thd_db):>11}  {_db(sine.thd_db):>12}   "
        f"({sweep.thd_percent:.3g} % and {sine.thd_percent:.3g} %)",
        "",
        f"Null test on {null.material}: residual {describe_db(null.residual_db)} relative to the output -> "
        + _yes(null.nulls, "nulls", "does not null")
        + f" (threshold {null.threshold_db:g} dB)",
        "  per octave: "
        + ", ".join(f"{centre:g} Hz {_db(level)}" for centre, level in null.bands_db.items()),
    ]
    if a.warnings:
        lines += ["", "Warnings:"] + [f"  - {warning}" for warning in a.warnings]
    return "\n".join(lines) + "\n"


def figures_json(analysis: Analysis) -> str:
    return json.dumps(analysis.figures(), indent=2, allow_nan=False) + "\n"


# -- files ---------------------------------------------------------------------------------
def write_report(analysis: Analysis, folder: str | Path, plots: bool = True) -> list[Path]:
    """Write the report into ``folder`` (created if missing); return the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    summary = folder / "summary.txt"
    summary.write_text(summary_text(analysis), encoding="utf-8")
    report = folder / "report.json"
    report.write_text(figures_json(analysis), encoding="utf-8")
    impulse_response = folder / "ir.wav"
    write_audio(impulse_response, analysis.captured_ir, analysis.sample_rate)
    written += [summary, report, impulse_response]
    if plots:
        for name, plot in PLOTS:
            figure = plot(analysis)
            path = folder / name
            figure.savefig(path, dpi=100)
            written.append(path)
    return written


# -- plots ---------------------------------------------------------------------------------
def _figure(rows: int, title: str, height: float = 3.0) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9.0, height * rows), layout="constrained")
    axes = figure.subplots(rows, 1, squeeze=False)[:, 0]
    figure.suptitle(title)
    return figure, axes


def _level_db(values: np.ndarray, reference: float = 1.0) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.maximum(20.0 * np.log10(np.abs(values) / reference), PLOT_FLOOR_DB)


def _title(analysis: Analysis, what: str) -> str:
    chain = f"{analysis.from_label} -> {analysis.to_label}"
    return f"{analysis.patch_name}: {what} ({chain}, {analysis.level_dbfs:g} dBFS)"


def plot_impulse_response(analysis: Analysis) -> Figure:
    """The IR (impulse and sweep), its level over time, and the time-invariance responses."""
    rate = analysis.sample_rate
    shown = max(len(analysis.impulse.samples), round(IR_PLOT_MIN_S * rate))
    impulse = np.zeros(shown)
    impulse[: len(analysis.impulse.samples)] = analysis.impulse.samples
    linear = np.zeros(shown)
    swept = analysis.sweep.linear[:shown]
    linear[: len(swept)] = swept
    figure, (wave, level, shifted) = _figure(3, _title(analysis, "impulse response"))
    milliseconds = np.arange(shown) / rate * 1000.0
    marker = "." if shown <= 400 else None
    wave.plot(milliseconds, linear, lw=0.8, alpha=0.7, label="sweep (linear part)")
    wave.plot(milliseconds, impulse, lw=0.8, marker=marker, label="impulse")
    wave.set(xlabel="time (ms)", ylabel="amplitude (per unit input)", title="impulse response")
    wave.legend(loc="upper right")
    peak = float(np.max(np.abs(impulse))) or 1.0
    level.plot(milliseconds, _level_db(impulse, peak), lw=0.8, marker=marker)
    level.set(xlabel="time (ms)", ylabel="level (dB re peak)", title="level of the impulse response")
    level.set_ylim(PLOT_FLOOR_DB, 5.0)
    time = analysis.time_invariance
    for time_s, response in zip(time.times_s, time.responses, strict=True):
        shown = response[: max(1, min(len(response), round(0.05 * rate)))]
        shifted.plot(np.arange(len(shown)) / rate * 1000.0, shown, lw=0.8, label=f"sent at {time_s:.3f} s")
    verdict = "time-invariant" if time.time_invariant else "time-varying"
    shifted.set(
        xlabel="time after the impulse (ms)",
        ylabel="amplitude",
        title=f"the same impulse at several times: spread {describe_db(time.spread_db)} ({verdict})",
    )
    shifted.legend(loc="upper right", fontsize="small")
    return figure


def plot_frequency_response(analysis: Analysis) -> Figure:
    """Magnitude and phase of the IR, by impulse and by sweep, on a log frequency axis."""
    rate = analysis.sample_rate
    figure, (magnitude, phase) = _figure(2, _title(analysis, "frequency response"), height=3.5)
    low = analysis.sweep.sweep.start_hz
    impulse, sweep = analysis.impulse.samples, analysis.sweep
    size = max(1 << 16, 1 << (max(len(impulse), len(sweep.linear_window)) - 1).bit_length())
    frequencies = np.fft.rfftfreq(size, 1.0 / rate)
    spectra = (("impulse", np.fft.rfft(impulse, size)), ("sweep (linear part)", sweep.linear_spectrum(size)))
    for label, spectrum in spectra:
        shown = frequencies >= low
        magnitude.semilogx(frequencies[shown], _level_db(spectrum[shown]), lw=0.9, label=label)
        # Dots, not lines: a wrapped phase jumping between +180 and -180 would draw a wall.
        points = np.unique(np.geomspace(np.argmax(shown), len(frequencies) - 1, 3000).astype(int))
        angles = np.degrees(np.angle(spectrum[points]))
        phase.semilogx(frequencies[points], angles, ls="none", marker=".", ms=1.5, label=label)
    magnitude.set(xlabel="frequency (Hz)", ylabel="magnitude (dB)", title="magnitude response")
    top = magnitude.get_ylim()[1]
    magnitude.set_ylim(max(magnitude.get_ylim()[0], top - 120.0), top + 3.0)
    magnitude.legend(loc="lower left")
    phase.set(xlabel="frequency (Hz)", ylabel="phase (degrees)", title="phase response (wrapped)")
    phase.legend(loc="lower left", markerscale=6)
    phase.set_ylim(-190.0, 190.0)
    phase.set_yticks([-180, -90, 0, 90, 180])
    for axis in (magnitude, phase):
        axis.set_xlim(low, rate / 2.0)
        axis.grid(True, which="both", alpha=0.3)
    return figure


def plot_harmonics(analysis: Analysis) -> Figure:
    """The output spectrum for a pure sine, and the sweep's distortion per order and frequency."""
    sine, sweep = analysis.harmonics, analysis.sweep
    figure, (spectrum, orders) = _figure(2, _title(analysis, "harmonic distortion"), height=3.5)
    top = min(analysis.sample_rate / 2.0, sine.frequency_hz * (max(sine.levels_db) + 1.5))
    shown = (sine.frequencies > 0.0) & (sine.frequencies <= top)
    spectrum.plot(sine.frequencies[shown], np.maximum(sine.spectrum_dbfs[shown], PLOT_FLOOR_DB), lw=0.7)
    fundamental_dbfs = 20.0 * np.log10(sine.amplitude) + sine.gain_db
    for order, level in sine.levels_db.items():
        if level is not None and level > PLOT_FLOOR_DB - fundamental_dbfs:
            spectrum.annotate(
                f"H{order}",
                (order * sine.frequency_hz, fundamental_dbfs + level),
                fontsize="small",
                ha="center",
            )
    spectrum.set(
        xlabel="frequency (Hz)",
        ylabel="level (dBFS)",
        title=f"output for a {sine.frequency_hz:.1f} Hz sine at {analysis.level_dbfs:g} dBFS: "
        f"THD {sine.thd_percent:.3g} %",
    )
    spectrum.set_ylim(PLOT_FLOOR_DB, max(10.0, fundamental_dbfs + 10.0))
    for order, (inputs, levels) in sweep.curves.items():
        orders.semilogx(inputs, np.maximum(levels, PLOT_FLOOR_DB), lw=0.9, label=f"order {order}")
    orders.set(
        xlabel="input frequency (Hz)",
        ylabel="harmonic level (dB re fundamental)",
        title="distortion per harmonic order, from the sweep",
    )
    orders.set_ylim(max(PLOT_FLOOR_DB, orders.get_ylim()[0]), max(0.0, orders.get_ylim()[1]) + 5.0)
    orders.legend(loc="lower right", fontsize="small")
    for axis in (spectrum, orders):
        axis.grid(True, which="both", alpha=0.3)
    return figure


def plot_residual(analysis: Analysis) -> Figure:
    """The null test: the patch's output and the residual, over time and in frequency."""
    null = analysis.null
    rate = null.sample_rate
    figure, (waves, spectra) = _figure(2, _title(analysis, "null test (patch minus its IR)"), height=3.5)
    seconds = np.arange(len(null.output)) / rate
    waves.plot(seconds, null.output, lw=0.6, label="patch output")
    waves.plot(seconds, null.residual, lw=0.6, label=f"residual ({null.residual_db:.1f} dB)")
    waves.set(xlabel="time (s)", ylabel="amplitude", title=f"on {null.material}")
    waves.legend(loc="upper right")
    shown = null.frequencies > 0.0
    spectra.semilogx(null.frequencies[shown], null.output_spectrum_db[shown], lw=0.9, label="patch output")
    spectra.semilogx(null.frequencies[shown], null.residual_spectrum_db[shown], lw=0.9, label="residual")
    spectra.set(xlabel="frequency (Hz)", ylabel="power spectral density (dB/Hz)", title="spectra")
    spectra.set_ylim(max(PLOT_FLOOR_DB - 40.0, spectra.get_ylim()[0]), spectra.get_ylim()[1] + 5.0)
    spectra.legend(loc="lower left")
    spectra.grid(True, which="both", alpha=0.3)
    return figure


#: The report's plots: file name and the function that draws it (the notebook shows the same).
PLOTS: tuple[tuple[str, Callable[[Analysis], Figure]], ...] = (
    ("ir.png", plot_impulse_response),
    ("response.png", plot_frequency_response),
    ("harmonics.png", plot_harmonics),
    ("residual.png", plot_residual),
)
