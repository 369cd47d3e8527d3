"""Registering again on a new link: a hello asking for our name, rooms and places in them back; the replay.

The session decides when (``reconnect.py`` finds the address); these say
what is asked for and read what the server replays, handing each message
back to the session, which treats it as any other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from common import messages as m

from .connection import ChatConnection
from .errors import ClientError, NameRegistered, NickRejected
from .positions import Positions


def hello_again(
    conn: ChatConnection,
    nick: str,
    *,
    token: str | None,
    rooms: Sequence[str],
    positions: Positions,
    password: str | None,
    login_token: str | None = None,
    account_password: str | None = None,
) -> m.Welcome:
    """Register as ``nick`` (or the free name the server suggests) with our
    resume ``token``, asking for ``rooms`` back (the focused one first: always
    asked for) and where we were in each one's numbering; ``login_token`` (or
    ``account_password``, of the account our name is): logged in again."""
    room, *others = rooms
    while True:
        try:
            return conn.hello(
                nick,
                resume=token,
                room=room,
                epoch=positions.epoch(room),
                last_seq=positions.last_seq(room),
                password=password,
                others=[(r, positions.epoch(r), positions.last_seq(r)) for r in others],
                login_token=login_token,
                account_password=account_password,
            )
        except NickRejected as exc:
            if not exc.suggestion or isinstance(exc, NameRegistered):  # (an account's: not another name unasked)
                raise
            nick = exc.suggestion


def replay(conn: ChatConnection, count: int, handle: Callable[[m.Message], None]) -> None:
    """Hand the ``count`` replayed chat messages that follow a welcome (and any
    notice among them) to ``handle``; raises ``ClientError`` if the link ends first."""
    replayed = 0
    while replayed < count:
        msg = conn.next_message()
        if msg is None or isinstance(msg, m.Bye):
            raise ClientError("the server closed the connection")
        replayed += isinstance(msg, m.ChatMessage)
        handle(msg)
