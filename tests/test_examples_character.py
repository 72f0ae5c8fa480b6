"""Each example patch does what its name promises, measured: not just that it renders.

Most tests play a steady, known signal (a sine, a saw, noise, a click or a tone burst) through
the patch instead of its test material, by pointing its input node at a WAV file written in
``tmp_path``, and read the expected figures (rates, depths, delay times) from the patch
itself, so the tests follow the patches when someone retunes them. Each renders only the
second or two it needs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from scipy.signal import butter, csd, hilbert, sosfiltfilt, welch

import patcher
from patcher import testsignals

PATCHES = Path(__file__).resolve().parent.parent / "patches"
RATE = 48000


# -- helpers -------------------------------------------------------------------------------
def load(name: str) -> patcher.Patch:
    return patcher.load(PATCHES / f"{name}.json")


def params(patch: patcher.Patch, node_id: str) -> dict:
    return patch.nodes[node_id].params


def render_with_input(name: str, signal: np.ndarray, tmp_path: Path, seconds: float) -> np.ndarray:
    """Render patch ``name`` with every input node playing ``signal`` (mono) instead of its file,
    once: the examples loop their material, a click must stay one click."""
    patch = load(name)
    path = tmp_path / f"{name}_input.wav"
    soundfile.write(path, signal.astype(np.float32), RATE, subtype="FLOAT")
    inputs = [node_id for node_id, node in patch.nodes.items() if node.type == "input"]
    assert inputs, f"{name} has no input node"
    for node_id in inputs:
        patch.set_param(node_id, "file", str(path))
        patch.set_param(node_id, "loop", False)
    return patcher.render(patch, seconds, sample_rate=RATE)


def times(seconds: float) -> np.ndarray:
    return np.arange(round(seconds * RATE)) / RATE


def sine(frequency_hz: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * frequency_hz * times(seconds))


def saw(frequency_hz: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    """A band-limited saw (harmonics to 20 kHz): a steady spectrum rich in harmonics."""
    t = times(seconds)
    wave = sum(np.sin(2 * np.pi * k * frequency_hz * t) / k for k in range(1, int(20000 / frequency_hz) + 1))
    return amplitude * wave / np.max(np.abs(wave))


def noise(seconds: float, amplitude: float = 0.3, seed: int = 5) -> np.ndarray:
    return amplitude * np.random.default_rng(seed).uniform(-1.0, 1.0, round(seconds * RATE))


def tone_burst(frequency_hz: float, burst_s: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    """A Hann-windowed burst of a sine at t = 0, then silence."""
    signal = np.zeros(round(seconds * RATE))
    frames = round(burst_s * RATE)
    signal[:frames] = amplitude * np.hanning(frames) * np.sin(2 * np.pi * frequency_hz * times(burst_s))
    return signal


def harmonic_levels_db(signal: np.ndarray, fundamental_hz: float, count: int = 9) -> np.ndarray:
    """Levels of harmonics 1..count relative to the fundamental, in dB (Blackman-Harris window)."""
    window = np.blackman(len(signal))
    spectrum = np.abs(np.fft.rfft(signal * window))
    bin_hz = RATE / len(signal)
    levels = []
    for k in range(1, count + 1):
        centre = round(k * fundamental_hz / bin_hz)
        levels.append(np.max(spectrum[centre - 3 : centre + 4]))
    levels = np.array(levels)
    return 20 * np.log10(levels / levels[0] + 1e-20)


def level_db_at(signal: np.ndarray, frequency_hz: float) -> float:
    """Level of the component at ``frequency_hz`` (dB re full scale of a sine), Blackman window."""
    window = np.blackman(len(signal))
    spectrum = np.abs(np.fft.rfft(signal * window)) / (np.sum(window) / 2)
    centre = round(frequency_hz * len(signal) / RATE)
    return 20 * np.log10(np.max(spectrum[centre - 3 : centre + 4]) + 1e-20)


def dominant_frequency(series: np.ndarray, series_rate: float, low_hz: float = 0.05) -> float:
    """The strongest frequency (above ``low_hz``) of a slow series such as an envelope."""
    series = (series - series.mean()) * np.hanning(len(series))
    padded = 16 * len(series)
    spectrum = np.abs(np.fft.rfft(series, padded))
    frequencies = np.fft.rfftfreq(padded, 1 / series_rate)
    spectrum[frequencies < low_hz] = 0.0
    return float(frequencies[np.argmax(spectrum)])


def frames_of(signal: np.ndarray, size: int, hop: int) -> np.ndarray:
    starts = np.arange(0, len(signal) - size + 1, hop)
    return np.stack([signal[start : start + size] for start in starts])


def spectral_centroid(signal: np.ndarray, size: int = 2048, hop: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """(frame centre times, centroid in Hz) of ``signal``."""
    frames = frames_of(signal, size, hop) * np.hanning(size)
    magnitude = np.abs(np.fft.rfft(frames, axis=1))
    frequencies = np.fft.rfftfreq(size, 1 / RATE)
    centroid = (magnitude * frequencies).sum(axis=1) / (magnitude.sum(axis=1) + 1e-20)
    centres = (np.arange(len(frames)) * hop + size / 2) / RATE
    return centres, centroid


def harmonic_variation_db(signal: np.ndarray, fundamental_hz: float, highest_hz: float = 6000.0) -> float:
    """How much a periodic signal's spectrum moves over time: the median, over its harmonics,
    of each harmonic's level's standard deviation across 85 ms frames (dB)."""
    size = 4096
    frames = frames_of(signal, size, 1024) * np.hanning(size)
    magnitude = np.abs(np.fft.rfft(frames, axis=1))
    bin_hz = RATE / size
    deviations = []
    for k in range(1, int(highest_hz / fundamental_hz) + 1):
        centre = round(k * fundamental_hz / bin_hz)
        level = 20 * np.log10(magnitude[:, centre - 2 : centre + 3].max(axis=1) + 1e-12)
        deviations.append(np.std(level))
    return float(np.median(deviations))


def lfo_value(patch: patcher.Patch, node_id: str, t: np.ndarray) -> np.ndarray:
    """A sine LFO's output at times ``t``, from its params."""
    lfo = params(patch, node_id)
    assert lfo["shape"] == "sine" and lfo["polarity"] == "bipolar"
    return lfo["offset"] + lfo["depth"] * np.sin(2 * np.pi * (lfo["rate_hz"] * t + lfo["phase_deg"] / 360.0))


