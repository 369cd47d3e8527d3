"""Which of our rooms the user looks at: membership, the focused room, each room's users and topic.

The terminal shows one room, the focused one (``hide_unfocused``): a line of
another room we are in waits in the ``Hotlist`` until we switch there. One
lock orders "shown or kept" against "switch and show what was kept", so a
line is shown exactly once. The receiver thread feeds it; the UI thread
switches.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from common import messages as m
from common.nicks import nick_key
from common.rooms import InvalidRoom, room_key, validate_room

from .hotlist import Hotlist

Show = Callable[[m.Message], None]

#: Copies of one rename (the server tells each room we share with them) come this close (seconds).
SAME_RENAME = 5.0


def room_of(typed: str) -> str:
    """The key of a room as typed (``dev`` is ``#dev``); "" for no room."""
    try:
        return room_key(validate_room(typed))
    except InvalidRoom:
        return ""


class Windows:
    def __init__(self, welcome: m.Welcome) -> None:
        key = room_key(welcome.room)
        self.room = welcome.room  # the focused room
        #: The rooms we are in (``room`` among them): key -> name, in joining order (replaced, never mutated).
        self.joined: dict[str, str] = {key: welcome.room}
        self._users: dict[str, list[str]] = {key: list(welcome.users)}
        self._topics: dict[str, str] = {key: welcome.topic}
        self.hide_unfocused = False
        self.hotlist = Hotlist()
        #: Does a message name us (set by the front end)?
        self.mentions: Callable[[m.Message], bool] = lambda msg: False
        #: Called (receiver thread) with a message kept for later, and whether it mentions us.
        self.on_hidden: Callable[[m.Message, bool], None] = lambda msg, mentioned: None
        #: Shows a kept line when its room is looked at (set by the front end): its bell
        #: and notification were given when it came, through ``on_hidden``.
        self.show_kept: Show | None = None
        #: Told the room and time of the last message a switch to the room showed (the account's
        #: read marker: set by the receiver, ``inbound.py``).
        self.on_read: Callable[[str, float], None] = lambda room, ts: None
        self.lock = threading.RLock()
        self._rejoining: set[str] = set()  # keys of rooms a reconnect asked back, not yet joined
        self._rejoined: set[str] = set()  # the same, joined and not yet shown
        self._renames_shown: dict[tuple[str | None, str | None], float] = {}  # (old, new) -> when the shown one came
        self._renamed: dict[str, str] = {}  # renames seen: the old name's key -> the new name

    @property
    def users(self) -> list[str]:
        """Who is in the focused room."""
        return self._users.get(room_key(self.room), [])

    def now_called(self, nick: str) -> str | None:
        """What someone we saw renamed from ``nick`` is called now (bob -> robert -> rob: rob),
        unless someone in our rooms is called ``nick`` now; None if we saw no such rename."""
        key = nick_key(nick)
        if any(key == nick_key(user) for users in list(self._users.values()) for user in users):
            return None
        now, seen = None, {key}
        while (later := self._renamed.get(key)) is not None and nick_key(later) not in seen:
            now, key = later, nick_key(later)
            seen.add(key)
        return now

    @property
    def topic(self) -> str:
        return self._topics.get(room_key(self.room), "")

    # -- what the server says ----------------------------------------------
    def asking_back(self) -> list[str]:
        """A reconnect: the rooms besides the focused one to ask back."""
        others = [r for k, r in self.joined.items() if k != room_key(self.room)]
        self._rejoining = {room_key(r) for r in others}
        return others

    def entered(self, msg: m.Welcome | m.Joined) -> bool:
        """In ``msg.room`` (focused on it, unless a reconnect took it back): True for such a one."""
        key = room_key(msg.room)
        rejoined = isinstance(msg, m.Joined) and key in self._rejoining
        self._rejoining.discard(key)
        if rejoined:
            self._rejoined.add(key)  # (shown as such)
        with self.lock:
            if isinstance(msg, m.Welcome):  # (a reconnect: the joined frames that follow say the rest)
                back = self._rejoining | {key}  # (in the order we had them)
                self.joined = {k: r for k, r in self.joined.items() if k in back}
            if not rejoined:
                self.room = msg.room
            self.joined = self.joined | {key: msg.room}
        self._users[key], self._topics[key] = list(msg.users), msg.topic
        return rejoined

    def parted(self, msg: m.Parted, show: Show) -> None:
        with self.lock:
            self.joined = {k: v for k, v in self.joined.items() if k != room_key(msg.room)}
            self.hotlist.drop(msg.room)
            moved = room_key(msg.focus) != room_key(self.room) and room_key(msg.focus) in self.joined
            if moved and self.hide_unfocused:
                self.focus(msg.focus, show)  # (what waited there is shown)
            self.room = msg.focus

    def who(self, msg: m.Users) -> None:
        self._users[room_key(msg.room)] = list(msg.nicks)

    def notice(self, msg: m.Notice) -> bool:
        """A room's join, leave, rename or topic (``msg.nick`` set); True if anything changed."""
        key = room_key(msg.room or self.room)
        here = self._users.setdefault(key, [])
        if msg.event == "join" and msg.nick not in here:
            self._users[key] = [*here, msg.nick or ""]
        elif msg.event == "leave" and msg.nick in here:
            self._users[key] = [u for u in here if u != msg.nick]
        elif msg.event == "nick" and msg.previous and msg.nick:
            self._users[key] = [msg.nick if u == msg.previous else u for u in here]
            self._renamed[nick_key(msg.previous)] = msg.nick
            self._renamed.pop(nick_key(msg.nick), None)  # (that name is someone's again)
        elif msg.event == "topic" and msg.topic is not None:
            self._topics[key] = msg.topic
        else:
            return False
        return True

    # -- showing -------------------------------------------------------------
    def route(self, msg: m.Message, show: Show) -> tuple[bool, bool]:
        """Show ``msg``, or keep it: a line of a room we are in but not looking at.
        Returns (kept, mentions us)."""
        if self.hide_unfocused and isinstance(msg, m.Focused):
            return False, False  # the answer to our switch, which printed its own marker
        if isinstance(msg, m.Joined) and room_key(msg.room) in self._rejoined:
            self._rejoined.discard(room_key(msg.room))
            msg = m.Notice(text=f"back in {msg.room} too", ts=time.time(), event="connection")
        room = msg.room if isinstance(msg, (m.ChatMessage, m.Notice)) else None
        with self.lock:
            if not (
                self.hide_unfocused
                and room is not None
                and room_key(room) != room_key(self.room)
                and room_key(room) in self.joined
            ):
                if not self._shown_already(msg):
                    show(msg)
                return False, False
            mentioned = isinstance(msg, m.ChatMessage) and not msg.replay and self.mentions(msg)
            self.hotlist.add(room, msg, mentioned=mentioned)
        self.on_hidden(msg, mentioned)
        return True, mentioned

    def focus(self, typed: str, show: Show) -> str | None:
        """Look at ``typed`` (one of our rooms): a marker line, then what came
        there unseen (nothing at all if nothing did: the toolbar names the room).
        Its name, or None if not one of ours."""
        name = self.joined.get(room_of(typed))
        if name is None:
            return None
        with self.lock:
            self.room = name
            taken = self.hotlist.take(name)
            older = f" ({taken.dropped} older not kept)" if taken.dropped else ""
            if taken.count or taken.dropped:
                show(m.Notice(text=f"--- {name}: {taken.count} new{older} ---", ts=time.time(), event="unseen"))
            for line in taken.lines:
                if not self._shown_already(line):
                    (self.show_kept or show)(line)
        last = [x.ts for x in taken.lines if isinstance(x, m.ChatMessage)]
        if last:
            self.on_read(name, last[-1])
        return name

    def read_elsewhere(self, room: str, ts: float) -> bool:
        """Another device of our account read ``room`` up to ``ts``: True if the hotlist changed."""
        with self.lock:
            return self.hotlist.read(room, ts)

    def _shown_already(self, msg: m.Message) -> bool:
        """A rename shown from another room: a person's news, shown once (the terminal,
        one room at a time, would show it again on switching to each room we share with them)."""
        if not (self.hide_unfocused and isinstance(msg, m.Notice) and msg.event == "nick"):
            return False
        key = (msg.previous, msg.nick)
        shown = self._renames_shown.get(key)
        if shown is not None and abs(msg.ts - shown) < SAME_RENAME:
            return True
        if len(self._renames_shown) > 256:  # (only the recent ones matter)
            self._renames_shown.clear()
        self._renames_shown[key] = msg.ts
        return False

    def beside(self, offset: int) -> str | None:
        """The next (``offset`` 1) or previous (-1) of our rooms, in joining order."""
        order = list(self.joined.values())
        keys = list(self.joined)
        if len(order) < 2 or room_key(self.room) not in keys:
            return None
        return order[(keys.index(room_key(self.room)) + offset) % len(order)]

    def numbered(self, number: int) -> str | None:
        """Our ``number``-th room (from 1, in joining order)."""
        order = list(self.joined.values())
        return order[number - 1] if 0 < number <= len(order) else None

    def most_active(self) -> str | None:
        with self.lock:
            return self.hotlist.next_active()

    def hotlist_text(self) -> str:
        with self.lock:
            return self.hotlist.text(list(self.joined.values()))
