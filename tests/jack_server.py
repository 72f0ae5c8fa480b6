"""A real, real-time-paced PortAudio device for tests: a private JACK server on the dummy backend.

``jackd -d dummy`` has no sound card behind it but runs its process cycle off a timer, so a
PortAudio stream on it gets one callback per period (48000 / 256 -> 187.5 per second) exactly as
on hardware, and a callback slower than the period is a real xrun. An ALSA ``null`` device has no
clock and proves nothing about timing.

Use :func:`shared_jack_server` from fixtures (one server per process, reference-counted), or
:class:`JackServer` directly::

    with JackServer(sample_rate=48000, period=256) as jack:
        with sd.Stream(device=jack.device, samplerate=48000, blocksize=256, callback=cb):
            ...

Rules learned the hard way (details in the report / notes):

* PortAudio talks to the server named by ``JACK_DEFAULT_SERVER`` (read by libjack when PortAudio
  opens its client in ``Pa_Initialize``), so the server gets a unique ``-n`` name and the variable
  is set for this process while the server runs. Only one server per process can be in use;
  separate processes (pytest-xdist workers) each get their own.
* PortAudio enumerates devices only in ``Pa_Initialize``: after the server starts it must be
  terminated and re-initialised (``sd._terminate(); sd._initialize()``). That closes any open stream.
* PortAudio must be terminated BEFORE jackd stops. Stopping jackd under an open stream makes
  ``Pa_StopStream`` hang forever; stopping it under an idle but initialised PortAudio makes the next
  ``Pa_Terminate`` (also the one sounddevice runs at exit) abort the interpreter with
  ``pa_jack.c: Terminate: Assertion `err == 0' failed``.
* Xruns: PortAudio flags the callback after a late one with ``input_overflow | output_underflow``
  (both, always, on every PortAudio JACK stream of the process), usually the next callback,
  sometimes 2-3 later. With a blocksize above the JACK period the flag is lost; jackd's log
  (``JackEngine::XRun``, see :meth:`JackServer.xrun_count`) always has it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

JACK_HOSTAPI_NAME = "JACK Audio Connection Kit"
XRUN_LINE = re.compile(r"JackEngine::XRun")

_SHM_DIR = "/dev/shm"  # jackd2's tmpdir on Linux (``jackd --version`` prints it)
_PR_SET_PDEATHSIG = 1


class JackUnavailable(RuntimeError):
    """jackd or PortAudio's JACK host API is missing, or the server would not come up."""


def _sounddevice():
    import sounddevice

    return sounddevice


def reinitialize_portaudio() -> None:
    """Fully terminate and re-initialise PortAudio so it enumerates devices again.

    ``Pa_Initialize`` is reference counted: a single ``_terminate()`` does nothing while
    someone else holds a reference, so drop every reference sounddevice holds, then restore them.
    Closes every open stream.
    """
    sd = _sounddevice()
    count = max(sd._initialized, 1)
    while sd._initialized > 0:
        sd._terminate()
    for _ in range(count):
        sd._initialize()


def _terminate_portaudio() -> int:
    sd = _sounddevice()
    count = sd._initialized
    while sd._initialized > 0:
        sd._terminate()
    return count


