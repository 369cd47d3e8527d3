"""Client-only tags (``+typing``, ``+draft/reply``) and ``TAGMSG`` on the IRC port, against a real server process.

A ``PRIVMSG``'s client-only tags travel with the message to IRC clients that asked for
``message-tags`` (and on the native wire as ``tags``); a ``TAGMSG`` reaches those IRC
clients alone, never a client without the capability nor a terminal or page user.
"""

from __future__ import annotations

import pytest
from helpers import NativeClient, ServerProcess
from irc_helpers import RawIrc, words_of


@pytest.fixture
def srv():
    server = ServerProcess("--rate-limit", "0", "--quiet-lobby")
    yield server
    code, err = server.stop()
    assert code == 0, err
    assert "Traceback" not in err, err


def tags(line: str) -> dict[str, str]:
    if not line.startswith("@"):
        return {}
    return dict(item.partition("=")[::2] for item in line[1:].split(" ", 1)[0].split(";"))


def next_of(client: RawIrc, command: str) -> str:
    return client.until(lambda w: w[1:2] == [command])[-1]


def upto_marker(client: RawIrc) -> list[str]:
    return client.until(lambda w: w[1:2] == ["PRIVMSG"] and w[-1] == "marker")


def test_client_only_tags_reach_clients_with_message_tags_and_tagmsg_no_one_else(srv):
    alice = RawIrc(srv.irc_port, "alice", caps="message-tags echo-message")
    bob = RawIrc(srv.irc_port, "bob", caps="message-tags")
    carol = RawIrc(srv.irc_port, "carol")
    for client in (alice, bob, carol):
        client.line("JOIN #test")
        client.numeric("366")
    native = NativeClient(srv.port, "nat")
    native.send_json({"type": "join", "room": "#test"})
    native.expect(lambda f: f["type"] == "joined")

    alice.line("@+typing=done;fizz=buzz;+esc=a\\:b\\sc PRIVMSG #test :hi")
    relayed, echoed = next_of(bob, "PRIVMSG"), next_of(alice, "PRIVMSG")
    assert tags(relayed) == {"+typing": "done", "+esc": "a\\:b\\sc", "msgid": tags(relayed)["msgid"]}
    assert tags(echoed) == tags(relayed), "the echo is the same message, the same msgid"
    assert not next_of(carol, "PRIVMSG").startswith("@"), "no message-tags: no tags"
    said = native.expect(lambda f: f["type"] == "message")
    assert (said["text"], said["tags"]) == ("hi", "+typing=done;+esc=a\\:b\\sc"), "the native wire carries them"

    alice.line("@+typing=active;cat=dog TAGMSG #test")
    tagged, echo = next_of(bob, "TAGMSG"), next_of(alice, "TAGMSG")
    assert words_of(tagged)[0].startswith(":alice!") and words_of(tagged)[1:] == ["TAGMSG", "#test"]
    assert tags(tagged) == {"+typing": "active", "msgid": tags(tagged)["msgid"]} and tags(echo) == tags(tagged)
    alice.line("PRIVMSG #test :marker")
    for client in (bob, carol):
        assert not [x for x in upto_marker(client)[:-1] if "TAGMSG" in x]
    assert native.expect(lambda f: f["type"] == "message")["text"] == "marker", "nothing before it for native users"

    bob.line("PRIVMSG alice :hey")
    msgid = tags(next_of(alice, "PRIVMSG"))["msgid"]
    alice.line(f"@+draft/reply={msgid} PRIVMSG bob :hey yourself")
    assert tags(next_of(bob, "PRIVMSG"))["+draft/reply"] == msgid, "private messages carry them too"
    alice.line(f"@+draft/reply={msgid} PRIVMSG carol :and you")
    assert not next_of(carol, "PRIVMSG").startswith("@")
    alice.line("@+typing=active TAGMSG bob")
    assert words_of(next_of(bob, "TAGMSG"))[1:] == ["TAGMSG", "bob"]
    alice.line("@+typing=active TAGMSG #elsewhere")
    assert alice.numeric("404")[3] == "#elsewhere", "not in it"

    longest = "@+baz=" + "a" * (4094 - len("+baz=")) + " TAGMSG #test"
    alice.line(longest)
    assert len(tags(next_of(bob, "TAGMSG"))["+baz"]) == 4089, "4,094 bytes of tags are taken"
    alice.line("@+baz=" + "a" * 4090 + " TAGMSG #test")
    assert alice.numeric("417")[1] == "417", "4,095 are not"
    alice.line("@+baz=" + "a" * 300 + " PRIVMSG #test :tagged too much")
    assert "256" in alice.numeric("417")[-1], "a message carries 256 characters of them, at most"
    for client in (alice, bob, carol, native):
        client.close()


def test_a_tagmsg_reaches_every_irc_device_of_an_account_and_the_senders_other_ones(srv):
    """TAGMSGs were relayed by name, one client a name: with two IRC devices of one account the second
    took the first's place, the sender's other device got nothing, and one device quitting left the
    other unreachable."""
    from test_irc_accounts import register
    from test_irc_readmarker import irc_device

    def typing_before(client: RawIrc, marker: str) -> int:
        lines = client.until(lambda w: w[1:2] == ["PRIVMSG"] and w[-1] == marker)
        return sum(" TAGMSG " in line for line in lines)

    register(srv.port, "kim")
    one, _ = irc_device(srv.irc_port, "kim", caps="sasl message-tags echo-message")
    two, _ = irc_device(srv.irc_port, "kim", caps="sasl message-tags echo-message")
    bob = RawIrc(srv.irc_port, "bob", caps="message-tags")
    bob.line("@+typing=active TAGMSG #lobby")
    bob.line("PRIVMSG #lobby :m1")
    assert (typing_before(one, "m1"), typing_before(two, "m1")) == (1, 1), "both devices"
    one.line("@+typing=active TAGMSG #lobby")
    one.line("PRIVMSG #lobby :m2")
    assert (typing_before(one, "m2"), typing_before(two, "m2"), typing_before(bob, "m2")) == (1, 1, 1)
    two.line("QUIT :bye")
    two.until(lambda w: w[:1] == ["ERROR"])  # (its leaving is done before its ERROR is written)
    bob.line("@+typing=paused TAGMSG #lobby")
    bob.line("PRIVMSG #lobby :m3")
    assert typing_before(one, "m3") == 1, "the device left is still reached"
    for client in (one, two, bob):
        client.close()
