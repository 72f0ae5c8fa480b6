"""The convolver: exact against scipy's fftconvolve, IR files, the generated room, the mix."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from scipy.signal import fftconvolve, resample_poly

from nodes.convolution import (
    NORMALIZE_MODES,
    PARTITION_SIZES,
    Convolver,
    PartitionedConvolver,
    normalize_impulse_response,
    room_impulse_response,
)
from patcher import spec
from tests.nodetools import probe_signal, run_node
from tests.reference_nodes.convolution import ReferenceConvolver, ReferencePartitionedConvolver

HEAD, P, TOP = PARTITION_SIZES  # the head's length, the middle level's and the last level's partitions
IR_LENGTHS = (1, HEAD - 1, HEAD, HEAD + 1, 100, P - 1, P, P + 1, 3 * P + 17, TOP, TOP + 1, 2 * TOP + 300)


def _write_ir(directory: Path, impulse_response: np.ndarray, sample_rate: int = 48000) -> str:
    soundfile.write(directory / "ir.wav", impulse_response, sample_rate, subtype="DOUBLE")
    return "ir.wav"


def _convolve_in_blocks(convolver: PartitionedConvolver, signal: np.ndarray, block: int) -> np.ndarray:
    out = np.zeros_like(signal)
    for start in range(0, len(signal), block):
        convolver.process(signal[start : start + block], out[start : start + block])
    return out


@pytest.mark.parametrize("length", IR_LENGTHS)
@pytest.mark.parametrize("block", [1, 64, 65, 256, 1024])
def test_node_matches_fftconvolve(tmp_path: Path, length: int, block: int) -> None:
    impulse_response = np.random.default_rng(length).standard_normal(length) / np.sqrt(length)
    signal = probe_signal(3 * TOP + 300)
    params = {"source": "file", "file": _write_ir(tmp_path, impulse_response), "normalize": "none"}
    result = run_node("convolver", params, {"in": signal}, block=block, patch_dir=str(tmp_path))["out"]
    reference = fftconvolve(signal, impulse_response)[: len(signal)]
    np.testing.assert_allclose(result, reference, rtol=0, atol=1e-9)


@pytest.mark.parametrize("partition_sizes", [(4,), (16,), (128,), (1, 2, 8), (4, 16, 64), (8, 16, 64, 128)])
@pytest.mark.parametrize("block", [1, 3, 16, 17, 100])
def test_other_partition_sizes_match_fftconvolve(partition_sizes: tuple[int, ...], block: int) -> None:
    rng = np.random.default_rng(sum(partition_sizes) + block)
    first, last = partition_sizes[0], partition_sizes[-1]
    signal = rng.standard_normal(9 * last + 5)
    for length in (1, first, first + 1, last, last + 1, 5 * last + 3):
        impulse_response = rng.standard_normal(length)
        convolver = PartitionedConvolver(impulse_response, partition_sizes)
        reference = fftconvolve(signal, impulse_response)[: len(signal)]
        result = _convolve_in_blocks(convolver, signal, block)
        np.testing.assert_allclose(result, reference, rtol=0, atol=1e-9, err_msg=f"IR of {length}")


def test_an_impulse_gives_back_the_ir_with_no_latency() -> None:
    impulse_response = room_impulse_response(48000, 0.1, 0.05, seed=3)
    signal = np.zeros(6000)
    signal[0] = 1.0
    result = _convolve_in_blocks(PartitionedConvolver(impulse_response), signal, 64)
    np.testing.assert_allclose(result[: len(impulse_response)], impulse_response, rtol=0, atol=1e-12)
    assert np.all(result[len(impulse_response) :] == pytest.approx(0.0, abs=1e-12))


def test_default_room_matches_fftconvolve_at_every_block_size() -> None:
    signal = probe_signal(6000)
    node = Convolver()
    node.prepare(48000, 256)
    reference = fftconvolve(signal, node.impulse_response)[: len(signal)]
    for block in (1, 65, 1024):
        result = run_node("convolver", {}, {"in": signal}, block=block)["out"]
        np.testing.assert_allclose(result, reference, rtol=0, atol=1e-9, err_msg=f"block {block}")


def test_ir_file_at_44100_is_resampled_to_the_engine_rate(tmp_path: Path) -> None:
    impulse_response = room_impulse_response(44100, 0.05, 0.02, seed=7) * 0.2
    soundfile.write(tmp_path / "hall.wav", impulse_response, 44100, subtype="DOUBLE")
    node = Convolver({"source": "file", "file": "hall.wav", "normalize": "none"}, str(tmp_path))
    node.prepare(48000, 256)
    expected = resample_poly(impulse_response, 160, 147)
    np.testing.assert_allclose(node.impulse_response, expected, rtol=0, atol=1e-12)
    signal = probe_signal(3000)
    result = run_node("convolver", node.params, {"in": signal}, patch_dir=str(tmp_path))["out"]
    np.testing.assert_allclose(result, fftconvolve(signal, expected)[:3000], rtol=0, atol=1e-9)


def test_stereo_ir_file_uses_its_first_channel(tmp_path: Path) -> None:
    stereo = np.random.default_rng(2).standard_normal((300, 2))
    soundfile.write(tmp_path / "stereo.wav", stereo, 48000, subtype="DOUBLE")
    node = Convolver({"source": "file", "file": "stereo.wav", "normalize": "none"}, str(tmp_path))
    node.prepare(48000, 256)
    np.testing.assert_allclose(node.impulse_response, stereo[:, 0], rtol=0, atol=1e-12)


def test_missing_ir_file_raises_an_oserror_naming_it(tmp_path: Path) -> None:
    node = Convolver({"source": "file", "file": "no-such-hall.wav"}, str(tmp_path))
    with pytest.raises(OSError, match=r"no-such-hall\.wav"):
        node.prepare(48000, 256)


def test_a_bad_file_on_a_running_node_keeps_the_old_ir(tmp_path: Path) -> None:
    node = Convolver({}, str(tmp_path))
    node.prepare(48000, 256)
    before = node.impulse_response
    node.param_changed("file", "gone.wav")  # the source is still the room: nothing read
    with pytest.raises(OSError, match=r"gone\.wav"):
        node.param_changed("source", "file")
    assert node.impulse_response is before


def test_no_file_means_no_wet_signal() -> None:
    signal = probe_signal(2000)
    result = run_node("convolver", {"source": "file", "file": ""}, {"in": signal})["out"]
    assert np.all(result == 0.0)


@pytest.mark.parametrize("sample_rate", [22050, 48000, 96000])
@pytest.mark.parametrize("decay_s", [0.3, 1.0])
def test_room_decays_60_db_over_the_decay_time(sample_rate: int, decay_s: float) -> None:
    impulse_response = room_impulse_response(sample_rate, 1.5, decay_s, damping=0.0, seed=1)
    assert len(impulse_response) == round(1.5 * sample_rate)
    window = sample_rate // 100
    frames = (len(impulse_response) // window) * window
    energy = np.mean(impulse_response[:frames].reshape(-1, window) ** 2, axis=1)
    seconds = (np.arange(len(energy)) + 0.5) * window / sample_rate
    fitted = seconds < 1.4  # leave out the final fade
    slope_db_per_s = np.polyfit(seconds[fitted], 10 * np.log10(energy[fitted]), 1)[0]
    assert slope_db_per_s == pytest.approx(-60.0 / decay_s, rel=0.05)


def test_damping_makes_the_highs_die_away_first() -> None:
    sample_rate = 48000
    impulse_response = room_impulse_response(sample_rate, 1.0, 0.8, damping=1.0, seed=2)
    early = np.abs(np.fft.rfft(impulse_response[:4800]))
    late = np.abs(np.fft.rfft(impulse_response[24000:28800]))
    bins = np.fft.rfftfreq(4800, 1 / sample_rate)
    highs, lows = bins > 8000, (bins > 100) & (bins < 1000)
    early_tilt = np.mean(early[highs] ** 2) / np.mean(early[lows] ** 2)
    late_tilt = np.mean(late[highs] ** 2) / np.mean(late[lows] ** 2)
    assert late_tilt < early_tilt / 30


def test_room_is_deterministic_and_the_seed_changes_it() -> None:
    first = room_impulse_response(48000, 0.5, 0.5, 0.3, seed=4)
    np.testing.assert_array_equal(first, room_impulse_response(48000, 0.5, 0.5, 0.3, seed=4))
    assert not np.allclose(first, room_impulse_response(48000, 0.5, 0.5, 0.3, seed=5))


def test_normalisation_modes() -> None:
    raw = room_impulse_response(48000, 0.5, 0.4, 0.5, seed=9)
    assert np.max(np.abs(normalize_impulse_response(raw, "peak"))) == pytest.approx(1.0)
    assert np.sum(normalize_impulse_response(raw, "energy") ** 2) == pytest.approx(1.0)
    np.testing.assert_array_equal(normalize_impulse_response(raw, "none"), raw)
    silent = np.zeros(10)
    for mode in ("none", "peak", "energy"):
        np.testing.assert_array_equal(normalize_impulse_response(silent, mode), silent)
    room = {"room_length_s": 0.5, "decay_s": 0.4, "damping": 0.5, "seed": 9}
    for mode, expected in (("none", raw), ("peak", raw / np.max(np.abs(raw)))):
        node = Convolver({**room, "normalize": mode})
        node.prepare(48000, 256)
        np.testing.assert_allclose(node.impulse_response, expected, rtol=1e-12)


def test_energy_normalisation_keeps_white_noise_level() -> None:
    signal = np.random.default_rng(0).standard_normal(48000)
    result = run_node("convolver", {"room_length_s": 0.3, "decay_s": 0.2}, {"in": signal})["out"]
    steady = result[24000:]
    assert np.sqrt(np.mean(steady**2)) == pytest.approx(1.0, rel=0.1)


def test_dry_wet_mix_and_output_level() -> None:
    signal = probe_signal(3000)
    room = {"room_length_s": 0.1, "decay_s": 0.1}
    wet = run_node("convolver", room, {"in": signal})["out"]
    dry = run_node("convolver", {**room, "mix": 0.0}, {"in": signal})["out"]
    np.testing.assert_allclose(dry, signal, rtol=0, atol=1e-15)
    half = run_node("convolver", {**room, "mix": 0.25, "output_db": -6.0}, {"in": signal})["out"]
    gain = 10 ** (-6.0 / 20)
    np.testing.assert_allclose(half, gain * (0.75 * signal + 0.25 * wet), rtol=0, atol=1e-12)


def test_modulated_mix_follows_the_signal() -> None:
    signal = probe_signal(2000)
    room = {"room_length_s": 0.1, "decay_s": 0.1, "mix": 0.0}
    sweep = np.linspace(0.0, 1.0, 2000)
    wet = run_node("convolver", {**room, "mix": 1.0}, {"in": signal})["out"]
    result = run_node("convolver", room, {"in": signal, "mix": sweep}, block=64)["out"]
    np.testing.assert_allclose(result, (1 - sweep) * signal + sweep * wet, rtol=0, atol=1e-12)


@pytest.mark.parametrize("new_length_s", [0.5, 0.2, 0.01])
def test_changing_the_ir_while_running_keeps_the_history(new_length_s: float) -> None:
    signal = probe_signal(48000)
    node = Convolver({"room_length_s": 0.5, "decay_s": 0.3})
    node.linked = frozenset({"in"})
    node.prepare(48000, 100)
    out = np.zeros(len(signal))
    change_at = 20037
    for start in range(0, len(signal), 100):
        if start <= change_at < start + 100:
            node.process({"in": signal[start:change_at]}, node.params, {"out": out[start:change_at]})
            node.param_changed("seed", 8)
            node.param_changed("room_length_s", new_length_s)
            start = change_at
        stop = (start // 100 + 1) * 100
        node.process({"in": signal[start:stop]}, node.params, {"out": out[start:stop]})
    reference = fftconvolve(signal, node.impulse_response)[: len(signal)]
    np.testing.assert_allclose(out[change_at:], reference[change_at:], rtol=0, atol=1e-9)


@pytest.mark.parametrize("block", [1, 64, 100])
def test_an_ir_grown_within_the_history_is_exact_at_once(block: int) -> None:
    """An IR change refills every level from the input history (its last 8192 samples and
    more): an IR grown from 300 to 6000 samples hears all the input it reaches."""
    rng = np.random.default_rng(block)
    signal = rng.standard_normal(20000)
    short, long = rng.standard_normal(300), rng.standard_normal(6000) / 50
    convolver = PartitionedConvolver(short)
    change_at = 12345
    before = _convolve_in_blocks(convolver, signal[:change_at], block)
    convolver.set_impulse_response(long)
    after = _convolve_in_blocks(convolver, signal[change_at:], block)
    np.testing.assert_allclose(before, fftconvolve(signal, short)[:change_at], rtol=0, atol=1e-9)
    np.testing.assert_allclose(after, fftconvolve(signal, long)[change_at:20000], rtol=0, atol=1e-9)


def test_reset_clears_the_tail() -> None:
    node = Convolver({"room_length_s": 0.2})
    node.prepare(48000, 256)
    out = np.zeros(256)
    node.process({"in": np.ones(256)}, node.params, {"out": out})
    node.reset()
    node.process({"in": np.zeros(256)}, node.params, {"out": out})
    assert np.all(out == 0.0)


def test_the_levels_work_is_spread_over_the_blocks_of_a_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    """At block 64, no block pays for a whole partition's multiply-accumulate: each computes at
    most one slice of each numpy-FFT level's next output bins (the bench shows the p99 block
    halve)."""
    import nodes.convolution

    convolver = PartitionedConvolver(np.random.default_rng(0).standard_normal(20 * TOP))
    assert [level.size for level in convolver.fft_levels] == [TOP]
    sliced_bins: dict[int, list[int]] = {level.size: [] for level in convolver.fft_levels}
    original = nodes.convolution._multiply_accumulate

    def counting(line_real: np.ndarray, *args: Any) -> None:
        level = next(level for level in convolver.fft_levels if level.line_real is line_real)
        low, high = args[5:7]
        sliced_bins[level.size].append(int(high - low))
        original(line_real, *args)

    monkeypatch.setattr(nodes.convolution, "_multiply_accumulate", counting)
    signal = probe_signal(2 * TOP)
    out = np.zeros(64)
    per_block: dict[int, list[int]] = {size: [] for size in sliced_bins}
    for start in range(0, 2 * TOP, 64):
        before = {size: sum(bins) for size, bins in sliced_bins.items()}
        convolver.process(signal[start : start + 64], out)
        for size, bins in sliced_bins.items():
            per_block[size].append(sum(bins) - before[size])
    for level in convolver.fft_levels:
        assert max(per_block[level.size]) <= max(np.diff(level.bin_bounds))  # one slice of bins at most
        # every bin of each of the level's next outputs, once each
        assert sum(sliced_bins[level.size]) == (2 * TOP // level.size) * (level.size + 1)


def test_partition_sizes_are_checked() -> None:
    for sizes in ((), (3,), (64, 96), (64, 64), (64, 32), (128, 384, 3072)):  # 384: not radix 2
        with pytest.raises(ValueError, match="partition sizes"):
            PartitionedConvolver(np.ones(10), sizes)


def test_an_ir_file_edited_elsewhere_and_chosen_again_is_read_again(tmp_path: Path) -> None:
    import patcher

    name = _write_ir(tmp_path, np.array([1.0, 0.5]))
    patch = patcher.Patch(base_dir=tmp_path)
    patch.add_node("convolver", "room", source="file", file=name, normalize="none")
    patch.add_node("output", "out")
    patch.connect("room.out", "out.left")
    engine = patcher.Engine(patch)
    engine.set_param("room", "file", name)  # chosen again, unchanged: the same IR
    np.testing.assert_array_equal(engine.schedule.nodes["room"].impulse_response, [1.0, 0.5])
    _write_ir(tmp_path, np.array([0.25, 0.0, -0.25]))  # edited in another program
    engine.set_param("room", "file", name)
    np.testing.assert_array_equal(engine.schedule.nodes["room"].impulse_response, [0.25, 0.0, -0.25])


# -- the kernels against the numpy convolver they replaced (tests/reference_nodes) -----------------
def _run_with_reference(
    monkeypatch: pytest.MonkeyPatch, *args: Any, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """run_node's output for the convolver, then for its numpy reference swapped in."""
    result = run_node("convolver", *args, **kwargs)["out"]
    monkeypatch.setitem(spec._REGISTRY, "convolver", ReferenceConvolver)
    reference = run_node("convolver", *args, **kwargs)["out"]
    monkeypatch.undo()
    return result, reference


