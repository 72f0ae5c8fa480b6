"""Shared fixtures: a private JACK server on the dummy backend (a real-time PortAudio device)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def jack(tmp_path_factory: pytest.TempPathFactory):
    """The JACK dummy device, started once and stopped by its process id at the end."""
    from tests.jack_server import JackUnavailable, shared_jack_server

    try:
        with shared_jack_server(48000, 256, log_dir=tmp_path_factory.mktemp("jackd")) as server:
            yield server
    except JackUnavailable as error:  # only where jackd cannot be installed; `make test` installs it
        pytest.fail(f"the JACK dummy device is needed for real-time tests: {error}")


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels() -> None:
    """Every kernel compiled before the first test: the first command of a session would
    otherwise print that it is compiling, and the tests read what commands print."""
    from patcher.kernels import compile_notice, kernels_compiled
    from patcher.render import warm_up_kernels

    if compile_notice() is not None:
        warm_up_kernels()
        kernels_compiled()


@pytest.fixture(autouse=True)
def restart_jack_after_a_killed_client(request: pytest.FixtureRequest):
    """A test that kills a JACK client (a crash, on purpose) restarts the shared server after
    it: jackd's dummy backend can be left spinning by a client that vanished mid-cycle, and the
    next test's stream then hangs in opening."""
    yield
    if request.node.get_closest_marker("kills_jack_clients") and "jack" in request.fixturenames:
        server = request.getfixturevalue("jack")
        server.stop()
        server.start()
