#!/usr/bin/env python3
"""Benchmark chatserver against two reference servers, on 127.0.0.1 only.

    python scripts/bench.py                 # the full run (about 15 minutes on 2 cores), prints one table
    python scripts/bench.py --json out.json # the same, plus every number as JSON
    python scripts/bench.py --quick         # a small smoke run (about 30 s); exit 1 on any loss

Servers: ours (``python -m chatserver``) measured in both its native JSON
protocol and its plain-line mode, and two baselines under scripts/baselines/
that speak the plain-line protocol: a naive thread-per-connection server and
an asyncio server. Each run starts the server as a subprocess, pinned to its
own core where there are two or more, and stops it afterwards.

Workloads (see docs/performance.md for what the numbers mean):

* fanout  -- N clients in one room each send M messages as fast as TCP allows
             (``--batch`` lines per send); deliveries/s, latency, loss, dups,
             out-of-order. M is chosen so a run is about ``--deliveries``
             deliveries, unless ``--messages`` is given.
* latency -- N=50, 500 messages/s in total for 5 s: p50/p99/max.
* idle    -- 1,000 and 5,000 registered idle connections: held, RSS each, threads.
* slow    -- N=20 at 1,000 messages/s, without and with one client that never
             reads: the others' deliveries/s and p99, when the stuck one is dropped.
* pty     -- a real chatclient in a pseudo-terminal receiving 2,000 messages/s
             for 5 s: all shown? typed-key echo time.
* store   -- chatserver with its SQLite store (``--store FILE``, a new file per
             run) against the same with ``--store memory``: fan-out N=50 and
             latency at 500 msg/s into 50, ratios within the run; and the time
             from process start to the ready line with a store of 1,000,000
             messages (made by a real server, then filled with sqlite3).
* cluster -- (scripts/bench_cluster.py) two ``chatserver --cluster`` nodes on a
             real redis-server of the bench's own, the N=50 clients split
             25/25, against the plain server and one node alone: fan-out
             deliveries/s with ratios, cross-node latency at 500 msg/s, Redis's
             CPU beside the nodes', the commands Redis ran per message, and an
             audit of the room's numbering. Skipped (with a message) when no
             redis-server can be found, unless the environment has CI set.

Every chatserver the bench starts gets ``--store memory`` unless it measures the
store, and every process it starts a temporary HOME and XDG directories.

Every message's text is ``m SEQ T_NS`` (plus padding in the slow workload):
receivers count deliveries in bulk (occurrences of a marker per recv chunk)
and a few "auditor" receivers parse every line for per-sender loss,
duplicates, order and latency. Timestamps are CLOCK_MONOTONIC, shared by all
processes. The load generator runs in ``--workers`` processes. Fan-out,
latency and slow-consumer cases run ``--repeat`` times (interleaved across
servers) and the median is reported.
"""

from __future__ import annotations

import argparse
import array
import atexit
import contextlib
import errno
import json
import math
import multiprocessing
import os
import platform
import random
import re
import resource
import selectors
import shutil
import signal
import site
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

if __name__ == "__main__":  # scripts/bench_cluster.py imports this script as ``bench``: one module, one state
    sys.modules.setdefault("bench", sys.modules[__name__])

ROOT = Path(__file__).resolve().parent.parent
BASELINES = Path(__file__).resolve().parent / "baselines"
HOST = "127.0.0.1"
NS = 1_000_000_000

PLAIN_MARK = b": m "
NATIVE_MARK = b'"text":"m '
PLAIN_RE = re.compile(rb"^([^\s:]+): m (\d+) (\d+)", re.M)
# IRC (ngircd): ":nick!user@host PRIVMSG #lobby :m SEQ T".
IRC_ROOM = b"#lobby"
IRC_MARK = b" " + IRC_ROOM + b" :m "
IRC_RE = re.compile(rb"^:([^!\s]+)!\S* PRIVMSG " + IRC_ROOM + rb" :m (\d+) (\d+)", re.M)
# Either field order: groups 1-3 when "nick" comes first, 4-6 when "text" does.
NATIVE_RE = re.compile(rb'"nick":"([^"]+)"[^\n]*?"text":"m (\d+) (\d+)|"text":"m (\d+) (\d+)[^\n]*?"nick":"([^"]+)"')
# With the room's own number (the room-order audit): a message frame's fields in the order the server writes them.
NATIVE_SEQ_RE = re.compile(rb'"seq":(\d+),[^\n]*?"nick":"([^"]+)","text":"m (\d+) (\d+)')

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE

# Peer states in the generator.
CONNECTING, REGISTERING, READY, CLOSED, FAILED = range(5)


# ----------------------------------------------------------------------------
# Load generator (runs in worker processes)
# ----------------------------------------------------------------------------


class Peer:
    __slots__ = (
        "nick",
        "nickb",
        "sends",
        "gidx",
        "audit",
        "reads",
        "sock",
        "state",
        "rbuf",
        "count",
        "carry",
        "out",
        "sent",
        "expected",
        "complete",
        "t_last",
        "closed_at",
        "error",
        "tracks",
        "dup",
        "ooo",
        "unknown",
        "watch_at",
        "node",
        "port",
        "room_last",
    )

    def __init__(self, spec: dict) -> None:
        self.nick = spec["nick"]
        self.nickb = self.nick.encode()
        self.sends = spec.get("sends", 0)  # messages this peer sends
        self.gidx = spec.get("gidx", -1)  # its index among all senders (rate schedule)
        self.audit = spec.get("audit", False)
        self.reads = spec.get("reads", True)
        self.expected = spec.get("expected", 0)
        self.sock: socket.socket | None = None
        self.state = CONNECTING
        self.rbuf = b""
        self.count = 0
        self.carry = b""
        self.out = b""
        self.sent = 0
        self.complete = self.expected == 0 or not self.reads
        self.t_last = 0
        self.closed_at = 0
        self.error = ""
        self.tracks: dict[bytes, list] | None = None
        self.dup = self.ooo = self.unknown = 0
        self.watch_at = 0
        self.node = spec.get("node", 0)  # which server it is connected to (several: a cluster)
        self.port = spec.get("port", 0)  # that server's port (0: the worker's)
        self.room_last = 0  # the highest room seq this auditor has seen (room-order audit)


class Worker:
    """One generator process: a selector loop over its share of the clients."""

    def __init__(self, ctrl, cfg: dict) -> None:  # noqa: ANN001
        self.ctrl = ctrl
        self.cfg = cfg
        self.port = cfg["port"]
        self.native = cfg["proto"] == "native"
        self.irc = cfg["proto"] == "irc"  # ngircd: NICK/USER, JOIN, PRIVMSG
        self.mark = NATIVE_MARK if self.native else IRC_MARK if self.irc else PLAIN_MARK
        self.marklen = len(self.mark) - 1
        self.line_re = NATIVE_RE if self.native else IRC_RE if self.irc else PLAIN_RE
        pad = b"x" * cfg.get("pad", 0)
        if self.native:
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
        if p.state in (CONNECTING, REGISTERING):
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
            p.state = REGISTERING
            self.sel.modify(p.sock, READ, p)
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

    def on_read(self, p: Peer) -> None:
        try:
            data = p.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.lose(p, time.monotonic_ns(), f"recv: {exc}")
            return
        now = time.monotonic_ns()
        if not data:
            self.lose(p, now)
            return
        if p.state == REGISTERING:
            buf = p.rbuf + data
            while True:
                nl = buf.find(b"\n")
                if nl < 0:
                    p.rbuf = buf[-65536:]
                    return
                line, buf = buf[:nl], buf[nl + 1 :]
                if self.native:
                    if b'"type":"welcome"' in line:
                        break
                    if b'"type":"error"' in line:
                        self.lose(p, now, "refused: " + line.decode(errors="replace")[:200])
                        return
                elif self.irc:  # registered (001): join; in the room at the end of its names (366)
                    code = line.split(b" ", 2)[1:2]
                    if code == [b"001"]:
                        self.push(p, b"JOIN " + IRC_ROOM + b"\r\n")
                    elif code == [b"366"]:
                        break
                    elif line.startswith(b"ERROR") or (code and code[0][:1] in b"45" and code[0].isdigit()):
                        self.lose(p, now, "refused: " + line.decode(errors="replace")[:200])
                        return
                    elif line.startswith(b"PING "):
                        self.push(p, b"PONG " + line[5:] + b"\n")
                else:
                    if line.startswith(b"* welcome"):
                        break
                    if line.startswith(b"* error"):
                        self.lose(p, now, "refused: " + line.decode(errors="replace")[:200])
                        return
            p.state = READY
            p.rbuf = b""
            if not p.reads or self.sweep_every:
                with contextlib.suppress(KeyError, ValueError):
                    self.sel.unregister(p.sock)
            if not buf:
                return
            data = buf
        if self.native and b'"type":"ping"' in data:
            self.pong(p, data)
        elif self.irc and (data.startswith(b"PING ") or b"\nPING " in data):
            for token in re.findall(rb"(?:^|\n)PING ([^\r\n]*)", data):
                self.push(p, b"PONG " + token + b"\r\n")
        if p.audit:
            self.audit(p, data, now)
            return
        n = data.count(self.mark)
        if p.carry:
            n += (p.carry + data[: self.marklen]).count(self.mark)
        p.carry = data[-self.marklen :]
        if n:
            p.count += n
            p.t_last = now
            self.last_progress = now
            if not p.complete and p.count >= p.expected:
                p.complete = True
                self.incomplete -= 1

    def pong(self, p: Peer, data: bytes) -> None:
        """Answer the server's keepalive pings, as a real client would (native protocol only)."""
        for token in re.findall(rb'"type":"ping","token":("(?:[^"\\]|\\.)*"|[^,}]*)', data):
            self.push(p, b'{"type":"pong","token":%s}\n' % token)

    def audit(self, p: Peer, data: bytes, now: int) -> None:
        buf = p.rbuf + data if p.rbuf else data
        end = buf.rfind(b"\n") + 1
        p.rbuf = buf[end:]
        if not end:
            return
        tracks = p.tracks
        lat = self.lat
        got = 0
        nodes = self.node_of
        if self.room_order:
            found = NATIVE_SEQ_RE.findall(buf, 0, end)
        else:
            found = self.line_re.findall(buf, 0, end)
            if self.native:
                found = [(b"", a or f, b or d, c or e) for a, b, c, d, e, f in found]
            else:
                found = [(b"", *f) for f in found]
        for room_seq, nick, seq, ts in found:
            track = tracks.get(nick)
            s = int(seq)
            if room_seq:
                self.check_room_order(p, int(room_seq), nick, s)
            if track is None or s >= len(track[0]):
                p.unknown += 1
                continue
            seen = track[0]
            if seen[s]:
                p.dup += 1
                continue
            seen[s] = 1
            if s < track[1]:
                p.ooo += 1
            else:
                track[1] = s
            got += 1
            lat.append(now - int(ts))
            if room_seq and nodes.get(nick, p.node) != p.node:
                self.lat_cross.append(now - int(ts))
        if self.watch and not p.watch_at and self.watch in buf:
            p.watch_at = now
        if got:
            p.count += got
            p.t_last = now
            self.last_progress = now
            if not p.complete and p.count >= p.expected:
                p.complete = True
                self.incomplete -= 1

    def check_room_order(self, p: Peer, room_seq: int, nick: bytes, s: int) -> None:
        """One order per room: ``p`` sees the room's numbers rise, and a number means one message to all."""
        if room_seq <= p.room_last:
            self.room_ooo += 1
        else:
            p.room_last = room_seq
        known = self.room_seqs.setdefault(room_seq, (nick, s))
        if known != (nick, s):
            self.room_conflicts += 1

    # -- phases --
    def setup(self, deadline: float) -> None:
        """Connect and register every peer (at most ``concurrency`` at a time)."""
        todo = list(reversed(self.peers))
        concurrency = self.cfg.get("concurrency", 64)
        inflight = 0
        while time.monotonic() < deadline:
            inflight = sum(1 for p in self.peers if p.state in (CONNECTING, REGISTERING) and p.sock is not None)
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
            if p.state in (CONNECTING, REGISTERING):
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
                    self.push(p, fmt % (p.sent, time.monotonic_ns()))
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

    def results(self, t_go: int) -> dict:
        checked = [p for p in self.peers if p.reads and p.state != FAILED]
        loss = dup = ooo = unknown = 0
        for p in checked:
            if p.audit:
                for seen, _ in p.tracks.values():
                    loss += seen.count(0)
                dup += p.dup
                ooo += p.ooo
                unknown += p.unknown
            else:
                loss += max(0, p.expected - p.count)
                dup += max(0, p.count - p.expected)  # more than expected: duplicates (or strays)
        return {
            "delivered": sum(p.count for p in checked),
            "expected": sum(p.expected for p in checked),
            "loss": loss,
            "dup": dup,
            "ooo": ooo,
            "unknown": unknown,
            "sent": sum(p.sent for p in self.peers),
            "t_last": max((p.t_last for p in checked), default=0),
            "closed": [(p.nick, (p.closed_at - t_go) / NS, p.error) for p in self.peers if p.state == CLOSED],
            "watch_at": min(((p.watch_at - t_go) / NS for p in self.peers if p.watch_at), default=None),
            "lat": self.lat.tobytes(),
            "lat_cross": self.lat_cross.tobytes(),
            "room_seqs": {k: (n.decode(), s) for k, (n, s) in self.room_seqs.items()} if self.room_order else None,
            "room_conflicts": self.room_conflicts,
            "room_ooo": self.room_ooo,
            "auditors": sum(1 for p in checked if p.audit),
            "cut_off": self.cut_off,
            "receivers": len(checked),
        }

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


