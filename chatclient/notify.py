"""Desktop notifications for mentions and private messages: which, how, and how often.

``notify-send`` where it is on PATH, else the terminal's own notification
escape (OSC 777, or OSC 9 where that is the terminal's), never both. At most
one notification per ``interval`` seconds: the first of a burst at once, the
rest of it as one notification saying how many, when the interval is over.
Nothing while the user is looking at that room and typing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable

from common import messages as m
from common.limits import clip
from common.safetext import neutralise

APP = "chatclient"
#: Characters of a message's text in a notification.
BODY_CHARS = 200

Schedule = Callable[[float, Callable[[], None]], None]


def timer(delay: float, action: Callable[[], None]) -> None:
    """``action`` in ``delay`` seconds, on a daemon thread (a ``Schedule``)."""
    timer = threading.Timer(delay, action)
    timer.daemon = True
    timer.start()


def _clean(text: str, limit: int = BODY_CHARS) -> str:
    """One line of peer text, safe inside an escape sequence or an argument."""
    text = neutralise(" ".join(text.split()))
    text = re.sub(r"[\x00-\x1f\x7f;]", " ", text)  # (neutralise shows them; ';' ends an OSC 777 field)
    return clip(text, limit)


def osc_flavour(env: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """``"9"`` for terminals that speak OSC 9 (iTerm2, Windows Terminal, ConEmu), else ``"777"``."""
    if env.get("TERM_PROGRAM") == "iTerm.app" or "WT_SESSION" in env or "ConEmuPID" in env:
        return "9"
    return "777"


class Notifier:
    def __init__(
        self,
        mode: str,
        *,
        write: Callable[[str], None],
        interval: float = 10.0,
        program: str | None = None,
        osc: str = "777",
        clock: Callable[[], float] = time.monotonic,
        schedule: Schedule = timer,
    ) -> None:
        self.mode = mode  # "mentions", "all" or "off"
        self._write = write  # to the terminal, for the escape
        self.interval = interval
        self._program = program  # notify-send's path; None: the escape
        self._osc = osc
        self._clock = clock
        self._schedule = schedule
        self._lock = threading.Lock()
        self._quiet_until = float("-inf")  # no notification before this
        self._pending: list[tuple[str, str]] = []  # (title, body) held back in the quiet time
        self._flush_due = False

    @classmethod
    def for_terminal(cls, mode: str, write: Callable[[str], None], interval: float) -> Notifier:
        return cls(mode, write=write, interval=interval, program=shutil.which("notify-send"), osc=osc_flavour())

    def wants(self, msg: m.Message, mentioned: bool, me: str) -> bool:
        """Is ``msg`` worth a notification, by the mode? (Not ours, not a replay.)"""
        if self.mode == "off" or not isinstance(msg, (m.ChatMessage, m.Private)) or msg.nick == me:
            return False
        if isinstance(msg, m.ChatMessage) and msg.replay:
            return False
        return self.mode == "all" or mentioned or isinstance(msg, m.Private)

    def message(self, msg: m.Message, mentioned: bool, me: str, *, watched: bool = False) -> bool:
        """A message arrived; ``watched``: its room is on screen and the user is typing.
        Returns whether it made (or will be part of) a notification."""
        if watched or not self.wants(msg, mentioned, me):
            return False
        assert isinstance(msg, (m.ChatMessage, m.Private))
        where = "private" if isinstance(msg, m.Private) else _clean(msg.room, 40)
        self.notify(f"{_clean(msg.nick, 40)} ({where})", _clean(msg.text))
        return True

    def notify(self, title: str, body: str) -> None:
        with self._lock:
            now = self._clock()
            if now >= self._quiet_until and not self._pending:
                self._quiet_until = now + self.interval
                send = True
            else:
                self._pending.append((title, body))
                send = False
                if not self._flush_due:
                    self._flush_due = True
                    self._schedule(max(0.0, self._quiet_until - now), self.flush)
        if send:
            self._show(title, body)

    def flush(self) -> None:
        """The quiet time is over: what came meanwhile, as one notification."""
        with self._lock:
            pending, self._pending = self._pending, []
            self._flush_due = False
            if not pending:
                return
            self._quiet_until = self._clock() + self.interval
        title, body = pending[-1]
        if len(pending) > 1:
            body = f"{len(pending)} new, the last: {title}: {body}"
            title = f"{len(pending)} mentions or messages"
        self._show(title, body)

    def _show(self, title: str, body: str) -> None:
        if self._program is not None:
            argv = [self._program, f"--app-name={APP}", title, body]
            threading.Thread(target=_run_quietly, args=(argv,), daemon=True).start()
        elif self._osc == "9":
            self._write(f"\x1b]9;{title}: {body}\x1b\\")
        else:
            self._write(f"\x1b]777;notify;{title};{body}\x1b\\")


def _run_quietly(argv: list[str]) -> None:
    try:
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.SubprocessError):
        pass  # no notification is no reason to stop chatting
