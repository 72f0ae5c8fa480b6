"""Patcher in a notebook: the lesson notebook runs in a real kernel and reaches its verdicts,
and each object shows what a student should see (a patch's graph, a player, an analysis's
verdict, figures and plots, a node type's doc), decoded back and checked."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from html import escape
from pathlib import Path

import nbformat
import numpy as np
import pytest
import soundfile
from nbclient import NotebookClient
from PIL import Image

import patcher
from patcher.analysis import Analysis, analyze, describe_db
from patcher.analysis_report import figure_rows, verdict
from patcher.notebook import MAX_PLAYER_SECONDS

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "pedal_vs_ir.ipynb"
PATCHES = ROOT / "patches"
SVG = "{http://www.w3.org/2000/svg}"
#: A 16-bit WAV holds a sample to within one step (and soundfile reads 32767 back as 32767/32768).
PCM_16_STEP = 2.0 / 32768.0


# -- the lesson notebook ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def executed() -> dict[str, nbformat.NotebookNode]:
    """The notebook run top to bottom in a fresh kernel, from its own folder (as Jupyter runs
    it); its code cells by tag."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    folder = {"metadata": {"path": str(NOTEBOOK.parent)}}
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", resources=folder)
    client.execute()  # raises CellExecutionError naming the cell that failed
    return {tag: cell for cell in notebook.cells for tag in cell.metadata.get("tags", [])}


def printed(cell: nbformat.NotebookNode) -> str:
    return "".join(output.text for output in cell.outputs if output.output_type == "stream")


def shown(cell: nbformat.NotebookNode, mime: str) -> str:
    return "".join(output.data[mime] for output in cell.outputs if mime in output.get("data", {}))


def test_the_notebook_is_stored_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_the_notebook_finds_the_pedal_nonlinear(executed: dict[str, nbformat.NotebookNode]) -> None:
    cell = executed["pedal-verdict"]
    assert "pedal: Nonlinear: its impulse response cannot capture it" in printed(cell)
    residual = float(re.search(r"pedal null residual: ([-+\d.]+) dB", printed(cell)).group(1))
    assert residual > 0.0  # the IR is no closer to the pedal than silence
    assert "Nonlinear: its impulse response cannot capture it" in shown(cell, "text/html")


def test_the_notebook_finds_the_low_pass_lti_and_captures_it(
    executed: dict[str, nbformat.NotebookNode],
) -> None:
    said = printed(executed["lowpass-verdict"])
    assert "low-pass: Linear and time-invariant: its impulse response captures it" in said
    assert "nonlinear" not in said.lower()
    null = printed(executed["lowpass-null"])
    residual = float(re.search(r"null residual of the captured low-pass: ([-+\d.]+) dB", null).group(1))
    assert residual < -100.0


def test_the_notebook_shows_the_patch_and_plays_the_render(
    executed: dict[str, nbformat.NotebookNode],
) -> None:
    picture = shown(executed["patch"], "image/svg+xml")
    assert {"guitar", "clipper", "pedal_ir", "out"} <= set(svg_labels(picture))
    player = shown(executed["render"], "text/html")
    assert "<audio controls" in player and "stereo, 4.00 s at 48000 Hz" in player
    assert "Rendering (192000, 2) 48000 Hz" in printed(executed["render"])


# -- a patch ---------------------------------------------------------------------------------------
def svg_labels(svg: str) -> dict[str, tuple[float, float]]:
    """Each text line of a matplotlib SVG and where it is drawn (x, y down)."""
    labels = {}
    for text in ElementTree.fromstring(svg).iter(f"{SVG}text"):
        x, y = re.search(r"translate\(([-\d.e]+) ([-\d.e]+)\)", text.get("transform", "")).groups()
        labels[text.text] = (float(x), float(y))
    return labels


def test_a_patch_shows_its_graph_laid_out_as_in_the_editor() -> None:
    patch = patcher.load(PATCHES / "pedal_vs_ir.json")
    svg = patch._repr_svg_()
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    width, height = (float(root.get(side).removesuffix("pt")) for side in ("width", "height"))
    assert 300.0 < width < 800.0 and 100.0 < height < width
    labels = svg_labels(svg)
    assert set(patch.nodes) <= set(labels)
    # The editor's places: the pedal runs left to right along the top, its IR below it.
    along = [labels[n][0] for n in ("guitar", "pre_emphasis", "clipper", "tone", "out")]
    assert along == sorted(along)
    assert labels["pedal_ir"][1] > labels["clipper"][1]


