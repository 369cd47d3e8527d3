"""``/mode`` and ``/invite`` from the terminal client, the page's lines and nc (issue 21): real server, real
client processes, a raw IRC client in the same rooms; the permissions and effects are IRC's."""

from __future__ import annotations

import pytest
from helpers import NativeClient, PlainClient, client_process
from irc_helpers import RawIrc, words_of
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from test_reconnect import read_until

from chatclient.completion import ChatCompleter


@pytest.fixture(scope="module")
def srv(make_module_server):
    """Rooms' makers are their operators, as IRC users expect."""
    return make_module_server("--rate-limit", "0", "--room-operators", "--quiet-lobby", "--max-per-ip", "200")


def typed(proc, *lines: str) -> None:
    proc.stdin.write("".join(f"{line}\n" for line in lines))
    proc.stdin.flush()


def mode_line(irc: RawIrc) -> list[str]:
    """The words of the next MODE line an IRC client reads, from its room on."""
    return words_of(irc.until(lambda w: w[1:2] == ["MODE"])[-1])[2:]


def native_join(client: NativeClient, room: str, **more) -> dict:
    client.send_json({"type": "join", "room": room, **more})
    return client.expect(lambda f: f["type"] in ("joined", "error"))


def test_a_terminal_rooms_maker_sets_its_modes_and_irc_sees_them_and_the_other_way(srv):
    tess = client_process(srv.address, "--name", "tess")
    irc = RawIrc(srv.irc_port, "ircy")
    try:
        read_until(tess, "Connected to the server.")
        typed(tess, "/join #den")
        read_until(tess, "you are in #den")
        irc.line("JOIN #den")
        assert "@tess" in irc.numeric("353")[-1].split(), "the terminal user made the room: its operator"
        typed(tess, "/mode +t")
        assert mode_line(irc) == ["#den", "+t"]
        irc.line("MODE #den +m")  # not an operator of #den: refused as IRC refuses it
        assert irc.numeric("482")[3] == "#den"
        typed(tess, "/mode +o ircy")
        assert mode_line(irc) == ["#den", "+o", "ircy"]
        assert any("+o" in line and "ircy" in line for line in read_until(tess, "+o"))
        irc.line("MODE #den +k beer")  # now an operator: the terminal user sees it
        said = read_until(tess, "ircy set the modes of #den")[-1]
        assert "+k beer" in said, said
        typed(tess, "/mode")
        shown = read_until(tess, "modes of #den:")[-1]
        assert "+" in shown and "t" in shown.split(":")[1] and "beer" in shown, shown
        stranger = NativeClient(srv.port, "stranger")
        assert native_join(stranger, "#den")["code"] == "bad_key"
        assert native_join(stranger, "#den", key="beer")["type"] == "joined"
        stranger.close()
    finally:
        tess.stdin.close()
        tess.wait(10)
        irc.close()


def test_mode_from_someone_not_an_operator_is_refused_and_changes_nothing(srv):
    maker = NativeClient(srv.port, "maker")
    assert native_join(maker, "#kept")["type"] == "joined"
    other = client_process(srv.address, "--name", "other")
    try:
        read_until(other, "Connected to the server.")
        typed(other, "/join #kept", "/mode +s")
        refused = read_until(other, "change its modes")[-1]
        assert "only the operators of #kept" in refused, refused
        typed(other, "/mode #kept")
        shown = read_until(other, "modes of #kept:")[-1]
        assert "s" not in shown.split(":")[1].split()[0], shown
        typed(other, "/mode +k")  # a key without its value: said so, nothing sent to the rules
        assert "+k needs a value" in read_until(other, "needs a value")[-1]
    finally:
        other.stdin.close()
        other.wait(10)
        maker.close()


def test_invite_from_the_terminal_lets_someone_into_an_invite_only_room_and_irc_invites_too(srv):
    host = client_process(srv.address, "--name", "host")
    guest = NativeClient(srv.port, "guest")
    irc = RawIrc(srv.irc_port, "ircop")
    try:
        read_until(host, "Connected to the server.")
        typed(host, "/join #club", "/mode +i")
        read_until(host, "+i")
        assert native_join(guest, "#club")["code"] == "invite_only"
        typed(host, "/invite guest")
        assert "guest is invited to #club" in read_until(host, "is invited to")[-1]
        told = guest.expect(lambda f: f.get("event") == "invite")
        assert told["nick"] == "host" and told["invited_to"] == "#club"
        assert native_join(guest, "#club")["type"] == "joined"
        irc.line("JOIN #club")
        assert irc.numeric("473")[3] == "#club", "invite-only for IRC users as well"
        typed(host, "/invite ircop #club")
        invite = words_of(irc.until(lambda w: w[1:2] == ["INVITE"])[-1])
        assert invite[0].startswith(":host!") and invite[2:] == ["ircop", "#club"]
        irc.line("JOIN #club")
        assert "ircop" in [w.lstrip("@+") for w in irc.numeric("353")[-1].split()]
        irc.line("INVITE nobodyhere #club")
        assert irc.numeric("401")
    finally:
        host.stdin.close()
        host.wait(10)
        guest.close()
        irc.close()


def test_page_and_nc_lines_reach_the_same_commands(srv):
    """The page sends ``line`` frames as typed, as an nc user's lines are: both parse to the same messages."""
    page = NativeClient(srv.port, "pageuser")
    nc = PlainClient(srv.port, "ncuser")
    try:
        assert native_join(page, "#paged")["type"] == "joined"
        page.send_json({"type": "line", "text": "/mode +m", "room": "#paged"})
        told = page.expect(lambda f: f.get("event") == "mode")
        assert told["mode"] == "+m" and told["nick"] == "pageuser" and told["room"] == "#paged"
        page.send_json({"type": "line", "text": "/mode #paged +b"})
        assert page.expect(lambda f: f.get("event") == "bans")["text"] == "nobody is banned from #paged"
        page.send_json({"type": "line", "text": "/invite ncuser"})
        assert page.expect(lambda f: f.get("event") == "invited")["text"] == "ncuser is invited to #paged"
        seen = nc.expect_line(lambda line: b"invites you to #paged" in line)
        assert seen[-1].startswith(b"* pageuser invites you")
        nc.send(b"/join #paged\n/mode +t\n")
        assert b"only the operators of #paged" in nc.expect_line(lambda line: b"operators" in line)[-1]
    finally:
        page.close()
        nc.close()


def test_tab_completes_the_new_commands_and_invite_takes_a_name():
    completer = ChatCompleter(nicks=lambda: ["bob"], rooms=lambda: ["#den"], correspondents=lambda: [])

    def tab(text: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(text), CompleteEvent(completion_requested=True))]

    assert tab("/mo") == ["/mode "] and tab("/inv") == ["/invite "] and tab("/pri") == ["/privates "]
    assert tab("/invite b") == ["bob"]
