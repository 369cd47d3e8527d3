"""The IRC port against a real server subprocess on loopback: registration, chat both ways with native
clients, IRCv3, moderation, and hostile input (issue 21)."""

from __future__ import annotations

import socket
import ssl
import subprocess

import pytest
from helpers import NativeClient, ServerProcess, program, python_env, wait_for
from irc_helpers import LibClient, RawIrc, words_of


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """One server for the module's tests (each uses its own names and rooms); root is an operator."""
    secret = tmp_path_factory.mktemp("irc") / "oppw"
    secret.write_text("sesame\n")
    server = ServerProcess(
        "--rate-limit", "0", "--op", "root", "--op-password-file", str(secret), "--max-per-ip", "200"
    )
    yield server
    code, err = server.stop()
    assert code == 0, err
    assert "Traceback" not in err, err


def said(client: RawIrc, count: int) -> list[tuple[str, str]]:
    """The next ``count`` PRIVMSG lines as (sender, text), an action as ``* text``."""
    out = []
    while len(out) < count:
        words = client.numeric("PRIVMSG")
        text = words[3]
        if text.startswith("\x01ACTION "):
            text = "* " + text[len("\x01ACTION ") :].rstrip("\x01")
        out.append((words[0][1:].split("!")[0], text))
    return out


def test_start_line_names_the_irc_port(srv):
    assert srv.irc_port and srv.irc_port not in (srv.port, srv.web_port)


def test_library_client_registers_and_reads_isupport(srv):
    client = LibClient(srv.irc_port, "libby")
    try:
        features = client.conn.features
        assert list(features.chantypes) == ["#"]
        assert features.nicklen >= 32
        assert dict(features.prefix) == {"@": "o", "+": "v"}
        assert features.network == "chatserver"
        assert features.casemapping == "ascii"
        client.conn.join("#libroom")
        joined = client.wait(lambda e: e.type == "join")
        assert joined.target == "#libroom" and joined.source.nick == "libby"
        names = client.wait(lambda e: e.type == "namreply")
        assert names.arguments[1] == "#libroom" and "libby" in names.arguments[2].split()
    finally:
        client.close()


def test_irc_and_native_talk_both_ways_in_the_same_order(srv):
    native = NativeClient(srv.port, "nat")
    native.send_json({"type": "join", "room": "#both"})
    native.expect(lambda f: f["type"] == "joined")
    one, two = RawIrc(srv.irc_port, "ircone", caps="echo-message"), RawIrc(srv.irc_port, "irctwo")
    lib = LibClient(srv.irc_port, "ircthree")
    try:
        for c in (one, two):
            c.line("JOIN #both")
            c.numeric("366")
        lib.conn.join("#both")
        lib.wait(lambda e: e.type == "endofnames" and e.arguments[0] == "#both")
        native.expect(lambda f: f["type"] == "notice" and f.get("event") == "join" and f["nick"] == "ircthree")
        sent_native = []
        for i in range(5):  # interleaved, from three sides
            one.line(f"PRIVMSG #both :one {i}")
            lib.conn.privmsg("#both", f"three {i}")
            native.send_json({"type": "say", "text": f"native {i}", "room": "#both"})
            sent_native.append(f"native {i}")
        one.line("PRIVMSG #both :\x01ACTION waves\x01")
        native.send_json({"type": "action", "text": "bows", "room": "#both"})
        sent_native.append("* bows")
        seen_native = []
        own = iter(sent_native)
        while len(seen_native) < 17:
            f = native.frame()
            if f["type"] == "message":
                seen_native.append((f["nick"], ("* " if f["action"] else "") + f["text"]))
            elif f["type"] == "accepted":
                seen_native.append(("nat", next(own)))  # its own, in its place
        assert said(one, 17) == seen_native, "one order for everyone (echo-message: its own in their place)"
        assert said(two, 17) == seen_native
        events = []
        while len(events) < 12:  # the library's client: everyone's but its own (no echo-message)
            e = lib.wait(lambda e: e.type in ("pubmsg", "action"))
            events.append((e.source.nick, ("* " if e.type == "action" else "") + e.arguments[0]))
        assert events == [x for x in seen_native if x[0] != "ircthree"]
        native.send_json({"type": "say", "text": "first\nsecond", "room": "#both"})  # one IRC line per line
        assert said(two, 2) == [("nat", "first"), ("nat", "second")]
    finally:
        for c in (one, two, lib, native):
            c.close()


def test_long_message_is_split_on_a_character_boundary(srv):
    native = NativeClient(srv.port, "longnat")
    native.send_json({"type": "join", "room": "#long"})
    native.expect(lambda f: f["type"] == "joined")
    client = RawIrc(srv.irc_port, "longirc")
    try:
        client.line("JOIN #long")
        client.numeric("366")
        text = "ж" * 700  # 1,400 bytes: three lines
        native.send_json({"type": "say", "text": text, "room": "#long"})
        lines, got = [], ""
        while got != text:
            line = client.until(lambda w: w[1:2] == ["PRIVMSG"])[-1]
            lines.append(line)
            got += words_of(line)[3]
        assert len(lines) == 3 and all(len(line.encode()) + 2 <= 512 for line in lines)
    finally:
        client.close()
        native.close()


