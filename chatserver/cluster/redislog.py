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

import functools
import logging
import secrets
from collections.abc import Iterator
from typing import NamedTuple

import msgspec
import redis
from msgspec.structs import force_setattr

from chatserver.backends.records import Position, StoredRoom
from chatserver.backends.roomlog import word_matcher
from chatserver.cluster import keys
from chatserver.cluster.link import Link
from common import messages as m
from common.messages.codec import encode_run
from common.rooms import room_key

log = logging.getLogger(__name__)

KEPT = 10_000  # messages kept per room stream, at least (with the notices among them)
#: Entries a room's stream holds at most, about, even for a live node that has
#: not read them (one that falls this far behind tells its users what it missed).
HARD_CAP = 100_000
PAGE = 500  # entries per read when walking back through a stream, at most
NOTICES_AMONG = 16  # notices a history read expects among the messages it asks for (its first page's margin)
LAST_SUB = 2**64 - 1  # the highest second part of a stream id: "SEQ-LAST_SUB" is after every notice of SEQ
FOLLOW_MAX = 5.0  # seconds a ``follow`` blocks at most (the blocking client's timeout is longer)

#: ``room_key`` of a room name, remembered for the rooms in use: the relay asks it per message.
key_of = functools.lru_cache(maxsize=4096)(room_key)
_pack = msgspec.msgpack.Encoder().encode  # a batch of entries, for the append script (cmsgpack reads it)

# ARGV: kept, hard cap, node, the epoch of a room made now, then the batch: one msgpack array of entries, each
# {room key, room name, kind ("m" or "n"), payload, ref, exclude} (one argument, not six per entry: redis-py packs
# each argument in Python, and cmsgpack unpacks the whole batch in C). A room's numbers (its hash's seq and sub) are
# read once per batch, carried through its entries here and written back once: an entry costs its XADD alone. A
# number is used up even when its XADD is refused, as it was when it was taken from the hash entry by entry; the
# script is atomic, so nobody sees the hash between. Each room touched whose stream holds more than the kept window
# is then trimmed to it, but never past what a live node has not read yet (its position in lanchat:readpos:ROOM),
# unless the stream is over the hard cap. (A stream within its window has nothing to trim: XLEN is O(1), where the
# trimming's HGETALL, EXISTS per reader and two XTRIMs cost each batch, and a batch is one message when the
# writer keeps up.)
_APPEND = """
local batch = cmsgpack.unpack(ARGV[5])
local out = {}
local numbers = {}
local touched = {}
for n = 1, #batch do
  local e = batch[n]
  local rk = e[1]
  local at = numbers[rk]
  if at == nil then
    local meta = 'lanchat:room:' .. rk
    if redis.call('EXISTS', meta) == 0 then
      redis.call('HSET', meta, 'name', e[2], 'epoch', ARGV[4], 'seq', 0, 'sub', 0, 'topic', '')
      redis.call('SADD', 'lanchat:rooms', rk)
      at = {0, 0}
    else
      local kept = redis.call('HMGET', meta, 'seq', 'sub')
      at = {tonumber(kept[1]) or 0, tonumber(kept[2]) or 0}
    end
    numbers[rk] = at
    touched[#touched + 1] = rk
  end
  local id
  if e[3] == 'm' then
    at[1] = at[1] + 1
    at[2] = 0
    id = at[1] .. '-0'
  else
    at[2] = at[2] + 1
    id = at[1] .. '-' .. at[2]
  end
  local added = redis.pcall('XADD', 'lanchat:log:' .. rk, id,
    'k', e[3], 'p', e[4], 'n', ARGV[3], 'r', e[5], 'x', e[6])
  if type(added) == 'table' and added.err then out[#out + 1] = '' else out[#out + 1] = added end
end
for _, rk in ipairs(touched) do
  local at = numbers[rk]
  redis.call('HSET', 'lanchat:room:' .. rk, 'seq', at[1], 'sub', at[2])
  if redis.call('XLEN', 'lanchat:log:' .. rk) > tonumber(ARGV[1]) then
    local floor = at[1] - tonumber(ARGV[1])
    local readers = redis.call('HGETALL', 'lanchat:readpos:' .. rk)
    for j = 1, #readers, 2 do
      if redis.call('EXISTS', 'lanchat:alive:' .. readers[j]) == 1 then
        local pos = tonumber(string.match(readers[j + 1], '^(%d+)'))
        if pos < floor then floor = pos end
      else
        redis.call('HDEL', 'lanchat:readpos:' .. rk, readers[j])
      end
    end
    if floor > 0 then redis.call('XTRIM', 'lanchat:log:' .. rk, 'MINID', '~', floor .. '-0') end
    redis.call('XTRIM', 'lanchat:log:' .. rk, 'MAXLEN', '~', ARGV[2])
  end
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


class Entry(NamedTuple):
    """One thing to append to a room's stream."""

    room: str  # the room's name
    kind: str  # "m": a message (numbered), "n": a notice
    #: The frame (a message's seq is the stream's to give): as JSON, or the message, which ``append``
    #: encodes with the rest of its batch (in the writer's thread, in one call).
    payload: str | bytes | m.Message
    ref: int | str = 0  # the appending node's own reference (its sender's receipt waits on it)
    exclude: str = ""  # the nick key of whoever must not get it ("" for nobody)


