"""The server's side of resuming: rooms kept across restarts, epochs, renames, one ordered channel."""

from __future__ import annotations

import re

from helpers import Member, NativeClient, PlainClient, ServerProcess

from common import messages as m


def until(client: NativeClient, kind: str) -> list[dict]:
    """Frames up to and including the first of type ``kind``."""
    out = [client.frame()]
    while out[-1]["type"] != kind:
        out.append(client.frame())
    return out


def hello(port: int, **fields) -> NativeClient:
    client = NativeClient(port)
    client.send_json({"type": "hello", "version": 1, **fields})
    return client


def test_a_token_from_another_server_run_still_gets_its_room_back(server):
    """After a restart the token means nothing, but the room the client asks
    for is honoured: what it typed for #private must not land in #lobby."""
    lobby = NativeClient(server.port, "lobbyist")
    back = hello(server.port, nick="frank", resume="feed.beef", room="#private", epoch="gone", last_seq=7)
    welcome = back.frame()
    assert (welcome["type"], welcome["room"]) == ("welcome", "#private")
    notice = back.frame()
    assert (notice["type"], notice["event"]) == ("notice", "renumbered"), "told: the missed cannot be known"
    back.say("only for #private: the salary numbers")
    back.expect(lambda f: f["type"] == "accepted" and f["room"] == "#private")
    lobby.send_json({"type": "who"})
    frames = until(lobby, "users")
    assert not any(f["type"] == "message" for f in frames), "nothing reached #lobby"


def test_resume_in_the_same_epoch_gets_exactly_the_missed_and_another_epoch_gets_history(server):
    first = NativeClient(server.port, "roamer")
    token, epoch = first.welcome["token"], first.welcome["epoch"]
    assert epoch, "the welcome names the room's numbering"
    talker = NativeClient(server.port, "talker")
    talker.say("seen")
    seq = first.messages(1)[0]["seq"]
    talker.say("missed")
    first.messages(1)
    first.sock.close()
    again = hello(server.port, nick="roamer", resume=token, room="#lobby", epoch=epoch, last_seq=seq)
    frames = until(again, "welcome")
    assert frames[-1]["replay"] == 1
    assert (again.frame()["text"], "missed") == ("missed", "missed")
    stranger = hello(server.port, nick="other", room="#lobby", epoch="not-this-one", last_seq=seq)
    welcome = until(stranger, "welcome")[-1]
    assert welcome["epoch"] == epoch
    assert stranger.frame()["event"] == "renumbered"
    replay = [stranger.frame() for _ in range(welcome["replay"])]
    assert [(f["text"], f["replay"]) for f in replay] == [("seen", "history"), ("missed", "history")]


def test_last_seq_out_of_range_is_no_resume():
    """``last_seq`` -1000000 once yielded "1000000 earlier message(s) were missed"."""
    srv = ServerProcess("--rate-limit", "0")
    try:
        first = NativeClient(srv.port, "a")
        epoch = first.welcome["epoch"]
        first.say("one")
        assert first.expect(lambda f: f["type"] == "accepted")["seq"] == 1  # (in the history from here on)
        for bad in (-1_000_000, 10**12):
            c = hello(srv.port, nick=f"n{abs(bad) % 97}", room="#lobby", epoch=epoch, last_seq=bad)
            frames = until(c, "welcome")
            follow = c.frame()
            assert follow["type"] == "notice" and follow["event"] == "renumbered", (bad, follow)
            rest = [c.frame() for _ in range(frames[-1]["replay"])]
            assert [f["text"] for f in rest] == ["one"]
            c.send_json({"type": "who"})
            assert not any(f.get("event") == "missed" for f in until(c, "users")), bad
    finally:
        srv.stop()


def test_a_room_made_anew_has_a_new_epoch():
    """An empty room forgotten to make space and made again restarts its
    numbering: a member resuming with the old numbering is told so."""
    from chatserver.core.hub import LocalHub

    greeted: list[tuple] = []

    hub = LocalHub(max_rooms=2)  # the lobby and one more
    a = Member("a")
    hub.enter(a, "a", "#lobby", lambda *g: greeted.append(g))
    hub.part("#lobby", a)
    hub.join("#old", a)
    for i in range(12):
        hub.publish("#old", lambda seq, ts, i=i: m.ChatMessage(seq=seq, ts=ts, room="#old", nick="a", text=f"{i}"))
    old_epoch = hub.epoch("#old")
    hub.part("#old", a)
    hub.join("#lobby", a)
    hub.part("#lobby", a)
    hub.join("#other", a)  # #old is empty: forgotten to make room
    assert hub.epoch("#old") == ""
    hub.part("#other", a)
    hub.join("#lobby", a)
    hub.part("#lobby", a)
    hub.join("#old", a, lambda *g: greeted.append(g), after=10, epoch=old_epoch)
    g = greeted[-1][0]
    assert (g.room, g.kind, g.lost, g.seq) == ("#old", "renumbered", 0, 0) and g.epoch != old_epoch
    epoch = g.epoch
    hub.publish("#old", lambda seq, ts: m.ChatMessage(seq=seq, ts=ts, room="#old", nick="a", text="new"))
    hub.part("#old", a)
    hub.join("#lobby", a)
    hub.part("#lobby", a)
    hub.join("#old", a, lambda *g: greeted.append(g), after=0, epoch=epoch)
    g = greeted[-1][0]
    assert g.kind == "missed" and [msg.text for msg in g.messages] == ["new"] and g.seq == 1, "same numbering"


