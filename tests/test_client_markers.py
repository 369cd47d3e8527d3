"""The terminal client's read markers (issue 23), in-process: what is shown is marked read for the
account's other devices, a busy room a marker a second, and the last message of a second is marked
when the second is over (it was dropped: the last lines of a burst stayed unread on the other devices)."""

from __future__ import annotations

from fake_server import FakeServer, GateClock, session_on
from helpers import ManualClock, wait_for

from chatclient.inbound import MARK_EVERY, Inbound
from chatclient.windows import Windows
from common import messages as m


class Sent:
    """The outbox, as the inbound side uses it for markers."""

    def __init__(self) -> None:
        self.frames: list[m.Message] = []

    def urgent(self, msg: m.Message) -> None:
        self.frames.append(msg)


def _inbound(clock: ManualClock, later: list) -> tuple[Inbound, Sent]:
    welcome = m.Welcome(1, "s", "ann", "#lobby", ["ann"])
    sent = Sent()
    inbound = Inbound(
        welcome,
        sent,  # type: ignore[arg-type]
        Windows(welcome),
        show=lambda msg: None,
        changed=lambda: None,
        info=lambda text: None,
        cluster_link=lambda up: None,
        answer_ping=lambda ping: None,
        clock=clock,
        schedule=lambda delay, action: later.append((clock.now + delay, action)),
    )
    return inbound, sent


def test_a_burst_is_marked_at_its_first_message_and_at_its_last_when_the_second_is_over():
    clock, later = ManualClock(100.0), []
    inbound, sent = _inbound(clock, later)
    inbound.account = lambda: "ann"  # (logged in)
    inbound.mark("#dev", 1.0, every=MARK_EVERY)
    clock.now += 0.2
    inbound.mark("#dev", 2.0, every=MARK_EVERY)
    clock.now += 0.2
    inbound.mark("#dev", 3.0, every=MARK_EVERY)
    assert [x.ts for x in sent.frames] == [1.0], "one a second"
    assert [when for when, _ in later] == [101.0], "the rest when the second is over, once"
    clock.now = later[0][0]
    later.pop()[1]()
    assert [(x.target, x.ts) for x in sent.frames] == [("#dev", 1.0), ("#dev", 3.0)], "the last of the burst"


def test_a_guest_marks_nothing():
    clock, later = ManualClock(100.0), []
    inbound, sent = _inbound(clock, later)
    inbound.mark("#dev", 1.0, every=MARK_EVERY)
    assert sent.frames == [] and later == []


def test_a_login_refused_on_reconnecting_leaves_a_guest_that_marks_nothing():
    """The client's "logged in" is its account's, asked, not a copy kept beside it: the remembered
    login refused after a lost link made the session a guest, but the copy still said logged in
    and the guest sent read markers the server would refuse, one a second."""
    fake = FakeServer()
    session, peer, shown = session_on(fake, "ann", reconnect=True, clock=GateClock())
    try:
        peer.send_msg(m.LoggedIn(account="ann", token="tok-1"))
        assert wait_for(lambda: session.account.account == "ann")
        peer.close()
        again = fake.accept()
        assert again.expect(lambda f: f["type"] == "hello")["login_token"] == "tok-1"
        again.send_msg(m.Error("bad_login", "that login token is not valid"))
        third = fake.accept()
        assert "login_token" not in third.greet(), "the refused login is forgotten: back as a guest"
        third.send_msg(m.ChatMessage(seq=1, ts=5.0, room="#lobby", nick="bob", text="to a guest"))
        third.send_msg(m.Ping("after"))
        assert third.expect(lambda f: f["type"] in ("markread", "pong"))["type"] == "pong", "a guest marks nothing"
        third.send_msg(m.LoggedIn(account="ann", token="tok-2"))  # (logged in again: marks again)
        third.send_msg(m.ChatMessage(seq=2, ts=6.0, room="#lobby", nick="bob", text="to ann"))
        marked = third.expect(lambda f: f["type"] == "markread")
        assert (marked["target"], marked["ts"]) == ("#lobby", 6.0)
    finally:
        session.leave(timeout=0)
        fake.close()
