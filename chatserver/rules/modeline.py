"""One mode request read into the rules' messages: IRC's ``MODE #room ...`` and the native ``/mode``, parsed once.

``read(room, letters, args, name)`` turns the letters (``+tk-l``) and their
arguments into what each asks, in order, with no I/O: the room's modes
(``rooms.ModesOf``), a ban list (``rooms.BansOf``; the lobby's is the
server's, ``lookup.BanList``), the lobby's ``o`` and ``b`` as ``/op``,
``/deop``, ``/ban`` and ``/unban`` (the lobby's operators and bans are the
server's: everyone is put there), and every other change of one command
as one ``rooms.ChangeMode`` (told to the room as one line), last. What
cannot be asked is a ``Refused`` value: a letter that is no mode (or, in
the lobby, any but ``o`` and ``b``), a letter without the value it takes.
Each way in carries the messages out through the rules' own handlers and
says the refusals its own way (``net/irc/commands.py``: numerics;
``roomcommands.py``: the native error frames). ``name`` decodes a name as
the way in spells it (IRC's escapes, ``net/irc/names.py``; the native
clients' as typed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from chatserver.core.hub import LOBBY
from chatserver.rules import lookup, rooms
from common import messages as m
from common.rooms import room_key

#: The room modes (``rooms.py``); ``b`` apart (a ban list, or a ban).
ROOM_MODES = "ovklimnst"
#: Letters that take a value: always, and only when set.
ALWAYS_ARG, SET_ARG = "ovb", "kl"
#: Mode letters read from one request, at most (the rules take ``rooms.MAX_CHANGES`` changes).
MAX_LETTERS = 20
_NOT_A_MODE = "{} is not a mode here: rooms have " + " ".join(ROOM_MODES + "b")
#: What the lobby's modes are, for a listing that says why they do not change.
LOBBY_MODES = f"{LOBBY}'s modes do not change: its operators are the server's (o: /op), its bans the server's (b: /ban)"


@dataclasses.dataclass(frozen=True, slots=True)
class Refused:
    """A letter that cannot be asked: ``why`` is ``unknown`` (no such mode here), ``value`` (its value
    is missing) or ``mask`` (a lobby ban that names no nick); ``text`` says so."""

    why: str
    letter: str
    sign: str
    text: str


#: What one request asks, in order: the rules' messages, or a refusal.
Asked = m.Message | Refused


def is_lobby(room: str) -> bool:
    return room_key(room) == room_key(LOBBY)


def read(room: str, letters: str, args: list[str], name: Callable[[str], str] = str) -> list[Asked]:
    """``letters`` (``+o-k``; none: the modes asked for) and ``args`` as the rules' messages (see the
    module docstring); ``name`` decodes a nick as the way in spells it."""
    if not letters:
        return [rooms.ModesOf(room)]
    lobby = is_lobby(room)
    args = list(args)
    sign = "+"
    asked: list[Asked] = []
    changes: list[tuple[str, str, str]] = []
    for ch in letters[:MAX_LETTERS]:
        if ch in "+-":
            sign = ch
        elif ch == "b" and not args:  # (the lobby's bans are the server's: /ban; a room's are its own)
            asked.append(lookup.BanList() if lobby else rooms.BansOf(room))
        elif ch not in ROOM_MODES + "b" or (lobby and ch not in "ob"):
            told = f"{LOBBY} has no modes but o and b: everyone is put there" if lobby else _NOT_A_MODE.format(ch)
            asked.append(Refused("unknown", ch, sign, told))
        elif ch in ALWAYS_ARG or (ch in SET_ARG and sign == "+"):
            if not args:
                asked.append(Refused("value", ch, sign, f"{sign}{ch} needs a value: /mode {sign}{ch} VALUE"))
                continue
            arg = args.pop(0)
            if lobby:
                asked.append(_lobby(sign, ch, arg, name))
            else:
                changes.append((sign, ch, _mask(arg, name) if ch == "b" else name(arg) if ch in "ov" else arg))
        else:
            changes.append((sign, ch, ""))
    if changes:
        (sign, ch, arg), *more = changes
        asked.append(rooms.ChangeMode(room, sign, ch, arg, more=more))
    return asked


def _lobby(sign: str, ch: str, arg: str, name: Callable[[str], str]) -> Asked:
    """The lobby's ``o`` and ``b``: the server's operators (``/op``, ``/deop``) and bans (``/ban``,
    ``/unban``: a nick, ``nick!*@*``, or to lift one, ``*!*@ADDRESS``)."""
    if ch == "o":
        return m.Op(name(arg)) if sign == "+" else m.Deop(name(arg))
    nick, _, userhost = arg.partition("!")
    host = userhost.partition("@")[2]
    if nick not in ("", "*"):
        return m.Ban(name(nick)) if sign == "+" else m.Unban(name(nick))
    if sign == "-" and host not in ("", "*"):
        return m.Unban(host)
    return Refused("mask", ch, sign, "a ban here names a nick (+b nick, or nick!*@*), and bans their address too")


def _mask(mask: str, name: Callable[[str], str]) -> str:
    """A room's ban mask as the rules match it: its nick part decoded (wildcards kept)."""
    nick, bang, rest = mask.partition("!")
    return name(nick) + bang + rest
