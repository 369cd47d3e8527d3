"""The cluster hub: names, rooms and presence shared through Redis, and a node's life in the cluster.

Sessions see the same ``Hub`` as on a single server. Room messages go
through Redis streams (``relay.py``); names, membership and presence are
``presence.Presence``'s. Private frames, kicks and take-overs for a session
on another node go to that node's inbox stream. A heartbeat thread renews
the node's lease, clears away dead nodes and notices a Redis that lost its
data; ``_link_down`` and ``_link_up`` tell the users when Redis goes and
comes back.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import secrets
import socket
import threading
import time

from chatserver.backends.ports import Backends
from chatserver.backends.records import StoredRoom
from chatserver.cluster import keys
from chatserver.cluster.link import ClusterUnavailable, Link
from chatserver.cluster.presence import Presence
from chatserver.cluster.redisstores import RedisModeration, RedisSecret
from chatserver.cluster.relay import FollowedRoom, RelayHub
from chatserver.cluster.sweep import RoomSweeper
from chatserver.core.fanout import Frame, Subscriber
from chatserver.core.hub import LOBBY, Arrival, Greet, Greeting, LocalHub, RoomInfo, TooManyRooms, _Room
from chatserver.core.registry import NickTaken, Person, person
from common import messages as m
from common.nicks import nick_key
from common.rooms import room_key

log = logging.getLogger(__name__)

LINK_DOWN = "the server lost its cluster (Redis): messages are not sent until it is back"
LINK_UP = "the cluster is back: chat goes on"


class ClusterHub(RelayHub):
    def __init__(self, link: Link, *, keep: int, heartbeat: float = 5.0, max_rooms: int = 1000) -> None:
        super().__init__(link, f"{socket.gethostname()[:20]}-{secrets.token_hex(3)}", keep=keep, max_rooms=max_rooms)
        self._presence = Presence(link, self.node, lease=3 * heartbeat)
        self._secrets = RedisSecret(link)
        #: What the server keeps through this node: all of it in Redis, shared by every node.
        self.backends = Backends(self.broker, RedisModeration(link, self.node), self._secrets)
        self._sweeper = RoomSweeper(link)
        self._heartbeat = heartbeat
        self.cluster_id = link.kept(keys.CLUSTER, secrets.token_hex(4))
        self._generation = link.kept(keys.GENERATION, secrets.token_hex(8))
        self._presence.heartbeat()
        self._sids: dict[Subscriber, str] = {}  # this node's sessions -> their session ids
        self._by_sid: dict[str, Subscriber] = {}  # and back (another node's inbox names a session by it)
        self._sid_count = itertools.count(1)
        self._stop = threading.Event()
        #: Sessions that ended while Redis was away: (nick, sid, rooms) to release when it is back.
        self._departed: list[tuple[str, str, list[str]]] = []
        self._up_since = time.monotonic()
        self._closing = False
        link.on_down, link.on_up = self._link_down, self._link_up
        self._start(("heartbeat", self._beat))

    def _sid(self, sub: Subscriber) -> str:
        sid = self._sids.get(sub)
        if sid is None:
            sid = self._sids[sub] = f"{self.node}/{next(self._sid_count)}"
            self._by_sid[sid] = sub
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
        arrival: Arrival | None = None,
    ) -> tuple[str, bool, str]:
        why = ""
        with self._lock:
            sid = self._sid(sub)
            was = self._presence.claim(nick, sid, sub.token, takeover=resume or "", p=person(sub))
            if was is None:
                raise NickTaken(nick, self._presence.suggest(nick))
            stale = self._people.holder(nick)
            stale = stale if stale is not sub else None
            self._people.claim(sub, nick, stale)
            arrival = arrival if stale is None and not was[0] else None  # (a session taken over: nobody left)
            try:
                try:
                    joined = self.join(room, sub, greet, after=after, recent=recent, epoch=epoch, arrival=arrival)
                except TooManyRooms as exc:
                    why = str(exc)
                    joined = self.join(LOBBY, sub, greet, recent=recent, arrival=arrival)
            except ClusterUnavailable:  # half in: undone here, and the name released when Redis is back
                self.unregister(sub)
                raise
        old_node, old_sid = was
        if stale is not None:
            stale.replaced = True
            stale.kick("replaced by a new connection")
        elif old_node and old_node != self.node:  # its old node may not have noticed yet
            self._to_node(old_node, {"t": "replace", "sid": old_sid})
        return joined, stale is not None or bool(old_node), why

    def rename(self, sub: Subscriber, new: str) -> str:
        with self._lock:
            sid = self._sid(sub)
            if self._presence.claim(new, sid, sub.token, replacing=sid, p=person(sub)) is None:
                raise NickTaken(new, self._presence.suggest(new))
            old = self._people.claim(sub, new)
            if nick_key(old) != nick_key(new):
                self._presence.release(old, sid)
                rooms = self._rooms_of(sub)
                for name in rooms:
                    self._presence.left(name, old, sid, None)
                    self._presence.joined(name, new, sid, rooms)
            return old

    def changed(self, sub: Subscriber) -> None:
        with self._lock:
            self._presence.update(sub.nick, self._sid(sub), away=sub.away, op="1" if sub.op else "0", token=sub.token)

    def unregister(self, sub: Subscriber) -> None:
        with self._lock:
            sid = self._sids.pop(sub, None)
            self._by_sid.pop(sid or "", None)
            rooms = self._rooms_of(sub)
            super().unregister(sub)
            if sid is None or self._closing:  # (a stopping node's names lapse with it: see closing)
                return
            try:
                self._forget(sub.nick, sid, rooms)
            except ClusterUnavailable:
                self._departed.append((sub.nick, sid, rooms))  # released when Redis is back

    def _forget(self, nick: str, sid: str, rooms: list[str]) -> None:
        for name in rooms:
            self._presence.left(name, nick, sid, None)
        self._presence.release(nick, sid)

    def closing(self) -> None:
        """This node stops: its sessions keep their names and rooms, so that a
        client resuming on another node takes its name over (no "joined" there)
        and one that does not come back is cleared away with the node, as
        having left, by the node that notices the lease is gone."""
        self._closing = True

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
        return self._by_sid.get(sid)

    # -- rooms --
    def _room(self, name: str, create: bool = False, maker: Subscriber | None = None) -> _Room | None:
        key = room_key(name)
        room = self._rooms.get(key)
        if room is not None:
            return room
        known = None if create and maker is None else self.broker.room(name)
        if not create and known is None:
            return None
        address = self._may_make(name, maker) if maker is not None and known is None else ""
        self._make_space()
        stored, last = self.broker.ensure(name)
        room = self._rooms[key] = FollowedRoom(stored, last)
        self._made(room, address)
        self._by_stream[keys.log(key)] = room
        self._streams[keys.log(key)] = last
        self._to_node(self.node, {"t": "wake"})  # the reader's blocking read must take this room in
        return room

    def _forget_room(self, room: _Room) -> None:
        """No longer follow its stream (it lives on in Redis for the other nodes)."""
        del self._by_stream[keys.log(room_key(room.name))]
        del self._streams[keys.log(room_key(room.name))]
        super()._forget_room(room)

    def join(
        self,
        room: str,
        sub: Subscriber,
        greet: Greet | None = None,
        after: int | None = None,
        recent: int = 0,
        epoch: str | None = None,
        arrival: Arrival | None = None,
    ) -> str:
        with self._lock:
            r = self._room(room, create=True, maker=sub)
            assert isinstance(r, FollowedRoom)
            self._presence.joined(r.name, sub.nick, self._sid(sub), [*self._rooms_of(sub), r.name])
            if after is not None and epoch == r.epoch and after > r.seq and not r.members:
                # Seen further than Redis numbers it: Redis came back from older data.
                self.broker.behind({r.name: after})
                r.epoch = self.broker.ensure(r.name)[0].epoch
            r.members[sub] = r.posted
            if greet is not None:
                if after is not None and epoch == r.epoch and 0 <= after <= r.seq:
                    missed = self.broker.between(r.name, after, r.read, self._keep) if after < r.seq else []
                    first = missed[0].seq if missed else r.seq + 1
                    greet(Greeting(r.name, r.epoch, r.seq, missed, max(0, first - after - 1), "missed"))
                else:
                    kind = "history" if after is None else "renumbered"
                    found = self.broker.recent(r.name, recent, upto=r.read)
                    greet(Greeting(r.name, r.epoch, r.seq, found, 0, kind))
            if arrival is not None:
                self.announce(r.name, functools.partial(arrival, r.name), exclude=sub)
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
            self.broker.save_room(StoredRoom(r.name, r.epoch, r.seq, topic))
            r.topic = topic

    def topic(self, room: str) -> str:
        found = self.broker.room(room)
        return found.topic if found else ""

    def rooms(self) -> list[RoomInfo]:
        names = sorted(self._link.call(lambda r: r.smembers(keys.ROOMS)))  # type: ignore[arg-type]
        counts = self._presence.counts(names)
        found = []
        for stored, count in zip(self.broker.rooms(names), counts, strict=True):
            if stored is not None and (count or room_key(stored.name) == room_key(LOBBY)):
                found.append(RoomInfo(stored.name, count, stored.topic))
        return sorted(found, key=lambda info: room_key(info.name))

    def recent(self, room: str, count: int, before: int | None = None) -> list[m.ChatMessage]:
        return self.broker.recent(room, count, before)

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
                    self._sweeper.step(time.time())
            except ClusterUnavailable:
                continue
            except Exception:  # noqa: BLE001
                log.exception("cluster heartbeat")

    def _clear_away(self, node: str) -> None:
        gone = self._presence.reap(node)
        if not gone:
            return
        log.warning("node %s is gone: %d session(s) cleared away", node, len(gone))
        for g in gone:
            self._say_left(g.nick, g.rooms, f"{g.nick} left (their server is gone)")

    def _say_left(self, nick: str, rooms: list[str], text: str) -> None:
        now = time.time()
        with self._lock:
            for room in rooms:
                self._append(room, "n", m.Notice(text=text, ts=now, event="leave", nick=nick, room=room), None)

    # -- Redis lost and found --
    def _everyone_here(self) -> list[Subscriber]:
        with self._lock:
            return list(self._sids)

    def _link_down(self) -> None:
        with self._lock:
            self._down_told()  # (unless a session found the link down first and told them)

    def _tell_down(self) -> None:
        for sub in self._sids:
            # Now, not behind what is in flight (that waits for Redis): past the held frames.
            LocalHub.send_to(self, sub, Frame(m.Notice(text=LINK_DOWN, ts=time.time(), event="link_down")))

    def _link_up(self) -> None:
        try:
            self._up_since = time.monotonic()
            if self._presence.heartbeat() != self._generation:
                self._renew_cluster()
                return
            with self._lock:
                delivered = {r.name: r.seq for r in self._rooms.values()}
            late = self.broker.behind(delivered)
            if late:  # came back from older data: numbers already given would be given again
                log.warning("the cluster's Redis came back behind in %s", ", ".join(late[:5]))
                self._renew_cluster()
                return
            self._restore()
            self._settle()
            while self._departed:  # ended while Redis was away: nobody elsewhere heard they left
                nick, sid, rooms = self._departed[0]
                self._forget(nick, sid, rooms)
                self._departed.pop(0)
                self._say_left(nick, rooms, f"{nick} left")
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
        self._link.kept(keys.CLUSTER, self.cluster_id)  # (the same id: the cluster goes on)
        self._generation = self._link.kept(keys.GENERATION, secrets.token_hex(8))
        self._secrets.restore()
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
