"""What operators may do beyond ``/kick``: ``/op``, ``/deop``, ``/ops``, ``/ban``,
``/unban``, ``/bans``, ``/mute``, ``/unmute``.

``COMMANDS`` maps each such command to its handler. Only an operator may;
nobody may ban, mute or deop the server's interactive host, and an operator
must be deopped before being banned or muted. Every change is announced to
the room of the person it is about (and told to the operator if they are
elsewhere), logged, and kept by ``moderation.Sanctions``; the handlers return
the rest as effects (``effects.py``).
"""

from __future__ import annotations

import hmac
import logging
import time

from chatserver.backends.records import Person, StoredSanction
from chatserver.rules.effects import Announce, Answer, Changed, Effect, Kick, Pause, SetOp, Tell, error, notice
from chatserver.rules.guards import operator_only  # (accounts.py takes it from here too)
from chatserver.rules.moderation import DEFAULT_DURATION, Sanctions, TooMany, until_text
from chatserver.rules.services import Handler, Me
from common import messages as m
from common.commands import MAX_DURATION, format_duration
from common.nicks import InvalidNick, nick_key, validate_nick
from common.rooms import one_line

log = logging.getLogger(__name__)

MAX_LISTED = 100  # entries of /bans or /ops shown, at most (one notice each)
BY_OP_FLAG = "one whenever they log in with the operator password (restart without --op to change that)"


def sanctions(who: Me) -> Sanctions:
    return who.server.sanctions


def _announce(who: Me, room: str, text: str, event: str, nick: str, exclude: Person | None = None) -> list[Effect]:
    """Tell ``room`` but ``exclude`` (and ``who``, if elsewhere), and the server's log."""
    log.warning("%s", text)
    build = lambda ts: m.Notice(text=text, ts=ts, event=event, nick=nick)  # noqa: E731
    effects: list[Effect] = [Announce(room, build, except_nick=exclude.nick if exclude is not None else None)]
    if room != who.room:
        effects.append(notice(text, event=event))
    return effects


def _target(who: Me, nick: str) -> tuple[Person | None, str] | list[Effect]:
    """The connected person called ``nick`` (or None) and the name to use;
    or the refusal, when ``nick`` is not a nickname at all."""
    found = who.hub.find(nick)
    if found is not None:
        return found, found.nick
    try:
        return None, validate_nick(nick)
    except InvalidNick as exc:
        return [error(exc.code, f"{nick[:40]!r} is not a nickname: {exc}")]


def _protected(who: Me, target: Person | None, nick: str, doing: str) -> list[Effect]:
    """The refusal to ``doing`` the host or an operator (empty if allowed)."""
    if (target is not None and target.host) or (target is None and who.server.reserved_for_host(nick, who)):  # type: ignore[arg-type]
        return [error("protected", f"{nick} runs this server: nobody can {doing} it")]
    if target is None and nick_key(nick) in who.server.config.ops:  # an operator again at its next login
        return [error("protected", f"{nick} is an operator by --op: {BY_OP_FLAG}")]
    if doing == "deop":
        return []
    if target is not None and nick_key(target.nick) == nick_key(who.nick):
        return [error("protected", f"you are an operator: you cannot {doing} yourself")]
    if (target is not None and target.op) or (target is None and sanctions(who).granted(nick)):
        return [error("protected", f"{nick} is an operator: /deop {nick} first")]
    return []


