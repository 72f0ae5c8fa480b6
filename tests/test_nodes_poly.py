"""The poly node: notes on copies of a voice, allocated and stolen as promised, summed, idle
copies not run, and the same samples at every block size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import patcher
from patcher.engine import Engine
from patcher.events import NOTE_OFF, NOTE_ON, PITCH_BEND, Event, EventTimeline
from patcher.model import ControlMapping, Patch, PatchError

RATE = 8000
#: Three notes an octave apart, so each has a bin of its own: C3, C4, C5.
LOW, MIDDLE, HIGH = 48, 60, 72


def hz(note: int) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


def voice(release_ms: float = 5.0) -> Patch:
    """A mono sine voice: note -> oscillator, note.gate -> adsr -> VCA -> outlet."""
    inner = Patch()
    inner.add_node("note", "keys")
    inner.add_node("oscillator", "osc", waveform="sine", amplitude=0.25, frequency_hz=0.1)
    inner.add_node("adsr", "env", attack_ms=1.0, decay_ms=1.0, sustain=1.0, release_ms=release_ms)
    inner.add_node("math", "vca", op="multiply", b=0.0)
    inner.add_node("outlet", "out")
    inner.connect("keys.pitch_hz", "osc.frequency_hz")
    inner.connect("keys.gate", "env.gate")
    inner.connect("osc.out", "vca.a")
    inner.connect("env.out", "vca.b")
    inner.connect("vca.out", "out.in")
    inner.publish("release", "env.release_ms")
    inner.publish("level", "osc.amplitude")
    inner.publish("waveform", "osc.waveform")
    return inner


def poly_patch(voices: int = 8, release_ms: float = 5.0, **params) -> Patch:
    patch = Patch()
    patch.add_subpatch(voice(release_ms), "synth", type_name="poly", voices=voices, **params)
    patch.add_node("output", "out", level_db=0.0)
    patch.connect("synth.out", "out.left")
    return patch


def on(sample: int, note: int, velocity: float = 1.0, channel: int = 1) -> Event:
    return Event(sample, NOTE_ON, channel, note, velocity)


def off(sample: int, note: int, channel: int = 1) -> Event:
    return Event(sample, NOTE_OFF, channel, note)


def play(patch: Patch, events: list[Event], seconds: float, block: int = 64) -> tuple[np.ndarray, Engine]:
    engine = Engine(patch, RATE, block)
    engine.play_events(EventTimeline(events))
    return engine.render(seconds)[:, 0], engine


def level(signal: np.ndarray, note: int) -> float:
    """The amplitude of the note's sine in ``signal`` (a projection on its frequency)."""
    t = np.arange(len(signal)) / RATE
    return 2.0 * abs(np.mean(signal * np.exp(-2j * np.pi * hz(note) * t)))


def levels(signal: np.ndarray) -> dict[int, float]:
    """Each note's amplitude to 0.01 (a window's edges leak a little into the others)."""
    return {note: round(level(signal, note), 2) + 0.0 for note in (LOW, MIDDLE, HIGH)}


def window(signal: np.ndarray, start_s: float, seconds: float = 0.25) -> np.ndarray:
    start = round(start_s * RATE)
    return signal[start : start + round(seconds * RATE)]


def test_a_chord_sounds_its_three_pitches_as_the_spectrums_three_peaks() -> None:
    signal, _engine = play(poly_patch(), [on(100, LOW), on(100, MIDDLE), on(100, HIGH)], 0.5)
    chord = window(signal, 0.1, 0.375)  # 0.375 s: a whole number of cycles of each
    assert levels(chord) == {LOW: 0.25, MIDDLE: 0.25, HIGH: 0.25}
    spectrum = np.abs(np.fft.rfft(chord))
    frequencies = np.fft.rfftfreq(len(chord), 1 / RATE)
    peaks = sorted(frequencies[np.argsort(spectrum)[-3:]])
    assert peaks == pytest.approx([hz(LOW), hz(MIDDLE), hz(HIGH)], abs=3.0)


def test_a_note_off_releases_only_its_own_voice() -> None:
    signal, _engine = play(poly_patch(), [on(0, LOW), on(0, MIDDLE), on(0, HIGH), off(2000, MIDDLE)], 0.6)
    assert levels(window(signal, 0.02, 0.2)) == {LOW: 0.25, MIDDLE: 0.25, HIGH: 0.25}
    assert levels(window(signal, 0.3)) == {LOW: 0.25, MIDDLE: 0.0, HIGH: 0.25}