def _payloads(entries: list[Entry]) -> list[str | None]:
    """Each entry's payload as the append script takes it: JSON as a str (cmsgpack reads no msgpack
    bin). The messages of a batch of them (the relay's) are encoded in one call (each line's JSON
    escapes any newline, so the run splits back into one per message); None for one that will
    not encode."""
    msgs = [e.payload for e in entries]
    if all(isinstance(msg, m.Message) for msg in msgs):
        try:
            texts = encode_run(msgs).decode().split("\n")  # type: ignore[arg-type]
            if len(texts) == len(msgs) + 1:
                return texts[:-1]  # type: ignore[return-value]
        except Exception:  # noqa: BLE001 - one by one below: only the one that will not encode is refused
            pass
    return [_text(msg) for msg in msgs]


def _text(payload: str | bytes | m.Message) -> str | None:
    if isinstance(payload, str):
        return payload
    if isinstance(payload, bytes):
        return payload.decode()
    try:
        return m.encode(payload).decode()
    except Exception:  # noqa: BLE001
        log.exception("encoding %s for the room log", type(payload).__name__)
        return None


def decode(entry_id: str, fields: dict[str, str]) -> m.Message:
    """A stream entry back as the frame it carries, numbered by its id."""
    msg = m.decode(fields["p"].encode())
    if fields.get("k") == "m" and isinstance(msg, m.ChatMessage):
        force_setattr(msg, "seq", seq_of(entry_id))  # (a value, but decoded here: nobody else holds it yet)
    return msg


class Read(NamedTuple):
    """A room's entry as the reader hands it on: its message decoded and numbered, or None if it could not be."""

    id: str
    kind: str  # "m" or "n"
    msg: m.Message | None
    seq: int  # a message's number (its id's first part); 0 for a notice
    node: str  # the node that appended it
    ref: str  # that node's reference
    exclude: str  # the nick key of whoever must not get it ("" for nobody)


#: The fields of an entry in the order the append script writes them: the reader takes them by position.
FIELDS = ["k", "p", "n", "r", "x"]
_decode_run = msgspec.json.Decoder(list[m.AnyMessage]).decode


def _streams(response: dict | list | None, **_: object) -> list:
    """An XREAD reply as ``[[stream, entries], ...]``, however the protocol gave it (RESP3: a map)."""
    if isinstance(response, dict):
        return list(response.items())
    return response or []


