"""Real processes and real sockets on loopback, with deadlines instead of sleeps."""

from __future__ import annotations

import json
import os
import pwd
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import forkserver

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"listening on (\S+):(\d+)")
IRC_READY = re.compile(r"IRC clients: (ircs?)://\S+:(\d+)")
WEB_READY = re.compile(r"chat page for browsers: (https?)://(\S+):(\d+)/")
TIMEOUT = 10.0


REAL_HOME = pwd.getpwuid(os.getuid()).pw_dir
_HOME: Path | None = None


def private_home() -> dict[str, str]:
    """HOME and the XDG directories, all inside one temporary directory for the test run."""
    global _HOME
    if _HOME is None:
        _HOME = Path(tempfile.mkdtemp(prefix="lanchat-test-home-"))
    dirs = {"XDG_CONFIG_HOME": "config", "XDG_STATE_HOME": "state", "XDG_DATA_HOME": "data", "XDG_CACHE_HOME": "cache"}
    return {"HOME": str(_HOME), **{name: str(_HOME / sub) for name, sub in dirs.items()}}


def python_env() -> dict[str, str]:
    """The environment for a program a test starts: this checkout first, a private home."""
    env = dict(os.environ)
    if env.get("HOME") in (None, REAL_HOME):  # (conftest set a private one; a test may set its own)
        env.update(private_home())
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    # Cache bytecode (in __pycache__, which git ignores) even where the shell says not to:
    # compiling chatserver's modules afresh costs each program a test starts ~0.2 s of CPU.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("NO_COLOR", None)
    return env


def program(name: str) -> list[str]:
    """Command for ``chatserver``/``chatclient`` run from this checkout."""
    return [sys.executable, "-m", name]


class ServerProcess:
    """A ``chatserver`` subprocess on an ephemeral loopback port."""

    def __init__(self, *args: str, preexec_fn: Callable[[], None] | None = None) -> None:
        # Nothing kept between tests unless a test names its store (or a Redis: --cluster).
        named = any(a in ("--store", "--cluster") or a.startswith(("--store=", "--cluster=")) for a in args)
        named = named or bool(os.environ.get("CHATSERVER_CLUSTER"))
        # Reverse and ack servers keep nothing and serve no page (and refuse flags asking for them).
        chat = not any(f"{a} {b}" in ("--mode reverse", "--mode ack") for a, b in zip(args, args[1:], strict=False))
        store = () if named or not chat else ("--store", "memory")
        # The chat page on a free port too (never the default 5080 two servers would share).
        web_flag = any(a in ("--no-web", "--web-port") or a.startswith("--web-port=") for a in args)
        web = () if web_flag or not chat else ("--web-port", "0")
        # The IRC port on a free port too (never the default 6667), unless the test names one.
        irc_flag = any(a in ("--no-irc", "--irc-port") or a.startswith("--irc-port=") for a in args)
        irc = () if irc_flag or not chat else ("--irc-port", "0")
        argv = ["--host", "127.0.0.1", "--port", "0", *store, *web, *irc, *args]
        self.proc: subprocess.Popen | forkserver.Forked
        if preexec_fn is None:  # forked from a process that imported chatserver already: forkserver.py
            self.proc = forkserver.popen("chatserver", argv, python_env())
        else:
            self.proc = subprocess.Popen(
                [*program("chatserver"), *argv],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=python_env(),
                preexec_fn=preexec_fn,  # (in the server's process before it starts: a resource limit, say)
            )
        line = self._readline(TIMEOUT)
        match = READY.search(line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line!r} {self.proc.stderr.read()}")
        self.host, self.port = "127.0.0.1", int(match.group(2))
        self.ready_line = line
        #: The chat page's port (the line after the ready line), or None with --no-web.
        self.web_port: int | None = None
        self.web_scheme = "http"
        if "--no-web" not in args and chat:
            web_line = self._readline(TIMEOUT)
            web_match = WEB_READY.search(web_line)
            if not web_match:
                self.proc.kill()
                raise RuntimeError(f"no chat page address after the ready line: {web_line!r}")
            self.web_scheme, self.web_port = web_match.group(1), int(web_match.group(3))
        self._irc: re.Match[str] | None = None  # the IRC line, once read (``irc_port``)
        #: The test stopped it (``stop``): how it stopped is the test's to check.
        self.stopped = False
        # Read stderr all along: a full pipe would block the server's logging.
        self._stderr: list[str] = []
        self._drain = threading.Thread(target=lambda: self._stderr.extend(self.proc.stderr), daemon=True)
        self._drain.start()

    def read_start_line(self, pattern: re.Pattern[str], timeout: float = TIMEOUT) -> re.Match[str]:
        """The next start line (stdout, after the ready line) that matches ``pattern``."""
        deadline = time.monotonic() + timeout
        seen = []
        while (remaining := deadline - time.monotonic()) > 0:
            line = self._readline(remaining)
            if not line:
                break
            seen.append(line)
            if match := pattern.search(line):
                return match
        raise RuntimeError(f"no start line matching {pattern.pattern!r}; saw {seen!r}")

    def _readline(self, timeout: float) -> str:
        """One line of stdout, or "" after ``timeout``. Not select() on the pipe:
        the line may already sit in the reader's buffer, read with the one before."""
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        return line[0] if line else ""

    @property
    def irc_port(self) -> int:
        """The IRC port: its start line (after the notes) is read when first asked for."""
        if self._irc is None:
            self._irc = self.read_start_line(IRC_READY)
        return int(self._irc.group(2))

    @property
    def irc_scheme(self) -> str:
        self.irc_port  # noqa: B018 - (reads the line)
        assert self._irc is not None
        return self._irc.group(1)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def web_url(self) -> str:
        """The chat page's address, as a browser opens it."""
        return f"{self.web_scheme}://{self.host}:{self.web_port}/"

    def connection_threads(self) -> int:
        """How many of the server's threads serve an accepted connection (from its stack dump)."""
        dump = self.stacks()
        return sum(1 for block in dump.split("\n\n") if re.search(r'net/listener\.py", line \d+ in run$', block, re.M))

    def stacks(self, timeout: float = TIMEOUT) -> str:
        """Every thread's stack, as the server prints it on SIGUSR1 (for a failing test's message)."""
        seen = len(self._stderr)
        self.proc.send_signal(signal.SIGUSR1)
        # The main thread ("Current thread") comes last, and runpy's run_module is among its outermost frames.
        wait_for(lambda: "Current thread" in (dump := "".join(self._stderr[seen:])) and "run_module" in dump, timeout)
        return "".join(self._stderr[seen:])

    def stop(self, sig: int | None = signal.SIGTERM, timeout: float = TIMEOUT) -> tuple[int, str]:
        """Signal the server (``sig`` None: it was signalled already) and return (exit code, stderr)."""
        self.stopped = True
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stacks = self.stacks(timeout=3)  # where it hangs, before it is killed
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the server did not stop within {timeout:g} s; its threads:\n{stacks}") from None
        self._drain.join(timeout)
        return self.proc.returncode, "".join(self._stderr)


