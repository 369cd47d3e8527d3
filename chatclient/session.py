"""What both client front ends share: the session's life (the receiver thread, reconnects) and what the user sends.

The line mode and the terminal UI differ only in how they show things; both
hand user lines to ``ChatSession.submit`` and receive server messages through
a ``show`` callback called from the receiver thread.

When the connection drops, the receiver thread reconnects with exponential
backoff and jitter, takes the nickname back with the server's resume token
(a new one comes after each ``/nick``), and asks for its room back and for
the messages after the last sequence number it saw there (``Positions``);
if the server puts it elsewhere, the user is told. What the
user types goes through the ``Outbox`` (one queue, one sending thread): lines
typed meanwhile wait there and go out after the reconnect, in order; lines
that were sent but never acknowledged are sent again unless the replay shows
they arrived. What each message from the server does is ``inbound.py``'s; getting the
session back after a lost link, ``relink.py``'s.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence

from common import messages as m
from common.commands import AskPassword, CommandError, ShowHelp
from common.nicks import is_exit_word
from common.ratelimit import TokenBucket
from common.threads import stop_signals_blocked

from .accounts import Account
from .addresses import Address
from .backoff import Clock
from .connection import ChatConnection
from .errors import ClientError
from .files import Transfers
from .focus import Focus
from .inbound import Inbound
from .outbox import Outbox
from .relink import Relink
from .typed import parse_line
from .windows import Windows, room_of

log = logging.getLogger(__name__)

#: How long leaving waits for the file transfers under way (line mode's end, say).
TRANSFERS_WAIT = 600.0

#: The outbox paces itself at this share of the server's announced rate.
PACE_MARGIN = 0.9
#: Line mode reads no more input while this many lines wait in the outbox
#: (paced, away, or behind a write the server does not take: a script is slowed
#: with its input backing up in its pipe, not in our memory).
QUEUED_LIMIT = 8


def _pacer(welcome: m.Welcome) -> TokenBucket | None:
    """A bucket a little under the server's limit (clocks and the network blur it)."""
    return TokenBucket(welcome.rate * PACE_MARGIN, max(1, welcome.burst - 1)) if welcome.rate > 0 else None


