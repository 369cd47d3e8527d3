"""Several rooms at once, through real sockets: joining keeps the other rooms,
a focused room, /say to a named room, /part, leave notices everywhere, a
reconnect back into every room, and plain lines that name their room."""

from __future__ import annotations

from helpers import NativeClient, PlainClient


def until(client: NativeClient, kind: str) -> dict:
    return client.expect(lambda f: f["type"] == kind)


def join(client: NativeClient, room: str) -> dict:
    client.send_json({"type": "join", "room": room})
    return until(client, "joined")


def test_a_session_is_in_several_rooms_and_talks_to_the_focused_or_a_named_one(server):
    alice, bob = NativeClient(server.port, "alice"), NativeClient(server.port, "bob")
    assert join(alice, "#dev")["room"] == "#dev"
    join(bob, "#dev")
    alice.say("to dev")  # the focused room
    got = bob.messages(1)[0]
    assert (got["room"], got["text"]) == ("#dev", "to dev")
    alice.send_json({"type": "say", "room": "LOBBY", "text": "to the lobby"})  # a named room of hers
    got = bob.messages(1)[0]
    assert (got["room"], got["text"]) == ("#lobby", "to the lobby")
    ack = until(alice, "accepted")
    assert ack["room"] == "#dev"
    assert until(alice, "accepted")["room"] == "#lobby"
    alice.send_json({"type": "action", "room": "#nowhere", "text": "waves"})
    error = until(alice, "error")
    assert error["code"] == "not_in_room" and "#nowhere" in error["message"]
    # /join of a room she is in focuses it: no second membership, no joined.
    alice.send_json({"type": "join", "room": "#lobby"})
    assert until(alice, "focused") == {"type": "focused", "room": "#lobby"}
    alice.send_json({"type": "who"})
    assert until(alice, "users")["room"] == "#lobby"
    alice.send_json({"type": "topic", "text": "the hall"})
    topic = bob.expect(lambda f: f.get("event") == "topic")
    assert topic["text"] == "alice set the topic of #lobby: the hall"
    alice.say("focused on the lobby")
    got = bob.messages(1)[0]
    assert (got["room"], got["text"]) == ("#lobby", "focused on the lobby")
    alice.send_json({"type": "list"})
    rooms = until(alice, "rooms")
    assert dict(zip(rooms["names"], rooms["mine"], strict=True)) == {"#dev": True, "#lobby": True}


def test_part_leaves_the_named_or_focused_room_and_the_last_leads_to_the_lobby(server):
    alice, bob = NativeClient(server.port, "alice"), NativeClient(server.port, "bob")
    join(alice, "#dev")
    join(alice, "#ops")  # focused
    join(bob, "#dev")
    alice.send_json({"type": "part", "room": "#dev"})  # not the focused one
    assert until(alice, "parted") == {"type": "parted", "room": "#dev", "focus": "#ops"}
    assert bob.expect(lambda f: f.get("event") == "leave")["text"] == "alice left #dev"
    alice.send_json({"type": "part", "room": "#dev"})
    assert until(alice, "error")["code"] == "not_in_room"
    alice.send_json({"type": "part"})  # the focused #ops: the lobby is left, and focused
    assert until(alice, "parted") == {"type": "parted", "room": "#ops", "focus": "#lobby"}
    alice.send_json({"type": "part"})  # only the lobby left
    assert until(alice, "error")["message"].startswith("you are in #lobby only")
    # Out of the lobby too, then leaving the last room leads back there.
    bob.send_json({"type": "part", "room": "#lobby"})
    assert until(bob, "parted") == {"type": "parted", "room": "#lobby", "focus": "#dev"}
    bob.send_json({"type": "part"})
    assert until(bob, "parted") == {"type": "parted", "room": "#dev", "focus": "#lobby"}
    joined = until(bob, "joined")
    assert joined["room"] == "#lobby" and "bob" in joined["users"]


def test_at_most_fifty_rooms_per_session(server):
    c = NativeClient(server.port, "collector")
    for i in range(49):  # and the lobby: 50
        c.send_json({"type": "join", "room": f"#r{i}"})
    for _ in range(49):
        until(c, "joined")
    c.send_json({"type": "join", "room": "#one-more"})
    error = until(c, "error")
    assert error["code"] == "too_many_rooms" and "50 rooms" in error["message"]
    c.send_json({"type": "part", "room": "#r0"})
    until(c, "parted")
    assert join(c, "#one-more")["room"] == "#one-more"


