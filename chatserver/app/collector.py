"""How the server sets Python's cyclic garbage collector: fewer collections, none of the start-up's objects.

A chat server allocates and frees a few container objects per message and
delivery (the message, its frame, a receipt), nearly all freed at once by
reference counting; the cyclic collector still counts them and, at the
default threshold of 700, ran a young collection every few hundred messages:
about 12% of the server's CPU under fan-out (``docs/performance.md``). Raising
the first threshold makes those collections rare; the memory they leave is
bounded by the threshold (that many container objects at most, a few MiB).
``gc.freeze`` moves what start-up made (modules, tables, the look-alike
data) out of every later collection's way.
"""

from __future__ import annotations

import gc

#: Net new container objects between two young collections (CPython's default: 700).
YOUNG = 50_000


def tune() -> None:
    """Called once, after start-up and before the first connection."""
    gc.collect()
    gc.freeze()
    _, middle, full = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, full)  # (the older generations' cadence as CPython's)