class ChatSession:
    """A registered connection, the thread that reads from it, and its reconnects."""

    def __init__(
        self,
        conn: ChatConnection,
        welcome: m.Welcome,
        show: Callable[[m.Message], None] = lambda msg: None,
        *,
        reconnect: bool = True,
        password: str | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        addresses: Sequence[Address] = (),
        account: Account | None = None,
    ) -> None:
        self.conn = conn
        self._clock = clock or Clock()
        self.welcome = welcome
        self.exit_words = tuple(w.lower() for w in welcome.exit_words) or ("bye",)
        self._bucket = _pacer(welcome)
        self.reconnect = reconnect
        #: Called from the receiver thread with each message to display.
        self.show = show
        #: Called from the receiver thread once the session has ended.
        self.on_end: Callable[[], None] = lambda: None
        #: Called (any thread) when ``status`` changes.
        self.on_status: Callable[[], None] = lambda: None
        #: Asked (receiver thread) for a password when a reconnect needs another, with why;
        #: None (line mode without a terminal, or the user gave up) ends the session.
        self.ask_password: Callable[[str], str | None] | None = None
        self.status = f"connected to {conn.address}"
        self.ended = threading.Event()
        self.leaving = False
        self.connected = True
        self._told_offline = False  # "not connected" was said in this outage
        #: The server said it lost its cluster (Redis) link (``link_down``) and not yet that it is back.
        self.cluster_down = False
        #: Where we are, for the toolbar and completion (updated by the receiver thread).
        #: Our rooms, the focused one, who is in each (the terminal UI shows one room).
        self.windows = Windows(welcome)
        #: What the user does to it: /window, the room keys (the UI's thread).
        self.focus = Focus(self.windows, self._send_chat, lambda msg: self.show(msg), lambda: self.on_status())
        self._outbox = Outbox(welcome.room, self._pace, self._clock, on_held=self._held)
        self._inbound = Inbound(
            welcome,
            self._outbox,
            self.windows,
            show=lambda msg: self.show(msg),
            changed=lambda: self.on_status(),
            info=self._info,
            cluster_link=lambda up: self._cluster_link(up=up),
            answer_ping=self._answer_ping,
        )
        #: /send and /get: files over the page's port of the server we are connected to.
        self.files = Transfers(
            conn.host, conn.tls.context() if conn.tls is not None else None, self._send_chat, self._info
        )
        self._inbound.file_shown = self.files.shown
        self._inbound.upload_token = self.files.token
        self._inbound.upload_refused = self.files.refused
        #: Who we are logged in as, and the login kept for this server (``accounts.py``).
        self.account = account or Account(list(addresses) or [(conn.host, conn.port)], None)
        self.account.info = self._info
        self._inbound.logged_in = self.account.logged_in
        self._inbound.logged_out = self.account.logged_out
        self._inbound.login_refused = self.account.refused
        self._inbound.account = lambda: self.account.account  # (held there only: asked, never copied)
        self._stop = threading.Event()
        self._relink = Relink(
            self._inbound,
            self.windows,
            addresses=list(addresses) or [(conn.host, conn.port)],  # (a cluster's nodes, tried in turn)
            clock=self._clock,
            rng=rng,
            stop=self._stop,
            password=password,
            adopt=self._adopt,
            status=self._set_status,
            info=self._info,
            ask_password=lambda: self.ask_password,
            account=self.account,
        )
        self._thread = threading.Thread(target=self._receive, name="receiver", daemon=True)

    def start(self) -> None:
        self._outbox.connected(self.conn.send)
        self._outbox.start()
        # Signals go to the main thread, which is the one that must react.
        with stop_signals_blocked():
            self._thread.start()

    # -- what the receiver keeps (``inbound.py``) --
    @property
    def nick(self) -> str:
        return self._inbound.nick

    @nick.setter
    def nick(self, nick: str) -> None:
        self._inbound.nick = nick

    @property
    def lost(self) -> str | None:
        """Set when the session ended without the server's ``bye``."""
        return self._inbound.lost

    @lost.setter
    def lost(self, why: str | None) -> None:
        self._inbound.lost = why

    @property
    def history_on_join(self) -> bool:
        """Show the history a room replays on joining (a piped bot wants only what follows)."""
        return self._inbound.history_on_join

    @history_on_join.setter
    def history_on_join(self, show: bool) -> None:
        self._inbound.history_on_join = show

    @property
    def rooms(self) -> set[str]:
        """Every room we heard of, for completion."""
        return self._inbound.rooms

    @property
    def correspondents(self) -> set[str]:
        """Who we exchanged private messages with (any room), for ``/msg`` completion."""
        return self._inbound.correspondents

    # -- receiving --------------------------------------------------------
    def _receive(self) -> None:
        try:
            while True:
                reason = self._inbound.pump(self.conn, lambda: self.leaving)
                kicked = self._inbound.kicked
                if reason is None or self.leaving or not self.reconnect or kicked:  # (a kick is final)
                    self.lost = reason or self.lost
                    break
                self._outbox.disconnected()
                self.conn.close()  # the peer is gone or going: not left open in CLOSE-WAIT
                self._set_connected(False, f"disconnected: {reason}")
                self._info(f"{reason}; reconnecting...")
                if not self._reconnect():
                    break
        except Exception:  # never let the receiver die silently
            log.exception("receiver failed")
            self.lost = "connection lost: internal error"
        finally:
            self._outbox.stop()
            self.ended.set()
            self.on_end()

    @property
    def room(self) -> str:
        """The focused room."""
        return self.windows.room

    @property
    def joined(self) -> dict[str, str]:
        """The rooms we are in: key -> name, in joining order."""
        return self.windows.joined

    @property
    def users(self) -> list[str]:
        """Who is in the focused room."""
        return self.windows.users

    @property
    def topic(self) -> str:
        return self.windows.topic

    def _reconnect(self) -> bool:
        """Reconnect until it works (True) or the user leaves (False)."""
        found = self._relink.run(self.conn)
        if found is None:
            return False
        conn, welcome = found
        self._inbound.token = welcome.token
        self._inbound.server_stopping = False  # news of the old link, not of this one
        self._bucket = _pacer(welcome)  # (only the outbox thread uses it)
        self._set_connected(True, f"connected to {conn.address}")
        # What waits goes out now, in order, at the server's pace (a backlog is not a flood).
        waiting = self._outbox.connected(conn.send)
        if waiting:
            self._info(f"sending {waiting} message(s) typed or unconfirmed while away")
        return True

    def _cluster_link(self, *, up: bool) -> None:
        """The server lost its cluster link (Redis) or has it back (``link_down``/``link_up``)."""
        self.cluster_down = not up
        self.on_status()
        if up and (waiting := self._outbox.available()):
            self._info(f"sending {waiting} message(s) the server could not take while its cluster was down")

    def _adopt(self, conn: ChatConnection) -> None:
        """A new link, before its replay (a ping meanwhile is answered on it; leave() closes it)."""
        self.conn = conn
        self.cluster_down = False  # news of the old node: one without its link refuses logins, or tells us again

    # -- sending ----------------------------------------------------------
    def _pace(self) -> float:
        """Seconds the outbox waits before sending the next message, to keep
        under the server's rate limit."""
        bucket = self._bucket
        return bucket.delay() if bucket is not None else 0.0

    def submit(self, line: str) -> m.Message | ShowHelp | CommandError | AskPassword | None:
        """Send one line of user input; returns what it was parsed as.

        A chat message that is an exit word ("bye") or ``/quit`` marks the
        session as leaving: wait on ``ended`` for the server's goodbye.
        An account command without its password is not sent: the front end
        asks for it (``AskPassword``) and sends what it builds with ``send``.
        """
        name, _, rest = line.strip().partition(" ")
        if name.lower() in ("/window", "/w"):  # ours alone: which of our rooms we look at
            return self.focus.command(rest)
        if name.lower() in ("/send", "/get"):  # files: over HTTP, from this client (``files.py``)
            refused = self.files.send(rest, self.room) if name.lower() == "/send" else self.files.get(rest)
            return CommandError(refused) if refused else None
        parsed = parse_line(line)
        if isinstance(parsed, m.Join) and room_of(parsed.room) in self.joined:
            self.focus.switch_to(parsed.room)  # a room we are in: look at it (the server is told)
            return None
        if isinstance(parsed, m.PrivateSay) and (now := self.windows.now_called(parsed.to)):
            self._info(f"{parsed.to} is now {now}; /msg {now} ...")  # (the server's answer: nobody called that)
        if isinstance(parsed, m.Logout):
            self.account.forget()  # at once: not kept on this device even if the server never answers
        if isinstance(parsed, m.Message):
            if isinstance(parsed, m.Quit) or (isinstance(parsed, m.Say) and is_exit_word(parsed.text, self.exit_words)):
                if not self.connected:
                    self.leaving = True
                    self._stop.set()
                    return parsed
                self.leaving = True
            self._send_chat(parsed)
        return parsed

    def send(self, msg: m.Message) -> None:
        """Send a message the front end built (an account command, its passwords typed)."""
        self._send_chat(msg)

    def _send_chat(self, msg: m.Message) -> None:
        """Queue for the outbox (sent at once when nothing waits before it)."""
        if not self._outbox.put(msg) and not self._told_offline:
            self._told_offline = True  # (once per outage, not for every line typed meanwhile)
            self._info("not connected: your messages will be sent after reconnecting")

    def _answer_ping(self, ping: m.Ping) -> None:
        """Pong through the outbox (never waiting on the socket here); during a
        reconnect's replay the outbox has no link yet and this thread, the
        receiver, is the only one writing: it answers itself."""
        if self._outbox.urgent(m.Pong(ping.token)):
            return
        try:
            self.conn.send(m.Pong(ping.token))
        except ClientError:
            pass  # the receiver will notice

    def wait_writable(self) -> None:
        """Line mode: wait while lines back up in the outbox (paced, away, or
        the server takes nothing of what we sent)."""
        while not self.ended.is_set() and not self._outbox.wait_queue_below(QUEUED_LIMIT, 0.5):
            pass

    def unsent(self) -> int:
        """Messages accepted from the user that the server has not confirmed."""
        return self._outbox.unsent()

    def leave(self, timeout: float = 5.0) -> None:
        """End the session politely: ``quit`` and wait for the server's ``bye``
        (after the files being sent or fetched, up to ``TRANSFERS_WAIT`` s)."""
        if self.files.busy() and not self.ended.is_set():
            self._info("waiting for the file transfers under way...")
            self.files.wait(TRANSFERS_WAIT)
        if not self.ended.is_set() and not self.leaving:
            self.leaving = True
            if self.connected:
                self._outbox.urgent(m.Quit())  # (not a typed line: it goes before what still waits)
        if self.connected and self._thread.is_alive():
            # The outbox goes on meanwhile: a "bye" the user typed is queued there.
            self.ended.wait(timeout)
        self._stop.set()
        self._outbox.stop()
        self.conn.close()

    def wait_sent(self, timeout: float) -> bool:
        """Wait until every queued message is confirmed (or the session ended);
        lines held for another room wait for a /join, not for this."""
        deadline = self._clock.monotonic() + timeout
        while not self._outbox.wait_empty(0.1) and not self.ended.is_set():  # (ended ends it too)
            if self._clock.monotonic() >= deadline:
                break
        return not self.unsent()

    # -- state ------------------------------------------------------------
    def _set_connected(self, connected: bool, status: str) -> None:
        self.connected = connected
        if connected:
            self._told_offline = False
        self._set_status(status)

    def _held(self, room: str, count: int, here: str) -> None:
        """The outbox set aside lines typed for ``room`` (outbox thread)."""
        self._info(
            f"{count} line(s) you typed for {room} are held, not sent: you are in {here}. "
            f"/join {room} to send them there."
        )

    def _set_status(self, status: str) -> None:
        self.status = status
        self.on_status()

    def _info(self, text: str) -> None:
        self.show(m.Notice(text=text, ts=time.time(), event="connection"))
