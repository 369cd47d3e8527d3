"""The room log in Redis: a stream per room, numbered atomically, and the moderation records.

A room's messages and notices are entries of its stream, in the room's one
order. A message's id is ``SEQ-0``; a notice after it is ``SEQ-1``,
``SEQ-2``... so notices take their place in the order without taking a
number. ``append`` adds a whole batch (any rooms) in one Lua script: one
round trip, each entry numbered atomically with its room (the room is made,
with a fresh epoch, if Redis does not have it: after a Redis that lost its
data, numbering starts anew and the epoch says so). The script then trims
each room it touched to about its last ``KEPT`` messages (history, search and
resume reach that far back), but never past an entry some live node has not
read yet (``read_up_to``), unless the stream is over ``HARD_CAP``.
Moderation and the resume secret are ``redisstores.py``'s.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator

import msgspec

from chatserver.backends.records import Position, StoredRoom
from chatserver.backends.roomlog import word_matcher
from chatserver.cluster import keys
from chatserver.cluster.link import Link
from common import messages as m
from common.rooms import room_key

KEPT = 10_000  # messages kept per room stream, at least (with the notices among them)
#: Entries a room's stream holds at most, about, even for a live node that has
#: not read them (one that falls this far behind tells its users what it missed).
HARD_CAP = 100_000
PAGE = 500  # entries per read when walking back through a stream, at most
NOTICES_AMONG = 16  # notices a history read expects among the messages it asks for (its first page's margin)
LAST_SUB = 2**64 - 1  # the highest second part of a stream id: "SEQ-LAST_SUB" is after every notice of SEQ
FOLLOW_MAX = 5.0  # seconds a ``follow`` blocks at most (the blocking client's timeout is longer)

# ARGV: kept, hard cap, node, the epoch of a room made now, then 6 per entry: room key, room name, kind ("m" or
# "n"), payload, ref, exclude. Each room touched is then trimmed to its kept window, but never past what a live node has
# not read yet (its position in lanchat:readpos:ROOM), unless the stream is over the hard cap.
_APPEND = """
local out = {}
local touched = {}
local i = 5
while i <= #ARGV do
  local rk = ARGV[i]
  local meta = 'lanchat:room:' .. rk
  if redis.call('EXISTS', meta) == 0 then
    redis.call('HSET', meta, 'name', ARGV[i + 1], 'epoch', ARGV[4], 'seq', 0, 'sub', 0, 'topic', '')
    redis.call('SADD', 'lanchat:rooms', rk)
  end
  local id
  if ARGV[i + 2] == 'm' then
    id = redis.call('HINCRBY', meta, 'seq', 1) .. '-0'
    redis.call('HSET', meta, 'sub', 0)
  else
    id = redis.call('HGET', meta, 'seq') .. '-' .. redis.call('HINCRBY', meta, 'sub', 1)
  end
  local added = redis.pcall('XADD', 'lanchat:log:' .. rk, id,
    'k', ARGV[i + 2], 'p', ARGV[i + 3], 'n', ARGV[3], 'r', ARGV[i + 4], 'x', ARGV[i + 5])
  if type(added) == 'table' and added.err then out[#out + 1] = '' else out[#out + 1] = added end
  touched[rk] = true
  i = i + 6
end
for rk in pairs(touched) do
  local floor = tonumber(redis.call('HGET', 'lanchat:room:' .. rk, 'seq')) - tonumber(ARGV[1])
  local readers = redis.call('HGETALL', 'lanchat:readpos:' .. rk)
  for j = 1, #readers, 2 do
    if redis.call('EXISTS', 'lanchat:alive:' .. readers[j]) == 1 then
      local at = tonumber(string.match(readers[j + 1], '^(%d+)'))
      if at < floor then floor = at end
    else
      redis.call('HDEL', 'lanchat:readpos:' .. rk, readers[j])
    end
  end
  if floor > 0 then redis.call('XTRIM', 'lanchat:log:' .. rk, 'MINID', '~', floor .. '-0') end
  redis.call('XTRIM', 'lanchat:log:' .. rk, 'MAXLEN', '~', ARGV[2])
end
return out
"""

# KEYS: room meta. ARGV: the epoch seen, a new epoch, the seq seen. A new numbering for a room whose
# seq went back, unless another node gave it one already.
_RENUMBER = """
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq'))
if redis.call('HGET', KEYS[1], 'epoch') == ARGV[1] and seq < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[2])
end
return 0
"""

# KEYS: room meta, room log, room read positions. ARGV: name, epoch if new, room key, node. Returns epoch, seq,
# topic, name, the log's last id. The node follows the room from there on: its read position says so (the sweep
# leaves a followed room be), unless it has one already.
_ENSURE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'name', ARGV[1], 'epoch', ARGV[2], 'seq', 0, 'sub', 0, 'topic', '')
  redis.call('SADD', 'lanchat:rooms', ARGV[3])
end
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'topic', 'name')
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
redis.call('HSETNX', KEYS[3], ARGV[4], id)
return {meta[1], meta[2], meta[3], meta[4], id}
"""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One thing to append to a room's stream."""

    room: str  # the room's name
    kind: str  # "m": a message (numbered), "n": a notice
    payload: bytes  # the frame as JSON (a message's seq is the stream's to give), as sent to Redis
    ref: str = ""  # the appending node's own reference (its sender's receipt waits on it)
    exclude: str = ""  # the nick key of whoever must not get it ("" for nobody)


