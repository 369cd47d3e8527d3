"""IRCv3 ``draft/read-marker`` on the IRC port: an IRC client is one of an account's devices (real sockets).

A real server process; the IRC device logs in with SASL PLAIN on raw lines,
the native device is the client that registered the account. What one marks
read reaches the other, as ``MARKREAD`` or as ``markread``. A guest's are its
own, for its connection's life.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from helpers import NativeClient, ServerProcess
from irc_helpers import RawIrc, words_of
from test_accounts_devices import token_of
from test_irc_accounts import PASSWORD, plain, register

CAP = "draft/read-marker"


@pytest.fixture
def srv():
    server = ServerProcess("--rate-limit", "0")
    yield server
    code, err = server.stop()
    assert code == 0, err
    assert "Traceback" not in err, err


def epoch(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def irc_device(port: int, account: str, caps: str = f"sasl {CAP}") -> tuple[RawIrc, list[str]]:
    """An IRC client logged in to ``account`` with SASL PLAIN; the client and its lines up to the lobby's 366."""
    client = RawIrc(port)
    client.line("CAP LS 302")
    client.line(f"CAP REQ :{caps}")
    assert client.numeric("CAP")[3] == "LS"
    assert client.numeric("CAP")[3] == "ACK"
    client.line("AUTHENTICATE PLAIN")
    client.numeric("AUTHENTICATE")
    client.line("AUTHENTICATE " + plain(account, PASSWORD))
    client.numeric("903")
    client.line(f"NICK {account}")
    client.line("USER u 0 * :a tester")
    client.line("CAP END")
    return client, client.until(lambda w: w[1:2] == ["366"])


def markread(client: RawIrc) -> list[str]:
    """The words of the next MARKREAD or FAIL line (``:server`` first)."""
    return words_of(client.until(lambda w: w[1:2] in (["MARKREAD"], ["FAIL"]))[-1])


def marker(client: NativeClient) -> dict:
    return client.expect(lambda f: f["type"] in ("markread", "error"))


def test_markread_from_irc_reaches_the_native_device_and_back(srv):
    native, _ = token_of(srv.port, "ivy")
    register(srv.port, "kim")
    irc, burst = irc_device(srv.irc_port, "ivy")
    lobby = [words_of(line) for line in burst if words_of(line)[1:2] == ["MARKREAD"]]
    assert lobby == [[lobby[0][0], "MARKREAD", "#lobby", "*"]], "the lobby joined: its marker, none yet"

    irc.line("MARKREAD #lobby timestamp=2026-01-02T03:04:05.678Z")
    assert markread(irc)[1:] == ["MARKREAD", "#lobby", "timestamp=2026-01-02T03:04:05.678Z"], "the setter is told"
    told = marker(native)
    assert told == {"type": "markread", "target": "#lobby", "ts": epoch("2026-01-02T03:04:05.678Z")}

    irc.line("MARKREAD #LOBBY timestamp=2025-01-01T00:00:00.000Z")
    answer = markread(irc)
    assert answer[3] == "timestamp=2026-01-02T03:04:05.678Z", "a marker does not move back: the newer is told"
    assert marker(native)["ts"] == epoch("2026-01-02T03:04:05.678Z"), "the other device: the marker as kept"
    irc.line("MARKREAD #lobby")
    assert markread(irc)[2:] == ["#lobby", "timestamp=2026-01-02T03:04:05.678Z"], "asked: the one kept"

    native.send_json({"type": "markread", "target": "#lobby", "ts": epoch("2026-02-03T04:05:06.789Z")})
    assert markread(irc)[1:] == ["MARKREAD", "#lobby", "timestamp=2026-02-03T04:05:06.789Z"], "the native's"

    irc.line("MARKREAD kim timestamp=2026-03-04T05:06:07.890Z")  # (the private conversation with kim)
    assert markread(irc)[2:] == ["kim", "timestamp=2026-03-04T05:06:07.890Z"]
    assert marker(native) == {"type": "markread", "target": "@kim", "ts": epoch("2026-03-04T05:06:07.890Z")}
    native.send_json({"type": "markread", "target": "@kim", "ts": epoch("2026-04-05T06:07:08.901Z")})
    assert markread(irc)[2:] == ["kim", "timestamp=2026-04-05T06:07:08.901Z"], "@ACCOUNT is the nick"
    irc.close()
    native.close()


def test_markread_after_join_and_only_for_clients_that_asked(srv):
    native, _ = token_of(srv.port, "ivy")
    native.send_json({"type": "join", "room": "#dev"})
    native.expect(lambda f: f["type"] == "joined")
    native.send_json({"type": "markread", "target": "#dev", "ts": epoch("2026-05-06T07:08:09.012Z")})
    native.send_json({"type": "part", "room": "#dev"})  # (else the IRC device comes into #dev with the person)
    native.expect(lambda f: f["type"] == "parted")
    irc, _ = irc_device(srv.irc_port, "ivy")
    irc.line("MARKREAD #dev")  # (a channel not joined here: asking is free)
    assert markread(irc)[2:] == ["#dev", "timestamp=2026-05-06T07:08:09.012Z"]

    irc.line("JOIN #dev")
    words = [words_of(line)[1:] for line in irc.until(lambda w: w[1:2] == ["366"])]
    assert ["MARKREAD", "#dev", "timestamp=2026-05-06T07:08:09.012Z"] in words, words
    assert words.index(["MARKREAD", "#dev", "timestamp=2026-05-06T07:08:09.012Z"]) < len(words) - 1, "before 366"
    irc.line("JOIN #new")
    words = [words_of(line)[1:] for line in irc.until(lambda w: w[1:2] == ["366"])]
    assert ["MARKREAD", "#new", "*"] in words, "a channel never read: *"

    plain_irc = RawIrc(srv.irc_port, "nocap")  # (no draft/read-marker: never a MARKREAD)
    plain_irc.line("JOIN #dev")
    words = [words_of(line)[1] for line in plain_irc.until(lambda w: w[1:2] == ["366"])]
    assert "MARKREAD" not in words, words
    irc.close()
    plain_irc.close()
    native.close()