def _pin(cpus: list[int] | None) -> None:
    if cpus and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, cpus)


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def worker_main(ctrl, cfg: dict) -> None:  # noqa: ANN001
    """Entry point of one load-generator process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides when we stop
    _pin(cfg.get("cpus"))
    w = Worker(ctrl, cfg)
    try:
        t0 = time.monotonic()
        w.setup(t0 + cfg.get("setup_timeout", 30.0))
        failed = [(p.nick, p.error) for p in w.peers if p.state == FAILED]
        ctrl.send({"ready": sum(1 for p in w.peers if p.state == READY), "failed": failed[:5], "nfailed": len(failed)})
        while True:
            while not w.ctrl_msgs:
                w.poll(0.1)
            msg = w.ctrl_msgs.pop(0)
            cmd = msg["cmd"]
            if cmd == "go":
                cpu0 = _cpu_seconds()
                w.run(msg["t_go"], msg["deadline"])
                res = w.results(msg["t_go"])
                res["cpu"] = _cpu_seconds() - cpu0
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
        self.proto = proto  # native | plain | irc
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
            if "--no-web" in flags:  # the page is not measured here, and must not hold port 5080
                cmd.append("--no-web")
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
            [sys.executable, "-m", "chatserver", "--help"], capture_output=True, text=True, cwd=root, env=_env(root)
        ).stdout
        _FLAGS[root] = set(re.findall(r"--[a-z][a-z-]+", out))
    return _FLAGS[root]


#: Where chatserver/chatclient are imported from (``--ours-root``; default: this checkout).
OURS_ROOT = [ROOT]


_HOME: list[Path] = []


def bench_home() -> Path:
    """HOME (and XDG directories) of every process the bench starts, never the real one: a
    chatserver started without ``--store`` would keep its chat under ``$XDG_STATE_HOME``.
    Made on first use, removed when the bench exits (store files of the runs live in it too)."""
    if not _HOME:
        _HOME.append(Path(tempfile.mkdtemp(prefix="lanchat-bench-home-")))
        atexit.register(shutil.rmtree, _HOME[0], True)
    return _HOME[0]


def _env(tree: Path | None = None) -> dict:
    env = dict(os.environ)
    root = str(tree or OURS_ROOT[0])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONASYNCIODEBUG", None)
    env.setdefault("PYTHONUSERBASE", site.getuserbase())  # packages installed with --user stay importable
    home = bench_home()
    env["HOME"] = str(home)
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        env[name] = str(home / name.split("_")[1].lower())
    return env


LIVE: set[subprocess.Popen] = set()
LIVE_WORKERS: set = set()


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def proc_sample(pid: int) -> dict:
    """CPU seconds, RSS (KiB) and thread count of ``pid`` from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
    except OSError:
        return {"cpu": 0.0, "sys": 0.0, "rss_kib": 0, "threads": 0}
    tick = os.sysconf("SC_CLK_TCK")
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) if "VmRSS" in status else 0
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
    return {
        "cpu": (int(fields[11]) + int(fields[12])) / tick,
        "sys": int(fields[12]) / tick,
        "rss_kib": rss,
        "threads": threads,
    }


def context_switches(pid: int) -> int:
    """Context switches of every thread of ``pid`` so far (live threads only)."""
    total = 0
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if "ctxt_switches" in line:  # voluntary_ and nonvoluntary_
                        total += int(line.split()[-1])
    return total


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
            env=_env(self.spec.tree),
            preexec_fn=(lambda: _pin(cpus)) if cpus else None,
            start_new_session=True,
        )
        LIVE.add(self.proc)
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, READ)
        buf = b""
        end = time.monotonic() + timeout
        # ngircd logs a few lines before its "Now listening on [127.0.0.1]:PORT"; ours' first line is it.
        while b"\n" not in buf or (self.spec.kind == "ngircd" and b"listening on" not in buf):
            if time.monotonic() > end or not sel.select(max(0.0, end - time.monotonic())):
                raise RuntimeError(f"{self.spec.label}: no 'listening on' line within {timeout} s: {self.errors()}")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"{self.spec.label} exited at start: {self.errors()}")
            buf += chunk
        self.ready_s = time.monotonic() - t0
        sel.close()
        match = re.search(rb"listening on \[?([^\s\]]+)\]?:(\d+)", buf)
        if not match:
            raise RuntimeError(f"{self.spec.label}: unexpected first line {buf!r}")
        self.port = int(match.group(2))
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


NGIRCD_INSTALL = "apt-get install -y ngircd (Debian/Ubuntu, as root)"


def ngircd_binary() -> str | None:
    return shutil.which("ngircd") or next((p for p in ("/usr/sbin/ngircd",) if os.path.exists(p)), None)


def ngircd_command(conns: int) -> tuple[Path, list[str]]:
    """A config of its own for ngircd (a temporary directory, a free loopback port) and the command to run it
    in the foreground. Limits are lifted as its sample ngircd.conf documents: no cap on connections (per IP
    too) or channels, ``MaxPenaltyTime = 0`` (no flood penalties: the load sends as fast as TCP takes it),
    no DNS/ident/PAM lookups at connect, pings far apart."""
    binary = ngircd_binary()
    if not binary:
        raise RuntimeError(f"ngircd is not installed: {NGIRCD_INSTALL}")
    conf_dir = Path(tempfile.mkdtemp(prefix="ngircd-", dir=bench_home()))
    conf_dir.chmod(0o777)  # ngircd started as root runs as nobody: let it write its pid file here
    with socket.socket() as s:  # a free port (ngircd cannot be told port 0)
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    conf = conf_dir / "ngircd.conf"
    conf.write_text(
        "[Global]\n\tName = bench.irc\n\tInfo = lanchat bench\n\tAdminInfo1 = bench\n\tAdminInfo2 = bench\n"
        f"\tAdminEMail = bench@localhost\n\tListen = {HOST}\n\tPorts = {port}\n\tMotdPhrase = bench\n"
        f"\tPidFile = {conf_dir / 'ngircd.pid'}\n"
        "[Limits]\n\tMaxConnections = 0\n\tMaxConnectionsIP = 0\n\tMaxJoins = 0\n\tMaxPenaltyTime = 0\n"
        "\tPingTimeout = 600\n\tPongTimeout = 600\n"
        "[Options]\n\tDNS = no\n\tIdent = no\n\tPAM = no\n"
    )
    return conf_dir, [binary, "--nodaemon", "--config", str(conf)]


# ----------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------


