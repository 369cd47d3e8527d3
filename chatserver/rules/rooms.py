"""The room modes' commands and checks: joining, speaking and setting a topic as its modes allow; changing them.

The modes themselves are ``roommodes.py``. The checks wrap the chat
table's own handlers (``join``, ``say``, ``topic``, ``rename``,
``list_rooms``), so every way in is held to them. ``ChangeMode``,
``ModesOf`` and ``Invite`` are questions a dialect asks (IRC's ``MODE`` and
``INVITE``), like ``lookup.py``'s: not on the native wire.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from chatserver.core.hub import LOBBY
from chatserver.rules import membership
from chatserver.rules.effects import Announce, Answer, Effect, Tell, error
from chatserver.rules.outsiders import say_from_outside, takes_outsiders
from chatserver.rules.roommodes import FLAGS, MAX_BANS, MAX_INVITES, MEANING, Ban, RoomModes, RoomState, ban_mask
from chatserver.rules.services import Handler, Me
from common import messages as m
from common.nicks import nick_key
from common.rooms import InvalidRoom, room_key, validate_room

#: The longest key a room may have.
MAX_KEY = 32


class ChangeMode(m.Message, tag="change-mode"):
    """Set (``sign`` "+") or unset ("-") one of ``room``'s modes; ``arg``: the nick, key or limit it
    takes; ``more``: further changes (sign, mode, arg) made with it, told as one."""

    room: str
    sign: str
    mode: str
    arg: str = ""
    more: list[tuple[str, str, str]] = msgspec.field(default_factory=list)


class ModesOf(m.Message, tag="modes-of"):
    """What ``room``'s modes are."""

    room: str


class Modes(m.Message, tag="modes"):
    """The answer to ``ModesOf``: ``modes`` as IRC says them (``+ntl``), their arguments, when it was made."""

    room: str
    modes: str
    args: list[str]
    created: float = 0.0


class Invite(m.Message, tag="invite"):
    """Invite ``nick`` into ``room`` (one we are in): told so, and let in past ``+i``."""

    nick: str
    room: str


class BansOf(m.Message, tag="bans-of"):
    """Which masks are banned from ``room`` (its ``+b``)."""

    room: str


class RoomBans(m.Message, tag="room-bans"):
    """The answer to ``BansOf``: each ban's mask, who set it, and when."""

    room: str
    bans: list[tuple[str, str, float]]


class TopicOf(m.Message, tag="topic-of"):
    """Who set ``room``'s topic, and when."""

    room: str


class TopicSet(m.Message, tag="topic-set"):
    """The answer to ``TopicOf``: the topic, who set it and when (``by`` "" if this server does not know)."""

    room: str
    topic: str
    by: str = ""
    at: float = 0.0


class Invited(m.Message, tag="invited"):
    """The answer to ``Invite``: ``nick`` was invited to ``room`` (who is told by a notice, ``invited_to``)."""

    nick: str
    room: str
    by: str


def modes(me: Me) -> RoomModes:
    return me.server.sanctions.rooms


def _live(me: Me, room: str) -> tuple[RoomState | None, int]:
    """``room``'s modes if anyone is in it (an empty room's are stale), and how many are in it."""
    count = me.hub.first_names(room, 1)[1]
    return (modes(me).get(room) if count else None), count


def _present(me: Me, name: str) -> tuple[str | None, RoomState | None, list[Effect]]:
    """The room ``name`` as ``me`` is in it, and its modes; or (None, ..., the refusal saying why:
    nobody is in such a room, or ``me`` is not)."""
    state, count = _live(me, name)
    if not count:
        return None, None, [error("no_such_room", f"there is no room {name[:40]}", room=name)]
    room, refused = membership.member_of(me, name)
    return room, state, refused


def room_op(me: Me, state: RoomState | None) -> bool:
    """May this person change the room's modes (a room operator, or a server operator)?"""
    return me.op or (state is not None and state.is_op(me.nick))


# -- the chat table's handlers, held to the modes ----------------------------------
def join(me: Me, msg: m.Join) -> list[Effect]:
    try:
        wanted = validate_room(msg.room)
    except InvalidRoom:
        return membership.join(me, msg)
    key = room_key(wanted)
    if key in me.rooms or key == room_key(LOBBY):
        return membership.join(me, msg)
    state, count = _live(me, wanted)
    if state is not None and not me.op:
        refused = _refused_entry(me, state, wanted, msg.key or "", count)
        if refused:
            return refused
    effects = membership.join(me, msg)
    if key in me.rooms:
        if state is None and me.hub.first_names(wanted, 2)[1] == 1:
            modes(me).made(wanted, me.nick if me.server.config.room_operators else "")
        elif state is not None:
            with modes(me).lock:
                state.invited.discard(nick_key(me.nick))
    return effects