def test_refused_names_get_433_and_432_with_a_suggestion(srv):
    taken = RawIrc(srv.irc_port, "takenname")
    client = RawIrc(srv.irc_port)
    try:
        client.line("NICK TakenName")
        client.line("USER u 0 * :x")
        words = client.numeric("433")
        assert words[3] == "TakenName" and "try " in words[4]
        client.line("NICK You")  # reserved in lanchat
        assert client.numeric("432")[3] == "You"
        client.line("NICK a.b")  # valid in lanchat, not as an IRC nick: shown escaped
        assert client.numeric("001")[2] == "a`2Eb"
        taken.line("WHOIS a`2Eb")
        assert taken.numeric("311")[3] == "a`2Eb"
    finally:
        taken.close()
        client.close()


def test_hostile_input_is_answered_and_the_session_goes_on(srv):
    client = RawIrc(srv.irc_port, "hostile")
    try:
        client.send(b"PRIVMSG #lobby :" + b"x" * 600 + b"\r\n")
        assert client.numeric("417")
        client.send(b"@" + b"a" * 4100 + b" PING x\r\n")  # (a client's tags: 4,094 bytes at most)
        assert client.numeric("417")
        client.send(b"PRIVMSG #lobby :\xff\xfe\r\n")
        assert client.numeric("FAIL")[2:4] == ["PRIVMSG", "INVALID_UTF8"]
        client.send(b"PRIVMSG #lobby :a\x00b\r\n")
        assert "NUL" in client.numeric("NOTICE")[-1]
        client.line("BLAH")
        assert client.numeric("421")[3] == "BLAH"
        client.line("KICK #lobby")
        assert client.numeric("461")[3] == "KICK"
        client.send(b"x" * 20000)  # no line end at all
        assert client.numeric("417")
        client.send(b"\r\nPING :still-here\r\n")
        assert client.numeric("PONG")[-1] == "still-here"
    finally:
        client.close()


def test_channel_modes_that_do_not_apply_get_a_numeric(srv):
    client = RawIrc(srv.irc_port, "moder")
    try:
        client.line("MODE #lobby +k secret")
        assert client.numeric("472")[3] == "k"
        client.line("MODE #lobby")
        assert client.numeric("324")[3] == "#lobby"
        client.line("MODE #lobby +o moder")  # not an operator
        assert client.numeric("482")
        client.line("MODE someoneelse +i")
        assert client.numeric("502")
        client.line("TIME")
        assert client.numeric("391")[3] == "chatserver"
    finally:
        client.close()


def test_operator_ops_bans_and_kicks_through_the_rules(srv):
    root = RawIrc(srv.irc_port)
    root.register("root", password="sesame")
    native = NativeClient(srv.port, "victim")
    other = RawIrc(srv.irc_port, "bystander")
    try:
        root.line("MODE #lobby +o bystander")
        mode = words_of(other.until(lambda w: w[1:2] == ["MODE"])[-1])
        assert mode[2:] == ["#lobby", "+o", "bystander"]
        root.line("NAMES #lobby")
        names = root.numeric("353")[-1].split()
        assert "@root" in names and "@bystander" in names
        root.line("MODE #lobby +b victim!*@*")
        native.expect(lambda f: f["type"] == "bye")
        root.line("MODE #lobby b")
        bans = root.until(lambda w: w[1:2] == ["368"])
        assert any(words_of(line)[1] == "367" and words_of(line)[4].startswith("victim!") for line in bans)
        root.line("MODE #lobby -b victim")
        root.numeric("NOTICE")
        came_back: list[NativeClient] = []

        def comes_back() -> bool:  # the ban was lifted; its last session is released just after its bye
            try:
                came_back.append(NativeClient(srv.port, "victim"))
            except RuntimeError:  # (nick_taken: the server has not yet let the old session go)
                return False
            return True

        assert wait_for(comes_back)
        back = came_back[0]
        root.line("KICK #lobby victim :enough")
        kick = words_of(other.until(lambda w: w[1:2] == ["KICK"])[-1])
        assert kick[0].startswith(":root!") and kick[2:] == ["#lobby", "victim", "enough"]
        back.expect(lambda f: f["type"] == "bye")
    finally:
        root.close()
        other.close()
        native.close()