CLUSTER_LINE = re.compile(r"chat is kept in Redis at (\S+) \(cluster (\S+), node (\S+)\)")


class ClusterNode(ServerProcess):
    """A ``chatserver --cluster URL`` node: no chat page, a 1 s heartbeat (a
    dead node's leases lapse in about 3 s), no rate limit unless ``args`` say."""

    def __init__(self, redis_url: str, *args: str, heartbeat: float = 1) -> None:
        rate = () if any(a.startswith("--rate-limit") for a in args) else ("--rate-limit", "0")
        super().__init__("--cluster", redis_url, "--no-web", "--cluster-heartbeat", f"{heartbeat:g}", *rate, *args)
        try:
            match = self.read_start_line(CLUSTER_LINE)
        except RuntimeError:
            self.proc.kill()
            raise
        #: The address the node printed (with any password left out, one hopes), the
        #: cluster id shared through Redis, and this node's own id.
        self.redis_shown, self.cluster_id, self.node_id = match.groups()

    def kill(self) -> None:
        """SIGKILL: the node ends without a word to Redis or its clients (a crashed machine)."""
        kill_quietly(self.proc)

    def log(self) -> str:
        """What the node logged so far (stderr)."""
        return "".join(self._stderr)


def start_cluster(redis_url: str, count: int, *args: str, heartbeat: float = 1) -> list[ClusterNode]:
    """``count`` nodes on one Redis, each on its own ephemeral chat port."""
    nodes: list[ClusterNode] = []
    try:
        for _ in range(count):
            nodes.append(ClusterNode(redis_url, *args, heartbeat=heartbeat))
    except BaseException:
        for node in nodes:
            node.kill()
        raise
    return nodes


