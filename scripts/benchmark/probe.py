"""A blocking native client: one frame out, read until the answer (the store and search workloads)."""

from __future__ import annotations

import contextlib
import json
import socket

from benchmark.protocol import HOST


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
