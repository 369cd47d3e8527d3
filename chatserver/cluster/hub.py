"""The cluster's node: a ``LocalHub`` given Redis collaborators, and a node's life in the cluster.

Sessions see the same ``Hub`` as on a single server: ``ClusterHub`` is the
local hub given Redis presence (``presence.py``), the Redis broker
(``redislog.py``), the Redis room directory (``directory.py``), the other
nodes' inboxes (``peers.py``), as its delivery the relay through Redis
streams (``relay.py``), and the relay again as what reads the rooms it
follows. Joining, entering, following a room and leaving are the local
hub's own. What it writes itself is the node's life (only ``__init__`` and
``close`` are the local hub's methods written again): what other nodes ask
of its sessions (``_obey``), a heartbeat thread that renews the lease,
clears away dead nodes and notices a Redis that lost its data;
``_link_down`` and ``_link_up`` tell the users when Redis goes and comes
back.
"""

from __future__ import annotations

import logging
import queue
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
from chatserver.cluster.relay import Relay
from chatserver.cluster.sweep import RoomSweeper
from chatserver.core.delivery import Delivery
from chatserver.core.fanout import Frame, Participant
from chatserver.core.hub import LocalHub
from chatserver.core.registry import NickTaken, person
from chatserver.core.rooms import Reading
from common import messages as m
from common.rooms import room_key

log = logging.getLogger(__name__)

LINK_DOWN = "the server lost its cluster (Redis): messages are not sent until it is back"
LINK_UP = "the cluster is back: chat goes on"
GONE_NAMED = 10  # names a room is told of the people a dead node held in it, at most


