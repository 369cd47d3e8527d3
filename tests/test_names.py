"""Nicknames and room names: invisible characters, look-alikes, reserved names."""

from __future__ import annotations

import unicodedata

import pytest
from helpers import NativeClient, PlainClient, ServerProcess
from hypothesis import given
from hypothesis import strategies as st

from common.lookalike import identity, skeleton
from common.nicks import InvalidNick, nick_key, nick_problem, validate_nick
from common.rooms import InvalidRoom, room_key, validate_room

# Issue 11 #7: each was accepted, and each draws as a name it is not (or as nothing).
INVISIBLE_NICKS = [
    "bob\u1160",  # Hangul jungseong filler: drawn in exactly the cells of "bob"
    "bob\U000e0100",  # variation selector 17
    "bob\u17b4",  # Khmer inherent vowel
    "\u3164",  # Hangul filler alone: a blank name
    "\u2800",  # braille blank
    "\u115f\u1160",  # two Hangul fillers
    "alice\u3164",
    "bob\u00ad",  # soft hyphen
    "bob\u2060",  # word joiner
    "a\u200db",  # a joiner where no script needs one
    "bob\ufe0f",
    "bob\u034f",
]


@pytest.mark.parametrize("nick", INVISIBLE_NICKS)
def test_invisible_and_blank_characters_are_refused_in_nicknames(nick):
    with pytest.raises(InvalidNick, match="invisible characters \\(U\\+"):
        validate_nick(nick)


@pytest.mark.parametrize(
    "nick",
    [
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian: a ZWNJ between joining letters
        "\u0915\u094d\u200d\u0937",  # Devanagari: ZWJ after a virama
        "\u0915\u094d\u200c\u0937",  # ZWNJ after a virama
    ],
)
def test_joiners_stay_where_a_script_needs_them(nick):
    assert validate_nick(nick) == unicodedata.normalize("NFC", nick)


def test_a_name_cannot_start_with_a_combining_mark():
    assert "combining mark" in nick_problem("\u0301bob")


def test_a_whole_script_lookalike_is_the_same_nickname():
    assert validate_nick("аӏісе") == "аӏісе", "all Cyrillic: not mixed, so allowed as a spelling"
    assert nick_key("аӏісе") == nick_key("alice") == nick_key("ALICE") == nick_key("АӀІСЕ")
    assert nick_key("a1ice") == nick_key("alice"), "digit one for l (UTS #39)"
    assert nick_key("b0b") == nick_key("Bob")
    assert nick_key("alice") != nick_key("alicia")
    assert nick_key("e\u0301") == nick_key("\u00e9")


def test_mixed_script_lookalikes_are_still_refused():
    for nick in ("аlice", "pаypal", "Вob"):
        with pytest.raises(InvalidNick, match="mix"):
            validate_nick(nick)


@pytest.mark.parametrize("room", ["#dev\u1160", "#\u3164", "#lobby\u17b4", "#dev\U000e0100"])
def test_invisible_characters_are_refused_in_room_names(room):
    with pytest.raises(InvalidRoom, match="invisible"):
        validate_room(room)


def test_room_lookalikes_are_refused_or_the_same_room():
    with pytest.raises(InvalidRoom, match="mix"):
        validate_room("#ӏоbby")  # Cyrillic ӏ and о with Latin bby
    assert room_key(validate_room("#сое")) == room_key("#coe"), "all-Cyrillic look-alike"
    assert room_key("#Lobby") == room_key("#lobby")


@given(st.text(max_size=12))
def test_identity_is_stable_and_ignores_case(text):
    key = identity(text)
    assert identity(key) == key, "a key is its own key"
    assert identity(text.casefold()) == key
    assert skeleton(skeleton(text)) == skeleton(text)


# --- with a real server -----------------------------------------------------------


def test_a_lookalike_of_a_taken_nickname_is_taken(server):
    alice = NativeClient(server.port, "alice")
    with pytest.raises(RuntimeError, match="nick_taken"):
        NativeClient(server.port, "аӏісе")
    bob = PlainClient(server.port, "bob")
    bob.send("/nick аӏісе\r\n".encode())
    assert b"is taken" in bob.expect_line(lambda line: line.startswith(b"* error"))[-1]
    for nick in INVISIBLE_NICKS[:7]:
        with pytest.raises(RuntimeError, match="invalid_nick"):
            NativeClient(server.port, nick)
    assert alice.welcome["nick"] == "alice"


def test_a_lookalike_of_an_operator_name_needs_the_operator_password(tmp_path):
    secret = tmp_path / "op-password"
    secret.write_text("s3cret\n")
    srv = ServerProcess("--op", "alice", "--op-password-file", str(secret))
    try:
        with pytest.raises(RuntimeError, match="password_required"):
            NativeClient(srv.port, "аӏісе")
        mallory = NativeClient(srv.port, "mallory")
        mallory.send_json({"type": "nick", "nick": "АӀІСЕ"})
        assert mallory.expect(lambda f: f["type"] == "error")["code"] == "nick_reserved"
    finally:
        srv.stop()


def test_room_lookalikes_over_the_wire(server):
    alice = NativeClient(server.port, "alice")
    alice.send_json({"type": "join", "room": "#coe"})
    alice.expect(lambda f: f["type"] == "joined")
    bob = NativeClient(server.port, "bob")
    for bad in ("#ӏоbby", "#dev\u1160"):
        bob.send_json({"type": "join", "room": bad})
        assert bob.expect(lambda f: f["type"] == "error")["code"] == "invalid_room", bad
    bob.send_json({"type": "join", "room": "#сое"})  # all Cyrillic: the same room as #coe
    joined = bob.expect(lambda f: f["type"] == "joined")
    assert joined["room"] == "#coe" and "alice" in joined["users"]
