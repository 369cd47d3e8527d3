"""Room messages through Redis: what this node appends, what it reads back, and what must wait for it.

``publish`` and ``announce`` do not deliver. The writer thread appends each
batch to the rooms' streams in one round trip (``redislog.append``); the
reader thread follows the streams of every room this node has members in
(one blocking ``XREAD``) and posts what it reads to the local members
through the local dispatcher. Every node delivers the same entries in the
same order, and a sender's own message comes back as its receipt, so nobody
is told "accepted" for what Redis did not take. A frame for one session
(``send_to``) waits until everything this node appended before it has been
read back, so it cannot overtake them; a refusal takes its message's place.
Once the link is down, the first such frame or refusal is preceded by the
``link_down`` notice (``down_told``): nobody is refused before being told why.
The reader also follows this node's inbox and the events stream, and hands
those to the node (``obey``, ``on_sanctions``). ``Relay`` has the local
``Delivery``'s interface and is the node hub's delivery (``LocalHub(delivery=...)``).
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Callable

import msgspec

from chatserver.cluster import keys
from chatserver.cluster.link import REDIS_DOWN, ClusterUnavailable, Link
from chatserver.cluster.redislog import Entry, RedisBroker, decode, seq_of
from chatserver.core.delivery import PUBLISH_WAIT, Delivery, Publish
from chatserver.core.fanout import Frame, Participant
from chatserver.core.rooms import Room, Rooms
from common import messages as m
from common.rooms import room_key
from common.threads import stop_signals_blocked

log = logging.getLogger(__name__)

UNAVAILABLE = "the server has lost its cluster (Redis): your message was not sent; try again when it is back"
READ_BLOCK_MS = 1000  # a blocking read returns at least this often (to see a stop)
READ_COUNT = 1000  # entries per stream per read, at most
MAX_BATCH = 5000  # entries waiting for the writer before publishers wait


@dataclasses.dataclass
class _Pending:
    """An entry this node appended and has not yet read back."""

    sub: Participant | None  # its sender, who gets ``receipt`` in its place
    receipt: Callable[[m.Message], m.Message] | None
    room: Room | None = None
    msg: m.Message | None = None  # as published (numbered by Redis)
    seq: int = 0  # its number, once Redis gave it


class Relay:
    """A node's delivery (the hub's ``_delivery``): room messages through Redis, read back and
    handed to the local ``Delivery`` (see the module's docstring). It has ``Delivery``'s
    interface, so the hub cannot tell the two apart."""

    def __init__(
        self,
        link: Link,
        node: str,
        broker: RedisBroker,
        local: Delivery,
        lock: threading.RLock,
        rooms: Rooms,
        holder: Callable[[str], Participant | None],
        follow: Callable[[str, bool], Room | None],
        *,
        obey: Callable[[dict[str, str]], None],
        tell_down: Callable[[], None],
        on_sanctions: Callable[[], None],
    ) -> None:
        self._link = link
        self.node = node
        self.broker = broker
        #: The node's local delivery: what is read back goes to its members through it.
        self.local = local
        self.dispatcher = local.dispatcher
        self._lock = lock
        self._rooms = rooms
        self._holder = holder  # this node's session holding a name (lock held)
        #: The room, followed by this node (Redis calls outside the lock; ``create``: made if new).
        self._follow = follow
        self._obey = obey  # what another node asks of this one, read from its inbox (lock held)
        self._tell_down = tell_down  # tell this node's users now that the link is down (lock held)
        self._on_sanctions = on_sanctions  # moderation changed on some node
        self._refs = itertools.count(1)
        self._last_ref = 0
        #: ref -> appended, not yet read back (oldest first). An OrderedDict: its oldest is found at
        #: once, where a dict emptied from the front walks every slot it emptied to find it.
        self._pending: collections.OrderedDict[int, _Pending] = collections.OrderedDict()
        #: Frames for one session, each waiting until the refs up to its own are read back.
        self._held: collections.deque[tuple[int, Participant, Frame]] = collections.deque()
        self._batch: list[Entry] = []
        self._batch_ready = threading.Condition(self._lock)
        self._streams = {keys.inbox(node): "0-0", keys.EVENTS: self._last_id(keys.EVENTS)}
        self._by_stream: dict[str, Room] = {}
        self._control = frozenset((keys.inbox(node), keys.EVENTS))  # streams that are not rooms
        #: Entries sent when the link broke, by ref: (room, its stream id read then).
        self._doubtful: dict[int, tuple[str, str]] = {}
        self._told_outage = 0  # the link's outage this node's users were last told of
        self._stopping = False
        self._threads: list[threading.Thread] = []

    def start(self, *more: tuple[str, Callable[[], None]]) -> None:
        """Start the writer and the reader, and ``more`` threads (once the node is set up)."""
        with stop_signals_blocked():
            for name, target in (("writer", self._write), ("reader", self._read), *more):
                thread = threading.Thread(target=target, name=f"cluster-{name}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _last_id(self, stream: str) -> str:
        last = self._link.call(lambda r: r.xrevrange(stream, "+", "-", count=1))
        return last[0][0] if last else "0-0"  # type: ignore[index]

    def down_told(self) -> None:
        """If the link has gone down since the users were last told, tell them now,
        once an outage (lock held). The link's own thread does so as soon as it can
        (``on_down``), but a session may find the link down first: its refusal
        must not reach its user before the notice that says why."""
        outage = self._link.outages
        if outage != self._told_outage:
            self._told_outage = outage
            self._tell_down()

    # -- messages --
    def publish_many(self, items: list[Publish], exclude: Participant) -> None:
        """``publish`` for each of ``items``, in order, in one turn of the lock (each is still
        its own entry, numbered and answered one by one): a sender's lines read together
        cost one wait for the lock, not one each."""
        rooms = {room_key(room): self._follow(room, True) if self._link.up else None for room, _, _ in items}
        with self._lock:
            for room, build, receipt in items:
                self._queue_locked(rooms[room_key(room)], build, exclude, receipt)
            self._batch_ready.wait_for(lambda: len(self._batch) < MAX_BATCH, PUBLISH_WAIT)

    def publish(
        self,
        room: str,
        build: Callable[[int, float], m.Message],
        exclude: Participant | None = None,
        receipt: Callable[[m.Message], m.Message] | None = None,
    ) -> Frame:
        """Queue for Redis, which numbers it; it reaches members (and the sender
        its receipt) when read back from the room's stream."""
        r = self._follow(room, True) if self._link.up else None  # (Redis: before the lock)
        with self._lock:
            frame = self._queue_locked(r, build, exclude, receipt)
            self._batch_ready.wait_for(lambda: len(self._batch) < MAX_BATCH, PUBLISH_WAIT)
        return frame

    def _queue_locked(
        self,
        r: Room | None,
        build: Callable[[int, float], m.Message],
        exclude: Participant | None,
        receipt: Callable[[m.Message], m.Message] | None,
    ) -> Frame:
        """Queue one message for the writer, or refuse it if Redis is away (lock held)."""
        frame = Frame(build(0, time.time()))
        if not self._link.up or r is None:
            if exclude is not None:  # (after the answers to what it sent before: the client pairs them)
                self.send_to(exclude, Frame(m.Error("cluster_unavailable", UNAVAILABLE)))
            return frame
        self.append(r.name, "m", frame.msg, _Pending(exclude, receipt, r, frame.msg), exclude=exclude)
        return frame

    def announce(
        self,
        room: str,
        build: Callable[[float], m.Message],
        exclude: Participant | None = None,
        *,
        except_nick: str | None = None,
    ) -> None:
        if not self._link.up:
            return  # (nobody elsewhere would hear it; the users here were told the link is down)
        try:
            r = self._follow(room, False)  # (Redis, unless followed already: before the lock)
        except ClusterUnavailable:
            return
        if r is None:
            return
        with self._lock:
            if not self._link.up:
                return
            msg = build(time.time())
            if isinstance(msg, m.Notice) and msg.room is None:
                msg = msgspec.structs.replace(msg, room=r.name)
            skip = except_nick if except_nick is not None else (exclude.nick if exclude is not None else "")
            self.append(r.name, "n", msg, None, skip=skip)

    def append(
        self,
        room: str,
        kind: str,
        msg: m.Message,
        pending: _Pending | None,
        *,
        exclude: Participant | None = None,
        skip: str = "",
    ) -> None:
        """Queue an entry for the writer (lock held). Only an entry with a receipt
        to give is waited for: a notice, or a plain peer's line, holds nobody's
        frames back (and a notice to a room this node does not follow, read by
        nobody here, would have held them for good)."""
        ref = next(self._refs)
        if pending is not None and pending.sub is not None and pending.receipt is not None:
            self._pending[ref] = pending
            self._last_ref = ref
        if exclude is not None:
            skip = exclude.nick
        self._batch.append(Entry(room, kind, m.encode(msg), str(ref), skip))  # (bytes: redis-py sends them as they are)
        if len(self._batch) == 1:
            self._batch_ready.notify_all()

    def send_to(self, sub: Participant, frame: Frame) -> None:
        with self._lock:
            self.down_told()  # (a refusal for want of Redis comes after the notice that it is gone)
            if self._pending:
                self._held.append((self._last_ref, sub, frame))
            else:
                self.local.send_to(sub, frame)

    def send_many_to(self, sub: Participant, frames: list[Frame]) -> None:
        """``send_to`` for each of ``frames``, in order, in one turn of the lock."""
        with self._lock:
            self.down_told()
            if self._pending:
                self._held.extend((self._last_ref, sub, frame) for frame in frames)
            else:
                self.local.send_many_to(sub, frames)

    def release_held(self) -> None:
        """Frames for one session whose turn has come: nothing appended before them is unread (lock held)."""
        oldest = next(iter(self._pending), None)
        while self._held and (oldest is None or self._held[0][0] < oldest):
            _, sub, frame = self._held.popleft()
            self.local.send_to(sub, frame)
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
                ids = self.broker.append(batch)
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
                    if not entry_id:
                        self.refuse(int(entry.ref))
                    elif (pending := self._pending.get(int(entry.ref))) is not None:
                        pending.seq = seq_of(entry_id)  # (for _gap, should it be trimmed unread)
                if not all(ids):
                    self.release_held()

    def _in_doubt(self, batch: list[Entry]) -> None:
        """The link broke with ``batch`` sent: it stays unanswered until Redis is
        back and says whether it has it (``_settle``)."""
        with self._lock:
            for entry in batch:
                r = self._rooms.get(entry.room)
                if int(entry.ref) in self._pending:
                    self._doubtful[int(entry.ref)] = (entry.room, r.read if r is not None and r.read else "0-0")
        if self._link.up:  # back already, its own settling done: settle these now
            try:
                self.settle()
            except ClusterUnavailable:
                pass  # (lost again: settled when it is back)

    def settle(self) -> None:
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
                    self.refuse(ref)
            self.release_held()

    def refuse(self, ref: int) -> None:
        """An entry Redis did not take: its sender is told so (lock held)."""
        self.down_told()
        pending = self._pending.pop(ref, None)
        if pending is not None and pending.sub is not None and pending.receipt is not None:
            # In its message's place: after the answers to what was sent before it.
            self._answer(ref, pending.sub, Frame(m.Error("cluster_unavailable", UNAVAILABLE)))

    def _answer(self, ref: int, sub: Participant, frame: Frame) -> None:
        """The answer to entry ``ref``, held in its place: after the frames held for
        what was appended before it, before those sent after it (lock held)."""
        bisect.insort_left(self._held, (ref, sub, frame), key=lambda held: held[0])

    def _next_read(self, streams: dict[str, str], read: dict[str, str]) -> list:
        """One blocking ``XREAD`` of ``streams``, sent with the positions ``read`` since the
        last one (the rooms' read positions, which hold trimming back): one round trip, where
        recording them on their own cost every read batch a round trip more."""
        if not read:
            return self._link.blocking.xread(streams, count=READ_COUNT, block=READ_BLOCK_MS)  # type: ignore[return-value]
        p = self._link.blocking.pipeline(transaction=False)
        self.broker.read_up_to(read, p)
        p.xread(streams, count=READ_COUNT, block=READ_BLOCK_MS)
        return p.execute()[-1]

    def _read(self) -> None:
        unrecorded: dict[str, str] = {}  # rooms read up to these ids, to record with the next read
        while not self._stopping:
            if not self._link.up:
                self._link.wait_up(1.0)
                continue
            with self._lock:
                streams = dict(self._streams)
                unrecorded = {
                    name: i for name, i in unrecorded.items() if self._rooms.get(name) is not None
                }  # (let go of?)
            try:
                got = self._next_read(streams, unrecorded)
                unrecorded = {}
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
            if any(stream == keys.EVENTS for stream, _ in got):
                # Moderation changed: in force before anything read with it is delivered (a
                # mute's notice and the muted person's next line), read outside the lock.
                try:
                    self._on_sanctions()
                except Exception:  # noqa: BLE001
                    log.exception("reloading bans and mutes")
            with self._lock:
                # What other nodes asked of this one first: an /op given before its
                # notice was posted is in force before the notice is delivered.
                for stream, entries in sorted(got, key=lambda item: item[0] not in self._control):
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
                            elif stream != keys.EVENTS:  # (events: reloaded above)
                                self._obey(fields)
                        except Exception:  # noqa: BLE001
                            log.exception("handling %s %s", stream, entry_id)
                self.release_held()
            unrecorded.update(read)  # (recorded with the next read: what this node read may then be trimmed)

    def _deliver(self, r: Room, entry_id: str, fields: dict[str, str]) -> None:
        """A room's entry read back: to this node's members, in the room's order (lock held)."""
        r.read = entry_id
        msg = decode(entry_id, fields)  # (numbered by its id: the stored JSON is never edited)
        frame = Frame(msg)
        if fields.get("k") == "m":
            seq = seq_of(entry_id)
            if r.seq and seq > r.seq + 1:
                self._gap(r, seq)
            r.seq = seq  # (the local delivery keeps it among the room's latest: ``post``)
        elif isinstance(msg, m.Notice) and msg.event == "topic" and msg.topic is not None:
            r.topic = msg.topic
        exclude, receipt = None, None
        pending = self._pending.pop(int(fields.get("r") or 0), None) if fields.get("n") == self.node else None
        if pending is not None and pending.sub is not None:
            exclude = pending.sub
            if pending.receipt is not None:  # (from the message as published: no decoding)
                receipt = Frame(pending.receipt(msg))
                ref = int(fields["r"])
                if next(iter(self._pending), ref) < ref:
                    # Something appended before it is unanswered (in doubt since Redis went,
                    # or in a stream read later): its receipt waits its turn, as a refusal would.
                    self._answer(ref, pending.sub, receipt)
                    receipt = None
        elif fields.get("x"):
            exclude = self._holder(fields["x"])
        self.local.post(r, frame, exclude, receipt)

    def _gap(self, r: Room, seq: int) -> None:
        """Messages before ``seq`` were trimmed before this node read them (it fell
        more than the stream's hard cap behind): its members are told, and a
        sender here whose message was among them is acknowledged (lock held)."""
        lost = seq - r.seq - 1
        log.warning("%s: %d message(s) trimmed before this node read them", r.name, lost)
        text = f"{lost} message(s) of {r.name} were missed: this server fell behind"
        self.local.post(r, Frame(m.Notice(text=text, ts=time.time(), event="missed", room=r.name)), None, None)
        for ref, pending in list(self._pending.items()):
            if pending.room is r and pending.seq and pending.seq < seq:
                del self._pending[ref]
                if pending.sub is not None and pending.receipt is not None and isinstance(pending.msg, m.ChatMessage):
                    self._answer(
                        ref, pending.sub, Frame(pending.receipt(msgspec.structs.replace(pending.msg, seq=pending.seq)))
                    )

    def flush(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            if not self._batch_ready.wait_for(lambda: not self._pending or not self._link.up, timeout):
                return False
        return self.local.flush(None if deadline is None else max(0.0, deadline - time.monotonic()))

    # -- what the node asks of it --
    def post(self, r: Room, frame: Frame, exclude: Participant | None, receipt: Frame | None) -> None:
        """Straight to this node's members of ``r`` (lock held)."""
        self.local.post(r, frame, exclude, receipt)

    def follow_stream(self, r: Room) -> None:
        """Read ``r``'s stream from ``r.read`` on (lock held)."""
        self._by_stream[keys.log(room_key(r.name))] = r
        self._streams[keys.log(room_key(r.name))] = r.read

    def unfollow_stream(self, r: Room) -> None:
        """No longer read ``r``'s stream (lock held)."""
        del self._by_stream[keys.log(room_key(r.name))]
        del self._streams[keys.log(room_key(r.name))]

    def forget_all(self) -> None:
        """Redis lost its data: everything unanswered is refused, and no stream is followed any more."""
        self._doubtful.clear()  # (refused below, with everything unanswered)
        with self._lock:
            for ref in list(self._pending):
                self.refuse(ref)
            self.release_held()
            self._by_stream.clear()
            self._streams = {keys.inbox(self.node): "0-0", keys.EVENTS: "0-0"}

    def stop(self) -> None:
        """The writer and the reader end (the reader's blocking read: once woken)."""
        with self._lock:
            self._stopping = True
            self._batch_ready.notify_all()

    def join_threads(self) -> None:
        for thread in self._threads:
            thread.join(timeout=3.0)