def test_leaving_is_told_in_every_room_the_session_was_in(server):
    leaver = NativeClient(server.port, "leaver")
    join(leaver, "#dev")
    in_dev, in_lobby = NativeClient(server.port, "devon"), NativeClient(server.port, "lobbyist")
    join(in_dev, "#dev")
    in_dev.send_json({"type": "part", "room": "#lobby"})
    until(in_dev, "parted")
    leaver.send_json({"type": "quit"})
    assert in_dev.expect(lambda f: f.get("event") == "leave" and f["nick"] == "leaver")["text"] == "leaver left"
    assert in_lobby.expect(lambda f: f.get("event") == "leave" and f["nick"] == "leaver")["text"] == "leaver left"


def test_a_reconnect_resumes_every_room_with_what_it_missed(server):
    first = NativeClient(server.port, "roamer")
    token = first.welcome["token"]
    dev = join(first, "#dev")
    ops = join(first, "#ops")
    first.send_json({"type": "join", "room": "#dev"})  # focused on #dev, also in #ops and #lobby
    until(first, "focused")
    talker = NativeClient(server.port, "talker")
    join(talker, "#dev")
    join(talker, "#ops")
    talker.send_json({"type": "say", "room": "#ops", "text": "ops seen"})
    seen = first.messages(1)[0]
    first.sock.close()
    for room in ("#dev", "#ops", "#lobby"):
        talker.send_json({"type": "say", "room": room, "text": f"missed in {room}"})
    for _ in range(3):
        until(talker, "accepted")
    again = NativeClient(server.port)
    again.send_json(
        {"type": "hello", "version": 1, "nick": "roamer", "resume": token}
        | {"room": "#dev", "epoch": dev["epoch"], "last_seq": dev["seq"]}
        | {"rooms": ["#ops", "#lobby", "#bad room"], "epochs": [ops["epoch"], "x"], "last_seqs": [seen["seq"], 0]}
    )
    welcome = again.frame()
    assert (welcome["type"], welcome["room"], welcome["replay"]) == ("welcome", "#dev", 1)
    assert (again.frame()["text"], "missed") == ("missed in #dev", "missed")
    joined = again.frame()
    assert (joined["type"], joined["room"], joined["replay"]) == ("joined", "#ops", 1)
    replay = again.frame()
    assert (replay["room"], replay["text"], replay["replay"]) == ("#ops", "missed in #ops", "missed")
    # The lobby's epoch was wrong: its recent history, and a word saying so.
    joined = again.frame()
    assert (joined["type"], joined["room"]) == ("joined", "#lobby")
    assert again.frame()["event"] == "renumbered"
    history = [again.frame() for _ in range(joined["replay"])]
    assert history[-1]["text"] == "missed in #lobby" and {f["replay"] for f in history} == {"history"}
    assert again.expect(lambda f: f["type"] == "notice")["text"] == (
        "1 of the rooms you were in could not be joined again"
    )
    again.say("still focused on dev")
    got = talker.messages(1)[0]
    assert (got["room"], got["text"]) == ("#dev", "still focused on dev")


def test_plain_lines_name_their_room_only_while_in_several(server):
    nc = PlainClient(server.port, "nc")
    native = NativeClient(server.port, "native")
    join(native, "#dev")
    native.send_json({"type": "say", "room": "#lobby", "text": "one room"})
    assert nc.expect_line(lambda line: b"one room" in line)[-1] == b"native: one room"
    nc.send(b"/join #dev\r\n")
    nc.expect_line(lambda line: line.startswith(b"* you are in #dev"))
    native.send_json({"type": "say", "room": "#lobby", "text": "two rooms"})
    native.send_json({"type": "action", "room": "#dev", "text": "waves"})
    assert nc.expect_line(lambda line: b"two rooms" in line)[-1] == b"[#lobby] native: two rooms"
    assert nc.expect_line(lambda line: b"waves" in line)[-1] == b"[#dev] native waves"
    nc.send(b"/say #lobby hello hall\r\n")
    assert native.messages(1)[0] | {"ts": 0} == {
        "type": "message",
        "seq": 3,
        "ts": 0,
        "room": "#lobby",
        "nick": "nc",
        "text": "hello hall",
        "action": False,
    }
    nc.send(b"/help\r\n")
    help_lines = nc.expect_line(lambda line: b"/say #ROOM TEXT" in line)
    assert any(b"/part [#ROOM]" in line for line in help_lines)
    nc.send(b"/part #lobby\r\n")
    nc.expect_line(lambda line: line == b"* you left #lobby; your messages go to #dev")
    native.say("back to one")
    assert nc.expect_line(lambda line: b"back to one" in line)[-1] == b"native: back to one"


