"""The rules' refusals as IRC numerics: which numeric each error code is, and what the numeric names.

A refusal (``m.Error``) for one IRC client is rendered here: the numeric of
its code (``ERRORS``), naming the target, the nick asked for, a mode or a
person, or another numeric for some commands (a message to a room one
is not in is ``404``, not ``442``: ``BY_COMMAND``), with the name the
numeric takes; a code without a numeric is a ``NOTICE`` with its text.
Nothing answers a ``NOTICE``, not even with an error (RFC 1459 4.4.2).
"""

from __future__ import annotations

import re
from typing import Protocol

from common import messages as m

from . import names
from .lines import build
from .names import irc_nick


class Said(Protocol):
    """The command an answer is for, and its target (``replies.Context``)."""

    command: str
    target: str


class Client(Protocol):
    """What a refusal's rendering reads of the connection (``replies.Client``; not imported: it renders these)."""

    nick: str
    wanted: str
    context: Said

    def numeric(self, code: str, *params: str) -> str: ...
    def notice(self, text: str) -> list[str]: ...


_ROOM_IN = re.compile(r"#[\w.-]+")

#: The rules' error codes as IRC numerics, and what the numeric names: the target, the nick asked for, or nothing.
ERRORS: dict[str, tuple[str, str]] = {
    "nick_taken": ("433", "wanted"),
    "name_registered": ("433", "wanted"),  # (an account's name: ergo says so with 433 too)
    "too_many_devices": ("433", "wanted"),  # (an account's devices at their cap: another name, or later)
    "invalid_nick": ("432", "wanted"),
    "nick_reserved": ("432", "wanted"),
    "nick_banned": ("432", "wanted"),
    "password_required": ("464", ""),
    "bad_password": ("464", ""),
    "banned": ("465", ""),
    "no_such_nick": ("401", "target"),
    "not_in_room": ("442", "target"),
    "muted": ("404", "target"),
    "not_operator": ("482", "target"),
    "protected": ("482", "target"),
    "not_kickable": ("482", "target"),
    "too_many_rooms": ("405", "target"),
    "too_many_joins": ("405", "target"),
    "invalid_room": ("403", "target"),
    "empty_message": ("412", ""),
    "no_oper_host": ("491", ""),
    "no_such_room": ("403", "target"),
    "not_in_that_room": ("441", "person"),
    "already_in_room": ("443", "person"),
    "room_full": ("471", "target"),
    "unknown_mode": ("472", "mode"),
    "invite_only": ("473", "target"),
    "bad_key": ("475", "target"),
    "moderated": ("404", "target"),
    "bad_mode_value": ("696", "mode"),
    "banned_from_room": ("474", "target"),
}
#: Where an IRC command's refusal is said as another numeric than the rules' code says (a message
#: to a room one is not in is 404, not 442).
BY_COMMAND = {("PRIVMSG", "442"): "404", ("NOTICE", "442"): "404", ("KILL", "482"): "481"}


def error(client: Client, msg: m.Error) -> list[str]:
    """``msg`` as the numeric its code is, naming what it names (nothing, for a refusal of a ``NOTICE``)."""
    code = ERRORS.get(msg.code)
    if client.context.command == "NOTICE" and msg.code != "login_timeout":
        return []  # (nothing answers a NOTICE, not even with an error: RFC 1459 4.4.2)
    if msg.code == "login_timeout":
        return [build("ERROR", f"Closing link: {msg.message}")]
    if code is None:
        return client.notice(msg.message)
    numeric, named = code
    numeric = BY_COMMAND.get((client.context.command, numeric), numeric)
    text = msg.message
    if msg.suggestion:
        text += f" (try {irc_nick(msg.suggestion)})"
    if named == "wanted":
        return [build(numeric, client.nick, client.wanted, text, source=names.SERVER)]
    if named == "mode":  # (the mode refused is the error's target; 696 names the room first)
        mode = msg.target or "*"
        params = [msg.room or client.context.target, mode, "*"] if numeric == "696" else [mode]
        return [client.numeric(numeric, *params, text)]
    if named == "person":  # (a person, then the room: 441, 443)
        return [client.numeric(numeric, irc_nick(msg.target or "*"), msg.room or client.context.target, text)]
    if named == "target":
        target = msg.room or client.context.target
        if target == "*" and (room := _ROOM_IN.search(text)):
            target = room.group()
        return [client.numeric(numeric, target, text)]
    return [client.numeric(numeric, text)]
