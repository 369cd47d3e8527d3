"""The cluster's node: a ``LocalHub`` given Redis collaborators, and a node's life in the cluster.

Sessions see the same ``Hub`` as on a single server: ``ClusterHub`` is the
local hub given Redis presence (``presence.py``), the Redis broker
(``redislog.py``), the Redis room directory (``directory.py``), the other
nodes' inboxes (``peers.py``) and, as its delivery, the relay through Redis
streams (``relay.py``). What it still writes itself: following a room
outside the lock, a joiner's greeting read from Redis before it, requests of
other nodes parked while a session is being greeted, and the node's life: a
heartbeat thread renews the lease, clears away dead nodes and notices a
Redis that lost its data; ``_link_down`` and ``_link_up`` tell the users
when Redis goes and comes back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable

from chatserver.backends.ports import Backends
from chatserver.cluster import keys
from chatserver.cluster.directory import RedisDirectory
from chatserver.cluster.link import ClusterUnavailable, Link
from chatserver.cluster.peers import Inboxes
from chatserver.cluster.presence import Presence
from chatserver.cluster.redislog import RedisBroker
from chatserver.cluster.redisstores import RedisModeration, RedisSecret
from chatserver.cluster.relay import FollowedRoom, Relay
from chatserver.cluster.sweep import RoomSweeper
from chatserver.core.delivery import Delivery
from chatserver.core.fanout import Frame, Subscriber
from chatserver.core.hub import LOBBY, Arrival, Greet, Greeting, LocalHub, Room, TooManyRooms
from chatserver.core.registry import NickTaken, person
from common import messages as m
from common.nicks import nick_key
from common.rooms import room_key

log = logging.getLogger(__name__)

LINK_DOWN = "the server lost its cluster (Redis): messages are not sent until it is back"
LINK_UP = "the cluster is back: chat goes on"
GONE_NAMED = 10  # names a room is told of the people a dead node held in it, at most
JOIN_TRIES = 20  # reads of a room's history, at most, before a join gives up (a room faster than Redis)


@dataclasses.dataclass
class _Claim:
    """A name ``enter`` claimed in Redis, to take here with the greeting."""

    nick: str
    taken_over: bool  # from a session of another node (nobody left)
    stale: Subscriber | None = None  # the session here it replaced, once taken


def gone_notice(room: str, nicks: list[str], now: float) -> m.Notice:
    """What ``room`` hears of the people a dead node held in it: one of them by name (an IRC
    client sees its QUIT, a terminal drops it from the room), several in one line, at most
    ``GONE_NAMED`` of them named, and how many more."""
    if len(nicks) == 1:
        return m.Notice(text=f"{nicks[0]} left (their server is gone)", ts=now, event="leave", nick=nicks[0], room=room)
    named = ", ".join(nicks[:GONE_NAMED])
    more = f" and {len(nicks) - GONE_NAMED} more" if len(nicks) > GONE_NAMED else ""
    text = f"{len(nicks)} people left (their server is gone): {named}{more}"
    return m.Notice(text=text, ts=now, event="leave", room=room)


class ClusterHub(LocalHub):
    """A ``LocalHub`` given Redis presence, a Redis broker, a Redis room directory and the relay as its delivery."""

    def __init__(self, link: Link, *, keep: int, heartbeat: float = 5.0, max_rooms: int = 1000) -> None:
        node = f"{socket.gethostname()[:20]}-{secrets.token_hex(3)}"
        self._link = link
        self.broker = RedisBroker(link, node)
        self._inboxes = Inboxes(link)
        self._presence: Presence = Presence(link, node, lease=3 * heartbeat)
        self.on_sanctions: Callable[[], None] = lambda: None  # moderation changed on some node
        self._redis_directory = RedisDirectory(
            link, self._presence, self.broker, lambda name: self._follow(name, create=True)
        )
        super().__init__(
            keep=keep,
            max_rooms=max_rooms,
            broker=self.broker,
            node=node,
            presence=self._presence,
            peers=self._inboxes,
            delivery=self._relay_for,
            directory=self._redis_directory,
        )
        self._secrets = RedisSecret(link)
        #: What the server keeps through this node: all of it in Redis, shared by every node.
        self.backends = Backends(self.broker, RedisModeration(link, self.node), self._secrets)
        self._sweeper = RoomSweeper(link)
        self._heartbeat = heartbeat
        self.cluster_id = link.kept(keys.CLUSTER, secrets.token_hex(4))
        self._generation = link.kept(keys.GENERATION, secrets.token_hex(8))
        self._presence.heartbeat()
        #: What other nodes asked of a session between its name's claim in Redis and its
        #: greeting here (a ``/msg``, a kick): done right after the greeting, never dropped.
        self._parked: dict[Subscriber, list[dict[str, str]]] = {}
        self._stop = threading.Event()
        #: Sessions that ended while Redis was away: (nick, sid, rooms) to release when it is back.
        self._departed: list[tuple[str, str, list[str]]] = []
        self._up_since = time.monotonic()
        self._unfollowed: list[str] = []  # rooms let go of, to tell Redis after the lock (``_let_go``)
        link.on_down, link.on_up = self._link_down, self._link_up
        self._relay.start(("heartbeat", self._beat))

    def _relay_for(self, local: Delivery) -> Relay:
        """The node's delivery: through Redis, then to its members through ``local``."""
        self._relay = Relay(
            self._link,
            self.node,
            self.broker,
            local,
            self._lock,
            self._rooms,
            self._names.registry.holder,
            lambda name, create: self._follow(name, create=create),
            obey=self._obey,
            tell_down=self._tell_down,
            on_sanctions=lambda: self.on_sanctions(),
        )
        return self._relay

    # -- people --
    # Every Redis call here is made outside the hub's lock: the lock orders
    # delivery on this node, and one slow Redis call must not stop it.
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
        """As ``LocalHub.enter``: the name is claimed in Redis first, then here in the
        same turn of the lock as the greeting (nobody here reaches ``sub`` before it)."""
        why = ""
        with self._lock:
            sid = self._names.sid(sub)
            self._parked.setdefault(sub, [])
        try:
            was = self._names.claim(sub, nick, sid, takeover=resume or "")
        except NickTaken:
            with self._lock:
                self._parked.pop(sub, None)
            raise
        claim = _Claim(nick, taken_over=bool(was[0]))
        try:
            try:
                joined = self._join(room, sub, greet, after, recent, epoch, arrival, claim)
            except TooManyRooms as exc:
                why = str(exc)
                joined = self._join(LOBBY, sub, greet, None, recent, None, arrival, claim)
        except ClusterUnavailable:  # half in: undone here, and the name released when Redis is back
            if nick_key(sub.nick) != nick_key(nick):  # (not taken here yet: unregister cannot name it)
                with self._lock:
                    self._departed.append((nick, sid, []))
            self.unregister(sub)
            raise
        old_node, old_sid = was
        if claim.stale is not None:
            claim.stale.replaced = True
            claim.stale.kick("replaced by a new connection")
        elif old_node and old_node != self.node:  # its old node may not have noticed yet
            self._to_node(old_node, {"t": "replace", "sid": old_sid})
        return joined, claim.stale is not None or bool(old_node), why

    def unregister(self, sub: Subscriber) -> None:
        with self._lock:
            self._parked.pop(sub, None)
            rooms = self._rooms.rooms_of(sub)
            sid = self._unregister_locked(sub)
            if sid is None or self._names.closing:  # (a stopping node's names lapse with it: see closing)
                return
        try:
            self._forget(sub.nick, sid, rooms)
        except ClusterUnavailable:
            with self._lock:
                self._departed.append((sub.nick, sid, rooms))  # released when Redis is back

    def _forget(self, nick: str, sid: str, rooms: list[str]) -> None:
        for name in rooms:
            self._presence.left(name, nick, sid, None)
        self._presence.release(nick, sid)

    def _to_node(self, node: str, fields: dict[str, str]) -> None:
        self._inboxes.send(node, fields)

    # -- rooms --
    def _room(self, name: str, create: bool = False, maker: Subscriber | None = None) -> Room | None:
        """A room this node follows (lock held): never a Redis call (``_follow`` makes one followed)."""
        return self._rooms.get(name)

    def _follow(self, name: str, *, create: bool, maker: Subscriber | None = None) -> FollowedRoom | None:
        """The room, followed by this node from now on (made in Redis if ``create``; None if
        not and Redis does not know it), its Redis calls made outside the hub's lock.
        ``TooManyRooms`` if ``maker``'s address may not make it, or no room here can go."""
        with self._lock:
            room = self._rooms.get(name)
        if room is not None:
            return room  # type: ignore[return-value]
        known = None if create and maker is None else self.broker.room(name)
        if not create and known is None:
            return None
        address = ""
        if maker is not None and known is None:
            with self._lock:
                address = self._rooms.may_make(name, maker)
        stored, last = self.broker.ensure(name)  # (this node follows it in Redis from here)
        made = False
        try:
            with self._lock:
                room = self._rooms.get(name)
                if room is None:
                    dropped = self._rooms.make_space()
                    if dropped is not None:
                        self._forget_room(dropped)
                    room = self._rooms.add(FollowedRoom(stored, last), address)
                    self._relay.follow_stream(room, last)
                    made = True
        except TooManyRooms:
            self._unfollowed.append(name)  # (ensure() followed it in Redis: undone below)
            raise
        finally:
            self._let_go()
        if made:
            self._to_node(self.node, {"t": "wake"})  # the reader's blocking read must take this room in
        return room  # type: ignore[return-value]

    def _forget_room(self, room: Room) -> None:
        """No longer follow its stream (it lives on in Redis for the other nodes); Redis is
        told by ``_let_go``, after the lock (lock held)."""
        self._relay.unfollow_stream(room)
        self._unfollowed.append(room.name)

    def _let_go(self) -> None:
        """Tell Redis this node no longer follows the rooms it let go of (lock not held)."""
        while True:
            with self._lock:
                if not self._unfollowed:
                    return
                name = self._unfollowed.pop()
                if self._rooms.get(name) is not None:
                    continue  # followed again meanwhile
            try:
                self.broker.forget(name)
            except ClusterUnavailable:
                pass  # (the sweep drops a dead position; a live node's stays until it follows again)

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
        return self._join(room, sub, greet, after, recent, epoch, arrival, None)

    def _join(
        self,
        room: str,
        sub: Subscriber,
        greet: Greet | None,
        after: int | None,
        recent: int,
        epoch: str | None,
        arrival: Arrival | None,
        claim: _Claim | None,
    ) -> str:
        """Join ``room`` (``claim``: and take the name here, in the same turn of the lock).
        The history is read from Redis outside the lock, up to what this node has read of
        the room; what the reader delivers meanwhile is taken from the room's recent
        entries, under the lock, so the greeting still comes before anything live."""
        for _ in range(JOIN_TRIES):
            r = self._follow(room, create=True, maker=sub)
            assert r is not None
            with self._lock:
                seen = (r.read, r.seq, r.epoch, bool(r.members))
                sid, rooms = self._names.sid(sub), [*self._rooms.rooms_of(sub), r.name]
            read, seq, numbering, busy = seen
            if after is not None and epoch == numbering and after > seq and not busy:
                # Seen further than Redis numbers it: Redis came back from older data.
                self.broker.behind({r.name: after})
                renumbered = self.broker.ensure(r.name)[0].epoch
                with self._lock:
                    r.epoch = renumbered
                continue
            nick = claim.nick if claim is not None else sub.nick
            self._presence.joined(r.name, nick, sid, list(dict.fromkeys(rooms)))  # (the greeting lists it)
            try:
                found = self._history(r, greet, after, recent, epoch, read, seq, numbering)  # (Redis: no lock)
                seen = self._redis_directory.look(r.name) if greet is not None else None
            except ClusterUnavailable:
                with contextlib.suppress(ClusterUnavailable):
                    self._presence.left(r.name, nick, sid, None)
                raise
            with self._redis_directory.greeting(seen), self._lock:  # (greet() asks it under the lock)
                if self._rooms.get(r.name) is not r or r.epoch != numbering:
                    continue  # let go of meanwhile, or renumbered: again
                greeting = self._greeting(r, found, after, recent, epoch, seq) if greet is not None else None
                if greet is not None and greeting is None:
                    continue  # the reader delivered more than the room's recent entries hold: again
                self._enter_locked(r, sub, claim, greeting, greet, arrival)
            return r.name
        with contextlib.suppress(ClusterUnavailable):
            self._presence.left(room, claim.nick if claim is not None else sub.nick, sid, None)
        raise ClusterUnavailable(f"{room} moves too fast to join now: try again")

    def _history(
        self,
        r: FollowedRoom,
        greet: Greet | None,
        after: int | None,
        recent: int,
        epoch: str | None,
        read: str,
        seq: int,
        numbering: str,
    ) -> list[m.ChatMessage]:
        """What a joiner is shown from Redis, up to the stream id ``read`` (lock not held)."""
        if greet is None:
            return []
        if after is not None and epoch == numbering and 0 <= after <= seq:
            return self.broker.between(r.name, after, read, self._keep) if after < seq else []
        return self.broker.recent(r.name, recent, upto=read)

    def _greeting(
        self,
        r: FollowedRoom,
        found: list[m.ChatMessage],
        after: int | None,
        recent: int,
        epoch: str | None,
        seq: int,
    ) -> Greeting | None:
        """The greeting: ``found`` (read up to seq ``seq``) and what came since, from the
        room's recent entries; None if those do not reach back that far (lock held)."""
        since = r.delivered_after(seq)
        if since is None:
            return None
        if after is not None and epoch == r.epoch and 0 <= after <= r.seq:
            missed = [x for x in found + since if x.seq > after][-self._keep :]
            first = missed[0].seq if missed else r.seq + 1
            return Greeting(r.name, r.epoch, r.seq, missed, max(0, first - after - 1), "missed")
        kind = "history" if after is None else "renumbered"
        return Greeting(r.name, r.epoch, r.seq, (found + since)[-recent:] if recent > 0 else [], 0, kind)

    def _enter_locked(
        self,
        r: FollowedRoom,
        sub: Subscriber,
        claim: _Claim | None,
        greeting: Greeting | None,
        greet: Greet | None,
        arrival: Arrival | None,
    ) -> None:
        """Take the name here (``claim``), become a member, be greeted, be announced (lock held)."""
        if claim is not None:
            stale = self._names.registry.holder(claim.nick)
            claim.stale = stale if stale is not sub else None
            self._names.registry.claim(sub, claim.nick, claim.stale)
            if claim.stale is not None or claim.taken_over:
                arrival = None  # (a session taken over: nobody left)
        r.members[sub] = r.posted
        if greet is not None and greeting is not None:
            self._greet(greet, greeting)
        for fields in self._parked.pop(sub, ()) if claim is not None else ():
            self._obey(fields)  # (asked while it was being greeted: now it can take it)
        if arrival is not None:
            self.announce(r.name, functools.partial(arrival, r.name), exclude=sub)

    def _obey(self, fields: dict[str, str]) -> None:
        """What another node asks of a session here (lock held)."""
        sub = self._names.here(fields.get("sid", ""))
        if sub is None:
            return
        parked = self._parked.get(sub)
        if parked is not None:  # claimed, not greeted yet: a frame now would come before its welcome
            parked.append(fields)
            return
        kind = fields.get("t")
        if kind == "tell":
            self._relay.local.send_to(sub, Frame(m.decode(fields["f"].encode())))
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
        by_room: dict[str, list[str]] = {}
        for g in gone:
            for room in g.rooms:
                by_room.setdefault(room_key(room), [room]).append(g.nick)
        now = time.time()
        with self._lock:  # each room hears one line, however many of its people that node held
            for room, *nicks in by_room.values():
                self._relay.append(room, "n", gone_notice(room, nicks, now), None)

    def _say_left(self, nick: str, rooms: list[str], text: str) -> None:  # (one session's rooms)
        now = time.time()
        with self._lock:
            for room in rooms:
                self._relay.append(room, "n", m.Notice(text=text, ts=now, event="leave", nick=nick, room=room), None)

    # -- Redis lost and found --
    def _everyone_here(self) -> list[Subscriber]:
        with self._lock:
            return list(self._names.sids)

    def _link_down(self) -> None:
        with self._lock:
            self._relay.down_told()  # (unless a session found the link down first and told them)

    def _tell_down(self) -> None:
        for sub in self._names.sids:
            # Now, not behind what is in flight (that waits for Redis): past the held frames.
            self._relay.local.send_to(sub, Frame(m.Notice(text=LINK_DOWN, ts=time.time(), event="link_down")))

    def _link_up(self) -> None:
        try:
            self._up_since = time.monotonic()
            if self._presence.heartbeat() != self._generation:
                self._renew_cluster()
                return
            with self._lock:
                delivered = {r.name: r.seq for r in self._rooms}
            late = self.broker.behind(delivered)
            if late:  # came back from older data: numbers already given would be given again
                log.warning("the cluster's Redis came back behind in %s", ", ".join(late[:5]))
                self._renew_cluster()
                return
            self._restore()
            self._relay.settle()
            while self._departed:  # ended while Redis was away: nobody elsewhere heard they left
                nick, sid, rooms = self._departed[0]
                self._forget(nick, sid, rooms)
                self._departed.pop(0)
                self._say_left(nick, rooms, f"{nick} left")
        except ClusterUnavailable:
            return  # lost again: the link tries anew
        with self._lock:  # after the answers to what was in flight: a client sends its refused lines again on it
            for sub in self._names.sids:
                self.send_to(sub, Frame(m.Notice(text=LINK_UP, ts=time.time(), event="link_up")))

    def _restore(self) -> None:
        """After an outage: this node's sessions hold their names and rooms again
        (another node may have cleared them away as dead meanwhile)."""
        for sub in self._everyone_here():
            with self._lock:
                sid = self._names.sids.get(sub)
                rooms = self._rooms.rooms_of(sub)
            if sid is None:
                continue
            if self._presence.claim(sub.nick, sid, sub.token, replacing=sid, p=person(sub)) is None:
                why = "replaced: the name was taken while the cluster was away"
                threading.Thread(target=self._end, args=(sub, "kick", why), daemon=True).start()
                continue
            for name in rooms:
                self._presence.joined(name, sub.nick, sid, rooms)

    def _renew_cluster(self) -> None:
        """Redis lost its data (flushed, or back without it): like a replaced store,
        every session here reconnects, and resumes into the rooms' new numbering."""
        log.warning("the cluster's Redis lost its data: every session here must reconnect")
        self._link.kept(keys.CLUSTER, self.cluster_id)  # (the same id: the cluster goes on)
        self._generation = self._link.kept(keys.GENERATION, secrets.token_hex(8))
        self._secrets.restore()
        self._departed.clear()  # (their names went with the data)
        self._relay.forget_all()
        with self._lock:
            subs = list(self._names.sids)
            self._rooms.clear()
        for sub in subs:  # ("shutdown": the client reconnects, as after a server's restart)
            sub.notice("the cluster lost its data: reconnecting you to the new one", event="shutdown")
            sub.kick("the cluster lost its data")

    def close(self) -> None:
        self.flush(timeout=1.0)
        self._stop.set()
        self._relay.stop()
        try:
            self._to_node(self.node, {"t": "wake"})  # the reader's blocking read ends now, not in a second
        except ClusterUnavailable:
            pass
        self._relay.join_threads()
        try:
            if self._link.up:
                self._presence.retire()
        except ClusterUnavailable:
            pass
        self._link.close()
