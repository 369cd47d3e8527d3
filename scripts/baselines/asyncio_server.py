#!/usr/bin/env python3
"""Baseline: a well-written single-threaded asyncio chat server.

``asyncio.Protocol`` (no stream-reader overhead), TCP_NODELAY on every socket,
and per-peer write buffering by the transport: a message is encoded once and
``write`` to each other peer never blocks (the transport queues what the
socket does not take). A peer whose unsent buffer passes ``--max-backlog``
(1 MiB, like chatserver) is dropped, so a client that stops reading slows
nobody else. Each message is written separately, as idiomatic asyncio code
does; ``--coalesce`` instead joins the lines of one received chunk and writes
them to each peer at once (the optimisation the issue asks of chatserver).

It speaks the plain-line protocol of docs/protocol.md (the part the benchmark
uses): the first line is the nickname, answered ``* welcome ...``; then every
line is a message, delivered to the others as ``NICK: text``; ``bye`` leaves.

    python scripts/baselines/asyncio_server.py --host 127.0.0.1 --port 0
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys

MAX_LINE = 64 * 1024


class Room:
    def __init__(self, max_backlog: int, coalesce: bool) -> None:
        self.max_backlog = max_backlog
        self.coalesce = coalesce
        self.closing = False
        self.members: dict[ChatProtocol, None] = {}  # insertion-ordered set
        self.nicks: set[bytes] = set()

    def broadcast(self, data: bytes, exclude: ChatProtocol | None = None) -> None:
        slow = []
        for peer in self.members:
            if peer is exclude:
                continue
            transport = peer.transport
            transport.write(data)
            if transport.get_write_buffer_size() > self.max_backlog:
                slow.append(peer)
        for peer in slow:
            peer.drop(f"outbound backlog over {self.max_backlog} bytes (peer not reading)")


class ChatProtocol(asyncio.Protocol):
    def __init__(self, room: Room) -> None:
        self.room = room
        self.nick = b""
        self.buf = b""
        self.transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        end = buf.rfind(b"\n")
        if end < 0:
            if len(buf) > MAX_LINE:
                self.drop("line too long")
            else:
                self.buf = buf
            return
        self.buf = buf[end + 1 :]
        if len(self.buf) > MAX_LINE:
            self.drop("line too long")
            return
        lines = buf[:end].split(b"\n")
        if not self.nick:
            while lines and not self.nick:
                self.register(lines.pop(0).strip())
            if not lines:
                return
        prefix = self.nick + b": "
        out = []
        for line in lines:
            line = line.rstrip(b"\r")
            if line == b"bye":
                if out:
                    self.room.broadcast(b"".join(out), exclude=self)
                self.transport.write(b"* bye: goodbye\r\n")
                self.transport.close()
                return
            if self.room.coalesce:
                out.append(prefix + line + b"\r\n")
            else:
                self.room.broadcast(prefix + line + b"\r\n", exclude=self)
        if out:
            self.room.broadcast(b"".join(out), exclude=self)

    def register(self, nick: bytes) -> None:
        if not nick or nick.startswith((b"{", b"*", b"/")) or b" " in nick:
            self.transport.write(b"* error: that nickname is not allowed\r\n* Choose a nickname:\r\n")
            return
        if nick.lower() in self.room.nicks:
            self.transport.write(b"* error: that nickname is taken\r\n* Choose a nickname:\r\n")
            return
        self.nick = nick
        self.room.nicks.add(nick.lower())
        self.transport.write(b"* welcome to asyncio_server, " + nick + b"!\r\n")
        self.room.broadcast(b"* " + nick + b" joined #lobby\r\n")
        self.room.members[self] = None

    def drop(self, reason: str) -> None:
        print(f"asyncio_server: dropping {self.nick.decode(errors='replace')}: {reason}", file=sys.stderr)
        self.leave(f" ({reason})".encode())
        self.transport.abort()

    def leave(self, why: bytes = b"") -> None:
        if self in self.room.members:
            del self.room.members[self]
            self.room.nicks.discard(self.nick.lower())
            if not self.room.closing:
                self.room.broadcast(b"* " + self.nick + b" left" + why + b"\r\n")

    def connection_lost(self, exc: Exception | None) -> None:
        self.leave()


async def serve(host: str, port: int, max_backlog: int, coalesce: bool) -> None:
    loop = asyncio.get_running_loop()
    room = Room(max_backlog, coalesce)
    server = await loop.create_server(lambda: ChatProtocol(room), host, port, backlog=1024)
    addr = server.sockets[0].getsockname()
    print(f"asyncio_server listening on {addr[0]}:{addr[1]}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    room.closing = True
    for peer in list(room.members):
        peer.transport.abort()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5050)
    parser.add_argument("--max-backlog", type=int, default=1024 * 1024)
    parser.add_argument("--coalesce", action="store_true", help="one write per peer per received chunk")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.max_backlog, args.coalesce))
    return 0


if __name__ == "__main__":
    sys.exit(main())
