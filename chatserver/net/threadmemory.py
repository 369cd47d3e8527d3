"""What a thread per connection costs in memory beyond its own objects: where its C allocations go.

glibc's malloc gives threads arenas of their own (up to eight per core), so
that threads allocating at once do not wait for each other. Python threads
allocate with the GIL held, one at a time, so they gain nothing by it; with
thousands of connection threads spread over the arenas, each arena keeps its
own free pages and the process holds more. ``one_malloc_arena`` asks for one
(``mallopt(M_ARENA_MAX, 1)``), once, before the first connection's thread;
elsewhere than glibc it does nothing.
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