def test_with_every_voice_sounding_a_new_note_steals_the_oldest() -> None:
    events = [on(0, LOW), on(400, MIDDLE), on(2000, HIGH)]  # LOW started first: it stops
    signal, _engine = play(poly_patch(voices=2), events, 0.6)
    assert levels(window(signal, 0.3)) == {LOW: 0.0, MIDDLE: 0.25, HIGH: 0.25}


def test_a_new_note_steals_the_voice_released_longest_ago_before_one_that_sounds() -> None:
    # LOW is the oldest, but MIDDLE was released (a long release: it still rings): HIGH takes
    # MIDDLE's voice, and LOW plays on.
    events = [on(0, LOW), on(400, MIDDLE), off(1200, MIDDLE), on(2000, HIGH)]
    signal, _engine = play(poly_patch(voices=2, release_ms=2000.0), events, 0.6)
    assert levels(window(signal, 0.3)) == {LOW: 0.25, MIDDLE: 0.0, HIGH: 0.25}
    # Both released: the one released first is taken.
    events = [on(0, LOW), on(400, MIDDLE), off(1200, MIDDLE), off(1600, LOW), on(2000, HIGH)]
    signal, _engine = play(poly_patch(voices=2, release_ms=2000.0), events, 0.6)
    after = levels(window(signal, 0.3))
    assert after[MIDDLE] == 0.0 and after[LOW] > 0.05 and after[HIGH] > 0.05


def test_a_stolen_voice_is_not_reset_and_its_gate_falls_for_one_sample() -> None:
    signal, engine = play(poly_patch(voices=1), [on(0, LOW), on(2000, HIGH)], 0.4)
    keys = engine.schedule.nodes["synth"].voice_list[0].schedule.nodes["voice/keys"]
    assert keys.held[0] == HIGH and keys.state[3] == 1  # one note held, the new one
    # No click where it was stolen: no step larger than the new sine's own steepest one.
    assert np.max(np.abs(np.diff(signal[1990:2010]))) < 0.25 * 2 * np.pi * hz(HIGH) / RATE
    assert np.max(np.abs(signal[2000:2010])) > 0.2  # its envelope went on from full, not from 0
    fresh, _engine = play(poly_patch(voices=1), [on(2001, HIGH)], 0.4)  # a fresh voice's HIGH
    np.testing.assert_allclose(np.abs(fresh[2100:2400]).max(), np.abs(signal[2100:2400]).max(), atol=1e-3)
    assert not np.allclose(signal[2100:2400], fresh[2100:2400])  # nor did its phase start again
    assert levels(window(signal, 0.3)) == {LOW: 0.0, MIDDLE: 0.0, HIGH: 0.25}


def test_a_voice_given_a_note_while_idle_starts_fresh_and_a_ringing_one_does_not() -> None:
    # One voice: the second note finds it idle (long after the release) and plays exactly what
    # the first note played; the third finds it still ringing (no reset: its phase goes on).
    events = [on(100, MIDDLE), off(600, MIDDLE), on(5100, MIDDLE), off(5600, MIDDLE), on(5700, MIDDLE)]
    signal, _engine = play(poly_patch(voices=1, release_ms=50.0), events, 1.0)
    np.testing.assert_array_equal(signal[5100:5700], signal[100:700])
    assert not np.array_equal(signal[5700:6200], signal[100:600])
    assert np.max(np.abs(signal[5690:5710])) > 0.01  # still ringing when the third came


def test_notes_on_another_channel_are_not_played() -> None:
    events = [on(0, LOW, channel=1), on(0, HIGH, channel=2)]
    signal, _engine = play(poly_patch(channel=2), events, 0.4)
    assert levels(window(signal, 0.1)) == {LOW: 0.0, MIDDLE: 0.0, HIGH: 0.25}


def test_the_wheel_bends_every_voice_and_a_note_played_after_starts_bent() -> None:
    events = [on(0, LOW - 2), on(0, HIGH - 2), Event(2000, PITCH_BEND, 1, 0, 1.0), on(3000, MIDDLE - 2)]
    signal, _engine = play(poly_patch(), events, 0.7)
    before, after = window(signal, 0.0, 0.25), window(signal, 0.4)
    for note in (LOW - 2, HIGH - 2):
        assert level(before, note) == pytest.approx(0.25, abs=0.01) and level(after, note) < 0.03
    assert levels(after) == {LOW: 0.25, MIDDLE: 0.25, HIGH: 0.25}  # all up two semitones