def decode(entry_id: str, fields: dict[str, str]) -> m.Message:
    """A stream entry back as the frame it carries, numbered by its id."""
    msg = m.decode(fields["p"].encode())
    if fields.get("k") == "m" and isinstance(msg, m.ChatMessage):
        msg = msgspec.structs.replace(msg, seq=int(entry_id.partition("-")[0]))  # (a fifth of dataclasses')
    return msg


def seq_of(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


class RedisBroker:
    """``ports.Broker`` in Redis (plus what the relay needs: ``append``, ``read_up_to``).
    Every method is a Redis round trip or more: never call one under a lock
    that delivery needs."""

    def __init__(self, link: Link, node: str) -> None:
        self._link = link
        self._node = node
        self._secret = ""
        self._append = link.redis.register_script(_APPEND)
        self._ensure = link.redis.register_script(_ENSURE)
        self._renumber = link.redis.register_script(_RENUMBER)

    # -- rooms --
    def room(self, name: str) -> StoredRoom | None:
        meta = self._link.call(lambda r: r.hmget(keys.room(room_key(name)), "name", "epoch", "seq", "topic"))
        if meta[0] is None:  # type: ignore[index]
            return None
        return StoredRoom(meta[0], meta[1], int(meta[2]), meta[3] or "")  # type: ignore[index]

    def ensure(self, name: str) -> tuple[StoredRoom, str]:
        """The room (made now if Redis does not have it), and its stream's last id; this node
        follows it (see ``sweep.py``) until ``forget``."""
        key = room_key(name)
        where = [keys.room(key), keys.log(key), keys.readpos(key)]
        epoch, seq, topic, kept_name, last = self._link.call(
            lambda r: self._ensure(keys=where, args=[name, secrets.token_hex(6), key, self._node])
        )  # type: ignore[misc]
        return StoredRoom(kept_name, epoch, int(seq), topic or ""), last

    def save_room(self, room: StoredRoom) -> None:
        """Only the topic changes once a room exists (its numbering is Redis's)."""
        self.ensure(room.name)
        self._link.call(lambda r: r.hset(keys.room(room_key(room.name)), "topic", room.topic))

    def forget(self, name: str) -> bool:
        """This node no longer reads the room: its position no longer holds trimming back.
        The room lives on in Redis for the other nodes."""
        self._link.call(lambda r: r.hdel(keys.readpos(room_key(name)), self._node))
        return False

    def publish(self, msg: m.ChatMessage) -> Position | None:
        """Append one message and wait for Redis to number it (the relay appends whole
        batches with ``append`` instead); None if Redis did not take it."""
        payload = m.encode(msgspec.structs.replace(msg, seq=0)).strip()
        entry_id = self.append([Entry(msg.room, "m", payload)])[0]
        if not entry_id:
            return None
        stored = self.room(msg.room)
        return Position(seq_of(entry_id), stored.epoch if stored else "")

    def publish_many(self, msgs: list[m.ChatMessage]) -> Position | None:
        """The run appended in one round trip (one script: numbered one after the other)."""
        ids = self.append([Entry(x.room, "m", m.encode(msgspec.structs.replace(x, seq=0)).strip()) for x in msgs])
        if not all(ids):
            return None
        stored = self.room(msgs[0].room)
        return Position(seq_of(ids[0]), stored.epoch if stored else "")

    def follow(self, rooms: dict[str, int], timeout: float) -> list[m.ChatMessage]:
        """Messages above the given seq of each room, one blocking ``XREAD`` (notices skipped)."""
        streams = {keys.log(room_key(room)): f"{seq}-{LAST_SUB}" for room, seq in rooms.items()}
        block = max(1, int(min(timeout, FOLLOW_MAX) * 1000))
        got = self._link.call(lambda r: self._link.blocking.xread(streams, count=PAGE, block=block))
        return [decode(i, f) for _, entries in got or [] for i, f in entries if f.get("k") == "m"]  # type: ignore[union-attr,misc]

    def commit(self) -> set[tuple[str, int]]:
        return set()  # append() is the commit: a message is kept when Redis took it

    def append(self, entries: list[Entry]) -> list[str]:
        """Append ``entries`` in one round trip; returns each one's id ("" if not taken)."""
        args: list[object] = [
            KEPT,
            HARD_CAP,
            self._node,
            secrets.token_hex(6),
        ]  # (the epoch of any room this batch makes)
        for e in entries:
            args += [room_key(e.room), e.room, e.kind, e.payload, e.ref, e.exclude]
        return self._link.call(lambda r: self._append(keys=[], args=args))  # type: ignore[return-value]

    def behind(self, rooms: dict[str, int]) -> list[str]:
        """Of these rooms (name -> the last seq this node delivered), those whose
        numbering in Redis is behind it: Redis came back from older data (a
        snapshot, or without its last second). Each gets a new epoch, once (the
        first node to see it), so that no number means two messages."""
        names = list(rooms)

        def read(r) -> list[list[str | None]]:  # noqa: ANN001
            p = r.pipeline(transaction=False)
            for name in names:
                p.hmget(keys.room(room_key(name)), "seq", "epoch")
            return p.execute()

        found = self._link.call(read)
        late = []
        for name, (seq, epoch) in zip(names, found, strict=True):  # type: ignore[arg-type]
            if seq is not None and int(seq) < rooms[name]:
                late.append(name)
                self._link.call(
                    lambda r, name=name, epoch=epoch: self._renumber(
                        keys=[keys.room(room_key(name))], args=[epoch, secrets.token_hex(6), rooms[name]]
                    )
                )
        return late

    def read_up_to(self, positions: dict[str, str], pipeline) -> None:  # noqa: ANN001
        """This node has read the rooms' streams up to these ids (by room name): nothing
        after them is trimmed while it lives. Queued on ``pipeline``, which the caller sends
        (with its next read)."""
        for room, entry_id in positions.items():
            pipeline.hset(keys.readpos(room_key(room)), self._node, entry_id)

    # -- reading back --
    def _walk_back(
        self, name: str, before: str, low: str = "-", first: int = PAGE
    ) -> Iterator[tuple[str, dict[str, str]]]:
        """The stream's entries from just below ``before`` down to ``low`` (the oldest kept), newest
        first, in pages of ``first`` entries growing to ``PAGE``: a joiner's last 50 messages are read
        as about that many entries, not 500 (each parsed on the node, by a thread that shares its CPU
        with delivery)."""
        key = keys.log(room_key(name))
        top, size = before, first
        while True:
            page = self._link.call(lambda r, top=top, size=size: r.xrevrange(key, top, low, count=size))
            yield from page  # type: ignore[misc]
            if len(page) < size:  # type: ignore[arg-type]
                return
            top, size = "(" + page[-1][0], min(PAGE, 2 * size)  # type: ignore[index]

    def recent(self, room: str, count: int, before: int | None = None, after: int | None = None) -> list[m.ChatMessage]:
        """The last ``count`` messages of ``room`` numbered below ``before`` and above ``after``,
        oldest first (a joiner's history: below the seq the node had delivered, plus one)."""
        if count <= 0 or (before is not None and before <= 1):
            return []  # (nothing is numbered below 1)
        top = "+" if before is None else f"({before}-0"
        low = "-" if after is None else f"{after + 1}-0"  # (what a resume missed: no further back)
        found: list[m.ChatMessage] = []
        for entry_id, fields in self._walk_back(room, top, low, min(PAGE, count + NOTICES_AMONG)):
            if after is not None and seq_of(entry_id) <= after:
                break
            if fields.get("k") == "m":
                found.append(decode(entry_id, fields))  # type: ignore[arg-type]
                if len(found) >= count:
                    break
        return found[::-1]

    def search(self, room: str, words: str, limit: int) -> list[m.ChatMessage]:
        match = word_matcher(words)
        if match is None:
            return []
        found: list[m.ChatMessage] = []
        for entry_id, fields in self._walk_back(room, "+"):
            if fields.get("k") == "m":
                msg = decode(entry_id, fields)
                if isinstance(msg, m.ChatMessage) and match(msg.text):
                    found.append(msg)
                    if len(found) >= limit:
                        break
        return found

    def rooms(self, room_keys: list[str]) -> list[StoredRoom | None]:
        """The rooms with these keys, in one round trip."""

        def read(r) -> list[list[str | None]]:  # noqa: ANN001
            p = r.pipeline(transaction=False)
            for k in room_keys:
                p.hmget(keys.room(k), "name", "epoch", "seq", "topic")
            return p.execute()

        found = self._link.call(read)
        return [StoredRoom(x[0], x[1], int(x[2]), x[3] or "") if x[0] else None for x in found]  # type: ignore[union-attr,arg-type]

    def close(self) -> None:
        pass  # the link is the hub's to close
