"""Big rooms through real sockets: above ``--announce-limit`` people a room hears no joins,
leaves or renames (``rules/crowd.py``), is told once each way when it crosses, and a small
room on the same server hears them as ever; the joiner is still greeted with the first names."""

from __future__ import annotations

import pytest
from helpers import NativeClient


@pytest.fixture
def server(make_server):
    """A server whose rooms are crowded above 3 people (announced again at 2 or fewer)."""
    return make_server("--rate-limit", "0", "--announce-limit", "3")


def until_marker(client: NativeClient, marker: str) -> list[dict]:
    """Every frame ``client`` gets up to the message saying ``marker`` (sent after what the test did,
    so whatever the room was told of it comes before: the server keeps one order per room)."""
    got = []
    while True:
        f = client.frame()
        if f["type"] == "message" and f["text"] == marker:
            return got
        got.append(f)


def notices(frames: list[dict], event: str) -> list[str]:
    return [f["text"] for f in frames if f["type"] == "notice" and f.get("event") == event]


def quit_(client: NativeClient) -> None:
    client.send_json({"type": "quit"})
    client.read_until_closed()
    client.close()


def test_a_crowded_room_hears_no_joins_or_leaves_and_is_told_once_each_way(server):
    a, b, c = (NativeClient(server.port, n) for n in ("a", "b", "c"))
    b.say("1")
    first = until_marker(a, "1")
    assert notices(first, "join") == ["b joined #lobby", "c joined #lobby"]  # a small room: each is told

    d = NativeClient(server.port, "d")  # the fourth: over the limit
    assert d.welcome["users"][:4] == ["a", "b", "c", "d"]  # the joiner still gets the first names...
    assert len(d.welcome["users"]) + d.welcome.get("more", 0) == 4  # ... and the count of the rest
    quit_(d)  # 3 left: still crowded (the way back is at 2)
    d = NativeClient(server.port, "d")  # 4 again: not told again
    b.say("2")
    crowded = until_marker(a, "2")
    assert notices(crowded, "join") == [] and notices(crowded, "leave") == []
    assert notices(crowded, "crowd") == ["#lobby has over 3 people: joins and leaves are no longer announced"]
    assert [f.get("room") for f in crowded if f.get("event") == "crowd"] == ["#lobby"]

    quit_(c)  # 3: unsaid
    quit_(d)  # 2: announced, and the room told it is back under
    b.say("3")
    back = until_marker(a, "3")
    assert notices(back, "leave") == ["d left"]
    assert notices(back, "crowd") == ["#lobby has 2 people or fewer again: joins and leaves are announced again"]


def test_a_small_room_beside_a_crowded_one_hears_joins_and_renames(server):
    people = [NativeClient(server.port, n) for n in ("a", "b", "c", "d")]  # #lobby crowded
    a, b = people[0], people[1]
    for p in (a, b):
        p.send_json({"type": "join", "room": "#small"})
        p.expect(lambda f: f["type"] == "joined")
    b.send_json({"type": "nick", "nick": "bee"})
    b.expect(lambda f: f["type"] == "token")
    b.say("done")  # (to #small, its focused room)
    got = until_marker(a, "done")
    assert notices(got, "join") == ["b joined #small"]
    # the rename reaches #small (small), not #lobby (crowded): one notice, #small's
    assert [(f["text"], f["room"]) for f in got if f.get("event") == "nick"] == [("b is now known as bee", "#small")]

    c = people[2]  # in #lobby only: no room of its hears its rename, so it alone is told
    c.send_json({"type": "nick", "nick": "sea"})
    told = c.expect(lambda f: f["type"] == "notice" and f.get("event") == "nick")
    assert (told["nick"], told["previous"], told.get("room")) == ("sea", "c", "#lobby")
    c.say("4")
    assert [f for f in until_marker(people[3], "4") if f.get("event") == "nick"] == []


def test_an_irc_client_in_a_crowded_room_gets_no_join_part_or_nick_lines_but_its_own_nick(server):
    from irc_helpers import RawIrc, words_of

    irc = RawIrc(server.irc_port, "ircer")  # (in #lobby, as every IRC client is on registering)
    b = NativeClient(server.port, "b")
    c, d = NativeClient(server.port, "c"), NativeClient(server.port, "d")  # 4: crowded from d on
    quit_(d)
    b.say("1")
    seen = irc.until(lambda w: w[1:2] == ["PRIVMSG"] and w[-1] == "1")
    commands = [words_of(line)[1] for line in seen]
    assert commands.count("JOIN") == 2  # b's and c's; d's JOIN and QUIT are not said
    assert "QUIT" not in commands and any("has over 3 people" in line for line in seen)
    c.send_json({"type": "nick", "nick": "sea"})
    c.expect(lambda f: f["type"] == "token")  # (renamed: had the room heard it, the NICK line came first)
    irc.line("NICK ircer2")  # its own rename, in a room that hears none: still its NICK line
    first = words_of(irc.until(lambda w: w[1:2] == ["NICK"])[-1])
    assert (first[0].split("!")[0].lstrip(":"), first[2]) == ("ircer", "ircer2")