def _set_parent_death_signal() -> None:
    """In the child: get SIGTERM if the parent dies (pytest killed by SIGKILL, etc.)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def realtime_available() -> bool:
    """Whether this process may use SCHED_FIFO (root with CAP_SYS_NICE, or an rtprio limit)."""
    if not hasattr(os, "SCHED_FIFO"):
        return False
    probe = "import os; os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))"
    try:
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


class JackServer:
    """A private ``jackd -d dummy`` server, and the PortAudio device index that reaches it.

    ``device`` (an int for ``sd.Stream(device=...)``) is valid between :meth:`start` and
    :meth:`stop`. ``realtime=None`` uses ``-R`` when SCHED_FIFO is allowed, else ``-r`` (env
    ``PATCHER_JACK_REALTIME=0|1`` forces it). Both keep time (the dummy driver sleeps on the
    clock), but ``-r`` jitters by several ms and xruns under CPU contention; ``-R`` does not.
    """

    _active: JackServer | None = None  # one per process: JACK_DEFAULT_SERVER is process-global
    _lock = threading.Lock()

    def __init__(
        self,
        sample_rate: int = 48000,
        period: int = 256,
        *,
        capture: int = 2,
        playback: int = 2,
        realtime: bool | None = None,
        port_max: int = 64,
        name: str | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        start_timeout: float = 10.0,
        jackd: str = "jackd",
    ) -> None:
        self.sample_rate = int(sample_rate)
        self.period = int(period)
        self.capture = int(capture)
        self.playback = int(playback)
        self.realtime = realtime
        self.port_max = int(port_max)
        self.name = name or f"patcher-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.start_timeout = float(start_timeout)
        self.jackd = jackd
        self._log_dir_arg = log_dir
        self._own_log_dir: str | None = None
        self.log_path: Path | None = None
        self.device: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file = None
        self._saved_env: dict[str, str | None] = {}
        self._xrun_mark = 0
        self._pa_attached = False  # PortAudio holds a JACK client on this server

    # -- public API -------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def command(self) -> list[str]:
        if self.realtime is None:
            forced = os.environ.get("PATCHER_JACK_REALTIME")  # "0"/"1" overrides the probe
            self.realtime = forced != "0" if forced in ("0", "1") else realtime_available()
        return [
            self.jackd,
            "-n", self.name,
            "-R" if self.realtime else "-r",
            "-p", str(self.port_max),  # server option (before -d): fewer ports, much less /dev/shm
            "-d", "dummy",
            "-r", str(self.sample_rate),
            "-p", str(self.period),  # driver option (after -d): frames per period
            "-C", str(self.capture),
            "-P", str(self.playback),
        ]  # fmt: skip

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def xrun_count(self) -> int:
        """``JackEngine::XRun`` lines jackd has logged so far (one or more per late cycle)."""
        return len(XRUN_LINE.findall(self.log_text()))

    def mark_xruns(self) -> int:
        """Remember the current xrun count; :meth:`xruns_since_mark` counts from here."""
        self._xrun_mark = self.xrun_count()
        return self._xrun_mark

    def xruns_since_mark(self, wait: float = 0.0, at_least: int = 1) -> int:
        """New jackd xruns since :meth:`mark_xruns`; waits up to ``wait`` s for ``at_least``.

        jackd logs from a non-real-time thread, so a line may lag the xrun by a few ms.
        """
        deadline = time.monotonic() + wait
        while True:
            count = self.xrun_count() - self._xrun_mark
            if count >= at_least or time.monotonic() >= deadline:
                return count
            time.sleep(0.02)

    def ports(self, direction: str) -> set[str]:
        """The server's audio ports that are ``"input"`` or ``"output"`` (seen from their
        client: a stream's capture side is an input), as ``jack_lsp`` lists them."""
        listing = self._jack_tool("jack_lsp", "-p", "-t")
        ports, name = set(), None
        for line in listing.splitlines():
            if not line.startswith(("\t", " ")):
                name = line.strip()
            elif "properties:" in line:
                properties = {word.strip() for word in line.split(":", 1)[1].split(",")}
                if direction in properties:
                    ports.add(name)
        return ports

    def connect(self, source: str, destination: str) -> None:
        """Connect two ports, as a patch bay would (an input sums every port connected to it)."""
        self._jack_tool("jack_connect", source, destination)

    def _jack_tool(self, *command: str) -> str:
        env = {**os.environ, "JACK_DEFAULT_SERVER": self.name, "JACK_NO_START_SERVER": "1"}
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=10)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip() or result.stdout}")
        return result.stdout

    def start(self) -> int:
        """Start jackd, make PortAudio see it, return the JACK device index."""
        with JackServer._lock:
            if JackServer._active is not None:
                raise RuntimeError(
                    f"JACK server {JackServer._active.name!r} is already in use by this process; "
                    "PortAudio can reach only one (use shared_jack_server())"
                )
            JackServer._active = self
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate PortAudio, stop jackd by its pid, restore env, re-initialise PortAudio."""
        with contextlib.suppress(ValueError):  # atexit may not hold us
            atexit.unregister(self.stop)
        proc = self.proc
        sd_count = 0
        if proc is not None and proc.poll() is None:
            # Order matters: PortAudio lets go of the server first (closes leftover streams).
            sd_count = _terminate_portaudio()
        elif proc is not None and self._pa_attached:
            # jackd died under an initialised PortAudio: Pa_Terminate would abort the interpreter
            # (pa_jack.c assertion). Leak PortAudio instead and keep sounddevice's atexit away.
            warnings.warn(
                f"jackd {self.name!r} exited early (rc={proc.returncode}); PortAudio left "
                "uninitialised to avoid an abort in Pa_Terminate. Log:\n" + self.log_text()[-2000:],
                RuntimeWarning,
                stacklevel=2,
            )
            _sounddevice()._initialized = 0
            sd_count = -1
        self._restore_env()
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()  # SIGTERM to this pid only
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            self.proc = None
        if sd_count >= 0:
            sd = _sounddevice()
            for _ in range(max(sd_count, 1) - sd._initialized):
                sd._initialize()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self._remove_shm_leftovers()
        if self._own_log_dir is not None:
            shutil.rmtree(self._own_log_dir, ignore_errors=True)
            self._own_log_dir = None
        self.device = None
        self._pa_attached = False
        with JackServer._lock:
            if JackServer._active is self:
                JackServer._active = None

    def __enter__(self) -> JackServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- internals --------------------------------------------------------------------------

    def _start(self) -> int:
        if shutil.which(self.jackd) is None:
            raise JackUnavailable(f"{self.jackd!r} not found (apt-get install jackd2)")
        if self._shm_files():
            raise RuntimeError(
                f"a JACK server named {self.name!r} seems to be running already (files in {_SHM_DIR})"
            )
        if self._log_dir_arg is None:
            self._own_log_dir = tempfile.mkdtemp(prefix="jackd-")
            log_dir = self._own_log_dir
        else:
            log_dir = os.fspath(self._log_dir_arg)
            os.makedirs(log_dir, exist_ok=True)
        self.log_path = Path(log_dir) / f"{self.name}.log"
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()

        env = dict(os.environ)
        env.pop("JACK_DEFAULT_SERVER", None)
        self.proc = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C reaches pytest, not jackd: we stop it in order
            preexec_fn=_set_parent_death_signal,
        )
        atexit.register(self.stop)  # runs before sounddevice's own atexit Pa_Terminate

        self._set_env()
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise JackUnavailable(
                    f"jackd exited with {self.proc.returncode}: {' '.join(self.command)}\n{self.log_text()}"
                )
            if self._shm_files():  # the server socket exists: worth asking PortAudio
                reinitialize_portaudio()
                self._pa_attached = True
                device = self._find_device()
                if device is not None:
                    self.device = device
                    return device
            if time.monotonic() > deadline:
                raise JackUnavailable(
                    f"PortAudio did not see JACK server {self.name!r} within {self.start_timeout} s "
                    f"(is libportaudio2 built with JACK?)\n{self.log_text()}"
                )
            time.sleep(0.05)

    def _find_device(self) -> int | None:
        sd = _sounddevice()
        for api in sd.query_hostapis():
            if api["name"] != JACK_HOSTAPI_NAME:
                continue
            for index in api["devices"]:
                info = sd.query_devices(index)
                if (
                    info["max_input_channels"] >= self.capture
                    and info["max_output_channels"] >= self.playback
                    and int(info["default_samplerate"]) == self.sample_rate
                ):
                    return index
        return None

    def _set_env(self) -> None:
        for key, value in (("JACK_DEFAULT_SERVER", self.name), ("JACK_NO_START_SERVER", "1")):
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def _shm_files(self) -> list[str]:
        # jack_<name>_<uid>_<n> (server socket), jack_sem.<uid>_<name>_<client> (semaphores)
        return glob.glob(os.path.join(_SHM_DIR, f"jack_{glob.escape(self.name)}_*")) + glob.glob(
            os.path.join(_SHM_DIR, f"jack_sem.*_{glob.escape(self.name)}_*")
        )

    def _remove_shm_leftovers(self) -> None:
        # A clean SIGTERM removes these itself; a crash leaves them. The name is ours alone.
        for path in self._shm_files():
            with contextlib.suppress(OSError):
                os.unlink(path)


_shared: JackServer | None = None
_shared_users = 0
_shared_lock = threading.Lock()


@contextlib.contextmanager
def shared_jack_server(sample_rate: int = 48000, period: int = 256, **kwargs: object) -> Iterator[JackServer]:
    """One JackServer per process, shared by every fixture that asks for the same settings.

    A session fixture in conftest.py and a module fixture elsewhere both get the same server; it
    stops when the last user leaves.
    """
    global _shared, _shared_users
    with _shared_lock:
        if _shared is None:
            server = JackServer(sample_rate, period, **kwargs)  # type: ignore[arg-type]
            server.start()
            _shared = server
        elif (_shared.sample_rate, _shared.period) != (sample_rate, period):
            raise RuntimeError(
                f"shared JACK server runs at {_shared.sample_rate} Hz / {_shared.period} frames, "
                f"asked for {sample_rate} / {period}"
            )
        _shared_users += 1
        server = _shared
    try:
        yield server
    finally:
        with _shared_lock:
            _shared_users -= 1
            if _shared_users == 0:
                _shared = None
                server.stop()
