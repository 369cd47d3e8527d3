"""Redis stopped, crashed or emptied under the nodes: they stay up, say so, refuse what it cannot take, recover."""

from __future__ import annotations

import collections
import threading
import time

import pytest
from helpers import TIMEOUT, NativeClient, ask_history, frames_until, hello, wait_for

RECOVERY = 30  # the nodes reconnect with backoff: allow them time to find Redis again


def is_notice(event: str, nick: str | None = None):
    return lambda f: f["type"] == "notice" and f.get("event") == event and (nick is None or f.get("nick") == nick)


def shown(frames: list[dict]) -> str:
    """The frames a client read, one short word each, for a failure's message."""
    return " ".join(f.get("event") or f.get("code") or f["type"] for f in frames)


class Traffic(threading.Thread):
    """One client saying numbered lines, each after the answer to the last
    (``accepted`` or an error), at most ``rate`` a second so the room's kept
    window holds them all. Every frame it reads is kept, in order."""

    def __init__(self, client: NativeClient, rate: float = 50) -> None:
        super().__init__(daemon=True)
        self.client, self.pause = client, 1 / rate
        self.frames: list[dict] = []
        self.answers: list[tuple[str, str, int | None]] = []  # (text, "accepted" or error code, seq)
        self.done = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        """Send a line every ``pause`` without waiting for its answer, as a client
        does: the answers come in the order of the lines (a line in doubt when
        Redis went is answered when it is back, and those after it wait behind it)."""
        try:
            i = 0
            unanswered: collections.deque[str] = collections.deque()
            while not self.done.wait(self.pause):  # (pacing the load, not waiting for an event)
                text = f"line {i}"
                i += 1
                self.client.say(text)
                unanswered.append(text)
                self._answers(unanswered, wait=0.01)
            while unanswered:
                self._answers(unanswered, wait=RECOVERY)
        except BaseException as exc:  # (reported by the test)
            self.failure = exc

    def _answers(self, unanswered: collections.deque[str], wait: float) -> None:
        """Read what has come (the first frame waiting at most ``wait`` s)."""
        while unanswered:
            try:
                f = self.client.frame(wait)
            except TimeoutError:
                return
            wait = 0.01
            self.frames.append(f)
            if f["type"] == "accepted":
                self.answers.append((unanswered.popleft(), "accepted", f["seq"]))
            elif f["type"] == "error":
                self.answers.append((unanswered.popleft(), f["code"], None))

    def count(self, outcome: str) -> int:
        return sum(1 for _, got, _ in self.answers if got == outcome)

    def events(self) -> list[str]:
        return [f["event"] for f in list(self.frames) if f["type"] == "notice" and f["event"].startswith("link_")]

    def stop(self) -> None:
        self.done.set()
        self.join(RECOVERY)
        assert not self.is_alive() and self.failure is None, self.failure


@pytest.mark.parametrize("outage", ["stop", "kill"])
def test_redis_down_and_back_under_traffic_loses_nothing_acknowledged(make_redis, make_nodes, outage):
    redis = make_redis(appendonly=True)  # AOF, fsync always: what Redis acknowledged survives it
    a, b = make_nodes(2, redis=redis)
    alice = NativeClient(a.port, "alice")
    bob = NativeClient(b.port, "bob")
    bob_frames: list[dict] = []  # everything bob reads, in order
    alice.expect(is_notice("join", "bob"))
    traffic = Traffic(alice)
    traffic.start()
    assert wait_for(lambda: traffic.count("accepted") >= 5, TIMEOUT)

    redis.stop() if outage == "stop" else redis.kill()
    bob_frames += frames_until(bob, is_notice("link_down"), timeout=RECOVERY)
    assert wait_for(lambda: any(is_notice("link_down")(f) for f in list(traffic.frames)), RECOVERY)
    where = f"127.0.0.1:{redis.port}"
    assert wait_for(lambda: all(where in n.log() for n in (a, b)), TIMEOUT), "each node's log names the lost Redis"
    late = hello(a.port, nick="latecomer")
    refused = late.expect(lambda f: f["type"] in ("welcome", "error"))
    assert (refused["type"], refused.get("code")) == ("error", "cluster_unavailable"), "no login without Redis"

    redis.start()
    bob_frames += frames_until(bob, is_notice("link_up"), timeout=RECOVERY)
    resumed_at = len(traffic.answers)
    assert wait_for(lambda: sum(1 for x in traffic.answers[resumed_at:] if x[1] == "accepted") >= 5, RECOVERY)
    traffic.stop()

    assert {got for _, got, _ in traffic.answers} == {"accepted", "cluster_unavailable"}, "no other answer"
    assert traffic.count("cluster_unavailable") >= 3, "lines sent while Redis was away are refused"
    assert len(traffic.answers) == len({text for text, _, _ in traffic.answers}), "one answer a line"
    assert traffic.events() == ["link_down", "link_up"], f"told once of each: {shown(traffic.frames)}"
    down = next(i for i, f in enumerate(traffic.frames) if is_notice("link_down")(f))
    up = next(i for i, f in enumerate(traffic.frames) if is_notice("link_up")(f))
    assert "Redis" in traffic.frames[down]["text"]
    # Once Redis is back no line is refused: the refusals are of lines sent while it was away.
    after_up = [f["type"] for f in traffic.frames[up:] if f["type"] in ("accepted", "error")]
    assert "error" not in after_up, shown(traffic.frames)
    before = [f["type"] for f in traffic.frames[:down] if f["type"] in ("accepted", "error")]
    assert before and "error" not in before, f"taken while Redis was there: {shown(traffic.frames)}"
    bob_events = [f["event"] for f in bob_frames if f["type"] == "notice" and f["event"].startswith("link_")]
    assert bob_events == ["link_down", "link_up"], "the other node's users are told too"

    accepted = [(seq, text) for text, got, seq in traffic.answers if got == "accepted"]
    refused_texts = {text for text, got, _ in traffic.answers if got != "accepted"}
    seqs = [seq for seq, _ in accepted]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "acknowledged seqs have no gaps: nothing lost"

    bob.say("after the outage")
    bob_frames += frames_until(bob, lambda f: f["type"] == "accepted", timeout=TIMEOUT)
    after_seq = bob_frames[-1]["seq"]
    assert alice.expect(lambda f: f["type"] == "message")["seq"] == after_seq, "chat goes on, no node restarted"

    history = [(f["seq"], f["text"]) for f in ask_history(bob)]
    assert history[-1] == (after_seq, "after the outage")
    kept = set(history)
    missing = [x for x in accepted if x not in kept]
    assert not missing, f"acknowledged, not in /history: {missing[:5]}; /history {history}; answers {traffic.answers}"
    extra = [(seq, text) for seq, text in history[:-1] if (seq, text) not in set(accepted)]
    # One line may have been in flight when Redis went: taken by it but not
    # acknowledged. Nothing refused later may appear.
    assert len(extra) <= 1 and all(text in refused_texts for _, text in extra), extra
    live = [(f["seq"], f["text"]) for f in bob_frames if f["type"] == "message" and "replay" not in f]
    assert live == history[:-1], "bob saw what was kept, each once, in order"