class Ctx:
    """Options shared by every workload."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workers = args.workers
        self.server_cpus, self.gen_cpus = plan_cpus(args)
        self.all_cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        self.mp = multiprocessing.get_context("spawn")


def plan_cpus(args: argparse.Namespace) -> tuple[list[int] | None, list[int] | None]:
    if args.no_pin or not hasattr(os, "sched_getaffinity"):
        return None, None
    avail = sorted(os.sched_getaffinity(0))
    if args.server_cpus or args.gen_cpus:
        parse = lambda s: [int(x) for x in s.split(",")] if s else None  # noqa: E731
        return parse(args.server_cpus), parse(args.gen_cpus)
    if len(avail) < 2:
        return None, None
    return avail[:1], avail[1:]


def percentiles(lat: array.array) -> dict:
    if not lat:
        return {"p50": None, "p99": None, "max": None, "samples": 0}
    s = sorted(lat)
    n = len(s)
    pick = lambda q: s[min(n - 1, math.ceil(q * n) - 1)] / 1e6  # noqa: E731  nearest rank, in ms
    return {"p50": pick(0.50), "p99": pick(0.99), "max": s[-1] / 1e6, "samples": n}


def start_workers(ctx: Ctx, cfgs: list[dict]) -> list[tuple]:
    workers = []
    for cfg in cfgs:
        cfg["cpus"] = ctx.gen_cpus
        parent, child = ctx.mp.Pipe()
        proc = ctx.mp.Process(target=worker_main, args=(child, cfg), daemon=True)
        proc.start()
        LIVE_WORKERS.add(proc)
        child.close()
        workers.append((proc, parent))
    return workers


def recv_all(workers: list[tuple], timeout: float) -> list[dict]:
    out: list[dict | None] = [None] * len(workers)
    end = time.monotonic() + timeout
    while any(o is None for o in out):
        left = end - time.monotonic()
        if left <= 0:
            raise TimeoutError("a load-generator process did not answer in time")
        for i, (proc, conn) in enumerate(workers):
            if out[i] is None and conn.poll(min(0.05, left)):
                out[i] = conn.recv()
            elif out[i] is None and not proc.is_alive():
                raise RuntimeError(f"load-generator process exited with {proc.exitcode}")
    return out  # type: ignore[return-value]


def finish_workers(workers: list[tuple]) -> None:
    for _, conn in workers:
        with contextlib.suppress(OSError, BrokenPipeError):
            conn.send({"cmd": "close"})
    for proc, conn in workers:
        proc.join(3)
        if proc.is_alive():
            proc.kill()
            proc.join(1)
        LIVE_WORKERS.discard(proc)
        conn.close()


def run_load(
    ctx: Ctx,
    spec: ServerSpec,
    n: int,
    *,
    mode: str,
    messages: int = 0,
    rate: float = 0,
    duration: float = 0,
    pad: int = 0,
    stuck: bool = False,
    audit_all: bool = False,
    auditors_per_worker: int = 2,
    rate_off: bool = True,
    hard_timeout: float = 55.0,
    nodes: int = 1,
    cluster: str | None = None,
    side: dict[str, int] | None = None,
    room_order: bool = False,
    before=None,  # noqa: ANN001  called (server) once it listens, before the generator connects
    during=None,  # noqa: ANN001  called (server, t_go) in the driver while the load runs
    after=None,  # noqa: ANN001  called () in the driver once the load is over, before the servers stop
) -> dict:
    """Start the server, run one load with N clients in the room, stop everything.

    With ``nodes`` > 1, that many servers of ``spec`` (cluster nodes on the Redis at ``cluster``)
    and the clients split between them in blocks (c0.. on the first); ``side`` names other processes
    (pid) whose CPU is reported beside the servers' (Redis). ``room_order`` (native only) audits the
    room's own numbering: rising for every auditor, one message per number for all of them."""
    nicks = [f"c{i}" for i in range(n)]
    node_of = {nick: i * nodes // n for i, nick in enumerate(nicks)}
    if mode == "burst":
        sends = dict.fromkeys(nicks, messages)
    else:
        total = int(rate * duration)
        sends = {nick: len(range(i, total, n)) for i, nick in enumerate(nicks)}
    total_sent = sum(sends.values())
    nworkers = max(1, min(ctx.workers, n))
    cfgs = [
        {
            "port": 0,
            "proto": spec.proto,
            "mode": mode,
            "rate": rate,
            "nsenders": n,
            "pad": pad,
            "batch": ctx.args.batch,
            "lowat": ctx.args.lowat if mode == "burst" else 0,
            "peers": [],
            "senders": sends,
            "watch": "stuck" if stuck else None,
            "idle_timeout": 3.0,
            "node_of": node_of if nodes > 1 else {},
            "room_order": room_order,
        }
        for _ in range(nworkers)
    ]
    auditors: dict[tuple[int, int], int] = {}  # (worker, node) -> auditors so far
    for i, nick in enumerate(nicks):
        cfg = cfgs[i % nworkers]
        where = (i % nworkers, node_of[nick])
        audit = audit_all or auditors.get(where, 0) < auditors_per_worker
        auditors[where] = auditors.get(where, 0) + audit
        cfg["peers"].append(
            {
                "nick": nick,
                "sends": sends[nick],
                "gidx": i,
                "audit": audit,
                "expected": total_sent - sends[nick],
                "node": node_of[nick],
            }
        )
    if stuck:
        cfgs[0]["peers"].append({"nick": "stuck", "reads": False})

    servers = [ServerProc(spec, ctx.server_cpus, rate_off=rate_off, conns=n + 1, cluster=cluster) for _ in range(nodes)]
    server = servers[0]
    side = side or {}
    workers: list[tuple] = []
    result: dict = {"server": spec.label, "n": n, "mode": mode, "rate_limit": spec.rate_limit(rate_off)}
    try:
        for srv in servers:
            srv.start()
        if before:
            before(server)
        spies = [
            start_profiler(ctx, srv, f"{mode}-n{n}-{spec.key}" + (f"-node{k + 1}" if nodes > 1 else ""))
            for k, srv in enumerate(servers)
            if spec.kind == "ours"
        ]
        for cfg in cfgs:
            cfg["port"] = server.port
            for peer in cfg["peers"]:
                peer["port"] = servers[peer.get("node", 0)].port
        workers = start_workers(ctx, cfgs)
        ready = recv_all(workers, 40)
        nfailed = sum(r["nfailed"] for r in ready)
        if nfailed:
            raise RuntimeError(f"{nfailed} client(s) could not register: {ready[0]['failed'] or ready[-1]['failed']}")
        before = [srv.sample() for srv in servers]
        side0 = {name: proc_sample(pid)["cpu"] for name, pid in side.items()}
        cs0 = sum(context_switches(srv.proc.pid) for srv in servers)
        busy0, self0, t0 = machine_busy(), _cpu_seconds(), time.monotonic_ns()
        for srv in servers:
            srv.start_sampling()
        t_go = time.monotonic_ns() + NS // 5
        deadline = t_go + int(hard_timeout * NS)
        for _, conn in workers:
            conn.send({"cmd": "go", "t_go": t_go, "deadline": deadline})
        extra = during(server, t_go) if during else None
        results = recv_all(workers, hard_timeout + 10)
        t_end = time.monotonic_ns()
        after_samples = [srv.sample() for srv in servers]
        side1 = {name: proc_sample(pid)["cpu"] for name, pid in side.items()}
        busy1, self1 = machine_busy(), _cpu_seconds()
        cs1 = sum(context_switches(srv.proc.pid) for srv in servers)
        after_load = after() if after else None
        profiles = [stop_profiler(spy) for spy in spies]
        for srv in servers:
            srv.stop_sampling()
        for _, conn in workers:
            conn.send({"cmd": "drain", "timeout": 6.0})
        for srv in servers:
            srv.stop()
    finally:
        if workers:
            finish_workers(workers)
        for srv in servers:
            srv.stop()
    lat = array.array("q")
    lat_cross = array.array("q")
    for r in results:
        lat.frombytes(r["lat"])
        lat_cross.frombytes(r["lat_cross"])
    wall = (t_end - t_go) / NS
    t_last = max(r["t_last"] for r in results)
    span = (t_last - t_go) / NS if t_last > t_go else wall
    delivered = sum(r["delivered"] for r in results)
    closed = [c for r in results for c in r["closed"]]
    watch = [r["watch_at"] for r in results if r["watch_at"] is not None]
    node_cpu = [(a["cpu"] - b["cpu"]) / wall for a, b in zip(after_samples, before, strict=True)]
    side_cpu = {name: (side1[name] - side0[name]) / wall for name in side}
    stderr = [srv.stderr_summary() for srv in servers]
    result.update(
        {
            "delivered": delivered,
            "expected": sum(r["expected"] for r in results),
            # A fixed-rate run is judged over at least its schedule, so a stalled room shows.
            "deliveries_per_s": delivered / max(span, duration) if max(span, duration) > 0 else 0.0,
            "span_s": span,
            "loss": sum(r["loss"] for r in results),
            "dup": sum(r["dup"] for r in results),
            "ooo": sum(r["ooo"] for r in results),
            "unknown": sum(r["unknown"] for r in results),
            "sent": sum(r["sent"] for r in results),
            "messages_per_sender": messages if mode == "burst" else None,
            "latency_ms": percentiles(lat),
            "server_cpu": sum(node_cpu),
            # CPU seconds, not shares: a run that waited for lost messages has a long idle tail in ``wall_s``.
            "wall_s": wall,
            "server_cpu_s": sum(a["cpu"] - b["cpu"] for a, b in zip(after_samples, before, strict=True)),
            "server_sys_cpu": sum(a["sys"] - b["sys"] for a, b in zip(after_samples, before, strict=True)) / wall,
            "server_ctx_switches_per_delivery": (cs1 - cs0) / delivered if delivered else None,
            "gen_cpu": sum(r["cpu"] for r in results) / wall,
            # CPU used on this machine by anything but the servers, the generator and ``side`` (other users,
            # the pty client).
            "other_cpu": max(
                0.0,
                (
                    busy1
                    - busy0
                    - sum(a["cpu"] - b["cpu"] for a, b in zip(after_samples, before, strict=True))
                    - sum(side1[name] - side0[name] for name in side)
                    - sum(r["cpu"] for r in results)
                    - (self1 - self0)
                )
                / ((t_end - t0) / NS),
            ),
            "rss_mib": sum(srv.peak_rss for srv in servers) / 1024,
            "threads": sum(srv.peak_threads for srv in servers),
            "dropped_peers": [c for c in closed if c[0] != "stuck"],
            "stuck_dropped_at": min(watch) if watch else None,
            "cut_off": any(r["cut_off"] for r in results),
            "receivers": sum(r["receivers"] for r in results),
            "auditors": sum(r["auditors"] for r in results),
            "server_exit": server.exit_code,
            "server_stop_s": server.stop_seconds,
            "server_ready_s": server.ready_s,
            "store_mib": server.store_bytes / 2**20 if server.store_bytes is not None else None,
            "stderr": merge_stderr(stderr),
            "extra": extra,
            "after": after_load,
            "hard_timeout": hard_timeout,
            "profile": profiles[0] if profiles else None,
        }
    )
    if nodes > 1:
        result.update(
            {
                "nodes": nodes,
                "node_cpu": node_cpu,
                "node_rss_mib": [srv.peak_rss / 1024 for srv in servers],
                "node_exit": [srv.exit_code for srv in servers],
                "latency_cross_ms": percentiles(lat_cross),
                "profiles": profiles,
            }
        )
    if side:
        result["side_cpu"] = side_cpu
        result["side_cpu_s"] = {name: side1[name] - side0[name] for name in side}
    if room_order:
        result["room_order"] = audit_room_order(results, total_sent)
    return result


def merge_stderr(summaries: list[dict]) -> dict:
    """Several servers' ``stderr_summary`` as one."""
    if len(summaries) == 1:
        return summaries[0]
    kinds: dict[str, int] = {}
    for st in summaries:
        for k, v in st["kinds"].items():
            kinds[k] = kinds.get(k, 0) + v
    out = {key: sum(st[key] for st in summaries) for key in ("lines", "tracebacks", "errors", "warnings")}
    return out | {"kinds": kinds}


def audit_room_order(results: list[dict], sent: int) -> dict:
    """The room-order audit over every worker's auditors: a room number means the same message to all
    (``conflicts``), each auditor saw the numbers rise (``ooo``), and the messages seen are numbered
    without gaps (``gaps``: numbers in the seen range that no auditor saw with a message)."""
    seqs: dict[int, tuple[str, int]] = {}
    by_message: dict[tuple[str, int], int] = {}
    conflicts = sum(r["room_conflicts"] for r in results)
    for r in results:
        for k, msg in (r["room_seqs"] or {}).items():
            msg = tuple(msg)
            if seqs.setdefault(k, msg) != msg:
                conflicts += 1
            if by_message.setdefault(msg, k) != k:
                conflicts += 1  # one message under two numbers
    span = (max(seqs) - min(seqs) + 1) if seqs else 0
    return {
        "messages": len(seqs),
        "sent": sent,
        "first": min(seqs) if seqs else None,
        "last": max(seqs) if seqs else None,
        "gaps": span - len(seqs),
        "conflicts": conflicts,
        "ooo": sum(r["room_ooo"] for r in results),
    }


def start_profiler(ctx: Ctx, server: ServerProc, name: str) -> tuple | None:
    """With ``--profile DIR``: py-spy records the server while the load runs (collapsed stacks)."""
    if not ctx.args.profile:
        return None
    out = Path(ctx.args.profile)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{time.strftime('%H%M%S')}.txt"
    spy = Path(sys.executable).with_name("py-spy")
    cmd = [str(spy) if spy.exists() else "py-spy", "record", "-p", str(server.proc.pid), "-o", str(path)]
    # --gil: sample only the thread holding the GIL, i.e. where the Python work goes.
    cmd += ["-f", "raw", "-r", "100", "--nonblocking", "--threads", "--gil"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    LIVE.add(proc)
    time.sleep(0.5)  # let it attach
    return proc, path


def stop_profiler(spy: tuple | None) -> dict | None:
    if spy is None:
        return None
    proc, path = spy
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    LIVE.discard(proc)
    return summarise_profile(path)


def summarise_profile(path: Path, top: int = 15) -> dict | None:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    try:
        text = path.read_text()
    except OSError:
        return None
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if not f.startswith(("thread (", "process "))]
        if not frames:
            continue
        total += n
        fn = lambda f: re.sub(r" \((?:[^()]*/)?([^/()]+\.py):\d+\)$", r" (\1)", f)  # noqa: E731  drop line numbers
        own[fn(frames[-1])] = own.get(fn(frames[-1]), 0) + n
        for f in {fn(f) for f in frames}:
            incl[f] = incl.get(f, 0) + n
    if not total:
        return None
    pick = lambda d: [(k, round(100 * v / total, 1)) for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]]  # noqa: E731
    return {"file": str(path), "samples": total, "self_pct": pick(own), "inclusive_pct": pick(incl)}