def test_a_patch_made_without_places_is_laid_out_as_the_editor_would() -> None:
    patch = patcher.Patch()
    patch.add_node("oscillator", "osc")
    patch.add_node("lfo", "wobble")
    patch.add_node("filter", "lp")
    patch.add_node("output", "out")
    patch.connect("osc.out", "lp.in")
    patch.connect("wobble.out", "lp.cutoff_hz")
    patch.connect("lp.out", "out.left")
    labels = svg_labels(patch._repr_svg_())
    assert labels["osc"][0] < labels["lp"][0] < labels["out"][0]
    assert len({labels[n] for n in ("osc", "wobble", "lp", "out")}) == 4  # none piled on another


def test_a_patch_repr_is_one_short_line() -> None:
    patch = patcher.load(PATCHES / "pedal_vs_ir.json")
    assert repr(patch) == (
        "<Patch: 6 nodes, 6 links, 48000 Hz, 4 s: 'Is a distortion pedal just its impulse response?'>"
    )
    assert repr(patcher.Patch()) == "<Patch: 0 nodes, 0 links, 48000 Hz, 5 s>"
    assert patcher.Patch()._repr_svg_() is None  # nothing to draw: the text is shown


def test_importing_patcher_and_showing_a_patch_as_text_loads_no_matplotlib() -> None:
    code = (
        "import sys, patcher\n"
        f"print(repr(patcher.load({str(PATCHES / 'pedal_vs_ir.json')!r})))\n"
        "print('matplotlib' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "False"


# -- a render --------------------------------------------------------------------------------------
def decoded_player(html: str) -> tuple[np.ndarray, int]:
    wav = re.search(r'<audio controls[^>]* src="data:audio/wav;base64,([A-Za-z0-9+/=]+)"', html).group(1)
    samples, rate = soundfile.read(io.BytesIO(base64.b64decode(wav)), always_2d=True)
    return samples, rate


def rendered_tone(seconds: float, sample_rate: int = 48000, frequency_hz: float = 440.0) -> patcher.Rendering:
    patch = patcher.Patch()
    patch.add_node("oscillator", "osc", frequency_hz=frequency_hz)
    patch.add_node("pan", "pan", pan=-0.5)
    patch.add_node("output", "out")
    patch.connect("osc.out", "pan.in")
    patch.connect("pan.left", "out.left")
    patch.connect("pan.right", "out.right")
    return patcher.render(patch, seconds, sample_rate=sample_rate)


def test_a_render_plays_the_samples_it_holds() -> None:
    audio = rendered_tone(0.5)
    html = audio._repr_html_()
    samples, rate = decoded_player(html)
    assert rate == 48000 and samples.shape == audio.shape
    np.testing.assert_allclose(samples, audio, atol=PCM_16_STEP)
    assert "stereo, 0.50 s at 48000 Hz, peak" in html


def test_a_slice_of_a_render_plays_too() -> None:
    audio = rendered_tone(0.5)
    samples, rate = decoded_player(audio[:, 1]._repr_html_())
    assert rate == 48000 and samples.shape == (24000, 1)
    np.testing.assert_allclose(samples[:, 0], audio[:, 1], atol=PCM_16_STEP)
    assert "mono" in audio.mean(axis=1)._repr_html_()


def test_a_long_render_plays_its_first_30_seconds_and_says_so() -> None:
    audio = rendered_tone(MAX_PLAYER_SECONDS + 1.0, sample_rate=8000, frequency_hz=100.0)
    html = audio._repr_html_()
    samples, _rate = decoded_player(html)
    assert len(samples) == round(MAX_PLAYER_SECONDS * 8000)
    np.testing.assert_allclose(samples, audio[: len(samples)], atol=PCM_16_STEP)
    assert "31.00 s at 8000 Hz" in html and "the player holds the first 30 s" in html


def test_a_louder_render_is_clipped_in_the_player_only() -> None:
    audio = rendered_tone(0.2)
    louder = audio * 4.0
    assert np.max(np.abs(louder)) > 1.0  # the array keeps every sample
    samples, _rate = decoded_player(louder._repr_html_())
    np.testing.assert_allclose(samples, np.clip(np.asarray(louder), -1.0, 1.0), atol=PCM_16_STEP)
    assert "clips it to ±1.0" in louder._repr_html_()


def test_a_render_still_acts_as_its_array() -> None:
    audio = rendered_tone(0.2)
    plain = np.asarray(audio)
    assert type(plain) is np.ndarray and plain.shape == (9600, 2)
    np.testing.assert_array_equal(audio * 2.0, plain * 2.0)
    np.testing.assert_array_equal(audio[100:200, 0], plain[100:200, 0])
    assert float(audio.max()) == plain.max()
    # What is no longer sound shows as the array it is, not as a player.
    for array in (audio.max(), audio.T, audio > 0.0, audio.mean(axis=0), audio[:10]):
        assert array._repr_html_() is None


# -- an analysis -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def low_pass() -> Analysis:
    return analyze(patcher.load(PATCHES / "lowpass.json"), patch_name="lowpass.json")


@pytest.fixture(scope="module")
def pedal() -> Analysis:
    return analyze(patcher.load(PATCHES / "pedal_vs_ir.json"), to_port="out.left", patch_name="pedal_vs_ir")


def test_the_verdict_is_one_sentence(low_pass: Analysis, pedal: Analysis) -> None:
    assert re.fullmatch(
        r"Linear and time-invariant: its impulse response captures it "
        r"\(the capture nulls it to -1\d\d dB\)\.",
        verdict(low_pass),
    )
    assert verdict(pedal) == (
        "Nonlinear: its impulse response cannot capture it "
        "(it adds harmonics an impulse response cannot make)."
    )


def test_an_analysis_shows_its_verdict_figures_and_plots(pedal: Analysis) -> None:
    html = pedal._repr_html_()
    assert f"<b>{escape(verdict(pedal))}</b>" in html
    assert "Not LTI" in html  # the paragraph behind it, as `patcher analyze` prints it
    for measure, value, meaning in figure_rows(pedal):
        assert f"<td>{escape(measure)}</td><td>{escape(value)}</td><td>{escape(meaning)}</td>" in html
    assert describe_db(pedal.null.residual_db) in html and "does not null" in html
    plots = re.findall(r'<img alt="([a-z]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert [name for name, _data in plots] == ["ir", "response", "harmonics", "residual"]
    for _name, data in plots:
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            assert image.format == "PNG" and image.width == 648 and image.height > 300
            assert np.asarray(image.convert("L")).std() > 10.0  # a plot, not a blank


def test_an_analysis_repr_is_one_line_without_arrays(low_pass: Analysis, pedal: Analysis) -> None:
    assert repr(pedal) == (
        "<Analysis of pedal_vs_ir, guitar (input) -> out.left (clipper, pre_emphasis, tone): "
        "Nonlinear: its impulse response cannot capture it "
        "(it adds harmonics an impulse response cannot make)>"
    )
    for analysis in (low_pass, pedal):
        text = repr(analysis)
        assert len(text) < 250 and "\n" not in text and "array" not in text
        assert text == str(analysis)


# -- a node type -----------------------------------------------------------------------------------
def test_a_node_type_shows_its_spec_and_doc() -> None:
    oscillator = patcher.node_type("oscillator")
    assert repr(oscillator) == (
        "<node type 'oscillator' (sources): in: -; out: out; "
        "params: waveform, frequency_hz, amplitude, pulse_width, phase_deg>"
    )
    markdown = oscillator._repr_markdown_()
    assert markdown.startswith("## `oscillator` (sources)")
    assert markdown in (ROOT / "docs" / "nodes.md").read_text(encoding="utf-8")  # the reference's section
    page = str(oscillator)  # `patcher nodes oscillator`
    assert page.startswith("oscillator  [sources]") and "frequency_hz" in page and "examples:" in page


def test_an_unknown_node_type_is_refused_with_the_closest_name() -> None:
    with pytest.raises(patcher.PatchError, match="unknown node type 'oscilator'; did you mean 'oscillator'"):
        patcher.node_type("oscilator")