def fields_of(flat: list[str]) -> dict[str, str]:
    """An entry's fields as XREAD gives them raw (field, value, field, value...) as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=False))


def decode_entries(entries: list[list]) -> list[Read]:
    """A room stream's entries as a raw XREAD gives them (``[id, [field, value, ...]]``), each with its
    message decoded and numbered by its id. The payloads were validated by the node that appended them
    (as they came from its user), encoded by it, and are decoded here in one msgspec call for the
    batch (types still checked); an entry that will not decode is decoded alone, and logged if it
    still will not (its ``msg`` None)."""
    rows = [flat if flat[0::2] == FIELDS else _in_order(flat) for _, flat in entries]  # (field, value, ...)
    try:
        msgs: list[m.Message | None] = _decode_run("[" + ",".join([row[3] for row in rows]) + "]")
        if len(msgs) != len(rows):
            raise ValueError("payloads are not one value each")
    except (msgspec.DecodeError, ValueError):
        msgs = [_decode_alone(entry[0], row[3]) for entry, row in zip(entries, rows, strict=True)]
    read = []
    for (entry_id, _), row, msg in zip(entries, rows, msgs, strict=True):
        kind = row[1]
        seq = 0
        if kind == "m":
            seq = int(entry_id.partition("-")[0])
            if msg.__class__ is m.ChatMessage:
                force_setattr(msg, "seq", seq)  # (a value, but decoded here: nobody else holds it yet)
        read.append(Read(entry_id, kind, msg, seq, row[5], row[7], row[9]))
    return read


def _in_order(flat: list[str]) -> list[str]:
    """An entry's fields (field, value, ...) in the order the append script writes them ("" for one missing)."""
    got = fields_of(flat)
    return [x for f in FIELDS for x in (f, got.get(f, ""))]


def _decode_alone(entry_id: str, payload: str) -> m.Message | None:
    try:
        return m.decode(payload.encode())
    except Exception:  # noqa: BLE001 - one bad entry must not stop its room
        log.exception("decoding entry %s", entry_id)
        return None


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
        #: The blocking client's connections, with XREAD's reply left as Redis gave it (lists, parsed in C
        #: by hiredis): redis-py's own parsing made a dict of every entry's fields in Python.
        self._raw = redis.Redis(connection_pool=link.blocking.connection_pool)
        self._raw.set_response_callback("XREAD", _streams)

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
        payload = m.encode(msgspec.structs.replace(msg, seq=0)).strip().decode()
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
        payloads = _payloads(entries)
        # (the epoch of any room this batch makes; the batch as one argument, encoded in one C call)
        batch = [
            (key_of(e.room), e.room, e.kind, payload, e.ref, e.exclude)
            for e, payload in zip(entries, payloads, strict=True)
            if payload is not None
        ]
        args = [KEPT, HARD_CAP, self._node, secrets.token_hex(6), _pack(batch)]
        ids: list[str] = self._link.call(lambda r: self._append(keys=[], args=args)) if batch else []  # type: ignore[assignment]
        if len(batch) == len(entries):
            return ids
        taken = iter(ids)
        return [next(taken) if payload is not None else "" for payload in payloads]

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

    def read(self, streams: dict[str, str], positions: dict[str, str], count: int, block_ms: int) -> list:
        """One blocking ``XREAD`` of ``streams`` (stream -> the id read up to), its reply raw:
        ``[[stream, [[id, [field, value, ...]], ...]], ...]`` (``decode_entries`` reads a room's).
        Sent with the positions read since the last one (``read_up_to``): one round trip. Not
        through the link: the caller tells it of a lost Redis (``REDIS_DOWN``)."""
        if not positions:
            return self._raw.xread(streams, count=count, block=block_ms)  # type: ignore[return-value]
        p = self._raw.pipeline(transaction=False)
        self.read_up_to(positions, p)
        p.xread(streams, count=count, block=block_ms)
        return p.execute()[-1]

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