def _refused_entry(me: Me, state: RoomState, room: str, key: str, count: int) -> list[Effect]:
    if state.bans and state.banned(me.nick, me.address):
        return [error("banned_from_room", f"you are banned from {room}", room=room)]
    if "i" in state.flags and nick_key(me.nick) not in state.invited:
        return [error("invite_only", f"{room} is invite-only: ask one of its operators to invite you", room=room)]
    if state.key and key != state.key:
        return [error("bad_key", f"{room} needs a key to join (/join {room} KEY)", room=room)]
    if state.limit and count >= state.limit:
        return [error("room_full", f"{room} is full ({state.limit} people at most)", room=room)]
    return []


def say(chat: Handler) -> Handler:
    """``chat``'s say, but not in a moderated room by someone without voice; to a ``-n`` room from outside it."""

    def checked(me: Me, msg: m.Say | m.Action) -> list[Effect]:
        room = msg.room or me.room
        state = modes(me).get(room)
        if room_key(room) not in me.rooms:  # (refused by ``chat``, unless the room takes outsiders: ``-n``)
            return say_from_outside(me, msg, room, state) if takes_outsiders(state) else chat(me, msg)  # type: ignore[arg-type]
        if state is not None and not me.op and not state.may_speak(me.nick):
            return [error("moderated", f"{room} is moderated: only its operators and voiced people speak", room=room)]
        return chat(me, msg)

    return checked  # type: ignore[return-value]


def may_say(me: Me, room: str) -> bool:
    """May this person speak in ``room`` (one it is in) as its modes stand?"""
    state = modes(me).get(room)
    return state is None or me.op or state.may_speak(me.nick)


def topic(chat: Handler) -> Handler:
    """``chat``'s topic, but set only by a room operator in a ``+t`` room; who set it, and when, is kept."""

    def checked(me: Me, msg: m.SetTopic) -> list[Effect]:
        room = msg.room or me.room
        state = None
        if (msg.text.strip() or msg.clear) and room_key(room) in me.rooms:
            state = modes(me).get(room)
            if state is not None and "t" in state.flags and not room_op(me, state):
                return [error("not_operator", f"only the operators of {room} set its topic", room=room)]
        effects = chat(me, msg)
        if state is not None and any(isinstance(e, Announce) for e in effects):  # (it was set)
            with modes(me).lock:
                state.topic_by, state.topic_at = me.nick, time.time()
        return effects

    return checked  # type: ignore[return-value]


def topic_of(me: Me, msg: TopicOf) -> list[Effect]:
    state, count = _live(me, msg.room)
    if not count:
        return [error("no_such_room", f"there is no room {msg.room[:40]}", room=msg.room)]
    now = me.hub.topic(msg.room)
    with modes(me).lock:
        by, at = (state.topic_by, state.topic_at) if state is not None and now else ("", 0.0)
    return [Answer(TopicSet(msg.room, now, by, at))]


def rename(chat: Handler) -> Handler:
    """``chat``'s rename: room rights follow the new name."""

    def renamed(me: Me, msg: m.Message) -> list[Effect]:
        old = me.nick
        effects = chat(me, msg)
        if me.nick != old:
            modes(me).renamed(old, me.nick)
        return effects

    return renamed


def list_rooms(chat: Handler) -> Handler:
    """``chat``'s room list without the secret rooms one is not in."""

    def listed(me: Me, msg: m.Message) -> list[Effect]:
        effects = chat(me, msg)
        table = modes(me)
        out: list[Effect] = []
        for effect in effects:
            found = effect.msg if isinstance(effect, Answer) else None
            if isinstance(found, m.RoomList):
                keep = [
                    i
                    for i, name in enumerate(found.names)
                    if room_key(name) in me.rooms or "s" not in ((table.get(name) or _NONE).flags)
                ]
                if len(keep) != len(found.names):
                    effect = Answer(_only(found, keep))
            out.append(effect)
        return out

    return listed


_NONE = RoomState(created=0.0)


