"""The native ``/mode`` and ``/invite``: terminal, page and nc users read and change room modes, and invite, as on IRC.

``/mode`` is read as IRC's ``MODE`` is, by the one parser (``modeline.py``:
the lobby's ``o`` and ``b`` are ``/op`` and ``/ban`` there too), and both
go through the rules' own handlers (``rooms.py``'s ``change_mode``,
``modes_of``, ``bans_of``, ``invite``; ``operators.py``'s), so the
permissions and effects are the same for every way in: a change is told to
the room as the notice an IRC client sees as a ``MODE`` line, and an IRC
operator's ``MODE`` reaches a terminal user as that notice. The lobby's
listing says its modes do not change, and why. What those handlers answer in IRC's terms (``Modes``,
``RoomBans``, ``Invited``, the server's ``Bans``: not on the native wire)
becomes a notice here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chatserver.rules import lookup, modeline, operators, rooms
from chatserver.rules.effects import Answer, Effect, error, notice
from chatserver.rules.roommodes import MEANING
from chatserver.rules.services import Handler, Me
from common import messages as m


def mode(me: Me, msg: m.RoomMode) -> list[Effect]:
    """``/mode``: the room's modes (no changes), its bans (``+b`` alone), or changes of them, read as
    IRC's ``MODE`` is (``modeline.read``: the lobby's ``o`` and ``b`` are ``/op`` and ``/ban``)."""
    room = msg.room or me.room
    effects: list[Effect] = []
    for asked in modeline.read(room, msg.changes, msg.args):
        if isinstance(asked, modeline.Refused):
            code = "bad_command" if asked.why == "value" else "unknown_mode"
            effects.append(error(code, asked.text, target=asked.letter))
        else:
            effects += _native(_HANDLERS[type(asked)](me, asked))
    return effects


def invite(me: Me, msg: m.Invite) -> list[Effect]:
    """``/invite NICK [#ROOM]``: as IRC's INVITE (the guest is told by a notice)."""
    return _native(rooms.invite(me, rooms.Invite(msg.nick, msg.room or me.room)))


def _modes_text(found: rooms.Modes) -> str:
    letters = found.modes.lstrip("+")
    meant = [f"{ch} ({MEANING[ch]})" for ch in letters if ch in MEANING]
    shown = " ".join([found.modes, *found.args])
    fixed = f"; {modeline.LOBBY_MODES}" if modeline.is_lobby(found.room) else ""  # (not changed, but said why)
    return f"modes of {found.room}: {shown}" + (": " + ", ".join(meant) if meant else "") + fixed


def _bans_text(found: rooms.RoomBans) -> str:
    if not found.bans:
        return f"nobody is banned from {found.room}"
    said = [f"{mask} (by {by}, {time.strftime('%Y-%m-%d %H:%M', time.localtime(at))})" for mask, by, at in found.bans]
    return f"banned from {found.room}: " + "; ".join(said)


def _invited_text(found: rooms.Invited) -> str:
    return f"{found.nick} is invited to {found.room}"


def _server_bans_text(found: lookup.Bans) -> str:
    if not found.bans:
        return "nobody is banned from this server"
    said = [f"{nick}" + (f" ({address})" if address else "") + f" by {by}" for nick, address, by in found.bans]
    return "banned from this server: " + "; ".join(said)


#: The rules' answers in IRC's terms, each as a notice's text and event.
_TOLD: dict[type, tuple[Callable[..., str], str]] = {
    rooms.Modes: (_modes_text, "modes"),
    rooms.RoomBans: (_bans_text, "bans"),
    rooms.Invited: (_invited_text, "invited"),
    lookup.Bans: (_server_bans_text, "bans"),
}


#: What a ``/mode`` may ask (``modeline.read``), each to the rules' own handler.
_HANDLERS: dict[type[m.Message], Handler] = {
    rooms.ModesOf: rooms.modes_of,
    rooms.BansOf: rooms.bans_of,
    rooms.ChangeMode: rooms.change_mode,
    lookup.BanList: lookup.ban_list,
    **{kind: operators.COMMANDS[kind] for kind in (m.Op, m.Deop, m.Ban, m.Unban)},
}  # type: ignore[dict-item]


def _native(effects: list[Effect]) -> list[Effect]:
    """``effects`` with the answers a native client cannot read told as notices."""
    out: list[Effect] = []
    for effect in effects:
        told = _TOLD.get(type(effect.msg)) if isinstance(effect, Answer) else None
        out.append(notice(told[0](effect.msg), told[1]) if told else effect)
    return out


#: The native commands' handlers, for the chat table.
COMMANDS: dict[type[m.Message], Handler] = {
    m.RoomMode: mode,
    m.Invite: invite,
}  # type: ignore[dict-item]
