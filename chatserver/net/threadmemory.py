"""What a thread per connection costs in memory beyond its own objects: its C allocations, its depth.

glibc's malloc gives threads arenas of their own (up to eight per core), so
that threads allocating at once do not wait for each other. Python threads
allocate with the GIL held, one at a time, so they gain nothing by it; with
thousands of connection threads spread over the arenas, each arena keeps its
own free pages and the process holds more. ``one_malloc_arena`` asks for one
(``mallopt(M_ARENA_MAX, 1)``), once, before the first connection's thread;
elsewhere than glibc it does nothing.

The other cost is the depth of a connection's calls. CPython (3.11 on) keeps a
thread's Python frames in a 16 KiB block of its own, mapped when the thread
first calls and resident a 4 KiB page at a time: a page the frames once
reached stays in the thread's memory until it ends, used or not. The deepest
an idle connection's thread ever went is its registration (from the thread's
start through the session, the dialect, ``entry.register`` and the hub's
``enter`` to the greeting's list of who is here), and the first page holds
about 500 words of frames (a frame: 9, plus its locals and its stack). When
``core/joining.py`` took entering over, that path grew past the first page,
and every idle connection held a page more (34b48ed; 3.11's layout); so no
frame on it is there only to pass a call on (``server.py``'s ``_running``,
the hub's ``first_names`` and ``first_members``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger(__name__)

#: glibc's ``M_ARENA_MAX`` (malloc.h).
M_ARENA_MAX = -8


@functools.cache
def one_malloc_arena() -> bool:
    """Ask glibc's malloc for a single arena; True if it took it (False: not glibc, or refused)."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False  # (not glibc: musl and macOS have no per-thread arenas to limit)
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    took = mallopt(M_ARENA_MAX, 1) == 1
    if not took:
        log.debug("malloc kept its arenas (mallopt(M_ARENA_MAX, 1) refused)")
    return took
