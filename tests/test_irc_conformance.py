"""What irctest found on the IRC port, each fixed as an IRC client expects, against a real server on loopback
with real sockets and the ``irc`` library (issue 21; docs/irc.md's irctest section)."""

from __future__ import annotations

import pytest
from helpers import NativeClient, ServerProcess, hello
from irc_helpers import RawIrc, words_of


@pytest.fixture(scope="module")
def srv():
    """As irctest's controller starts it: rooms' makers are their operators, the lobby is quiet."""
    server = ServerProcess("--rate-limit", "0", "--room-operators", "--quiet-lobby", "--max-per-ip", "200")
    yield server
    code, err = server.stop()
    assert code == 0, err
    assert "Traceback" not in err, err


def settled(client: RawIrc, token: str) -> list[str]:
    """Every line the server had queued for ``client`` before now (a PING answered after them)."""
    client.line(f"PING :{token}")
    return client.until(lambda w: w[1:2] == ["PONG"] and w[-1] == token)


# -- --quiet-lobby is the crowd verdict's: the lobby alone is quiet, of arrivals, departures and renames --------


def test_a_quiet_lobby_leaves_a_reconnect_into_another_room_announced(srv):
    watcher = RawIrc(srv.irc_port, "qwatcher")
    back = None
    try:
        watcher.line("JOIN #qback")
        watcher.numeric("366")
        back = hello(srv.port, nick="qreturner", room="#qback")  # (a reconnect names the room it was in)
        back.expect(lambda f: f["type"] == "welcome")
        joins = watcher.until(lambda w: w[1:2] == ["JOIN"])
        assert words_of(joins[-1])[0].startswith(":qreturner!") and words_of(joins[-1])[2] == "#qback"
    finally:
        watcher.close()
        if back is not None:
            back.close()


def test_a_quiet_lobby_hears_no_rename_but_the_renamer_is_told(srv):
    watcher = RawIrc(srv.irc_port, "qlistener")
    renamer = RawIrc(srv.irc_port, "qold")
    try:
        renamer.line("NICK qnew")
        told = renamer.numeric("NICK")
        assert told[0].startswith(":qold!") and told[2] == "qnew"
        assert not any(w[1:2] == ["NICK"] for w in map(words_of, settled(watcher, "renamed")))
        watcher.line("NAMES #lobby")
        assert "qnew" in watcher.numeric("353")[-1].split()
    finally:
        watcher.close()
        renamer.close()


def test_a_quiet_lobby_does_not_hide_another_rooms_departures(srv):
    watcher = RawIrc(srv.irc_port, "qstayer")
    leaver = NativeClient(srv.port, "qleaver")
    try:
        watcher.line("JOIN #qroom")
        watcher.numeric("366")
        leaver.send_json({"type": "join", "room": "#qroom"})
        leaver.expect(lambda f: f["type"] == "joined")
        watcher.numeric("JOIN")
        leaver.close()
        quit_line = watcher.numeric("QUIT")
        assert quit_line[0].startswith(":qleaver!")
    finally:
        watcher.close()


# -- a message that fits from the client but not once relayed is refused whole (417), never cut or split ------


@pytest.mark.parametrize("to_room", [True, False], ids=["room", "private"])
def test_a_message_that_would_not_fit_once_relayed_is_refused_whole_with_417(srv, to_room):
    name = "room" if to_room else "priv"
    sender, reader = RawIrc(srv.irc_port, f"{name}sender"), RawIrc(srv.irc_port, f"{name}reader")
    target = "#relay" if to_room else f"{name}reader"
    try:
        for c in (sender, reader):
            c.line("JOIN #relay")
            c.numeric("366")
        source = f":{name}sender!{name}sender@lanchat "
        head = f"PRIVMSG {target} :"
        fits = "a" * (512 - 2 - len(source) - len(head) - 4) + "😃"  # (exactly 512 bytes once relayed)
        sender.line(head + fits)
        relayed = reader.until(lambda w: w[1:2] == ["PRIVMSG"])[-1]
        assert len(relayed.encode()) + 2 == 512 and words_of(relayed)[-1] == fits
        too_long = fits + "b"  # (one byte more: 513 relayed, though the client's own line is far under 512)
        assert len((head + too_long).encode()) + 2 < 512
        sender.line(head + too_long)
        refusal = sender.numeric("417")
        assert target in refusal[-1]
        assert not any(w[1:2] == ["PRIVMSG"] for w in map(words_of, settled(reader, "after-refusal")))
        sender.line(head + "after")  # (the session goes on)
        assert words_of(reader.until(lambda w: w[1:2] == ["PRIVMSG"])[-1])[-1] == "after"
    finally:
        sender.close()
        reader.close()


# -- NICK to the nick one has is nothing: no NICK line to anyone -------------------------------------------


