"""What a line the user typed means (the terminal, line mode and ``--send`` alike), and the note for one refused."""

from __future__ import annotations

import time

from common import messages as m
from common.commands import AskPassword, CommandError, ShowHelp, parse_input
from common.limits import clip

#: Characters of a refused line quoted when saying it was not sent.
NOT_SENT_CHARS = 60


def parse_line(line: str) -> m.Message | ShowHelp | CommandError | AskPassword | None:
    """What a line of user input means."""
    line = line.rstrip("\r\n")  # a paste that ends with its last line's newline: no blank line
    # A pasted block is one message, whatever its first line looks like.
    if "\n" in line.strip("\n") and len(line) <= m.MAX_TEXT:
        return m.Say(line)
    return parse_input(line)


def not_sent(line: m.Say | m.Action, why: m.Error) -> m.Notice:
    """The line a refusal answers, marked as not sent, and why: ``* not sent: "more spam" (you are muted ...)``."""
    text = clip(" ".join(line.text.split()), NOT_SENT_CHARS)
    return m.Notice(
        text=f'not sent: {"/me " if isinstance(line, m.Action) else ""}"{text}" ({why.message})',
        ts=time.time(),
        event="unsent",
    )
