"""A session's deadlines: the login timeout, then pings to a silent peer and the idle timeout.

``due`` is the stream's ``timer`` (see ``stream.py``): a read waits in
``poll`` for at most the seconds it returns, and it raises ``SessionEnd``
when a deadline has passed. ``clock`` is injectable, so a test decides what
time it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from chatserver.rules.effects import SessionEnd
from common import messages as m

if TYPE_CHECKING:
    from chatserver.config import ServerConfig

#: What ``Timers`` needs of its session.
Send = Callable[[m.Message], None]


class Timers:
    """The login deadline, from creation; once registered, and only for a peer that answers
    pings (``pings()``), a ping after ``--ping-interval`` of silence, the end after ``--idle-timeout``."""

    # (one per connection, held while it idles)
    __slots__ = (
        "config",
        "_send",
        "_registered",
        "_exempt",
        "_pings",
        "_may_speak",
        "clock",
        "login_deadline",
        "last_heard",
        "pinged",
    )

    def __init__(
        self,
        config: ServerConfig,
        send: Send,
        *,
        registered: Callable[[], bool],
        exempt: Callable[[], bool],
        pings: Callable[[], bool],
        may_speak: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._send = send
        self._registered = registered
        self._exempt = exempt  # no login deadline (the host's own client, starting up)
        self._pings = pings
        self._may_speak = may_speak  # False while the login timeout may not be said (before or inside TLS)
        self.clock = clock
        now = clock()
        self.login_deadline = now + config.login_timeout
        self.last_heard = now
        self.pinged = False

    def heard(self) -> None:
        """The peer sent something: it is alive."""
        self.last_heard = self.clock()
        self.pinged = False

    def due(self) -> float | None:
        """Seconds until something is due; raises ``SessionEnd`` when a deadline passed."""
        cfg = self.config
        now = self.clock()
        if not self._registered():
            if self._exempt():
                return None  # our own client, starting up: it ends by closing its socket
            if now >= self.login_deadline:
                if self._may_speak():
                    self._send(m.Error("login_timeout", f"no nickname within {cfg.login_timeout:g} s"))
                raise SessionEnd("login timeout")
            return self.login_deadline - now
        if not self._pings() or cfg.ping_interval <= 0:
            return None  # plain clients cannot answer pings: TCP keepalive covers them
        silent = now - self.last_heard
        if silent >= cfg.idle_timeout:
            self._send(m.Bye(f"no answer for {cfg.idle_timeout:g} s"))
            raise SessionEnd(f"idle timeout ({cfg.idle_timeout:g} s without a word)")
        if silent >= cfg.ping_interval and not self.pinged:
            self._send(m.Ping(str(int(now))))
            self.pinged = True
        due = cfg.idle_timeout if self.pinged else cfg.ping_interval
        return due - silent
