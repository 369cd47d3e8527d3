"""A registered person's messages through its mode's command table: the rate limit, typed lines, runs said together.

``handle`` takes one message (a typed ``Line`` is parsed first, as the
terminal parses it), slows a sender over the rate limit, and hands it to the
handler its mode's table (``Participant.commands``, from
``participant.TABLES``) names for its type; the effects go to the executor.
``say_many`` publishes a run of plain room messages in one hub call.
"""

from __future__ import annotations

import dataclasses
import time

from chatserver.backends.records import Unavailable
from chatserver.core.hub import Publish as Batched  # (one message of a publish_many)
from chatserver.core.hub import TooManyRooms
from chatserver.rules import accounts
from chatserver.rules import rooms as roomrules
from chatserver.rules.effects import Effect, Pause, Publish, leave, notice
from chatserver.rules.executor import Actor, itself, receipt
from chatserver.rules.said import chat_messages
from common import messages as m
from common.commands import HELP_LINES, AskPassword, CommandError, ShowHelp, parse_input
from common.nicks import is_exit_word
from common.ratelimit import TokenBucket


def handle(p: Actor, msg: m.Message) -> None:
    """Act on one message from this registered person (a typed ``Line``: what it parses to)."""
    if isinstance(msg, m.Line):
        typed(p, msg.text, msg.room)
        return
    if p.bucket is not None and not isinstance(msg, (m.Ping, m.Pong, m.Error)):
        p.execute(throttle(p, p.bucket))
    act(p, msg)


def typed(p: Actor, line: str, room: str | None = None) -> None:
    """A line as typed (an nc user's, or a ``line`` frame), parsed as the terminal parses
    it and then done as the message it makes would be; a message without a room of its
    own goes to ``room`` (the focused room if None). Help and parse errors are answered
    here, and count against the rate limit as any line does."""
    if p.asking is not None:  # (a password: never parsed, shown or logged)
        asked = accounts.answered(p, line)
        if asked is not None:
            act(p, asked)
        return
    parsed = parse_input(line)
    if parsed is None:
        return  # a blank line
    if p.bucket is not None:
        p.execute(throttle(p, p.bucket))
    if isinstance(parsed, ShowHelp):
        p.send(m.Notice(text="\n".join(HELP_LINES), ts=time.time(), event="help"))
    elif isinstance(parsed, CommandError):
        p.send(m.Error("bad_command", parsed.message))
    elif isinstance(parsed, AskPassword):
        accounts.ask(p, parsed)
    elif isinstance(parsed, (m.Say, m.Action)):
        # A command that made a message (/me, /say): its ack tells the sender what it said.
        command = line.startswith("/") and not line.startswith("//")
        act(p, parsed if parsed.room is not None else dataclasses.replace(parsed, room=room), echo=command)
    else:
        act(p, parsed)


def act(p: Actor, msg: m.Message, *, echo: bool = False) -> None:
    """``msg`` through its mode's table; a message ``echo``ed has its text in its receipt."""
    handler = p.commands.get(type(msg))
    if handler is None:
        return  # (nothing a registered person sends: a pong, a second hello)
    try:
        effects = handler(p, msg)
        if echo:
            effects = [dataclasses.replace(e, echo=True) if type(e) is Publish else e for e in effects]
        p.execute(effects)
    except (Unavailable, TooManyRooms) as exc:
        p.send(not_done(msg, exc))


#: Why the hub did not do a command, by what it raised: the error's code for a said line (the
#: client pairs it with that line) and for any other command, and what the person may do.
_NOT_DONE: dict[type[Exception], tuple[str, str, str]] = {
    Unavailable: ("cluster_unavailable", "unavailable", "; try again when it is back"),
    TooManyRooms: ("too_many_rooms", "too_many_rooms", ""),  # (as a /join its room could not be had)
}