def gone_notices(room: str, nicks: list[str], now: float, crowded: bool) -> list[m.Notice]:
    """What ``room`` hears of the people a dead node held in it: each by name, as any leave (an
    IRC client sees its QUIT, a terminal drops it from the room); a crowded room, which hears no
    leaves one by one, one line for them all, at most ``GONE_NAMED`` named, and how many more."""
    if not crowded or len(nicks) == 1:
        text = "{} left (their server is gone)"
        return [m.Notice(text=text.format(n), ts=now, event="leave", nick=n, room=room) for n in nicks]
    named = ", ".join(nicks[:GONE_NAMED])
    more = f" and {len(nicks) - GONE_NAMED} more" if len(nicks) > GONE_NAMED else ""
    text = f"{len(nicks)} people left (their server is gone): {named}{more}"
    return [m.Notice(text=text, ts=now, event="leave", room=room)]


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
            link, self._presence, self.broker, lambda name: self._following.follow(name, create=True)
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
            reading=Reading(
                lambda room: self._relay.follow_stream(room),
                lambda room: self._relay.unfollow_stream(room),
                lambda: self._to_node(self.node, {"t": "wake"}),  # (the reader's blocking read takes it in)
            ),
            obey=self._obey,
        )
        self._secrets = RedisSecret(link)
        #: What the server keeps through this node: all of it in Redis, shared by every node.
        self.backends = Backends(self.broker, RedisModeration(link, self.node), self._secrets)
        self._sweeper = RoomSweeper(link)
        self._heartbeat = heartbeat
        self.cluster_id = link.kept(keys.CLUSTER, secrets.token_hex(4))
        self._generation = link.kept(keys.GENERATION, secrets.token_hex(8))
        self._presence.heartbeat()
        self._stop = threading.Event()
        #: What other nodes asked of sessions here (a room to join or leave, a person's rooms, a
        #: rename), done one after another in the order asked, on a thread of its own: off the
        #: reader's thread, which holds the lock, and never reordered.
        self._errands: queue.SimpleQueue[tuple[Callable[..., None], tuple] | None] = queue.SimpleQueue()
        self._errand_thread = threading.Thread(target=self._run_errands, daemon=True, name=f"errands-{node}")
        self._errand_thread.start()
        self._up_since = time.monotonic()
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
            lambda name, create: self._following.follow(name, create=create),
            obey=self._obey,
            tell_down=self._tell_down,
            on_sanctions=lambda: self.on_sanctions(),
        )
        return self._relay

    def _to_node(self, node: str, fields: dict[str, str]) -> None:
        self._inboxes.send(node, fields)

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
        elif kind == "move":  # (a room joined or left by another device of its person: in its turn, not here)
            asked = (fields.get("room", ""), fields.get("join") == "1", fields.get("by", ""), fields.get("why", ""))
            self._errands.put((sub.asked, asked))
        elif kind == "rooms":  # (a device of its person arrived on another node: into these rooms too)
            self._errands.put((self._rooms_to, (sub, fields.get("node", ""), fields.get("to", ""))))
        elif kind == "rename":  # (its name here now, before the room's notice of it is delivered)
            try:
                old = self._names.registry.claim(sub, fields["nick"])
            except NickTaken:
                log.warning(
                    "%s could not follow its person's rename to %s: the name is taken here", sub.nick, fields["nick"]
                )
            else:
                self._errands.put((self._renamed, (sub, old, sub.nick)))

    def _run_errands(self) -> None:
        """Do what other nodes asked, in the order asked (``_errands``), until ``close``."""
        while (errand := self._errands.get()) is not None:
            do, args = errand
            try:
                do(*args)
            except Exception:  # one failed errand must not stop the others
                log.exception("doing what another node asked")

    def _rooms_to(self, sub: Participant, node: str, sid: str) -> None:
        """Session ``sid`` of ``node`` joins each room ``sub`` is in now (read in the order of the
        errands: after every move asked before it), one inbox entry each, outside the lock."""
        with self._lock:
            rooms = self._rooms.rooms_of(sub)
        try:
            for room in rooms:
                self._inboxes.move(node, sid, room, True, "", "")
        except ClusterUnavailable:  # (Redis lost meanwhile: the device is in the rooms it was told of)
            log.warning("could not tell %s the rooms of its person: Redis is unavailable", sid)

    def _renamed(self, sub: Participant, old: str, new: str) -> None:
        """Another node renamed ``sub``'s person ``new``: presence and its rooms' lists follow (lock not held)."""
        with self._lock:
            sid, rooms = self._names.sids.get(sub), self._rooms.rooms_of(sub)
        try:
            if sid is not None:
                self._names.claim(sub, new, sid, replacing=sid)  # (a device of the person under its new name)
                with self._lock:
                    gone = self._names.sids.get(sub) != sid
                if gone:  # (it ended meanwhile: its going released the old name, not this claim)
                    self._presence.release(new, sid)
                    return
                self._presence.release(old, sid)
                for name in rooms:
                    self._directory.left(name, old, sid, None)
                    self._directory.joined(name, new, sid, rooms)
        except (NickTaken, ClusterUnavailable):
            log.warning("a device of %s could not follow its rename to %s", old, new)

    @staticmethod
    def _end(sub: Participant, kind: str, why: str) -> None:
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
        crowded = {key: self._redis_directory.census(names[0])[1] for key, names in by_room.items()}  # (no lock)
        stays = {g.nick for g in gone if g.stays}  # (a device on a live node: they left these rooms, not the chat)
        now = time.time()
        with self._lock:
            for key, (room, *nicks) in by_room.items():
                # A crowded room hears no leaves one by one (``rules/crowd.py``): one line for them all.
                left = [n for n in nicks if n not in stays]
                for notice in gone_notices(room, left, now, crowded[key]) if left else []:
                    self._relay.append(room, "n", notice, None)
                for nick in [] if crowded[key] else [n for n in nicks if n in stays]:
                    text, why = f"{nick} left {room}: their server is gone", "their server is gone"
                    notice = m.Notice(text=text, ts=now, event="leave", nick=nick, room=room, reason=why)
                    self._relay.append(room, "n", notice, None)

    def _say_left(self, nick: str, rooms: list[str], text: str) -> None:  # (one session's rooms)
        now = time.time()
        with self._lock:
            for room in rooms:
                self._relay.append(room, "n", m.Notice(text=text, ts=now, event="leave", nick=nick, room=room), None)

    # -- Redis lost and found --
    def _everyone_here(self) -> list[Participant]:
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
        self._errands.put(None)
        self._errand_thread.join(timeout=5.0)
        try:
            if self._link.up:
                self._presence.retire()
        except ClusterUnavailable:
            pass
        self._link.close()
