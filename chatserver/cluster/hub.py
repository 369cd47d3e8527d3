"""The cluster hub: the local hub's rooms and delivery, with order, names and presence kept in Redis.

Sessions see the same ``Hub`` as on a single server. What differs:
- ``publish`` and ``announce`` do not deliver. A writer thread appends each
  batch to the rooms' streams in one round trip (``redislog.append``), and
  a reader thread follows the streams of every room this node has members
  in (blocking ``XREAD``) and posts what it reads to local members through
  the local dispatcher. Every node delivers the same entries in the same
  order; a sender's own message comes back as its receipt, so nobody is
  told "accepted" for what Redis did not take.
- A frame for one session (``send_to``) waits until everything this node
  appended before it has been read back: it cannot overtake them.
- Names, membership and presence are ``presence.Presence``'s; private
  frames, kicks and take-overs for a session on another node go to that
  node's inbox stream, which its reader follows too.
- A heartbeat thread renews the node's lease and clears away dead nodes.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import functools
import itertools
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable

from common import messages as m
from common.nicks import nick_key
from common.rooms import room_key
from common.threads import stop_signals_blocked

from ..fanout import Frame, Subscriber
from ..hub import LOBBY, PUBLISH_WAIT, Greet, Greeting, LocalHub, RoomInfo, TooManyRooms, _Room
from ..registry import NickTaken, Person, person
from ..roomlog import StoredRoom
from . import keys
from .link import REDIS_DOWN, ClusterUnavailable, Link
from .presence import Presence
from .redislog import Entry, RedisLog, decode, seq_of

log = logging.getLogger(__name__)

UNAVAILABLE = "the server has lost its cluster (Redis): your message was not sent; try again when it is back"
LINK_DOWN = "the server lost its cluster (Redis): messages are not sent until it is back"
LINK_UP = "the cluster is back: chat goes on"
READ_BLOCK_MS = 1000  # a blocking read returns at least this often (to see a stop)
READ_COUNT = 1000  # entries per stream per read, at most
MAX_BATCH = 5000  # entries waiting for the writer before publishers wait


def _kept(link: Link, key: str, value: str) -> str:
    """The value of ``key``, made ``value`` if Redis has none."""
    link.call(lambda r: r.set(key, value, nx=True))
    return link.call(lambda r: r.get(key))  # type: ignore[return-value]


@dataclasses.dataclass
class _Pending:
    """An entry this node appended and has not yet read back."""

    sub: Subscriber | None  # its sender, who gets ``receipt`` in its place
    receipt: Callable[[m.Message], m.Message] | None
    room: _Room | None = None
    msg: m.Message | None = None  # as published (numbered by Redis)
    seq: int = 0  # its number, once Redis gave it


class StoredFrame(Frame):
    """A frame read from a room's stream: its native bytes are the stored JSON
    with the number put in; the message itself is decoded only if someone needs
    it (a plain-text peer, a receipt, a topic)."""

    def __init__(self, entry_id: str, fields: dict[str, str]) -> None:
        self._entry = (entry_id, fields)
        payload = fields["p"]
        if fields.get("k") == "m":  # ("type" comes first, then "seq": the first "seq":0, is it)
            payload = payload.replace('"seq":0,', f'"seq":{seq_of(entry_id)},', 1)
        self.__dict__["native"] = payload.encode()

    @functools.cached_property
    def msg(self) -> m.Message:  # type: ignore[override]
        return decode(*self._entry)


class _ClusterRoom(_Room):
    __slots__ = ("read",)

    def __init__(self, stored, last_id: str) -> None:  # noqa: ANN001
        super().__init__(stored)
        self.read = last_id  # the stream id read up to: later entries come live


class ClusterHub(LocalHub):
    def __init__(self, link: Link, *, keep: int, heartbeat: float = 5.0, max_rooms: int = 1000) -> None:
        self.node = f"{socket.gethostname()[:20]}-{secrets.token_hex(3)}"
        self._link = link
        self.cluster_log = RedisLog(link, self.node)
        super().__init__(keep=keep, max_rooms=max_rooms, log=self.cluster_log)
        self._presence = Presence(link, self.node, lease=3 * heartbeat)
        self._heartbeat = heartbeat
        self.cluster_id = _kept(link, keys.CLUSTER, secrets.token_hex(4))
        self._generation = _kept(link, keys.GENERATION, secrets.token_hex(8))
        self._presence.heartbeat()
        self.on_sanctions: Callable[[], None] = lambda: None  # moderation changed on some node
        self._sids: dict[Subscriber, str] = {}
        self._sid_count = itertools.count(1)
        self._refs = itertools.count(1)
        self._last_ref = 0
        self._pending: dict[int, _Pending] = {}  # ref -> appended, not yet read back (oldest first)
        #: Frames for one session, each waiting until the refs up to its own are read back.
        self._held: collections.deque[tuple[int, Subscriber, Frame]] = collections.deque()
        self._batch: list[Entry] = []
        self._batch_ready = threading.Condition(self._lock)
        self._streams = {keys.inbox(self.node): "0-0", keys.EVENTS: self._last_id(keys.EVENTS)}
        self._by_stream: dict[str, _ClusterRoom] = {}
        self._stopping = False
        self._stop = threading.Event()
        #: Entries sent when the link broke, by ref: (room, its stream id read then).
        self._doubtful: dict[int, tuple[str, str]] = {}
        #: Sessions that ended while Redis was away: (nick, sid, rooms) to release when it is back.
        self._departed: list[tuple[str, str, list[str]]] = []
        self._up_since = time.monotonic()
        link.on_down, link.on_up = self._link_down, self._link_up
        self._threads = []
        with stop_signals_blocked():
            for name, target in (("writer", self._write), ("reader", self._read), ("heartbeat", self._beat)):
                thread = threading.Thread(target=target, name=f"cluster-{name}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _last_id(self, stream: str) -> str:
        last = self._link.call(lambda r: r.xrevrange(stream, "+", "-", count=1))
        return last[0][0] if last else "0-0"  # type: ignore[index]

    def _sid(self, sub: Subscriber) -> str:
        sid = self._sids.get(sub)
        if sid is None:
            sid = self._sids[sub] = f"{self.node}/{next(self._sid_count)}"
        return sid

    def _rooms_of(self, sub: Subscriber) -> list[str]:
        return [r.name for r in self._rooms.values() if sub in r.members]

    # -- people --
    def enter(
        self,
        sub: Subscriber,
        nick: str,
        room: str,
        greet: Greet,
        *,
        resume: str | None = None,
        after: int | None = None,
        epoch: str | None = None,
        recent: int = 0,
    ) -> tuple[str, bool]:
        with self._lock:
            sid = self._sid(sub)
            was = self._presence.claim(nick, sid, sub.token, takeover=resume or "", p=person(sub))
            if was is None:
                raise NickTaken(nick, self._presence.suggest(nick))
            stale = self._people.holder(nick)
            stale = stale if stale is not sub else None
            self._people.claim(sub, nick, stale)
            try:
                joined = self.join(room, sub, greet, after=after, recent=recent, epoch=epoch)
            except TooManyRooms:
                joined = self.join(LOBBY, sub, greet, recent=recent)
        old_node, old_sid = was
        if stale is not None:
            stale.replaced = True
            stale.kick("replaced by a new connection")
        elif old_node and old_node != self.node:  # its old node may not have noticed yet
            self._to_node(old_node, {"t": "replace", "sid": old_sid})
        return joined, stale is not None or bool(old_node)

    def rename(self, sub: Subscriber, new: str) -> str:
        with self._lock:
            sid = self._sid(sub)
            if self._presence.claim(new, sid, sub.token, replacing=sid, p=person(sub)) is None:
                raise NickTaken(new, self._presence.suggest(new))
            old = self._people.claim(sub, new)
            if nick_key(old) != nick_key(new):
                self._presence.release(old, sid)
                for name in self._rooms_of(sub):
                    self._presence.left(name, old, sid, None)
                    self._presence.joined(name, new, sid, self._rooms_of(sub))
            return old

    def changed(self, sub: Subscriber) -> None:
        with self._lock:
            self._presence.update(sub.nick, self._sid(sub), away=sub.away, op="1" if sub.op else "0")

    def unregister(self, sub: Subscriber) -> None:
        with self._lock:
            sid = self._sids.pop(sub, None)
            rooms = self._rooms_of(sub)
            super().unregister(sub)
            if sid is None:
                return
            try:
                self._forget(sub.nick, sid, rooms)
            except ClusterUnavailable:
                self._departed.append((sub.nick, sid, rooms))  # released when Redis is back

    def _forget(self, nick: str, sid: str, rooms: list[str]) -> None:
        for name in rooms:
            self._presence.left(name, nick, sid, None)
        self._presence.release(nick, sid)

    def find(self, nick: str) -> Person | None:
        found = self._presence.holder(nick)
        return found.person if found else None

    def sessions(self) -> list[Person]:
        return self._presence.everyone()

    def tell(self, nick: str, frame: Frame) -> Person | None:
        found = self._presence.holder(nick)
        if found is None:
            return None
        if found.node == self.node:
            return super().tell(nick, frame)
        self._to_node(found.node, {"t": "tell", "sid": found.sid, "f": m.encode(frame.msg).decode()})
        return found.person

    def set_op(self, nick: str, op: bool) -> Person | None:
        found = self._presence.holder(nick)
        if found is None:
            return None
        self._presence.update(nick, found.sid, op="1" if op else "0")
        if found.node == self.node:
            return super().set_op(nick, op)
        self._to_node(found.node, {"t": "op", "sid": found.sid, "op": "1" if op else "0"})
        return dataclasses.replace(found.person, op=op)

    def kick(self, nick: str, why: str) -> Person | None:
        found = self._presence.holder(nick)
        if found is None:
            return None
        if found.node == self.node:
            return super().kick(nick, why)
        self._to_node(found.node, {"t": "kick", "sid": found.sid, "why": why})
        return found.person

    def _to_node(self, node: str, fields: dict[str, str]) -> None:
        self._link.call(lambda r: r.xadd(keys.inbox(node), fields, maxlen=10_000, approximate=True))

    def _local(self, sid: str) -> Subscriber | None:
        return next((sub for sub, s in self._sids.items() if s == sid), None)

    # -- rooms --
    def _room(self, name: str, create: bool = False) -> _Room | None:
        key = room_key(name)
        room = self._rooms.get(key)
        if room is not None:
            return room
        if not create and self.cluster_log.room(name) is None:
            return None
        if len(self._rooms) >= self._max_rooms:
            empty = next((k for k, r in self._rooms.items() if not r.members and k != room_key(LOBBY)), None)
            if empty is None:
                raise TooManyRooms(f"there are {self._max_rooms} rooms already")
            gone = self._rooms.pop(empty)
            del self._by_stream[keys.log(empty)]
            del self._streams[keys.log(empty)]
            del gone
        stored, last = self.cluster_log.ensure(name)
        room = self._rooms[key] = _ClusterRoom(stored, last)
        self._by_stream[keys.log(key)] = room
        self._streams[keys.log(key)] = last
        self._to_node(self.node, {"t": "wake"})  # the reader's blocking read must take this room in
        return room

    def join(
        self,
        room: str,
        sub: Subscriber,
        greet: Greet | None = None,
        after: int | None = None,
        recent: int = 0,
        epoch: str | None = None,
    ) -> str:
        with self._lock:
            r = self._room(room, create=True)
            assert isinstance(r, _ClusterRoom)
            self._presence.joined(r.name, sub.nick, self._sid(sub), [*self._rooms_of(sub), r.name])
            r.members[sub] = r.posted
            if greet is not None:
                if after is not None and epoch == r.epoch and 0 <= after <= r.seq:
                    missed = self.cluster_log.between(r.name, after, r.read, self._keep) if after < r.seq else []
                    first = missed[0].seq if missed else r.seq + 1
                    greet(Greeting(r.name, r.epoch, r.seq, missed, max(0, first - after - 1), "missed"))
                else:
                    kind = "history" if after is None else "renumbered"
                    found = self.cluster_log.recent(r.name, recent, upto=r.read)
                    greet(Greeting(r.name, r.epoch, r.seq, found, 0, kind))
            return r.name

    def part(self, room: str, sub: Subscriber) -> None:
        with self._lock:
            super().part(room, sub)
            self._presence.left(room, sub.nick, self._sid(sub), self._rooms_of(sub))

    def members(self, room: str) -> list[Person]:
        return self._presence.members(room)

    def set_topic(self, room: str, topic: str) -> None:
        with self._lock:
            r = self._room(room, create=True)
            assert r is not None
            self.cluster_log.save_room(StoredRoom(r.name, r.epoch, r.seq, topic))
            r.topic = topic

    def topic(self, room: str) -> str:
        found = self.cluster_log.room(room)
        return found.topic if found else ""

    def rooms(self) -> list[RoomInfo]:
        names = sorted(self._link.call(lambda r: r.smembers(keys.ROOMS)))  # type: ignore[arg-type]
        counts = self._presence.counts(names)
        found = []
        for stored, count in zip(self.cluster_log.rooms(names), counts, strict=True):
            if stored is not None and (count or room_key(stored.name) == room_key(LOBBY)):
                found.append(RoomInfo(stored.name, count, stored.topic))
        return sorted(found, key=lambda info: room_key(info.name))

    def recent(self, room: str, count: int, before: int | None = None) -> list[m.ChatMessage]:
        return self.cluster_log.recent(room, count, before)

    # -- messages --
    def publish(
        self,
        room: str,
        build: Callable[[int, float], m.Message],
        exclude: Subscriber | None = None,
        receipt: Callable[[m.Message], m.Message] | None = None,
    ) -> Frame:
        """Queue for Redis, which numbers it; it reaches members (and the sender
        its receipt) when read back from the room's stream."""
        with self._lock:
            frame = Frame(build(0, time.time()))
            if not self._link.up:
                if exclude is not None:  # (after the answers to what it sent before: the client pairs them)
                    self.send_to(exclude, Frame(m.Error("cluster_unavailable", UNAVAILABLE)))
                return frame
            r = self._room(room, create=True)
            assert r is not None
            self._append(r.name, "m", frame.msg, _Pending(exclude, receipt, r, frame.msg), exclude=exclude)
            self._batch_ready.wait_for(lambda: len(self._batch) < MAX_BATCH, PUBLISH_WAIT)
        return frame

    def announce(
        self,
        room: str,
        build: Callable[[float], m.Message],
        exclude: Subscriber | None = None,
        *,
        except_nick: str | None = None,
    ) -> None:
        with self._lock:
            if not self._link.up:
                return  # (nobody elsewhere would hear it; the users here were told the link is down)
            try:
                r = self._room(room)
            except ClusterUnavailable:
                return
            if r is None:
                return
            msg = build(time.time())
            if isinstance(msg, m.Notice) and msg.room is None:
                msg = dataclasses.replace(msg, room=r.name)
            skip = except_nick if except_nick is not None else (exclude.nick if exclude is not None else "")
            self._append(r.name, "n", msg, None, skip=skip)

    def _append(
        self,
        room: str,
        kind: str,
        msg: m.Message,
        pending: _Pending | None,
        *,
        exclude: Subscriber | None = None,
        skip: str = "",
    ) -> None:
        """Queue an entry for the writer (lock held)."""
        ref = self._last_ref = next(self._refs)
        self._pending[ref] = pending or _Pending(None, None)
        if exclude is not None:
            skip = exclude.nick
        self._batch.append(Entry(room, kind, m.encode(msg).decode(), str(ref), skip))
        if len(self._batch) == 1:
            self._batch_ready.notify_all()

    def send_to(self, sub: Subscriber, frame: Frame) -> None:
        with self._lock:
            if self._pending:
                self._held.append((self._last_ref, sub, frame))
            else:
                super().send_to(sub, frame)

    def _release_held(self) -> None:
        """Frames for one session whose turn has come: nothing appended before them is unread (lock held)."""
        oldest = next(iter(self._pending), None)
        while self._held and (oldest is None or self._held[0][0] < oldest):
            _, sub, frame = self._held.popleft()
            super().send_to(sub, frame)
        if oldest is None:
            self._batch_ready.notify_all()  # flush() waits for this

    # -- the threads --
    def _write(self) -> None:
        while True:
            with self._lock:
                self._batch_ready.wait_for(lambda: self._batch or self._stopping)
                if not self._batch:
                    return
                batch, self._batch = self._batch, []
                self._batch_ready.notify_all()
            try:
                ids = self.cluster_log.append(batch)
            except ClusterUnavailable as exc:
                if exc.__cause__ is not None:  # sent, and the link broke: Redis may have taken it
                    self._in_doubt(batch)
                    continue
                ids = [""] * len(batch)  # never sent
            except Exception:  # noqa: BLE001 - a refusal (a script error): nothing of it was taken
                log.exception("appending %d entries", len(batch))
                ids = [""] * len(batch)
            with self._lock:
                for entry, entry_id in zip(batch, ids, strict=True):
                    pending = self._pending.get(int(entry.ref)) if entry_id else None
                    if pending is not None:
                        pending.seq = seq_of(entry_id)
            if all(ids):
                continue
            with self._lock:
                for entry, entry_id in zip(batch, ids, strict=True):
                    if not entry_id:
                        self._refuse(int(entry.ref))
                self._release_held()

    def _in_doubt(self, batch: list[Entry]) -> None:
        """The link broke with ``batch`` sent: it stays unanswered until Redis is
        back and says whether it has it (``_settle``)."""
        with self._lock:
            for entry in batch:
                r = self._rooms.get(room_key(entry.room))
                self._doubtful[int(entry.ref)] = (entry.room, r.read if isinstance(r, _ClusterRoom) else "0-0")

    def _settle(self) -> None:
        """Redis is back with its data: an entry in doubt that it has will be read
        back and answered as usual; one it has not is refused."""
        with self._lock:
            doubtful = dict(self._doubtful)  # (left in place until settled: Redis may go again)
        by_room: dict[str, tuple[str, set[str]]] = {}
        for ref, (room, since) in doubtful.items():
            low, refs = by_room.get(room, (since, set()))
            by_room[room] = (min(low, since, key=lambda i: tuple(map(int, i.split("-")))), refs | {str(ref)})
        taken: set[str] = set()
        for room, (since, refs) in by_room.items():
            key = keys.log(room_key(room))
            found = self._link.call(lambda r, key=key, since=since: r.xrange(key, since, "+"))
            taken |= {f.get("r", "") for _, f in found if f.get("n") == self.node} & refs  # type: ignore[union-attr]
        with self._lock:
            for ref in doubtful:
                self._doubtful.pop(ref, None)
                if str(ref) not in taken:
                    self._refuse(ref)
            self._release_held()

    def _refuse(self, ref: int) -> None:
        """An entry Redis did not take: its sender is told so (lock held)."""
        pending = self._pending.pop(ref, None)
        if pending is not None and pending.sub is not None and pending.receipt is not None:
            # In its message's place: after the answers to what was sent before it.
            error = Frame(m.Error("cluster_unavailable", UNAVAILABLE))
            bisect.insort(self._held, (ref, pending.sub, error), key=lambda held: held[0])

    def _read(self) -> None:
        while not self._stopping:
            if not self._link.up:
                self._link.wait_up(1.0)
                continue
            with self._lock:
                streams = dict(self._streams)
            try:
                got = self._link.blocking.xread(streams, count=READ_COUNT, block=READ_BLOCK_MS)
            except REDIS_DOWN as exc:
                self._link.lost(exc)
                continue
            except Exception:  # noqa: BLE001 - the reader must outlive any one bad answer
                log.exception("reading the cluster's streams")
                time.sleep(0.5)
                continue
            if not got:
                continue
            read: dict[str, str] = {}
            with self._lock:
                for stream, entries in got:
                    if stream not in self._streams:
                        continue  # (a room forgotten meanwhile)
                    self._streams[stream] = entries[-1][0]
                    room = self._by_stream.get(stream)
                    if room is not None:
                        read[room.name] = entries[-1][0]
                    for entry_id, fields in entries:
                        try:
                            if room is not None:
                                self._deliver(room, entry_id, fields)
                            elif stream == keys.EVENTS:
                                self.on_sanctions()
                            else:
                                self._obey(fields)
                        except Exception:  # noqa: BLE001
                            log.exception("handling %s %s", stream, entry_id)
                self._release_held()
            if read:  # (one round trip a batch: what this node read may now be trimmed)
                try:
                    self.cluster_log.read_up_to(read)
                except ClusterUnavailable:
                    pass

    def _deliver(self, r: _ClusterRoom, entry_id: str, fields: dict[str, str]) -> None:
        """A room's entry read back: to this node's members, in the room's order (lock held)."""
        r.read = entry_id
        frame = StoredFrame(entry_id, fields)
        if fields.get("k") == "m":
            seq = seq_of(entry_id)
            if r.seq and seq > r.seq + 1:
                self._gap(r, seq)
            r.seq = seq
        elif '"event":"topic"' in fields["p"]:
            msg = frame.msg
            if isinstance(msg, m.Notice) and msg.event == "topic" and msg.topic is not None:
                r.topic = msg.topic
        exclude, receipt = None, None
        pending = self._pending.pop(int(fields.get("r") or 0), None) if fields.get("n") == self.node else None
        if pending is not None and pending.sub is not None:
            exclude = pending.sub
            if pending.receipt is not None:  # (from the message as published: no decoding)
                own = pending.msg if isinstance(pending.msg, m.ChatMessage) else frame.msg
                receipt = Frame(pending.receipt(dataclasses.replace(own, seq=seq_of(entry_id))))
        elif fields.get("x"):
            exclude = self._people.holder(fields["x"])
        self._post(r, frame, exclude, receipt)

    def _gap(self, r: _ClusterRoom, seq: int) -> None:
        """Messages before ``seq`` were trimmed before this node read them (it fell
        more than the stream's hard cap behind): its members are told, and a
        sender here whose message was among them is acknowledged (lock held)."""
        lost = seq - r.seq - 1
        log.warning("%s: %d message(s) trimmed before this node read them", r.name, lost)
        text = f"{lost} message(s) of {r.name} were missed: this server fell behind"
        self._post(r, Frame(m.Notice(text=text, ts=time.time(), event="missed", room=r.name)), None, None)
        for ref, pending in list(self._pending.items()):
            if pending.room is r and pending.seq and pending.seq < seq:
                del self._pending[ref]
                if pending.sub is not None and pending.receipt is not None and isinstance(pending.msg, m.ChatMessage):
                    ack = Frame(pending.receipt(dataclasses.replace(pending.msg, seq=pending.seq)))
                    bisect.insort(self._held, (ref, pending.sub, ack), key=lambda held: held[0])

    def _obey(self, fields: dict[str, str]) -> None:
        """What another node asks of a session here (lock held)."""
        sub = self._local(fields.get("sid", ""))
        if sub is None:
            return
        kind = fields.get("t")
        if kind == "tell":
            super().send_to(sub, Frame(m.decode(fields["f"].encode())))
        elif kind == "op":
            sub.op = fields.get("op") == "1"
        elif kind in ("kick", "replace"):
            threading.Thread(target=self._end, args=(sub, kind, fields.get("why", "")), daemon=True).start()

    @staticmethod
    def _end(sub: Subscriber, kind: str, why: str) -> None:
        if kind == "replace":
            sub.replaced = True
            sub.kick("replaced by a new connection")
        else:
            sub.notice(f"you were {why}", event="kick")
            sub.kick(why)

    def _beat(self) -> None:
        while True:
            if self._stop.wait(self._heartbeat):
                return
            try:
                if self._presence.heartbeat() != self._generation:  # flushed, or restarted empty unseen
                    self._renew_cluster()
                    continue
                if time.monotonic() - self._up_since > 3 * self._heartbeat:  # (not right after an outage)
                    for node in self._presence.dead_nodes():
                        self._clear_away(node)
            except ClusterUnavailable:
                continue
            except Exception:  # noqa: BLE001
                log.exception("cluster heartbeat")

    def _clear_away(self, node: str) -> None:
        gone = self._presence.reap(node)
        if not gone:
            return
        log.warning("node %s is gone: %d session(s) cleared away", node, len(gone))
        now = time.time()
        with self._lock:
            for g in gone:
                text = f"{g.nick} left (their server is gone)"
                for room in g.rooms:
                    self._append(room, "n", m.Notice(text=text, ts=now, event="leave", nick=g.nick, room=room), None)

    # -- Redis lost and found --
    def _everyone_here(self) -> list[Subscriber]:
        with self._lock:
            return list(self._sids)

    def _link_down(self) -> None:
        with self._lock:
            for sub in self._sids:
                super().send_to(sub, Frame(m.Notice(text=LINK_DOWN, ts=time.time(), event="link_down")))

    def _link_up(self) -> None:
        try:
            self._up_since = time.monotonic()
            if self._presence.heartbeat() != self._generation:
                self._renew_cluster()
                return
            self._restore()
            self._settle()
            while self._departed:
                self._forget(*self._departed[0])
                self._departed.pop(0)
        except ClusterUnavailable:
            return  # lost again: the link tries anew
        with self._lock:  # after the answers to what was in flight: a client sends its refused lines again on it
            for sub in self._sids:
                self.send_to(sub, Frame(m.Notice(text=LINK_UP, ts=time.time(), event="link_up")))

    def _restore(self) -> None:
        """After an outage: this node's sessions hold their names and rooms again
        (another node may have cleared them away as dead meanwhile)."""
        for sub in self._everyone_here():
            with self._lock:
                sid = self._sids.get(sub)
                if sid is None:
                    continue
                if self._presence.claim(sub.nick, sid, sub.token, replacing=sid, p=person(sub)) is None:
                    why = "replaced: the name was taken while the cluster was away"
                    threading.Thread(target=self._end, args=(sub, "kick", why), daemon=True).start()
                    continue
                for name in self._rooms_of(sub):
                    self._presence.joined(name, sub.nick, sid, self._rooms_of(sub))

    def _renew_cluster(self) -> None:
        """Redis lost its data (flushed, or back without it): like a replaced store,
        every session here reconnects, and resumes into the rooms' new numbering."""
        log.warning("the cluster's Redis lost its data: every session here must reconnect")
        _kept(self._link, keys.CLUSTER, self.cluster_id)  # (the same id: the cluster goes on)
        self._generation = _kept(self._link, keys.GENERATION, secrets.token_hex(8))
        self.cluster_log.restore_secret()
        self._departed.clear()  # (their names went with the data)
        self._doubtful.clear()  # (refused below, with everything unanswered)
        with self._lock:
            for ref in list(self._pending):
                self._refuse(ref)
            self._release_held()
            subs = list(self._sids)
            self._rooms.clear()
            self._by_stream.clear()
            self._streams = {keys.inbox(self.node): "0-0", keys.EVENTS: "0-0"}
        for sub in subs:  # ("shutdown": the client reconnects, as after a server's restart)
            sub.notice("the cluster lost its data: reconnecting you to the new one", event="shutdown")
            sub.kick("the cluster lost its data")

    def flush(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            if not self._batch_ready.wait_for(lambda: not self._pending or not self._link.up, timeout):
                return False
        return super().flush(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self.flush(timeout=1.0)
        with self._lock:
            self._stopping = True
            self._stop.set()
            self._batch_ready.notify_all()
        try:
            self._to_node(self.node, {"t": "wake"})  # the reader's blocking read ends now, not in a second
        except ClusterUnavailable:
            pass
        for thread in self._threads:
            thread.join(timeout=3.0)
        try:
            if self._link.up:
                self._presence.retire()
        except ClusterUnavailable:
            pass
        self._link.close()