@pytest.mark.parametrize("sample_rate", [8000, 44100, 48000, 96000])
@pytest.mark.parametrize("block", [1, 7, 64, 65, 256, 1024])
def test_kernels_match_the_numpy_convolver(
    monkeypatch: pytest.MonkeyPatch, sample_rate: int, block: int
) -> None:
    signal = probe_signal(2 * TOP + 123, seed=sample_rate)
    room = {"room_length_s": 0.15, "decay_s": 0.1, "damping": 0.3, "seed": block}
    for params in ({**room, "mix": 0.3, "output_db": -4.0}, {**room, "mix": 1.0, "output_db": 12.0}):
        result, reference = _run_with_reference(
            monkeypatch, params, {"in": signal}, block=block, sample_rate=sample_rate
        )
        assert np.max(np.abs(reference)) > 0.1
        np.testing.assert_allclose(result, reference, rtol=0, atol=1e-9, err_msg=str(params))


@pytest.mark.parametrize("block", [1, 64, 65, 1024])
def test_kernels_match_the_numpy_convolver_with_mix_and_level_modulated(
    monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    rng = np.random.default_rng(block)
    frames = TOP + 3 * P + 50
    inputs = {
        "in": probe_signal(frames),
        "mix": rng.uniform(0.0, 1.0, frames),  # added to the set value 0
        "output_db": np.repeat(rng.uniform(-60.0, 12.0, frames // 10 + 1), 10)[:frames],
    }
    params = {"room_length_s": 0.1, "decay_s": 0.1, "mix": 0.0, "output_db": 0.0}
    result, reference = _run_with_reference(monkeypatch, params, inputs, block=block)
    np.testing.assert_allclose(result, reference, rtol=0, atol=1e-9)


@pytest.mark.parametrize("end", ["min", "max"])
def test_kernels_match_the_numpy_convolver_with_params_at_their_limits(
    monkeypatch: pytest.MonkeyPatch, end: str
) -> None:
    params = {name: getattr(param, end) for name, param in Convolver.PARAMS.items() if param.kind == "float"}
    params["seed"] = 0 if end == "min" else 1000000
    params["room_length_s"] = min(params["room_length_s"], 0.3)  # 10 s of room is slow to build
    signal = probe_signal(3 * P + 11)
    for normalize in NORMALIZE_MODES:
        result, reference = _run_with_reference(
            monkeypatch, {**params, "normalize": normalize}, {"in": signal}
        )
        np.testing.assert_allclose(result, reference, rtol=0, atol=1e-9, err_msg=normalize)


def _stream_with_changes(node: Convolver, signal: np.ndarray, block: int, changes: dict) -> np.ndarray:
    """Process ``signal`` in blocks; at each sample in ``changes`` apply (how, name, value)."""
    node.linked = frozenset({"in"})
    node.prepare(48000, block)
    out = np.zeros(len(signal))
    cuts = sorted({*range(0, len(signal), block), *changes, len(signal)})
    for start, stop in itertools.pairwise(cuts):
        if start in changes:
            how, name, value = changes[start]
            if how == "live":
                params = {**node.params, name: value}
                node.install_change(name, value, node.prepare_change(name, value, params))
            elif how == "offline":
                node.param_changed(name, value)
            else:
                node.reset()
        node.process({"in": signal[start:stop]}, dict(node.params), {"out": out[start:stop]})
    return out


@pytest.mark.parametrize("block", [1, 64, 100, 1024])
def test_kernels_match_the_numpy_convolver_across_ir_changes_and_resets(block: int) -> None:
    """Offline IR changes keep the history (and change the partition count), live ones start
    the new IR from silence, a reset clears: the kernels follow the numpy convolver in all, but
    where the numpy one forgot input the kernels' still hold."""
    signal = probe_signal(12000, seed=4)
    changes = {
        1500: ("offline", "room_length_s", 0.25),  # more tail partitions
        3333: ("live", "seed", 7),
        5001: ("offline", "room_length_s", 0.005),  # head only: no tail at all
        6200: ("offline", "room_length_s", 0.08),
        8000: ("reset", "", None),
        9100: ("live", "damping", 0.9),
        9900: ("offline", "mix", 0.4),
    }
    room = {"room_length_s": 0.1, "decay_s": 0.2}
    result = _stream_with_changes(Convolver(room), signal, block, changes)
    reference = _stream_with_changes(ReferenceConvolver(room), signal, block, changes)
    assert np.max(np.abs(reference[9900:])) > 0.1
    # At 6200 the IR grows from 240 to 3840 samples: the kernels' convolver fills its new delay
    # lines from the input history, exactly; the numpy one hears the input it did not keep as
    # silence (all but the last 1024 samples).
    grown = Convolver({**room, "seed": 7, "room_length_s": 0.08})
    grown.prepare(48000, block)
    heard = np.where(np.arange(len(signal)) < 3333, 0.0, signal)  # the live change starts anew
    exact = fftconvolve(heard, grown.impulse_response)[: len(signal)]
    np.testing.assert_allclose(result[6200:8000], exact[6200:8000], rtol=0, atol=1e-9)
    assert np.max(np.abs(reference[6200:8000] - exact[6200:8000])) > 0.1
    np.testing.assert_allclose(result[:6200], reference[:6200], rtol=0, atol=1e-9)
    np.testing.assert_allclose(result[8000:], reference[8000:], rtol=0, atol=1e-9)


@pytest.mark.parametrize("partition_size", [4, 16, 128])
def test_other_partition_sizes_match_the_numpy_convolver(partition_size: int) -> None:
    rng = np.random.default_rng(partition_size)
    signal = rng.standard_normal(11 * partition_size + 5)
    # The second IR is all head, of a length the FIR's four-taps-a-pass loop does not divide.
    first, second = rng.standard_normal(6 * partition_size + 3), rng.standard_normal(partition_size - 1)
    convolvers = (
        PartitionedConvolver(first, (partition_size,)),
        ReferencePartitionedConvolver(first, partition_size),
    )
    outputs = []
    for convolver in convolvers:
        out = np.zeros_like(signal)
        for start, stop in ((0, 37), (37, 5 * partition_size + 1), (5 * partition_size + 1, len(signal))):
            if start == 5 * partition_size + 1:
                convolver.set_impulse_response(second)
            for chunk in range(start, stop, 3):
                convolver.process(signal[chunk : min(chunk + 3, stop)], out[chunk : min(chunk + 3, stop)])
        outputs.append(out)
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=0, atol=1e-9)
