"""One connected peer: its reader loop (this thread) and its outbox (writer).

A connection is native when its first byte is ``{`` (the JSON ``hello``
frame); anything else is a plain line client (nc, telnet) whose first line is
its nickname. Both kinds end up in ``handle``, so they share every command.
"""

from __future__ import annotations

import logging
import re
import select
import socket
import threading
import time
from typing import TYPE_CHECKING

from common import messages as m
from common.commands import HELP_LINES, CommandError, ShowHelp, parse_input
from common.connection import CLOSED, NEED_DATA, Connection, Role, State
from common.errors import FrameTooLarge, RemoteProtocolError
from common.framing import LineFramer
from common.nicks import InvalidNick, is_exit_word, validate_nick

from .hub import LOBBY, Frame, NickTaken
from .outbound import Outbox

if TYPE_CHECKING:
    from .server import ChatServer

log = logging.getLogger(__name__)

RECV_SIZE = 65536
# Telnet option negotiation (IAC WILL/WONT/DO/DONT x, IAC SB ... SE, IAC cmd).
_TELNET = re.compile(rb"\xff[\xfb-\xfe].|\xff\xfa.*?\xff\xf0|\xff[\xf0-\xf9]", re.DOTALL)


class SessionEnd(Exception):
    """Raised inside the reader loop to end the session with a reason."""


