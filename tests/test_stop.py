"""A stop that really stops: a shutdown ends in its time whatever the hub's dispatcher
or lock is held up by (a signal the server ignores is a hang to whoever sent it)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
from helpers import TIMEOUT, Member, NativeClient, python_env

from chatserver.config import ServerConfig
from chatserver.core.fanout import Frame
from chatserver.core.hub import LocalHub
from chatserver.net.server import ChatServer
from common import messages as m
from common.threads import run_within


def test_flush_gives_up_in_its_time_while_another_thread_holds_the_hub_lock():
    hub = LocalHub()
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        with hub._lock:
            held.set()
            done.wait(TIMEOUT)

    holder = threading.Thread(target=hold)
    holder.start()
    result: list[bool] = []
    flusher = threading.Thread(target=lambda: result.append(hub.flush(timeout=0.1)))
    try:
        assert held.wait(TIMEOUT)
        flusher.start()
        flusher.join(TIMEOUT)
        assert not flusher.is_alive(), "flush waited for the lock beyond its timeout"
        assert result == [False]
    finally:
        done.set()
        holder.join()
        flusher.join()
    assert hub.flush(timeout=TIMEOUT)  # (and once the lock is free, it flushes)


class _Stuck(Member):
    """A recipient the dispatcher hands a batch to and that does not return until let go:
    the dispatcher stays busy (a peer that holds it up, as a slow one would)."""

    def __init__(self) -> None:
        super().__init__("stuck")
        self.entered, self.go = threading.Event(), threading.Event()

    def deliver_bytes(self, data: bytes) -> None:
        self.entered.set()
        self.go.wait(2 * TIMEOUT)


def test_shutdown_waits_once_for_all_its_sessions_not_once_each_behind_a_stuck_dispatcher():
    server = ChatServer(ServerConfig(host="127.0.0.1", port=0))
    _, port = server.start()
    stuck = _Stuck()
    clients: list[NativeClient] = []
    try:
        clients = [NativeClient(port, f"user{i}") for i in range(8)]
        hub = server.hub
        hub.join("#stuck", stuck)
        hub.publish("#stuck", lambda seq, ts: m.ChatMessage(seq=seq, ts=ts, room="#stuck", nick="x", text="hi"))
        assert stuck.entered.wait(TIMEOUT)  # the dispatcher is held up from now on
        waits: list[float | None] = []
        flush, me = hub.flush, threading.current_thread()

        def counted(timeout: float | None = None) -> bool:
            if threading.current_thread() is me:  # (sessions' own threads flush their last words too)
                waits.append(timeout)
            return flush(timeout)

        hub.flush = counted  # type: ignore[method-assign]
        start = time.monotonic()
        server.shutdown(timeout=1.5)
        elapsed = time.monotonic() - start
        # Before: one wait for the queue, then one more (1 s) for each session's Bye, 8 s in all.
        assert len(waits) <= 2, waits
        assert elapsed < 5.0, elapsed
        for client in clients:
            frames = [json.loads(line) for line in client.read_until_closed()]
            assert frames and frames[-1] == {"type": "bye", "reason": "server shutting down"}
    finally:
        stuck.go.set()
        for client in clients:
            client.close()


def test_run_within_stops_waiting_at_its_limit_and_says_so():
    release = threading.Event()
    overran: list[bool] = []
    try:
        run_within(lambda: release.wait(TIMEOUT), 0.05, lambda: overran.append(True))
    finally:
        release.set()
    assert overran == [True]


def test_run_within_returns_when_the_work_is_done_and_raises_what_it_raised():
    ran: list[int] = []
    run_within(lambda: ran.append(1), TIMEOUT, lambda: pytest.fail("not an overrun"))
    assert ran == [1]

    def broken() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_within(broken, TIMEOUT, lambda: pytest.fail("not an overrun"))


def test_a_frame_for_one_queued_behind_a_busy_dispatcher_is_delivered_whatever_its_text():
    """An ``Accepted`` (a receipt, ``text`` None) sent alone while the dispatcher is busy:
    measuring it raised after it was queued, and the dispatcher was never woken for it."""
    hub = LocalHub()
    stuck, alice = _Stuck(), Member("alice")
    hub.join("#stuck", stuck)
    hub.publish("#stuck", lambda seq, ts: m.ChatMessage(seq=seq, ts=ts, room="#stuck", nick="x", text="hi"))
    try:
        assert stuck.entered.wait(TIMEOUT)  # busy: what is sent now is queued
        hub.send_to(alice, Frame(m.Accepted(seq=1, ts=0.0, room="#stuck")))
    finally:
        stuck.go.set()
    assert hub.flush(timeout=TIMEOUT)
    assert alice.frames == [m.Accepted(seq=1, ts=0.0, room="#stuck")]


def test_a_shutdown_that_never_ends_is_cut_short_with_every_threads_stack():
    """What the program does when its shutdown overruns: a process whose shutdown waits
    on a lock nobody lets go still exits, saying so, with the stacks to see why."""
    code = (
        "import functools, sys, threading\n"
        "from chatserver.app import cli\n"
        "from common.threads import run_within\n"
        "lock = threading.Lock(); lock.acquire()\n"
        "run_within(lock.acquire, 0.2, functools.partial(cli._stop_anyway, sys.stderr))\n"
        "print('not reached')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, env=python_env()
    )
    assert done.returncode == 1
    assert "not reached" not in done.stdout
    assert "shutdown did not finish within" in done.stderr
    assert "in run" in done.stderr and "Thread" in done.stderr  # (the stuck thread's stack)
