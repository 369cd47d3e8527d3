"""The SQLite store's commit beside the fan-out: a receipt only after its commit, nobody else waiting for it.

The commit runs on a thread of the dispatcher's own (``core/dispatcher.py``);
these tests hold it at a gate inside a real store file's ``commit`` and look
at the file itself when a sender is told its message was accepted.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from helpers import Member, python_env

from chatserver.backends.store import SqliteStore
from chatserver.core.fanout import Frame
from chatserver.core.hub import LocalHub
from common import messages as m
from common.rooms import room_key

TIMEOUT = 10.0


class GatedStore(SqliteStore):
    """A real store whose commits wait at a gate the test opens."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.waiting = threading.Event()  # a commit has reached the gate

    def commit(self) -> set[tuple[str, int]]:
        if self._pending():
            self.waiting.set()
            assert self.gate.wait(TIMEOUT), "the test never opened the gate"
        return super().commit()


def _kept(path, room: str, seq: int) -> bool:  # noqa: ANN001
    """Whether the file (read on a connection of its own) holds message ``seq`` of ``room``."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        query = "SELECT count(*) FROM messages WHERE room = ? AND seq = ?"
        return db.execute(query, (room_key(room), seq)).fetchone()[0] == 1
    finally:
        db.close()


class Recorder(Member):
    """A member that notes each frame it gets and, for a receipt, whether the file held its message then."""

    def __init__(self, nick: str, path, expect: int = 0) -> None:  # noqa: ANN001
        super().__init__(nick)
        self.path = path
        self.got: list[tuple[str, int, bool | None]] = []  # (type, seq, kept in the file when it came)
        self.expect = expect
        self.all_in = threading.Event()

    def deliver_bytes(self, data: bytes) -> None:
        for line in data.splitlines():
            self._note(m.decode(line))

    def deliver(self, frame: Frame) -> None:  # (a frame for it alone)
        self._note(frame.msg)

    def _note(self, msg: m.Message) -> None:
        if isinstance(msg, m.Accepted):
            self.got.append(("accepted", msg.seq, _kept(self.path, msg.room, msg.seq)))
        elif isinstance(msg, m.ChatMessage):
            self.got.append(("message", msg.seq, None))
        if len(self.got) >= self.expect:
            self.all_in.set()


def _say(hub: LocalHub, sender: Member, text: str) -> None:
    hub.publish(
        "#lobby",
        lambda seq, ts: m.ChatMessage(seq=seq, ts=ts, room="#lobby", nick=sender.nick, text=text),
        exclude=sender,
        receipt=lambda msg: m.Accepted(seq=msg.seq, ts=msg.ts, room=msg.room),
    )


def test_a_receipt_waits_for_its_commit_and_nobody_else_does(tmp_path):
    """While the commit of alice's message is held at the gate, bob (who sent
    nothing) gets it, and gets carol's next one too; alice and carol get
    nothing queued after their own messages yet: not their receipts, nor what
    follows them (their order holds); carol got alice's, sent before hers.
    Opened, alice gets her receipt, then carol's message, and the file held
    each message when its receipt came."""
    path = tmp_path / "chat.sqlite3"
    store = GatedStore(path, room_key=room_key)
    hub = LocalHub(broker=store)
    try:
        alice, carol = Recorder("alice", path, expect=2), Recorder("carol", path, expect=2)
        bob = Recorder("bob", path, expect=2)
        for sub in (alice, bob, carol):
            hub.enter(sub, sub.nick, "#lobby", lambda g: None)
        _say(hub, alice, "first")
        assert store.waiting.wait(TIMEOUT)
        _say(hub, carol, "second")
        assert bob.all_in.wait(TIMEOUT), f"bob waited for a commit: got {bob.got}"
        assert bob.got == [("message", 1, None), ("message", 2, None)]
        assert not _kept(path, "#lobby", 1)  # (the gate holds: nothing is committed yet)
        assert alice.got == [] and carol.got == [("message", 1, None)]
        assert not hub.flush(timeout=0.05)  # held shares are not yet handed out

        store.gate.set()
        assert hub.flush(timeout=TIMEOUT)
        assert alice.got == [("accepted", 1, True), ("message", 2, None)]
        assert carol.got == [("message", 1, None), ("accepted", 2, True)]
        assert bob.got == [("message", 1, None), ("message", 2, None)]
    finally:
        store.gate.set()
        hub.close()


def test_a_reply_to_a_sender_waiting_for_its_receipt_comes_after_it(tmp_path):
    """A frame for alice alone, sent while her receipt waits for its commit, is not sent
    at once (as it would be to someone with nothing queued): it follows the receipt."""
    path = tmp_path / "chat.sqlite3"
    store = GatedStore(path, room_key=room_key)
    hub = LocalHub(broker=store)
    try:
        alice = Recorder("alice", path)
        hub.enter(alice, "alice", "#lobby", lambda g: None)
        _say(hub, alice, "hello")
        assert store.waiting.wait(TIMEOUT)
        hub.send_to(alice, Frame(m.ChatMessage(seq=0, ts=0, room="#lobby", nick="bob", text="to you")))
        assert alice.got == []
        store.gate.set()
        assert hub.flush(timeout=TIMEOUT)
        assert alice.got == [("accepted", 1, True), ("message", 0, None)]
    finally:
        store.gate.set()
        hub.close()


_KILLED = """
import os, sys, threading
sys.path.insert(0, sys.argv[3])
from helpers import Member
from chatserver.backends.store import SqliteStore
from chatserver.core.hub import LocalHub
from common import messages as m
from common.rooms import room_key

