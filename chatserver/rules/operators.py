"""What operators may do beyond ``/kick``: ``/op``, ``/deop``, ``/ops``, ``/ban``,
``/unban``, ``/bans``, ``/mute``, ``/unmute``.

``moderate`` answers one such command from a participant. Only an operator
may; nobody may ban, mute or deop the server's interactive host, and an
operator must be deopped before being banned or muted. Every change is
announced to the room of the person it is about (and told to the operator
if they are elsewhere), logged, and kept by ``moderation.Sanctions``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from chatserver.backends.roomlog import StoredSanction
from chatserver.core.fanout import Frame
from chatserver.core.registry import Person
from chatserver.rules.moderation import DEFAULT_DURATION, Sanctions, TooMany, format_duration, until_text
from common import messages as m
from common.commands import MAX_DURATION
from common.nicks import InvalidNick, nick_key, validate_nick
from common.rooms import one_line

if TYPE_CHECKING:
    from chatserver.rules.participant import Participant

log = logging.getLogger(__name__)

COMMANDS = (m.Op, m.Deop, m.ListOps, m.Ban, m.Unban, m.ListBans, m.Mute, m.Unmute)
MAX_LISTED = 100  # entries of /bans or /ops shown, at most (one notice each)


def moderate(who: Participant, msg: m.Message) -> None:
    """Act on one of ``COMMANDS`` from ``who``."""
    if not who.op:
        who.send(m.Error("not_operator", f"only operators can /{msg.TYPE}"))
        return
    if isinstance(msg, m.ListOps):
        _list_ops(who)
    elif isinstance(msg, m.ListBans):
        _list_bans(who)
    elif isinstance(msg, m.Unban):
        _unban(who, msg.mask)
    elif isinstance(msg, m.Unmute):
        _unmute(who, msg.nick)
    elif isinstance(msg, (m.Ban, m.Mute)):
        _sanction(who, msg)
    elif isinstance(msg, m.Op):
        _op(who, msg.nick)
    elif isinstance(msg, m.Deop):
        _deop(who, msg.nick)


def sanctions(who: Participant) -> Sanctions:
    return who.server.sanctions


def _announce(who: Participant, room: str, text: str, event: str, nick: str, exclude: Person | None = None) -> None:
    """Tell ``room`` but ``exclude`` (and ``who``, if elsewhere), and the server's log."""
    log.warning("%s", text)
    notice = lambda ts: m.Notice(text=text, ts=ts, event=event, nick=nick)  # noqa: E731
    who.hub.announce(room, notice, except_nick=exclude.nick if exclude is not None else None)
    if room != who.room:
        who.notice(text, event=event)


def _target(who: Participant, nick: str) -> tuple[Person | None, str] | None:
    """The connected participant called ``nick`` (or None) and the name to use;
    None (the error sent) when ``nick`` is not a nickname at all."""
    found = who.hub.find(nick)
    if found is not None:
        return found, found.nick
    try:
        return None, validate_nick(nick)
    except InvalidNick as exc:
        who.send(m.Error(exc.code, f"{nick[:40]!r} is not a nickname: {exc}"))
        return None


BY_OP_FLAG = "one whenever they log in with the operator password (restart without --op to change that)"


def _protected(who: Participant, target: Person | None, nick: str, doing: str) -> bool:
    """Refuse (True, error sent) to ``doing`` the host or an operator."""
    if (target is not None and target.host) or (target is None and who.server.reserved_for_host(nick, who)):
        who.send(m.Error("protected", f"{nick} runs this server: nobody can {doing} it"))
        return True
    if target is None and nick_key(nick) in who.server.config.ops:  # an operator again at its next login
        who.send(m.Error("protected", f"{nick} is an operator by --op: {BY_OP_FLAG}"))
        return True
    if doing == "deop":
        return False
    if target is not None and nick_key(target.nick) == nick_key(who.nick):
        who.send(m.Error("protected", f"you are an operator: you cannot {doing} yourself"))
        return True
    if (target is not None and target.op) or (target is None and sanctions(who).granted(nick)):
        who.send(m.Error("protected", f"{nick} is an operator: /deop {nick} first"))
        return True
    return False


