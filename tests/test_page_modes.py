"""``/mode`` and ``/invite`` typed on the chat page (issue 21), in the real browser the suite uses (headless
Chromium, Selenium): the page sends lines as typed and the server parses them; an IRC client in the room
sees the change as a MODE line, and the page sees an IRC operator's."""

from __future__ import annotations

import pytest
from helpers import NativeClient
from irc_helpers import RawIrc, words_of
from test_browser import browser, page  # noqa: F401 - (the browser and its page: fixtures)


@pytest.fixture
def srv(make_server):
    return make_server("--rate-limit", "0", "--room-operators", "--quiet-lobby")


def test_modes_and_invitations_typed_on_the_page(page, srv):  # noqa: F811
    page.open(srv)
    page.login("paige")
    page.say("/join #studio")
    page.wait_text("now in #studio")
    irc = RawIrc(srv.irc_port, "ircer")
    guest = NativeClient(srv.port, "guest")
    try:
        irc.line("JOIN #studio")
        assert "@paige" in irc.numeric("353")[-1].split(), "the page's user made the room: its operator"
        page.say("/mode +i")
        assert words_of(irc.until(lambda w: w[1:2] == ["MODE"])[-1])[2:] == ["#studio", "+i"]
        page.wait_text("paige set the modes of #studio: +i")
        guest.send_json({"type": "join", "room": "#studio"})
        assert guest.expect(lambda f: f["type"] in ("joined", "error"))["code"] == "invite_only"
        page.say("/invite guest")
        page.wait_text("guest is invited to #studio")
        assert guest.expect(lambda f: f.get("event") == "invite")["invited_to"] == "#studio"
        page.say("/mode +o ircer")
        irc.until(lambda w: w[1:2] == ["MODE"] and w[3:4] == ["+o"])
        irc.line("MODE #studio +t")
        page.wait_text("ircer set the modes of #studio: +t")
        page.say("/mode")
        page.wait_text(
            "modes of #studio: +int: i (only those invited join), n (only those in it speak in it),"
            " t (only its operators set the topic)"
        )
    finally:
        irc.close()
        guest.close()
