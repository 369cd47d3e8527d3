"""What every chat participant does, whatever it is connected through.

``Participant`` holds the chat rules (registration, commands, modes, leave
notices). A ``Session`` is a participant behind a socket; the interactive
host (``host.py``) is one behind the server's own terminal. Subclasses say
how to ``send`` a message to the participant and how to ``deliver`` a frame.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from common import messages as m
from common.nicks import InvalidNick, is_exit_word, validate_nick

from .hub import LOBBY, Frame, NickTaken
from .modes import Mode, ack_text, reverse_text

if TYPE_CHECKING:
    from .server import ChatServer

log = logging.getLogger(__name__)


class SessionEnd(Exception):
    """Ends the participant's session; the message is the reason."""


class Participant:
    plain = False  # does this participant see plain-line text?

    def __init__(self, server: ChatServer) -> None:
        self.server = server
        self.hub = server.hub
        self.mode: Mode = server.config.mode
        self.nick = ""
        self.room = LOBBY
        self.registered = False

    # -- subclasses ------------------------------------------------------
    def send(self, msg: m.Message) -> None:
        """Send a message to this participant only."""
        raise NotImplementedError

    def deliver(self, frame: Frame) -> None:
        """Hub entry point: a frame for this participant (must not block)."""
        raise NotImplementedError

    # -- shared ----------------------------------------------------------
    def notice(self, text: str, event: str = "info") -> None:
        self.send(m.Notice(text=text, ts=time.time(), event=event))

    def register(self, nick: str) -> bool:
        """Claim ``nick`` and join the room; on refusal tell the peer why."""
        try:
            nick = validate_nick(nick)
            if self.mode is Mode.CHAT:
                self.hub.register(self, nick)
            else:  # nobody else sees you: names need not be unique
                self.nick = nick
        except InvalidNick as exc:
            self.send(m.Error(exc.code, f"nickname {nick[:40]!r} is not allowed: {exc}"))
            return False
        except NickTaken as exc:
            self.send(m.Error("nick_taken", str(exc), suggestion=exc.suggestion))
            return False
        self.registered = True
        if self.mode is Mode.CHAT:
            self.hub.join(self.room, self)
            self.hub.publish(
                self.room,
                lambda seq, ts: m.Notice(text=f"{nick} joined {self.room}", ts=ts, event="join", seq=seq, nick=nick),
                exclude=self,
            )
        self.server.participant_joined(self)
        return True

    def unregister(self, reason: str) -> None:
        """Leave the room, telling the others why (unless the server is stopping)."""
        if not self.registered:
            return
        self.registered = False
        if self.mode is Mode.CHAT:
            self.hub.unregister(self)
            if not self.server.stopping:
                nick = self.nick
                text = f"{nick} left" + ("" if reason == "bye" else f" ({reason})")
                self.hub.publish(
                    self.room, lambda seq, ts: m.Notice(text=text, ts=ts, event="leave", seq=seq, nick=nick)
                )
        self.server.participant_left(self, reason)

    def welcome(self) -> m.Welcome:
        return m.Welcome(
            version=m.PROTOCOL_VERSION,
            server=self.server.config.name,
            nick=self.nick,
            room=self.room,
            users=self.hub.members(self.room) if self.mode is Mode.CHAT else [self.nick],
            mode=self.mode.value,
            exit_words=list(self.mode.exit_words),
        )

    def handle(self, msg: m.Message) -> None:
        """Act on one message from this registered participant."""
        if isinstance(msg, (m.Say, m.Action)):
            self._say(msg.text, action=isinstance(msg, m.Action))
        elif isinstance(msg, m.PrivateSay):
            self._private(msg)
        elif isinstance(msg, m.SetNick):
            self._rename(msg.nick)
        elif isinstance(msg, m.Who):
            self.send(m.Users(self.room, self.hub.members(self.room) if self.mode is Mode.CHAT else [self.nick]))
        elif isinstance(msg, m.Quit):
            self.send(m.Bye("goodbye"))
            raise SessionEnd("bye")
        elif isinstance(msg, m.Ping):
            self.send(m.Pong(msg.token))
        elif isinstance(msg, m.Error):
            log.info("%s reports an error: %s %s", self.nick, msg.code, msg.message)

    def _say(self, text: str, *, action: bool) -> None:
        if not text.strip():
            self.send(m.Error("empty_message", "empty messages are not sent"))
            return
        leaving = not action and is_exit_word(text, self.mode.exit_words)
        if self.mode is Mode.CHAT:
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
        elif not leaving:
            seq = self.server.next_seq()
            reply = reverse_text(text) if self.mode is Mode.REVERSE else ack_text(seq, text)
            self.send(m.Reply(seq=seq, ts=time.time(), text=reply))
        if leaving:
            self.send(m.Bye("goodbye"))
            raise SessionEnd("bye")

    def _private(self, msg: m.PrivateSay) -> None:
        target = self.hub.find(msg.to) if self.mode is Mode.CHAT else None
        if target is None:
            self.send(m.Error("no_such_nick", f"nobody called {msg.to[:40]!r} is here"))
            return
        target.deliver(Frame(m.Private(ts=time.time(), nick=self.nick, to=target.nick, text=msg.text)))

    def _rename(self, new: str) -> None:
        try:
            new = validate_nick(new)
            old = self.hub.rename(self, new) if self.mode is Mode.CHAT else self.nick
        except InvalidNick as exc:
            self.send(m.Error(exc.code, f"nickname {new[:40]!r} is not allowed: {exc}"))
            return
        except NickTaken as exc:
            self.send(m.Error("nick_taken", str(exc), suggestion=exc.suggestion))
            return
        notice = lambda seq, ts: m.Notice(  # noqa: E731
            text=f"{old} is now known as {new}", ts=ts, event="nick", seq=seq, nick=new, previous=old
        )
        if self.mode is Mode.CHAT:
            self.hub.publish(self.room, notice)
        else:
            self.nick = new
            self.send(notice(None, time.time()))
