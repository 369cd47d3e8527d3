"""Whether a room hears each arrival, departure and rename: not once it has more than ``ANNOUNCE_LIMIT`` people.

Telling every member of each join costs the room's size per join, and a wave
of N people joining costs N²: in a room of thousands nobody reads "X joined"
anyway (big channels on Twitch, Slack's hidden join messages). So above the
limit a room is *crowded*: joins, leaves and renames are no longer announced
one by one. The person joining is still greeted (the first names and the
count of the rest); kicks, bans and other moderation are still announced;
``/who`` still answers. The room is told once when it becomes crowded and
once when it is no longer, and the way back is lower than the way in
(``back_at``), so a room at the edge does not flap.

The decision is made here alone, from the room's size as the hub counts it
(``Hub.census``, O(1): a cluster's is presence's count of the room) and
whether the room is marked crowded; this module does no I/O. The mark is
the hub's (``Hub.mark_crowded``: a cluster's is in Redis), so the crossing
is told by whichever node changed it, once per room; a ``Crowds`` also
remembers which rooms it saw crowded (for a room that cannot be counted
now), one per hub (``of``).
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections.abc import Callable

from common.rooms import room_key

#: People in a room above which its joins, leaves and renames are not announced (``--announce-limit``).
ANNOUNCE_LIMIT = 200


def back_at(limit: int) -> int:
    """The size at or below which a crowded room is announced to again: a tenth under ``limit``
    (at least one person under it), so a room hovering at the limit is not told each time."""
    return limit - max(1, limit // 10)


#: What a room is told when it crosses the limit, each way.
CROSSINGS = {
    "over": "{room} has over {limit} people: joins and leaves are no longer announced",
    "back": "{room} has {back} people or fewer again: joins and leaves are announced again",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """What a room hears of one arrival, departure or rename."""

    #: Announce it to the room (not crowded)?
    announced: bool
    #: "over" or "back" when this one took the room across the limit (it is told: ``line``), else "".
    crossed: str = ""


class Crowds:
    """Which rooms are crowded now (keyed by ``room_key``): only those are held, so the memory is
    bounded by the rooms above the limit. Thread-safe: the rules run in every session's thread,
    and of two people crossing the limit together exactly one is told it crossed."""

    def __init__(self, limit: int = ANNOUNCE_LIMIT) -> None:
        if limit < 1:
            raise ValueError("the announce limit is at least 1")
        self.limit = limit
        self._back = back_at(limit)
        self._crowded: set[str] = set()
        self._lock = threading.Lock()

    def judge(
        self,
        room: str,
        size: int | None,
        *,
        marked: bool | None = None,
        mark: Callable[[str, bool], bool] | None = None,
        quiet: bool = False,
    ) -> Verdict:
        """The verdict for ``room`` with ``size`` people in it once this arrival, departure or
        rename is done (the arriving person counted, the departing one not); ``size`` None (it
        could not be counted now: a cluster without its Redis) leaves the room as it was.

        ``marked`` is whether the room is crowded as the whole chat holds it, and ``mark`` sets
        that (``Hub.census``, ``Hub.mark_crowded``): the one caller whose ``mark`` changed it is
        told it crossed, so a cluster's room hears each crossing once, not once per node. Without
        them this ``Crowds`` remembers alone (one process). A ``quiet`` room (the lobby with
        ``--quiet-lobby``) is told of none, whatever its size, and so of no crossing either: it
        is not counted."""
        if quiet:
            return Verdict(False)
        key = room_key(room)
        with self._lock:
            crowded = key in self._crowded if marked is None or size is None else marked
            if size is None:
                return Verdict(not crowded)
            if not crowded and size > self.limit:
                wanted = True
            elif crowded and size <= self._back:
                wanted = False
            else:
                self._remember(key, crowded)
                return Verdict(not crowded)
            if mark is None:
                self._remember(key, wanted)
                return Verdict(not wanted, "over" if wanted else "back")
        won = mark(room, wanted)  # (outside the lock: a cluster's mark is a Redis call)
        with self._lock:
            self._remember(key, wanted)
        return Verdict(not wanted, ("over" if wanted else "back") if won else "")

    def _remember(self, key: str, crowded: bool) -> None:
        if crowded:
            self._crowded.add(key)
        else:
            self._crowded.discard(key)

    def line(self, room: str, verdict: Verdict) -> str:
        """What ``room`` is told of ``verdict``'s crossing ("" if it crossed nothing)."""
        if not verdict.crossed:
            return ""
        return CROSSINGS[verdict.crossed].format(room=room, limit=self.limit, back=self._back)

    def crowded(self, room: str) -> bool:
        """Is ``room`` crowded as this ``Crowds`` remembers it (the tests ask)?"""
        with self._lock:
            return room_key(room) in self._crowded


#: Each hub's ``Crowds`` (weak: a hub that is gone takes its memory with it).
_OF_HUB: weakref.WeakKeyDictionary[object, Crowds] = weakref.WeakKeyDictionary()
_OF_HUB_LOCK = threading.Lock()


def of(hub: object, limit: int) -> Crowds:
    """The ``Crowds`` of ``hub``'s rooms, made with ``limit`` on first use."""
    with _OF_HUB_LOCK:
        found = _OF_HUB.get(hub)
        if found is None:
            found = _OF_HUB[hub] = Crowds(limit)
        return found
