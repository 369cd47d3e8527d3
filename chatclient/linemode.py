"""Plain line mode, used when stdin is not a terminal (scripts, bots, tests).

Each stdin line is sent; each incoming message is printed as one line
(``NICK: text``, notices as ``* ...``) in the same plain form nc users see.
At end of input the client leaves politely, so everything sent is delivered.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from common import messages as m
from common.commands import HELP_LINES, CommandError, ShowHelp
from common.plain import render_plain

from .connection import ClientError
from .session import FrontEndSession


class LinePrinter:
    """Thread-safe line output; flushes each line so pipes see it at once."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lock = threading.Lock()

    def __call__(self, text: str) -> None:
        with self._lock:
            self._out.write(text + "\n")
            self._out.flush()


def run_line_mode(session: FrontEndSession, stdin: TextIO, printer: LinePrinter) -> int:
    """Pump stdin into the session until EOF, bye, or a lost connection."""
    session.start()
    try:
        for raw in stdin:
            if session.ended.is_set():
                break
            parsed = session.submit(raw.rstrip("\r\n"))
            if isinstance(parsed, ShowHelp):
                for line in HELP_LINES:
                    printer("* " + line)
            elif isinstance(parsed, CommandError):
                printer(f"* error: {parsed.message}")
            if session.leaving:
                break
    except ClientError as exc:
        session.lost = str(exc)
    session.leave()
    if session.lost and not session.leaving:
        print(f"chatclient: {session.lost}", file=sys.stderr)
        return 1
    printer("Chat ended.")
    return 0


def show_line(printer: LinePrinter):
    def show(msg: m.Message) -> None:
        printer(render_plain(msg))

    return show