def _only(found: m.RoomList, keep: list[int]) -> m.RoomList:
    pick = lambda xs: [xs[i] for i in keep if i < len(xs)]  # noqa: E731
    return m.RoomList(pick(found.names), pick(found.counts), pick(found.topics), more=found.more, mine=pick(found.mine))


# -- changing and reading modes, inviting ---------------------------------------------
def modes_of(me: Me, msg: ModesOf) -> list[Effect]:
    state, count = _live(me, msg.room)
    if not count:
        return [error("no_such_room", f"there is no room {msg.room[:40]}", room=msg.room)]
    state = state or _NONE
    with modes(me).lock:
        shown, args = state.shown()
    if state.key and room_key(msg.room) not in me.rooms:
        args = ["*" if a == state.key else a for a in args]
    return [Answer(Modes(msg.room, shown, args, state.created))]


def _in_room(me: Me, room: str, nick: str) -> bool:
    key = nick_key(nick)
    return any(nick_key(p.nick) == key for p in me.hub.members(room))


def change_mode(me: Me, msg: ChangeMode) -> list[Effect]:
    """Changes of one room's modes: each refused says why; those made are told to the room at once."""
    room, state, refused = _present(me, msg.room)
    if room is None:
        return refused
    effects: list[Effect] = []
    made: list[tuple[str, str, str]] = []  # (sign, mode, the argument shown)
    for sign, mode, arg in [(msg.sign, msg.mode, msg.arg), *msg.more][:MAX_CHANGES]:
        change = _CHANGES.get(mode)
        if change is None or room_key(room) == room_key(LOBBY):
            told = f"{mode[:1]!r}: rooms here have modes {' '.join(_CHANGES)}" if change is None else ""
            told = told or f"{LOBBY} has no modes but o and b: everyone is put there"
            effects.append(error("unknown_mode", told, target=mode[:1]))
            continue
        if not room_op(me, state):
            who = f"only the operators of {room} change its modes: its room operators (+o) and server operators"
            makers = me.server.config.room_operators
            why = "" if makers else "; this server gives a room's maker no rights (it runs without --room-operators)"
            return effects + [error("not_operator", who + why, room=room)]
        if state is None:  # (a server operator, in a room made before this server kept its modes)
            state = modes(me).made(room, "")
        done = change(me, state, room, sign, mode, arg)
        if isinstance(done, list):
            effects += done
        elif done is not None:
            made.append((sign, mode, done))
    if made:
        effects += _told(me, room, made)
    return effects


#: Changes taken from one command, at most (IRC's MODES=).
MAX_CHANGES = 8
#: A change's outcome: the argument to show ("" for none), None if nothing changed, or the refusal.
Done = str | None | list[Effect]


def _person_mode(me: Me, state: RoomState, room: str, sign: str, mode: str, arg: str) -> Done:
    target = me.hub.find(arg)
    if target is None:
        return [error("no_such_nick", f"nobody called {arg[:40]!r} is here")]
    if not _in_room(me, room, target.nick):
        return [error("not_in_that_room", f"{target.nick} is not in {room}", room=room, target=target.nick)]
    keys = state.ops if mode == "o" else state.voiced
    with modes(me).lock:
        had = nick_key(target.nick) in keys
        (keys.add if sign == "+" else keys.discard)(nick_key(target.nick))
    return None if had == (sign == "+") else target.nick


def _flag_mode(me: Me, state: RoomState, room: str, sign: str, mode: str, arg: str) -> Done:
    with modes(me).lock:
        had = mode in state.flags
        (state.flags.add if sign == "+" else state.flags.discard)(mode)
    return None if had == (sign == "+") else ""


def _key_mode(me: Me, state: RoomState, room: str, sign: str, mode: str, arg: str) -> Done:
    if sign == "-":
        with modes(me).lock:
            had, state.key = state.key, ""
        return "*" if had else None
    key = arg.strip()
    if not key or len(key) > MAX_KEY or any(ch in key for ch in " ,:") or not key.isprintable():
        told = f"a room key is 1 to {MAX_KEY} printable characters, no spaces"
        return [error("bad_mode_value", told, room=room, target="k")]
    with modes(me).lock:
        state.key = key
    return key


def _limit_mode(me: Me, state: RoomState, room: str, sign: str, mode: str, arg: str) -> Done:
    if sign == "-":
        with modes(me).lock:
            had, state.limit = state.limit, 0
        return "" if had else None
    try:
        limit = int(arg)
    except ValueError:
        limit = 0
    if limit <= 0:
        return [error("bad_mode_value", "a room limit is a number of people, 1 or more", room=room, target="l")]
    with modes(me).lock:
        state.limit = limit
    return str(limit)