def run_idle(ctx: Ctx, spec: ServerSpec, count: int, setup_timeout: float = 45.0) -> dict:
    """Hold ``count`` registered idle connections; RSS per connection, threads."""
    nworkers = max(1, min(ctx.workers, count))
    cfgs = [
        {
            "port": 0,
            "proto": spec.proto,
            "mode": "idle",
            "peers": [],
            "senders": {},
            "concurrency": 32,
            "sweep_every": 0.25,
        }
        for _ in range(nworkers)
    ]
    for i in range(count):
        cfgs[i % nworkers]["peers"].append({"nick": f"c{i}"})
    for cfg in cfgs:
        cfg["setup_timeout"] = setup_timeout
    server = ServerProc(spec, ctx.server_cpus, rate_off=False, conns=count)
    workers: list[tuple] = []
    result: dict = {"server": spec.label, "n": count, "mode": "idle", "rate_limit": spec.rate_limit(False)}
    try:
        server.start()
        time.sleep(0.3)
        base = server.sample()
        for cfg in cfgs:
            cfg["port"] = server.port
        server.start_sampling()
        t0 = time.monotonic()
        workers = start_workers(ctx, cfgs)
        ready = recv_all(workers, setup_timeout + 15)
        t_reg = time.monotonic() - t0
        # Let join notices drain: wait until the server's CPU goes quiet (at most 15 s).
        prev = server.sample()
        quiet_end = time.monotonic() + 15
        while time.monotonic() < quiet_end:
            time.sleep(0.5)
            cur = server.sample()
            if cur["cpu"] - prev["cpu"] < 0.02:
                break
            prev = cur
        time.sleep(0.5)
        held_sample = server.sample()
        for _, conn in workers:
            conn.send({"cmd": "check"})
        alive = sum(r["alive"] for r in recv_all(workers, 15))
        server.stop_sampling()
        for _, conn in workers:
            conn.send({"cmd": "drain", "timeout": 6.0})
        server.stop()
    finally:
        if workers:
            finish_workers(workers)
        server.stop()
    registered = sum(r["ready"] for r in ready)
    failed = [f for r in ready for f in r["failed"]]
    grown = held_sample["rss_kib"] - base["rss_kib"]
    result.update(
        {
            "registered": registered,
            "held": alive,
            "register_s": t_reg,
            "rss_base_mib": base["rss_kib"] / 1024,
            "rss_mib": held_sample["rss_kib"] / 1024,
            "rss_per_conn_kib": grown / alive if alive else None,
            "threads": held_sample["threads"],
            "threads_base": base["threads"],
            "peak_rss_mib": server.peak_rss / 1024,
            "failed_sample": failed[:3],
            "nfailed": sum(r["nfailed"] for r in ready),
            "server_exit": server.exit_code,
            "server_stop_s": server.stop_seconds,
            "stderr": server.stderr_summary(),
        }
    )
    return result


class Terminal:
    """The pty's far end. It answers cursor-position requests at once, as a real terminal does
    (prompt_toolkit asks for one and otherwise waits, then warns); pyte renders the screen afterwards
    (it is too slow to keep up live)."""

    def __init__(self, child, rows: int, cols: int) -> None:  # noqa: ANN001
        self.child = child
        self.rows, self.cols = rows, cols
        self.out = bytearray()

    def read(self, timeout: float) -> bytes:
        import pexpect

        try:
            chunk = self.child.read_nonblocking(65536, timeout=timeout)
        except pexpect.TIMEOUT:
            return b""
        tail = bytes(self.out[-3:])
        self.out += chunk
        for _ in range((tail + chunk).count(b"\x1b[6n")):
            self.child.send(b"\x1b[%d;1R" % self.rows)  # the prompt sits on the bottom line
        return chunk

    def lines(self) -> list[str]:
        import pyte

        screen = pyte.Screen(self.cols, self.rows)
        pyte.ByteStream(screen).feed(bytes(self.out))
        return [line.rstrip() for line in screen.display]


PTY_MESSAGE = re.compile(rb"(c\d+): m (\d+)")


def run_pty(ctx: Ctx, rate: float, duration: float, senders: int = 4, probe_every: float = 0.25) -> dict:
    """A real chatclient in a pty receives ``rate`` messages/s: all shown? how fast is a typed key echoed?"""
    import pexpect

    rows, cols = 40, 120
    holder: dict = {}

    def before(server: ServerProc) -> None:  # the viewer joins before the senders
        env = _env()
        env.update({"NO_COLOR": "1", "TERM": "xterm"})
        child = pexpect.spawn(
            sys.executable,
            ["-m", "chatclient", f"{HOST}:{server.port}", "--name", "viewer"],
            env=env,
            cwd=str(OURS_ROOT[0]),
            dimensions=(rows, cols),
        )
        holder["child"] = child
        term = holder["term"] = Terminal(child, rows, cols)
        end = time.monotonic() + 15
        while b"viewer>" not in term.out:
            if time.monotonic() > end:
                raise RuntimeError(f"chatclient showed no prompt: {bytes(term.out[-300:])!r}")
            term.read(0.1)
        if ctx.all_cpus:  # the client under test may use every core
            with contextlib.suppress(OSError):
                os.sched_setaffinity(child.pid, ctx.all_cpus)

    def during(server: ServerProc, t_go: int) -> dict:
        child, term = holder["child"], holder["term"]
        start = len(term.out)
        probes: list[float | None] = []
        # Probe keys: capitals that neither the messages nor prompt_toolkit's usual escape sequences contain.
        letters = [c.encode() for c in "QZXVWYUO"]
        sent_letters: list[bytes] = []
        probe: tuple[bytes, int, int] | None = None  # letter, sent at, output offset
        next_probe = t_go + NS // 2
        end_sched = t_go + int(duration * NS)
        expected = int(rate * duration)
        last_growth = time.monotonic_ns()
        cpu0 = proc_sample(child.pid)["cpu"]
        while True:
            now = time.monotonic_ns()
            if probe is None and next_probe <= now < end_sched:
                if not letters:
                    letters, sent_letters = sent_letters, []
                letter = letters.pop(0)
                sent_letters.append(letter)
                child.send(letter)
                probe = (letter, time.monotonic_ns(), len(term.out))
            try:
                chunk = term.read(0.002)
            except pexpect.EOF:
                break
            now = time.monotonic_ns()
            if chunk:
                last_growth = now
            if probe is not None:
                letter, t_sent, offset = probe
                found = term.out.find(letter, offset) >= 0
                if found or now - t_sent > 2 * NS:
                    probes.append((now - t_sent) / 1e6 if found else None)
                    child.send(b"\x7f")  # erase it again
                    probe = None
                    next_probe = now + int(probe_every * NS)
            if now > end_sched and not chunk:
                if now - last_growth > 3 * NS or now > end_sched + 20 * NS:
                    break
                if now - last_growth > NS // 10 and len(set(PTY_MESSAGE.findall(term.out, start))) >= expected:
                    break
        wall = (time.monotonic_ns() - t_go) / NS
        cpu = proc_sample(child.pid)["cpu"] - cpu0
        out = bytes(term.out[start:])
        found = PTY_MESSAGE.findall(out)
        unique = set(found)
        # A key typed while prompt_toolkit prints (the tty briefly in cooked mode) is echoed by the kernel,
        # into the middle of a message line.
        garbled = re.findall(rb"c\d+: m [^\r\n]*?[QZXVWYUO][^\r\n]*", out)
        display = term.lines()
        prompt = next((line for line in reversed(display) if line.startswith("viewer>")), None)
        done = [p for p in probes if p is not None]
        missing = []
        if len(unique) < expected:
            have = {(n.decode(), int(q)) for n, q in unique}
            sends = {f"c{i}": len(range(i, expected, senders)) for i in range(senders)}
            missing = sorted((n, q) for n, c in sends.items() for q in range(c) if (n, q) not in have)[:20]
        transcript = None
        odd = not (prompt is not None and prompt.strip() == "viewer>") or any(p < 1.0 for p in done)
        if missing or garbled or odd or os.environ.get("BENCH_PTY_TRANSCRIPT"):
            fd, transcript = tempfile.mkstemp(prefix="bench-pty-", suffix=".log")
            os.write(fd, out)
            os.close(fd)
        return {
            "expected": expected,
            "shown": len(unique),
            "shown_twice": len(found) - len(unique),
            "missing_sample": missing,
            "garbled_lines": [g.decode(errors="replace") for g in garbled[:5]],
            "garbled": len(garbled),
            "echo_ms": [round(p, 2) for p in done],
            "echo_p50": statistics.median(done) if done else None,
            "echo_max": max(done) if done else None,
            "echo_timeouts": probes.count(None),
            "client_cpu": cpu / wall,
            "output_bytes": len(out),
            "prompt_line": prompt,
            "prompt_clean": prompt is not None and prompt.strip() == "viewer>",
            "screen_tail": display[-3:],
            "transcript": transcript,
        }

    try:
        return run_load(
            ctx,
            ServerSpec("ours", "native"),
            senders,
            mode="rate",
            rate=rate,
            duration=duration,
            audit_all=True,
            before=before,
            during=during,
        )
    finally:
        child = holder.get("child")
        if child is not None:
            with contextlib.suppress(Exception):
                child.terminate(force=True)


