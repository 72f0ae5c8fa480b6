"""Analyze > Measure and Capture IR, GUI-free: the chain a selection names, the measurement in
its own process, the verdict, the plots, and what a capture refuses (the window's tests are in
test_editor_window.py)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from patcher.analysis import analyze
from patcher.editor.measure import (
    Chain,
    chain_for_selection,
    envelope_points,
    impulse_plot,
    measurement_plots,
    verdict_sentence,
)
from patcher.editor.model import EditorModel
from patcher.model import Patch
from patcher.patchfile import load

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def pedal(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "patches" / "pedal_vs_ir.json", tmp_path / "pedal_vs_ir.json")
    shutil.copytree(ROOT / "patches" / "media", tmp_path / "media")
    return tmp_path / "pedal_vs_ir.json"


def finish(model: EditorModel) -> None:
    deadline = time.monotonic() + 120
    while model.measuring.job is not None:
        assert time.monotonic() < deadline
        model.poll()
        time.sleep(0.02)


def test_a_selection_names_a_chain_in_running_order(pedal: Path) -> None:
    patch = load(pedal)
    assert chain_for_selection(patch, []) == Chain(None, None)
    assert chain_for_selection(patch, ["tone"]) == Chain("tone.in", "tone.out")
    # picked in any order, the chain runs from the first to run to the last
    assert chain_for_selection(patch, ["tone", "pre_emphasis", "clipper"]) == Chain(
        "pre_emphasis.in", "tone.out"
    )
    # a source has no input: the patch's inputs feed it; the output node is measured at its input
    assert chain_for_selection(patch, ["guitar", "pedal_ir"]) == Chain(None, "pedal_ir.out")
    assert chain_for_selection(patch, ["pedal_ir", "out"]) == Chain("pedal_ir.in", None)


def test_the_verdict_says_what_an_impulse_response_can_and_cannot_hold() -> None:
    patch = Patch()
    patch.add_node("input", "in")
    patch.add_node("filter", "lp", cutoff_hz=2000.0)
    patch.add_node("delay", "chorus", time_ms=8.0, mix=0.5)
    patch.add_node("lfo", "wobble", rate_hz=3.0, depth=4.0, offset=8.0)
    patch.add_node("output", "out")
    patch.connect("in.out", "lp.in")
    patch.connect("lp.out", "chorus.in")
    patch.connect("wobble.out", "chorus.time_ms")
    patch.connect("chorus.out", "out.left")
    lti = verdict_sentence(analyze(patch, "lp.in", "lp.out"))
    assert lti.startswith("Linear and time-invariant: its impulse response captures it")
    varying = verdict_sentence(analyze(patch, "chorus.in", "chorus.out"))
    assert varying.startswith("Time-varying: its impulse response cannot capture it")


def test_the_plots_draw_the_measured_curves(pedal: Path) -> None:
    analysis = analyze(load(pedal), "tone.in", "tone.out")
    plots = measurement_plots(analysis)
    assert [plot.caption.split()[0] for plot in plots] == ["impulse", "magnitude", "harmonics", "null"]
    for plot in plots:
        assert plot.curves and all(
            0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 for c in plot.curves for x, y in c.points
        )
    ir = impulse_plot(analysis)
    (xs, ys) = zip(*ir.curves[0].points, strict=True)
    peak_at = analysis.impulse.peak_index / (len(analysis.impulse.samples) - 1)
    assert xs[int(np.argmax(np.abs(np.array(ys) - 0.5)))] == pytest.approx(peak_at)
    assert ir.y_axis.high == pytest.approx(1.1 * np.max(np.abs(analysis.impulse.samples)))


def test_a_long_response_is_drawn_with_its_peaks_kept() -> None:
    signal = np.zeros(240_000)
    signal[123_457] = -0.9
    signal[200_001] = 0.5
    times, values = envelope_points(signal, 600)
    assert len(times) <= 600 and list(times) == sorted(times)
    assert values.min() == -0.9 and values.max() == 0.5
    assert 123_457 in times and 200_001 in times


def test_capture_needs_a_measurement_a_saved_patch_and_the_sound_it_measured(
    pedal: Path, tmp_path: Path
) -> None:
    model = EditorModel(state_dir=tmp_path / "state")
    assert model.open(pedal)
    assert not model.measuring.capture() and "measure a chain first" in model.status.text
    model.select(["tone"])
    assert model.measuring.start()
    finish(model)
    assert model.measuring.result is not None
    model.set_param("tone", "cutoff_hz", 1000.0)  # another sound: the IR is no longer its own
    assert model.measuring.stale
    assert not model.measuring.capture() and "measure it again" in model.status.text
    model.undo()
    assert not model.measuring.stale
    model.path = None  # a new patch has no folder to hold its IR
    assert not model.measuring.capture() and "save the patch first" in model.status.text
    assert "capture" not in model.patch.nodes and not list(tmp_path.glob("*-ir.wav"))


def test_a_chain_that_does_not_exist_is_a_message_not_a_crash(pedal: Path, tmp_path: Path) -> None:
    model = EditorModel(state_dir=tmp_path / "state")
    assert model.open(pedal)
    assert model.measuring.start(Chain("nowhere.in", "tone.out"))
    finish(model)
    assert model.status.level == "error" and "nowhere" in model.status.text
    assert model.measuring.result is None


def test_listening_switches_only_a_capture_beside_its_chain(pedal: Path, tmp_path: Path) -> None:
    model = EditorModel(state_dir=tmp_path / "state")
    assert model.open(pedal)
    assert not model.measuring.listen("difference") and model.status.level == "error"
    with pytest.raises(ValueError):
        model.measuring.listen("louder")
    model.select(["tone"])
    model.measuring.start()
    finish(model)
    assert model.measuring.capture(beside=True) and model.measuring.listening == "chain"
    assert model.measuring.listen("difference") and model.measuring.listening == "difference"
    levels = {name: model.patch.nodes["ab"].params[name] for name in ("level1", "level2", "level3")}
    assert levels == {"level1": 0.0, "level2": 0.0, "level3": 1.0}
    saved = load(pedal)  # the capture is an edit like any other: the file changes only on save
    assert "capture" not in saved.nodes


def test_a_capture_after_save_as_elsewhere_is_read_where_it_was_written(pedal: Path, tmp_path: Path) -> None:
    """The IR goes where the patch's relative files are read from, so the convolver finds it
    and the saved patch opens again."""
    model = EditorModel(state_dir=tmp_path / "state")
    assert model.open(pedal)
    other = tmp_path / "other"
    other.mkdir()
    assert model.save_as(other / "mine.json")
    model.select(["tone"])
    model.measuring.start()
    finish(model)
    assert model.measuring.capture()
    ir = Path(model.patch.base_dir) / model.patch.nodes["capture"].params["file"]
    assert ir.is_file()
    assert model.save()
    reopened = load(other / "mine.json", allow_outside_files=True)  # its media stayed behind too
    assert (Path(reopened.base_dir) / reopened.nodes["capture"].params["file"]).resolve() == ir.resolve()