class Stuck(SqliteStore):
    def commit(self):
        if self._pending() and sys.argv[2] == "delivered":
            threading.Event().wait()  # a commit that never ends: the process is killed in it
        return super().commit()

class Bob(Member):
    got = threading.Event()
    def deliver_bytes(self, data):
        super().deliver_bytes(data)
        self.got.set()

hub = LocalHub(broker=Stuck(sys.argv[1], room_key=room_key))
alice, bob = Member("alice"), Bob("bob")
for sub in (alice, bob):
    hub.enter(sub, sub.nick, "#dev", lambda g: None)
hub.publish(
    "#dev",
    lambda seq, ts: m.ChatMessage(seq=seq, ts=ts, room="#dev", nick="alice", text="hello"),
    exclude=alice,
    receipt=lambda msg: m.Accepted(seq=msg.seq, ts=msg.ts, room=msg.room),
)
assert bob.got.wait(10), "bob got alice's message"
if sys.argv[2] == "committed":
    assert hub.flush(10) and b"accepted" in alice.data
print(hub.epoch("#dev"), flush=True)
os._exit(0)  # killed: nothing closed
"""


def _killed(path, state: str) -> str:  # noqa: ANN001
    """A process whose hub delivers alice's message to bob, on the store at ``path``, and dies
    with it ``committed`` (alice acknowledged) or ``delivered`` only (mid-commit); its epoch."""
    tests = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", _KILLED, str(path), state, tests],
        env=python_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_a_server_killed_with_everything_committed_keeps_the_numbering(tmp_path):
    path = tmp_path / "chat.sqlite3"
    epoch = _killed(path, "committed")
    assert _killed(path, "committed") == epoch
    store = SqliteStore(path, room_key=room_key)
    try:
        assert (store.room("#dev").epoch, store.room("#dev").seq) == (epoch, 2)
    finally:
        store.close()


def test_a_server_killed_mid_commit_after_delivering_leaves_every_room_a_new_epoch(tmp_path):
    """Bob got message 2 and the server died before committing it: the number 2 is in his
    hands, not in the file, so the next server renumbers; the one after that (the store
    closed cleanly in between) does not."""
    path = tmp_path / "chat.sqlite3"
    epoch = _killed(path, "committed")
    assert _killed(path, "delivered") == epoch
    store = SqliteStore(path, room_key=room_key)
    room = store.room("#dev")
    assert room is not None and room.epoch != epoch
    assert room.seq == 1  # (message 2 was never kept)
    store.close()
    store = SqliteStore(path, room_key=room_key)
    try:
        assert store.room("#dev").epoch == room.epoch
    finally:
        store.close()
