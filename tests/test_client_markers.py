"""The terminal client's read markers (issue 23), in-process: what is shown is marked read for the
account's other devices, a busy room a marker a second, and the last message of a second is marked
when the second is over (it was dropped: the last lines of a burst stayed unread on the other devices)."""

from __future__ import annotations

from helpers import ManualClock

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
    inbound.marking = True
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