def test_history_is_replayed_only_with_server_time_and_batch(srv):
    native = NativeClient(srv.port, "historian")
    native.send_json({"type": "join", "room": "#past"})
    native.expect(lambda f: f["type"] == "joined")
    for i in range(3):
        native.send_json({"type": "say", "text": f"old {i}", "room": "#past"})
        native.expect(lambda f: f["type"] == "accepted")
    with_caps = RawIrc(srv.irc_port, "replayed", caps="server-time batch message-tags")
    without = RawIrc(srv.irc_port, "notreplayed")
    try:
        with_caps.line("JOIN #past")
        lines = with_caps.until(lambda w: w[1:2] == ["366"])
        said_lines = [line for line in lines if " PRIVMSG " in line]
        assert [words_of(line)[3] for line in said_lines] == ["old 0", "old 1", "old 2"]
        assert all(line.startswith("@") and "time=" in line and "batch=" in line for line in said_lines)
        assert any(" BATCH +" in line and "chathistory" in line for line in lines)
        without.line("JOIN #past")
        assert not [line for line in without.until(lambda w: w[1:2] == ["366"]) if " PRIVMSG " in line]
        with_caps.line("CHATHISTORY LATEST #past * 2")
        lines = with_caps.until(lambda w: w[1:2] == ["BATCH"] and w[2].startswith("-"))
        msgs = [line for line in lines if " PRIVMSG " in line]
        assert [words_of(line)[3] for line in msgs] == ["old 1", "old 2"]
        msgid = msgs[0].split("msgid=")[1].split(" ")[0].split(";")[0]
        with_caps.line(f"CHATHISTORY BEFORE #past msgid={msgid} 10")
        lines = with_caps.until(lambda w: w[1:2] == ["BATCH"] and w[2].startswith("-"))
        assert [words_of(line)[3] for line in lines if " PRIVMSG " in line] == ["old 0"]
    finally:
        for c in (with_caps, without, native):
            c.close()


def test_whois_away_topic_list_nick_and_private(srv):
    a, b = RawIrc(srv.irc_port, "wa", caps="away-notify"), RawIrc(srv.irc_port, "wb")
    try:
        for c in (a, b):
            c.line("JOIN #talk")
            c.numeric("366")
        b.line("AWAY :gone fishing")
        assert b.numeric("306")
        assert words_of(a.until(lambda w: w[1:2] == ["AWAY"])[-1])[2] == "gone fishing"
        a.line("WHOIS wb")
        by = {words_of(line)[1]: words_of(line) for line in a.until(lambda w: w[1:2] == ["318"])}
        assert by["301"][-1] == "gone fishing" and "#talk" in by["319"][-1]
        a.line("TOPIC #talk :all about fish")
        assert words_of(b.until(lambda w: w[1:2] == ["TOPIC"])[-1])[2:] == ["#talk", "all about fish"]
        b.line("LIST")
        listed = [words_of(line) for line in b.until(lambda w: w[1:2] == ["323"]) if " 322 " in line]
        assert ["#talk", "2", "all about fish"] in [w[3:] for w in listed]
        b.line("NICK wbee")
        assert words_of(a.until(lambda w: w[1:2] == ["NICK"])[-1])[0].startswith(":wb!")
        b.line("PRIVMSG wa :psst")
        assert words_of(a.until(lambda w: w[1:2] == ["PRIVMSG"])[-1])[2:] == ["wa", "psst"]
        a.line("PRIVMSG wbee :are you there")
        assert a.numeric("301")[3:] == ["wbee", "gone fishing"]
    finally:
        a.close()
        b.close()


def test_registration_timeout_and_flood():
    server = ServerProcess("--login-timeout", "0.5", "--rate-limit", "5", "--rate-burst", "3")
    try:
        silent = RawIrc(server.irc_port)
        silent.line("NICK slow")
        assert any(line.startswith(b"ERROR") for line in silent.read_until_closed())
        flooder = RawIrc(server.irc_port, "flooder")
        calm = RawIrc(server.irc_port, "calm")
        flooder.send(b"".join(b"PRIVMSG #lobby :spam %d\r\n" % i for i in range(200)))
        lines = flooder.read_until_closed(timeout=20)
        assert any(b"slow down" in line for line in lines)
        assert lines[-1].startswith(b"ERROR")
        calm.line("PING :fine")  # the others are not stalled
        assert calm.numeric("PONG")[-1] == "fine"
    finally:
        code, err = server.stop()
        assert code == 0, err


def test_tls_port_speaks_tls_and_turns_plain_clients_away():
    server = ServerProcess("--tls", "--rate-limit", "0")
    try:
        assert server.irc_scheme == "ircs"
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with context.wrap_socket(socket.create_connection(("127.0.0.1", server.irc_port))) as tls:
            tls.sendall(b"NICK secure\r\nUSER u 0 * :x\r\n")
            data = b""
            while b" 001 " not in data:
                chunk = tls.recv(4096)
                assert chunk, data
                data += chunk
        plain = RawIrc(server.irc_port)
        plain.line("NICK plain")
        assert any(line.startswith(b"ERROR") and b"TLS" in line for line in plain.read_until_closed())
    finally:
        code, err = server.stop()
        assert code == 0, err


def test_irc_port_asked_for_and_taken_stops_the_server():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [*program("chatserver"), "--host", "127.0.0.1", "--port", "0", "--no-web", "--irc-port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            env=python_env(),
        )
    assert proc.returncode == 1
    assert f"cannot serve IRC clients on 127.0.0.1:{port}" in proc.stderr
