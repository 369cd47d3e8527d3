"""How server messages look in the terminal UI: time, colour per nick, safety.

All peer text goes through ``common.plain``/``common.safetext`` first, so the
only escape sequences we ever write are our own colour codes.
"""

from __future__ import annotations

import time
import zlib

from common import messages as m
from common.plain import render_plain
from common.safetext import neutralise

_PALETTE = (31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96)
_DIM = "2"
_BOLD = "1"


class Renderer:
    def __init__(self, *, color: bool = True, timestamps: bool = True) -> None:
        self.color = color
        self.timestamps = timestamps

    def _sgr(self, code: str | int, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def nick(self, nick: str) -> str:
        return self._sgr(_PALETTE[zlib.crc32(nick.encode()) % len(_PALETTE)], neutralise(nick))

    def _stamp(self, ts: float | None) -> str:
        if not self.timestamps:
            return ""
        return self._sgr(_DIM, time.strftime("%H:%M", time.localtime(ts))) + " "

    def message(self, msg: m.Message) -> str:
        """One (possibly multi-line) display string for a server message."""
        if isinstance(msg, m.ChatMessage):
            text = neutralise(msg.text)
            mark = self._sgr(_DIM, f"({msg.replay}) ") if msg.replay else ""
            if msg.action:
                return f"{self._stamp(msg.ts)}{mark}* {self.nick(msg.nick)} {text}"
            return f"{self._stamp(msg.ts)}{mark}{self.nick(msg.nick)}: {text}"
        if isinstance(msg, m.Private):
            return f"{self._stamp(msg.ts)}{self._sgr(_BOLD, '(private)')} {self.nick(msg.nick)}: {neutralise(msg.text)}"
        if isinstance(msg, m.Reply):
            return f"{self._stamp(msg.ts)}{neutralise(msg.text)}"
        ts = getattr(msg, "ts", time.time())
        return self._stamp(ts) + self._sgr(_DIM, render_plain(msg))

    def own(self, text: str, *, action: bool = False, nick: str = "") -> str:
        """Our own message, shown as ``You: text`` (never as if from a peer)."""
        you = self._sgr(_BOLD, "You")
        body = f"* {neutralise(nick)} ({you}) {neutralise(text)}" if action else f"{you}: {neutralise(text)}"
        return self._stamp(time.time()) + body

    def info(self, text: str) -> str:
        return self._sgr(_DIM, "* " + neutralise(text))
