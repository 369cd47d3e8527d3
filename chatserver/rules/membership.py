"""Which rooms a person is in: ``/join`` (and focus), ``/part``, ``/rooms``, and a reconnect's way back.

A person is in a set of rooms (at most ``MAX_MEMBERSHIPS``), one of them
focused: where ``say`` without a room goes, and what ``topic``, ``who``,
``/history`` and ``/search`` are about. The handlers return effects
(``effects.py``); the greeting callbacks (``greet_joined``) run inside the
hub's ``join``, under its lock, and send to the person directly.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import msgspec

from chatserver.backends.records import Unavailable
from chatserver.core.hub import LOBBY, Arrival, Greeting, Hub, TooManyRooms
from chatserver.rules import crowd
from chatserver.rules.effects import Announce, Answer, Effect, Follow, JoinRoom, LeaveRoom, error, notice
from chatserver.rules.services import Me
from common import messages as m
from common.limits import bound
from common.rooms import InvalidRoom, one_line, room_key, validate_room

#: Rooms one person may be in at once.
MAX_MEMBERSHIPS = 50
#: ``/rooms`` lists at most this many rooms at a time (and says how many more).
ROOMS_PAGE = 50


def entered(me: Me, g: Greeting) -> None:
    """Now in ``g.room``, and focused on it (under the hub lock, before anything of the room)."""
    me.room, me.epoch = g.room, g.epoch
    me.rooms[room_key(g.room)] = g.room
    me.rewire()


def replay(me: Me, g: Greeting) -> None:
    """The messages a greeting carries, after its welcome or ``joined``."""
    kind = g.kind
    if kind == "renumbered":  # a reconnect whose numbering this room no longer has
        me.send(
            notice(
                f"{g.room} was started afresh since you were last here (the server lost what it kept?), so what you "
                f"missed cannot be told; here are its {len(g.messages)} most recent message(s)",
                event="renumbered",
            ).msg
        )
        kind = "history"
    for msg in g.messages:
        me.send(msgspec.structs.replace(msg, replay=kind))
    if g.lost:
        me.send(notice(f"{g.lost} earlier message(s) were missed and are no longer available", event="missed").msg)


def greet_joined(me: Me, g: Greeting) -> None:
    """Joined another room: ``joined``, then its replay."""
    entered(me, g)
    users, count = me.hub.first_names(g.room, bound(m.Joined))  # (as the welcome: a bound, not all)
    more = count - len(users)
    topic = me.hub.topic(g.room)
    me.send(m.Joined(g.room, topic, users, len(g.messages), g.epoch, g.seq, more))
    replay(me, g)


def arrival(me: Me, room: str, ts: float) -> m.Notice:
    """What the others in ``room`` are told when this person comes in (see ``hub.Arrival``)."""
    told = f"{me.nick} joined {room}"
    account, realname, away = me.account, me.realname or None, me.away or None
    return m.Notice(text=told, ts=ts, event="join", nick=me.nick, account=account, realname=realname, reason=away)


def crowds(me: Me) -> crowd.Crowds:
    """The hub's crowded rooms, as ``crowd.py`` judges them with this server's limit."""
    return crowd.of(me.hub, me.server.config.announce_limit)


def judged(me: Me, room: str, change: int = 0) -> crowd.Verdict:
    """What ``room`` hears of this person coming in (``change`` 1: asked before the hub's join),
    going (-1: before the hub's part; 0 after it) or being renamed (0), by one O(1) count; the
    lobby with ``--quiet-lobby`` hears none of them (a kick is still told: ``Participant.unregister``)."""
    quiet = me.server.config.quiet_lobby and room_key(room) == room_key(LOBBY)
    if quiet:
        return crowds(me).judge(room, None, quiet=True)
    try:
        size, marked = me.hub.census(room)
    except Unavailable:  # (a cluster without its Redis: the room is taken as it was)
        return crowds(me).judge(room, None)
    return crowds(me).judge(room, size + change, marked=marked, mark=functools.partial(_mark, me.hub))


def _mark(hub: Hub, room: str, crowded: bool) -> bool:
    """``hub.mark_crowded``; a room whose mark cannot be set now crosses silently."""
    try:
        return hub.mark_crowded(room, crowded)
    except Unavailable:
        return False


def crossing(me: Me, room: str, verdict: crowd.Verdict) -> list[Effect]:
    """The notice ``room`` gets when ``verdict`` took it across the announce limit, if it did."""
    told = crowds(me).line(room, verdict)
    return [Announce(room, lambda ts: m.Notice(text=told, ts=ts, event="crowd", room=room))] if told else []


def arrival_of(me: Me, verdict: crowd.Verdict) -> Arrival | None:
    """What the others in the room are told in the same step as this person's join (``hub.Arrival``):
    that it came in, in a room not crowded; that the room is crowded now, when this join took it
    over the limit; else nothing."""
    if verdict.crossed:
        line = functools.partial(crowds(me).line, verdict=verdict)
        return lambda room, ts: m.Notice(text=line(room), ts=ts, event="crowd", room=room)
    return functools.partial(arrival, me) if verdict.announced else None


def join_room(me: Me, room: str, *, after: int | None = None, epoch: str | None = None, announced: bool = True) -> str:
    """Join ``room`` through the hub (``TooManyRooms`` if it cannot be made), greeted as a second room is;
    the others are told (``announced``) unless the room is crowded (``crowd.py``)."""
    return me.hub.join(
        room,
        me,  # type: ignore[arg-type]  # (the rules' Participant is the hub's)
        greet=functools.partial(greet_joined, me),
        after=after,
        epoch=epoch,
        recent=me.server.config.history,
        arrival=arrival_of(me, judged(me, room, 1)) if announced else None,
    )


def refused_join(me: Me) -> str:
    """Why this person may not join a room now ("" if it may): its address joins too fast."""
    return "" if me.is_host else me.hub.quota.join(me.address)


def rejoin(me: Me, others: Sequence[tuple[str, str | None, int | None]], *, announced: bool) -> None:
    """A reconnect back into the other rooms it was in, each with its ``joined``
    and replay (and, if ``announced``, the others told it came in); a room that
    cannot be had is named, with why."""
    skipped = 0
    for name, epoch, last_seq in others:
        try:
            name = validate_room(name)
        except InvalidRoom:
            skipped += 1
            continue
        if room_key(name) in me.rooms:
            continue
        if len(me.rooms) >= MAX_MEMBERSHIPS:
            skipped += 1
            continue
        try:
            why = refused_join(me)
            if not why:
                join_room(me, name, after=last_seq, epoch=epoch, announced=announced)
        except TooManyRooms as exc:
            why = str(exc)
        if why:
            me.send(m.Error("too_many_rooms", f"{name} could not be joined again: {why}"))
    if skipped:
        me.send(notice(f"{skipped} of the rooms you were in could not be joined again").msg)


def member_of(me: Me, name: str) -> tuple[str | None, list[Effect]]:
    """The name of ``name``, a room this person is in; else None, and the answer saying why."""
    try:
        key = room_key(validate_room(name))
    except InvalidRoom as exc:
        return None, [error(exc.code, str(exc))]
    found = me.rooms.get(key)
    if found is None:
        return None, [error("not_in_room", f"you are not in {name[:40]}: /join it first")]
    return found, []


def join(me: Me, msg: m.Join) -> list[Effect]:
    """``/join``: join the room and focus it; the other rooms are kept."""
    try:
        wanted = validate_room(msg.room)
    except InvalidRoom as exc:
        return [error(exc.code, str(exc))]
    here = me.rooms.get(room_key(wanted))
    if here is not None:  # a room we are in: focus it
        me.room = here
        return [Answer(m.Focused(room=here))]
    if len(me.rooms) >= MAX_MEMBERSHIPS:
        return [error("too_many_rooms", f"you are in {len(me.rooms)} rooms, the most at once: /part one first")]
    why = refused_join(me)
    if why:
        return [error("too_many_joins", why)]
    try:  # (asked of the hub now: whether the room can be made is its answer)
        joined = join_room(me, wanted)
    except TooManyRooms as exc:
        return [error("too_many_rooms", f"{exc}; join one of /rooms")]
    return [Follow(joined, True)]  # (the person's other devices join it too: ``devices.py``)


def leaving(me: Me, room: str, reason: str | None, *, by: str | None = None) -> list[Effect]:
    """Out of ``room``, one this person is in (told ``parted``; ``by``: kicked out of it by ``by``);
    out of its last room, back in the lobby. The room is told once the person's last device is
    out (``LeaveRoom.told``): unless it is crowded, and always of a kick."""
    nick = me.nick
    verdict = judged(me, room, -1)  # (asked before the LeaveRoom below is done)
    if by is not None:
        told = f"{nick} left {room} (kicked by {by}" + (f": {reason})" if reason else ")")
    else:
        told = f"{nick} left {room}" + (f": {reason}" if reason else "")
    said = None if by is not None else reason
    build = lambda ts: m.Notice(text=told, ts=ts, event="leave", nick=nick, reason=said)  # noqa: E731
    out = LeaveRoom(room, build if verdict.announced or by is not None else None)
    del me.rooms[room_key(room)]
    me.rewire()
    if not me.rooms:
        back: list[Effect] = [Answer(m.Parted(room=room, focus=LOBBY, reason=reason, by=by)), JoinRoom(LOBBY)]
    else:
        if room_key(room) == room_key(me.room):
            me.room = list(me.rooms.values())[-1]  # the room joined last
        back = [Answer(m.Parted(room=room, focus=me.room, reason=reason, by=by))]
    return [out, *back, *crossing(me, room, verdict)]


def part(me: Me, msg: m.Part) -> list[Effect]:
    """``/part``: leave the named or the focused room; leaving the last one goes back to the lobby.
    Every device of the person leaves it (``Follow``); the room is told when the last one is out."""
    if msg.room is None:
        room: str | None = me.room
    else:
        room, refused = member_of(me, msg.room)
        if room is None:
            return refused
    if len(me.rooms) == 1 and room_key(room) == room_key(LOBBY):
        return [error("bad_command", f"you are in {LOBBY} only: /join another room first")]
    reason = one_line(msg.reason or "") or None  # (IRC's part message)
    return [*leaving(me, room, reason), Follow(room, False, reason or "")]


def list_rooms(me: Me, msg: m.ListRooms) -> list[Effect]:
    """``/rooms``: a page of the rooms with people in them, which of them are ours."""
    after = room_key(msg.after) if msg.after else ""
    rooms = [r for r in me.hub.rooms() if room_key(r.name) > after]  # (in order of room_key)
    page, more = rooms[:ROOMS_PAGE], max(0, len(rooms) - ROOMS_PAGE)
    mine = [room_key(r.name) in me.rooms for r in page]
    names, counts, topics = [r.name for r in page], [r.members for r in page], [r.topic for r in page]
    return [Answer(m.RoomList(names, counts, topics, more=more, mine=mine))]