def not_done(msg: m.Message, exc: Unavailable | TooManyRooms) -> m.Error:
    """The answer to ``msg``, which the hub did not do for ``exc``."""
    kind = next(k for k in type(exc).__mro__ if k in _NOT_DONE)  # (a cluster's Unavailable is one)
    said_code, code, then = _NOT_DONE[kind]
    if isinstance(msg, (m.Say, m.Action)):
        return m.Error(said_code, f"not sent: {exc}{then}")
    what = "/msg" if isinstance(msg, m.PrivateSay) else f"/{msg.TYPE}"
    return m.Error(code, f"{what} not done: {exc}{then}")


def throttle(p: Actor, bucket: TokenBucket) -> list[Effect]:
    """Slow a sender over the rate limit; disconnect one that keeps flooding."""
    wait = bucket.delay()
    if wait <= 0:
        p.over_limit = 0
        return []
    p.over_limit += 1
    if p.over_limit > 3 * bucket.burst:
        reason = f"flooding (over {bucket.rate:g} messages/s for {p.over_limit} messages)"
        return leave(reason, reason, code="flooding", text=f"disconnected for {reason}")
    if p.over_limit == 1:
        told = f"slow down: at most {bucket.rate:g} messages/s; your messages are being delayed"
        return [notice(told), Pause(wait)]
    return [Pause(wait)]


def say_many(p: Actor, msgs: list[m.Message]) -> None:
    """Messages read together, taken in order as ``handle`` takes each; but the run of
    those that only go to a room (said, not muted, no exit word: nothing to answer) is
    published in one hub call, one turn of its lock for the lot. What does not change
    within the run (who, where, muted or not, whether the room's modes let it speak) is
    looked at once for it, as for one line: a mute or a mode another thread sets while
    the run is read counts from the next run, as it would from the next line. A run is
    to one room, so the hub publishes all of it or, raising, none (each line is then told
    why)."""
    if len(msgs) == 1 or p.bucket is not None or not p.shared or not p.hub.publishes_many:
        for msg in msgs:
            handle(p, msg)
        return
    i = 0
    while i < len(msgs):
        if p.mute() is not None:  # (muted: each is refused, and told why, by ``handle``)
            handle(p, msgs[i])
            i += 1
            continue
        items: list[Batched] = []
        start = i  # (the messages of ``items``: ``msgs[start:i]``)
        exit_words, focused, nick = p.mode.exit_words, p.room, p.nick
        rooms = set(p.rooms.values())
        made = itself if p.echoes else receipt if not p.plain else None
        said = chat_messages  # (the run's builder, made once its room is known)
        to = None  # the run's room, once its first line is taken
        while i < len(msgs):
            msg = msgs[i]
            if not isinstance(msg, (m.Say, m.Action)):
                break
            text = msg.text
            word = text.strip()
            if not word:
                break
            action = isinstance(msg, m.Action)
            if not action and (msg.notice or msg.tags):  # (as ``chat.say`` makes it)
                break
            room = focused if msg.room is None else msg.room
            if room != to:  # (the run's room is looked at once, for its first line)
                if to is not None:  # (another room: the next run's)
                    break
                # (a room named as the server spells it; else ``chat.say`` says why not)
                if msg.room is not None and room not in rooms:
                    break
                if not roomrules.may_say(p, room):  # (a moderated room: ``chat.say`` says why not)
                    break
                to, said = room, chat_messages(room, nick, p.account)
            # (an exit word starts with one of them, once trimmed and lower-cased: most lines are not looked at further)
            if not action and word.lower().startswith(exit_words) and is_exit_word(text, exit_words):
                break
            items.append((room, said(text=text, action=action), made))
            i += 1
        if items:
            try:
                p.hub.publish_many(items, p)  # type: ignore[arg-type]  # (the rules' Participant is the hub's)
            except (Unavailable, TooManyRooms) as exc:
                for msg in msgs[start:i]:
                    p.send(not_done(msg, exc))
        if i < len(msgs):  # (one that is not only a room message: as ever)
            handle(p, msgs[i])
            i += 1