class LineSocket:
    """A raw TCP client reading newline-terminated lines with deadlines."""

    def __init__(self, port: int, host: str = "127.0.0.1", rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if rcvbuf:  # before connect, so the advertised window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect((host, port))
        self.buf = b""
        self.lines: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> bool:
        """Read once; False at EOF."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data before the deadline")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise TimeoutError("no data before the deadline") from None
        except ConnectionResetError:
            data = b""
        if not data:
            return False
        self.buf += data
        *done, self.buf = self.buf.split(b"\n")
        self.lines.extend(line.rstrip(b"\r") for line in done)
        return True

    def read_line(self, timeout: float = TIMEOUT) -> bytes:
        deadline = time.monotonic() + timeout
        while not self.lines:
            if not self._fill(deadline):
                raise EOFError("connection closed")
        return self.lines.pop(0)

    def expect_line(self, pred: Callable[[bytes], bool], timeout: float = TIMEOUT) -> list[bytes]:
        """Read until a line matches; returns every line read, the match last."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(max(0.01, deadline - time.monotonic()))
            seen.append(line)
            if pred(line):
                return seen

    def read_until_closed(self, timeout: float = TIMEOUT) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while self._fill(deadline):
            pass
        out, self.lines = self.lines, []
        return out

    def close(self) -> None:
        self.sock.close()


class NativeClient(LineSocket):
    """Speaks the JSON protocol directly, to test the server without our client."""

    def __init__(self, port: int, nick: str | None = None, **kw) -> None:
        super().__init__(port, **kw)
        self.welcome: dict | None = None
        if nick is not None:
            self.send_json({"type": "hello", "version": 1, "nick": nick})
            self.welcome = self.expect(lambda f: f["type"] in ("welcome", "error"))
            if self.welcome["type"] == "error":
                raise RuntimeError(self.welcome)

    def send_json(self, obj: dict) -> None:
        self.send(json.dumps(obj).encode() + b"\n")

    def say(self, text: str) -> None:
        self.send_json({"type": "say", "text": text})

    def frame(self, timeout: float = TIMEOUT) -> dict:
        return json.loads(self.read_line(timeout))

    def expect(self, pred: Callable[[dict], bool], timeout: float = TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            f = self.frame(max(0.01, deadline - time.monotonic()))
            if pred(f):
                return f

    def messages(self, count: int, timeout: float = TIMEOUT, replayed: bool = False) -> list[dict]:
        """The next ``count`` live chat messages (other frames, and history
        replayed on joining unless ``replayed``, skipped)."""
        out: list[dict] = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            f = self.frame(max(0.01, deadline - time.monotonic()))
            if f["type"] == "message" and (replayed or "replay" not in f):
                out.append(f)
        return out


def hello(port: int, **fields) -> NativeClient:
    """A native client that has sent ``hello`` with ``fields`` (a resume, say) and read nothing yet."""
    client = NativeClient(port)
    client.send_json({"type": "hello", "version": 1, **fields})
    return client


#: The password of the accounts the tests make (``register``).
PASSWORD = "correct horse 1"


class Registered(NamedTuple):
    """An account ``register`` made: its login token, and the client that made it (None: it left)."""

    token: str
    client: NativeClient | None


def register(port: int, nick: str, password: str = PASSWORD, *, stay: bool = False) -> Registered:
    """``nick`` made an account from a native client, which then leaves unless it ``stay``s."""
    client = NativeClient(port, nick)
    client.send_json({"type": "register", "password": password})
    made = client.expect(lambda f: f["type"] in ("loggedin", "error"))
    assert made["type"] == "loggedin", made
    if stay:
        return Registered(made["token"], client)
    client.send_json({"type": "quit"})
    client.read_until_closed()
    return Registered(made["token"], None)


def stop_cleanly(server: ServerProcess, forbidden: tuple[str, ...] = ("Traceback",)) -> list[str]:
    """Stop ``server`` if it still runs, and what was wrong with how it stopped (or ended by itself):
    an exit code but 0, one of the ``forbidden`` words in its log. A server the test stopped
    (``stop``) or killed itself is the test's business: nothing is said of it."""
    if server.stopped or (server.proc.poll() or 0) < 0:
        return []
    code, err = server.stop()  # (one that ended by itself: its exit code and log)
    problems = [f"server {server.address} exited {code}"] if code != 0 else []
    problems += [f"{word!r} in the log of server {server.address}" for word in forbidden if word in err]
    return [f"{problem}:\n{err[-3000:]}" for problem in problems]


def frames_until(client: NativeClient, pred: Callable[[dict], bool], timeout: float = TIMEOUT) -> list[dict]:
    """Every frame read up to and including the first that matches ``pred``."""
    deadline = time.monotonic() + timeout
    out = [client.frame(timeout)]
    while not pred(out[-1]):
        out.append(client.frame(max(0.01, deadline - time.monotonic())))
    return out


def ask_who(client: NativeClient) -> dict:
    """``/who``: the ``users`` frame (frames before it are skipped)."""
    client.send_json({"type": "who"})
    return client.expect(lambda f: f["type"] == "users")


def ask_history(client: NativeClient, count: int = 1000) -> list[dict]:
    """``/history COUNT`` of the focused room: its messages, oldest first."""
    client.send_json({"type": "history", "count": count})
    head = client.expect(lambda f: f["type"] == "notice" and f.get("event") == "history")
    found = re.search(r"the last (\d+) message", head["text"])
    assert found, head
    out: list[dict] = []
    while len(out) < int(found.group(1)):
        f = client.frame()
        if f["type"] == "message" and f.get("replay") == "history":
            out.append(f)
    return out


class PlainClient(LineSocket):
    """An nc-style client: first line is the nickname."""

    def __init__(self, port: int, nick: str, **kw) -> None:
        super().__init__(port, **kw)
        self.send(nick.encode() + b"\n")
        self.welcome = self.expect_line(lambda line: line.startswith((b"* welcome", b"* error")))[-1]

    def text(self, timeout: float = TIMEOUT) -> str:
        return self.read_line(timeout).decode()


def wait_for(pred: Callable[[], bool], timeout: float = TIMEOUT, interval: float = 0.02) -> bool:
    """Poll ``pred`` until true or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def client_process(address: str, *args: str, stdin=subprocess.PIPE) -> subprocess.Popen | forkserver.Forked:
    """``chatclient ADDRESS ARGS`` running, stdout and stderr piped (forked as ``forkserver.py`` says)."""
    return forkserver.popen("chatclient", [address, *args], python_env(), stdin=stdin)


def run_client(address: str, *args: str, input: str | None = None, timeout: float = 20) -> subprocess.CompletedProcess:
    """``chatclient ADDRESS ARGS`` to its end (line mode: no terminal), output captured."""
    return forkserver.run("chatclient", [address, *args], python_env(), input=input, timeout=timeout)


def send_once(address: str, text: str, *extra: str) -> subprocess.CompletedProcess:
    """``chatclient ADDRESS --send TEXT``."""
    return run_client(address, "--send", text, *extra)


def kill_quietly(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


class Proxy:
    """A TCP relay on 127.0.0.1 that a test can cut, to break a client's link
    without touching the server (as flaky Wi-Fi or a sleeping laptop would)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.accepted = 0
        self._lock = threading.Lock()
        self._holding = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self._holding.is_set():  # "the network is down": refuse at once
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self.pairs.append((client, upstream))
                self.accepted += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def cut_client_side(self, hold: bool = True) -> None:
        """Reset the client side of every link; the server side stays open and
        silent (half-open, as after a dropped Wi-Fi). With ``hold``, refuse new
        links until ``release``."""
        if hold:
            self._holding.set()
        with self._lock:
            pairs, self.pairs = self.pairs, []
        for client, _ in pairs:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.shutdown(socket.SHUT_RD)  # wakes the relay thread blocked in recv
            client.close()
        self._stale = [upstream for _, upstream in pairs]

    def release(self) -> None:
        self._holding.clear()

    def close(self) -> None:
        self.listener.close()
        with self._lock:
            for a, b in self.pairs:
                a.close()
                b.close()


def tcp_sockets(pid: int) -> int:
    """How many TCP sockets (listening or connected) a process holds open, from /proc (a socketpair
    or other Unix socket is not one)."""
    tcp = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                tcp.update(line.split()[9] for line in list(f)[1:])
        except FileNotFoundError:
            pass
    held = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # (closed meanwhile)
            continue
        if target.startswith("socket:[") and target[8:-1] in tcp:
            held += 1
    return held


def proc_counts(pid: int) -> tuple[int, int]:
    """(threads, open fds) of a process, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        threads = next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
    return threads, len(os.listdir(f"/proc/{pid}/fd"))


class Member:
    """A hub participant in the test's own process that records what it is given."""

    account: str | None = None  # (a guest)

    def __init__(self, nick: str, wire: str | None = "native") -> None:
        self.nick, self.wire = nick, wire
        self.away, self.op, self.is_host, self.token, self.replaced = "", False, False, "", False
        self.room, self.address = "", "test"
        self.data = b""
        self.frames: list = []
        self.full = False
        self.kicked: str | None = None

    def deliver(self, frame) -> None:  # noqa: ANN001
        self.frames.append(frame.msg)

    def deliver_bytes(self, data: bytes) -> None:
        self.data += data

    def wait_room(self, timeout: float) -> None:
        pass

    def notice(self, text: str, event: str = "info") -> None:
        self.frames.append(("notice", event, text))

    def kick(self, reason: str) -> None:
        self.kicked = reason


def client_env(tmp_path: Path) -> dict[str, str]:
    """A client's environment whose state and config directories are ``tmp_path``'s (its
    known servers, trusted certificates and remembered logins stay in the test)."""
    env = python_env()
    env.update(TERM="xterm", XDG_STATE_HOME=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    return env


def logins_file(tmp_path: Path) -> Path:
    """Where a client run with ``client_env(tmp_path)`` keeps its login tokens."""
    return tmp_path / "state" / "chatclient" / "logins"


def kept_logins(tmp_path: Path) -> dict:
    """The login tokens that client keeps, by server address ({} when none)."""
    path = logins_file(tmp_path)
    return json.loads(path.read_text()) if path.exists() else {}


class ManualClock:
    """A clock a test moves by hand (``clock.now += 60``), for logic that takes one."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