def test_nick_to_ones_own_nick_changes_nothing_and_tells_nobody(srv):
    me, other = RawIrc(srv.irc_port, "samecase"), RawIrc(srv.irc_port, "sameseer")
    try:
        for c in (me, other):
            c.line("JOIN #same")
            c.numeric("366")
        me.line("NICK SameCase")  # (a change of case is a change: both are told)
        assert me.numeric("NICK")[2] == "SameCase" and other.numeric("NICK")[2] == "SameCase"
        me.line("NICK SameCase")
        assert not any(words_of(line)[1] == "NICK" for line in settled(me, "same-me"))
        assert not any(words_of(line)[1] == "NICK" for line in settled(other, "same-other"))
    finally:
        me.close()
        other.close()


# -- a room's operators ban from their room (+b with a mask), as channel operators do; the lobby's +b is /ban --


def test_a_rooms_operator_bans_a_mask_from_the_room_for_every_way_in(srv):
    chanop, banned, bystander = (RawIrc(srv.irc_port, n) for n in ("banop", "banme", "banby"))
    native = NativeClient(srv.port, "BanMeToo")
    try:
        chanop.line("JOIN #banned")
        chanop.numeric("366")
        bystander.line("JOIN #banned")
        bystander.numeric("366")
        bystander.line("MODE #banned +b nobody!*@*")  # (not an operator of it)
        assert bystander.numeric("482")[3] == "#banned"
        chanop.line("MODE #banned +b banme*!*@*")
        assert chanop.numeric("MODE")[2:] == ["#banned", "+b", "banme*!*@*"]
        banned.line("JOIN #banned")
        assert banned.numeric("474")[3] == "#banned"
        native.send_json({"type": "join", "room": "#banned"})
        refusal = native.expect(lambda f: f["type"] in ("joined", "error"))
        assert refusal["type"] == "error" and refusal["code"] == "banned_from_room"
        chanop.line("MODE #banned +b")
        listed = chanop.until(lambda w: w[1:2] == ["368"])
        assert [words_of(line)[3:5] for line in listed if words_of(line)[1] == "367"] == [["#banned", "banme*!*@*"]]
        assert words_of(listed[-2])[5] == "banop"
        chanop.line("MODE #banned -b banme*!*@*")
        assert chanop.numeric("MODE")[2:] == ["#banned", "-b", "banme*!*@*"]
        banned.line("JOIN #banned")
        assert banned.numeric("JOIN")[2] == "#banned"
        banned.line("JOIN #elsewhere")  # (a room's ban is of that room only)
        assert banned.numeric("JOIN")[2] == "#elsewhere"
    finally:
        for c in (chanop, banned, bystander, native):
            c.close()


def test_ban_masks_are_whole_and_match_name_and_address():
    from chatserver.rules.roommodes import Ban, ban_mask

    assert ban_mask("bar") == "bar!*@*" and ban_mask("*!*@10.0.0.7") == "*!*@10.0.0.7"
    assert ban_mask("has space") is None and ban_mask("") is None
    by_name, by_address = Ban("Bar*!*@*", "op", 0.0), Ban("*!*@10.0.0.*", "op", 0.0)
    assert by_name.matches("barbara", "127.0.0.1") and not by_name.matches("abar", "127.0.0.1")
    assert by_address.matches("anyone", "10.0.0.7") and not by_address.matches("anyone", "10.0.1.7")


# -- who set a topic and when (333), after 332 on joining and on TOPIC #room ---------------------------------


def test_a_topic_says_who_set_it_and_when_to_irc_clients(srv):
    import time

    setter, native = RawIrc(srv.irc_port, "topicsetter"), NativeClient(srv.port, "topic.native")
    newcomer = None
    try:
        setter.line("JOIN #topical")
        setter.numeric("366")
        before = int(time.time())
        setter.line("TOPIC #topical :set from IRC")
        setter.numeric("TOPIC")
        after = int(time.time()) + 1
        newcomer = RawIrc(srv.irc_port, "topicreader")
        newcomer.line("JOIN #topical")
        seen = [words_of(line) for line in newcomer.until(lambda w: w[1:2] == ["366"])]
        codes = [w[1] for w in seen]
        assert codes.index("332") < codes.index("333") < codes.index("366")
        who = seen[codes.index("333")]
        assert who[2:5] == ["topicreader", "#topical", "topicsetter"] and before <= int(who[5]) <= after
        native.send_json({"type": "join", "room": "#topical"})
        native.expect(lambda f: f["type"] == "joined")
        native.send_json({"type": "topic", "text": "set from the terminal", "room": "#topical"})
        newcomer.numeric("TOPIC")
        newcomer.line("TOPIC #topical")
        assert newcomer.numeric("332")[-1] == "set from the terminal"
        assert newcomer.numeric("333")[4] == "topic`2Enative"  # (the name as IRC shows it)
    finally:
        setter.close()
        native.close()
        if newcomer is not None:
            newcomer.close()
