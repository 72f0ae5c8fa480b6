"""The example patches' dry test material, generated here so no third-party audio is shipped.

``python -m patcher.testsignals`` (``make media``) writes into ``patches/media/``:

* ``pluck.wav`` — a plucked-string phrase (an A minor arpeggio, then a strum), additive: each
  note is a sum of slightly stretched harmonics, ``sin(pi k p) / k**2`` for a pluck at a fifth
  of the string, the higher ones dying faster, plus a short pick noise;
* ``drums.wav`` — two bars of a 120 BPM drum loop: a pitch-swept sine kick, a tone-plus-noise
  snare and band-passed noise hats (exactly 4 s, so it loops);
* ``vowels.wav`` — a spoken-like vowel sequence /a e i o u/: a pulse train (harmonics at
  ``1 / k``, the glottal pulse's slope plus the lips' radiation) shaped by four formant
  resonances per vowel, with a falling intonation. The formant filter is applied to each
  harmonic's amplitude (the cascade's magnitude at that harmonic's frequency), which is the
  same as filtering the pulse train, and glides without a filter's coefficient updates;
* ``pedal_ir.wav`` — derived, not dry: the impulse response of the overdrive pedal in
  ``patches/pedal_vs_ir.json``, rendered through the engine at a low level where its
  waveshaper is linear (see :func:`pedal_impulse_response`).

The dry signals are mono 48 kHz 16-bit WAV files, 3.5-4 s long, peaking at -3 dBFS. Every
random number comes from a seeded generator, so regenerating gives the same samples (the test
``tests/test_examples_character.py`` checks the committed files against a fresh generation).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile
from scipy.io import wavfile
from scipy.signal import butter, sosfilt

SAMPLE_RATE = 48000
PEAK_DBFS = -3.0
PATCHES_DIR = Path(__file__).resolve().parent.parent / "patches"
MEDIA_DIR = PATCHES_DIR / "media"
PEDAL_PATCH = PATCHES_DIR / "pedal_vs_ir.json"
PEDAL_IR_FILE = "pedal_ir.wav"
#: Impulse level for capturing the pedal: its +30 dB drive leaves the waveshaper's input below
#: 0.01, where tanh departs from a straight line by less than -90 dB.
PEDAL_IR_LEVEL = 1e-4
#: The pedal's filters have rung down by more than 100 dB well within this time.
PEDAL_IR_SECONDS = 0.1


def midi_to_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def _normalize(signal: np.ndarray, peak_dbfs: float = PEAK_DBFS) -> np.ndarray:
    return signal * (10.0 ** (peak_dbfs / 20.0) / np.max(np.abs(signal)))


def _fade_out(signal: np.ndarray, seconds: float, sample_rate: int) -> np.ndarray:
    frames = round(seconds * sample_rate)
    signal[-frames:] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, frames))
    return signal


# -- plucked string ------------------------------------------------------------------------
def _pluck_note(
    frequency_hz: float, frames: int, sample_rate: int, rng: np.random.Generator, velocity: float
) -> np.ndarray:
    """One plucked note: stretched harmonics from a pluck at a fifth of the string, and a pick."""
    t = np.arange(frames) / sample_rate
    note = np.zeros(frames)
    pluck_position = 0.2
    inharmonicity = 1.5e-4
    for k in range(1, 61):
        partial_hz = k * frequency_hz * np.sqrt(1.0 + inharmonicity * k * k)
        if partial_hz > 0.45 * sample_rate:
            break
        amplitude = np.sin(np.pi * k * pluck_position) / (k * k)
        # Low partials ring for seconds; each doubling of frequency above 1 kHz halves the decay.
        decay_s = 2.2 / (1.0 + (partial_hz / 1000.0) ** 2) * (110.0 / frequency_hz) ** 0.3
        note += (
            amplitude * np.exp(-t / decay_s) * np.sin(2 * np.pi * partial_hz * t + rng.uniform(0, 2 * np.pi))
        )
    # A 2 ms rise: a plucked string starts from rest, not with a step of every partial at once.
    attack = round(0.002 * sample_rate)
    note[:attack] *= np.sin(np.linspace(0.0, np.pi / 2, attack)) ** 2
    pick_frames = round(0.004 * sample_rate)
    pick = rng.standard_normal(pick_frames) * np.hanning(pick_frames) * 0.05
    note[:pick_frames] += sosfilt(butter(2, 2000.0, "highpass", fs=sample_rate, output="sos"), pick)
    return velocity * note


def pluck_phrase(sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A plucked A minor arpeggio (A2 E3 A3 C4 E4 C4 A3) and a strummed chord, 3.5 s."""
    rng = np.random.default_rng(20240501)
    frames = round(3.5 * sample_rate)
    phrase = np.zeros(frames)
    arpeggio = [45, 52, 57, 60, 64, 60, 57]
    events = [
        (0.05 + 0.28 * index, note, 0.9 if index % 2 == 0 else 0.75) for index, note in enumerate(arpeggio)
    ]
    # The strum: low to high strings, 18 ms apart.
    events += [(2.05 + 0.018 * index, note, 0.8) for index, note in enumerate([45, 52, 57, 60, 64])]
    for start_s, note, velocity in events:
        start = round(start_s * sample_rate)
        phrase[start:] += _pluck_note(midi_to_hz(note), frames - start, sample_rate, rng, velocity)
    return _normalize(_fade_out(phrase, 0.15, sample_rate))


