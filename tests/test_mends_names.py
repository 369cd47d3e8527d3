"""core/names.py: what is done to a person's devices reaches this node's own before presence
(a cluster's Redis) is asked, so a Redis blip leaves this node's devices done."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from chatserver.backends.records import Unavailable
from chatserver.core.names import Names


class _RedisDown:
    """A presence whose Redis is away: asking who holds a name fails."""

    def __init__(self) -> None:
        self.asked = 0

    def holder(self, nick: str):
        self.asked += 1
        raise Unavailable("redis: connection refused")


class _Peers:
    def __init__(self) -> None:
        self.moves: list[tuple] = []

    def move(self, node, sid, room, join, by, reason) -> None:
        self.moves.append((node, sid, room, join))


class _Device(SimpleNamespace):
    def __init__(self, nick: str, account: str) -> None:
        super().__init__(nick=nick, account=account, away="", op=False, is_host=False, room="", address="")
        self.token = ""
        self.asked_for: list[tuple] = []

    def asked(self, room, join, by, reason) -> None:
        self.asked_for.append((room, join, by))

    def __hash__(self) -> int:
        return id(self)


def _names(presence, peers) -> Names:
    return Names(threading.RLock(), "n1", presence, peers, lambda sub, frame: None)


def test_a_remove_reaches_this_nodes_devices_before_redis_is_asked():
    presence, peers = _RedisDown(), _Peers()
    names = _names(presence, peers)
    phone, laptop = _Device("alice", "alice"), _Device("alice", "alice")
    for d in (phone, laptop):
        names.registry.claim(d, "alice")
        names.sid(d)
    with pytest.raises(Unavailable):  # (the other nodes' devices could not be reached: said so)
        names.move("alice", "#dev", False, by="op", skip=laptop)
    assert phone.asked_for == [("#dev", False, "op")], "this node's device left, Redis or not"
    assert laptop.asked_for == [], "never the device that asked"
    assert presence.asked == 1 and peers.moves == []


def test_one_server_does_not_ask_presence_when_its_own_devices_hold_the_name():
    presence = _RedisDown()
    names = _names(presence, None)
    phone = _Device("alice", "alice")
    names.registry.claim(phone, "alice")
    who = names.move("alice", "#dev", True)
    assert who is not None and who.nick == "alice"
    assert phone.asked_for == [("#dev", True, "")]
    assert presence.asked == 0