def resume_until_welcomed(port: int, timeout: float = RECOVERY, **fields) -> tuple[NativeClient, dict]:
    """Log in again and again (as a client's backoff would) until welcomed."""
    deadline = time.monotonic() + timeout
    while True:
        client = hello(port, **fields)
        first = client.expect(lambda f: f["type"] in ("welcome", "error"))
        if first["type"] == "welcome":
            return client, first
        assert first["code"] == "cluster_unavailable", first
        client.close()
        if time.monotonic() > deadline:
            raise AssertionError(f"not welcomed within {timeout} s: {first}")
        time.sleep(0.2)  # (a client's backoff between attempts, not a wait for an event)


def expect_renumbered(welcome: dict, client: NativeClient, old_epoch: str, lost: set[str]) -> None:
    """The greeting of a resume into a room whose numbering is new: ``renumbered``, then recent history."""
    assert welcome["epoch"] != old_epoch, "the room's numbering is new"
    notice = client.frame()
    assert (notice["type"], notice.get("event")) == ("notice", "renumbered"), notice
    replay = [client.frame() for _ in range(welcome["replay"])]
    assert all(f["replay"] == "history" for f in replay)
    assert not lost & {f["text"] for f in replay}, "what Redis lost is not made up"


@pytest.mark.parametrize("loss", ["flushall", "restart without persistence"])
def test_a_redis_that_lost_its_data_is_a_new_numbering(make_nodes, redis_server, loss):
    """Handled like a replaced store (docs/protocol.md "Reconnecting"): the
    sessions of the lost numbering are told to reconnect (``bye``), and each
    resume is greeted ``renumbered`` into one new epoch shared by every node."""
    a, b = make_nodes(2)
    alice = NativeClient(a.port, "alice")
    bob = NativeClient(b.port, "bob")
    alice.expect(is_notice("join", "bob"))
    said = ["one", "two", "three"]
    for text in said:
        alice.say(text)
    last_seq = [alice.expect(lambda f: f["type"] == "accepted")["seq"] for _ in said][-1]
    assert [f["seq"] for f in bob.messages(3)][-1] == last_seq
    token, epoch = alice.welcome["token"], alice.welcome["epoch"]
    alice.close()
    bob.expect(is_notice("leave", "alice"))
    carol = NativeClient(a.port, "carol")  # so that both nodes have a session of the lost numbering

    if loss == "flushall":
        redis_server.flushall()
    else:
        redis_server.stop()
        redis_server.start()

    for member, node in ((bob, b), (carol, a)):  # on each node, whichever saw Redis back first
        try:
            frames_until(member, lambda f: f["type"] == "bye", timeout=RECOVERY)
        except TimeoutError:
            nick = member.welcome["nick"]
            raise AssertionError(f"{nick}'s node never noticed the data loss:\n{node.log()}") from None
    back, welcome = resume_until_welcomed(
        b.port, nick="alice", resume=token, room="#lobby", epoch=epoch, last_seq=last_seq
    )
    assert (welcome["nick"], welcome["room"]) == ("alice", "#lobby")
    expect_renumbered(welcome, back, epoch, set(said))
    bob_again, bob_welcome = resume_until_welcomed(
        a.port, nick="bob", resume=bob.welcome["token"], room="#lobby", epoch=epoch, last_seq=last_seq
    )
    expect_renumbered(bob_welcome, bob_again, epoch, set(said))
    assert bob_welcome["epoch"] == welcome["epoch"], "one new numbering on every node"

    back.say("fresh start")
    seq = back.expect(lambda f: f["type"] in ("accepted", "error"))
    assert seq["type"] == "accepted", seq
    got = bob_again.expect(lambda f: f["type"] == "message")
    assert (got["seq"], got["text"]) == (seq["seq"], "fresh start"), "chat goes on in the new numbering"
