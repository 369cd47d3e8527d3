"""The servers a run starts: what each one is (ServerSpec, the SERVERS table), starting, sampling and
stopping its process, and an older commit exported beside this one (--compare).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmark.ngircd import ngircd_command
from benchmark.protocol import HOST, READ
from benchmark.system import BASELINES, LIVE, OURS_ROOT, ROOT, bench_home, child_env, pin, proc_sample


class ServerSpec:
    def __init__(
        self,
        kind: str,
        proto: str,
        extra: tuple[str, ...] = (),
        key: str = "",
        store: str = "",
        root: Path | None = None,
        rev: str = "",
    ) -> None:
        self.kind = kind  # ours | asyncio | naive | ngircd
        self.proto = proto  # native | plain | irc | ws (native frames over a WebSocket, on the page's port)
        self.extra = extra  # more command-line arguments
        # Ours only: "memory" (--store memory), "sqlite" (--store FILE, a new file per run) or
        # "cluster" (--cluster URL: a node of a cluster, its Redis the run's).
        self.store = (store or "memory") if kind == "ours" else ""
        # Ours only: the tree chatserver runs from (None: OURS_ROOT, i.e. --ours-root or this checkout),
        # and the revision it was exported from (--compare), shown in its label.
        self.root = root
        self.rev = rev
        suffix = f"-{self.store}" if self.store in ("sqlite", "cluster") else ""
        self.key = key or (f"{kind}-{proto}{suffix}" + (f"@{rev}" if rev else "") if kind == "ours" else kind)

    @property
    def label(self) -> str:
        if self.kind != "ours":
            return f"{self.key} ({self.proto})"
        at = f" @{self.rev}" if self.rev else ""
        store = f", {self.store}" if self.store != "memory" else ""
        if self.rev and "--store" not in our_flags(self.tree):
            store = ", no store"  # an older commit from before the store runs without one
        return f"ours ({self.proto}{store}){at}"

    @property
    def tree(self) -> Path:
        """Where this chatserver is imported from."""
        return self.root or OURS_ROOT[0]

    def twin(self, root: Path, rev: str) -> ServerSpec:
        """The same server run from another tree (an older commit, for --compare)."""
        return ServerSpec(self.kind, self.proto, self.extra, store=self.store, root=root, rev=rev)

    def command(
        self, rate_off: bool, conns: int, store_path: str | None = None, cluster: str | None = None
    ) -> list[str]:
        if self.kind == "ngircd":
            raise RuntimeError("ngircd's command needs its config file: ServerProc builds it")
        if self.kind == "ours":
            cmd = [sys.executable, "-m", "chatserver", "--host", HOST, "--port", "0"]
            flags = our_flags(self.tree)
            if self.store == "cluster":
                if "--cluster" not in flags or not cluster:
                    raise RuntimeError(f"{self.label}: this chatserver has no --cluster option, or no Redis was given")
                cmd += ["--cluster", cluster]
            elif "--store" in flags:  # never the default store (a file under XDG_STATE_HOME)
                cmd += ["--store", store_path if self.store == "sqlite" and store_path else "memory"]
            elif self.store == "sqlite" and not self.rev:  # (an older commit may predate the store: it runs without)
                raise RuntimeError(f"{self.label}: this chatserver has no --store option")
            if "--no-advertise" in flags:  # loopback only: no mDNS on the LAN (it skips 127.0.0.1 anyway)
                cmd.append("--no-advertise")
            if self.proto == "ws":  # the page's port, a free one: its clients connect there
                cmd += ["--web-port", "0"]
            elif "--no-web" in flags:  # the page is not measured here, and must not hold port 5080
                cmd.append("--no-web")
            if self.proto == "irc":  # the IRC port, a free one: its clients connect there
                cmd += ["--irc-port", "0"]
            elif "--no-irc" in flags:  # the IRC port is not measured here, and must not hold port 6667
                cmd.append("--no-irc")
            if rate_off and "--rate-limit" in flags:
                cmd += ["--rate-limit", "0"]
            # Connection caps are not what is measured: make room for the workload's clients.
            for flag in ("--max-clients", "--max-per-ip"):
                if flag in flags:
                    cmd += [flag, str(conns + 64)]
            return cmd
        script = BASELINES / ("naive_server.py" if self.kind == "naive" else "asyncio_server.py")
        return [sys.executable, str(script), "--host", HOST, "--port", "0", *self.extra]

    def rate_limit(self, rate_off: bool) -> str:
        if self.kind != "ours":
            return "none"
        return "off" if rate_off else "default"


_FLAGS: dict[Path, set[str]] = {}


def our_flags(root: Path | None = None) -> set[str]:
    """The options the chatserver in ``root`` (default OURS_ROOT) lists in ``--help`` (``--rate-limit`` etc.
    are used only if present)."""
    root = root or OURS_ROOT[0]
    if root not in _FLAGS:
        out = subprocess.run(
            [sys.executable, "-m", "chatserver", "--help"],
            capture_output=True,
            text=True,
            cwd=root,
            env=child_env(root),
        ).stdout
        _FLAGS[root] = set(re.findall(r"--[a-z][a-z-]+", out))
    return _FLAGS[root]


#: The line that says a server serves, and its port, by what its clients speak: ours' first line ("NAME
#: listening on HOST:PORT"), ngircd's "Now listening on [HOST]:PORT" after a few others, and for WebSocket
#: clients ours' "chat page for browsers: http://HOST:PORT/" (after the first).
READY_LINE = {
    "native": re.compile(rb"listening on \[?([^\s\]]+)\]?:(\d+)"),
    "plain": re.compile(rb"listening on \[?([^\s\]]+)\]?:(\d+)"),
    "irc": re.compile(rb"listening on \[?([^\s\]]+)\]?:(\d+)"),
    # ours' IRC port, on its own start line (after the chat port's "listening on")
    "ours-irc": re.compile(rb"IRC clients: ircs?://\[?([^\s\]/]+)\]?:(\d+)"),
    "ws": re.compile(rb"chat page for browsers: \w+://\[?([^\s\]/]+)\]?:(\d+)/"),
}


class ServerProc:
    def __init__(
        self,
        spec: ServerSpec,
        cpus: list[int] | None,
        *,
        rate_off: bool,
        conns: int,
        store_path: Path | None = None,
        cluster: str | None = None,
    ) -> None:
        self.spec = spec
        self.cpus = cpus
        #: A store the bench made for this run alone (removed at stop); ``store_path`` is the caller's.
        self.store_dir = (
            Path(tempfile.mkdtemp(prefix="store-", dir=bench_home()))
            if spec.store == "sqlite" and store_path is None
            else None
        )
        self.store_path = store_path or (self.store_dir / "bench.sqlite3" if self.store_dir else None)
        self.store_bytes: int | None = None  # the store's size (with its WAL) when the server stopped
        self.conf_dir: Path | None = None  # ngircd: its config file's temporary directory
        if spec.kind == "ngircd":
            self.conf_dir, self.cmd = ngircd_command(conns)
        else:
            self.cmd = spec.command(rate_off, conns, str(self.store_path) if self.store_path else None, cluster)
        self.ready_s: float | None = None  # process start to the "listening on" line
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.stderr = tempfile.TemporaryFile()
        self.peak_rss = 0
        self.peak_threads = 0
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None
        self.exit_code: int | None = None
        self.stop_seconds: float | None = None

    def start(self, timeout: float = 15.0) -> None:
        cpus = self.cpus
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            self.cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            cwd=self.spec.tree,  # python -m imports from the working directory first
            env=child_env(self.spec.tree),
            preexec_fn=(lambda: pin(cpus)) if cpus else None,
            start_new_session=True,
        )
        LIVE.add(self.proc)
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, READ)
        buf = b""
        end = time.monotonic() + timeout
        proto = "ours-irc" if self.spec.kind == "ours" and self.spec.proto == "irc" else self.spec.proto
        pattern = READY_LINE.get(proto, READY_LINE["native"])
        while not (match := pattern.search(buf)):
            if time.monotonic() > end or not sel.select(max(0.0, end - time.monotonic())):
                raise RuntimeError(f"{self.spec.label}: no 'listening on' line within {timeout} s: {self.errors()}")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"{self.spec.label} exited at start: {self.errors()}")
            buf += chunk
        self.ready_s = time.monotonic() - t0
        sel.close()
        self.port = int(match.group(2))  # the port its clients connect to (the page's, for WebSocket clients)
        threading.Thread(target=self._drain_stdout, daemon=True).start()

    def _drain_stdout(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            while self.proc.stdout.read(65536):
                pass

    def sample(self) -> dict:
        return proc_sample(self.proc.pid)

    def start_sampling(self, interval: float = 0.1) -> None:
        self._sampling.clear()

        def loop() -> None:
            while not self._sampling.wait(interval):
                s = self.sample()
                self.peak_rss = max(self.peak_rss, s["rss_kib"])
                self.peak_threads = max(self.peak_threads, s["threads"])

        self._sampler = threading.Thread(target=loop, daemon=True)
        self._sampler.start()

    def stop_sampling(self) -> None:
        self._sampling.set()
        if self._sampler:
            self._sampler.join()

    def stop(self, timeout: float = 5.0) -> None:
        try:
            self._stop(timeout)
        finally:
            if self.store_path is not None and self.store_bytes is None and self.exit_code is not None:
                self.store_bytes = sum(
                    os.path.getsize(f) for f in (self.store_path, Path(f"{self.store_path}-wal")) if f.exists()
                )
            if self.store_dir is not None and (self.proc is None or self.exit_code is not None):
                shutil.rmtree(self.store_dir, ignore_errors=True)
            if self.conf_dir is not None and (self.proc is None or self.exit_code is not None):
                shutil.rmtree(self.conf_dir, ignore_errors=True)

    def _stop(self, timeout: float) -> None:
        if self.proc is None or self.exit_code is not None:
            return
        t0 = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.proc.wait(timeout)
            self.stop_seconds = time.monotonic() - t0
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.exit_code = self.proc.wait()
            self.stop_seconds = None  # did not stop by itself
        LIVE.discard(self.proc)

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-2000:]

    def stderr_summary(self) -> dict:
        self.stderr.seek(0)
        text = self.stderr.read().decode(errors="replace")
        lines = text.splitlines()
        notable = [ln for ln in lines if re.search(r"WARNING|ERROR|CRITICAL|Traceback|Exception|dropping", ln)]
        kinds: dict[str, int] = {}
        for ln in notable:
            key = re.sub(r"^\S+ \S+ ", "", ln)  # drop the timestamp
            key = re.sub(r"\d+\.\d+\.\d+\.\d+:\d+", "ADDR", key)
            key = re.sub(r"\(\w+\)", "(NICK)", key)
            key = re.sub(r"\b(c|stuck|s)\d*\b", "NICK", key)
            kinds[key[:160]] = kinds.get(key[:160], 0) + 1
        return {
            "lines": len(lines),
            "tracebacks": sum(1 for ln in lines if ln.startswith("Traceback")),
            "errors": sum(1 for ln in lines if " ERROR " in ln or "CRITICAL" in ln),
            "warnings": sum(1 for ln in lines if " WARNING " in ln),
            "kinds": kinds,
        }


SERVERS = {
    "ours-native": ServerSpec("ours", "native"),
    "ours-plain": ServerSpec("ours", "plain"),
    # The native protocol over a WebSocket (the chat page's /ws); the web workload pairs it with ours-native.
    "ours-ws": ServerSpec("ours", "ws"),
    "asyncio": ServerSpec("asyncio", "plain"),
    "naive": ServerSpec("naive", "plain"),
    # With the SQLite store (a new file per run); the store workload pairs each with its --store memory twin.
    "ours-native-sqlite": ServerSpec("ours", "native", store="sqlite"),
    "ours-plain-sqlite": ServerSpec("ours", "plain", store="sqlite"),
    # Our IRC port (issue 21), beside ngircd under the same IRC load generator.
    "ours-irc": ServerSpec("ours", "irc"),
    "ours-irc-sqlite": ServerSpec("ours", "irc", store="sqlite"),
    # Not in the default run: the asyncio baseline writing each received chunk's lines at once.
    "asyncio-coalesce": ServerSpec("asyncio", "plain", ("--coalesce",), key="asyncio-coalesce"),
    # Debian's ngircd (C), started on a private port with its own config (see ngircd_command); fan-out and
    # latency only. Skipped with a message when not installed.
    "ngircd": ServerSpec("ngircd", "irc"),
}


def export_rev(rev: str) -> tuple[Path, str]:
    """``git archive REV`` of this checkout into a temporary directory (removed at exit): the tree and the
    short commit id."""
    short = subprocess.run(
        ["git", "rev-parse", "--short", f"{rev}^{{commit}}"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.strip()
    tree = Path(tempfile.mkdtemp(prefix=f"lanchat-{short}-"))
    atexit.register(shutil.rmtree, tree, True)
    archive = subprocess.Popen(["git", "archive", short], cwd=ROOT, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(tree)], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait():
        raise RuntimeError(f"git archive {short} failed")
    return tree, short
