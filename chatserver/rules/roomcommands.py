"""The native ``/mode`` and ``/invite``: terminal, page and nc users read and change room modes, and invite, as on IRC.

Both go through ``rooms.py``'s own handlers (``change_mode``, ``modes_of``,
``bans_of``, ``invite``), so the permissions and effects are the same for
every way in: a change is told to the room as the notice an IRC client sees
as a ``MODE`` line, and an IRC operator's ``MODE`` reaches a terminal user
as that notice. What those handlers answer in IRC's terms (``Modes``,
``RoomBans``, ``Invited``: not on the native wire) becomes a notice here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chatserver.rules import rooms
from chatserver.rules.effects import Answer, Effect, error, notice
from chatserver.rules.roommodes import MEANING
from chatserver.rules.services import Handler, Me
from common import messages as m

#: Mode letters that take an argument: always, and only when set.
ALWAYS_ARG, SET_ARG = "ovb", "kl"
#: Mode letters read from one ``/mode``, at most (the rules take ``rooms.MAX_CHANGES`` changes).
MAX_LETTERS = 20


def mode(me: Me, msg: m.RoomMode) -> list[Effect]:
    """``/mode``: the room's modes (no changes), its bans (``+b`` alone), or changes of them."""
    room = msg.room or me.room
    if not msg.changes:
        return _native(rooms.modes_of(me, rooms.ModesOf(room)))
    args, sign = list(msg.args), "+"
    effects: list[Effect] = []
    changes: list[tuple[str, str, str]] = []
    for ch in msg.changes[:MAX_LETTERS]:
        if ch in "+-":
            sign = ch
        elif ch == "b" and not args:
            effects += _native(rooms.bans_of(me, rooms.BansOf(room)))
        elif ch in ALWAYS_ARG or (ch in SET_ARG and sign == "+"):
            if not args:
                effects.append(error("bad_command", f"{sign}{ch} needs a value: /mode {sign}{ch} VALUE", target=ch))
                continue
            changes.append((sign, ch, args.pop(0)))
        else:
            changes.append((sign, ch, ""))
    if changes:
        (sign, ch, arg), *more = changes
        effects += rooms.change_mode(me, rooms.ChangeMode(room, sign, ch, arg, more=more))
    return effects


def invite(me: Me, msg: m.Invite) -> list[Effect]:
    """``/invite NICK [#ROOM]``: as IRC's INVITE (the guest is told by a notice)."""
    return _native(rooms.invite(me, rooms.Invite(msg.nick, msg.room or me.room)))


def _modes_text(found: rooms.Modes) -> str:
    letters = found.modes.lstrip("+")
    meant = [f"{ch} ({MEANING[ch]})" for ch in letters if ch in MEANING]
    shown = " ".join([found.modes, *found.args])
    return f"modes of {found.room}: {shown}" + (": " + ", ".join(meant) if meant else "")


def _bans_text(found: rooms.RoomBans) -> str:
    if not found.bans:
        return f"nobody is banned from {found.room}"
    said = [f"{mask} (by {by}, {time.strftime('%Y-%m-%d %H:%M', time.localtime(at))})" for mask, by, at in found.bans]
    return f"banned from {found.room}: " + "; ".join(said)


def _invited_text(found: rooms.Invited) -> str:
    return f"{found.nick} is invited to {found.room}"


#: The rules' answers in IRC's terms, each as a notice's text and event.
_TOLD: dict[type, tuple[Callable[..., str], str]] = {
    rooms.Modes: (_modes_text, "modes"),
    rooms.RoomBans: (_bans_text, "bans"),
    rooms.Invited: (_invited_text, "invited"),
}


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
