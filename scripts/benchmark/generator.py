"""One load-generator process: a selector loop over its share of the clients, sending and timing."""

from __future__ import annotations

import array
import contextlib
import errno
import os
import selectors
import signal
import socket
import time

from benchmark.protocol import (
    CLOSED,
    CONNECTING,
    FAILED,
    HOST,
    IRC_MARK,
    IRC_RE,
    IRC_ROOM,
    NATIVE_MARK,
    NATIVE_RE,
    NS,
    PLAIN_MARK,
    PLAIN_RE,
    READ,
    READY,
    REGISTERING,
    SETTING_UP,
    UPGRADING,
    WRITE,
    Peer,
)
from benchmark.receive import Reader
from benchmark.system import cpu_seconds, pin
from benchmark.wsframes import frame, upgrade_request


class Worker(Reader):
    """One generator process: a selector loop over its share of the clients."""

    def __init__(self, ctrl, cfg: dict) -> None:  # noqa: ANN001
        self.ctrl = ctrl
        self.cfg = cfg
        self.port = cfg["port"]
        self.ws = cfg["proto"] == "ws"  # the native protocol over a WebSocket (the chat page's port)
        self.native = cfg["proto"] in ("native", "ws")
        self.irc = cfg["proto"] == "irc"  # ngircd: NICK/USER, JOIN, PRIVMSG
        self.mark = NATIVE_MARK if self.native else IRC_MARK if self.irc else PLAIN_MARK
        self.marklen = len(self.mark) - 1
        self.line_re = NATIVE_RE if self.native else IRC_RE if self.irc else PLAIN_RE
        pad = b"x" * cfg.get("pad", 0)
        if self.ws:
            self.fmt = b'{"type":"say","text":"m %d %d' + pad + b'"}'  # each one framed (``frame``)
        elif self.native:
            self.fmt = b'{"type":"say","text":"m %d %d' + pad + b'"}\n'
        elif self.irc:
            self.fmt = b"PRIVMSG " + IRC_ROOM + b" :m %d %d" + pad + b"\r\n"
        else:
            self.fmt = b"m %d %d" + pad + b"\n"
        self.batch = cfg.get("batch", 16)
        self.peers = [Peer(spec) for spec in cfg["peers"]]
        self.sel = selectors.DefaultSelector()
        self.sel.register(ctrl.fileno(), READ, None)
        self.ctrl_msgs: list[dict] = []
        self.lat = array.array("q")
        # Several servers (a cluster): latencies of messages from a sender on another server than the receiver's.
        self.node_of = {n.encode(): k for n, k in cfg.get("node_of", {}).items()}
        self.lat_cross = array.array("q")
        # The room-order audit: every auditor must see the room's numbers rising, and the same number must mean
        # the same message to everyone. room seq -> (nick, message seq), merged over this worker's auditors.
        self.room_order = cfg.get("room_order", False)
        self.room_seqs: dict[int, tuple[bytes, int]] = {}
        self.room_conflicts = self.room_ooo = 0
        self.incomplete = sum(1 for p in self.peers if not p.complete)
        self.senders_left = 0
        self.bursting = False
        self.last_progress = 0
        self.cut_off = False
        # Idle clients are not watched by epoll once registered (thousands of them would each wake
        # the generator for every join notice); they are read in a sweep every ``sweep_every`` s.
        self.sweep_every = cfg.get("sweep_every", 0.0)
        self.next_sweep = 0.0
        watch = cfg.get("watch")
        self.watch = None
        if watch:
            self.watch = (b'"text":"' if self.native else b"* ") + watch.encode() + b" left"
        senders = cfg.get("senders", {})
        for p in self.peers:
            if p.audit:
                p.tracks = {
                    n.encode(): [bytearray(c), -1] for n, c in senders.items() if n != p.nick
                }  # nick -> [seen bitmap, highest seq]

    # -- plumbing --
    def hello(self, p: Peer) -> bytes:
        if self.ws:
            return frame(b'{"type":"hello","version":1,"nick":"%s","client":"bench"}' % p.nickb)
        if self.native:
            return b'{"type":"hello","version":1,"nick":"%s","client":"bench"}\n' % p.nickb
        if self.irc:
            return b"NICK %s\r\nUSER %s 0 * :bench\r\n" % (p.nickb, p.nickb)
        return p.nickb + b"\n"

    def poll(self, timeout: float) -> int:
        if self.sweep_every:
            now = time.monotonic()
            if now >= self.next_sweep:
                self.next_sweep = now + self.sweep_every
                self.sweep()
            timeout = min(timeout, max(0.0, self.next_sweep - now))
        events = self.sel.select(timeout)
        for key, ev in events:
            p = key.data
            if p is None:
                self.ctrl_msgs.append(self.ctrl.recv())
                continue
            if ev & READ:
                self.on_read(p)
            if ev & WRITE and p.state != CLOSED and p.state != FAILED:
                self.on_write(p)
        return len(events)

    def sweep(self) -> None:
        """Read what sits below SO_RCVLOWAT (epoll does not report it)."""
        for p in self.peers:
            if p.reads and p.state == READY:
                self.on_read(p)

    def interest(self, p: Peer) -> None:
        want = READ if p.reads else 0
        if p.out or (self.bursting and p.sent < p.sends):
            want |= WRITE
        try:
            if want:
                self.sel.modify(p.sock, want, p)
            else:
                self.sel.unregister(p.sock)
        except (KeyError, ValueError):
            if want:
                self.sel.register(p.sock, want, p)

    def lose(self, p: Peer, now: int, error: str = "") -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(p.sock)
        if p.state in SETTING_UP:
            p.state = FAILED
            p.error = error or "closed during registration"
        else:
            p.state = CLOSED
            p.error = error or "closed by server"
        p.closed_at = now

    def send(self, p: Peer, data: bytes) -> int | None:
        """Bytes the kernel took (0 while it is full); None if the peer is lost."""
        try:
            return p.sock.send(data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:
            self.lose(p, time.monotonic_ns(), f"send: {exc}")
            return None

    def push(self, p: Peer, data: bytes) -> None:
        if p.out:
            p.out += data
            return
        n = self.send(p, data)
        if n is None:
            return
        if n < len(data):
            p.out = data[n:]
            self.interest(p)

    # -- events --
    def on_write(self, p: Peer) -> None:
        if p.state == CONNECTING:
            err = p.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.lose(p, time.monotonic_ns(), f"connect: {os.strerror(err)}")
                return
            self.sel.modify(p.sock, READ, p)
            if self.ws:
                p.state = UPGRADING
                self.push(p, upgrade_request(HOST, p.port or self.port))
                return
            p.state = REGISTERING
            self.push(p, self.hello(p))
            return
        if p.out:
            n = self.send(p, p.out)
            if n is None:
                return
            p.out = p.out[n:]
            if p.out:
                return
        if self.bursting and p.sent < p.sends:
            k = min(self.batch, p.sends - p.sent)
            t = time.monotonic_ns()
            fmt = self.fmt
            if self.ws:
                data = b"".join([frame(fmt % (s, t)) for s in range(p.sent, p.sent + k)])
            else:
                data = b"".join([fmt % (s, t) for s in range(p.sent, p.sent + k)])
            p.sent += k
            if p.sent >= p.sends:
                self.senders_left -= 1
            n = self.send(p, data)
            if n is None:
                return
            if n < len(data):
                p.out = data[n:]
                return
        if not p.out and not (self.bursting and p.sent < p.sends):
            self.interest(p)

    # -- phases --
    def setup(self, deadline: float) -> None:
        """Connect and register every peer (at most ``concurrency`` at a time)."""
        todo = list(reversed(self.peers))
        concurrency = self.cfg.get("concurrency", 64)
        inflight = 0
        while time.monotonic() < deadline:
            inflight = sum(1 for p in self.peers if p.state in SETTING_UP and p.sock is not None)
            while todo and inflight < concurrency:
                p = todo.pop()
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                p.sock = s
                err = s.connect_ex((HOST, p.port or self.port))
                if err not in (0, errno.EINPROGRESS):
                    p.state = FAILED
                    p.error = f"connect: {os.strerror(err)}"
                    continue
                self.sel.register(s, WRITE, p)
                inflight += 1
            if not todo and not inflight:
                return
            self.poll(0.05)
        for p in self.peers:
            if p.state in SETTING_UP:
                self.lose(p, time.monotonic_ns(), "registration timed out")

    def run(self, t_go: int, deadline_ns: int) -> None:
        """Send (burst or on a schedule) and receive until everything arrived or nothing moves."""
        cfg = self.cfg
        idle_ns = int(cfg.get("idle_timeout", 3.0) * NS)
        while time.monotonic_ns() < t_go:
            self.poll(max(0.0, (t_go - time.monotonic_ns()) / NS))
        self.last_progress = time.monotonic_ns()
        schedule: list[tuple[int, Peer]] = []
        lowat = cfg.get("lowat", 0)
        if cfg["mode"] == "burst":
            self.bursting = True
            for p in self.peers:
                if lowat and p.reads and p.state == READY:
                    # Wake for a few KiB at a time, not for every line: the generator must not be the bottleneck.
                    p.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, lowat)
                if p.sends and p.state == READY:
                    self.senders_left += 1
                    self.interest(p)
        else:
            period = NS / cfg["rate"]
            nsend = cfg["nsenders"]
            for p in self.peers:
                if p.sends and p.state == READY:
                    schedule.extend((t_go + int((p.gidx + i * nsend) * period), p) for i in range(p.sends))
            schedule.sort(key=lambda e: e[0])
        si = 0
        fmt = self.fmt
        while True:
            now = time.monotonic_ns()
            while si < len(schedule) and schedule[si][0] <= now:
                p = schedule[si][1]
                si += 1
                if p.state == READY:
                    line = fmt % (p.sent, time.monotonic_ns())
                    self.push(p, frame(line) if self.ws else line)
                    p.sent += 1
            sending = self.senders_left > 0 or si < len(schedule) or any(p.out for p in self.peers if p.sends)
            if not sending:
                if self.incomplete <= 0:
                    break
                if now - self.last_progress > idle_ns:
                    break
            if now > deadline_ns:
                self.cut_off = True
                break
            timeout = 0.05
            if si < len(schedule):
                timeout = min(timeout, max(0.0, (schedule[si][0] - now) / NS))
            if not self.poll(timeout) and lowat:
                self.sweep()
        self.bursting = False

    def drain(self, timeout: float) -> None:
        """Keep reading (the server may be shutting down) until told to close."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(m.get("cmd") == "close" for m in self.ctrl_msgs):
                return
            self.poll(0.05)

    def close(self) -> None:
        linger = socket.SO_LINGER
        for p in self.peers:
            if p.sock is not None:
                with contextlib.suppress(OSError):
                    p.sock.setsockopt(socket.SOL_SOCKET, linger, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                p.sock.close()


def worker_main(ctrl, cfg: dict) -> None:  # noqa: ANN001
    """Entry point of one load-generator process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides when we stop
    pin(cfg.get("cpus"))
    w = Worker(ctrl, cfg)
    try:
        t0 = time.monotonic()
        setup_at = time.monotonic_ns()
        w.setup(t0 + cfg.get("setup_timeout", 30.0))
        failed = [(p.nick, p.error) for p in w.peers if p.state == FAILED]
        ready_at = sorted(p.ready_at for p in w.peers if p.state == READY)
        ctrl.send(
            {
                "ready": len(ready_at),
                "failed": failed[:5],
                "nfailed": len(failed),
                # When each welcome arrived, and when this process began connecting: the register workload's rates.
                "ready_at": ready_at if cfg.get("ready_times") else None,
                "setup_at": setup_at,
            }
        )
        while True:
            while not w.ctrl_msgs:
                w.poll(0.1)
            msg = w.ctrl_msgs.pop(0)
            cmd = msg["cmd"]
            if cmd == "go":
                cpu0 = cpu_seconds()
                w.run(msg["t_go"], msg["deadline"])
                res = w.results(msg["t_go"])
                res["cpu"] = cpu_seconds() - cpu0
                ctrl.send(res)
            elif cmd == "check":
                ctrl.send({"alive": sum(1 for p in w.peers if p.state == READY)})
            elif cmd == "drain":
                w.drain(msg.get("timeout", 5.0))
            elif cmd == "close":
                return
    finally:
        w.close()


# ----------------------------------------------------------------------------
# Servers
# ----------------------------------------------------------------------------
