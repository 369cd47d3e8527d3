"""Which rooms a participant is in: joining (and focusing), leaving, and a reconnect's way back.

A participant is in a set of rooms (at most ``MAX_MEMBERSHIPS``), one of them
focused: where ``say`` without a room goes, and what ``topic``, ``who``,
``/history`` and ``/search`` are about. ``Membership`` is mixed into
``Participant`` (``participant.py``), whose state and ``send`` it uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from chatserver.core.hub import LOBBY, Greeting, Hub, TooManyRooms
from chatserver.rules.modes import Mode
from common import messages as m
from common.limits import first
from common.rooms import InvalidRoom, room_key, validate_room

if TYPE_CHECKING:
    from chatserver.net.server import ChatServer

#: Rooms one session may be in at once.
MAX_MEMBERSHIPS = 50


class Membership:
    server: ChatServer
    hub: Hub
    mode: Mode
    nick: str
    #: The focused room, and its numbering when we joined it.
    room: str
    epoch: str
    #: Every room this participant is in (``room`` among them): key -> name, in joining order.
    rooms: dict[str, str]

    @property
    def address(self) -> str:
        raise NotImplementedError

    is_host: bool

    def send(self, msg: m.Message) -> None:
        raise NotImplementedError

    def notice(self, text: str, event: str = "info") -> None:
        raise NotImplementedError

    def _replay(self, g: Greeting) -> None:
        raise NotImplementedError

    def _entered(self, g: Greeting) -> None:
        """Now in ``g.room``, and focused on it (under the hub lock, before anything of the room)."""
        self.room, self.epoch = g.room, g.epoch
        self.rooms[room_key(g.room)] = g.room

    def _greet_joined(self, g: Greeting) -> None:
        """Joined another room: ``joined``, then its replay."""
        self._entered(g)
        shown, more = first(m.Joined, self.hub.members(g.room))  # (as the welcome: a bound, not all)
        users, topic = [p.nick for p in shown], self.hub.topic(g.room)
        self.send(m.Joined(g.room, topic, users, len(g.messages), g.epoch, g.seq, more))
        self._replay(g)

    def _arrival(self, room: str, ts: float) -> m.Notice:
        """What the others in ``room`` are told when this participant comes in (see ``hub.Arrival``)."""
        return m.Notice(text=f"{self.nick} joined {room}", ts=ts, event="join", nick=self.nick)

    def _refused_join(self) -> str:
        """Why this participant may not join a room now ("" if it may): its address joins too fast."""
        return "" if self.is_host else self.hub.quota.join(self.address)

    def _rejoin(self, others: Sequence[tuple[str, str | None, int | None]], *, announced: bool) -> None:
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
            if room_key(name) in self.rooms:
                continue
            if len(self.rooms) >= MAX_MEMBERSHIPS:
                skipped += 1
                continue
            try:
                why = self._refused_join()
                if not why:
                    self.hub.join(
                        name,
                        self,
                        greet=self._greet_joined,
                        after=last_seq,
                        epoch=epoch,
                        recent=self.server.config.history,
                        arrival=self._arrival if announced else None,
                    )
            except TooManyRooms as exc:
                why = str(exc)
            if why:
                self.send(m.Error("too_many_rooms", f"{name} could not be joined again: {why}"))
        if skipped:
            self.notice(f"{skipped} of the rooms you were in could not be joined again", event="info")

    def _member_of(self, name: str) -> str | None:
        """The name of ``name``, a room this participant is in; else None, and told why."""
        try:
            key = room_key(validate_room(name))
        except InvalidRoom as exc:
            self.send(m.Error(exc.code, str(exc)))
            return None
        found = self.rooms.get(key)
        if found is None:
            self.send(m.Error("not_in_room", f"you are not in {name[:40]}: /join it first"))
        return found

    def _join(self, wanted: str) -> None:
        """Join ``wanted`` and focus it; the other rooms are kept."""
        if self.mode is not Mode.CHAT:
            self.send(m.Error("bad_command", "this server has no rooms"))
            return
        try:
            wanted = validate_room(wanted)
        except InvalidRoom as exc:
            self.send(m.Error(exc.code, str(exc)))
            return
        here = self.rooms.get(room_key(wanted))
        if here is not None:  # a room we are in: focus it
            self.room = here
            self.send(m.Focused(room=here))
            return
        if len(self.rooms) >= MAX_MEMBERSHIPS:
            self.send(
                m.Error("too_many_rooms", f"you are in {len(self.rooms)} rooms, the most at once: /part one first")
            )
            return
        why = self._refused_join()
        if why:
            self.send(m.Error("too_many_joins", why))
            return
        try:
            self.hub.join(
                wanted, self, greet=self._greet_joined, recent=self.server.config.history, arrival=self._arrival
            )
        except TooManyRooms as exc:
            self.send(m.Error("too_many_rooms", f"{exc}; join one of /rooms"))

    def _part(self, named: str | None) -> None:
        """Leave ``named`` or the focused room; leaving the last one goes back to the lobby."""
        if self.mode is not Mode.CHAT:
            self.send(m.Error("bad_command", "this server has no rooms"))
            return
        room = self.room if named is None else self._member_of(named)
        if room is None:
            return
        nick = self.nick
        if len(self.rooms) == 1:
            if room_key(room) == room_key(LOBBY):
                self.send(m.Error("bad_command", f"you are in {LOBBY} only: /join another room first"))
                return
            self.hub.part(room, self)
            del self.rooms[room_key(room)]
            self.send(m.Parted(room=room, focus=LOBBY))
            self.hub.join(
                LOBBY, self, greet=self._greet_joined, recent=self.server.config.history, arrival=self._arrival
            )
        else:
            self.hub.part(room, self)
            del self.rooms[room_key(room)]
            if room_key(room) == room_key(self.room):
                self.room = list(self.rooms.values())[-1]  # the room joined last
            self.send(m.Parted(room=room, focus=self.room))
        self.hub.announce(room, lambda ts: m.Notice(text=f"{nick} left {room}", ts=ts, event="leave", nick=nick))