# -- the test material ---------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(testsignals.DRY_SIGNALS))
def test_regenerating_the_media_gives_the_committed_samples(name: str) -> None:
    committed, rate = soundfile.read(PATCHES / "media" / name, dtype="int16")
    info = soundfile.info(PATCHES / "media" / name)
    assert (rate, info.channels, info.subtype) == (RATE, 1, "PCM_16")
    assert 3.0 <= len(committed) / rate <= 4.0
    regenerated = testsignals.to_pcm16(testsignals.DRY_SIGNALS[name](RATE))
    assert regenerated.shape == committed.shape, f"run `make media`: {name} changed length"
    # Equal to the sample; one step of slack for a libm that rounds a sine differently.
    difference = np.abs(regenerated.astype(int) - committed.astype(int))
    assert difference.max() <= 1, f"run `make media`: {name} no longer matches its generator"


def test_media_stays_small() -> None:
    total = sum(path.stat().st_size for path in (PATCHES / "media").iterdir())
    assert total < 1.5e6


def test_pedal_ir_file_is_the_impulse_response_of_the_pedal_in_its_patch() -> None:
    committed, rate = soundfile.read(PATCHES / "media" / testsignals.PEDAL_IR_FILE)
    regenerated = testsignals.pedal_impulse_response()
    assert rate == RATE
    np.testing.assert_allclose(
        committed,
        regenerated,
        rtol=0,
        atol=1e-6 * np.max(np.abs(regenerated)),
        err_msg="the pedal in pedal_vs_ir.json or its nodes changed: run `make media`",
    )


