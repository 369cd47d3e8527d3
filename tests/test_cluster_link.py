"""The server's cluster link (Redis), as the client sees it: ``link_down`` and
``link_up`` notices, the toolbar between them, and messages the server could
not take meanwhile (``cluster_unavailable``), which wait and are sent again."""

from __future__ import annotations

import threading
import time

from fake_server import FakeServer, GateClock, notices, session_on
from helpers import TIMEOUT, client_process, kill_quietly, program, python_env, wait_for
from terminal import Terminal
from test_reconnect import read_until

from chatclient.toolbar import Facts, toolbar
from common import messages as m

DOWN = "the server lost its cluster (Redis): messages are not sent until it is back"
BACK = "the cluster is back: chat goes on"
DOWN_BAR = "cluster link down"


def link_down() -> m.Notice:
    return m.Notice(text=DOWN, ts=time.time(), event="link_down")


def link_up() -> m.Notice:
    return m.Notice(text=BACK, ts=time.time(), event="link_up")


def test_the_toolbar_shows_the_cluster_link_down_between_the_notices(tmp_path):
    fake = FakeServer()
    env = python_env()
    env.update(TERM="xterm", XDG_STATE_HOME=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    term = Terminal([*program("chatclient"), fake.address, "--name", "viewer"], env=env)
    try:
        peer = fake.accept()
        peer.greet(server="Hausnetz")
        term.wait_for(lambda t: "connected to" in t.lines[-1], what="toolbar")
        assert DOWN_BAR not in term.lines[-1]
        peer.send_msg(link_down())
        term.wait_text(f"* {DOWN}")  # printed as the server's other notices are
        term.wait_for(lambda t: DOWN_BAR in t.lines[-1], what="the link down in the toolbar")
        assert "Hausnetz" in term.lines[-1] and "connected to" in term.lines[-1]
        peer.send_msg(link_up())
        term.wait_text(f"* {BACK}")
        term.wait_for(lambda t: DOWN_BAR not in t.lines[-1] and "connected to" in t.lines[-1], what="the link back")
        term.send("/quit\r")
        peer.expect(lambda f: f["type"] == "quit")
        peer.send_msg(m.Bye("bye"))
        assert term.wait_exit() == 0
    finally:
        if term.child.isalive():
            term.child.kill(9)
        fake.close()


def test_line_mode_prints_the_link_notices():
    fake = FakeServer()
    client = client_process(fake.address, "--name", "liner")
    try:
        peer = fake.accept()
        peer.greet()
        read_until(client, "Connected to the server.")
        peer.send_msg(link_down())
        peer.send_msg(link_up())
        assert read_until(client, BACK)[-2:] == [f"* {DOWN}", f"* {BACK}"]
    finally:
        kill_quietly(client)
        fake.close()


def test_a_reconnect_forgets_the_old_nodes_link_state():
    """The node that takes us back has its cluster link (one without refuses logins)."""
    fake = FakeServer()
    session, peer, shown = session_on(fake, "rover", reconnect=True, clock=GateClock())
    try:
        peer.send_msg(link_down())
        assert wait_for(lambda: session.cluster_down)
        assert DOWN_BAR in toolbar(Facts.of(session))
        peer.close()
        again = fake.accept()
        again.greet()
        assert wait_for(lambda: session.connected and not session.cluster_down)
        assert DOWN_BAR not in toolbar(Facts.of(session))
    finally:
        session.leave(timeout=0)
        fake.close()


def _says(peer, count: int) -> list[str]:  # noqa: ANN001
    return [peer.expect(lambda f: f["type"] == "say")["text"] for _ in range(count)]


def test_messages_the_server_could_not_take_wait_for_its_cluster_and_go_in_order():
    """Refused with ``cluster_unavailable``: not confirmed, not lost. They are
    sent again, in the order typed, when the server says its link is back,
    and a later line's receipt confirms that line, not a refused one."""
    fake = FakeServer()
    session, peer, shown = session_on(fake, "typist")
    refusal = m.Error("cluster_unavailable", "the server lost its cluster: not sent")
    try:
        session.submit("one")
        session.submit("two")
        assert _says(peer, 2) == ["one", "two"]
        peer.send_msg(refusal)
        peer.send_msg(refusal)
        assert wait_for(lambda: session.cluster_down), "an error from a server without its cluster says so too"
        assert wait_for(lambda: len([t for t in notices(shown) if "when its cluster is back" in t]) == 2)
        assert session.unsent() == 2
        session.submit("three")  # the link came back in between, without a word yet: taken
        assert _says(peer, 1) == ["three"]
        peer.send_msg(m.Accepted(seq=1, ts=1.0, room="#lobby"))
        assert wait_for(lambda: session.unsent() == 2), "the receipt is three's: one and two still wait"
        peer.send_msg(link_up())
        assert _says(peer, 2) == ["one", "two"]
        assert "sending 2 message(s) the server could not take while its cluster was down" in notices(shown)
        peer.send_msg(m.Accepted(seq=2, ts=1.0, room="#lobby"))
        peer.send_msg(m.Accepted(seq=3, ts=1.0, room="#lobby"))
        assert wait_for(lambda: session.unsent() == 0)
        assert not session.cluster_down
    finally:
        session.leave(timeout=0)
        fake.close()


def test_messages_waiting_for_the_cluster_go_first_after_a_reconnect():
    """The node is lost before its link came back: the refused line goes to
    the next node first, before what was typed after it."""
    fake = FakeServer()
    clock = GateClock(open_=False)
    session, peer, shown = session_on(fake, "typist", reconnect=True, clock=clock)
    try:
        session.submit("refused")
        assert _says(peer, 1) == ["refused"]
        peer.send_msg(m.Error("cluster_unavailable", "the server lost its cluster: not sent"))
        assert wait_for(lambda: session.cluster_down)
        peer.close()
        assert wait_for(lambda: not session.connected)
        session.submit("typed while away")
        clock.gate.set()
        again = fake.accept()
        again.greet()
        assert _says(again, 2) == ["refused", "typed while away"]
    finally:
        session.leave(timeout=0)
        fake.close()


def test_an_exit_word_still_ends_the_session_while_messages_wait():
    """What waits for the cluster does not hold up leaving: bye goes out, and
    the waiting line is counted as not sent."""
    fake = FakeServer()
    session, peer, shown = session_on(fake, "typist")
    try:
        session.submit("refused")
        assert _says(peer, 1) == ["refused"]
        peer.send_msg(m.Error("cluster_unavailable", "the server lost its cluster: not sent"))
        assert wait_for(lambda: session.unsent() == 1 and session.cluster_down)
        session.submit("bye")
        assert _says(peer, 1) == ["bye"]
        peer.send_msg(m.Bye("bye"))
        leaving = threading.Thread(target=session.leave)
        leaving.start()
        leaving.join(TIMEOUT)
        assert session.ended.is_set()
        assert session.unsent() == 1
    finally:
        session.leave(timeout=0)
        fake.close()
