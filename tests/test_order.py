"""Every frame to one connection goes out in the order the server decided it, across rooms too.

A batch the dispatcher takes may hold posts to several rooms; a connection in
more than one of them gets its share in the order the posts were stamped (not
room by room), on every wire format, acks included (issue 27).
"""

from __future__ import annotations

import re

import pytest
from fake_server import FakeServer, GateClock, session_on
from helpers import Member, NativeClient, PlainClient, run_client, wait_for

from chatserver.core.fanout import Frame
from chatserver.core.hub import LocalHub
from common import messages as m

ROOMS = ("#a", "#b")
LINES = 120  # per sender: enough that the dispatcher takes batches holding both rooms


def _join(client: NativeClient, room: str) -> None:
    client.send_json({"type": "join", "room": room})
    client.expect(lambda f: f["type"] == "joined" and f["room"] == room)


def _in_order(numbers: list[int]) -> list[tuple[int, int]]:
    """The places where a number follows a larger one (empty when in order)."""
    return [(a, b) for a, b in zip(numbers, numbers[1:], strict=False) if b < a]


def test_a_connection_in_several_rooms_gets_interleaved_lines_and_acks_in_stamped_order(server):
    """Two senders each alternate their lines between #a and #b without waiting;
    each sender's lines are stamped in the order it sent them, so every reader
    in both rooms (native and plain) sees each sender's lines in that order, and
    each sender gets its acks in that order."""
    senders = [NativeClient(server.port, name) for name in ("s1", "s2")]
    reader = NativeClient(server.port, "reader")
    for client in (*senders, reader):
        for room in ROOMS:
            _join(client, room)
    nc = PlainClient(server.port, "nc")
    for room in ROOMS:
        nc.send(f"/join {room}\r\n".encode())
        nc.expect_line(lambda line, room=room: line.startswith(f"* you are in {room}".encode()))
    for i in range(LINES):
        for sender in senders:
            sender.send_json({"type": "say", "room": ROOMS[i % 2], "text": f"{sender.welcome['nick']} {i}"})

    for sender in senders:
        acks = [sender.expect(lambda f: f["type"] == "accepted") for _ in range(LINES)]
        rooms = [ack["room"] for ack in acks]
        assert rooms == [ROOMS[i % 2] for i in range(LINES)], f"{sender.welcome['nick']}'s acks: {rooms}"

    seen: dict[str, list[int]] = {"s1": [], "s2": []}
    for f in reader.messages(2 * LINES):
        nick, number = f["text"].split()
        assert f["room"] == ROOMS[int(number) % 2]
        seen[nick].append(int(number))
    for nick, numbers in seen.items():
        assert _in_order(numbers) == [], f"the native reader got {nick}'s lines out of order: {numbers}"

    shown: dict[str, list[int]] = {"s1": [], "s2": []}
    pattern = re.compile(rb"\[(#a|#b)\] (s1|s2): (s1|s2) (\d+)")
    while sum(map(len, shown.values())) < 2 * LINES:
        found = pattern.fullmatch(nc.read_line())
        if found:
            shown[found.group(2).decode()].append(int(found.group(4)))
    for nick, numbers in shown.items():
        assert _in_order(numbers) == [], f"the plain reader was shown {nick}'s lines out of order: {numbers}"


class _Recorder(Member):
    """A member whose frames for it alone are recorded among its room frames, in the order given."""

    def deliver(self, frame: Frame) -> None:
        self.data += frame.native