def test_idle_voices_are_not_run() -> None:
    seconds, block = 1.0, 64
    blocks = round(seconds * RATE / block)
    _signal, engine = play(poly_patch(voices=16), [], seconds, block)
    assert engine.schedule.nodes["synth"].voice_runs == 0
    held = [on(0, note) for note in range(50, 66)]  # sixteen notes held throughout
    _signal, engine = play(poly_patch(voices=16), held, seconds, block)
    assert engine.schedule.nodes["synth"].voice_runs == 16 * blocks
    # Three short notes: their voices run until a check finds them silent since the one before.
    short = [on(0, LOW), on(0, MIDDLE), on(0, HIGH), off(800, LOW), off(800, MIDDLE), off(800, HIGH)]
    signal, engine = play(poly_patch(voices=16), short, seconds, block)
    assert engine.schedule.nodes["synth"].voice_runs == 3 * 2048 // block
    assert np.max(np.abs(signal[1024:])) == 0.0


def test_a_node_that_fails_inside_a_voice_is_reported_by_its_voice() -> None:
    engine = Engine(poly_patch(voices=2), RATE, 64)
    engine.play_events(EventTimeline([on(0, LOW)]))

    def boom(*_args: object) -> None:
        raise RuntimeError("boom")

    engine.schedule.nodes["synth"].voice_list[0].schedule.nodes["voice/env"].process = boom
    assert np.max(np.abs(engine.render(0.05))) == 0.0  # the voice's VCA hears silence from it
    assert engine.take_reports() == ["node 'synth[1]/env' (adsr) failed and is muted: RuntimeError('boom')"]


def timeline() -> list[Event]:
    """A MIDI-ish performance on three voices: chords, a note off and on on one sample, a
    repeated key, stealing, notes on the last sample of a block, and the wheel."""
    events = [on(0, 60), on(0, 64), on(0, 67), off(700, 64), on(700, 65), on(1023, 72), on(1024, 74)]
    events += [on(1500, 60, 0.5), off(1500, 60), on(1501, 48), off(2047, 67), on(2047, 67), off(3000, 72)]
    events += [on(2600, 76), on(2600, 77), off(2600, 77), off(4000, 74), off(4100, 76), on(9000, 50)]
    events += [Event(1800, PITCH_BEND, 1, 0, 0.5), Event(4095, PITCH_BEND, 1, 0, -0.25)]  # heard at 9000
    return events


def test_the_samples_do_not_depend_on_the_block_size() -> None:
    reference, _engine = play(poly_patch(voices=3, release_ms=30.0), timeline(), 1.5, block=1024)
    assert np.max(np.abs(reference)) > 0.2
    for block in (1, 64, 65):
        signal, _engine = play(poly_patch(voices=3, release_ms=30.0), timeline(), 1.5, block=block)
        np.testing.assert_array_equal(signal, reference, err_msg=f"block {block}")


def test_the_kernels_sum_as_the_numpy_reference_does(monkeypatch: pytest.MonkeyPatch) -> None:
    from patcher import spec
    from tests.reference_nodes.poly import ReferencePoly

    kernels, _engine = play(poly_patch(voices=3, release_ms=30.0), timeline(), 0.5)
    monkeypatch.setitem(spec._REGISTRY, "poly", ReferencePoly)
    reference, engine = play(poly_patch(voices=3, release_ms=30.0), timeline(), 0.5)
    assert isinstance(engine.schedule.nodes["synth"], ReferencePoly)
    np.testing.assert_allclose(kernels, reference, rtol=0, atol=1e-12)


