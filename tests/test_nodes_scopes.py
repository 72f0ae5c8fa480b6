"""Meters: the scope and the spectrum keep what they were fed, and picture it faithfully."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.signal import get_window

from nodes.scopes import (
    HISTORY,
    SCOPE_VIEW_POINTS,
    SPECTRUM_VIEW_BINS,
    magnitude_spectrum_db,
    min_max_decimate,
    trigger_window,
    view_frequencies,
)
from patcher.engine import Engine
from patcher.model import Patch
from patcher.spec import registry
from tests import test_nodes_contract as contract
from tests.nodetools import probe_signal
from tests.reference_nodes.scopes import ReferenceScope, ReferenceSpectrum

METERS = ("scope", "spectrum")
RATE = 48000


@pytest.mark.parametrize("type_name", METERS)
def test_meters_keep_the_node_contract(type_name: str) -> None:
    contract.test_spec_is_complete(type_name)
    contract.test_output_does_not_depend_on_block_size(type_name)
    for end in ("min", "max"):
        contract.test_every_param_at_its_limits_gives_finite_output(type_name, end)
    cls = registry()[type_name]
    assert cls.IS_SINK and cls.FAMILY == "meters" and cls.INPUTS == ("in",) and cls.OUTPUTS == ()


def feed(type_name: str, signal: np.ndarray, block: int, params: dict | None = None):
    node = registry()[type_name](params or {})
    node.linked = frozenset({"in"})
    node.prepare(RATE, block)
    for start in range(0, len(signal), block):
        node.process({"in": signal[start : start + block]}, node.params, {})
    return node


@pytest.mark.parametrize("block", [1, 64, 65, 1024])
def test_the_latest_samples_come_back_in_order_whatever_the_block_size(block: int) -> None:
    signal = probe_signal(3000 if block == 1 else HISTORY + 5000)
    node = feed("scope", signal, block)
    np.testing.assert_array_equal(node.latest(2000), signal[-2000:])


def test_history_is_silence_before_anything_arrives() -> None:
    node = feed("scope", np.ones(10), 10)
    latest = node.latest(20)
    assert np.all(latest[:10] == 0.0) and np.all(latest[10:] == 1.0)


def test_scope_starts_its_picture_at_a_rising_crossing() -> None:
    t = np.arange(RATE // 10) / RATE
    sine = 0.8 * np.sin(2 * np.pi * 1000 * t + 1.0)
    node = feed("scope", sine, 256, {"time_ms": 5.0})
    picture = node.triggered_waveform()
    assert len(picture) == 240  # 5 ms at 48 kHz
    assert picture[0] >= 0.0 and picture[0] < 0.2 and picture[1] > picture[0]
    falling = feed("scope", sine, 256, {"time_ms": 5.0, "trigger": "falling"}).triggered_waveform()
    assert falling[0] <= 0.0 and falling[0] > -0.2 and falling[1] < falling[0]
    free = feed("scope", sine, 256, {"time_ms": 5.0, "trigger": "free"}).triggered_waveform()
    np.testing.assert_array_equal(free, sine[-240:])


def test_trigger_level_and_a_signal_that_never_crosses() -> None:
    ramp = np.linspace(-1.0, 1.0, 1000)
    window = trigger_window(ramp, 100, "rising", 0.5)
    assert window[0] >= 0.5 and window[0] - 0.5 < 0.01
    flat = np.full(1000, 0.3)
    np.testing.assert_array_equal(trigger_window(flat, 100, "rising", 0.5), flat[-100:])


def test_spectrum_of_a_sine_peaks_at_its_frequency_and_level() -> None:
    size = 4096
    frequency = 85 * RATE / size  # exactly on a bin: no scalloping
    t = np.arange(RATE) / RATE
    node = feed("spectrum", 0.5 * np.sin(2 * np.pi * frequency * t), 512, {"fft_size": str(size)})
    frequencies, level = node.spectrum_db()
    peak = int(np.argmax(level))
    assert frequencies[peak] == pytest.approx(frequency)
    assert level[peak] == pytest.approx(20 * np.log10(0.5), abs=0.05)
    assert len(frequencies) == size // 2 and frequencies[0] > 0


def test_spectrum_matches_a_scipy_hann_reference() -> None:
    samples = probe_signal(2048)
    _frequencies, level = magnitude_spectrum_db(samples, RATE, floor_db=-200.0)
    window = get_window("hann", 2048, fftbins=False)
    reference = np.abs(np.fft.rfft(samples * window)) * 2 / window.sum()
    np.testing.assert_allclose(level, 20 * np.log10(reference[1:]), atol=1e-9)


def test_spectrum_floor_holds_silence() -> None:
    node = feed("spectrum", np.zeros(8192), 256, {"floor_db": -90.0})
    _frequencies, level = node.spectrum_db()
    assert np.all(level == pytest.approx(-90.0))


def test_a_scope_alone_keeps_its_source_running() -> None:
    patch = Patch()
    patch.add_node("oscillator", "osc", frequency_hz=1000.0)
    patch.add_node("scope", "scope")
    patch.connect("osc.out", "scope.in")
    engine = Engine(patch, block_size=256)
    for _ in range(8):
        engine.process_block()
    assert engine.schedule.pruned == []
    scope = engine.schedule.nodes["scope"]
    assert np.max(np.abs(scope.latest(1024))) > 0.4
    assert engine.schedule.sinks == []  # a meter adds nothing to the output mix


# -- the view channel: what the editor draws, bounded and computed outside the audio thread --------
def test_scope_view_is_its_triggered_waveform_when_short() -> None:
    t = np.arange(RATE // 10) / RATE
    node = feed("scope", 0.8 * np.sin(2 * np.pi * 1000 * t + 1.0), 256, {"time_ms": 20.0})
    view = node.view()
    assert view.dtype == np.float64 and view.ndim == 1
    np.testing.assert_array_equal(view, node.triggered_waveform())


def test_a_long_scope_view_keeps_its_peaks_within_the_cap() -> None:
    rng = np.random.default_rng(7)
    signal = rng.uniform(-0.3, 0.3, RATE)
    signal[-20000] = 0.95  # one spike: a plain decimation would lose it
    signal[-9000] = -0.9
    node = feed("scope", signal, 512, {"time_ms": 1000.0, "trigger": "free"})
    full = node.triggered_waveform()
    view = node.view()
    assert len(full) == RATE  # the whole second asked for (it was cut to 682 ms)
    assert SCOPE_VIEW_POINTS // 2 <= len(view) <= SCOPE_VIEW_POINTS
    assert view.max() == full.max() == 0.95 and view.min() == full.min() == -0.9


def test_min_max_decimation_keeps_the_order_of_each_slice() -> None:
    signal = np.array([0.0, 1.0, -1.0, 0.5, -2.0, 0.0, 3.0, 0.0, 5.0])
    # Slices of 3: [0, 1, -1] -> 1 then -1; [0.5, -2, 0] -> 0.5 then -2; [3, 0, 5] -> 0 then 5.
    np.testing.assert_array_equal(min_max_decimate(signal, 6), [1.0, -1.0, 0.5, -2.0, 0.0, 5.0])
    assert len(min_max_decimate(np.zeros(100_001), 4096)) <= 4096
    np.testing.assert_array_equal(min_max_decimate(signal, 16), signal)


def test_spectrum_view_is_the_level_per_bin_and_the_axis_follows_from_its_length() -> None:
    size = 16384
    frequency = 700 * RATE / size
    t = np.arange(RATE) / RATE
    node = feed("spectrum", 0.5 * np.sin(2 * np.pi * frequency * t), 512, {"fft_size": str(size)})
    view = node.view()
    frequencies, level = node.spectrum_db()
    assert view.dtype == np.float64 and len(view) == size // 2 == SPECTRUM_VIEW_BINS
    np.testing.assert_array_equal(view, level)
    np.testing.assert_allclose(view_frequencies(len(view), RATE), frequencies)
    assert view_frequencies(len(view), RATE)[int(np.argmax(view))] == pytest.approx(frequency)


def test_player_node_view_calls_the_running_nodes_view() -> None:
    from patcher.player import Player
    from tests.test_protection import run_callback

    patch = Patch()
    patch.add_node("oscillator", "osc", waveform="sine", frequency_hz=1000.0, amplitude=0.5)
    patch.add_node("output", "out")
    patch.add_node("scope", "scope", time_ms=4.0)
    patch.add_node("spectrum", "spectrum", fft_size="1024")
    patch.connect("osc.out", "out.left")
    patch.connect("osc.out", "scope.in")
    patch.connect("osc.out", "spectrum.in")
    player = Player(patch, block_size=64)
    run_callback(player, 40)
    scope = player.node_view("scope")
    assert scope.dtype == np.float64 and len(scope) == 192  # 4 ms at 48 kHz
    assert np.max(np.abs(scope)) == pytest.approx(0.5, abs=0.01) and scope[0] >= 0.0 and scope[1] > scope[0]
    spectrum = player.node_view("spectrum")
    assert len(spectrum) == 512
    assert view_frequencies(512, RATE)[int(np.argmax(spectrum))] == pytest.approx(1000.0, abs=RATE / 1024)
    assert player.node_view("osc") is None and player.node_view("nope") is None


# -- the ring-buffer kernel against the numpy write it replaced (tests/reference_nodes) -------------
REFERENCE_METERS = {"scope": ReferenceScope, "spectrum": ReferenceSpectrum}


def _fed_at(node_class: type, params: dict, sample_rate: int, signal: np.ndarray, block: int):
    """A meter fed ``signal``: first in long calls up to 50 samples short of the ring's end,
    then in blocks of ``block``, so every block size crosses the wrap."""
    node = node_class(params)
    node.linked = frozenset({"in"})
    long_call = 8192
    node.prepare(sample_rate, long_call)
    cuts = [*range(0, HISTORY - 50, long_call), *range(HISTORY - 50, len(signal), block), len(signal)]
    for start, stop in itertools.pairwise(cuts):
        node.process({"in": signal[start:stop]}, node.params, {})
    return node


@pytest.mark.parametrize("type_name", METERS)
@pytest.mark.parametrize("block", [1, 7, 64, 65, 256, 1024])
def test_ring_kernel_matches_the_numpy_write_across_the_wrap(type_name: str, block: int) -> None:
    signal = np.random.default_rng(block).uniform(-1.0, 1.0, HISTORY + 3000)
    node = _fed_at(registry()[type_name], {}, RATE, signal, block)
    reference = _fed_at(REFERENCE_METERS[type_name], {}, RATE, signal, block)
    assert node.written == reference.written == len(signal)
    np.testing.assert_array_equal(node.history, reference.history)
    np.testing.assert_array_equal(node.latest(HISTORY), signal[-HISTORY:])


@pytest.mark.parametrize("sample_rate", [8000, 44100, 48000, 96000])
def test_views_match_the_numpy_meters_at_every_setting(sample_rate: int) -> None:
    t = np.arange(HISTORY + 4000) / sample_rate
    signal = 0.7 * np.sin(2 * np.pi * 330.0 * t) + 0.05 * np.random.default_rng(3).standard_normal(len(t))
    settings = {
        "scope": [
            {"time_ms": time_ms, "trigger": trigger, "trigger_level": level}
            for time_ms in (1.0, 20.0, 1000.0)
            for trigger in ("rising", "falling", "free")
            for level in (-1.0, 0.3, 1.0)
        ],
        "spectrum": [
            {"fft_size": size, "floor_db": floor} for size in ("1024", "16384") for floor in (-120.0, -20.0)
        ],
    }
    for type_name, params_list in settings.items():
        for params in params_list:
            node = _fed_at(registry()[type_name], params, sample_rate, signal, 65)
            reference = _fed_at(REFERENCE_METERS[type_name], params, sample_rate, signal, 65)
            view = node.view()
            assert len(view) >= min(int(params.get("time_ms", 1000.0) * sample_rate / 1000.0), 512)
            np.testing.assert_array_equal(view, reference.view(), err_msg=f"{type_name} {params}")