def test_a_guest_keeps_its_own_markers_and_bad_markread_lines_get_fail(srv):
    guest = RawIrc(srv.irc_port, "guest", caps=CAP)
    guest.line("CAP LS 302")
    assert CAP in guest.numeric("CAP")[-1].split()
    guest.line("MARKREAD #lobby")
    assert markread(guest)[1:] == ["MARKREAD", "#lobby", "*"], "a guest's own markers: none yet"
    guest.line("MARKREAD #lobby timestamp=2026-01-02T03:04:05.678Z")
    assert markread(guest)[1:] == ["MARKREAD", "#lobby", "timestamp=2026-01-02T03:04:05.678Z"], "kept for it"
    guest.line("MARKREAD #lobby timestamp=2025-01-01T00:00:00.000Z")
    assert markread(guest)[3] == "timestamp=2026-01-02T03:04:05.678Z", "a guest's marker does not move back either"
    guest.line("MARKREAD")
    assert markread(guest)[1:4] == ["FAIL", "MARKREAD", "NEED_MORE_PARAMS"]
    for bad in ("*", "timestamp=not-a-time", "timestamp=2026-13-40T03:04:05.678Z", "2026-01-02T03:04:05.678Z"):
        guest.line(f"MARKREAD #lobby {bad}")
        assert markread(guest)[1:4] == ["FAIL", "MARKREAD", "INVALID_PARAMS"], bad
    guest.line("JOIN #open")
    words = [words_of(line)[1:] for line in guest.until(lambda w: w[1:2] == ["366"])]
    assert ["MARKREAD", "#open", "*"] in words, "after a JOIN, as the spec says: none kept yet"
    guest.line("MARKREAD #open timestamp=2026-02-03T04:05:06.789Z")
    markread(guest)
    guest.line("PART #open")
    guest.line("JOIN #open")
    words = [words_of(line)[1:] for line in guest.until(lambda w: w[1:2] == ["366"])]
    assert ["MARKREAD", "#open", "timestamp=2026-02-03T04:05:06.789Z"] in words, "kept while it is connected"
    other = RawIrc(srv.irc_port, "other", caps=CAP)
    guest.line("MARKREAD other timestamp=2026-03-04T05:06:07.890Z")  # (a guest's conversation with a guest)
    assert markread(guest)[2:] == ["other", "timestamp=2026-03-04T05:06:07.890Z"]
    guest.line("MARKREAD nobody timestamp=2026-01-02T03:04:05.678Z")
    assert markread(guest)[1:5] == ["FAIL", "MARKREAD", "INVALID_TARGET", "nobody"], "nobody of that name here"
    other.line("MARKREAD #lobby")
    assert markread(other)[2:] == ["#lobby", "*"], "a guest's markers are its own, not another guest's"
    guest.close()
    again = RawIrc(srv.irc_port, "guest", caps=CAP)
    again.line("MARKREAD #lobby")
    assert markread(again)[2:] == ["#lobby", "*"], "not kept past its connection"
    again.close()
    other.close()

    register(srv.port, "lee")
    lee, _ = irc_device(srv.irc_port, "lee")
    lee.line("MARKREAD #elsewhere timestamp=2026-01-02T03:04:05.678Z")
    assert markread(lee)[1:5] == ["FAIL", "MARKREAD", "INVALID_TARGET", "#elsewhere"], "not in that channel"
    lee.line("MARKREAD nobody timestamp=2026-01-02T03:04:05.678Z")
    assert markread(lee)[1:5] == ["FAIL", "MARKREAD", "INVALID_TARGET", "nobody"], "no such account"
    lee.close()


def test_a_login_tells_each_kept_marker_once(srv):
    native, _ = token_of(srv.port, "ivy")
    native.send_json({"type": "join", "room": "#dev"})
    native.expect(lambda f: f["type"] == "joined")
    for room in ("#dev", "#lobby"):
        native.send_json({"type": "markread", "target": room, "ts": epoch("2026-05-06T07:08:09.012Z")})
    native.send_json({"type": "markread", "target": "#nowhere", "ts": 1.0})  # (not in it: refused, and in order)
    assert marker(native)["type"] == "error"
    irc, burst = irc_device(srv.irc_port, "ivy")
    told = [words_of(line)[2:] for line in burst if words_of(line)[1:2] == ["MARKREAD"]]
    stamp = "timestamp=2026-05-06T07:08:09.012Z"
    assert sorted(told) == [["#dev", stamp], ["#lobby", stamp]], "each kept marker once, the lobby's not again"
    irc.close()
    native.close()


def test_a_native_guest_keeps_its_own_markers(srv):
    guest = NativeClient(srv.port, "nat")
    guest.send_json({"type": "markread", "target": "#lobby", "ts": 5.0})
    guest.send_json({"type": "markread", "target": "#elsewhere", "ts": 5.0})
    refused = marker(guest)
    assert refused["type"] == "error" and refused["code"] == "not_in_room", "the first taken: only the second refused"
    guest.send_json({"type": "markread", "target": "@nobody", "ts": 5.0})
    assert marker(guest)["code"] == "no_such_account"
    guest.close()