@pytest.mark.parametrize("links_into_the_outlet", [1, 2])
def test_the_voice_patch_plays_unchanged_inside_a_poly_of_one(links_into_the_outlet: int) -> None:
    """One voice, one note at a time: the poly sounds as the voice patch alone does (with two
    links into its outlet, their sum)."""
    inner, alone = voice(), voice()
    alone.add_node("output", "speaker", level_db=0.0)
    for patch, target in ((inner, "out.in"), (alone, "speaker.left")):
        if patch is alone:
            patch.connect("vca.out", target)
        if links_into_the_outlet == 2:
            patch.add_node("gain", "half", gain_db=-6.0)
            patch.connect("vca.out", "half.in")
            patch.connect("half.out", target)
    patch = Patch()
    patch.add_subpatch(inner, "synth", type_name="poly", voices=1)
    patch.add_node("output", "out", level_db=0.0)
    patch.connect("synth.out", "out.left")
    events = [on(0, 60), off(900, 60), on(1500, 67), off(2500, 67)]  # the voice stays awake
    signal, _engine = play(patch, events, 0.6)
    expected, _engine = play(alone, events, 0.6)
    np.testing.assert_allclose(signal, expected, rtol=0, atol=1e-15)
    assert np.max(np.abs(signal)) > (0.3 if links_into_the_outlet == 2 else 0.2)


def test_published_params_reach_every_voice_live() -> None:
    patch = poly_patch(voices=4)
    engine = Engine(patch, RATE, 64)
    engine.play_events(EventTimeline([on(0, LOW), on(0, HIGH)]))
    engine.render(0.1)
    poly = engine.schedule.nodes["synth"]
    engine.set_param("synth", "level", 0.5)  # modulatable: every voice glides to it
    after = engine.render(0.4)[:, 0]
    assert levels(after[-2000:]) == {LOW: 0.5, MIDDLE: 0.0, HIGH: 0.5}
    engine.set_param("synth", "waveform", "saw")  # not a signal: set in every voice
    engine.render(0.1)
    assert [copy.schedule.nodes["voice/osc"].params["waveform"] for copy in poly.voice_list] == ["saw"] * 4


def test_more_voices_live_keep_the_notes_that_sound() -> None:
    patch = poly_patch(voices=2)
    engine = Engine(patch, RATE, 64)
    engine.play_events(EventTimeline([on(0, LOW), on(0, MIDDLE), on(2000, HIGH)]))
    engine.render(0.1)
    poly = engine.schedule.nodes["synth"]
    engine.set_param("synth", "voices", 3)  # before HIGH: it finds the third voice, steals nothing
    assert len(poly.voice_list) == 3
    after = engine.render(0.4)[:, 0]
    assert levels(after[-2000:]) == {LOW: 0.25, MIDDLE: 0.25, HIGH: 0.25}
    engine.set_param("synth", "voices", 1)
    assert len(engine.render(0.1)) and len(poly.voice_list) == 1


def test_an_edit_elsewhere_keeps_the_poly_playing_and_an_edited_voice_makes_a_new_one() -> None:
    patch = poly_patch()
    engine = Engine(patch, RATE, 64)
    engine.play_events(EventTimeline([on(0, LOW)]))
    engine.render(0.1)
    poly = engine.schedule.nodes["synth"]
    edited = patcher.loads(patcher.dumps(patch))
    edited.set_param("out", "level_db", -6.0)
    engine.update_patch(edited)
    assert engine.schedule.nodes["synth"] is poly and poly.held[0] == LOW
    edited = patcher.loads(patcher.dumps(patch))
    edited.find("synth/osc").params["waveform"] = "saw"
    engine.update_patch(edited)
    assert engine.schedule.nodes["synth"] is not poly


# -- files and mistakes ---------------------------------------------------------------------
def song(file: str, **params) -> dict:
    document = json.loads(patcher.dumps(Patch()))
    document["nodes"] = [
        {"id": "synth", "type": "poly", "file": file, "params": params},
        {"id": "out", "type": "output"},
    ]
    document["links"] = [{"from": "synth.out", "to": "out.left"}]
    return document


