"""The executor: how each effect a handler returns is carried out, for the person it acted for.

A handler returns effects (``effects.py``); ``execute`` does them in order,
each through ``_EXECUTORS``, the table keyed by the effect's type: the hub
publishes, announces, tells and kicks, the person's outlet answers, and an
``End`` raises ``SessionEnd`` for its session. The receipts a sender gets in
its message's place are made here too (``say_many`` in ``dispatch.py``
makes them the same way).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from chatserver.core.fanout import Frame
from chatserver.rules import membership
from chatserver.rules.effects import (
    Announce,
    Answer,
    Changed,
    Effect,
    End,
    JoinRoom,
    Kick,
    LeaveRoom,
    Pause,
    Publish,
    SessionEnd,
    SetOp,
    Tell,
)
from chatserver.rules.modes import Mode
from chatserver.rules.services import Handler, Me
from common import messages as m
from common.commands import AskPassword
from common.ratelimit import TokenBucket

log = logging.getLogger(__name__)


class Actor(Me, Protocol):
    """The person as the rules' own machinery sees it (this executor, ``dispatch.py`` and
    ``greeting.py``): ``Me``, and what they read beyond it (``Participant`` is one)."""

    mode: Mode
    commands: dict[type[m.Message], Handler]  # its mode's table
    shared: bool  # do its mode's people meet in the hub's rooms?
    #: Does it get its own room messages back as the room does (IRC's echo-message)?
    echoes: bool
    asking: AskPassword | None
    password_answers: list[str]
    #: Messages in a row that had to be slowed.
    over_limit: int

    @property
    def bucket(self) -> TokenBucket | None: ...

    def in_clear(self) -> bool: ...

    def execute(self, effects: Sequence[Effect]) -> None: ...


def receipt(msg: m.Message) -> m.Message:
    """The receipt of a room message, in its place in the sender's stream."""
    assert isinstance(msg, m.ChatMessage)
    return m.Accepted(seq=msg.seq, ts=msg.ts, room=msg.room)


def echo(msg: m.Message) -> m.Message:
    """The receipt of a message made by a typed command: with what it said."""
    assert isinstance(msg, m.ChatMessage)
    return m.Accepted(seq=msg.seq, ts=msg.ts, room=msg.room, text=msg.text, action=msg.action)


def itself(msg: m.Message) -> m.Message:
    """The receipt of a peer that gets its own room messages back as everyone does (IRC's echo-message)."""
    return msg


def execute(p: Actor, effects: Sequence[Effect]) -> None:
    """Carry out what a handler returned, in order (``SessionEnd`` at an ``End``)."""
    for effect in effects:
        _EXECUTORS[type(effect)](p, effect)


def _publish(p: Actor, e: Publish) -> None:
    # the sender's ack takes the message's place in the room's order
    made = itself if p.echoes else (echo if e.echo else receipt) if not p.plain else None
    p.hub.publish(e.room, e.build, exclude=p, receipt=made)


def _kick(p: Actor, e: Kick) -> None:
    if e.logged:
        log.warning("%s %s", e.nick, e.why)
    p.hub.kick(e.nick, e.why)


def _end(p: Actor, e: End) -> None:
    p.send(m.Bye(e.bye))
    raise SessionEnd(e.reason)


#: How each effect is carried out.
_EXECUTORS: dict[type, Callable[[Actor, Effect], None]] = {
    Answer: lambda p, e: p.send(e.msg),
    Publish: _publish,
    Announce: lambda p, e: p.hub.announce(e.room, e.build, except_nick=e.except_nick),
    JoinRoom: lambda p, e: membership.join_room(p, e.room),
    LeaveRoom: lambda p, e: p.hub.part(e.room, p),
    Tell: lambda p, e: p.hub.tell(e.nick, Frame(e.msg)),
    Kick: _kick,
    SetOp: lambda p, e: p.hub.set_op(e.nick, e.op),
    Changed: lambda p, e: p.hub.changed(p),
    Pause: lambda p, e: p.server.pause(e.seconds),
    End: _end,
}
