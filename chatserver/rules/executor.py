"""The executor: how each effect a handler returns is carried out, for the person it acted for.

A handler returns effects (``effects.py``); ``execute`` does them in order,
each through ``_EXECUTORS``, the table keyed by the effect's type: the hub
publishes, announces, tells and kicks, the person gets each run of answers
in one call (``send_many``: one turn of the hub's lock for them), and an
``End`` raises ``SessionEnd`` for its session. The receipts a sender gets in
its message's place are made here too (``say_many`` in ``dispatch.py``
makes them the same way).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from chatserver.core.fanout import Frame
from chatserver.rules import devices, membership
from chatserver.rules.effects import (
    Announce,
    Answer,
    Arrive,
    Changed,
    Effect,
    End,
    Follow,
    JoinRoom,
    Kick,
    LeaveRoom,
    Pause,
    Publish,
    Remove,
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

    def send_many(self, msgs: list[m.Message]) -> None: ...

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
    """Carry out what a handler returned, in order (``SessionEnd`` at an ``End``). A run of
    answers goes to the person in one call (``send_many``): a /search's hundred results,
    a /history's lines, take one turn of the hub's lock, not one each."""
    answers: list[m.Message] = []
    for effect in effects:
        if type(effect) is Answer:
            answers.append(effect.msg)
            continue
        if answers:
            _answer(p, answers)
            answers = []
        _EXECUTORS[type(effect)](p, effect)
    if answers:
        _answer(p, answers)


def _answer(p: Actor, msgs: list[m.Message]) -> None:
    if len(msgs) == 1:
        p.send(msgs[0])
    else:
        p.send_many(msgs)


def _publish(p: Actor, e: Publish) -> None:
    # the sender's ack takes the message's place in the room's order
    made = itself if p.echoes else (echo if e.echo else receipt) if not p.plain else None
    p.hub.publish(e.room, e.build, exclude=p, receipt=made)


def _kick(p: Actor, e: Kick) -> None:
    if e.logged:
        log.warning("%s %s", e.nick, e.why)
    p.hub.kick(e.nick, e.why)


def _leave(p: Actor, e: LeaveRoom) -> None:
    staying = p.hub.part(e.room, p)  # type: ignore[arg-type]
    if e.told is not None and not staying:  # (the person's last device out of it: the person left)
        p.hub.announce(e.room, e.told)


def _follow(p: Actor, e: Follow) -> None:
    if p.account is not None:  # (a guest has one device)
        p.hub.move(p.nick, e.room, e.join, reason=e.reason, skip=p)  # type: ignore[arg-type]


def _arrive(p: Actor, e: Arrive) -> None:
    devices.arrive(p)  # type: ignore[arg-type]  # (a Participant is a Device)


def _end(p: Actor, e: End) -> None:
    p.send(m.Bye(e.bye))
    raise SessionEnd(e.reason)


#: How each effect but an ``Answer`` is carried out (answers: ``execute`` sends each run of them in one call).
_EXECUTORS: dict[type, Callable[[Actor, Effect], None]] = {
    Publish: _publish,
    Announce: lambda p, e: p.hub.announce(e.room, e.build, except_nick=e.except_nick),
    JoinRoom: lambda p, e: membership.join_room(p, e.room),
    LeaveRoom: _leave,
    Tell: lambda p, e: p.hub.tell(e.nick, Frame(e.msg)),
    Kick: _kick,
    Follow: _follow,
    Arrive: _arrive,
    Remove: lambda p, e: p.hub.move(e.nick, e.room, False, by=e.by, reason=e.why),
    SetOp: lambda p, e: p.hub.set_op(e.nick, e.op),
    Changed: lambda p, e: p.hub.changed(p),
    Pause: lambda p, e: p.server.pause(e.seconds),
    End: _end,
}
