"""``chatclient --send TEXT``: one message, the server's confirmation, then leave.

TEXT is read as line mode reads a typed line: ``/msg`` is private, ``/me``
an action, ``//`` a leading slash; a command that means nothing for a sender
who leaves at once (``/who``, ``/join``, ...) is refused before connecting.
"""

from __future__ import annotations

from common.commands import CommandError
from common.messages import Accepted, Action, Bye, Error, Private, PrivateSay, Quit, Reply, Say
from common.safetext import neutralise

from .connection import ChatConnection
from .errors import ClientError
from .typed import parse_line


def one_shot_message(text: str) -> Say | Action | PrivateSay | str:
    """What ``--send TEXT`` sends, read exactly as line mode reads a line; a
    command that means nothing for a sender who leaves at once is refused
    (the reason, as a string)."""
    parsed = parse_line(text)
    if isinstance(parsed, (Say, Action, PrivateSay)):
        return parsed
    if isinstance(parsed, CommandError):
        return parsed.message
    command = text.split(maxsplit=1)[0]
    return f"{command} means nothing for one message; send text, /me ACTION or /msg NICK TEXT"


def send_once(conn: ChatConnection, message: Say | Action | PrivateSay, nick: str) -> int:
    """``--send``: one message, the server's answer on stdout, then leave."""
    try:
        conn.send(message)
        while True:
            msg = conn.next_message()
            if msg is None or isinstance(msg, Bye):
                raise ClientError("the server closed the connection before answering")
            if isinstance(msg, Reply):
                print(neutralise(msg.text))
                break
            if isinstance(msg, Accepted):
                print(f"Message delivered (#{msg.seq}).")
                break
            if isinstance(msg, Private) and isinstance(message, PrivateSay) and msg.nick == nick:
                print(f"Private message delivered to {neutralise(msg.to)}.")  # the server's copy to the sender
                break
            if isinstance(msg, Error):
                raise ClientError(f"the server refused the message: {neutralise(msg.message)}")
        try:
            conn.send(Quit())
            while conn.next_message() is not None:  # until the server's bye closes it
                pass
        except ClientError:
            pass  # already answered; a goodbye that goes missing changes nothing
        return 0
    finally:
        conn.close()
