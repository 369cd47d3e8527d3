"""The plain-line form of server messages, for nc/telnet users and line mode.

Messages become ``NICK: text`` lines, everything else a line starting ``* ``.
Peer-controlled text is neutralised here, so a raw terminal is safe.
"""

from __future__ import annotations

from . import messages as m
from .safetext import neutralise


def render_plain(msg: m.Message) -> str:
    """One display line (no newline) for a server-to-client message."""
    if isinstance(msg, m.ChatMessage):
        nick, text = neutralise(msg.nick), neutralise(msg.text)
        line = f"* {nick} {text}" if msg.action else f"{nick}: {text}"
        return f"({msg.replay}) {line}" if msg.replay else line
    if isinstance(msg, m.Private):
        return f"(private) {neutralise(msg.nick)}: {neutralise(msg.text)}"
    if isinstance(msg, m.Notice):
        return "* " + neutralise(msg.text, keep_newlines=True).replace("\n", "\n* ")
    if isinstance(msg, m.Users):
        names = ", ".join(neutralise(n) for n in msg.nicks)
        return f"* {len(msg.nicks)} in {neutralise(msg.room)}: {names}"
    if isinstance(msg, m.Welcome):
        return f"* welcome to {neutralise(msg.server)}, {neutralise(msg.nick)}!"
    if isinstance(msg, m.Error):
        hint = f" (try {neutralise(msg.suggestion)!r})" if msg.suggestion else ""
        return f"* error: {neutralise(msg.message)}{hint}"
    if isinstance(msg, m.Bye):
        return f"* bye: {neutralise(msg.reason)}" if msg.reason else "* bye"
    if isinstance(msg, m.Reply):
        return neutralise(msg.text)
    if isinstance(msg, m.Accepted):
        return f"* delivered as #{msg.seq}"
    return f"* {msg.TYPE}"
