"""What the terminal UI shows of a session beside its messages: the toolbar, and the words Tab completes.

Both read the session through explicit callables (``Facts``), asked each
time the toolbar is drawn or Tab is pressed (the UI's thread, while the
receiver thread changes what they read); ``Facts.of`` is the one place that
knows where a ``ChatSession`` keeps them.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterable, Sequence

from common.safetext import neutralise

from .completion import ChatCompleter

if typing.TYPE_CHECKING:
    from .session import ChatSession


@dataclasses.dataclass(frozen=True)
class Facts:
    """What the toolbar and completion show of a session, each asked when needed."""

    server: Callable[[], str]  # the server's name (its welcome's)
    room: Callable[[], str]  # the focused room
    users: Callable[[], Sequence[str]]  # who is in it
    connected: Callable[[], bool]  # (who is here is known only while connected)
    status: Callable[[], str]  # "connected to ...", "disconnected: ..."
    cluster_down: Callable[[], bool]  # between the server's link_down and link_up notices
    encrypted: Callable[[], bool]
    hotlist: Callable[[], str]  # rooms with unseen messages: #dev(3) #ops(1!)
    rooms: Callable[[], Iterable[str]]  # every room we heard of
    correspondents: Callable[[], Iterable[str]]  # who we exchanged private messages with
    transfers: Callable[[], str] = lambda: ""  # the files' progress bars, a line each (files.Transfers.bars)
    account: Callable[[], str | None] = lambda: None  # the account we are logged in to (None: a guest)

    @classmethod
    def of(cls, session: ChatSession) -> Facts:
        return cls(
            server=lambda: session.welcome.server,
            room=lambda: session.room,
            users=lambda: session.users,
            connected=lambda: session.connected,
            status=lambda: session.status,
            cluster_down=lambda: session.cluster_down,
            encrypted=lambda: session.conn.tls is not None,
            hotlist=session.windows.hotlist_text,
            rooms=lambda: session.rooms,
            correspondents=lambda: session.correspondents,
            transfers=session.files.bars,
            account=lambda: session.account.account,
        )


def toolbar(facts: Facts) -> str:
    """Server, room and head count, connection state (and the server's cluster link's), the account we are
    logged in as, a lock when encrypted."""
    # Who is here is known only while connected: no stale head count while reconnecting.
    users = facts.users() if facts.connected() else None
    room = facts.room()
    parts = [facts.server(), f"{room} ({len(users)})" if users else room, facts.status()]
    account = facts.account()
    if account:
        parts.append(f"logged in as {account}")
    if facts.cluster_down():
        parts.append("⚠ cluster link down: your lines wait, commands fail")
    if facts.encrypted():
        parts.append("🔒 TLS")
    parts.append(facts.hotlist())
    line = " " + " │ ".join(neutralise(p) for p in parts if p) + " "
    bars = facts.transfers()  # (above the line: a file's progress, redrawn in place as it moves)
    return "".join(f" {neutralise(bar)}\n" for bar in bars.splitlines()) + line


def completer(facts: Facts) -> ChatCompleter:
    """Tab completion from the session's live state."""
    return ChatCompleter(nicks=facts.users, rooms=facts.rooms, correspondents=facts.correspondents)


def completer_for(session: ChatSession) -> ChatCompleter:
    return completer(Facts.of(session))
