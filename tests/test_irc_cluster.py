"""The IRC port on cluster nodes: an IRC user on one node talks with people on another, as the other ways in do."""

from __future__ import annotations

from helpers import NativeClient
from irc_helpers import RawIrc, words_of


def test_irc_user_on_one_node_reaches_people_on_another(make_nodes):
    a, b = make_nodes(2)
    assert a.irc_port and b.irc_port
    irc = RawIrc(a.irc_port, "ircnode", caps="echo-message")
    native = NativeClient(b.port, "remote")
    try:
        native.send_json({"type": "join", "room": "#span"})
        native.expect(lambda f: f["type"] == "joined")
        irc.line("JOIN #span")
        irc.numeric("366")
        native.expect(lambda f: f.get("event") == "join" and f.get("nick") == "ircnode")
        irc.line("PRIVMSG #span :hello other node")
        got = native.expect(lambda f: f["type"] == "message")
        assert (got["nick"], got["text"]) == ("ircnode", "hello other node")
        echoed = words_of(irc.until(lambda w: w[1:2] == ["PRIVMSG"])[-1])
        assert echoed[3] == "hello other node"
        native.send_json({"type": "say", "text": "hello irc", "room": "#span"})
        assert words_of(irc.until(lambda w: w[1:2] == ["PRIVMSG"])[-1])[2:] == ["#span", "hello irc"]
        irc.line("PRIVMSG remote :psst")
        private = native.expect(lambda f: f["type"] == "private")
        assert (private["nick"], private["text"]) == ("ircnode", "psst")
        irc.line("WHOIS remote")
        assert irc.numeric("311")[3] == "remote"
    finally:
        irc.close()
        native.close()
