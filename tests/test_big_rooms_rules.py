"""Big rooms without a socket: the rule that a crowded room hears no joins, leaves or renames
(``rules/crowd.py``), on its own and through participants on the real ``LocalHub``."""

from __future__ import annotations

import threading

import pytest
from test_rules import Chat

from chatserver.core.hub import LOBBY
from chatserver.rules import crowd
from chatserver.rules.crowd import Crowds, Verdict, back_at
from common import messages as m

# -- the rule alone ----------------------------------------------------------------


def test_a_room_is_announced_to_up_to_the_limit_and_crowded_above_it():
    crowds = Crowds(limit=200)
    assert [crowds.judge("#lobby", n) for n in (1, 100, 200)] == [Verdict(True)] * 3
    assert crowds.judge("#lobby", 201) == Verdict(False, "over")
    assert crowds.judge("#LOBBY", 5000) == Verdict(False)  # (one room, however it is spelled)
    assert crowds.crowded("#lobby") and not crowds.crowded("#other")
    assert crowds.judge("#other", 3) == Verdict(True)  # each room is judged by its own size


def test_the_way_back_is_lower_than_the_way_in_so_a_room_at_the_edge_does_not_flap():
    crowds = Crowds(limit=200)
    assert back_at(200) == 180
    crowds.judge("#lobby", 201)
    for size in (200, 201, 199, 201, 181):  # hovering at the limit: crowded all along, nothing said
        assert crowds.judge("#lobby", size) == Verdict(False), size
    assert crowds.judge("#lobby", 180) == Verdict(True, "back")
    assert crowds.judge("#lobby", 200) == Verdict(True)  # announced again, up to the limit
    assert crowds.judge("#lobby", 201) == Verdict(False, "over")


def test_the_crossing_lines_name_the_room_and_the_sizes():
    crowds = Crowds(limit=200)
    assert crowds.line("#big", Verdict(False, "over")) == (
        "#big has over 200 people: joins and leaves are no longer announced"
    )
    assert crowds.line("#big", Verdict(True, "back")) == (
        "#big has 180 people or fewer again: joins and leaves are announced again"
    )
    assert crowds.line("#big", Verdict(True)) == ""


def test_a_room_that_cannot_be_counted_now_is_taken_as_it_was():
    crowds = Crowds(limit=3)
    assert crowds.judge("#lobby", None) == Verdict(True)
    crowds.judge("#lobby", 4)
    assert crowds.judge("#lobby", None) == Verdict(False) and crowds.crowded("#lobby")


def test_a_small_limit_still_has_a_way_back_and_zero_is_refused():
    assert back_at(1) == 0 and back_at(3) == 2 and back_at(10) == 9 and back_at(1000) == 900
    with pytest.raises(ValueError):
        Crowds(limit=0)


def test_of_two_people_crossing_together_exactly_one_is_told():
    crowds = Crowds(limit=10)
    verdicts: list[Verdict] = []
    start = threading.Barrier(8)

    def join(size: int) -> None:
        start.wait()
        verdicts.append(crowds.judge("#lobby", size))

    threads = [threading.Thread(target=join, args=(11 + i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(v.crossed for v in verdicts) == [""] * 7 + ["over"]
    assert not any(v.announced for v in verdicts)


def test_each_hub_has_its_own_crowds():
    one, two = object.__new__(type("Hub", (), {})), object.__new__(type("Hub", (), {}))
    assert crowd.of(one, 5) is crowd.of(one, 5)
    assert crowd.of(one, 5) is not crowd.of(two, 5)


# -- through participants on the real hub ---------------------------------------


@pytest.fixture
def big():
    """A chat whose rooms are crowded above 3 people (back at 2)."""
    chat_ = Chat(announce_limit=3)
    yield chat_
    chat_.hub.close()


def test_the_hub_counts_a_room_in_one_step(big):
    assert big.hub.size(LOBBY) == 0 and big.hub.size("#nowhere") == 0
    big.person("a")
    big.person("b")
    assert big.hub.size(LOBBY) == big.hub.size("#LOBBY") == 2


def test_a_crowded_room_hears_no_joins_but_is_told_once_it_crossed(big):
    big.person("a"), big.person("b"), big.person("c")
    assert big.got("a").notices("join") == ["b joined #lobby", "c joined #lobby"]
    big.got("a").got.clear()
    d = big.person("d")  # the fourth: over the limit
    big.person("e")
    a = big.got("a")
    assert a.notices("join") == []
    assert a.notices("crowd") == ["#lobby has over 3 people: joins and leaves are no longer announced"]
    assert [n.room for n in a.of(m.Notice)] == [LOBBY]
    # the joiner is greeted as ever: the first names and the count of the rest
    welcome = d.welcome()
    assert welcome.users[:4] == ["a", "b", "c", "d"] and len(welcome.users) + welcome.more == 5


def test_a_crowded_room_hears_no_renames_but_the_renamer_is_told(big):
    people = [big.person(n) for n in ("a", "b", "c", "d")]
    big.got("a").got.clear()
    big.got("d").got.clear()
    big.act(people[3], m.SetNick("dee"))
    assert big.got("a").notices("nick") == []
    told = big.got("d").of(m.Notice)  # (its outlet, under its first name)
    assert [(n.event, n.nick, n.previous, n.room) for n in told] == [("nick", "dee", "d", LOBBY)]
    assert big.hub.find("dee") is not None


def test_leaving_a_crowded_room_is_not_announced_until_it_is_back_under(big):
    a, b, c, d = (big.person(n) for n in "abcd")
    big.got("a").got.clear()
    big.act(d, m.Join("#side"))
    big.act(d, m.Part(LOBBY))  # 3 left: still crowded (back at 2)
    assert big.got("a").notices("leave") == []
    big.act(c, m.Join("#side"))
    big.act(c, m.Part(LOBBY))  # 2 left: announced again, and the room told so
    a_got = big.got("a")
    assert a_got.notices("leave") == ["c left #lobby"]
    assert a_got.notices("crowd") == ["#lobby has 2 people or fewer again: joins and leaves are announced again"]
    assert big.got("d").notices("join") == ["c joined #side"]  # (a small room hears each join)


def test_a_kick_from_a_crowded_room_is_still_announced(big):
    people = [big.person(n) for n in ("a", "b", "c", "d", "e")]
    big.got("a").got.clear()
    people[3].kick("kicked by a")  # (what the hub does to the one kicked: its session then ends)
    people[3].unregister("kicked by a")
    assert big.got("a").notices("leave") == ["d left (kicked by a)"]
    people[2].unregister("connection lost")  # a plain departure from the crowded room (3 left): unsaid
    assert big.got("a").notices("leave") == ["d left (kicked by a)"]
