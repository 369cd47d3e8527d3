#!/usr/bin/env python3
"""Baseline: a tutorial-style thread-per-connection chat server.

Deliberately naive, as most tutorials write it: one thread per connection
reads lines and, holding one global lock, ``sendall``s each line to every other
socket directly. No TCP_NODELAY, no per-peer queue: one client that stops
reading blocks ``sendall`` while the lock is held, and the whole room stalls.

It speaks the plain-line protocol of docs/protocol.md (the part the benchmark
uses): the first line is the nickname, answered ``* welcome ...``; then every
line is a message, delivered to the others as ``NICK: text``; ``bye`` leaves.

    python scripts/baselines/naive_server.py --host 127.0.0.1 --port 0
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading

clients: dict[socket.socket, bytes] = {}
lock = threading.Lock()


def broadcast(data: bytes, exclude: socket.socket | None = None) -> None:
    with lock:
        for sock in list(clients):
            if sock is not exclude:
                try:
                    sock.sendall(data)
                except OSError:
                    pass


def handle(conn: socket.socket) -> None:
    nick = b""
    try:
        reader = conn.makefile("rb")
        while not nick:
            line = reader.readline(65536)
            if not line:
                return
            nick = line.strip()
        conn.sendall(b"* welcome to naive_server, " + nick + b"!\r\n")
        with lock:
            clients[conn] = nick
        broadcast(b"* " + nick + b" joined #lobby\r\n", exclude=conn)
        for line in reader:
            text = line.rstrip(b"\r\n")
            if text == b"bye":
                conn.sendall(b"* bye: goodbye\r\n")
                break
            broadcast(nick + b": " + text + b"\r\n", exclude=conn)
    except OSError:
        pass
    finally:
        with lock:
            was_member = clients.pop(conn, None) is not None
        if was_member:
            broadcast(b"* " + nick + b" left\r\n")
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5050)
    args = parser.parse_args()

    def on_term(*_: object) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    server = socket.create_server((args.host, args.port), reuse_port=False)
    host, port = server.getsockname()[:2]
    print(f"naive_server listening on {host}:{port}", flush=True)
    try:
        while True:
            conn, _ = server.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
