"""What an idle connection holds in memory beyond its objects: the pages of C stack its thread
touched (Linux: read from /proc of a real server process). A page once touched stays resident
for the thread's life, so how deep the thread ever went is what every idle connection costs."""

from __future__ import annotations

import os
import statistics
import sys

import pytest
from helpers import NativeClient, PlainClient, ServerProcess, wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def stack_kib_of_waiting_threads(pid: int) -> list[int] | None:
    """For each thread but the main one blocked in a system call: the resident KiB of the
    mapping its stack pointer is in (its stack); None while some thread is not blocked."""
    mappings = []
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if fields[0].endswith(":"):
                if fields[0] == "Rss:":
                    mappings[-1][2] = int(fields[1])
            else:
                low, high = (int(x, 16) for x in fields[0].split("-"))
                mappings.append([low, high, 0])
    found = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        if int(tid) == pid:
            continue
        with open(f"/proc/{pid}/task/{tid}/syscall") as f:
            state = f.read().split()
        if not state or state[0] == "running":
            return None
        sp = int(state[-2], 16)
        found += [rss for low, high, rss in mappings if low <= sp < high]
    return found


def test_an_idle_connections_thread_keeps_two_pages_of_c_stack():
    """Each constructor nested in another enters the interpreter again in C; made three deep
    inside the connection's thread (its stream, a session's participant and rate limit), they
    took it to a third page that every idle connection then held."""
    server = ServerProcess()
    try:
        people = [NativeClient(server.port, f"n{i}") for i in range(8)] + [
            PlainClient(server.port, f"p{i}") for i in range(8)
        ]
        people[0].say("hello")
        assert people[0].expect(lambda f: f["type"] == "accepted")
        stacks: list[int] = []

        def all_waiting() -> bool:
            stacks[:] = stack_kib_of_waiting_threads(server.proc.pid) or []
            return len(stacks) >= len(people)

        assert wait_for(all_waiting), "every connection's thread waits for its peer"
        assert statistics.median(stacks) <= 2 * PAGE_KIB, f"stack KiB per thread: {sorted(stacks)}"
    finally:
        server.stop()