def test_a_rename_carries_the_resume_right_to_the_new_name(server):
    frank = NativeClient(server.port, "frank")
    frank.send_json({"type": "join", "room": "#ops"})
    epoch = until(frank, "joined")[-1]["epoch"]
    ops = NativeClient(server.port, "opsy")
    ops.send_json({"type": "join", "room": "#ops"})
    until(ops, "joined")
    frank.send_json({"type": "nick", "nick": "frankie"})
    frames = [frank.frame()]
    while frames[-1].get("event") != "nick":
        frames.append(frank.frame())
    token = [f for f in frames if f["type"] == "token"]
    assert len(token) == 1 and token[0]["token"] != frank.welcome["token"], "a new token, before the news"
    ops.say("before the cut")
    seq = frank.messages(1)[0]["seq"]
    frank.sock.close()  # half-open: the server still holds frankie
    ops.say("ops said this while frank was away")
    ops.expect(lambda f: f["type"] == "accepted" and f["seq"] == seq + 1)  # published before we come back
    again = hello(server.port, nick="frankie", resume=token[0]["token"], room="#ops", epoch=epoch, last_seq=seq)
    welcome = until(again, "welcome")[-1]
    assert (welcome["nick"], welcome["room"], welcome["replay"]) == ("frankie", "#ops", 1)
    missed = again.frame()
    assert (missed["text"], missed["replay"]) == ("ops said this while frank was away", "missed")
    stale = hello(server.port, nick="frankie", resume=frank.welcome["token"], room="#ops")
    assert stale.frame()["code"] == "nick_taken", "the old name's token does not take the new name"


def test_a_private_message_never_overtakes_a_room_message_sent_before_it(server):
    alice, bob = NativeClient(server.port, "alice"), NativeClient(server.port, "bob")
    rounds = 300
    for i in range(rounds):
        alice.say(f"room {i}")
        alice.send_json({"type": "privmsg", "to": "bob", "text": f"private {i}"})
    seen = []
    while len(seen) < 2 * rounds:
        f = bob.frame()
        if f["type"] in ("message", "private"):
            seen.append(f["text"])
    assert seen == [t for i in range(rounds) for t in (f"room {i}", f"private {i}")]


def test_acks_name_their_room_and_stay_in_order_across_a_room_switch(server):
    alice = NativeClient(server.port, "alice")
    for i in range(50):
        alice.say(f"{i}")
    alice.send_json({"type": "join", "room": "#dev"})
    frames = until(alice, "joined")
    acks = [f for f in frames if f["type"] == "accepted"]
    assert [f["room"] for f in acks] == ["#lobby"] * 50, "every #lobby ack before the greeting from #dev"
    alice.say("in dev")
    assert alice.expect(lambda f: f["type"] == "accepted")["room"] == "#dev"


def test_topic_alone_shows_the_topic(server):
    alice = NativeClient(server.port, "alice")
    alice.send_json({"type": "topic", "text": ""})
    assert alice.expect(lambda f: f["type"] == "notice")["text"] == "#lobby has no topic"
    alice.send_json({"type": "topic", "text": "release friday"})
    alice.expect(lambda f: f.get("event") == "topic")
    plain = PlainClient(server.port, "bob")
    plain.send(b"/topic\n")
    assert plain.expect_line(lambda line: b"topic of" in line)[-1] == b"* the topic of #lobby: release friday"


def test_history_and_search_for_native_and_plain_clients(server):
    alice = NativeClient(server.port, "alice")
    for text in ("the build is red", "lunch?", "build green again", "ship it"):
        alice.say(text)
        alice.expect(lambda f: f["type"] == "accepted")

    def look_back(request: dict) -> tuple[str, list[dict]]:
        """The heading notice and the messages of one /history or /search answer."""
        alice.send_json(request)
        head = alice.expect(lambda f: f["type"] == "notice" and f["event"] == request["type"])
        found = []
        while True:
            f = alice.frame()
            if f["type"] == "notice" and f["text"].startswith("end of"):
                return head["text"], found
            found.append(f)

    head, got = look_back({"type": "history", "count": 2})
    assert head == "the last 2 message(s) of #lobby"
    assert [(f["text"], f["replay"]) for f in got] == [("build green again", "history"), ("ship it", "history")]
    head, older = look_back({"type": "history", "count": 10, "before": got[0]["seq"]})
    assert [f["text"] for f in older] == ["the build is red", "lunch?"] and "before #" in head
    plain = PlainClient(server.port, "bob")
    plain.send(b"/search build\n")
    lines = plain.expect_line(lambda line: line.startswith(b"* end of search"))
    results = [line.decode() for line in lines if line.startswith(b"(search ")]
    assert len(results) == 2, lines
    assert results[0].endswith("alice: the build is red") and results[1].endswith("alice: build green again")
    assert re.match(r"\(search \d{4}-\d\d-\d\d \d\d:\d\d\) alice: ", results[0]), "with the time it was said"
    plain.send(b"/search nothing-like-this\n")
    assert plain.expect_line(lambda line: b"search results" in line)[-1].endswith(b": none found")