class Probe:
    """A blocking native client for the store workload: one frame out, read until the answer."""

    def __init__(self, port: int, nick: str, timeout: float = 15.0) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = b""
        self.send({"type": "hello", "version": 1, "nick": nick, "client": "bench"})
        self.welcome, self.replay = self.until("welcome")
        self.replay += self.replayed(self.welcome)

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.send({"type": "quit"})
        self.sock.close()

    def send(self, frame: dict) -> None:
        self.sock.sendall(json.dumps(frame).encode() + b"\n")

    def frame(self) -> dict:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("the server closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def until(self, *types: str) -> tuple[dict, list[dict]]:
        """The next frame of one of ``types`` (an error frame raises), and the frames before it."""
        before = []
        while True:
            frame = self.frame()
            if frame.get("type") in types:
                return frame, before
            if frame.get("type") == "error":
                raise RuntimeError(f"the server refused: {frame}")
            before.append(frame)

    def replayed(self, head: dict) -> list[dict]:
        """The ``replay`` messages that follow a welcome or joined frame."""
        return [self.until("message")[0] for _ in range(head.get("replay", 0))]

    def join(self, room: str) -> tuple[dict, list[dict]]:
        self.send({"type": "join", "room": room})
        joined, _ = self.until("joined")
        return joined, self.replayed(joined)

    def say(self, text: str) -> dict:
        self.send({"type": "say", "text": text})
        return self.until("accepted")[0]


#: Rooms of a built store, and each one's share of its messages.
STORE_ROOMS = {"#lobby": 0.4, "#general": 0.3, "#random": 0.15, "#dev": 0.1, "#music": 0.05}
STORE_WORDS = (
    "the a to and of is it in that for you on with this we are not be was at have but so just do what "
    "meeting lunch build test server client release deploy coffee today tomorrow later anyone seen "
    "the printer again fixed broken works thanks please review merge branch main ticket bug patch "
    "network wifi laptop disk backup restart update music playlist weekend holiday office room"
).split()


def build_store(ctx: Ctx, path: Path, count: int) -> dict:
    """A store holding ``count`` room messages, made the way a server makes one: a real chatserver
    creates the file (schema, resume secret, rooms, topics, a first message per room from a real client,
    each acknowledged), then the rest are appended with sqlite3 into the same tables (their words put
    in its FTS index as the store does it: by its trigger, or by one statement if it has none) and each
    room's ``seq`` is moved on to its last message."""
    t0 = time.monotonic()
    spec = ServerSpec("ours", "native", store="sqlite")
    server = ServerProc(spec, ctx.server_cpus, rate_off=True, conns=2, store_path=path)
    try:
        server.start(timeout=30)
        with Probe(server.port, "builder") as client:
            for room in STORE_ROOMS:
                if room != client.welcome["room"]:
                    client.join(room)
                client.send({"type": "topic", "text": f"bench store: {room[1:]}"})
                client.say(f"first words in {room}")  # acknowledged: committed by the server
        server.stop()
    finally:
        server.stop()
    if server.exit_code != 0:
        raise RuntimeError(f"the server that made the store exited with {server.exit_code}: {server.errors()}")
    made_by_server = time.monotonic() - t0
    rng = random.Random(12)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=OFF")  # bench data: a crash while building just means building again
        rooms = {name: [key, seq] for key, name, seq in db.execute("SELECT key, name, seq FROM rooms")}
        have = db.execute("SELECT count(*) FROM messages").fetchone()[0]
        missing = [r for r in STORE_ROOMS if r not in rooms]
        if missing or have != len(STORE_ROOMS):
            raise RuntimeError(f"the server's store is not as expected: rooms {sorted(rooms)}, {have} messages")
        last_id = db.execute("SELECT max(id) FROM messages").fetchone()[0]
        indexed_by_trigger = db.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'messages'"
            " AND sql LIKE '%AFTER INSERT%messages_fts%'"
        ).fetchone()[0]
        names, weights = list(STORE_ROOMS), list(STORE_ROOMS.values())
        nicks = [f"user{i}" for i in range(40)]
        ts = time.time()
        left = count - have
        while left > 0:
            rows = []
            for _ in range(min(left, 50_000)):
                room = rooms[rng.choices(names, weights)[0]]
                room[1] += 1
                ts += 0.0005
                text = " ".join(rng.choices(STORE_WORDS, k=rng.randint(3, 14)))
                rows.append((room[0], room[1], ts, rng.choice(nicks), text, 0))
            db.execute("BEGIN")
            db.executemany("INSERT INTO messages (room, seq, ts, nick, text, action) VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.execute("COMMIT")
            left -= len(rows)
        db.execute("BEGIN")
        db.executemany("UPDATE rooms SET seq = ? WHERE key = ?", [(seq, key) for key, seq in rooms.values()])
        if not indexed_by_trigger:  # a schema whose commits index the words themselves: do as they do
            db.execute("INSERT INTO messages_fts (rowid, text) SELECT id, text FROM messages WHERE id > ?", (last_id,))
        db.execute("COMMIT")
        total = db.execute("SELECT count(*) FROM messages").fetchone()[0]
    finally:
        db.close()  # (checkpoints the WAL into the file)
    return {
        "messages": total,
        "rooms": {name: seq for name, (_, seq) in rooms.items()},
        "build_s": time.monotonic() - t0,
        "server_part_s": made_by_server,
        "mib": path.stat().st_size / 2**20,
    }


def run_start(ctx: Ctx, spec: ServerSpec, store_path: Path | None, rooms: dict[str, int]) -> dict:
    """Start the server (on ``store_path``, or on a new store of its own, or in memory), time its ready
    line, then check that it serves what the store holds: the lobby's history in the welcome and
    another room's on joining end at their last messages (``rooms``: room -> last seq), and the next
    message is numbered after (on ``store_path``, ``rooms`` is moved on to it)."""
    server = ServerProc(spec, ctx.server_cpus, rate_off=True, conns=2, store_path=store_path)
    room = "#general"
    try:
        server.start(timeout=30)
        at_ready = server.sample()
        t0 = time.monotonic()
        with Probe(server.port, "probe") as client:
            welcomed = time.monotonic()
            lobby = client.replay
            _, history = client.join(room)
            joined = time.monotonic()
            accepted = client.say("m 0 0")
            said = time.monotonic()
        server.stop()
    finally:
        server.stop()
    checks = {
        "lobby history ends at its last message": (lobby[-1]["seq"] if lobby else 0) == rooms.get("#lobby", 0),
        f"{room} history ends at its last message": (history[-1]["seq"] if history else 0) == rooms.get(room, 0),
        f"the next message in {room} is numbered after it": accepted["seq"] == rooms.get(room, 0) + 1,
    }
    if store_path is not None:
        rooms[room] = accepted["seq"]  # acknowledged, so kept: the next start on this store must show it
    return {
        "server": spec.label,
        "ready_s": server.ready_s,
        "cpu_at_ready_s": at_ready["cpu"],
        "rss_at_ready_mib": at_ready["rss_kib"] / 1024,
        "threads": at_ready["threads"],
        "welcome_ms": (welcomed - t0) * 1e3,
        "join_ms": (joined - welcomed) * 1e3,
        "first_ack_ms": (said - joined) * 1e3,
        "history": {"#lobby": len(lobby), room: len(history)},
        "accepted_seq": accepted["seq"],
        "failed_checks": [what for what, ok in checks.items() if not ok],
        "server_exit": server.exit_code,
        "server_stop_s": server.stop_seconds,
        "stderr": server.stderr_summary(),
    }


# ----------------------------------------------------------------------------
# Workloads -> table rows
# ----------------------------------------------------------------------------

SERVERS = {
    "ours-native": ServerSpec("ours", "native"),
    "ours-plain": ServerSpec("ours", "plain"),
    "asyncio": ServerSpec("asyncio", "plain"),
    "naive": ServerSpec("naive", "plain"),
    # With the SQLite store (a new file per run); the store workload pairs each with its --store memory twin.
    "ours-native-sqlite": ServerSpec("ours", "native", store="sqlite"),
    "ours-plain-sqlite": ServerSpec("ours", "plain", store="sqlite"),
    # Not in the default run: the asyncio baseline writing each received chunk's lines at once.
    "asyncio-coalesce": ServerSpec("asyncio", "plain", ("--coalesce",), key="asyncio-coalesce"),
    # Debian's ngircd (C), started on a private port with its own config (see ngircd_command); fan-out and
    # latency only. Skipped with a message when not installed.
    "ngircd": ServerSpec("ngircd", "irc"),
}


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _fmt_drops(res: dict) -> str:
    drops = res.get("dropped_peers") or []
    if not drops:
        return ""
    first = drops[0]
    return f"{len(drops)} reading peer(s) disconnected (first {first[0]} at {first[1]:.2f} s: {first[2]})"


def _stderr_note(res: dict) -> str:
    st = res.get("stderr") or {}
    bits = []
    if st.get("tracebacks"):
        bits.append(f"{st['tracebacks']} traceback(s)")
    if st.get("errors"):
        bits.append(f"{st['errors']} ERROR")
    if st.get("warnings"):
        bits.append(f"{st['warnings']} WARNING")
    if res.get("server_stop_s") is None and res.get("server_exit") is not None:
        bits.append("did not stop on SIGTERM (killed)")
    return "stderr: " + ", ".join(bits) if bits else ""


def load_row(workload: str, spec: ServerSpec, res: dict, *, check: bool = True, notes: list[str] = ()) -> dict:  # type: ignore[assignment]
    lat = res["latency_ms"]
    other = res.get("other_cpu") or 0
    busy = f"other CPU load {other:.0%}" if other >= 0.2 and not res.get("extra") else ""
    cut = (
        f"CUT OFF at the {res.get('hard_timeout', 0):g} s limit (undelivered counted as loss)"
        if res.get("cut_off")
        else ""
    )
    kept = f"store {res['store_mib']:.1f} MiB at the end" if res.get("store_mib") is not None else ""
    extra = [n for n in [*notes, kept, cut, _fmt_drops(res), _stderr_note(res), busy] if n]
    return {
        "workload": workload,
        "server": spec.label,
        "key": spec.key,
        "rate_limit": res["rate_limit"],
        "deliv_s": res["deliveries_per_s"],
        "p50": lat["p50"],
        "p99": lat["p99"],
        "max": lat["max"],
        "loss": res["loss"],
        "dup": res["dup"],
        "ooo": res["ooo"],
        "srv_cpu": res["server_cpu"],
        "gen_cpu": res["gen_cpu"],
        "rss_mib": res["rss_mib"],
        "threads": res["threads"],
        "notes": "; ".join(extra),
        "check": check,
        "data": res,
    }


def error_row(workload: str, spec: ServerSpec, exc: BaseException) -> dict:
    log(f"  {workload} {spec.label}: FAILED: {exc}")
    return {
        "workload": workload,
        "server": spec.label,
        "key": spec.key,
        "notes": f"FAILED: {exc}"[:300],
        "check": True,
        "failed": True,
    }


def run_interleaved(ctx: Ctx, jobs: list[tuple[str, ServerSpec, dict]], repeat: int) -> list[list[dict] | Exception]:
    """Run every job ``repeat`` times, round-robin (job 1, job 2, ..., job 1, ...), so that a slow drift
    of a shared machine hits every server alike. A job that fails once is not run again."""
    out: list[list[dict] | Exception] = [[] for _ in jobs]
    for i in range(repeat):
        for j, (name, spec, kwargs) in enumerate(jobs):
            if isinstance(out[j], Exception):
                continue
            log(f"{name} {spec.label} run {i + 1}/{repeat}")
            runner = kwargs.get("runner", run_load)  # (the cluster workload's starts a Redis around run_load)
            try:
                res = runner(ctx, spec, **{k: v for k, v in kwargs.items() if k != "runner"})
            except Exception as exc:  # noqa: BLE001
                log(f"  FAILED: {exc}")
                out[j] = exc
                continue
            lat = res["latency_ms"]
            ms = "/".join(f"{lat[k] or 0:.2f}" for k in ("p50", "p99", "max"))
            log(
                f"  {res['deliveries_per_s']:,.0f} deliveries/s, p50/p99/max {ms} ms, "
                f"loss {res['loss']}, dup {res['dup']}, ooo {res['ooo']}, srv CPU {res['server_cpu']:.0%}, "
                f"gen CPU {res['gen_cpu']:.0%}, other {res['other_cpu']:.0%}"
            )
            out[j].append(res)
    return out


def _p99(res: dict) -> float:
    return res["latency_ms"]["p99"] or 0.0


def _rate(res: dict) -> float:
    return res["deliveries_per_s"]


def median_row(name: str, spec: ServerSpec, runs: list[dict], key, notes: list[str] = (), check: bool = True) -> dict:  # noqa: ANN001, B006
    """The row of the median run by ``key``; loss/dup/ooo summed over every run."""
    med = sorted(runs, key=key)[len(runs) // 2]
    notes = list(notes)
    if len(runs) > 1:
        shown = [f"{key(r) / 1e3:.0f}k" if key is _rate else f"{key(r):.1f}" for r in runs]
        notes.insert(0, f"median of {len(runs)} by {'deliveries/s' if key is _rate else 'p99 ms'}: {'/'.join(shown)}")
    row = load_row(name, spec, med, check=check, notes=notes)
    row["loss"] = sum(r["loss"] for r in runs)
    row["dup"] = sum(r["dup"] for r in runs)
    row["ooo"] = sum(r["ooo"] for r in runs)
    row["data"] = {"median": med, "runs": runs}
    drops = [d for r in runs for d in r["dropped_peers"]]
    if drops and not med["dropped_peers"]:
        row["notes"] = "; ".join(filter(None, [row["notes"], f"{len(drops)} reading peer(s) disconnected in repeats"]))
    return row


def _vs_memory(group: list[dict], results: list, key) -> None:  # noqa: ANN001
    """A sqlite-store row gets its median figure over the same server's with --store memory, from the same
    interleaved runs, and the ratio of each pair of runs made one after the other."""
    by_key = {r["key"]: (r, runs) for r, runs in zip(group, results, strict=True)}
    for r, runs in zip(group, results, strict=True):
        twin = by_key.get(r["key"].removesuffix("-sqlite")) if r["key"].endswith("-sqlite") else None
        if twin is None or r.get("failed") or twin[0].get("failed"):
            continue
        mine, theirs = key(r["data"]["median"]), key(twin[0]["data"]["median"])
        if not theirs:
            continue
        r["vs_memory"] = mine / theirs
        paired = [key(a) / key(b) for a, b in zip(runs, twin[1], strict=False) if key(b)]
        r["vs_memory_paired"] = paired
        if len(paired) > 1:
            note = "x memory run by run: " + "/".join(f"{x:.2f}" for x in paired)
            r["notes"] = "; ".join(filter(None, [r["notes"], note]))


def fanout(ctx: Ctx, specs: list[ServerSpec], sizes: list[int]) -> list[dict]:
    args = ctx.args
    rows = []
    for n in sizes:
        m = args.messages or max(1, round(args.deliveries / (n * (n - 1))))
        name = f"fan-out N={n} M={m}"
        kwargs = {"n": n, "mode": "burst", "messages": m, "audit_all": args.quick, "hard_timeout": args.run_timeout}
        results = run_interleaved(ctx, [(name, spec, kwargs) for spec in specs], args.repeat)
        group = []
        for spec, runs in zip(specs, results, strict=True):
            if isinstance(runs, Exception):
                group.append(error_row(name, spec, runs))
            else:
                group.append(median_row(name, spec, runs, _rate))
        by_key = {r["key"]: r for r in group}
        for r in group:
            if r["key"].startswith("ours") and not r.get("failed"):
                for base in ("asyncio", "naive", "ngircd"):
                    b = by_key.get(base)
                    if b and not b.get("failed") and b["deliv_s"]:
                        r[f"vs_{base}"] = r["deliv_s"] / b["deliv_s"]
        _vs_memory(group, results, _rate)
        RATIOS.extend(ratio_lines(name, n, specs, group, results))
        rows += group
    return rows


#: Lines printed at the end: each of ours (this tree) against ngircd and against its --compare twin.
RATIOS: list[str] = []


#: Issue 26's targets for fan-out, by N: (ours over ngircd, ours over an older commit of ours).
FANOUT_TARGETS = {50: {"ngircd": 1.5, "rev": 1.0}, 200: {"ngircd": 3.0}}


def ratio_lines(name: str, n: int, specs: list[ServerSpec], group: list[dict], results: list) -> list[str]:
    """``ours (plain) x ngircd``, ``ours (plain) x ours (plain) @REV`` and ``ours (native) x ours (plain)``
    for one fan-out case: the ratio of medians, and of each pair of runs made one after the other
    (interleaved); with issue 26's target where it has one."""
    out = []
    rows = dict(zip([s.key for s in specs], zip(group, results, specs, strict=True), strict=True))
    for key, (row, runs, spec) in rows.items():
        if spec.kind != "ours" or spec.rev or row.get("failed"):
            continue
        others = [k for k, (_, _, s) in rows.items() if s.rev and s.twin(Path(), "").key == key] + ["ngircd"]
        if spec.proto == "native":
            others.append(key.replace("-native", "-plain"))
        for other in others:
            if other not in rows or rows[other][0].get("failed") or not rows[other][0]["deliv_s"]:
                continue
            orow, oruns, ospec = rows[other]
            paired = "/".join(f"{_rate(a) / _rate(b):.2f}" for a, b in zip(runs, oruns, strict=False) if _rate(b))
            ratio = row["deliv_s"] / orow["deliv_s"]
            goal = (
                1.0
                if ospec.kind == "ours" and ospec.proto != spec.proto
                else FANOUT_TARGETS.get(n, {}).get("rev" if ospec.rev else other)
            )
            verdict = f"; target >= {goal:g}x: {'met' if ratio >= goal else 'NOT met'}" if goal else ""
            out.append(
                f"{name}: {row['server']} x {orow['server']} = {ratio:.2f}x "
                f"({row['deliv_s'] / 1e6:.2f}M / {orow['deliv_s'] / 1e6:.2f}M deliveries/s; run by run {paired}"
                f"{verdict})"
            )
    return out


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


def latency(ctx: Ctx, specs: list[ServerSpec], n: int, rate: float, duration: float) -> list[dict]:
    name = f"latency N={n} {rate:g} msg/s {duration:g} s"
    kwargs = {"n": n, "mode": "rate", "rate": rate, "duration": duration, "audit_all": True}
    results = run_interleaved(ctx, [(name, spec, kwargs) for spec in specs], ctx.args.repeat)
    group = [
        error_row(name, spec, runs) if isinstance(runs, Exception) else median_row(name, spec, runs, _p99)
        for spec, runs in zip(specs, results, strict=True)
    ]
    _vs_memory(group, results, _p99)
    return group


def idle(ctx: Ctx, specs: list[ServerSpec], counts: list[int]) -> list[dict]:
    rows = []
    for count in counts:
        name = f"idle {count} conns"
        for spec in specs:
            log(f"{name} {spec.label}")
            try:
                res = run_idle(ctx, spec, count, setup_timeout=ctx.args.idle_timeout)
            except Exception as exc:  # noqa: BLE001
                rows.append(error_row(name, spec, exc))
                continue
            per = res["rss_per_conn_kib"]
            notes = [
                f"held {res['held']}/{count}",
                f"{per:.1f} KiB RSS/conn" if per is not None else "",
                f"registered in {res['register_s']:.1f} s",
            ]
            if res["nfailed"]:
                notes.append(f"{res['nfailed']} failed ({res['failed_sample'][0][1]})")
            note = _stderr_note(res)
            if note:
                notes.append(note)
            log("  " + "; ".join(filter(None, notes)) + f"; {res['threads']} threads")
            rows.append(
                {
                    "workload": name,
                    "server": spec.label,
                    "key": spec.key,
                    "rate_limit": res["rate_limit"],
                    "rss_mib": res["rss_mib"],
                    "threads": res["threads"],
                    "held": res["held"],
                    "rss_per_conn_kib": per,
                    "notes": "; ".join(filter(None, notes)),
                    "check": True,
                    "held_all": res["held"] == count,
                    "data": res,
                }
            )
    return rows


def slow(ctx: Ctx, specs: list[ServerSpec], n: int, rate: float, duration: float, pad: int) -> list[dict]:
    variants = (True,) if ctx.args.quick else (False, True)
    jobs = []
    for spec in specs:
        for stuck in variants:
            name = f"slow consumer N={n} {rate:g} msg/s {'+ 1 stuck' if stuck else 'no stuck'}"
            kwargs = {"n": n, "mode": "rate", "rate": rate, "duration": duration, "pad": pad, "stuck": stuck}
            jobs.append((name, spec, kwargs | {"audit_all": True}))
    results = run_interleaved(ctx, jobs, ctx.args.repeat)
    rows = []
    base: dict | None = None
    for (name, spec, kwargs), runs in zip(jobs, results, strict=True):
        stuck = kwargs["stuck"]
        if isinstance(runs, Exception):
            rows.append(error_row(name, spec, runs))
            base = None
            continue
        med = sorted(runs, key=_p99)[len(runs) // 2]
        notes = []
        # The naive server is *expected* to stall the room: no integrity assertion for it.
        check = not (stuck and spec.kind == "naive")
        if not stuck:
            base = med
        else:
            drops = [r["stuck_dropped_at"] for r in runs]
            if all(d is not None for d in drops):
                notes.append("stuck dropped at " + "/".join(f"{d:.2f}" for d in drops) + " s")
            else:
                notes.append(
                    "stuck NOT dropped within the run"
                    + (f" ({drops.count(None)} of {len(drops)})" if len(drops) > 1 else "")
                    + (" (expected: a quick run is too short to fill a 1 MiB backlog)" if ctx.args.quick else "")
                )
            if base is not None and base["deliveries_per_s"] and _p99(base):
                notes.append(
                    f"others vs no-stuck: deliv/s x{med['deliveries_per_s'] / base['deliveries_per_s']:.2f}, "
                    f"p99 x{_p99(med) / _p99(base):.2f}"
                )
            if med["loss"]:
                notes.append(f"others' last delivery at {med['span_s']:.2f} s of {duration:g} s")
            if not check:
                notes.append("room stall expected (naive)")
            base = None
        rows.append(median_row(name, spec, runs, _p99, notes=notes, check=check))
    return rows


def pty(ctx: Ctx, rate: float, duration: float) -> list[dict]:
    name = f"terminal client {rate:g} msg/s {duration:g} s"
    spec = ServerSpec("ours", "native")
    log(name)
    try:
        res = run_pty(ctx, rate, duration)
    except Exception as exc:  # noqa: BLE001
        return [error_row(name, spec, exc)]
    x = res["extra"] or {}
    lost = x.get("expected", 0) - x.get("shown", 0)
    echo = x.get("echo_p50")
    notes = [
        f"shown {x.get('shown')}/{x.get('expected')}",
        f"key echo p50 {echo:.1f} ms, max {x['echo_max']:.1f} ms ({len(x['echo_ms'])} keys)" if echo else "no echo",
        f"{x['echo_timeouts']} keys not echoed within 2 s" if x.get("echo_timeouts") else "",
        f"{x['garbled']} message line(s) with a typed key echoed into them" if x.get("garbled") else "",
        f"{sum(1 for e in x['echo_ms'] if e < 1)} key(s) echoed in < 1 ms (by the tty, not the client?)"
        if any(e < 1 for e in x.get("echo_ms", []))
        else "",
        f"transcript {x['transcript']}" if x.get("transcript") else "",
        ""
        if x.get("prompt_clean")
        else f"input line left as {x.get('prompt_line')!r} (a typed key or erase went astray)",
        f"client CPU {x.get('client_cpu', 0):.0%}",
    ]
    log("  " + "; ".join(filter(None, notes)))
    row = load_row(name, spec, res, notes=[n for n in notes if n])
    row["server"] = "ours (native) + chatclient"
    row["loss"] = row["loss"] + max(0, lost)  # a message not shown in the terminal is lost too
    row["dup"] = row["dup"] + x.get("shown_twice", 0)
    return [row]


def evict(path: Path) -> None:
    """Drop ``path`` (and its WAL) from the page cache, so a start reads it from the disk
    (posix_fadvise DONTNEED: needs no privileges, and works on clean pages, hence the fsync)."""
    for f in (path, Path(f"{path}-wal")):
        if f.exists():
            fd = os.open(f, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def start(ctx: Ctx, count: int) -> list[dict]:
    """Time from process start to the ready line, with a store of ``count`` messages (page cache warm,
    and evicted), against a new empty store and --store memory; each run also checks that the server
    serves the store's rooms (history ends at their last messages, numbering continues)."""
    sqlite_spec = SERVERS["ours-native-sqlite"]
    big = f"store of {count:,} messages"
    with tempfile.TemporaryDirectory(prefix="big-store-", dir=bench_home()) as tmp:
        path = Path(tmp) / "big.sqlite3"
        log(f"building a {big}")
        try:
            info = build_store(ctx, path, count)
        except Exception as exc:  # noqa: BLE001
            return [error_row(f"start, {big}", sqlite_spec, exc)]
        log(f"  {info['messages']:,} messages, {info['mib']:.0f} MiB, built in {info['build_s']:.1f} s")
        variants = [
            ("start, --store memory", SERVERS["ours-native"], None, {}, False),
            ("start, new empty store", sqlite_spec, None, {}, False),
            (f"start, {big} (in the page cache)", sqlite_spec, path, info["rooms"], False),
            (f"start, {big} (evicted from the page cache)", sqlite_spec, path, info["rooms"], True),
        ]
        results: list[list[dict] | Exception] = [[] for _ in variants]
        for i in range(ctx.args.repeat):
            for j, (name, spec, store_path, rooms, cold) in enumerate(variants):
                if isinstance(results[j], Exception):
                    continue
                log(f"{name} run {i + 1}/{ctx.args.repeat}")
                try:
                    if cold:
                        evict(store_path)
                    res = run_start(ctx, spec, store_path, rooms)
                except Exception as exc:  # noqa: BLE001
                    log(f"  FAILED: {exc}")
                    results[j] = exc
                    continue
                log(
                    f"  ready in {res['ready_s']:.3f} s; welcome {res['welcome_ms']:.1f} ms, join "
                    f"{res['join_ms']:.1f} ms, first ack {res['first_ack_ms']:.1f} ms; "
                    f"RSS {res['rss_at_ready_mib']:.1f} MiB"
                    + (f"; FAILED: {', '.join(res['failed_checks'])}" if res["failed_checks"] else "")
                )
                results[j].append(res)
    rows = []
    for (name, spec, store_path, _, _), runs in zip(variants, results, strict=True):
        if isinstance(runs, Exception):
            rows.append(error_row(name, spec, runs))
            continue
        med = sorted(runs, key=lambda r: r["ready_s"])[len(runs) // 2]
        failed = sorted({c for r in runs for c in r["failed_checks"]})
        notes = [
            f"median of {len(runs)}: " + "/".join(f"{r['ready_s']:.3f}" for r in runs) + " s" if len(runs) > 1 else "",
            f"then: welcome {med['welcome_ms']:.1f} ms, join #general {med['join_ms']:.1f} ms "
            f"(history {med['history']['#general']}), first ack {med['first_ack_ms']:.1f} ms "
            f"(seq {med['accepted_seq']})",
            f"store {info['mib']:.0f} MiB, made by a chatserver then {info['messages'] - len(STORE_ROOMS):,} messages "
            f"appended with sqlite3 (built in {info['build_s']:.0f} s)"
            if store_path
            else "",
            _stderr_note(med),
            "FAILED: " + "; ".join(failed) if failed else "",
        ]
        rows.append(
            {
                "workload": name,
                "server": spec.label,
                "key": spec.key,
                "rate_limit": "off",
                "ready_s": med["ready_s"],
                "rss_mib": med["rss_at_ready_mib"],
                "threads": med["threads"],
                "notes": "; ".join(filter(None, notes)),
                "check": True,
                "failed": bool(failed),
                "data": {"median": med, "runs": runs, "store": info if store_path else None},
            }
        )
    return rows


def store(ctx: Ctx, specs: list[ServerSpec]) -> list[dict]:
    """Issue 12: each of our servers with its SQLite store against the same with --store memory
    (fan-out and latency, interleaved, ratios from one run), and the start on a big store."""
    q = ctx.args.quick
    pairs: list[ServerSpec] = []
    for spec in specs:
        base = spec.key.removesuffix("-sqlite")
        if spec.kind == "ours" and not spec.rev and SERVERS[base] not in pairs:
            pairs += [SERVERS[base], SERVERS[base + "-sqlite"]]
    pairs = (pairs or [SERVERS["ours-native"], SERVERS["ours-native-sqlite"]])[: 2 if q else None]
    rows = fanout(ctx, pairs, [10 if q else 50])
    rows += latency(ctx, pairs, 20 if q else 50, 200 if q else 500, 1.0 if q else 5.0)
    for r in rows:
        if "vs_memory" in r:
            fan = r["workload"].startswith("fan-out")
            met = r["vs_memory"] >= 0.8 if fan else r["vs_memory"] <= 1.3
            what = "deliveries/s" if fan else "p99"
            r["target"] = (
                f"{r['workload']}: {r['server']} {what} {r['vs_memory']:.2f}x --store memory's "
                f"(target {'>= 0.8x' if fan else '<= 1.3x'}): {'met' if met else 'NOT met'}"
                + (" (quick: smaller than the issue's case)" if q else "")
            )
    if ctx.args.store_messages > 0:
        rows += start(ctx, ctx.args.store_messages)
    for r in rows:
        if r["workload"].startswith("start, store of") and "ready_s" in r:
            met = r["ready_s"] < 2.0
            r["target"] = (
                f"{r['workload']}: ready in {r['ready_s']:.2f} s (target < 2 s): {'met' if met else 'NOT met'}"
            )
    return rows


# ----------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------

COLUMNS = [
    ("workload", "workload"),
    ("server", "server"),
    ("rate_limit", "rate limit"),
    ("deliv_s", "deliveries/s"),
    ("vs_asyncio", "x asyncio"),
    ("vs_naive", "x naive"),
    ("vs_ngircd", "x ngircd"),
    ("vs_memory", "x memory"),
    ("vs_single", "x 1 server"),
    ("vs_node", "x 1 node"),
    ("p50", "p50 ms"),
    ("p99", "p99 ms"),
    ("max", "max ms"),
    ("loss", "loss"),
    ("dup", "dup"),
    ("ooo", "ooo"),
    ("srv_cpu", "srv CPU"),
    ("gen_cpu", "gen CPU"),
    ("redis_cpu", "Redis CPU"),
    ("rss_mib", "srv RSS MiB"),
    ("threads", "threads"),
    ("ready_s", "ready s"),
    ("notes", "notes"),
]


def cell(key: str, value) -> str:  # noqa: ANN001
    if value is None or value == "":
        return ""
    if key == "deliv_s":
        return f"{value:,.0f}"
    if key == "ready_s":
        return f"{value:.3f}"
    if key in ("vs_asyncio", "vs_naive", "vs_ngircd", "vs_memory", "vs_single", "vs_node"):
        return f"{value:.2f}x"
    if key in ("p50", "p99", "max"):
        return f"{value:.2f}" if value < 100 else f"{value:.0f}"
    if key in ("srv_cpu", "gen_cpu", "redis_cpu"):
        return f"{value:.0%}"
    if key == "rss_mib":
        return f"{value:.1f}"
    return str(value)


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(cell(k, r.get(k)).replace("|", "/") for k, _ in COLUMNS) + " |")
    return "\n".join(lines)


def stderr_notes(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        data = r.get("data") or {}
        runs = data.get("runs") or [data]
        kinds: dict[str, int] = {}
        for run in runs:
            for k, v in ((run.get("stderr") or {}).get("kinds") or {}).items():
                kinds[k] = kinds.get(k, 0) + v
        for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])[:4]:
            out.append(f"{r['workload']} / {r['server']}: {v} x {k}")
    return out


def check_failures(rows: list[dict]) -> dict[str, list[str]]:
    """Rows that failed to run, lost/duplicated/reordered a message, or did not hold every idle client."""
    bad: dict[str, list[str]] = {"failed": [], "integrity": [], "capacity": []}
    for r in rows:
        if not r.get("check"):
            continue
        where = f"{r['workload']} / {r['server']}"
        if r.get("failed"):
            bad["failed"].append(f"{where}: {r['notes']}")
        elif r.get("loss") or r.get("dup") or r.get("ooo") or r.get("room_order_bad"):
            order = f", room order: {r['room_order_bad']} wrong" if r.get("room_order_bad") else ""
            bad["integrity"].append(f"{where}: loss {r['loss']}, dup {r['dup']}, ooo {r['ooo']}{order}")
        elif "held_all" in r and not r["held_all"]:
            bad["capacity"].append(f"{where}: {r['notes']}")
    return bad


def machine() -> dict:
    model = ""
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=OURS_ROOT[0])
    return {
        "ours_root": str(OURS_ROOT[0]),
        "ours_commit": commit.stdout.strip() or None,
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
    }


def raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < need:
        log(f"warning: RLIMIT_NOFILE is {soft}; idle runs need about {need}")


def cleanup() -> None:
    for proc in list(LIVE_WORKERS):
        with contextlib.suppress(Exception):
            proc.kill()
    for proc in list(LIVE):
        with contextlib.suppress(Exception):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.wait(2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Benchmark chatserver against two baselines (127.0.0.1 only).")
    p.add_argument("--quick", action="store_true", help="small smoke run (about 30 s); exit 1 on any loss/dup/reorder")
    p.add_argument("--json", metavar="PATH", help="also write every number to PATH as JSON")
    p.add_argument(
        "--servers",
        default=None,
        help="comma list of ours-native,ours-plain,asyncio,naive,ngircd (the default; ngircd is skipped with a "
        "message when not installed) or ours-native-sqlite,ours-plain-sqlite,asyncio-coalesce",
    )
    p.add_argument(
        "--workloads", default="fanout,latency,idle,slow,pty,store,cluster", help="comma list of %(default)s"
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs of each fan-out, latency and slow-consumer case, interleaved across servers; "
        "the median is reported (default 3; quick 1)",
    )
    p.add_argument("--workers", type=int, default=2, help="load-generator processes (default 2)")
    p.add_argument("--batch", type=int, default=16, help="lines per send in fan-out (default 16)")
    p.add_argument("--deliveries", type=int, default=None, help="fan-out size per run in deliveries (default 600k)")
    p.add_argument(
        "--lowat", type=int, default=2048, help="SO_RCVLOWAT of fan-out receivers, bytes (default 2048; 0 = off)"
    )
    p.add_argument("--messages", type=int, default=0, help="fan-out messages per sender (overrides --deliveries)")
    p.add_argument("--fanout-sizes", default=None, help="comma list of N (default 10,50,200; quick 10)")
    p.add_argument("--idle-counts", default=None, help="comma list (default 1000,5000; quick 200)")
    p.add_argument("--idle-timeout", type=float, default=45.0, help="seconds allowed to register idle clients")
    p.add_argument("--slow-duration", type=float, default=None, help="slow-consumer run length (default 10 s)")
    p.add_argument("--slow-pad", type=int, default=1000, help="padding bytes per slow-consumer message (default 1000)")
    p.add_argument(
        "--store-messages",
        type=int,
        default=None,
        help="messages in the store the start is timed with (default 1,000,000; quick 20,000; -1: no start)",
    )
    p.add_argument("--run-timeout", type=float, default=50.0, help="hard limit per fan-out run, seconds")
    p.add_argument(
        "--ours-root", type=Path, default=ROOT, help="run chatserver/chatclient from this tree (default: this checkout)"
    )
    p.add_argument(
        "--compare",
        metavar="REV[,REV...]",
        help="also run the chatserver of each git revision REV (exported with git archive into a temporary "
        "directory) beside each of ours, interleaved, and print the ratios",
    )
    p.add_argument("--profile", metavar="DIR", help="py-spy record chatserver during load runs into DIR (slows it)")
    p.add_argument("--no-pin", action="store_true", help="do not pin server and generator to different cores")
    p.add_argument("--server-cpus", help="comma list of CPUs for the server (default: the first)")
    p.add_argument("--gen-cpus", help="comma list of CPUs for the load generator (default: the rest)")
    args = p.parse_args(argv)
    q = args.quick
    args.repeat = args.repeat or (1 if q else 3)
    args.deliveries = args.deliveries or (20_000 if q else 600_000)
    args.fanout_sizes = [int(x) for x in (args.fanout_sizes or ("10" if q else "10,50,200")).split(",")]
    args.idle_counts = [int(x) for x in (args.idle_counts or ("200" if q else "1000,5000")).split(",")]
    args.slow_duration = args.slow_duration or (1.0 if q else 10.0)
    args.store_messages = args.store_messages or (20_000 if q else 1_000_000)  # (-1: no start)
    args.servers_asked = args.servers is not None
    args.servers = [s for s in (args.servers or "ours-native,ours-plain,asyncio,naive,ngircd").split(",") if s]
    args.workloads = [w for w in args.workloads.split(",") if w]
    for s in args.servers:
        if s not in SERVERS:
            p.error(f"unknown server {s!r}; choose from {', '.join(SERVERS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    OURS_ROOT[0] = args.ours_root.resolve()
    raise_nofile(2 * max(args.idle_counts) + 1000)
    ctx = Ctx(args)
    if ctx.gen_cpus:
        _pin(ctx.gen_cpus)  # the driver is part of the generator
    specs = [SERVERS[s] for s in args.servers]
    if "ngircd" in args.servers and not ngircd_binary():
        log(f"ngircd is not installed, so it is not run: {NGIRCD_INSTALL}")
        if args.servers_asked and os.environ.get("CI"):
            return 1
        specs = [s for s in specs if s.kind != "ngircd"]
    if args.compare:
        trees = [export_rev(r) for r in args.compare.split(",") if r]
        for r, (tree, rev) in zip(args.compare.split(","), trees, strict=False):
            log(f"--compare {r}: chatserver of {rev} from {tree}, beside each of ours")
        twins = lambda s: [s.twin(*tree) for tree in trees] if s.kind == "ours" and not s.rev else []  # noqa: E731
        specs = [t for s in specs for t in [s, *twins(s)]]
    ours = [s for s in specs if s.kind == "ours"]
    theirs_ok = [s for s in specs if s.kind != "ngircd"]  # ngircd: fan-out and latency only
    q = args.quick
    started = time.monotonic()

    def on_signal(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    rows: list[dict] = []
    try:
        if "fanout" in args.workloads:
            rows += fanout(ctx, specs, args.fanout_sizes)
        if "latency" in args.workloads:
            rows += latency(ctx, ours if q else specs, 20 if q else 50, 200 if q else 500, 1.0 if q else 5.0)
        if "idle" in args.workloads:
            rows += idle(ctx, ours if q else theirs_ok, args.idle_counts)
        if "slow" in args.workloads:
            rows += slow(
                ctx, ours if q else theirs_ok, 10 if q else 20, 500 if q else 1000, args.slow_duration, args.slow_pad
            )
        if "pty" in args.workloads and any(s.kind == "ours" and s.proto == "native" for s in specs):
            rows += pty(ctx, 500 if q else 2000, 1.0 if q else 5.0)
        if "store" in args.workloads:
            rows += store(ctx, specs)
        if "cluster" in args.workloads:
            import bench_cluster

            rows += bench_cluster.cluster(ctx)
    finally:
        cleanup()
    elapsed = time.monotonic() - started
    info = machine()
    print(table(rows))
    print()
    print(
        f"machine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, {info['platform']}; "
        f"server CPUs {ctx.server_cpus or 'any'}, generator CPUs {ctx.gen_cpus or 'any'} "
        f"({args.workers} processes); took {elapsed:.0f} s"
    )
    where = info["ours_root"] + (f" (git HEAD {info['ours_commit']})" if info["ours_commit"] else "")
    print(f"chatserver and chatclient from {where}")
    flags = our_flags()
    print(
        "rate limit: 'off' = chatserver run with --rate-limit 0 (every workload that sends messages exceeds its "
        "default per-connection rate); 'default' = its defaults; baselines have none. "
        if "--rate-limit" in flags
        else "rate limit: chatserver has no --rate-limit option, so every run has none ('off'/'default' alike). "
    )
    if "--max-clients" in flags:
        print("chatserver runs get --max-clients/--max-per-ip raised to the workload's client count (127.0.0.1 only).")
    print(
        "CPU = share of one core (server; the generator's processes summed); RSS/threads = server peak; "
        "loss/dup/ooo = missing, duplicated, out-of-order deliveries summed over all repeats."
    )
    notes = stderr_notes(rows)
    if notes:
        print("server stderr (distinct WARNING/ERROR lines, with counts):")
        for line in notes:
            print("  " + line)
    for r in rows:
        data = r.get("data") or {}
        prof = (data.get("median") or data).get("profile")
        if prof:
            print(f"profile of {r['server']} in {r['workload']} ({prof['samples']} samples, {prof['file']}):")
            print("  self:      " + "; ".join(f"{k} {v}%" for k, v in prof["self_pct"][:8]))
            print("  inclusive: " + "; ".join(f"{k} {v}%" for k, v in prof["inclusive_pct"][:10]))
    if RATIOS:
        print("ratios (median over median within this run; each pair of runs made one after the other):")
        for line in RATIOS:
            print("  " + line)
    targets = [r["target"] for r in rows if r.get("target")]
    if targets:
        print("targets (ratios between runs of this bench, interleaved):")
        for t in targets:
            print("  " + t)
    bad = check_failures(rows)
    if bad["integrity"]:
        print("integrity: FAILED (loss/dup/out-of-order where every message should arrive)")
        for b in bad["integrity"]:
            print("  " + b)
    else:
        print("integrity: every checked peer got every message once, in order")
    if bad["capacity"]:
        print("capacity: not every idle client was registered and held")
        for b in bad["capacity"]:
            print("  " + b)
    if bad["failed"]:
        print("failed runs:")
        for b in bad["failed"]:
            print("  " + b)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"machine": info, "args": vars(args), "elapsed_s": elapsed, "rows": rows},
                f,
                indent=1,
                default=lambda o: o.hex() if isinstance(o, bytes) else str(o),
            )
    return 1 if (q and any(bad.values())) else 0


if __name__ == "__main__":
    sys.exit(main())