def _sanction(who: Participant, msg: m.Ban | m.Mute) -> None:
    kind = "ban" if isinstance(msg, m.Ban) else "mute"
    duration = DEFAULT_DURATION if msg.duration is None else msg.duration
    if not 0 <= duration <= MAX_DURATION:
        who.send(m.Error("bad_command", f"a {kind} lasts 0 (until lifted) to {MAX_DURATION // 86400} days"))
        return
    found = _target(who, msg.nick)
    if found is None:
        return
    target, nick = found
    if _protected(who, target, nick, kind):
        return
    reason = one_line(msg.reason)
    try:
        address = target.address if target is not None else ""
        if kind == "ban":
            record = sanctions(who).ban(nick, address, who.nick, reason, duration)
        else:
            record = sanctions(who).mute(nick, address, who.nick, reason, duration)
    except TooMany as exc:
        who.send(m.Error("too_many_sanctions", str(exc)))
        return
    how_long = f"for {format_duration(duration)}" if duration else "until an operator lifts it"
    why = f": {reason}" if reason else ""
    room = target.room if target is not None else who.room
    where = f" (from {record.address})" if record.address else ""
    log.info("%s by %s on %s%s %s", kind, who.nick, nick, where, until_text(record, record.since))
    if kind == "ban":
        absent = "" if target is not None else " (not here now)"
        _announce(who, room, f"{nick}{absent} was banned by {who.nick} {how_long}{why}", "ban", nick, target)
        if target is not None:
            told = f"banned by {who.nick} {until_text(record, record.since)}{why}"
            who.hub.kick(target.nick, told)  # "you were banned ...", the end of the session, like a kick
    else:
        _announce(who, room, f"{nick} was muted by {who.nick} {how_long}{why}", "mute", nick, target)
        if target is not None:
            text = f"you were muted by {who.nick} {how_long}{why} (you can still read, and send private messages)"
            who.hub.tell(target.nick, Frame(m.Notice(text=text, ts=time.time(), event="mute")))


def _unban(who: Participant, mask: str) -> None:
    lifted = sanctions(who).unban(mask)
    if not lifted:
        who.send(m.Error("not_banned", f"no ban on {mask[:60]!r} (a nickname or an address: see /bans)"))
        return
    for ban in lifted:
        _announce(who, who.room, f"{who.nick} lifted the ban on {ban.nick}", "unban", ban.nick)


def _unmute(who: Participant, nick: str) -> None:
    lifted = sanctions(who).unmute(nick)
    if lifted is None:
        who.send(m.Error("not_muted", f"{nick[:40]!r} is not muted"))
        return
    target = who.hub.find(lifted.nick)
    room = target.room if target is not None else who.room
    _announce(who, room, f"{who.nick} lifted the mute on {lifted.nick}: they can talk again", "unmute", lifted.nick)


def _op(who: Participant, nick: str) -> None:
    target = who.hub.find(nick)
    if target is None:
        who.send(m.Error("no_such_nick", f"nobody called {nick[:40]!r} is here: /op needs them connected"))
        return
    if target.op:
        who.notice(f"{target.nick} is an operator already")
        return
    who.hub.set_op(target.nick, True)
    sanctions(who).grant(target.nick, who.nick, target.token)
    _announce(who, target.room, f"{target.nick} was made an operator by {who.nick}", "op", target.nick)


def _deop(who: Participant, nick: str) -> None:
    found = _target(who, nick)
    if found is None:
        return
    target, nick = found
    if _protected(who, target, nick, "deop"):
        return
    grant = sanctions(who).revoke(nick)
    if target is not None and target.op:
        who.hub.set_op(target.nick, False)
    elif grant is None:
        who.send(m.Error("not_an_operator", f"{nick} is not an operator"))
        return
    room = target.room if target is not None else who.room
    _announce(who, room, f"{nick} is no longer an operator (by {who.nick})", "deop", nick)


def _list_ops(who: Participant) -> None:
    here = [p for p in who.hub.sessions() if p.op]
    lines = []
    for p in here:
        grant = sanctions(who).granted(p.nick)
        if p.host:
            how = "runs this server"
        elif grant is not None:
            how = f"made operator by {grant.by}"
        else:
            how = "named by --op"
        lines.append(f"{p.nick} ({how})")
    online = {nick_key(p.nick) for p in who.hub.sessions()}
    for grant in sanctions(who).grants():
        if nick_key(grant.nick) not in online:
            lines.append(f"{grant.nick} (made operator by {grant.by}; not here: their client's reconnect gets it back)")
    for key in sorted(who.server.config.ops - online):
        lines.append(f"{key} (named by --op; not here: an operator again on logging in with the password)")
    _list(who, "ops", f"{len(lines)} operator(s)", lines)


def _list_bans(who: Participant) -> None:
    now = sanctions(who).clock()

    def line(s: StoredSanction) -> str:
        where = f" ({s.address})" if s.address else ""
        why = f": {s.reason}" if s.reason else ""
        return f"{s.kind} {s.nick}{where} by {s.by} {until_text(s, now)}{why}"

    bans, mutes = sanctions(who).bans(), sanctions(who).mutes()
    _list(who, "bans", f"{len(bans)} ban(s), {len(mutes)} mute(s)", [line(s) for s in bans + mutes])


def _list(who: Participant, event: str, head: str, lines: list[str]) -> None:
    """A listing as notices: a head line, then one per entry (at most ``MAX_LISTED``)."""
    more = len(lines) - MAX_LISTED
    who.notice(head + (":" if lines else ""), event=event)
    for text in lines[:MAX_LISTED]:
        who.send(m.Notice(text=f"  {text}", ts=time.time(), event=event))
    if more > 0:
        who.notice(f"  and {more} more", event=event)
