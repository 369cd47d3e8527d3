"""The reverse and ack modes' command tables: each person alone with the server, nobody else in sight.

A message is answered to its sender alone (reversed, or acknowledged with
the server-wide number ``Services.next_seq``); there are no rooms, so room
and moderation commands are refused; a name need not be unique. What works
as in chat mode (``/who``, ``/quit``, pings) is ``chat.COMMON``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chatserver.rules import chat
from chatserver.rules.effects import SAID_EXIT_WORD, Answer, Effect, End, error, notice
from chatserver.rules.modes import Mode, ack_text, reverse_text
from chatserver.rules.services import Handler, Me
from common import messages as m
from common.nicks import is_exit_word
from common.rooms import one_line

#: How each mode answers a message: (the reply's number, the text, an action?) -> the reply's text.
Answerer = Callable[[int, str, bool], str]


def answering(mode: Mode, answer: Answerer) -> Handler:
    """The handler of a message in ``mode``: answered to its sender alone; an exit word ends the session."""

    def said(me: Me, msg: m.Say | m.Action) -> list[Effect]:
        text, action = msg.text, isinstance(msg, m.Action)
        if not text.strip():
            return [error("empty_message", "empty messages are not sent")]
        if not action and is_exit_word(text, mode.exit_words):
            return [End(SAID_EXIT_WORD, "goodbye")]
        seq = me.server.next_seq()
        return [Answer(m.Reply(seq=seq, ts=time.time(), text=answer(seq, text, action)))]

    return said  # type: ignore[return-value]


def no_rooms(me: Me, msg: m.Message) -> list[Effect]:
    return [error("bad_command", "this server has no rooms")]


def nothing_to_moderate(me: Me, msg: m.Message) -> list[Effect]:
    return [error("bad_command", "this server has no rooms to moderate")]


def rename(me: Me, msg: m.SetNick) -> list[Effect]:
    """``/nick``: nobody else sees it, so no name is taken; the same refusals otherwise."""
    new = chat.new_name(me, msg.nick)
    if isinstance(new, list):
        return new
    old, me.nick = me.nick, new
    return [Answer(chat.renamed_notice(old, new)(time.time()))]


def away(me: Me, msg: m.Away) -> list[Effect]:
    refused = chat.bounded_away(me, msg)
    if refused:
        return refused
    me.away = one_line(msg.reason.strip())
    return [notice(f"{me.nick} is away: {me.away}" if me.away else f"{me.nick} is back", event="away")]


def kick(me: Me, msg: m.Kick) -> list[Effect]:
    if not me.op:
        return [error("not_operator", "only operators can /kick")]
    return [error("no_such_nick", f"nobody else called {msg.nick[:40]!r} is here")]


def private(me: Me, msg: m.PrivateSay) -> list[Effect]:
    return [error("no_such_nick", f"nobody called {msg.to[:40]!r} is here")]


def _table(mode: Mode, answer: Answerer) -> dict[type[m.Message], Handler]:
    said = answering(mode, answer)
    return {
        **chat.COMMON,
        m.Say: said,
        m.Action: said,
        m.PrivateSay: private,
        m.SetNick: rename,
        m.Away: away,
        m.Kick: kick,
        **dict.fromkeys((m.Join, m.Part, m.SetTopic, m.History, m.Search), no_rooms),
        **dict.fromkeys(chat.operators.COMMANDS, nothing_to_moderate),
    }


#: ``--mode reverse``: every message comes back reversed.
REVERSE = _table(Mode.REVERSE, lambda seq, text, action: reverse_text(text))
#: ``--mode ack``: every message is acknowledged with its number.
ACK = _table(Mode.ACK, lambda seq, text, action: ack_text(seq, text, action=action))