class Session:
    def __init__(self, server: ChatServer, sock: socket.socket, addr: tuple) -> None:
        self.server = server
        self.hub = server.hub
        self.sock = sock
        self.addr = addr
        self.peer = f"{addr[0]}:{addr[1]}"
        self.nick = ""
        self.room = LOBBY
        self.plain = False
        self.registered = False
        self.end_reason = "connection closed"
        self._send_lock = threading.Lock()
        self.conn = Connection(Role.SERVER, max_frame=server.config.max_frame)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.outbox = Outbox(sock, max_backlog=server.config.max_backlog, name=self.peer)

    # -- output ---------------------------------------------------------
    def deliver(self, frame: Frame) -> None:
        """Hub entry point: queue an already-encoded frame (never blocks)."""
        self.outbox.put(frame.plain if self.plain else frame.native)

    def send(self, msg: m.Message) -> None:
        """Send a message to this peer only, through the protocol state machine."""
        with self._send_lock:
            if self.plain:
                data = Frame(msg).plain
            elif self.conn.state is State.CLOSED:
                return  # after Bye nothing more may be sent
            else:
                data = self.conn.send(msg)
        self.outbox.put(data)

    def notice(self, text: str, event: str = "info") -> None:
        self.send(m.Notice(text=text, ts=time.time(), event=event))

    # -- lifecycle ------------------------------------------------------
    def run(self) -> None:
        log.info("connection from %s", self.peer)
        try:
            first = self._first_data()
            if first.lstrip()[:1] == b"{":
                self._run_native(first)
            else:
                self.plain = True
                self._run_plain(first)
        except SessionEnd as exc:
            self.end_reason = str(exc)
        except OSError as exc:
            self.end_reason = f"connection error: {exc.strerror or exc}"
        finally:
            self._finish()

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(RECV_SIZE)
        except ConnectionResetError:
            self.end_reason = "connection reset by peer"
            return b""

    def _first_data(self) -> bytes:
        """First bytes from the peer; prompt for a nickname if none come soon.

        A native client sends ``hello`` at once. A silent peer is probably a
        person at nc/telnet, who needs to be asked for a name.
        """
        ready, _, _ = select.select([self.sock], [], [], self.server.config.plain_prompt_delay)
        if not ready:  # plain text: a native client skips lines before its welcome
            prompt = m.Notice(text=f"Welcome to {self.server.config.name}. Choose a nickname:", ts=time.time())
            self.outbox.put(Frame(prompt).plain)
        return self._recv()

    def _finish(self) -> None:
        if self.failure:
            self.end_reason = self.failure
        if self.registered:
            self.hub.unregister(self)
            if not self.server.stopping:
                nick = self.nick
                text = f"{nick} left" + ("" if self.end_reason == "bye" else f" ({self.end_reason})")
                self.hub.publish(
                    self.room,
                    lambda seq, ts: m.Notice(text=text, ts=ts, event="leave", seq=seq, nick=nick),
                )
        level = logging.WARNING if self.failure else logging.INFO
        log.log(level, "%s (%s) disconnected: %s", self.peer, self.nick or "-", self.end_reason)
        self.outbox.close(timeout=0.5)
        try:
            self.sock.close()
        except OSError:  # pragma: no cover
            pass

    @property
    def failure(self) -> str | None:
        return self.outbox.failure

    def end(self, reason: str, bye: str | None = None) -> None:
        """Called from another thread (shutdown): say goodbye and unblock the reader."""
        self.end_reason = reason
        self.send(m.Bye(bye or reason))

    # -- native ---------------------------------------------------------
    def _run_native(self, first: bytes) -> None:
        self.conn.receive_data(first)
        while True:
            try:
                event = self.conn.next_event()
            except RemoteProtocolError as exc:
                log.debug("%s sent a bad frame: %s", self.peer, exc)
                self.send(m.Error(exc.code, str(exc)))
                if exc.fatal:
                    raise SessionEnd(str(exc)) from None
                continue
            if event is NEED_DATA:
                self.conn.receive_data(self._recv())
                continue
            if event is CLOSED:
                return
            assert isinstance(event, m.Message)
            if isinstance(event, m.Hello):
                self._hello(event)
            else:
                self.handle(event)

    def _hello(self, hello: m.Hello) -> None:
        if hello.version != m.PROTOCOL_VERSION:
            self.send(
                m.Error(
                    "unsupported_version",
                    f"this server speaks protocol version {m.PROTOCOL_VERSION}, not {hello.version}",
                )
            )
            self.send(m.Bye("unsupported protocol version"))
            raise SessionEnd("unsupported protocol version")
        if self._register(hello.nick):
            self.send(self._welcome())

    # -- plain ----------------------------------------------------------
    def _run_plain(self, first: bytes) -> None:
        framer = LineFramer(self.server.config.max_frame)
        framer.receive_data(first)
        while True:
            try:
                raw = framer.next_line()
            except FrameTooLarge as exc:
                self.send(m.Error(exc.code, f"line too long: {exc}"))
                raise SessionEnd(str(exc)) from None
            if raw is None:
                if framer.at_eof:
                    return
                framer.receive_data(self._recv())
                continue
            raw = _TELNET.sub(b"", raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.send(m.Error("invalid_utf8", "that line was not valid UTF-8 and was not sent"))
                continue
            if not self.registered:
                name = line.strip()
                if name and self._register(name):
                    self.send(self._welcome())
                    self.send(m.Users(self.room, self.hub.members(self.room)))
                elif not self.registered:
                    self.notice("Choose a nickname:")
                continue
            parsed = parse_input(line)
            if parsed is None:
                continue
            if isinstance(parsed, ShowHelp):
                self.send(m.Notice(text="\n".join(HELP_LINES), ts=time.time(), event="help"))
            elif isinstance(parsed, CommandError):
                self.send(m.Error("bad_command", parsed.message))
            else:
                self.handle(parsed)

    # -- shared ---------------------------------------------------------
    def _register(self, nick: str) -> bool:
        try:
            nick = validate_nick(nick)
            self.hub.register(self, nick)
        except InvalidNick as exc:
            self.send(m.Error(exc.code, f"nickname {nick[:40]!r} is not allowed: {exc}"))
            return False
        except NickTaken as exc:
            self.send(m.Error("nick_taken", str(exc), suggestion=exc.suggestion))
            return False
        self.registered = True
        self.hub.join(self.room, self)
        log.info("%s registered as %s (%s client)", self.peer, nick, "plain" if self.plain else "native")
        self.hub.publish(
            self.room,
            lambda seq, ts: m.Notice(text=f"{nick} joined {self.room}", ts=ts, event="join", seq=seq, nick=nick),
            exclude=self,
        )
        return True

    def _welcome(self) -> m.Welcome:
        return m.Welcome(
            version=m.PROTOCOL_VERSION,
            server=self.server.config.name,
            nick=self.nick,
            room=self.room,
            users=self.hub.members(self.room),
        )

    def handle(self, msg: m.Message) -> None:
        """Act on one message from a registered peer (native or parsed plain line)."""
        if isinstance(msg, (m.Say, m.Action)):
            self._say(msg.text, action=isinstance(msg, m.Action))
        elif isinstance(msg, m.PrivateSay):
            self._private(msg)
        elif isinstance(msg, m.SetNick):
            self._rename(msg.nick)
        elif isinstance(msg, m.Who):
            self.send(m.Users(self.room, self.hub.members(self.room)))
        elif isinstance(msg, m.Quit):
            self.send(m.Bye("goodbye"))
            raise SessionEnd("bye")
        elif isinstance(msg, m.Ping):
            self.send(m.Pong(msg.token))
        elif isinstance(msg, m.Error):
            log.info("%s reports an error: %s %s", self.peer, msg.code, msg.message)

    def _say(self, text: str, *, action: bool) -> None:
        if not text.strip():
            self.send(m.Error("empty_message", "empty messages are not sent"))
            return
        nick, room = self.nick, self.room
        frame = self.hub.publish(
            room,
            lambda seq, ts: m.ChatMessage(seq=seq, ts=ts, room=room, nick=nick, text=text, action=action),
            exclude=self,
        )
        if not self.plain:
            stamped = frame.msg
            assert isinstance(stamped, m.ChatMessage)
            self.send(m.Accepted(seq=stamped.seq, ts=stamped.ts))
        if not action and is_exit_word(text):
            self.send(m.Bye("goodbye"))
            raise SessionEnd("bye")

    def _private(self, msg: m.PrivateSay) -> None:
        target = self.hub.find(msg.to)
        if target is None:
            self.send(m.Error("no_such_nick", f"nobody called {msg.to[:40]!r} is here"))
            return
        target.deliver(Frame(m.Private(ts=time.time(), nick=self.nick, to=target.nick, text=msg.text)))

    def _rename(self, new: str) -> None:
        try:
            new = validate_nick(new)
            old = self.hub.rename(self, new)
        except InvalidNick as exc:
            self.send(m.Error(exc.code, f"nickname {new[:40]!r} is not allowed: {exc}"))
            return
        except NickTaken as exc:
            self.send(m.Error("nick_taken", str(exc), suggestion=exc.suggestion))
            return
        self.hub.publish(
            self.room,
            lambda seq, ts: m.Notice(
                text=f"{old} is now known as {new}", ts=ts, event="nick", seq=seq, nick=new, previous=old
            ),
        )
