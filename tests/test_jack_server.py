"""The JACK dummy-backend fixture gives a real PortAudio stream that keeps real time.

48000 Hz / 256 frames -> 187.5 callbacks per second, so ~375 in 2 s. A callback slower than the
period (5.33 ms) is an xrun: PortAudio's JACK host API flags the *next* callback with
``input_overflow | output_underflow`` (both, even on an output-only stream) and jackd logs
``JackEngine::XRun: client = PortAudio was not finished``.
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
TOLERANCE = 0.03  # callback count within 3 % of the clock's


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
    elapsed: float = 0.0

    def expected_calls(self, blocksize: int) -> float:
        return self.elapsed * RATE / blocksize


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
        start = time.monotonic()
        time.sleep(seconds)
        run.elapsed = time.monotonic() - start
    return run


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
    expected = SECONDS * RATE / PERIOD  # 375
    assert abs(run.calls - expected) <= TOLERANCE * expected, (run.calls, expected)
    assert set(run.frames) == {PERIOD}
    assert run.flags == []
    # The callback's own clock (JACK frame time) advances one period per call.
    step = np.diff(run.times)
    assert np.median(step) == pytest.approx(PERIOD / RATE, rel=0.02)
    assert run.times[-1] - run.times[0] == pytest.approx((run.calls - 1) * PERIOD / RATE, rel=0.02)


def test_dummy_capture_delivers_silence(jack: JackServer) -> None:
    run = run_stream(jack.device, seconds=0.5)
    assert run.calls > 50
    assert run.nonzero_input_calls == 0


@pytest.mark.parametrize("duplex", [True, False], ids=["duplex", "output"])
def test_slow_callback_is_reported_as_xrun(jack: JackServer, duplex: bool) -> None:
    jack.mark_xruns()
    run = run_stream(jack.device, duplex=duplex, slow_calls=(50, 150), slow_seconds=0.010)
    # Each 10 ms callback (period 5.33 ms) flags the callback right after it, with both flags.
    assert [call for call, *_ in run.flags] == [51, 151], run.flags
    assert all(under and over for _, _, under, over in run.flags)
    assert jack.xruns_since_mark(wait=1.0, at_least=2) >= 2
    # A 10 ms stall lost no cycle: it fits in the 2-period engine slack.
    assert abs(run.calls - 375) <= TOLERANCE * 375


def test_callback_within_period_is_clean(jack: JackServer) -> None:
    jack.mark_xruns()
    run = run_stream(jack.device, slow_calls=(50, 150), slow_seconds=0.003, seconds=1.0)
    assert run.flags == []
    assert jack.xruns_since_mark(wait=0.2) == 0


@pytest.mark.parametrize("blocksize", [64, 100, 512])
def test_other_blocksizes_are_adapted_by_portaudio(jack: JackServer, blocksize: int) -> None:
    """PortAudio re-blocks to the JACK period: same frames per second, calls in bursts or skips."""
    run = run_stream(jack.device, blocksize=blocksize)
    assert set(run.frames) == {blocksize}
    expected = SECONDS * RATE / blocksize
    assert abs(run.calls - expected) <= TOLERANCE * expected + 2, (run.calls, expected)
    assert run.flags == []


def test_xrun_flags_lost_when_blocksize_exceeds_period(jack: JackServer) -> None:
    """With blocksize 512 (two JACK periods per callback) the xrun flag is set on the JACK cycle that
    does not call the user callback, and PortAudio's buffer processor overwrites it: no status flag.
    jackd's log still sees every xrun, so that is the observable to use."""
    jack.mark_xruns()
    run = run_stream(jack.device, blocksize=512, slow_calls=(50,), slow_seconds=0.012)
    assert jack.xruns_since_mark(wait=1.0) >= 1
    assert run.flags == [], "PortAudio now reports xruns at blocksize > period: update the notes"


def test_other_sample_rate_is_refused(jack: JackServer) -> None:
    with pytest.raises(sd.PortAudioError, match="Invalid sample rate"):
        sd.OutputStream(device=jack.device, samplerate=44100, blocksize=PERIOD, channels=2)


def test_only_one_server_per_process(jack: JackServer) -> None:
    with pytest.raises(RuntimeError, match="already in use"):
        JackServer().start()
    assert jack.running()
