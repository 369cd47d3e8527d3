"""Plain line mode, used when stdin is not a terminal (scripts, bots, tests).

Each stdin line is sent; each incoming message is printed as one line
(``NICK: text``, notices as ``* ...``) in the same plain form nc users see.
At end of input the client leaves politely, so everything sent is delivered.
"""

from __future__ import annotations

import queue
import sys
import threading
import typing
from collections.abc import Callable
from typing import TextIO

from common import messages as m
from common.commands import HELP_LINES, AskPassword, CommandError, ShowHelp
from common.plain import render_plain
from common.threads import stop_signals_blocked, wait_for_stop

from .asking import warn_in_clear
from .errors import ClientError

try:
    import termios
except ImportError:  # (Windows: the password is read as it is typed, with the warning)
    termios = None  # type: ignore[assignment]

if typing.TYPE_CHECKING:
    from .session import ChatSession


class LinePrinter:
    """Thread-safe line output; flushes each line so pipes see it at once."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lock = threading.Lock()

    def __call__(self, text: str) -> None:
        with self._lock:
            self._out.write(text + "\n")
            self._out.flush()


class Interrupted(Exception):
    """Raised by a signal handler to leave the input loop; ``status`` is the exit code."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


#: At end of input, how long to wait for queued messages to get through a reconnect.
EOF_GRACE = 30.0


_ENDED = object()  # the session ended on the server's side
_EOF = object()  # end of standard input


def _read_lines(stdin: TextIO, inbox: queue.Queue) -> None:
    for raw in stdin:
        inbox.put(raw)
    inbox.put(_EOF)


def run_line_mode(session: ChatSession, stdin: TextIO, printer: LinePrinter) -> int:
    """Pump stdin into the session until EOF, bye, or a lost connection.

    Standard input is read in its own thread, so that a session the server
    ends (a kick, a shutdown) ends the program at once, not at the next line.
    """
    inbox: queue.Queue = queue.Queue()
    session.on_end = lambda: inbox.put(_ENDED)
    session.start()
    # Signals must reach the main thread (waiting on the queue), not the reader.
    with stop_signals_blocked():
        threading.Thread(target=_read_lines, args=(stdin, inbox), name="stdin", daemon=True).start()
    status = 0
    try:
        while True:
            raw = wait_for_stop(inbox)  # (a signal's handler must not wait for the next line)
            if raw is _ENDED:
                break
            if raw is _EOF:
                session.wait_sent(EOF_GRACE)  # deliver what is queued before leaving
                break
            line = raw.rstrip("\r\n")
            # A script's lines are slowed to the server's limit, never cut off
            # (the session paces them: here, its backlog holds up our input);
            # a session that ends meanwhile ends the program at once.
            session.wait_writable()
            if session.ended.is_set():
                break
            parsed = session.submit(line)
            if isinstance(parsed, AskPassword):  # its password(s): the next line(s), never shown
                if session.conn.tls is None:
                    warn_in_clear()
                built = _passwords(parsed, inbox, stdin)
                if built is None:
                    break  # (the input or the session ended meanwhile)
                session.send(built)
            elif isinstance(parsed, ShowHelp):
                for line in HELP_LINES:
                    printer("* " + line)
            elif isinstance(parsed, CommandError):
                printer(f"* error: {parsed.message}")
            if session.leaving:
                break
    except ClientError as exc:
        session.lost = str(exc)
    except (Interrupted, KeyboardInterrupt) as exc:
        status = exc.status if isinstance(exc, Interrupted) else 130
    lost_first = session.ended.is_set() and not session.leaving and session.lost
    session.leave()
    unsent = session.unsent()  # after leave: the server's bye confirms what arrived
    return finish(session.lost if lost_first else None, unsent, status)


def _passwords(asked: AskPassword, inbox: queue.Queue, stdin: TextIO) -> m.Message | None:
    """An account command's passwords, each the next line of input: typed unseen on a terminal
    (its echo off meanwhile), else read from a script's input, with a warning. None: the input
    or the session ended first."""
    echo = _EchoOff(stdin)
    if not echo.terminal:
        print(
            f"chatclient: warning: /{asked.command}: the password is read from standard input (no terminal)",
            file=sys.stderr,
        )
    answers = []
    for prompt in asked.prompts:
        with echo:
            if echo.terminal:
                print(f"{prompt[:1].upper()}{prompt[1:]} (not shown): ", end="", file=sys.stderr, flush=True)
            raw = wait_for_stop(inbox)
            if echo.terminal:
                print(file=sys.stderr)
        if raw is _ENDED or raw is _EOF:
            inbox.put(raw)  # (seen again by the loop, which ends)
            return None
        answers.append(raw.rstrip("\r\n"))
    return asked.build(*answers)


class _EchoOff:
    """The terminal's echo off while a password is typed (when the input is one)."""

    def __init__(self, stdin: TextIO) -> None:
        try:
            self.terminal = stdin.isatty() and termios is not None
        except ValueError:  # (closed)
            self.terminal = False
        self._fd = stdin.fileno() if self.terminal else -1
        self._saved: list | None = None

    def __enter__(self) -> None:
        if self.terminal:
            self._saved = termios.tcgetattr(self._fd)
            quiet = termios.tcgetattr(self._fd)
            quiet[3] &= ~termios.ECHO
            termios.tcsetattr(self._fd, termios.TCSADRAIN, quiet)

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            self._saved = None


def show_line(printer: LinePrinter, rooms: Callable[[], int] = lambda: 1) -> Callable[[m.Message], None]:
    """Each message as its plain line; while in several rooms (``rooms()``, how
    many we are in), a room's line starts with its room (``[#dev] alice: hi``)."""

    def show(msg: m.Message) -> None:
        printer(render_plain(msg, with_room=rooms() > 1))

    return show


def finish(lost: str | None, unsent: int, status: int) -> int:
    """The last words of a session, on a terminal that may already be gone."""
    try:
        if unsent:
            print(f"chatclient: {unsent} message(s) were not sent", file=sys.stderr)
        if lost:
            print(f"chatclient: {lost}", file=sys.stderr)
            return 1
        print("Chat ended.", flush=True)
    except OSError:  # the terminal closed (SIGHUP)
        pass
    return status or (1 if unsent else 0)