def _ban_mode(me: Me, state: RoomState, room: str, sign: str, mode: str, arg: str) -> Done:
    mask = ban_mask(arg)
    if mask is None:
        return [
            error("bad_mode_value", "a ban is a mask, NICK!USER@HOST (* and ? as wildcards)", room=room, target="b")
        ]
    with modes(me).lock:
        had = [ban for ban in state.bans if ban.mask.casefold() == mask.casefold()]
        if sign == "-":
            for ban in had:
                state.bans.remove(ban)
            return mask if had else None
        if had:
            return None
        if len(state.bans) >= MAX_BANS:
            return [
                error("bad_mode_value", f"{room} has {MAX_BANS} bans, the most: -b one first", room=room, target="b")
            ]
        state.bans.append(Ban(mask, me.nick, time.time()))
    return mask


def bans_of(me: Me, msg: BansOf) -> list[Effect]:
    state, count = _live(me, msg.room)
    if not count:
        return [error("no_such_room", f"there is no room {msg.room[:40]}", room=msg.room)]
    with modes(me).lock:
        bans = [(ban.mask, ban.by, ban.at) for ban in (state.bans if state is not None else [])]
    return [Answer(RoomBans(msg.room, bans))]


def _told(me: Me, room: str, made: list[tuple[str, str, str]]) -> list[Effect]:
    """The room hears of changes of its modes: one notice for each person's (``+o``, ``-v``), one for the rest
    (IRC: one MODE line, ``+kl-i key 5``)."""
    nick = me.nick
    effects: list[Effect] = []
    letters, sign, args, meant = "", "", [], []
    for s, mode, arg in made:
        said = f"{s}{mode}" + (f" {arg}" if arg else "") + (f" ({MEANING[mode]})" if mode in MEANING else "")
        if mode in "ov":  # (one person's: a notice of its own, the name apart, as names may hold spaces)
            effects.append(_mode_notice(room, nick, f"{nick} set the modes of {room}: {said}", f"{s}{mode}", arg))
            continue
        letters += (s if s != sign else "") + mode
        sign = s
        args += [arg] if arg else []
        meant.append(said)
    if letters:
        shown = " ".join([letters, *args])
        effects.append(_mode_notice(room, nick, f"{nick} set the modes of {room}: " + ", ".join(meant), shown, None))
    return effects


def _mode_notice(room: str, nick: str, text: str, mode: str, target: str | None) -> Announce:
    return Announce(room, lambda ts: m.Notice(text=text, ts=ts, event="mode", nick=nick, mode=mode, target=target))


_CHANGES: dict[str, Callable[[Me, RoomState, str, str, str, str], Done]] = {
    "o": _person_mode,
    "v": _person_mode,
    "k": _key_mode,
    "l": _limit_mode,
    "b": _ban_mode,
    **{flag: _flag_mode for flag in FLAGS},
}


def invite(me: Me, msg: Invite) -> list[Effect]:
    target = me.hub.find(msg.nick)
    if target is None:
        return [error("no_such_nick", f"nobody called {msg.nick[:40]!r} is here")]
    room, state, refused = _present(me, msg.room)
    if room is None:
        return refused
    if _in_room(me, room, target.nick):
        return [error("already_in_room", f"{target.nick} is in {room} already", room=room, target=target.nick)]
    if state is not None and "i" in state.flags and not room_op(me, state):
        return [error("not_operator", f"only the operators of {room} invite into it", room=room)]
    if state is not None:
        with modes(me).lock:
            if len(state.invited) < MAX_INVITES:
                state.invited.add(nick_key(target.nick))
    text = f"{me.nick} invites you to {room} (/join {room})"
    told = m.Notice(
        text=text, ts=time.time(), event="invite", nick=me.nick, target=target.nick, invited_to=room, account=me.account
    )
    return [Answer(Invited(target.nick, room, me.nick)), Tell(target.nick, told)]


#: The questions' handlers, for the chat table.
COMMANDS: dict[type[m.Message], Handler] = {
    ChangeMode: change_mode,
    ModesOf: modes_of,
    Invite: invite,
    BansOf: bans_of,
    TopicOf: topic_of,
}  # type: ignore[dict-item]
