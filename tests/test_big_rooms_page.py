"""Big rooms on the chat page: in a room above ``--announce-limit`` people the page still shows
how many are here (the server's room list) and the first names, and says the room crossed it."""

from __future__ import annotations

from helpers import NativeClient, ServerProcess
from test_browser import browser, page  # noqa: F401 - (the browser and its page: fixtures)


def test_the_page_counts_a_crowded_room_it_hears_no_joins_of(page):  # noqa: F811
    srv = ServerProcess("--rate-limit", "0", "--announce-limit", "2")
    try:
        page.open(srv)
        page.login("watcher")
        first = NativeClient(srv.port, "first")
        page.wait(lambda: "first" in page.el("#people").text)
        others = [NativeClient(srv.port, n) for n in ("second", "third")]  # over 2: told once, then unsaid
        page.wait_text("#lobby has over 2 people: joins and leaves are no longer announced")
        page.wait(lambda: page.entry_text("#my-rooms", "#lobby") == "#lobby (4)")  # the count is still right
        assert "second joined" not in page.messages_text() and "third joined" not in page.messages_text()
        page.wait(lambda: "second" in page.el("#people").text)  # (the crossing asked who is here)
        for c in [first, *others]:
            c.close()
    finally:
        srv.stop()