def _sanction(who: Me, msg: m.Ban | m.Mute) -> list[Effect]:
    kind = "ban" if isinstance(msg, m.Ban) else "mute"
    duration = DEFAULT_DURATION if msg.duration is None else msg.duration
    if not 0 <= duration <= MAX_DURATION:
        return [error("bad_command", f"a {kind} lasts 0 (until lifted) to {MAX_DURATION // 86400} days")]
    found = _target(who, msg.nick)
    if isinstance(found, list):
        return found
    target, nick = found
    refused = _protected(who, target, nick, kind)
    if refused:
        return refused
    reason = one_line(msg.reason)
    impose = sanctions(who).ban if kind == "ban" else sanctions(who).mute
    try:  # (kept now: the record it makes is what is announced)
        record = impose(nick, target.address if target is not None else "", who.nick, reason, duration)
    except TooMany as exc:
        return [error("too_many_sanctions", str(exc))]
    how_long = f"for {format_duration(duration)}" if duration else "until an operator lifts it"
    why = f": {reason}" if reason else ""
    room = target.room if target is not None else who.room
    where = f" (from {record.address})" if record.address else ""
    log.info("%s by %s on %s%s %s", kind, who.nick, nick, where, until_text(record, record.since))
    if kind == "ban":
        absent = "" if target is not None else " (not here now)"
        effects = _announce(who, room, f"{nick}{absent} was banned by {who.nick} {how_long}{why}", "ban", nick, target)
        if target is not None:  # "you were banned ...", the end of the session, like a kick
            effects.append(Kick(target.nick, f"banned by {who.nick} {until_text(record, record.since)}{why}", False))
        return effects
    effects = _announce(who, room, f"{nick} was muted by {who.nick} {how_long}{why}", "mute", nick, target)
    if target is not None:
        text = f"you were muted by {who.nick} {how_long}{why} (you can still read, and send private messages)"
        effects.append(Tell(target.nick, m.Notice(text=text, ts=time.time(), event="mute")))
    return effects


def _unban(who: Me, msg: m.Unban) -> list[Effect]:
    lifted = sanctions(who).unban(msg.mask)
    if not lifted:
        return [error("not_banned", f"no ban on {msg.mask[:60]!r} (a nickname or an address: see /bans)")]
    effects: list[Effect] = []
    for ban in lifted:
        effects += _announce(who, who.room, f"{who.nick} lifted the ban on {ban.nick}", "unban", ban.nick)
    return effects


def _unmute(who: Me, msg: m.Unmute) -> list[Effect]:
    lifted = sanctions(who).unmute(msg.nick)
    if lifted is None:
        return [error("not_muted", f"{msg.nick[:40]!r} is not muted")]
    target = who.hub.find(lifted.nick)
    room = target.room if target is not None else who.room
    text = f"{who.nick} lifted the mute on {lifted.nick}: they can talk again"
    return _announce(who, room, text, "unmute", lifted.nick)


def _op(who: Me, msg: m.Op) -> list[Effect]:
    target = who.hub.find(msg.nick)
    if target is None:
        return [error("no_such_nick", f"nobody called {msg.nick[:40]!r} is here: /op needs them connected")]
    if target.op:
        return [notice(f"{target.nick} is an operator already")]
    sanctions(who).grant(target.nick, who.nick, target.token)
    _account_op(who, target.nick, True)
    text = f"{target.nick} was made an operator by {who.nick}"
    return [SetOp(target.nick, True), *_announce(who, target.room, text, "op", target.nick)]


def _account_op(who: Me, nick: str, op: bool) -> bool:
    """``/op`` and ``/deop`` of a registered name are the account's, and last (``accounts.py``):
    True if ``nick`` is an account's (only its logged-in people can hold such a name)."""
    accounts = who.server.accounts
    account = accounts.registered(nick) if accounts is not None else None
    return account is not None and accounts is not None and accounts.set_op(account.name, op)


def _deop(who: Me, msg: m.Deop) -> list[Effect]:
    found = _target(who, msg.nick)
    if isinstance(found, list):
        return found
    target, nick = found
    refused = _protected(who, target, nick, "deop")
    if refused:
        return refused
    grant = sanctions(who).revoke(nick)
    by_account = _account_op(who, nick, False)
    effects: list[Effect] = []
    if target is not None and target.op:
        effects.append(SetOp(target.nick, False))
    elif grant is None and not by_account:
        return [error("not_an_operator", f"{nick} is not an operator")]
    room = target.room if target is not None else who.room
    return effects + _announce(who, room, f"{nick} is no longer an operator (by {who.nick})", "deop", nick)


