"""Several devices of one account on several nodes, as presence keeps them: held against memory
presence and Redis presence (a real redis-server), on the test's clock (``test_backend_contract``'s
``nodes``). A dead node takes only its own devices away: from the name, and from each room."""

from __future__ import annotations

import threading

from test_backend_contract import LEASE, nodes  # noqa: F401  (the fixture)

from chatserver.backends.records import Gone, Person
from common.rooms import room_key

NORA = Person("nora", account="nora")


def _three_nodes(nodes):  # noqa: F811
    clock, at = nodes
    a, b, c = at("A"), at("B"), at("C")
    for n in (a, b, c):
        n.heartbeat()
    return clock, a, b, c


def _a_dies(clock, b, c) -> None:
    clock.now += LEASE + 1
    b.heartbeat()
    c.heartbeat()


def test_a_dead_nodes_device_leaves_the_rooms_only_it_was_in(nodes):  # noqa: F811
    clock, a, b, c = _three_nodes(nodes)
    assert b.claim("nora", "B/1", "tb", p=NORA) == ("", "")
    assert a.claim("nora", "A/1", "ta", p=NORA) == ("", ""), "a device of the same account"
    b.joined("#both", "nora", "B/1", ["#both"])
    a.joined("#both", "nora", "A/1", ["#both"])
    a.joined("#dead-only", "nora", "A/1", ["#both", "#dead-only"])
    c.claim("omar", "C/1", "tc")
    c.joined("#dead-only", "omar", "C/1", ["#dead-only"])

    _a_dies(clock, b, c)
    gone = c.reap("A")
    assert gone == [Gone("nora", ["#dead-only"], stays=True)], "told once, in the room only the dead device was in"
    assert [p.nick for p in c.members("#dead-only")] == ["omar"]
    assert [p.nick for p in c.members("#both")] == ["nora"], "the live device is still in #both"
    assert c.counts([room_key("#both"), room_key("#dead-only")]) == [1, 1]
    held = c.holder("nora")
    assert (held.node, held.sid, held.devices) == ("B", "B/1", ()), "the dead device no longer holds the name"
    assert [p.nick for p in c.everyone()].count("nora") == 1


def test_a_dead_node_holding_the_name_passes_it_on_and_its_rooms_are_left(nodes):  # noqa: F811
    clock, a, b, c = _three_nodes(nodes)
    a.claim("nora", "A/1", "ta", p=NORA)
    b.claim("nora", "B/1", "tb", p=NORA)  # (a device: the session named for it is on A)
    a.joined("#a", "nora", "A/1", ["#a"])
    a.joined("#both", "nora", "A/1", ["#a", "#both"])
    b.joined("#both", "nora", "B/1", ["#both"])
    b.joined("#b", "nora", "B/1", ["#both", "#b"])

    _a_dies(clock, b, c)
    assert c.reap("A") == [Gone("nora", ["#a"], stays=True)]
    assert c.holder("nora").sid == "B/1"
    assert c.counts([room_key("#a"), room_key("#both"), room_key("#b")]) == [0, 1, 1]
    # the heir's rooms are its own: B dying too takes the person out of #both and #b, told once each
    clock.now += LEASE + 1
    c.heartbeat()
    assert c.reap("B") == [Gone("nora", ["#both", "#b"])]
    assert c.holder("nora") is None and c.counts([room_key("#both"), room_key("#b")]) == [0, 0]


def test_every_device_on_the_dead_node_the_person_leaves_each_room_once(nodes):  # noqa: F811
    clock, a, b, c = _three_nodes(nodes)
    a.claim("nora", "A/1", "t1", p=NORA)
    a.claim("nora", "A/2", "t2", p=NORA)
    a.joined("#one", "nora", "A/1", ["#one"])
    a.joined("#one", "nora", "A/2", ["#one"])
    a.joined("#two", "nora", "A/2", ["#one", "#two"])

    _a_dies(clock, b, c)
    assert c.reap("A") == [Gone("nora", ["#one", "#two"])], "the person left: each room told once"
    assert c.holder("nora") is None
    assert c.counts([room_key("#one"), room_key("#two")]) == [0, 0]


def test_of_two_devices_leaving_a_room_at_once_exactly_one_is_the_last_out(nodes):  # noqa: F811
    """The name leaves the room with its last session there: whichever of several, on any nodes,
    leaves last is told so by the leave itself (one step), so the room hears it once."""
    _, a, b, _ = _three_nodes(nodes)
    a.claim("nora", "A/1", "ta", p=NORA)
    b.claim("nora", "B/1", "tb", p=NORA)
    for node, sid in ((a, "A/1"), (b, "B/1")):
        node.joined("#dev", "nora", sid, ["#dev"])
    assert a.left("#dev", "nora", "A/1", None) is False, "the laptop is still in #dev"
    assert b.left("#dev", "nora", "B/1", None) is True, "the last out"
    assert b.left("#dev", "nora", "B/1", None) is False, "said twice: out already, not the last out again"

    for _ in range(20):  # at once, on two threads (two nodes)
        for node, sid in ((a, "A/1"), (b, "B/1")):
            node.joined("#race", "nora", sid, ["#race"])
        outs: list[bool] = []
        start = threading.Barrier(2)
        pairs = ((a, "A/1"), (b, "B/1"))
        threads = [threading.Thread(target=_leave, args=(start, outs, *pair)) for pair in pairs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outs) == [False, True]


def _leave(start: threading.Barrier, outs: list[bool], node, sid: str) -> None:  # noqa: ANN001
    start.wait()
    outs.append(node.left("#race", "nora", sid, None))


def test_a_join_says_whether_another_device_of_the_person_was_in_the_room(nodes):  # noqa: F811
    _, a, b, _ = _three_nodes(nodes)
    a.claim("nora", "A/1", "ta", p=NORA)
    b.claim("nora", "B/1", "tb", p=NORA)
    assert a.joined("#dev", "nora", "A/1", ["#dev"]) is False, "the person comes into #dev"
    assert b.joined("#dev", "nora", "B/1", ["#dev"]) is True, "the person was there already"
    assert b.joined("#dev", "nora", "B/1", ["#dev"]) is True, "said again (after an outage)"
    a.left("#dev", "nora", "A/1", None)
    assert a.joined("#dev", "nora", "A/1", ["#dev"]) is True


def test_the_name_an_accounts_person_goes_by_is_known_on_every_node(nodes):  # noqa: F811
    clock, a, b, c = _three_nodes(nodes)
    assert c.named("nora") is None
    a.claim("lena", "A/1", "ta", p=Person("lena", account="lena"))
    assert c.named("LENA") == "lena"
    a.claim("lenka", "A/1", "ta", replacing="A/1", p=Person("lenka", account="lena"))  # (a /nick)
    a.release("lena", "A/1")
    assert c.named("lena") == "lenka", "renamed: the new name, asked on any node"
    b.claim("lenka", "B/1", "tb", p=Person("lenka", account="lena"))  # (a device)
    a.release("lenka", "A/1")
    assert c.named("lena") == "lenka", "held by its device now"
    b.claim("guest", "B/2", "tg")
    b.update("guest", "B/2", account="nora")  # (logged in after its hello)
    assert c.named("nora") == "guest"
    _a_dies(clock, b, c)
    clock.now += LEASE + 1
    c.heartbeat()
    assert c.named("lena") is None, "its node is dead"