# -- distortion ----------------------------------------------------------------------------
def test_fuzz_turns_a_sine_into_strong_odd_harmonics(tmp_path: Path) -> None:
    out = render_with_input("fuzz", sine(200.0, 1.0), tmp_path, 1.0)[RATE // 2 :, 0]
    levels = harmonic_levels_db(out, 200.0)
    odd, even = levels[[2, 4, 6]], levels[[1, 3, 5, 7]]
    # Measured: 3rd -9.7 dB, 5th -14.5 dB, 7th -18.1 dB; evens below -170 dB (a symmetric clipper).
    assert odd[0] > -15 and odd[1] > -20 and odd[2] > -25, levels
    assert np.max(even) < np.min(odd) - 40, levels


def test_pedal_vs_ir_left_is_distorted_right_is_not(tmp_path: Path) -> None:
    out = render_with_input("pedal_vs_ir", sine(200.0, 1.0), tmp_path, 1.0)[RATE // 2 :]
    pedal, impulse_response = harmonic_levels_db(out[:, 0], 200.0), harmonic_levels_db(out[:, 1], 200.0)
    # Measured: the pedal's 3rd harmonic at -13.7 dB, 5th -24.5 dB; the IR's all below -150 dB.
    assert pedal[2] > -20, pedal
    assert np.max(impulse_response[1:]) < -90, impulse_response


def test_pedal_and_its_ir_agree_at_a_whisper_and_part_when_played() -> None:
    """Below the clipping level the pedal is linear and its IR reproduces it; at playing level
    the difference between the two sides is the distortion alone."""

    def worst_difference(input_gain_db: float) -> float:
        patch = load("pedal_vs_ir")
        patch.set_param("guitar", "gain_db", input_gain_db)
        out = patcher.render(patch, 1.0)
        left = out[:, 0]
        right = out[:, 1] * 10 ** (-params(patch, "pedal_ir")["output_db"] / 20)  # undo the trim
        return float(np.max(np.abs(left - right)) / np.max(np.abs(left)))

    assert worst_difference(-60.0) < 1e-3  # measured 1.1e-5
    assert worst_difference(0.0) > 0.5  # measured 3.8: the IR side is that much louder unclipped


def test_pedal_vs_ir_drive_on_a_knob_moves_the_pedal_not_its_ir(tmp_path: Path) -> None:
    """The example maps the clipper's drive to the mod wheel (CC 1): the wheel down, the pedal
    is nearly clean; up, it distorts hard; the IR side, a fixed snapshot, does not change."""
    from patcher.events import CONTROL, Event, EventTimeline

    patch = load("pedal_vs_ir")
    assert {(m.param, m.midi_cc) for m in patch.mappings} >= {("clipper.drive_db", 1)}
    path = tmp_path / "sine.wav"
    soundfile.write(path, sine(200.0, 2.0, amplitude=0.05).astype(np.float32), RATE, subtype="FLOAT")
    patch.set_param("guitar", "file", str(path))
    engine = patcher.Engine(patch, sample_rate=RATE, block_size=256)
    engine.play_events(EventTimeline([Event(0, CONTROL, 1, 1, 0.0), Event(RATE, CONTROL, 1, 1, 1.0)]))
    out = engine.render(2.0)
    wheel_down, wheel_up = out[RATE // 2 : RATE], out[3 * RATE // 2 :]
    third_down = harmonic_levels_db(wheel_down[:, 0], 200.0)[2]
    third_up = harmonic_levels_db(wheel_up[:, 0], 200.0)[2]
    # Measured: the left's 3rd harmonic at -106 dB with 0 dB of drive, -15.5 dB with 48 dB.
    assert third_down < -60 and third_up > -25, (third_down, third_up)
    np.testing.assert_allclose(wheel_up[:, 1], wheel_down[:, 1], atol=1e-9)


# -- level and pitch modulation ------------------------------------------------------------
def test_tremolo_envelope_oscillates_at_the_lfo_rate(tmp_path: Path) -> None:
    patch = load("tremolo")
    lfo = params(patch, "wobble")
    out = render_with_input("tremolo", sine(1000.0, 2.0), tmp_path, 2.0)[:, 0]
    envelope_db = 20 * np.log10(np.abs(hilbert(out))[2400:-2400] + 1e-12)
    envelope_db = envelope_db[::48]  # 1 kHz is plenty for a 5 Hz wobble
    assert dominant_frequency(envelope_db, 1000.0) == pytest.approx(lfo["rate_hz"], abs=0.1)
    # The LFO adds +-depth dB to gain_db: the level swings 2 x depth dB.
    assert np.ptp(envelope_db) == pytest.approx(2 * lfo["depth"], abs=0.5)


def test_vibrato_wobbles_the_pitch_at_the_lfo_rate_by_the_doppler_shift(tmp_path: Path) -> None:
    patch = load("vibrato")
    lfo = params(patch, "wobble")
    assert params(patch, "vibrato")["mix"] == 1.0, "a vibrato is wet only"
    carrier_hz = 1000.0
    out = render_with_input("vibrato", sine(carrier_hz, 2.0), tmp_path, 2.0)[:, 0]
    phase = np.unwrap(np.angle(hilbert(out)))
    frequency = np.diff(phase) * RATE / (2 * np.pi)
    frequency = frequency[4800:-4800:48]  # 1 kHz, away from the edges
    assert dominant_frequency(frequency, 1000.0) == pytest.approx(lfo["rate_hz"], abs=0.1)
    # A delay of d(t) = d0 + D sin(2 pi r t) shifts the pitch by -f d'(t): +-2 pi r D f.
    expected_deviation = 2 * np.pi * lfo["rate_hz"] * lfo["depth"] / 1000.0 * carrier_hz
    measured_deviation = (np.percentile(frequency, 99) - np.percentile(frequency, 1)) / 2
    assert measured_deviation == pytest.approx(expected_deviation, rel=0.1)


# -- moving spectra ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["chorus", "phaser"])
def test_output_spectrum_moves_while_the_inputs_stays(name: str, tmp_path: Path) -> None:
    steady = saw(110.0, 2.5)
    out = render_with_input(name, steady, tmp_path, 2.5)[RATE // 2 :, 0]
    still = harmonic_variation_db(steady[RATE // 2 :], 110.0)
    moving = harmonic_variation_db(out, 110.0)
    # Measured: the saw's harmonics vary by 0.003 dB; the chorus's by 2.1 dB, the phaser's 6.6 dB.
    assert still < 0.05
    assert moving > 1.0


def fitted_comb_delay_ms(x: np.ndarray, y: np.ndarray, mix: float, feedback: float) -> float:
    """The delay whose comb, dry + mix x delayed (fed back by ``feedback``), best fits y/x.

    The transfer function is measured (Welch's H1 from 47 Hz to 6 kHz, in dB) and compared with
    (1 - mix) + mix z^-D / (1 - feedback z^-D) over a grid of delays D: the notches' positions
    decide the fit, so it finds where the notches are, not just one dip.
    """
    frequencies, cross = csd(x, y, RATE, nperseg=4096)
    _, power = welch(x, RATE, nperseg=4096)
    band = (frequencies >= 47.0) & (frequencies <= 6000.0)
    measured = 20 * np.log10(np.abs(cross[band]) / power[band])
    candidates_ms = np.arange(0.2, 6.0, 0.002)
    delayed = np.exp(-2j * np.pi * np.outer(candidates_ms / 1000.0, frequencies[band]))
    model = 20 * np.log10(np.abs((1 - mix) + mix * delayed / (1 - feedback * delayed)))
    errors = np.mean((model - measured) ** 2, axis=1)
    return float(candidates_ms[np.argmin(errors)])


def test_flanger_comb_notches_follow_the_swept_delay(tmp_path: Path) -> None:
    patch = load("flanger")
    lfo, delay = params(patch, "sweep"), params(patch, "flanger")
    white = noise(3.3)
    out = render_with_input("flanger", white, tmp_path, 3.3)[:, 0]
    quarter = 1 / (4 * lfo["rate_hz"])  # the LFO's peak (longest delay), then its trough at 3x
    fitted = []
    for centre_s, sign in ((quarter, 1), (3 * quarter, -1)):
        window = slice(round((centre_s - 0.1) * RATE), round((centre_s + 0.1) * RATE))
        fitted.append(fitted_comb_delay_ms(white[window], out[window], delay["mix"], delay["feedback"]))
        # Measured: 3.49 ms and 0.51 ms (notches at 143, 429 ... Hz and at 980, 2940 ... Hz).
        assert fitted[-1] == pytest.approx(delay["time_ms"] + sign * lfo["depth"], rel=0.05), fitted


def test_auto_wah_brightness_oscillates_at_the_lfo_rate(tmp_path: Path) -> None:
    patch = load("auto_wah")
    lfo = params(patch, "foot")
    out = render_with_input("auto_wah", saw(110.0, 2.5), tmp_path, 2.5)[:, 0]
    centres, centroid = spectral_centroid(out, 1024, 256)
    assert dominant_frequency(centroid, RATE / 256) == pytest.approx(lfo["rate_hz"], abs=0.15)
    # ... and in step with it: the brightness follows the band-pass's centre.
    correlation = np.corrcoef(centroid, lfo_value(patch, "foot", centres))[0, 1]
    assert correlation > 0.9


def test_synth_voice_brightness_follows_the_lfo() -> None:
    patch = load("synth_voice")
    out = patcher.render(patch, 4.0)[:, 0]
    centres, centroid = spectral_centroid(out)
    correlation = np.corrcoef(centroid, lfo_value(patch, "sweep", centres))[0, 1]
    assert correlation > 0.9  # measured 0.98


def test_ring_modulator_makes_sum_and_difference_frequencies(tmp_path: Path) -> None:
    carrier_hz = params(load("ring_modulator"), "carrier")["frequency_hz"]
    signal_hz = 1000.0
    out = render_with_input("ring_modulator", sine(signal_hz, 1.0), tmp_path, 1.0)[:, 0]
    sidebands = [level_db_at(out, signal_hz + carrier_hz), level_db_at(out, signal_hz - carrier_hz)]
    originals = [level_db_at(out, signal_hz), level_db_at(out, carrier_hz)]
    # A 0.5 sine times a unit carrier: two sidebands of 0.25 (-12 dB) and nothing else.
    np.testing.assert_allclose(sidebands, 20 * np.log10(0.25), atol=0.5)
    assert max(originals) < -80


# -- echoes --------------------------------------------------------------------------------
def echo_peaks(
    out: np.ndarray, burst: np.ndarray, period_s: float, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) and amplitudes of the burst's copies near each multiple of ``period_s``."""
    kernel = burst[: round(0.02 * RATE)][::-1]
    matched = np.convolve(out, kernel, "valid") / np.dot(kernel, kernel)
    found_times, found_levels = [], []
    for k in range(count):
        window = slice(round((k * period_s - 0.02) * RATE) if k else 0, round((k * period_s + 0.02) * RATE))
        local = np.abs(matched[window])
        found_times.append((window.start + np.argmax(local)) / RATE)
        found_levels.append(local.max())
    return np.array(found_times), np.array(found_levels)


def test_echo_repeats_at_the_delay_time_and_decays_by_the_feedback(tmp_path: Path) -> None:
    patch = load("echo")
    echo = params(patch, "echo")
    period_s = echo["time_ms"] / 1000.0
    burst = tone_burst(500.0, 0.02, 4.5 * period_s)
    out = render_with_input("echo", burst, tmp_path, 4.5 * period_s)[:, 0]
    found_times, found_levels = echo_peaks(out, burst, period_s, 5)
    np.testing.assert_allclose(found_times, np.arange(5) * period_s, atol=0.0005)
    # Each round trip passes the feedback gain and the damping low-pass (at 500 Hz).
    pole = np.exp(-2 * np.pi * echo["damping_hz"] / RATE)
    damping = abs((1 - pole) / (1 - pole * np.exp(-2j * np.pi * 500.0 / RATE)))
    assert found_levels[1] / found_levels[0] == pytest.approx(echo["mix"] / (1 - echo["mix"]), rel=0.01)
    np.testing.assert_allclose(found_levels[2:] / found_levels[1:-1], echo["feedback"] * damping, rtol=0.02)


def test_ping_pong_echoes_alternate_left_and_right(tmp_path: Path) -> None:
    patch = load("ping_pong")
    period_s = params(patch, "delay_left")["time_ms"] / 1000.0
    cross_db = params(patch, "cross_right")["gain_db"]
    burst = tone_burst(500.0, 0.02, 5.5 * period_s)
    out = render_with_input("ping_pong", burst, tmp_path, 5.5 * period_s)
    _, left = echo_peaks(out[:, 0], burst, period_s, 6)
    _, right = echo_peaks(out[:, 1], burst, period_s, 6)
    assert left[0] == pytest.approx(right[0])  # the dry burst sits in the centre
    for k in range(1, 6):
        near, far = (left[k], right[k]) if k % 2 else (right[k], left[k])
        assert far < 1e-3 * near, f"echo {k} is not on the {'left' if k % 2 else 'right'} side"
    heard = np.where(np.arange(6) % 2, left, right)[1:]
    np.testing.assert_allclose(20 * np.log10(heard[1:] / heard[:-1]), cross_db, atol=0.2)


# -- reverb --------------------------------------------------------------------------------
def test_reverb_tail_decays_at_its_rt60_and_ends_at_its_length(tmp_path: Path) -> None:
    room = params(load("reverb"), "room")
    click = np.zeros(round(0.1 * RATE))
    click[0] = 0.5
    seconds = room["room_length_s"] + 0.3
    out = render_with_input("reverb", click, tmp_path, seconds)[1:, 0]  # sample 0 holds the dry click
    # The room's lows (below 3 kHz) decay at decay_s; its highs faster (damping).
    lows = sosfiltfilt(butter(4, 1000.0, fs=RATE, output="sos"), out)
    energy = np.cumsum(lows[::-1] ** 2)[::-1]  # Schroeder's backward integral
    decay_db = 10 * np.log10(energy / energy[0] + 1e-30)
    t = np.arange(len(decay_db)) / RATE
    fit = (decay_db <= -5) & (decay_db >= -25)  # T20, extrapolated to 60 dB
    slope_db_per_s = np.polyfit(t[fit], decay_db[fit], 1)[0]
    assert -60 / slope_db_per_s == pytest.approx(room["decay_s"], rel=0.1)  # measured 1.63 s for 1.6
    # The tail lasts the IR's length, then stops.
    end = round(room["room_length_s"] * RATE)

    def rms_db(start_s: float) -> float:
        return 10 * np.log10(np.mean(lows[round(start_s * RATE) : round((start_s + 0.1) * RATE)] ** 2))

    last_s = room["room_length_s"] - 0.2  # before the IR's closing 50 ms fade
    expected_db = -60 * last_s / room["decay_s"]
    assert rms_db(last_s) - rms_db(0.0) == pytest.approx(expected_db, abs=3)  # measured -68.3 on -67.5
    assert np.max(np.abs(out[end + 10 :])) < 1e-12


# -- Karplus-Strong ------------------------------------------------------------------------
def test_karplus_strong_pitch_is_the_rate_over_the_loop_length() -> None:
    """The loop is the delay (time_ms) plus the damping low-pass's phase delay, about a sample
    (p / (1 - p) at low frequencies for a one-pole of pole p): the note sits that much flat of
    1000 / time_ms. Measured for the shipped patch (5 kHz damping: a 1.08-sample phase delay):
    nominal 220.02 Hz, predicted 218.94 Hz, measured 218.95 Hz: -8.5 cents from 1000 / time_ms,
    0.07 cents from the prediction."""
    patch = load("karplus_strong")
    string = params(patch, "string")
    out = patcher.render(patch, 0.45)[round(0.05 * RATE) :, 0]
    padded = 64 * len(out)
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out)), padded))
    frequencies = np.fft.rfftfreq(padded, 1 / RATE)
    nominal = 1000.0 / string["time_ms"]
    band = (frequencies > 0.9 * nominal) & (frequencies < 1.1 * nominal)
    measured = float(frequencies[band][np.argmax(spectrum[band])])
    # The one-pole damping filter's phase delay at the nominal pitch, in samples.
    pole = np.exp(-2 * np.pi * string["damping_hz"] / RATE)
    omega = 2 * np.pi * nominal / RATE
    phase_delay = -np.angle((1 - pole) / (1 - pole * np.exp(-1j * omega))) / omega
    predicted = RATE / (string["time_ms"] * RATE / 1000.0 + phase_delay)
    assert measured == pytest.approx(nominal, rel=0.01)  # within 17 cents of 1000 / time_ms
    assert measured == pytest.approx(predicted, rel=0.001)


def test_lowpass_is_minus_3_db_at_its_cutoff_and_falls_12_db_per_octave(tmp_path: Path) -> None:
    tone = params(load("lowpass"), "tone")
    noise = np.random.default_rng(3).standard_normal(RATE * 2) * 0.1
    out = render_with_input("lowpass", noise, tmp_path, 2.0)[:, 0]
    frequencies, response = welch(out, RATE, nperseg=8192)
    _, reference = welch(noise, RATE, nperseg=8192)
    gain_db = 10 * np.log10(response / reference)

    def at(hz: float) -> float:
        return float(np.interp(hz, frequencies, gain_db))

    assert at(100.0) == pytest.approx(0.0, abs=0.3)
    assert at(tone["cutoff_hz"]) == pytest.approx(-3.0, abs=0.3)
    assert at(8 * tone["cutoff_hz"]) - at(4 * tone["cutoff_hz"]) == pytest.approx(-12.0, abs=1.0)


def frame_rms(signal: np.ndarray, frame: int) -> np.ndarray:
    frames = len(signal) // frame
    return np.sqrt(np.mean(np.square(signal[: frames * frame].reshape(frames, frame)), axis=1))


def test_bassline_plays_its_steps_on_the_swung_clock_and_rests_where_its_gates_are_off() -> None:
    patch = load("bassline")
    clock, seq = params(patch, "clock"), params(patch, "seq")
    step = 60.0 / clock["bpm"] / 4 * RATE  # a sixteenth, in samples
    swing = clock["swing_pct"] / 100 * step
    audio = patcher.render(patch, seconds=2 * 16 * step / RATE)[:, 0]
    for index, gate in enumerate(seq["gates"] * 2):
        start = index * step + (swing if index % 2 else 0.0)
        middle = audio[round(start + 0.15 * step) : round(start + 0.45 * step)]
        level = np.sqrt(np.mean(np.square(middle)))
        if gate:  # a note sounds through the step's first half
            assert level > 0.02, (index, level)
        else:  # a rest: the last note's release has died away by mid-step
            assert level < 0.01, (index, level)
    # each note starts where its step does: the level jumps within 2 ms of the (swung) start
    envelope = frame_rms(audio, 48)  # 1 ms frames
    for index in (2, 3, 4):  # notes after a rest and back to back, one of them swung
        start = round((index * step + (swing if index % 2 else 0.0)) / 48)
        assert envelope[start + 2] > 3 * envelope[start - 2] or envelope[start - 2] > 0.02


def test_compressor_example_narrows_the_guitars_dynamics() -> None:
    """Left is compressed, right dry: the loud plucks come down relative to the quiet tails."""
    audio = patcher.render(load("compressor"), seconds=3.5)
    spread = {}
    for channel, name in ((0, "compressed"), (1, "dry")):
        levels = frame_rms(audio[:, channel], 480)  # 10 ms frames
        heard = levels[levels > 1e-4]
        spread[name] = 20 * np.log10(np.percentile(heard, 99) / np.percentile(heard, 30))
    assert spread["compressed"] < 0.6 * spread["dry"], spread  # 4:1 above the threshold


def test_poly_synth_plays_each_chord_of_its_score_at_once_and_the_cc_opens_its_filter() -> None:
    """Every note of a chord sounds together (a voice each) and the chord before it has gone;
    the score's CC 74 climb reaches every voice's cutoff: the chords above 1.5 kHz are louder
    with it than without it."""
    from patcher.events import CONTROL, EventTimeline

    patch = load("poly_synth")
    score = patcher.read_midi_file(PATCHES / "poly_synth.mid", RATE)
    audio = patcher.render(patch, seconds=4.0, sample_rate=RATE, events=score)[:, 0]
    notes_only = EventTimeline(event for event in score.events if event.kind != CONTROL)
    unswept = patcher.render(patch, seconds=4.0, sample_rate=RATE, events=notes_only)[:, 0]
    bar = 2.0  # four beats at 120 bpm

    def second(signal: np.ndarray, start_s: float) -> np.ndarray:
        return signal[round(start_s * RATE) : round((start_s + 1.0) * RATE)]

    def strength(start_s: float, note: int) -> float:
        t = times(1.0)
        return 2 * abs(
            np.mean(second(audio, start_s) * np.exp(-2j * np.pi * 440 * 2 ** ((note - 69) / 12) * t))
        )

    a_minor, f_major = (57, 60, 64), (53, 57, 60, 65)
    for notes, start, absent in ((a_minor, 0.5, 53), (f_major, bar + 0.5, 64)):
        floor = strength(start, absent)  # a note of the other chord: not playing
        for note in notes:
            assert strength(start, note) > 10 * floor, (note, start)

    def bright(signal: np.ndarray) -> float:
        frequencies, power = welch(second(signal, bar + 0.8), RATE, nperseg=4096)
        return float(np.sum(power[frequencies > 1500]))

    assert bright(audio) > 4 * bright(unswept)