def test_a_batch_over_several_rooms_reaches_each_member_in_queue_order():
    """The same in one process, one batch for certain: the dispatcher takes
    everything queued while the hub's lock was held. Members of one room, of
    both, a sender in both, one that left a room midway, on every wire."""
    hub = LocalHub()
    both, plain, objects, only_a, only_b, leaver, gone = (
        _Recorder("both"),
        Member("plain", "plain_rooms"),
        Member("objects", None),
        Member("only_a"),
        Member("only_b", "plain"),
        Member("leaver"),
        Member("gone"),
    )
    for sub in (both, plain, objects, only_a, leaver, gone):
        hub.enter(sub, sub.nick, "#a", lambda g: None)
    hub.enter(only_b, only_b.nick, "#b", lambda g: None)
    for sub in (both, plain, objects, leaver, gone):
        hub.join("#b", sub)
    ack = lambda msg: m.Accepted(seq=msg.seq, ts=msg.ts, room=msg.room)  # noqa: E731

    def say(room: str, text: str, sender: Member | None = None) -> None:
        hub.publish(
            room,
            lambda seq, ts: m.ChatMessage(seq=seq, ts=ts, room=room, nick=sender.nick if sender else "x", text=text),
            exclude=sender,
            receipt=ack if sender is not None else None,
        )

    said = [(ROOMS[i % 2], both if i % 3 == 0 else gone if i in (4, 5) else None, str(i)) for i in range(12)]
    with hub._lock:  # one batch
        for i, (room, sender, text) in enumerate(said):
            say(room, text, sender)
            if i == 7:
                hub.part("#a", leaver)  # it still gets what #a was sent while it was there
        hub.send_to(both, Frame(m.Notice(text="direct", ts=0)))  # after all of it
        say("#b", "12")
        hub.unregister(gone)  # disconnected before its lines were dispatched: it still gets its acks
    said.append(("#b", None, "12"))
    assert hub.flush(timeout=5)

    def texts(data: bytes) -> list[str]:
        out = []
        for line in data.splitlines():
            msg = m.decode(line)
            out.append(f"ack {msg.room} {msg.seq}" if isinstance(msg, m.Accepted) else msg.text)
        return out

    def plain_line(room: str, sender: Member | None, text: str, with_room: bool) -> str:
        return f"{f'[{room}] ' if with_room else ''}{sender.nick if sender else 'x'}: {text}"

    expected = [f"ack {ROOMS[i % 2]} {i // 2 + 1}" if i % 3 == 0 else str(i) for i in range(12)]
    assert texts(both.data) == [*expected, "direct", "12"]
    assert [f.text for f in objects.frames] == [text for _, _, text in said]
    assert plain.data.decode().splitlines() == [plain_line(*x, with_room=True) for x in said]
    assert texts(only_a.data) == [text for room, _, text in said if room == "#a"]
    assert only_b.data.decode().splitlines() == [plain_line(*x, with_room=False) for x in said if x[0] == "#b"]
    assert texts(leaver.data) == [text for i, (room, _, text) in enumerate(said) if room == "#b" or i < 8]
    assert texts(gone.data) == ["ack #a 3", "ack #b 3"]


def test_the_client_pairs_an_accepted_with_the_line_sent_to_its_room():
    """Acks follow the order the server stamped, which across rooms need not be
    the order sent: an ``accepted`` for #dev confirms the line sent to #dev even
    when a line to the lobby went before it, and that one is sent again after a
    reconnect (not the confirmed one a second time)."""
    fake = FakeServer()
    clock = GateClock(open_=False)
    session, peer, _ = session_on(fake, "typist", reconnect=True, clock=clock)
    try:
        peer.send_msg(m.Joined(room="#dev", topic="", users=["typist"], replay=0, epoch="e", seq=0))
        assert wait_for(lambda: session.room == "#dev")
        session.submit("/say #lobby to the lobby")
        session.submit("to dev")
        assert [peer.expect(lambda f: f["type"] == "say")["text"] for _ in range(2)] == ["to the lobby", "to dev"]
        peer.send_msg(m.Accepted(seq=1, ts=1.0, room="#dev"))
        assert wait_for(lambda: session.unsent() == 1)
        peer.close()
        assert wait_for(lambda: not session.connected)
        clock.gate.set()  # the reconnect may begin
        again = fake.accept()
        again.greet(room="#dev")
        resent = again.expect(lambda f: f["type"] == "say")
        assert (resent["text"], resent.get("room")) == ("to the lobby", "#lobby")
    finally:
        session.leave(timeout=0)
        fake.close()


# --- a line typed after /join or /part goes where they lead (issue 27.2) -----------------------


@pytest.mark.parametrize(
    ("typed", "room"),
    [
        ("/join #dev\n/part #lobby\nhello\n", "#dev"),  # another room: the focus stays
        ("/join #ops\n/join #dev\n/part\nhello\n", "#ops"),  # the focused one: where the server says
    ],
    ids=["part-another", "part-focused"],
)
def test_a_piped_line_after_part_goes_where_the_part_leads(server, typed, room):
    """``/part #lobby`` while focused on #dev keeps the focus on #dev, and
    leaving the focused #dev focuses #ops (the room joined last): the line
    typed next is for that room, not held as one typed for the lobby."""
    watcher = NativeClient(server.port, "watcher")
    _join(watcher, room)
    done = run_client(server.address, "--name", "bot1", input=typed)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "held" not in done.stdout + done.stderr
    said = watcher.messages(1)[0]
    assert (said["room"], said["nick"], said["text"]) == (room, "bot1", "hello")
