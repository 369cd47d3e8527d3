"""How server messages look in the terminal UI: time, colour per nick, safety.

All peer text goes through ``common.plain``/``common.safetext`` first, so the
only escape sequences we ever write are our own colour codes.
"""

from __future__ import annotations

import functools
import re
import time
import zlib
from collections.abc import Callable

from common import messages as m
from common.nicks import nick_problem
from common.plain import render_plain
from common.safetext import neutralise

_PALETTE = (31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96)
_DIM = "2"
_BOLD = "1"
#: The messages that carry the time they were said (the others are stamped when shown).
_STAMPED = (m.ChatMessage, m.Private, m.Notice, m.Accepted, m.Reply)
_MENTION = "1;7"  # bold, reverse: our own name in someone's message


class Renderer:
    def __init__(
        self,
        *,
        color: bool = True,
        timestamps: bool = True,
        me: Callable[[], str] = lambda: "",
        highlight: tuple[str, ...] = (),
    ) -> None:
        self.color = color
        self.timestamps = timestamps
        self.me = me  # our current nickname, for mentions
        self.highlight = tuple(w.strip() for w in highlight if w.strip())  # more words that are mentions

    def mentions_me(self, msg: m.Message) -> bool:
        """A message from someone else that names us (or a highlight word) as a word, in any case."""
        me = self.me()
        if not me or not isinstance(msg, (m.ChatMessage, m.Private)) or msg.nick == me:
            return False
        return self._me_pattern((me, *self.highlight)).search(msg.text) is not None

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def _me_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
        alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        return re.compile(rf"(?<![\w])(?:{alternatives})(?![\w])", re.IGNORECASE)

    def _body(self, text: str, indent: int) -> str:
        """Peer text made safe; our name stands out; later lines of a block are indented."""
        safe = neutralise(text, keep_newlines=True)
        me = self.me()
        if me and self.color:
            safe = self._me_pattern((me, *self.highlight)).sub(lambda found: self._sgr(_MENTION, found.group()), safe)
        return safe.replace("\n", "\n" + " " * indent)

    def _sgr(self, code: str | int, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def nick(self, nick: str) -> str:
        """A peer's name in its colour. A name our rules refuse (a server that
        let ``You`` through) is shown with a ``?`` so it cannot pass for us."""
        shown = neutralise(nick)
        if nick_problem(nick):
            shown = "?" + shown
        return self._sgr(_PALETTE[zlib.crc32(nick.encode()) % len(_PALETTE)], shown)

    def _stamp(self, ts: float | None) -> str:
        if not self.timestamps:
            return ""
        return self._sgr(_DIM, time.strftime("%H:%M", time.localtime(ts))) + " "

    def message(self, msg: m.Message) -> str:
        """One (possibly multi-line) display string for a server message."""
        if isinstance(msg, m.ChatMessage):
            indent = 6 if self.timestamps else 0
            mark = self._sgr(_DIM, f"({msg.replay}) ") if msg.replay else ""
            if msg.nick == self.me():  # ours (history, or a reconnect's missed lines)
                return self._stamp(msg.ts) + mark + self._own_body(msg.text, msg.action, msg.nick)
            text = self._body(msg.text, indent + 4)
            who = self.nick(msg.nick)
            # An action reads "bob waves", as for plain clients: a line starting
            # "* " is the server's, so "/me joined #lobby" cannot pass for a notice.
            line = f"{self._stamp(msg.ts)}{mark}{who}{'' if msg.action else ':'} {text}"
            return self._sgr(_BOLD, line) if self.mentions_me(msg) and not msg.replay else line
        if isinstance(msg, m.Private):
            text = self._body(msg.text, 4)
            me = self.me()
            who = f"to {self.nick(msg.to)}" if me and msg.nick == me else self.nick(msg.nick)
            return f"{self._stamp(msg.ts)}{self._sgr(_BOLD, '(private)')} {who}: {text}"
        if isinstance(msg, m.Reply):
            return f"{self._stamp(msg.ts)}{neutralise(msg.text)}"
        if isinstance(msg, m.Notice) and msg.event == "nick" and msg.nick and msg.previous and msg.nick == self.me():
            # Our own rename (the session already took the new name).
            return self._stamp(msg.ts) + self._sgr(_DIM, f"* you are now known as {neutralise(msg.nick)}")
        ts = msg.ts if isinstance(msg, _STAMPED) else time.time()
        if isinstance(msg, m.Notice) and msg.event == "unseen":  # our own marker: a switch of room
            return self._sgr(_BOLD, neutralise(msg.text))
        return self._stamp(ts) + self._sgr(_DIM, render_plain(msg))

    def own(self, text: str, *, action: bool = False, nick: str = "", room: str | None = None) -> str:
        """A line we just sent, as it will read in our history too; ``room``: sent to
        another room than the one on screen (``/say #dev``), named as such: ``[#dev] You: text``."""
        where = f"[{neutralise(room)}] " if room else ""
        return self._stamp(time.time()) + where + self._own_body(text, action, nick)

    def _own_body(self, text: str, action: bool, nick: str) -> str:
        """``You: text``, or for ``/me``: ``(you) NICK text``. No peer line can
        start either way: ``You`` in any look-alike is a reserved name, and no
        name may start with ``(``."""
        safe = neutralise(text, keep_newlines=True).replace("\n", "\n" + " " * (10 if self.timestamps else 4))
        if action:
            return f"{self._sgr(_BOLD, '(you)')} {self._sgr(_BOLD, neutralise(nick))} {safe}"
        return f"{self._sgr(_BOLD, 'You')}: {safe}"

    def info(self, text: str) -> str:
        return self._sgr(_DIM, "* " + neutralise(text))
