"""How deep a connection's thread goes in Python frames while it registers, in plain and native.

Every idle connection keeps the deepest its thread's frames ever went, a 4 KiB
page at a time (``chatserver/net/threadmemory.py``): on CPython 3.11 the first
page holds about 508 words of frames. This starts a chatserver in this process
on a free loopback port, registers a few clients first (so that what is built
once, on a first registration, is not counted), then ``--clients`` plain and
native ones, each waiting for its welcome, with a profile hook on every thread
that adds up the frames on the stack at each call (a frame: 9 words, plus its
locals and its stack; generators' frames live elsewhere and are not counted).
It prints, per dialect, the deepest chain the connection threads reached, frame
by frame, and exits 1 if it passes the first page. An estimate from the 3.11
frame layout, for comparing two trees; not a test.

    .venv/bin/python scripts/framedepth.py [--clients 20]
"""

from __future__ import annotations

import argparse
import collections
import inspect
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatserver.config import ServerConfig  # noqa: E402
from chatserver.net.server import ChatServer  # noqa: E402

#: Words per frame besides its locals and stack (CPython 3.11's ``FRAME_SPECIALS_SIZE``).
SPECIALS = 9
#: What the first 4 KiB page of a thread's frame block holds: the block's header and the
#: word skipped before the first frame (3.11's ``_PyStackChunk``) come off.
FIRST_PAGE = (4096 - 32) // 8
_OFF_STACK = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_sizes: dict[object, int] = {}


def words(code) -> int:  # noqa: ANN001
    """A frame of ``code``, in words (0 for a generator's, kept in the generator)."""
    size = _sizes.get(code)
    if size is None:
        cells = [c for c in code.co_cellvars if c not in code.co_varnames]
        size = SPECIALS + len(code.co_varnames) + len(cells) + len(code.co_freevars) + code.co_stacksize
        _sizes[code] = size = 0 if code.co_flags & _OFF_STACK else size
    return size


class Deepest:
    """Each connection thread's deepest chain of frames: (words, [(words, where)])."""

    def __init__(self) -> None:
        self.by_thread: dict[str, tuple[int, list[tuple[int, str]]]] = {}
        self.counting = False

    def hook(self, frame, event: str, arg: object) -> None:  # noqa: ANN001
        if event != "call" or not self.counting:
            return
        name = threading.current_thread().name
        if not name.startswith("_serve_admitted"):
            return
        chain, f = [], frame
        while f is not None:
            chain.append(f)
            f = f.f_back
        total = sum(words(f.f_code) for f in chain)
        if total > self.by_thread.get(name, (0, []))[0]:
            where = [
                (words(f.f_code), f"{Path(f.f_code.co_filename).name}:{f.f_lineno} {f.f_code.co_qualname}")
                for f in chain
            ]
            self.by_thread[name] = (total, where)


def register(port: int, nick: str, native: bool) -> socket.socket:
    """A client registered as ``nick``: its welcome has come (the socket is left open)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    hello = b'{"type":"hello","version":1,"nick":"%s","client":"framedepth"}\n' if native else b"%s\n"
    sock.sendall(hello % nick.encode())
    seen, mark = b"", (b'"type":"welcome"' if native else b"* welcome")
    while mark not in seen:
        got = sock.recv(65536)
        if not got:
            raise SystemExit(f"{nick}: closed before its welcome: {seen[-300:]!r}")
        seen += got
    return sock


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20, help="clients per dialect (default 20)")
    args = parser.parse_args()
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11):
        print(f"(the frame sizes here are CPython 3.11's; this is {sys.version.split()[0]}: a rough guide only)")
    deepest = Deepest()
    threading.setprofile(deepest.hook)
    room = 2 * args.clients + 10
    server = ChatServer(
        ServerConfig(host="127.0.0.1", port=0, no_web=True, rate_limit=0, max_per_ip=room, max_clients=room)
    )
    _, port = server.start()
    worst, held = 0, []
    try:
        # (what is built once, on the first registrations, is not counted)
        held = [register(port, f"warm{n}", native=n % 2 == 1) for n in range(4)]
        for native in (False, True):
            deepest.by_thread.clear()
            deepest.counting = True
            held += [register(port, f"{'n' if native else 'p'}{n}", native) for n in range(args.clients)]
            time.sleep(0.5)  # (the last ones' threads finish registering after their welcome)
            deepest.counting = False
            found = sorted(deepest.by_thread.values(), key=lambda v: v[0])
            counts = collections.Counter(total for total, _ in found)
            typical = found[len(found) // 2]
            dialect = "native" if native else "plain"
            print(
                f"{dialect}: deepest per connection thread, words (threads): {sorted(counts.items())}; "
                f"the first page holds {FIRST_PAGE}; median {statistics.median(t for t, _ in found):g}"
            )
            for size, where in typical[1]:
                print(f"  {size:4d}  {where}")
            worst = max(worst, typical[0])
    finally:
        threading.setprofile(None)
        for sock in held:  # (all open until the end: a thread's leaving is not counted)
            sock.close()
        server.shutdown(final=True)
    print(f"{'within' if worst <= FIRST_PAGE else 'PAST'} the first page: {worst} of {FIRST_PAGE} words")
    return 0 if worst <= FIRST_PAGE else 1


if __name__ == "__main__":
    sys.exit(main())
