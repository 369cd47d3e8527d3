"""Moving the user's eyes between our rooms (``/window``, Alt+1..9, Ctrl+N/P, Alt+A), and the server told.

``Windows`` keeps which room is focused and what came elsewhere unseen; this
is what the user does to it. The server's focus follows ours (``/who``,
``/topic`` and ``/history`` are about the room on screen), so a switch sends
a ``join`` of a room we are in, through ``tell`` (the outbox: after what was
typed before it).
"""

from __future__ import annotations

from collections.abc import Callable

from common import messages as m
from common.commands import CommandError

from .windows import Windows


class Focus:
    def __init__(
        self,
        windows: Windows,
        tell: Callable[[m.Message], None],
        show: Callable[[m.Message], None],
        changed: Callable[[], None],
    ) -> None:
        self._windows = windows
        self._tell = tell  # sends to the server
        self._show = show  # the marker line, then what came there unseen
        self._changed = changed  # the toolbar has something new

    def switch_to(self, room: str, *, tell_server: bool = True) -> bool:
        """Focus ``room`` (one we are in): a marker line, then what came there unseen. False if not ours."""
        name = self._windows.focus(room, self._show)
        if name is None:
            return False
        if tell_server:  # its focus follows ours: who, topic, /history are about this room
            self._tell(m.Join(name))
        self._changed()
        return True

    def step(self, offset: int) -> bool:
        """Focus the next (``offset`` 1) or previous (-1) of our rooms."""
        room = self._windows.beside(offset)
        return room is not None and self.switch_to(room)

    def window(self, number: int) -> bool:
        """Focus our ``number``-th room (Alt+1..9)."""
        room = self._windows.numbered(number)
        return room is not None and self.switch_to(room)

    def next_active(self) -> bool:
        """Focus the room with the most urgent unseen activity (Alt+A)."""
        room = self._windows.most_active()
        return room is not None and self.switch_to(room)

    def command(self, rest: str) -> CommandError | None:
        """``/window #ROOM|N``: ours alone, which of our rooms we look at."""
        rest = rest.strip()
        found = self.window(int(rest)) if rest.isdigit() else bool(rest) and self.switch_to(rest)
        return (
            None
            if found
            else CommandError(f"usage: /window #ROOM|N, one of: {', '.join(self._windows.joined.values())}")
        )
