"""The JACK dummy-backend fixture gives a real PortAudio stream that keeps real time.

48000 Hz / 256 frames -> 187.5 callbacks per second, so ~375 in 2 s. A callback slower than the
period (5.33 ms) is an xrun: PortAudio's JACK host API flags a later callback (usually the next)
with ``input_overflow | output_underflow`` (both, even on an output-only stream) and jackd logs
``JackEngine::XRun: client = PortAudio was not finished``.

These tests assert what holds on a busy machine too: the device is paced by its clock (never
faster, and running all along), a stall is an xrun, a callback within its period is not one as a
rule. How close to the clock a loaded machine comes, and how many xruns it has, is measured by
bench/realtime.py (its "floor").
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
import pytest

from tests.jack_server import JACK_HOSTAPI_NAME, JackServer, shared_jack_server

sd = pytest.importorskip("sounddevice")

RATE = 48000
PERIOD = 256
SECONDS = 2.0


@pytest.fixture(scope="module")
def jack(tmp_path_factory: pytest.TempPathFactory):
    with shared_jack_server(RATE, PERIOD, log_dir=tmp_path_factory.mktemp("jackd")) as server:
        yield server


@dataclass
class Run:
    calls: int = 0
    frames: list[int] = field(default_factory=list)
    flags: list[tuple[int, str, bool, bool]] = field(default_factory=list)  # (call, text, under, over)
    nonzero_input_calls: int = 0
    times: list[float] = field(default_factory=list)
    elapsed: float = 0.0  # the wall-clock window the stream was watched for...
    window_calls: int = 0  # ...and the callbacks in it
    jack_xruns: int = 0  # JackEngine::XRun lines jackd logged during the run

    @property
    def flagged_calls(self) -> list[int]:
        return [call for call, *_ in self.flags]


def run_stream(
    device: int,
    *,
    duplex: bool = True,
    blocksize: int = PERIOD,
    seconds: float = SECONDS,
    slow_calls: tuple[int, ...] = (),
    slow_seconds: float = 0.010,
) -> Run:
    run = Run()

    def body(outdata: np.ndarray, frames: int, time_info, status) -> None:
        run.calls += 1
        run.frames.append(frames)
        run.times.append(time_info.currentTime)
        if status:
            run.flags.append((run.calls, str(status), status.output_underflow, status.input_overflow))
        outdata.fill(0.0)
        if run.calls in slow_calls:
            time.sleep(slow_seconds)

    if duplex:

        def callback(indata, outdata, frames, time_info, status):
            if np.any(indata):
                run.nonzero_input_calls += 1
            body(outdata, frames, time_info, status)

        stream = sd.Stream(
            device=device,
            samplerate=RATE,
            blocksize=blocksize,
            channels=2,
            dtype="float32",
            callback=callback,
        )
    else:
        stream = sd.OutputStream(
            device=device, samplerate=RATE, blocksize=blocksize, channels=2, dtype="float32", callback=body
        )
    with stream:
        start, calls_before = time.monotonic(), run.calls
        time.sleep(seconds)
        run.elapsed, run.window_calls = time.monotonic() - start, run.calls - calls_before
    return run


def run_counting_xruns(jack: JackServer, expect_xruns: int = 0, **stream_args) -> Run:
    """A stream, and the xruns jackd logged meanwhile (waiting for as many as are expected:
    jackd logs from a thread that is not real-time, late on a busy machine)."""
    jack.mark_xruns()
    run = run_stream(jack.device, **stream_args)
    run.jack_xruns = jack.xruns_since_mark(wait=10.0 if expect_xruns else 0.0, at_least=max(expect_xruns, 1))
    return run


def assert_paced_by_the_clock(run: Run, blocksize: int = PERIOD) -> None:
    """Callbacks of ``blocksize`` frames, never more than JACK's clock lets through (a device
    without a clock, like ALSA's null, calls back as fast as it can: thousands of times), and all
    along: at least half as many (how close to the clock a busy machine comes is measured by
    bench/realtime.py)."""
    clock = run.elapsed * RATE / blocksize
    burst = -(-PERIOD // blocksize)  # PortAudio re-blocks a JACK cycle into this many calls at most
    assert clock / 2 <= run.window_calls <= clock + burst + 1, f"{run.window_calls} calls, clock {clock:.0f}"
    assert set(run.frames) == {blocksize}


def test_portaudio_sees_the_jack_device(jack: JackServer) -> None:
    info = sd.query_devices(jack.device)
    assert sd.query_hostapis(info["hostapi"])["name"] == JACK_HOSTAPI_NAME
    assert info["max_input_channels"] == 2 and info["max_output_channels"] == 2
    assert info["default_samplerate"] == RATE
    assert os.environ["JACK_DEFAULT_SERVER"] == jack.name
    assert jack.running()
    assert "-d dummy" in " ".join(jack.command)


@pytest.mark.parametrize("duplex", [True, False], ids=["duplex", "output"])
def test_stream_keeps_real_time(jack: JackServer, duplex: bool) -> None:
    run = run_stream(jack.device, duplex=duplex)
    assert_paced_by_the_clock(run)
    # The callback's own clock (JACK frame time) advances one period per call.
    assert np.median(np.diff(run.times)) == pytest.approx(PERIOD / RATE, rel=0.02)


def test_dummy_capture_delivers_silence(jack: JackServer) -> None:
    run = run_stream(jack.device, seconds=0.5)
    assert_paced_by_the_clock(run)
    assert run.nonzero_input_calls == 0


STALLS = (50, 150)


@pytest.mark.parametrize("duplex", [True, False], ids=["duplex", "output"])
def test_slow_callback_is_reported_as_xrun(jack: JackServer, duplex: bool) -> None:
    """10 ms in a 5.33 ms period (a stall only gets longer on a busy machine): flagged
    input_overflow + output_underflow (both, even on an output-only stream), and logged by
    jackd. The flag comes from jackd asynchronously: usually on the very next callback,
    sometimes a few later, later still on a busy machine; xruns of the machine's own may be
    flagged as well."""
    run = run_counting_xruns(jack, len(STALLS), duplex=duplex, slow_calls=STALLS, slow_seconds=0.010)
    for stall, next_stall in zip(STALLS, (*STALLS[1:], run.calls + 1), strict=True):
        assert any(stall < call < next_stall for call in run.flagged_calls), (stall, run.flagged_calls)
    assert all(under and over for _, _, under, over in run.flags), run.flags
    assert run.jack_xruns >= len(STALLS)
    assert_paced_by_the_clock(run)


def test_callback_within_period_is_clean(jack: JackServer) -> None:
    """3 ms of a 5.33 ms period, every tenth callback: not an xrun. A busy machine may have a
    few xruns of its own; flagging slowness rather than lateness would flag every one."""
    slow_calls = tuple(range(20, 360, 10))
    run = run_stream(jack.device, slow_calls=slow_calls, slow_seconds=0.003)
    assert len(run.flags) < len(slow_calls) / 4, run.flags
    assert_paced_by_the_clock(run)


@pytest.mark.parametrize("blocksize", [64, 100, 512])
def test_other_blocksizes_are_adapted_by_portaudio(jack: JackServer, blocksize: int) -> None:
    """PortAudio re-blocks to the JACK period: same frames per second, calls in bursts (64: four
    per JACK cycle; 100: two or three) or every other cycle (512, with 5.3 ms more latency)."""
    assert_paced_by_the_clock(run_stream(jack.device, blocksize=blocksize), blocksize)


def test_xrun_flags_lost_when_blocksize_exceeds_period(jack: JackServer) -> None:
    """With blocksize 512 (two JACK periods per callback) the xrun flag lands on the JACK cycle that
    does not call the user callback, and PortAudio's buffer processor overwrites it: no status flag.
    jackd's log still sees every xrun, so that is the observable to use."""
    run = run_counting_xruns(jack, 1, blocksize=512, slow_calls=(50,), slow_seconds=0.012)
    # PortAudio's flags are not asserted: whether a flag survives is its buffer processor's
    # business (on a loaded machine a later stray xrun can be flagged); the log is what counts.
    assert run.jack_xruns >= 1, "jackd logged no xrun for a 12 ms stall"


def test_other_sample_rate_is_refused(jack: JackServer) -> None:
    with pytest.raises(sd.PortAudioError, match="Invalid sample rate"):
        sd.OutputStream(device=jack.device, samplerate=44100, blocksize=PERIOD, channels=2)


def test_only_one_server_per_process(jack: JackServer) -> None:
    with pytest.raises(RuntimeError, match="already in use"):
        JackServer().start()
    assert jack.running()
