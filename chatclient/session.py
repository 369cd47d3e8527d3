"""What both client front ends share: the receiver thread and user input rules.

The line mode and the terminal UI differ only in how they show things; both
hand user lines to ``ChatSession.submit`` and receive server messages through
a ``show`` callback called from the receiver thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from common import messages as m
from common.commands import CommandError, ShowHelp, parse_input
from common.nicks import is_exit_word

from .connection import ChatConnection, ClientError

log = logging.getLogger(__name__)


class FrontEndSession(Protocol):
    """What the UI and line mode need of a session (``ChatSession`` or the server's host)."""

    nick: str
    show: Callable[[m.Message], None]
    on_end: Callable[[], None]
    ended: threading.Event
    lost: str | None
    leaving: bool

    def start(self) -> None: ...
    def submit(self, line: str) -> m.Message | ShowHelp | CommandError | None: ...
    def leave(self, timeout: float = 5.0) -> None: ...


class ChatSession:
    """A registered connection and the thread that reads from it."""

    def __init__(
        self,
        conn: ChatConnection,
        welcome: m.Welcome,
        show: Callable[[m.Message], None] = lambda msg: None,
    ) -> None:
        self.conn = conn
        self.welcome = welcome
        self.nick = welcome.nick
        self.exit_words = tuple(w.lower() for w in welcome.exit_words) or ("bye",)
        #: Called from the receiver thread with each message to display.
        self.show = show
        #: Called from the receiver thread once the session has ended.
        self.on_end: Callable[[], None] = lambda: None
        self.ended = threading.Event()
        #: Set when the session ended without the server's ``bye``.
        self.lost: str | None = None
        self.leaving = False
        self._thread = threading.Thread(target=self._receive, name="receiver", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _receive(self) -> None:
        try:
            while True:
                msg = self.conn.next_message()
                if msg is None:
                    self.lost = "connection lost: the server closed the connection"
                    break
                if isinstance(msg, m.Bye):
                    if not self.leaving:
                        self.show(msg)
                    break
                if isinstance(msg, m.Notice) and msg.event == "nick" and msg.previous == self.nick and msg.nick:
                    self.nick = msg.nick
                if isinstance(msg, m.Ping):
                    self.conn.send(m.Pong(msg.token))
                    continue
                if not isinstance(msg, (m.Accepted, m.Pong)):
                    self.show(msg)
        except ClientError as exc:
            self.lost = str(exc)
        except Exception:  # never let the receiver die silently
            log.exception("receiver failed")
            self.lost = "connection lost: internal error"
        finally:
            self.ended.set()
            self.on_end()

    def submit(self, line: str) -> m.Message | ShowHelp | CommandError | None:
        """Send one line of user input; returns what it was parsed as.

        A chat message that is an exit word ("bye") or ``/quit`` marks the
        session as leaving: wait on ``ended`` for the server's goodbye.
        """
        parsed = parse_input(line)
        if isinstance(parsed, m.Message):
            if isinstance(parsed, m.Quit) or (isinstance(parsed, m.Say) and is_exit_word(parsed.text, self.exit_words)):
                self.leaving = True
            self.conn.send(parsed)
        return parsed

    def leave(self, timeout: float = 5.0) -> None:
        """End the session politely: ``quit`` and wait for the server's ``bye``."""
        if not self.ended.is_set() and not self.leaving:
            self.leaving = True
            try:
                self.conn.send(m.Quit())
            except ClientError:
                pass
        self.ended.wait(timeout)
        self.conn.close()