# -- drums ---------------------------------------------------------------------------------
def _kick(frames: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(frames) / sample_rate
    frequency = 48.0 + 110.0 * np.exp(-t / 0.035)
    body = np.sin(2 * np.pi * np.cumsum(frequency) / sample_rate) * np.exp(-t / 0.22)
    click_frames = round(0.003 * sample_rate)
    click = rng.standard_normal(click_frames) * np.hanning(click_frames) * 0.3
    body[:click_frames] += sosfilt(butter(2, 3000.0, fs=sample_rate, output="sos"), click)
    return body


def _snare(frames: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(frames) / sample_rate
    tone = (np.sin(2 * np.pi * 185.0 * t) + 0.6 * np.sin(2 * np.pi * 330.0 * t)) * np.exp(-t / 0.05)
    rattle = sosfilt(
        butter(2, [1500.0, 8000.0], "bandpass", fs=sample_rate, output="sos"), rng.standard_normal(frames)
    )
    return 0.45 * tone + 0.9 * rattle * np.exp(-t / 0.11)


def _hat(frames: int, sample_rate: int, rng: np.random.Generator, decay_s: float) -> np.ndarray:
    t = np.arange(frames) / sample_rate
    noise = sosfilt(butter(4, 7000.0, "highpass", fs=sample_rate, output="sos"), rng.standard_normal(frames))
    return 0.35 * noise * np.exp(-t / decay_s)


def drum_loop(sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Two bars of 4/4 at 120 BPM (4 s): kick, snare on 2 and 4, eighth-note hats."""
    rng = np.random.default_rng(20240502)
    step_s = 0.125  # a sixteenth note at 120 BPM
    frames = round(32 * step_s * sample_rate)
    loop = np.zeros(frames)
    hit_frames = round(0.6 * sample_rate)
    pattern: list[tuple[int, str, float]] = []
    for bar in (0, 16):
        pattern += [
            (bar + 0, "kick", 1.0),
            (bar + 8, "kick", 0.95),
            (bar + 4, "snare", 0.9),
            (bar + 12, "snare", 0.9),
        ]
        pattern += [(bar + step, "hat", 0.8 if step % 4 == 0 else 0.55) for step in range(0, 16, 2)]
    pattern += [
        (10, "kick", 0.7),
        (26, "kick", 0.7),
        (27, "kick", 0.55),
        (15, "snare", 0.35),
        (30, "open_hat", 0.7),
    ]
    for step, instrument, velocity in sorted(pattern):
        start = round(step * step_s * sample_rate)
        length = min(hit_frames, frames - start)
        if instrument == "kick":
            hit = _kick(length, sample_rate, rng)
        elif instrument == "snare":
            hit = _snare(length, sample_rate, rng)
        else:
            hit = _hat(length, sample_rate, rng, 0.16 if instrument == "open_hat" else 0.025)
        loop[start : start + length] += velocity * hit
    return _normalize(loop)


# -- vowels --------------------------------------------------------------------------------
#: Formant frequencies (Hz) of a male voice, after Peterson & Barney (1952); F4 is fixed.
VOWEL_FORMANTS_HZ = {
    "a": (730.0, 1090.0, 2440.0, 3400.0),
    "e": (530.0, 1840.0, 2480.0, 3400.0),
    "i": (270.0, 2290.0, 3010.0, 3600.0),
    "o": (570.0, 840.0, 2410.0, 3400.0),
    "u": (300.0, 870.0, 2240.0, 3300.0),
}
FORMANT_BANDWIDTHS_HZ = (70.0, 100.0, 140.0, 250.0)


def _formant_gain(frequency_hz: np.ndarray, formants_hz: np.ndarray) -> np.ndarray:
    """Magnitude of a cascade of two-pole resonances (unity at DC) at ``frequency_hz``.

    ``formants_hz`` has one column per formant, one row per control point.
    """
    gain = np.ones_like(frequency_hz)
    for column, bandwidth in enumerate(FORMANT_BANDWIDTHS_HZ):
        centre, half = formants_hz[:, column], bandwidth / 2.0
        gain *= (centre**2 + half**2) / np.sqrt(
            ((frequency_hz - centre) ** 2 + half**2) * ((frequency_hz + centre) ** 2 + half**2)
        )
    return gain


def vowel_sequence(sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """/a e i o u/ on a falling pitch (135 -> 100 Hz), 0.55 s each with short gaps, 3.5 s."""
    rng = np.random.default_rng(20240503)
    frames = round(3.5 * sample_rate)
    control_step = 32
    grid = np.arange(0, frames + control_step, control_step)
    seconds = grid / sample_rate
    vowels = "aeiou"
    starts = 0.12 + 0.67 * np.arange(len(vowels))
    voiced_s = 0.55
    # Which vowel each control point belongs to, and its envelope (40 ms in, 70 ms out).
    index = np.clip(np.searchsorted(starts, seconds, side="right") - 1, 0, len(vowels) - 1)
    local = seconds - starts[index]
    envelope = np.clip(np.minimum(local / 0.04, (voiced_s - local) / 0.07), 0.0, 1.0)
    envelope = np.where(local < 0, 0.0, 0.5 - 0.5 * np.cos(np.pi * envelope))
    formant_table = np.array([VOWEL_FORMANTS_HZ[vowel] for vowel in vowels])
    formants = formant_table[index]
    # Intonation: a declining line, a small rise-fall in each syllable, and a slow waver.
    waver = np.convolve(rng.standard_normal(len(grid)), np.hanning(301) / np.hanning(301).sum(), "same")
    pitch_hz = (135.0 - 10.0 * seconds) * (
        1.0 + 0.04 * np.sin(np.pi * np.clip(local / voiced_s, 0, 1)) + 0.08 * waver
    )
    sample_times = np.arange(frames)
    pitch = np.interp(sample_times, grid, pitch_hz)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    voice = np.zeros(frames)
    for k in range(1, int(8000.0 / pitch_hz.min()) + 1):
        harmonic_hz = k * pitch_hz
        amplitude = envelope * _formant_gain(harmonic_hz, formants) / k
        amplitude[harmonic_hz > 8000.0] = 0.0
        voice += np.interp(sample_times, grid, amplitude) * np.sin(k * phase)
    return _normalize(voice)


# -- files ---------------------------------------------------------------------------------
DRY_SIGNALS: dict[str, Callable[[int], np.ndarray]] = {
    "pluck.wav": pluck_phrase,
    "drums.wav": drum_loop,
    "vowels.wav": vowel_sequence,
}


def to_pcm16(signal: np.ndarray) -> np.ndarray:
    """Round to 16-bit integers, as the files hold them."""
    return np.round(np.clip(signal, -1.0, 1.0) * 32767.0).astype(np.int16)


def pedal_impulse_response(
    patch_path: str | Path = PEDAL_PATCH, sample_rate: int = SAMPLE_RATE, seconds: float = PEDAL_IR_SECONDS
) -> np.ndarray:
    """The linear (small-signal) impulse response of the pedal in ``pedal_vs_ir.json``.

    The patch's convolvers are removed, the input node plays a single sample of
    ``PEDAL_IR_LEVEL`` (its gain and the output's level set to 0 dB, as they act on both
    channels alike), and the left output divided by that level is the IR: the pedal's filters,
    its drive's gain and the waveshaper's slope at rest, including the oversampler's latency.
    """
    import patcher

    patch = patcher.load(patch_path)
    for node_id in [node_id for node_id, node in patch.nodes.items() if node.type == "convolver"]:
        patch.remove_node(node_id)
    frames = round(seconds * sample_rate)
    impulse = np.zeros(frames, dtype=np.float32)
    impulse[0] = PEDAL_IR_LEVEL
    with tempfile.TemporaryDirectory() as folder:
        impulse_path = Path(folder) / "impulse.wav"
        soundfile.write(impulse_path, impulse, sample_rate, subtype="FLOAT")
        for node_id, node in patch.nodes.items():
            if node.type == "input":
                patch.set_param(node_id, "file", str(impulse_path))
                patch.set_param(node_id, "gain_db", 0.0)
            elif node.type == "output":
                patch.set_param(node_id, "level_db", 0.0)
        audio = patcher.render(patch, frames / sample_rate, sample_rate=sample_rate, limit=False)
    return audio[:, 0] / float(impulse[0])


def write_media(folder: Path = MEDIA_DIR) -> list[Path]:
    """Write the dry signals (16-bit) and the pedal's IR (32-bit float) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, generate in DRY_SIGNALS.items():
        path = folder / name
        soundfile.write(path, to_pcm16(generate(SAMPLE_RATE)), SAMPLE_RATE, subtype="PCM_16")
        written.append(path)
    path = folder / PEDAL_IR_FILE
    # scipy writes a plain float WAV; libsndfile would add a PEAK chunk holding the time of day.
    wavfile.write(path, SAMPLE_RATE, pedal_impulse_response().astype(np.float32))
    written.append(path)
    return written


def main() -> None:
    for path in write_media():
        info = soundfile.info(path)
        print(f"wrote {path.relative_to(PATCHES_DIR.parent)} ({info.duration:.2f} s, {info.subtype})")


if __name__ == "__main__":
    main()
