"""What the load generator's clients send and look for: each dialect's marks and line patterns, a client's state."""

from __future__ import annotations

import re
import selectors
import socket

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
CONNECTING, REGISTERING, READY, CLOSED, FAILED, UPGRADING = range(6)
#: The states before a client is in the room (UPGRADING: a WebSocket client waiting for its 101).
SETTING_UP = (CONNECTING, UPGRADING, REGISTERING)


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
        "ready_at",
        "fbuf",
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
        self.ready_at = 0  # when its welcome arrived (monotonic ns)
        self.fbuf = b""  # a WebSocket frame not whole yet