def save(path: Path, document: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def test_a_voice_by_file_and_an_embedded_one_round_trip_and_play(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    voice().save(tmp_path / "lib" / "voice.json")
    patch = patcher.load(save(tmp_path / "song.json", song("lib/voice.json", voices=4, release=20.0)))
    assert patch.nodes["synth"].spec.OUTPUTS == ("out",)
    assert list(patch.nodes["synth"].spec.PARAMS) == ["voices", "channel", "release", "level", "waveform"]
    saved = json.loads(patcher.dumps(patch))
    synth = next(node for node in saved["nodes"] if node["id"] == "synth")
    assert synth["file"] == "lib/voice.json" and "patch" not in synth
    events = EventTimeline([on(0, LOW), on(0, HIGH)])
    by_file = patcher.render(patch, 0.2, RATE, 64, limit=False, events=events)
    embedded = patcher.loads(patcher.dumps(poly_patch(voices=4, release=20.0)))
    assert patcher.loads(patcher.dumps(embedded)).nodes["synth"].inner is not None
    np.testing.assert_array_equal(
        by_file, patcher.render(embedded, 0.2, RATE, 64, limit=False, events=events)
    )


def test_a_new_poly_starts_with_a_voice_it_can_be_saved_and_opened_with() -> None:
    patch = Patch()
    patch.add_node("poly", "synth")
    assert patch.nodes["synth"].spec.OUTPUTS == ("out",)
    assert patcher.loads(patcher.dumps(patch)).nodes["synth"].inner.ports("outlet") == ("out",)


def test_a_missing_voice_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PatchError) as caught:
        patcher.load(save(tmp_path / "song.json", song("lib/nowhere.json")))
    assert "node 'synth' (poly lib/nowhere.json): no such abstraction (looked in " in str(caught.value)


def test_a_voice_with_no_outlet_is_refused(tmp_path: Path) -> None:
    silent = voice()
    silent.remove_node("out")
    silent.save(tmp_path / "silent.json")
    document = song("silent.json")
    document["links"] = []
    with pytest.raises(PatchError) as caught:
        patcher.load(save(tmp_path / "song.json", document))
    assert "node 'synth' (poly silent.json): its voice has no outlet" in str(caught.value)


def test_a_voice_that_holds_a_poly_of_itself_is_refused(tmp_path: Path) -> None:
    document = json.loads(patcher.dumps(voice()))
    document["nodes"].append({"id": "again", "type": "poly", "file": "voice.json"})
    save(tmp_path / "voice.json", document)
    with pytest.raises(PatchError) as caught:
        patcher.load(save(tmp_path / "song.json", song("voice.json")))
    assert "a patch includes itself:" in str(caught.value)
    assert "voice.json -> voice.json" in str(caught.value)


def test_a_voice_count_out_of_range_and_a_published_channel_are_refused(tmp_path: Path) -> None:
    voice().save(tmp_path / "voice.json")
    with pytest.raises(
        PatchError, match=r"node 'synth' \(poly voice.json\): param 'voices': 65 is out of range"
    ):
        patcher.load(save(tmp_path / "song.json", song("voice.json", voices=65)))
    clashing = voice()
    clashing.publish("channel", "keys.channel")
    clashing.save(tmp_path / "voice.json")
    with pytest.raises(PatchError, match="its voice publishes 'channel', a param the poly node has itself"):
        patcher.load(tmp_path / "song.json")


def test_a_cc_mapped_into_the_voice_moves_that_param_in_every_copy() -> None:
    """A mapping may name a param inside the voice (what MIDI learn in the opened voice
    makes), as well as one the voice publishes: CC 74 at 0 takes every copy's sustain down."""
    from patcher.events import CONTROL

    patch = poly_patch(voices=2)
    patch.mappings.append(ControlMapping("synth/env.sustain", 74))
    reloaded = patcher.loads(patcher.dumps(patch))
    assert reloaded.mappings[0].param == "synth/env.sustain"
    events = [on(0, LOW), on(0, HIGH), Event(round(0.2 * RATE), CONTROL, 1, 74, 0.0)]
    out, engine = play(reloaded, events, 0.5)
    assert level(window(out, 0.05, 0.1), LOW) == pytest.approx(0.25, abs=0.01)
    assert level(window(out, 0.35, 0.1), LOW) < 0.01 and level(window(out, 0.35, 0.1), HIGH) < 0.01
    assert engine.take_reports() == []


def test_a_key_held_while_the_channel_changes_is_let_go_on_its_note_off() -> None:
    """Set channel 2 while a channel-1 key is held: its note off still ends the note."""
    engine = Engine(poly_patch(voices=2), RATE, 64)
    engine.play_events(EventTimeline([on(0, MIDDLE)]))
    engine.render(0.2)
    engine.set_param("synth", "channel", 2)
    engine.play_events(EventTimeline([off(0, MIDDLE)]))
    tail = engine.render(0.3)[:, 0]
    assert level(window(tail, 0.1, 0.2), MIDDLE) < 0.001


@pytest.mark.parametrize("block", [64, 1024])
def test_a_burst_of_ccs_drops_no_note_off(block: int) -> None:
    """CCs are the patch's mappings' to play: the copies are not sent them, so hundreds of them
    in one block do not fill a copy's events and lose the note off after them."""
    from patcher.events import CONTROL

    burst = [Event(100 + i, CONTROL, 1, 74, (i % 128) / 127) for i in range(300)]
    out, _engine = play(poly_patch(voices=2), [on(0, MIDDLE), *burst, off(500, MIDDLE)], 0.5, block)
    assert level(window(out, 0.2, 0.25), MIDDLE) < 0.001


def test_a_fresh_copy_hears_the_wheel_of_its_own_channel_as_last_moved() -> None:
    """The wheel of channel 1 moved up, channel 2's down, channel 1's back to the centre: a
    note played next on channel 1 starts unbent."""
    bends = [
        Event(10, PITCH_BEND, 1, 0, 1.0),
        Event(20, PITCH_BEND, 2, 0, -1.0),
        Event(30, PITCH_BEND, 1, 0, 0.0),
    ]
    out, _engine = play(poly_patch(voices=2), [on(0, LOW), *bends, on(100, MIDDLE)], 0.4)
    heard = window(out, 0.1)
    assert level(heard, MIDDLE) > 0.2  # G4 as G4, not bent down to F4 by channel 2's wheel


def test_a_param_inside_the_voice_changes_in_every_sounding_copy_live() -> None:
    """The editor's slider in an opened voice sets ``synth/env``'s sustain: every copy glides
    there; an edit elsewhere afterwards keeps the notes playing (the poly is kept)."""
    import copy

    engine = Engine(poly_patch(voices=2), RATE, 64)
    engine.play_events(EventTimeline([on(0, LOW), on(0, HIGH)]))
    before = engine.render(0.2)[:, 0]
    engine.set_param("synth/env", "sustain", 0.2)
    after = engine.render(0.2)[:, 0]
    assert level(window(before, 0.05, 0.1), LOW) == pytest.approx(0.25, abs=0.01)
    assert level(window(after, 0.05, 0.1), LOW) == pytest.approx(0.05, abs=0.01)
    assert level(window(after, 0.05, 0.1), HIGH) == pytest.approx(0.05, abs=0.01)
    # A glide: no step larger than the sines' own motion before the change.
    assert np.max(np.abs(np.diff(after[:400]))) <= np.max(np.abs(np.diff(before[-400:])))
    poly = engine.schedule.nodes["synth"]
    edited = copy.deepcopy(engine.patch)
    edited.add_node("gain", "spare")
    engine.update_patch(edited)
    assert engine.schedule.nodes["synth"] is poly
    still = engine.render(0.1)[:, 0]
    assert level(window(still, 0.02, 0.05), LOW) == pytest.approx(0.05, abs=0.01)


def test_state_a_copy_replaces_is_freed_by_the_callers_thread_not_the_audio_thread() -> None:
    """A longer delay line in each copy (its max time raised, inside the voice): the lines
    replaced are kept for ``release_retired``, as the engine keeps a node's own."""
    import weakref

    inner = voice()
    inner.add_node("delay", "line", time_ms=5.0, max_time_ms=100.0, mix=0.5)
    inner.disconnect("vca.out", "out.in")
    inner.connect("vca.out", "line.in")
    inner.connect("line.out", "out.in")
    patch = Patch()
    patch.add_subpatch(inner, "synth", type_name="poly", voices=2)
    patch.add_node("output", "out")
    patch.connect("synth.out", "out.left")
    engine = Engine(patch, RATE, 64)
    engine.play_events(EventTimeline([on(0, LOW)]))
    engine.render(0.05)
    copies = [copy.schedule.nodes["voice/line"] for copy in engine.schedule.nodes["synth"].voice_list]
    old_lines = [weakref.ref(node.line) for node in copies]
    engine.apply(engine.prepare_param_change("synth/line", "max_time_ms", 5000.0))
    engine.render(0.05)
    assert all(len(node.line) > RATE * 5 for node in copies)
    assert all(line() is not None for line in old_lines)  # not freed on the audio thread
    engine.release_retired()
    assert all(line() is None for line in old_lines)
