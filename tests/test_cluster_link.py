"""The server's cluster link (Redis), as the client sees it: ``link_down`` and
``link_up`` notices and the toolbar between them."""

from __future__ import annotations

import time

from fake_server import FakeServer, GateClock, session_on
from helpers import client_process, kill_quietly, program, python_env, wait_for
from terminal import Terminal
from test_reconnect import read_until

from chatclient.ui import toolbar
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
        assert DOWN_BAR in toolbar(session)
        peer.close()
        again = fake.accept()
        again.greet()
        assert wait_for(lambda: session.connected and not session.cluster_down)
        assert DOWN_BAR not in toolbar(session)
    finally:
        session.leave(timeout=0)
        fake.close()
