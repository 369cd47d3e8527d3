"""Time-based logic on a fake clock: the rate limiter, and the outbox's idea of a stuck peer.

The outbox runs on a real socket pair whose reading end the test drives by
hand; only time is fake, so "the peer took nothing for 0.5 s" is decided by
the test, not by how busy the machine is.
"""

from __future__ import annotations

import collections
import socket
import threading

import pytest

from chatserver.net.outbound import HARD_FACTOR, HARD_MIN, STUCK_AFTER, Outbox
from common.ratelimit import TokenBucket

BACKLOG = 64 * 1024


class FakeClock:
    """Seconds that pass only when the test says so; counts reads per thread."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._reads: collections.Counter[str] = collections.Counter()
        self._changed = threading.Condition()

    def __call__(self) -> float:
        with self._changed:
            self._reads[threading.current_thread().name] += 1
            self._changed.notify_all()
            return self.now

    def advance(self, seconds: float) -> None:
        with self._changed:
            self.now += seconds

    def wait_reads(self, thread: str, count: int, timeout: float = 10.0) -> None:
        """Until ``thread`` has read the time ``count`` times (it has got that far)."""
        with self._changed:
            assert self._changed.wait_for(lambda: self._reads[thread] >= count, timeout), self._reads


# --- the token bucket ----------------------------------------------------------------


def test_a_burst_passes_then_each_message_waits_its_share_of_a_second():
    clock = FakeClock()
    bucket = TokenBucket(10, 3, clock=clock)
    assert [bucket.delay() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.delay() == pytest.approx(0.1)
    assert bucket.delay() == pytest.approx(0.2), "a sender that does not wait falls further behind"
    clock.advance(0.2)  # it waits as told
    assert bucket.delay() == pytest.approx(0.1)


def test_the_bucket_refills_at_the_rate_and_never_beyond_the_burst():
    clock = FakeClock()
    bucket = TokenBucket(10, 3, clock=clock)
    assert [bucket.delay() for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.advance(0.1)  # one message's worth
    assert bucket.delay() == 0.0
    assert bucket.delay() == pytest.approx(0.1)
    clock.advance(3600)  # an hour of silence buys a burst, not 36,000 messages
    assert [bucket.delay() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.delay() == pytest.approx(0.1)


# --- the outbox ----------------------------------------------------------------------


def _line(i: int) -> bytes:
    return b"%08d" % i + b"x" * 4087 + b"\n"  # 4 KiB, numbered


class Rig:
    """An outbox on a fake clock and a real socket pair, whose peer end the
    test reads by hand; numbered lines go in, as the hub would put them."""

    def __init__(self, max_backlog: int = BACKLOG) -> None:
        self.clock = FakeClock()
        self.ours, self.theirs = socket.socketpair()
        self.ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)  # a small kernel buffer
        self.theirs.settimeout(10)
        self.box = Outbox(self.ours, max_backlog=max_backlog, name="peer", clock=self.clock)
        self.sent = 0
        self.got = bytearray()

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ours.close()
        self.theirs.close()

    def put(self) -> bool:
        ok = self.box.put(_line(self.sent))
        self.sent += ok
        return ok

    def fill(self) -> None:
        """Until the outbox is full (over its limit, with the kernel's buffer full too)."""
        while not self.box.full:
            assert self.put(), self.box.failure

    def expected(self) -> bytes:
        return b"".join(_line(i) for i in range(self.sent))

    def read_to_the_end(self) -> threading.Thread:
        def run() -> None:
            while data := self.theirs.recv(1 << 20):
                self.got.extend(data)

        reader = threading.Thread(target=run, name="reader", daemon=True)
        reader.start()
        return reader

    def close_and_check_delivery(self, reader: threading.Thread) -> None:
        """The outbox drains to the reader and closes: everything arrived, in order."""
        self.box.close(timeout=10)
        self.ours.shutdown(socket.SHUT_WR)
        reader.join(10)
        assert self.got == self.expected(), "everything, in order"

    def wait_room_meanwhile(self, timeout: float) -> threading.Thread:
        """``wait_room(timeout)`` in a thread, once it has taken its deadline and checked the peer twice."""
        waiter = threading.Thread(target=self.box.wait_room, args=(timeout,), name="waiter", daemon=True)
        waiter.start()
        self.clock.wait_reads("waiter", 8)
        assert waiter.is_alive(), "the outbox is full and time stands still: it waits"
        return waiter


def test_a_peer_that_keeps_reading_is_kept_however_long_it_stays_full():
    with Rig() as rig:
        for _ in range(10):  # full all along, for 10 x 0.8 x STUCK_AFTER: far longer than STUCK_AFTER
            rig.fill()
            rig.got += rig.theirs.recv(32 * 1024)  # the peer takes a little
            rig.box.flush()  # and the kernel at once takes more (if the flusher thread has not sent it already)
            rig.clock.advance(0.8 * STUCK_AFTER)
        rig.fill()
        assert rig.box.failure is None, "a peer that keeps reading is never 'not reading'"
        rig.close_and_check_delivery(rig.read_to_the_end())


def test_a_peer_that_takes_nothing_for_longer_than_stuck_after_is_dropped():
    with Rig() as rig:
        rig.fill()
        rig.clock.advance(STUCK_AFTER)
        assert rig.put() and rig.box.failure is None, "not yet: exactly STUCK_AFTER"
        rig.clock.advance(0.01)
        assert not rig.put()
        assert rig.box.failure == f"outbound backlog over {BACKLOG} bytes (peer not reading)"
        assert rig.box.overflowed and not rig.box.full and rig.box.backlog == 0, "given up on, its queue freed"
        rig.read_to_the_end().join(10)  # what the kernel held, then the end: the socket was shut down
        assert 0 < len(rig.got) < len(rig.expected()) and rig.expected().startswith(rig.got)


@pytest.mark.parametrize("max_backlog", [BACKLOG, 2 * 1024 * 1024])
def test_a_peer_that_just_took_bytes_is_kept_up_to_the_hard_limit_and_no_further(max_backlog):
    with Rig(max_backlog) as rig:  # time stands still: the peer's last read is always recent
        before = rig.box.backlog
        while rig.put():
            before = rig.box.backlog
        assert rig.box.failure == f"outbound backlog over {max_backlog} bytes (peer not reading)"
        hard = max(HARD_FACTOR * max_backlog, HARD_MIN)
        assert before <= hard < before + len(_line(rig.sent)), "dropped by the first line over the hard limit"


def test_wait_room_waits_for_a_peer_that_is_not_stuck_until_its_deadline():
    with Rig() as rig:
        rig.fill()
        waiter = rig.wait_room_meanwhile(0.4 * STUCK_AFTER)
        rig.clock.advance(0.4 * STUCK_AFTER)
        waiter.join(10)
        assert not waiter.is_alive(), "returned at its deadline"
        assert rig.box.full and rig.box.failure is None, "still full, and the peer is kept: it is not stuck yet"


def test_wait_room_returns_once_the_peer_has_read_enough():
    with Rig() as rig:
        rig.fill()
        waiter = rig.wait_room_meanwhile(60.0)
        reader = rig.read_to_the_end()
        waiter.join(10)
        assert not waiter.is_alive() and rig.clock.now == 1000.0, "room, not the deadline, ended the wait"
        assert not rig.box.full and rig.box.failure is None
        rig.close_and_check_delivery(reader)


def test_wait_room_drops_a_peer_that_takes_nothing_for_stuck_after():
    with Rig() as rig:
        rig.fill()
        waiter = rig.wait_room_meanwhile(60.0)
        rig.clock.advance(STUCK_AFTER + 0.01)
        waiter.join(10)
        assert not waiter.is_alive(), "returned long before its deadline"
        assert rig.box.failure == f"outbound backlog over {BACKLOG} bytes (peer not reading)"
        assert rig.box.overflowed
