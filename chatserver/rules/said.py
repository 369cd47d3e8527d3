"""What a person says to a room, as every way of saying it builds it: the message the hub numbers, the mute.

``chat.py``'s ``say`` (a member of the room), ``outsiders.py`` (someone not
in a ``-n`` room) and ``dispatch.py`` (lines read together, published in one
go) share them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from chatserver.rules.effects import Effect, error
from chatserver.rules.services import Me
from common import messages as m


def chat_message(
    room: str,
    nick: str,
    text: str,
    action: bool,
    notice: bool | None = None,
    account: str | None = None,
    tags: str | None = None,
) -> Callable[[int, float], m.ChatMessage]:
    """How the hub builds a room message once it has its number and time (``account``: the sender's,
    ``tags`` its client-only tags): the message's own constructor, its number and time left to
    give (the first two fields), so building it runs no Python of ours."""
    return functools.partial(
        m.ChatMessage, room=room, nick=nick, text=text, action=action, notice=notice, account=account, tags=tags
    )


def chat_messages(room: str, nick: str, account: str | None = None) -> Callable[..., Callable[[int, float], m.Message]]:
    """``chat_message`` for one sender's run of lines to one room, without a Python call per
    line: ``chat_messages(room, nick, account)(text=..., action=...)`` is ``chat_message(room,
    nick, text, action, account=account)`` (a plain line: no notice, no tags)."""
    return functools.partial(functools.partial, m.ChatMessage, room=room, nick=nick, account=account)


def silenced(me: Me) -> list[Effect]:
    """A muted person may not say anything the room sees (messages, and topic,
    away and nick changes): the refusal saying why, or nothing."""
    mute = me.mute()
    return [] if mute is None else [error("muted", me.muted_text(mute))]
