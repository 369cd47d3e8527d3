"""fanout.dispatch in-process with participants that record each call (order, calls per batch); the outbox's seal."""

from __future__ import annotations

import socket
import time

from chatserver.core.fanout import FOREVER, Frame, Member, Post, dispatch
from chatserver.net.outbound import Outbox
from common import messages as m


class Recorder:
    """A participant that records each call the fan-out makes, in order."""

    full = False

    def __init__(self, nick: str, wire: str | None = "native") -> None:
        self.nick, self.wire = nick, wire
        self.calls: list[tuple[str, object]] = []

    def deliver(self, frame: Frame) -> None:
        self.calls.append(("frame", frame.msg))

    def deliver_bytes(self, data: bytes) -> None:
        self.calls.append(("bytes", data))

    def got(self) -> list[m.Message]:
        """Everything it was given, decoded, in the order given."""
        out: list[m.Message] = []
        for kind, what in self.calls:
            if kind == "frame":
                out.append(what)  # type: ignore[arg-type]
            else:
                out += [m.decode(line) for line in what.splitlines()]  # type: ignore[union-attr]
        return out


ROOM_A, ROOM_B = object(), object()


def notice(text: str, room: str = "#a") -> Frame:
    return Frame(m.Notice(text=text, ts=time.time(), room=room))


def test_a_run_of_joins_reaches_a_member_there_all_along_in_one_call() -> None:
    """k people join one after the other (each greeted alone, each arrival told
    to the room): the member there before them all gets the k arrivals in one
    ``deliver_bytes``; each newcomer its greeting first, then the arrivals after its own."""
    k = 20
    old = Recorder("old")
    newcomers = [Recorder(f"n{i}") for i in range(k)]
    batch: list[Post] = []
    for i, who in enumerate(newcomers):
        batch.append(Post(None, 0, notice(f"welcome n{i}"), to=who))
        batch.append(Post(ROOM_A, i + 1, notice(f"n{i} joined"), exclude=who))
    # as the hub's snapshot has it: ``old`` since before the batch, newcomer i since its join
    members = {ROOM_A: [Member(old, 0)] + [Member(who, i) for i, who in enumerate(newcomers)]}

    dispatch(batch, members)

    assert [kind for kind, _ in old.calls] == ["bytes"]
    assert [msg.text for msg in old.got()] == [f"n{i} joined" for i in range(k)]
    for i, who in enumerate(newcomers):
        texts = [msg.text for msg in who.got()]
        assert texts == [f"welcome n{i}"] + [f"n{j} joined" for j in range(i + 1, k)]
        assert who.calls[0] == ("frame", batch[2 * i].frame.msg)  # its greeting through ``deliver``, first
        assert len(who.calls) <= 2  # the greeting, then the others' arrivals in one call


def test_order_per_subscriber_is_queue_order_with_frames_of_its_own_between_room_posts() -> None:
    """A participant sent replies between room posts, in two rooms, gets each in its place;
    one that gets only its own frames gets just those; the others are not held up."""
    both = Recorder("both")
    only_a = Recorder("only_a", "plain")
    objects = Recorder("objects", None)
    alone = Recorder("alone")
    batch = [
        Post(ROOM_A, 1, notice("a1")),
        Post(None, 0, notice("reply 1"), to=both),
        Post(ROOM_B, 1, notice("b1", "#b")),
        Post(None, 0, notice("for alone"), to=alone),
        Post(ROOM_A, 2, notice("a2")),
        Post(None, 0, notice("reply 2"), to=both),
        Post(None, 0, notice("to objects"), to=objects),
        Post(ROOM_B, 2, notice("b2", "#b")),
        Post(ROOM_A, 3, notice("a3")),
    ]
    members = {
        ROOM_A: [Member(both, 0), Member(only_a, 0), Member(objects, 0)],
        ROOM_B: [Member(both, 0)],
    }

    dispatch(batch, members)

    assert [msg.text for msg in both.got()] == ["a1", "reply 1", "b1", "a2", "reply 2", "b2", "a3"]
    assert [kind for kind, _ in only_a.calls] == ["bytes"]
    assert only_a.calls[0][1] == b"".join(p.frame.plain for p in batch if p.room is ROOM_A)
    assert [msg.text for msg in objects.got()] == ["a1", "a2", "to objects", "a3"]
    assert alone.calls == [("frame", batch[3].frame.msg)]


def test_a_leaver_with_a_reply_gets_what_was_queued_while_it_was_there_then_the_reply() -> None:
    """Left the room after post 2 (its window ends there), then was answered: posts 1-2, the answer; not 3."""
    leaver = Recorder("leaver")
    batch = [
        Post(ROOM_A, 1, notice("a1")),
        Post(ROOM_A, 2, notice("a2")),
        Post(None, 0, notice("you left"), to=leaver),
        Post(ROOM_A, 3, notice("a3")),
    ]
    dispatch(batch, {ROOM_A: [Member(leaver, 0, 2)]})
    assert [msg.text for msg in leaver.got()] == ["a1", "a2", "you left"]


