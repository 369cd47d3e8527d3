"""Messages to a room from someone not in it: refused, unless the room's operators set ``-n`` (IRC's external messages).

A lanchat room takes messages from its members only (``+n``, every room's
mode when it is made). Its operators may set ``-n``: then someone not in it
may speak to it, as IRC's external messages, under the room's other modes
(its bans, ``+m``) and the sender's own mute. The message is the room's like
any other (numbered, kept, heard in order); the sender, not a member, does
not hear the room, so it gets no receipt nor echo of it.
"""

from __future__ import annotations

from chatserver.rules.effects import Effect, Publish, error
from chatserver.rules.roommodes import RoomState
from chatserver.rules.said import chat_message, silenced
from chatserver.rules.services import Me
from common import messages as m


def takes_outsiders(state: RoomState | None) -> bool:
    """Does this room take messages from people not in it (``-n``)?"""
    return state is not None and "n" not in state.flags


def say_from_outside(me: Me, msg: m.Say | m.Action, room: str, state: RoomState) -> list[Effect]:
    """``msg`` to ``room`` (a ``-n`` room, which ``me`` is not in): published as the room's, or refused."""
    text, action = msg.text, isinstance(msg, m.Action)
    if not text.strip():
        return [error("empty_message", "empty messages are not sent")]
    if not me.hub.first_names(room, 1)[1]:
        return [error("no_such_room", f"nobody is in {room[:40]}", room=room)]
    if state.banned(me.nick, me.address):
        return [error("banned_from_room", f"you are banned from {room}", room=room)]
    if not me.op and not state.may_speak(me.nick):
        return [error("moderated", f"{room} is moderated: only its operators and voiced people speak", room=room)]
    refused = silenced(me)
    if refused:
        return refused
    notice, tags = (None, None) if action else (msg.notice, msg.tags)  # type: ignore[union-attr]
    return [Publish(room, chat_message(room, me.nick, text, action, notice, me.account, tags))]