# --- the terminal client: one focused room, a hotlist for the others ---------------------------

import pytest  # noqa: E402
from helpers import Proxy, client_process, program, python_env  # noqa: E402
from terminal import Terminal  # noqa: E402

ALT_1, ALT_2, ALT_A, CTRL_N = "\x1b1", "\x1b2", "\x1ba", "\x0e"


def _env(tmp_path) -> dict[str, str]:
    env = python_env()
    env.update(TERM="xterm", XDG_STATE_HOME=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    return env


def toolbar(term: Terminal) -> str:
    return term.lines[-1]


def shown(term: Terminal, text: str) -> int:
    """How many times ``text`` is on the screen."""
    return term.text.count(text)


@pytest.fixture
def two_rooms(server, tmp_path):
    """viewer in the terminal, in #lobby and #dev (focused), and bob in both."""
    term = Terminal([*program("chatclient"), server.address, "--name", "viewer"], env=_env(tmp_path), rows=40)
    term.wait_text("viewer>")
    bob = NativeClient(server.port, "bob")
    join(bob, "#dev")
    term.send("/join #dev\r")
    term.wait_for(lambda t: "#dev (2)" in toolbar(t), what="focused on #dev")
    yield term, bob
    term.child.terminate(force=True)


def test_other_rooms_are_counted_in_the_hotlist_and_shown_once_on_switching(two_rooms):
    term, bob = two_rooms
    bob.send_json({"type": "say", "room": "#lobby", "text": "lobby one"})
    bob.send_json({"type": "say", "room": "#lobby", "text": "lobby two, viewer?"})  # a mention
    bob.send_json({"type": "say", "room": "#dev", "text": "dev live"})
    term.wait_text("bob: dev live")
    term.wait_for(lambda t: "#lobby(2!)" in toolbar(t), what="hotlist with a mention mark")
    assert shown(term, "lobby one") == 0, "another room's line is not printed"
    before = len(term.raw)
    term.send(ALT_1)  # our first room: the lobby
    term.wait_text("--- #lobby: 2 new ---")
    term.wait_text("bob: lobby two, viewer?")
    assert shown(term, "bob: lobby one") == 1 and shown(term, "bob: lobby two, viewer?") == 1
    assert term.text.index("--- #lobby: 2 new ---") < term.text.index("bob: lobby one")
    term.wait_for(lambda t: "#lobby (2)" in toolbar(t) and "(2!)" not in toolbar(t), what="hotlist emptied")
    assert b"\x07" in term.raw[:before], "the mention rang the bell though not shown"
    # What we type goes to the room we look at.
    term.send("hello lobby\r")
    got = bob.messages(1)[0]
    assert (got["room"], got["text"]) == ("#lobby", "hello lobby")
    # Back to #dev (Ctrl+N, the next room): nothing new, and nothing of the lobby again.
    bob.send_json({"type": "say", "room": "#dev", "text": "dev unseen"})
    term.wait_for(lambda t: "#dev(1)" in toolbar(t), what="#dev counted")
    term.send(CTRL_N)
    term.wait_text("--- #dev: 1 new ---")
    term.wait_text("bob: dev unseen")
    assert shown(term, "bob: lobby one") == 1 and shown(term, "bob: dev unseen") == 1
    # A private message is always printed, whatever the focus.
    bob.send_json({"type": "privmsg", "to": "viewer", "text": "just you"})
    term.wait_text("(private) bob: just you")
    term.send("/quit\r")
    assert term.wait_exit() == 0


def test_a_rename_is_shown_once_though_told_in_each_room(two_rooms):
    """Issue 19, item 17: bob is in both our rooms; switching to the other does not say it again."""
    term, bob = two_rooms
    bob.send_json({"type": "nick", "nick": "robert"})
    term.wait_text("bob is now known as robert")
    term.send(ALT_1)  # the lobby, where the same rename was told too
    term.wait_for(lambda t: "#lobby (2)" in toolbar(t), what="on the lobby")
    bob.send_json({"type": "say", "room": "#lobby", "text": "marker"})
    term.wait_text("robert: marker")  # (after whatever the switch printed)
    assert shown(term, "bob is now known as robert") == 1, term.text
    term.send("/quit\r")
    assert term.wait_exit() == 0


def test_alt_a_goes_to_the_room_with_activity_and_window_by_name(server, two_rooms):
    term, bob = two_rooms
    carol = NativeClient(server.port, "carol")
    join(carol, "#ops")
    join(bob, "#ops")
    term.send("/join #ops\r")  # three rooms now: #lobby, #dev, #ops (focused)
    term.wait_for(lambda t: "#ops (3)" in toolbar(t), what="focused on #ops")
    bob.send_json({"type": "say", "room": "#dev", "text": "in dev"})
    bob.send_json({"type": "say", "room": "#lobby", "text": "in lobby for viewer"})
    term.wait_for(lambda t: "#lobby(1!) #dev(1)" in toolbar(t), what="hotlist in joining order")
    term.send(ALT_A)  # the mention first
    term.wait_text("--- #lobby: 1 new ---")
    term.send(ALT_A)
    term.wait_text("--- #dev: 1 new ---")
    term.wait_for(lambda t: "(1" not in toolbar(t), what="no more activity")
    term.send("/window #ops\r")
    term.wait_for(lambda t: "#ops (3)" in toolbar(t), what="back on #ops")
    term.send("/help\r")  # (once its lines are on screen, so would a header be, printed before them)
    term.wait_text("/window #ROOM|N    look at another of your rooms")
    assert "#ops: 0 new" not in term.text, "no header for nothing new"
    term.send("/window #nowhere\r")
    term.wait_text("usage: /window #ROOM|N, one of: #lobby, #dev, #ops")
    assert shown(term, "bob: in dev") == 1 and shown(term, "bob: in lobby for viewer") == 1
    term.send("/quit\r")
    assert term.wait_exit() == 0


def test_a_reconnect_keeps_both_rooms_and_counts_what_was_missed_elsewhere(server, tmp_path):
    proxy = Proxy(server.port)
    term = Terminal([*program("chatclient"), f"127.0.0.1:{proxy.port}", "--name", "viewer"], env=_env(tmp_path))
    try:
        term.wait_text("viewer>")
        bob = NativeClient(server.port, "bob")
        join(bob, "#dev")
        term.send("/join #dev\r")
        term.wait_for(lambda t: "#dev (2)" in toolbar(t), what="focused on #dev")
        bob.send_json({"type": "say", "room": "#dev", "text": "before the cut"})
        term.wait_text("bob: before the cut")
        proxy.cut_client_side(hold=True)
        term.wait_for(lambda t: "reconnecting" in t.text, what="the cut noticed")
        bob.send_json({"type": "say", "room": "#lobby", "text": "missed in the lobby"})
        bob.send_json({"type": "say", "room": "#dev", "text": "missed in dev"})
        for _ in range(2):
            until(bob, "accepted")
        proxy.release()
        term.wait_text("(missed) bob: missed in dev")  # the focused room's replay is shown
        term.wait_for(lambda t: "#lobby(1)" in toolbar(t), what="the lobby's missed line counted")
        assert shown(term, "missed in the lobby") == 0, "not dumped on the screen"
        term.send("hello again\r")  # still focused on #dev
        got = bob.messages(1)[0]
        assert (got["room"], got["text"]) == ("#dev", "hello again")
        term.send(ALT_1)
        term.wait_text("--- #lobby: 1 new ---")
        term.wait_text("(missed) bob: missed in the lobby")
        term.send("/quit\r")
        assert term.wait_exit() == 0
    finally:
        term.child.terminate(force=True)
        proxy.close()


def test_line_mode_names_the_room_of_each_line_while_in_several(server):
    bob = NativeClient(server.port, "bob")
    join(bob, "#dev")
    proc = client_process(server.address, "--name", "liner")
    try:
        assert proc.stdout.readline() == "Connected to the server.\n"
        proc.stdout.readline()  # who is here
        bob.send_json({"type": "say", "room": "#lobby", "text": "one room"})
        assert proc.stdout.readline() == "bob: one room\n"
        proc.stdin.write("/join #dev\n")
        proc.stdin.flush()
        assert proc.stdout.readline().startswith("* you are in #dev")
        bob.send_json({"type": "say", "room": "#lobby", "text": "hall"})
        bob.send_json({"type": "say", "room": "#dev", "text": "dev"})
        bob.send_json({"type": "privmsg", "to": "liner", "text": "psst"})
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines == ["[#lobby] bob: hall\n", "[#dev] bob: dev\n", "(private) bob -> liner: psst\n"]
        proc.stdin.write("/say #lobby from the side\n")
        proc.stdin.flush()
        got = bob.messages(1)[0]
        assert (got["room"], got["text"]) == ("#lobby", "from the side")
    finally:
        proc.stdin.close()
        proc.wait(10)
    assert proc.returncode == 0