def test_a_sender_with_a_reply_gets_its_receipt_in_its_message_place() -> None:
    sender = Recorder("sender")
    other = Recorder("other")
    said = Frame(m.ChatMessage(room="#a", nick="sender", text="hi", ts=1.0, seq=1))
    receipt = Frame(m.Accepted(seq=1, ts=1.0, room="#a"))
    batch = [
        Post(None, 0, notice("before"), to=sender),
        Post(ROOM_A, 1, said, exclude=sender, receipt=receipt),
        Post(None, 0, notice("after"), to=sender),
    ]
    dispatch(batch, {ROOM_A: [Member(sender, 0), Member(other, 0, FOREVER)]})
    got = sender.got()
    assert [type(msg).__name__ for msg in got] == ["Notice", "Accepted", "Notice"]
    assert [msg.text for msg in other.got()] == ["hi"]
    assert len(other.calls) == 1


def test_members_with_a_frame_of_their_own_get_the_room_cut_in_stretches_with_their_receipts() -> None:
    """Every member of two rooms sends messages and is sent frames of its own between them (an IRC
    client's first PRIVMSG: its ``Context``), the rooms' posts interleaved: each gets its room's
    posts in queue order, its own as their receipts (none for a plain one), its own frames in
    their places, in one bytes call between two of them, the bytes being the room's encoding
    itself (the same frames, the same bytes), and nothing of the other room."""
    natives = [Recorder(f"n{i}") for i in range(3)]
    plain = Recorder("p", "plain")
    in_b = [Recorder("b0"), Recorder("b1", "plain")]
    room_of = {who: ROOM_A for who in [*natives, plain]} | {who: ROOM_B for who in in_b}
    batch: list[Post] = []
    seq = {ROOM_A: 0, ROOM_B: 0}
    for turn in range(4):
        for who, room in room_of.items():
            seq[room] += 1
            n, name = seq[room], "#a" if room is ROOM_A else "#b"
            said = Frame(m.ChatMessage(room=name, nick=who.nick, text=f"{who.nick} {turn}", ts=1.0, seq=n))
            receipt = None if who.wire == "plain" else Frame(m.Accepted(seq=n, ts=1.0, room=name))
            batch.append(Post(room, n, said, exclude=who, receipt=receipt))
            if turn in (1, 2):
                batch.append(Post(None, 0, notice(f"for {who.nick} {turn}"), to=who))
    dispatch(batch, {room: [Member(who, 0) for who in room_of if room_of[who] is room] for room in (ROOM_A, ROOM_B)})

    for who, room in room_of.items():
        expected: list[tuple[str, object]] = []  # what it should be given: bytes runs, its own frames between
        for p in batch:
            if p.to is who:
                expected.append(("frame", p.frame.msg))
                continue
            if p.to is not None or p.room is not room:
                continue
            frame = p.receipt if p.exclude is who else p.frame
            if frame is None:
                continue
            data = getattr(frame, who.wire)
            if expected and expected[-1][0] == "bytes":
                expected[-1] = ("bytes", expected[-1][1] + data)
            else:
                expected.append(("bytes", data))
        assert [kind for kind, _ in expected] == ["bytes", "frame", "bytes", "frame", "bytes"]
        assert who.calls == expected, who.nick


def test_a_sealed_outbox_refuses_batches_but_not_the_last_words() -> None:
    """The hub's batches go straight to ``put_batch``; once the session sealed the
    outbox (before its ``Bye``), a batch is refused, and the ``Bye`` still goes out last."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.settimeout(10)
        box = Outbox(ours, name="peer")
        assert box.put_batch(b"batch 1\n")
        box.seal()
        assert not box.put_batch(b"batch 2\n")
        assert box.put(b"bye\n")
        assert not box.put_batch(b"batch 3\n")
        box.close(timeout=5)
        got = b""
        while not got.endswith(b"bye\n"):
            got += theirs.recv(4096)
        assert got == b"batch 1\nbye\n"


def test_a_frame_of_its_own_in_a_room_batch_costs_a_member_no_order_and_no_encoding_of_its_own() -> None:
    """A member that is sent a frame of its own (a page's "rooms changed", a welcome) in the middle of
    a room's batch gets the room's posts before it, the frame, then the posts after it, in queue
    order, its own messages as their receipts, in as few calls as the frame allows. (Its bytes are
    cut from the room's one encoding; what that saves is measured by the web bench, not here.)"""
    me, other = Recorder("me"), Recorder("other")
    batch: list[Post] = []
    said = []
    for i in range(6):
        who = me if i % 3 == 0 else other
        msg = m.ChatMessage(seq=i + 1, ts=1.0, room="#a", nick=who.nick, text=f"t{i}", action=False)
        receipt = Frame(m.Accepted(seq=i + 1, ts=1.0, room="#a"))
        said.append((who, msg))
        batch.append(Post(ROOM_A, i + 1, Frame(msg), exclude=who, receipt=receipt))
        if i == 2:
            batch.append(Post(None, 0, notice("the rooms changed"), to=me))
    dispatch(batch, {ROOM_A: [Member(me, 0), Member(other, 0)]})

    got = me.got()
    assert [type(g).__name__ for g in got] == [
        "Accepted",
        "ChatMessage",
        "ChatMessage",
        "Notice",
        "Accepted",
        "ChatMessage",
        "ChatMessage",
    ], got
    assert [g.seq for g in got if not isinstance(g, m.Notice)] == [1, 2, 3, 4, 5, 6]
    assert [kind for kind, _ in me.calls] == ["bytes", "frame", "bytes"]
    # The other member got the whole batch in one call, its own messages as receipts.
    assert [kind for kind, _ in other.calls] == ["bytes"]
    assert [type(g).__name__ for g in other.got()] == [
        "ChatMessage",
        "Accepted",
        "Accepted",
        "ChatMessage",
        "Accepted",
        "Accepted",
    ]
