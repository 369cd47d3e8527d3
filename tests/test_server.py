"""The real chatserver process, through real sockets on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time

import pytest
from helpers import TIMEOUT, LineSocket, NativeClient, PlainClient, ServerProcess, frames_until


def test_ready_line_names_the_real_port(server):
    assert f"listening on 127.0.0.1:{server.port}" in server.ready_line
    assert server.port != 0


def test_two_party_chat(server):
    alice = NativeClient(server.port, "alice")
    bob = NativeClient(server.port, "bob")
    assert alice.expect(lambda f: f["type"] == "notice")["text"] == "bob joined #lobby"
    alice.say("hi bob")
    msg = bob.messages(1)[0]
    assert (msg["nick"], msg["text"], msg["room"]) == ("alice", "hi bob", "#lobby")
    assert isinstance(msg["seq"], int) and abs(msg["ts"] - time.time()) < 60
    ack = alice.expect(lambda f: f["type"] in ("accepted", "message"))
    assert ack == {"type": "accepted", "seq": msg["seq"], "ts": msg["ts"], "room": "#lobby"}, "an ack, not an echo"


def test_nick_collision_gets_error_and_suggestion(server):
    alice = NativeClient(server.port, "alice")  # noqa: F841 - holds the name
    dup = NativeClient(server.port)
    dup.send_json({"type": "hello", "version": 1, "nick": "ALICE"})
    err = dup.frame()
    assert err["type"] == "error" and err["code"] == "nick_taken"
    assert err["suggestion"] == "ALICE2"
    dup.send_json({"type": "hello", "version": 1, "nick": err["suggestion"]})
    assert dup.frame()["type"] == "welcome", "the connection may retry after a rejected name"


def test_invalid_nick_rejected(server):
    c = NativeClient(server.port)
    c.send_json({"type": "hello", "version": 1, "nick": "bad name\x1b"})
    err = c.frame()
    assert err["code"] == "invalid_nick" and "spaces" in err["message"]


def test_wrong_protocol_version_is_refused_clearly(server):
    c = NativeClient(server.port)
    c.send_json({"type": "hello", "version": 99, "nick": "future"})
    err = c.frame()
    assert err["code"] == "unsupported_version" and "version 1" in err["message"]
    assert c.frame()["type"] == "bye"
    assert c.read_until_closed() == []


def test_spoofing_is_impossible(server):
    alice = NativeClient(server.port, "alice")
    mallory = NativeClient(server.port, "mallory")
    alice.expect(lambda f: f.get("nick") == "mallory")
    mallory.send_json({"type": "message", "seq": 1, "ts": 1, "room": "#lobby", "nick": "alice", "text": "forged"})
    # (alice's own join notice may still reach mallory first: it is posted just after alice's welcome)
    before = [mallory.frame()]
    while before[-1]["type"] != "error":
        before.append(mallory.frame())
    assert before[-1]["code"] == "unexpected_type"
    assert all(f["type"] == "notice" and f["event"] == "join" for f in before[:-1]), before
    mallory.send_json({"type": "say", "text": "hello", "nick": "alice"})  # extra field ignored
    msg = alice.messages(1)[0]
    assert msg["nick"] == "mallory" and msg["text"] == "hello"


def test_private_message_reaches_only_its_target(server):
    alice, bob, carol = (NativeClient(server.port, n) for n in ("alice", "bob", "carol"))
    alice.send_json({"type": "privmsg", "to": "BOB", "text": "just for you"})
    alice.say("public")
    got = bob.expect(lambda f: f["type"] == "private")
    assert (got["nick"], got["to"], got["text"]) == ("alice", "bob", "just for you")
    echo = alice.expect(lambda f: f["type"] == "private")
    assert echo == got, "the sender gets the same frame back: it arrived"
    # carol gets the public message, and no private frame before it.
    frames = [carol.frame()]
    while frames[-1]["type"] != "message":
        frames.append(carol.frame())
    assert frames[-1]["text"] == "public"
    assert all(f["type"] != "private" for f in frames)
    alice.send_json({"type": "privmsg", "to": "nobody", "text": "?"})
    assert alice.expect(lambda f: f["type"] == "error")["code"] == "no_such_nick"


def test_bye_is_delivered_then_sender_leaves(server):
    alice, bob = NativeClient(server.port, "alice"), NativeClient(server.port, "bob")
    bob.say("Bye!")
    assert alice.messages(1)[0]["text"] == "Bye!"
    leave = alice.expect(lambda f: f["type"] == "notice")
    assert leave["event"] == "leave" and leave["text"] == "bob left"
    rest = [json.loads(line) for line in bob.read_until_closed()]
    assert [f["type"] for f in rest][-1] == "bye"


def test_nick_change_who_me_and_help(server):
    alice, bob = NativeClient(server.port, "alice"), PlainClient(server.port, "bob")
    alice.expect(lambda f: f.get("nick") == "bob")
    alice.send_json({"type": "nick", "nick": "alicia"})
    assert alice.expect(lambda f: f["type"] == "notice")["previous"] == "alice"
    bob.expect_line(lambda line: line == b"* alice is now known as alicia")
    alice.send_json({"type": "action", "text": "waves"})
    bob.expect_line(lambda line: line == b"alicia waves")
    bob.send(b"/who\n")
    bob.expect_line(lambda line: line == b"* 2 in #lobby: alicia, bob")
    bob.send(b"/help\n")
    assert b"/msg NICK TEXT" in b"\n".join(bob.expect_line(lambda line: b"/msg" in line))
    bob.send(b"/frob\n")
    bob.expect_line(lambda line: line.startswith(b"* error: unknown command /frob"))


def test_plain_client_chats_with_native_client(server):
    native = NativeClient(server.port, "alice")
    plain = LineSocket(server.port)
    prompt = plain.read_line()
    assert b"nickname" in prompt, "a silent connection is asked for a name"
    plain.send(b"alice\r\n")  # taken: says why, asks again
    assert b"taken" in plain.read_line()
    plain.send(b"\xff\xfb\x18bob\r\n")  # telnet negotiation bytes are ignored
    plain.expect_line(lambda line: line.startswith(b"* welcome"))
    native.expect(lambda f: f.get("event") == "join" and f["nick"] == "bob")
    plain.send("héllo from nc\r\n".encode())
    msg = native.messages(1)[0]
    assert (msg["nick"], msg["text"]) == ("bob", "héllo from nc")
    native.say("hi bob \x1b]0;pwned\x07")
    assert plain.expect_line(lambda line: line.startswith(b"alice:"))[-1] == b"alice: hi bob ^[]0;pwned^G"


def test_plain_client_name_sent_before_prompt_and_final_line_without_newline(server):
    native = NativeClient(server.port, "alice")
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.sendall(b"carol\nlast words")  # name at once, final line with no newline
    raw.shutdown(socket.SHUT_WR)
    msg = native.messages(1)[0]
    assert (msg["nick"], msg["text"]) == ("carol", "last words")
    assert native.expect(lambda f: f.get("event") == "leave")["nick"] == "carol"
    raw.close()


def test_garbage_gets_error_and_session_survives(server):
    alice, bob = NativeClient(server.port, "alice"), NativeClient(server.port, "bob")
    bob.send(b"{not json\n\xff\xfe\n")
    assert bob.frame()["code"] == "invalid_frame"
    assert bob.frame()["code"] == "invalid_frame"
    bob.say("still here")
    assert alice.messages(1)[0]["text"] == "still here"


def test_nobody_is_told_of_an_arrival_their_welcome_already_listed(server):
    """Joining and telling the room are one step: someone who comes in at the
    same moment either is listed in the other's welcome or hears that they
    joined, never both (the notice was posted after the joining, so a welcome
    in between listed the person, then told of them again)."""
    clients: dict[str, NativeClient] = {}
    errors: list[BaseException] = []

    def come_in(nick: str) -> None:
        try:
            clients[nick] = NativeClient(server.port, nick)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=come_in, args=(f"p{i}",)) for i in range(18)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not errors and len(clients) == 18, errors
    last = NativeClient(server.port, "last")
    last.say("all here")
    for nick, client in clients.items():
        frames = frames_until(client, lambda f: f.get("text") == "all here")
        listed = set(client.welcome["users"])
        told = [f["nick"] for f in frames if f.get("event") == "join"]
        assert not listed & set(told), f"{nick}: welcome listed {sorted(listed)}, then told of {told}"
        assert listed | set(told) >= set(clients) | {"last"}, f"{nick} never learned of some: {listed}, {told}"


def test_oversized_frame_closes_only_that_connection():
    srv = ServerProcess("--max-frame", "1024")
    try:
        alice, bob = NativeClient(srv.port, "alice"), NativeClient(srv.port, "bob")
        bob.send(b'{"type":"say","text":"' + b"x" * 5000)
        frames = [json.loads(line) for line in bob.read_until_closed()]
        assert any(f.get("code") == "frame_too_large" for f in frames)
        alice.expect(lambda f: f.get("event") == "leave" and f["nick"] == "bob")
        alice.send_json({"type": "who"})
        assert alice.expect(lambda f: f["type"] == "users")["nicks"] == ["alice"]
    finally:
        srv.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_sigint_tells_clients_and_exits_zero_quickly(sig):
    srv = ServerProcess()
    alice = NativeClient(srv.port, "alice")
    plain = PlainClient(srv.port, "bob")
    alice.expect(lambda f: f.get("nick") == "bob")
    start = time.monotonic()
    code, err = srv.stop(sig)
    elapsed = time.monotonic() - start
    assert code == 0
    assert elapsed < 2.0
    assert "Traceback" not in err
    frames = [json.loads(line) for line in alice.read_until_closed()]
    assert any(f["type"] == "notice" and f["event"] == "shutdown" for f in frames)
    assert frames[-1] == {"type": "bye", "reason": "server shutting down"}
    assert b"* server shutting down" in plain.read_until_closed()


def test_sigusr1_prints_thread_stacks_and_the_server_goes_on(server):
    alice = NativeClient(server.port, "alice")
    bob = NativeClient(server.port, "bob")
    # A session's thread is back in its read loop a moment after the welcome: ask until it is.
    # (Everything the server printed since the first signal counts: a loaded machine may
    # deliver one dump's lines after the next signal was sent.)
    start = len(server._stderr)
    for _ in range(5):
        server.stacks()
        text = "".join(server._stderr[start:])
        if "Current thread" in text and "dispatcher.py" in text and "in _raw_recv" in text:
            break
    assert "Current thread" in text, f"{text}\n(the server's exit code, if it ended: {server.proc.poll()})"
    assert "dispatcher.py" in text and "in _raw_recv" in text, "the hub and a session are named"
    alice.say("still here")
    assert bob.expect(lambda f: f["type"] == "message")["text"] == "still here"
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err


def test_port_in_use_is_a_clear_error(server):
    import subprocess

    from helpers import program, python_env

    proc = subprocess.run(
        [*program("chatserver"), "--host", "127.0.0.1", "--port", str(server.port)],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=10,
    )
    assert proc.returncode == 1
    assert "cannot listen on 127.0.0.1" in proc.stderr and "Traceback" not in proc.stderr


def test_ipv6_dual_stack():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("IPv6 loopback unavailable")
    import subprocess

    from helpers import READY, program, python_env

    proc = subprocess.Popen(
        [*program("chatserver"), "--host", "::", "--port", "0", "--no-advertise"],  # a test stays off the LAN
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(),
    )
    try:
        port = int(READY.search(proc.stdout.readline()).group(2))
        six = NativeClient(port, "six", host="::1")
        four = NativeClient(port, "four", host="127.0.0.1")
        six.say("over v6")
        assert four.messages(1)[0]["text"] == "over v6"
    finally:
        proc.terminate()
        assert proc.wait(5) == 0


def test_shutdown_between_registration_and_welcome_sends_only_bye():
    """Regression: ``end`` during the instant after a nick is registered but
    before the Welcome went out raised LocalProtocolError in the shutdown path
    (seen once in CI as a traceback)."""
    from chatserver.net.dialects.chatport import CHAT_PORT
    from chatserver.net.server import ChatServer, ServerConfig
    from chatserver.net.session import Session

    with socket.create_server(("127.0.0.1", 0)) as listener:
        theirs = socket.create_connection(listener.getsockname())
        ours, _ = listener.accept()
    server = ChatServer(ServerConfig(host="127.0.0.1", port=0))
    try:
        session = Session(server, ours, ("127.0.0.1", 1), dialect=CHAT_PORT)
        session.participant.registered = True  # the window: registered, Welcome not yet sent
        session.end("server shutting down")
        session.outbox.close(timeout=2)
        theirs.settimeout(5)
        data = b""
        while not data.endswith(b"\n"):
            chunk = theirs.recv(4096)
            assert chunk, "closed before the bye arrived"
            data += chunk
        frames = [json.loads(line) for line in data.splitlines()]
        assert [f["type"] for f in frames] == ["bye"]
        assert frames[0]["reason"] == "server shutting down"
    finally:
        ours.close()
        theirs.close()
