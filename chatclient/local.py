"""Commands the client handles itself: what to ignore and when to ring."""

from __future__ import annotations

import dataclasses

from common import messages as m
from common.nicks import nick_key

from .config import BELL_MODES

HELP_LINES = (
    "  /ignore NICK       hide NICK's messages (/unignore NICK to undo)",
    "  /bell on|off|mentions  when the terminal bell rings",
    "  /window #ROOM|N    look at another of your rooms (Alt+1..9, Ctrl+N/P; Alt+A: activity)",
)


@dataclasses.dataclass
class Preferences:
    bell: str = "mentions"
    ignored: set[str] = dataclasses.field(default_factory=set)  # nick keys

    def hides(self, msg: m.Message) -> bool:
        return isinstance(msg, (m.ChatMessage, m.Private)) and nick_key(msg.nick) in self.ignored

    def rings_for(self, msg: m.Message, mentioned: bool, me: str = "") -> bool:
        if self.bell == "off" or not isinstance(msg, (m.ChatMessage, m.Private)):
            return False
        if isinstance(msg, m.ChatMessage) and msg.replay:
            return False  # history and missed messages are not news
        if isinstance(msg, m.Private) and me and msg.nick == me:
            return False  # our own, sent back as confirmation
        return self.bell == "on" or mentioned or isinstance(msg, m.Private)


def handle_local(line: str, prefs: Preferences) -> str | None:
    """Act on a client-only command; returns what to tell the user, or None if not one."""
    name, _, rest = line.strip().partition(" ")
    name, rest = name.lower(), rest.strip()
    if name in ("/ignore", "/unignore"):
        if not rest:
            names = ", ".join(sorted(prefs.ignored)) or "nobody"
            return f"ignoring: {names}" if name == "/ignore" else "usage: /unignore NICK"
        if name == "/ignore":
            prefs.ignored.add(nick_key(rest))
            return f"ignoring {rest} (/unignore {rest} to undo)"
        prefs.ignored.discard(nick_key(rest))
        return f"no longer ignoring {rest}"
    if name == "/bell":
        if rest not in BELL_MODES:
            return f"usage: /bell {'|'.join(BELL_MODES)} (now: {prefs.bell})"
        prefs.bell = rest
        return f"bell: {rest}"
    return None
