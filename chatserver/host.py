"""``chatserver --interactive``: the server's own terminal joins the chat.

The host is a ``Participant`` like any connected peer, but its output goes to
the same UI the client uses (``chatclient.ui`` / ``chatclient.linemode``),
through the interface those front ends expect of a session.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from common import messages as m
from common.commands import parse_input
from common.threads import stop_signals_blocked

from .hub import Frame
from .participant import Participant, SessionEnd

if TYPE_CHECKING:
    from .server import ChatServer

WAITING = "Server is waiting for a connection..."
OUTQ_MAX = 10_000  # messages waiting for the host's terminal, at most
_FINISH = object()  # queued after the last message to show: then end the session


class HostParticipant(Participant):
    rate_limited = False
    kickable = False

    def __init__(self, server: ChatServer, nick: str) -> None:
        super().__init__(server)
        self._wanted = nick
        self.exit_words = self.mode.exit_words
        #: Set by the front end: shows a message (any thread).
        self.show: Callable[[m.Message], None] = lambda msg: None
        #: Set by the front end: called once the session has ended (any thread).
        self.on_end: Callable[[], None] = lambda: None
        #: Called (any thread) when ``status`` changes; the toolbar shows ``status``.
        self.on_status: Callable[[], None] = lambda: None
        addr = server.address if server.address else ("", 0)
        self.status = f"hosting {server.config.name} on port {addr[1]}"
        self.ended = threading.Event()
        # A SimpleQueue: its put() is reentrant, so ``finish`` may run in a
        # signal handler that interrupted a put in the same thread.
        self._outq: queue.SimpleQueue = queue.SimpleQueue()
        self._printer = threading.Thread(target=self._print_loop, name="host-printer", daemon=True)
        self.lost: str | None = None
        self.leaving = False
        self._end_lock = threading.Lock()

    # -- what the front ends call ----------------------------------------
    def authenticate(self, nick: str, password: str | None) -> bool:
        self.op = True  # the host runs the server
        return True

    def _emit(self, msg: m.Message) -> None:
        """Hand a message to the printer thread. Hub fan-out runs under the hub
        lock, and the host's terminal (or a pipe) may block: never write from here."""
        if self._outq.qsize() < OUTQ_MAX:  # else the terminal is stuck: drop rather than stall the server
            self._outq.put(msg)

    def _print_loop(self) -> None:
        while True:
            msg = self._outq.get()
            if msg is _FINISH:
                self._finish_now()
            else:
                self.show(msg)

    def start(self) -> None:
        with stop_signals_blocked():
            self._printer.start()
        if not self.register(self._wanted):
            raise ValueError(f"cannot use {self._wanted!r} as the host's name")
        self._info(WAITING)

    def submit(self, line: str):
        parsed = parse_input(line)
        if isinstance(parsed, m.Message):
            try:
                self.handle(parsed)
            except SessionEnd:
                self.leaving = True
                self.finish()
        return parsed

    def leave(self, timeout: float = 0.0) -> None:
        self.leaving = True
        self.unregister("bye")
        self.finish()

    @property
    def users(self) -> list[str]:
        """Who is in the host's room (for the toolbar and completion)."""
        return [p.nick for p in self.hub.members(self.room)]

    @property
    def rooms(self) -> set[str]:
        return {r.name for r in self.hub.rooms()}

    @property
    def correspondents(self) -> set[str]:
        """Everyone on the server, for ``/msg`` completion: the host sees them
        all, and a private message reaches any room."""
        return {p.nick for p in self.hub.sessions() if p is not self}

    def pace(self) -> float:
        return 0.0  # the host is not rate limited

    def unsent(self) -> int:
        return 0  # the host is inside the server: nothing is ever in transit

    def finish(self) -> None:
        """End the host's session (thread-safe, once), after what is already queued is shown."""
        if self._printer.is_alive() and self._outq.qsize() < OUTQ_MAX:
            self._outq.put(_FINISH)
        else:
            self._finish_now()

    def _finish_now(self) -> None:
        with self._end_lock:
            if self.ended.is_set():
                return
            self.ended.set()
        self.on_end()

    # -- what the server and hub call -----------------------------------
    def deliver(self, frame: Frame) -> None:
        self._emit(frame.msg)

    def send(self, msg: m.Message) -> None:
        if not isinstance(msg, (m.Bye, m.Accepted)):
            self._emit(msg)

    def greet(self, room: str, epoch: str, replay: list[m.Message], lost: int, kind: str) -> None:
        self.room = room  # the terminal shows "waiting for a connection" instead

    def kick(self, reason: str) -> None:
        self.finish()

    def connection_from(self, addr: tuple) -> None:
        self._info(f"Got a connection from {addr[:2]!r}")

    def peer_left(self, who: Participant, reason: str) -> None:
        others = [p for p in self.hub.sessions() if p is not self]
        if others:
            return
        if reason == "bye":  # the last peer said bye: the chat is over
            self.finish()
        else:
            self._info(WAITING)

    def _info(self, text: str) -> None:
        self._emit(m.Notice(text=text, ts=time.time()))