def _list_ops(who: Me, msg: m.ListOps) -> list[Effect]:
    everyone = who.hub.sessions()
    lines = []
    for p in everyone:
        if not p.op:
            continue
        grant = sanctions(who).granted(p.nick)
        if p.host:
            how = "runs this server"
        elif grant is not None:
            how = f"made operator by {grant.by}"
        else:
            how = "named by --op"
        lines.append(f"{p.nick} ({how})")
    online = {nick_key(p.nick) for p in everyone}
    for grant in sanctions(who).grants():
        if nick_key(grant.nick) not in online:
            lines.append(f"{grant.nick} (made operator by {grant.by}; not here: their client's reconnect gets it back)")
    accounts = who.server.accounts
    for name in accounts.store.operators() if accounts is not None else []:
        if nick_key(name) not in online:
            lines.append(f"{name} (an account made operator; not here: an operator again on logging in)")
            online.add(nick_key(name))
    for key in sorted(set(who.server.config.ops) - online):
        lines.append(f"{key} (named by --op; not here: an operator again on logging in with the password)")
    return _list("ops", f"{len(lines)} operator(s)", lines)


def _list_bans(who: Me, msg: m.ListBans) -> list[Effect]:
    now = sanctions(who).clock()

    def line(s: StoredSanction) -> str:
        where = f" ({s.address})" if s.address else ""
        why = f": {s.reason}" if s.reason else ""
        return f"{s.kind} {s.nick}{where} by {s.by} {until_text(s, now)}{why}"

    bans, mutes = sanctions(who).bans(), sanctions(who).mutes()
    return _list("bans", f"{len(bans)} ban(s), {len(mutes)} mute(s)", [line(s) for s in bans + mutes])


def _list(event: str, head: str, lines: list[str]) -> list[Effect]:
    """A listing as notices: a head line, then one per entry (at most ``MAX_LISTED``)."""
    more = len(lines) - MAX_LISTED
    effects: list[Effect] = [notice(head + (":" if lines else ""), event=event)]
    effects += [Answer(m.Notice(text=f"  {text}", ts=time.time(), event=event)) for text in lines[:MAX_LISTED]]
    if more > 0:
        effects.append(notice(f"  and {more} more", event=event))
    return effects


class Oper(m.Message, tag="oper"):
    """IRC's ``OPER NAME PASSWORD``: the name of an operator (``--op``) and the operator password make
    this session an operator, as logging in as NAME with it would. A dialect's question: not on the
    native wire (the terminal client logs in as the operator instead)."""

    name: str
    password: str


def oper(who: Me, msg: Oper) -> list[Effect]:
    cfg = who.server.config
    if nick_key(msg.name) not in cfg.ops:
        return [error("no_oper_host", f"{msg.name[:40]!r} is not an operator's name here (--op)")]
    expected = cfg.op_password or cfg.password
    if expected is None or not hmac.compare_digest(msg.password.encode(), expected.encode()):
        delay = who.server.auth_failed(who.address)
        log.warning("wrong operator password for %s from %s", who.nick, who.address)
        return [Pause(delay), error("bad_password", "wrong operator password")]
    who.server.auth_succeeded(who.address)
    log.info("%s is an operator (OPER %s)", who.nick, msg.name)
    told = m.Notice(text=f"you are an operator now (as {msg.name})", ts=time.time(), event="oper", nick=who.nick)
    return [SetOp(who.nick, True), Changed(), Answer(told)]


#: Each operator command's handler (refused to anyone else).
COMMANDS: dict[type[m.Message], Handler] = {
    m.Op: operator_only(_op),
    m.Deop: operator_only(_deop),
    m.ListOps: operator_only(_list_ops),
    m.Ban: operator_only(_sanction),
    m.Mute: operator_only(_sanction),
    m.Unban: operator_only(_unban),
    m.Unmute: operator_only(_unmute),
    m.ListBans: operator_only(_list_bans),
    Oper: oper,  # type: ignore[dict-item]
}
