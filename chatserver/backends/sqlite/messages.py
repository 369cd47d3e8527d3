"""The store's room messages: numbered and staged when published, written at commit, read back by position, followed.

Reads never take the writer's lock (``readers.py``), and include what is
staged or being committed; the commit writes a batch's rows with one
statement, and each room's last number (the words are indexed a batch of
commits at a time: ``search.py``).
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable

import msgspec

from chatserver.backends.follow import FOLLOW_PAGE, Followers
from chatserver.backends.records import Position
from chatserver.backends.sqlite import shared
from chatserver.backends.sqlite.readers import Readers
from chatserver.backends.sqlite.staging import Staging
from common import messages as m

#: The columns a message is read back from (``row_message``), messages ``m`` joined to rooms ``r``.
_SEQ = operator.attrgetter("seq")

COLUMNS = f"r.name, m.seq, m.ts, m.nick, m.text, m.action, {shared.FILE_COLUMN}"


def row_message(row: tuple) -> m.ChatMessage:
    room, seq, ts, nick, text, action, file = row
    return m.ChatMessage(
        seq=seq, ts=ts, room=room, nick=nick, text=text, action=bool(action), file=shared.file_of(file)
    )


def write(db: sqlite3.Connection, staged: list[m.ChatMessage], room_key: Callable[[str], str]) -> None:
    """A batch's messages, in the commit's transaction (after its rooms)."""
    if not staged:
        return
    keys = {name: room_key(name) for name in {x.room for x in staged}}  # (a batch is of a few rooms)
    rows = [(keys[x.room], x.seq, x.ts, x.nick, x.text, int(x.action)) for x in staged]
    last: dict[str, int] = {}
    for key, seq, *_ in rows:
        last[key] = max(seq, last.get(key, 0))
    db.executemany(
        "INSERT OR REPLACE INTO messages (room, seq, ts, nick, text, action) VALUES (?, ?, ?, ?, ?, ?)", rows
    )
    db.executemany("UPDATE rooms SET seq = max(seq, ?) WHERE key = ?", [(seq, key) for key, seq in last.items()])
    shared.write(db, [(keys[x.room], x.seq, x.file) for x in staged if x.file is not None])  # (a shared file's)


class Messages:
    def __init__(
        self,
        readers: Readers,
        staging: Staging,
        room_key: Callable[[str], str],
        number: Callable[[str, int], Position],
    ) -> None:
        self._readers = readers
        self._staging = staging
        self._room_key = room_key
        self._number = number  # a room's next position (``Rooms.next_position``)
        self._followers = Followers()

    def publish(self, msg: m.ChatMessage) -> Position | None:
        """Number ``msg`` as its room's next and stage it: no file I/O but for a room not
        seen before, so the hub may call it under its lock."""
        at = self._number(msg.room, 1)
        if msg.seq != at.seq:
            msg = msgspec.structs.replace(msg, seq=at.seq)
        if not self._staging.stage(msg):
            return None
        self._followers.published()
        return at

    def publish_many(self, msgs: list[m.ChatMessage]) -> Position | None:
        """``publish`` for a run to one room: numbered and staged in one call each."""
        at = self._number(msgs[0].room, len(msgs))
        if list(map(_SEQ, msgs)) != list(range(at.seq, at.seq + len(msgs))):
            msgs = [msgspec.structs.replace(x, seq=seq) for seq, x in enumerate(msgs, at.seq)]
        if not self._staging.stage_many(msgs):
            return None
        self._followers.published()
        return at

    def follow(self, rooms: dict[str, int], timeout: float) -> list[m.ChatMessage]:
        """Messages above the given seq of each room (staged ones included), waiting up to ``timeout``."""

        def read() -> list[m.ChatMessage]:
            page = FOLLOW_PAGE
            return [x for room, seq in rooms.items() for x in self.recent(room, page, before=seq + page + 1, after=seq)]

        return self._followers.wait(read, timeout)

    def recent(self, room: str, count: int, before: int | None = None, after: int | None = None) -> list[m.ChatMessage]:
        """The last ``count`` messages of ``room`` numbered below ``before`` and above ``after``,
        oldest first, what is staged included."""
        if count <= 0:
            return []
        key, below = self._room_key(room), before if before is not None else 2**62
        above = after if after is not None else -1
        staged = [x for x in self._staging.messages() if above < x.seq < below and self._room_key(x.room) == key]
        if self._staging.closed:
            return []
        rows = self._readers.rows(
            f"SELECT {COLUMNS} FROM messages m JOIN rooms r ON r.key = m.room"
            " WHERE m.room = ? AND m.seq < ? AND m.seq > ? ORDER BY m.seq DESC LIMIT ?",
            (key, below, above, count),
        )
        seen = {x.seq for x in staged}
        return ([row_message(x) for x in rows[::-1] if x[1] not in seen] + staged)[-count:]
