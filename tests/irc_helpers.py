"""IRC clients for the tests: raw lines on a socket, and the ``irc`` library's client driven step by step."""

from __future__ import annotations

import time
from collections.abc import Callable

import irc.client
from helpers import TIMEOUT, LineSocket


class RawIrc(LineSocket):
    """An IRC client speaking lines itself: to send what a library would refuse (hostile input)."""

    def __init__(self, port: int, nick: str | None = None, caps: str = "") -> None:
        super().__init__(port)
        self.nick = nick
        if nick is not None:
            self.register(nick, caps)

    def line(self, text: str) -> None:
        self.send(text.encode() + b"\r\n")

    def register(self, nick: str, caps: str = "", password: str | None = None) -> list[str]:
        if caps:
            self.line("CAP LS 302")
            self.line(f"CAP REQ :{caps}")
        if password is not None:
            self.line(f"PASS {password}")
        self.line(f"NICK {nick}")
        self.line("USER u 0 * :a tester")
        if caps:
            self.line("CAP END")
        return self.until(lambda words: words[1:2] == ["366"])  # (the lobby's NAMES: registered and in)

    def text(self, timeout: float = TIMEOUT) -> str:
        return self.read_line(timeout).decode()

    def until(self, pred: Callable[[list[str]], bool], timeout: float = TIMEOUT) -> list[str]:
        """Lines read until one whose words (tags left off) match; all of them, the match last."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            line = self.text(max(0.01, deadline - time.monotonic()))
            seen.append(line)
            if pred(words_of(line)):
                return seen

    def numeric(self, code: str, timeout: float = TIMEOUT) -> list[str]:
        """Words of the next line with this numeric (or command)."""
        return words_of(self.until(lambda w: w[1:2] == [code], timeout)[-1])


def words_of(line: str) -> list[str]:
    """A line's words, tags left off, the trailing parameter as one word (without its ``:``)."""
    if line.startswith("@"):
        line = line.split(" ", 1)[1]
    head, sep, trailing = line[1:].partition(" :") if line.startswith(":") else line.partition(" :")
    words = head.split()
    if line.startswith(":"):
        words[0] = ":" + words[0]
    return words + ([trailing] if sep else [])


class LibClient:
    """The ``irc`` library's client (jaraco/irc), its events collected; ``wait`` pumps its reactor."""

    def __init__(self, port: int, nick: str, password: str | None = None) -> None:
        self.reactor = irc.client.Reactor()
        self.events: list[irc.client.Event] = []
        self.reactor.add_global_handler("all_events", lambda conn, event: self.events.append(event), -10)
        self.conn = self.reactor.server().connect("127.0.0.1", port, nick, password=password)
        self.wait(lambda e: e.type == "endofnames")

    def wait(self, pred: Callable[[irc.client.Event], bool], timeout: float = TIMEOUT) -> irc.client.Event:
        """The first event from now on (or already seen and not yet taken) that matches."""
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if pred(event):
                    del self.events[: i + 1]
                    return event
            if time.monotonic() > deadline:
                raise TimeoutError(f"no such event; saw {[(e.type, e.arguments) for e in self.events]}")
            self.reactor.process_once(0.05)

    def close(self) -> None:
        self.conn.close()
