"""A person's way in: the password, bans, and registration (a name, a room, the welcome).

``register`` claims the name and the first room in one step of the hub,
greets, and puts a reconnecting client back into the other rooms it was in.
A refusal is answered; one that ends the session (a wrong password, a ban,
the cluster away) is carried out as effects (``effects.py``).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Sequence
from typing import Protocol

from chatserver.accounts.service import Login, Refused
from chatserver.backends.accounts import StoredAccount
from chatserver.backends.records import Unavailable
from chatserver.core.hub import Greeting
from chatserver.core.registry import NickTaken
from chatserver.rules import accounts as accountrules
from chatserver.rules import devices, membership
from chatserver.rules.effects import Effect, Pause, leave
from chatserver.rules.moderation import until_text
from chatserver.rules.services import Me
from common import messages as m
from common.nicks import InvalidNick, nick_key, validate_nick
from common.rooms import InvalidRoom, validate_room

log = logging.getLogger(__name__)


class Entrant(Me, Protocol):
    """What registering needs of a person beyond ``Me`` (``Participant`` has it)."""

    #: Do people of this mode meet in the hub's rooms (else each is alone with the server)?
    shared: bool
    turn: devices.Turn

    def greet(self, g: Greeting) -> None: ...

    def execute(self, effects: Sequence[Effect]) -> None: ...


def authenticate(p: Entrant, nick: str, password: str | None, *, by_account: bool = False) -> bool | None:
    """Check the password ``nick`` needs: True ok, None none given yet.

    ``by_account``: the hello logs in to an account (a token or its password), which proves an
    ``--op`` name as the operators' password would: the account's rights come with the login
    (``Accounts.is_op``), and only the server's own password, if any, is asked here.

    A wrong one is answered (after a delay that grows with each failure
    from the same address) and ends the session.
    """
    if p.is_host:
        return True
    cfg = p.server.config
    is_op = nick_key(nick) in cfg.ops and not by_account
    expected = (cfg.op_password or cfg.password) if is_op else cfg.password
    if expected is None:
        return True
    if password is None:
        who = "an operator's" if is_op else "a"
        p.send(m.Error("password_required", f"{nick!r} needs {who} password on this server"))
        return None
    if hmac.compare_digest(password.encode(), expected.encode()):
        p.server.auth_succeeded(p.address)
        p.op = is_op
        return True
    delay = p.server.auth_failed(p.address)
    log.warning("wrong password for %s from %s; next answer waits %g s", nick, p.address, delay)
    refusal = leave("wrong password", "wrong password", code="bad_password", text="wrong password")
    p.execute([Pause(delay), *refusal])
    return False  # (not reached: the End above ends the session)


def register(
    p: Entrant,
    nick: str,
    *,
    resume: str | None = None,
    last_seq: int | None = None,
    password: str | None = None,
    room: str | None = None,
    epoch: str | None = None,
    others: Sequence[tuple[str, str | None, int | None]] = (),
    login_token: str | None = None,
    account_password: str | None = None,
) -> bool:
    """``_register`` in the person's turn (``devices.py``): a room another device of its person
    joins meanwhile is joined here once it is in. (Its arguments spelled out: a call with
    ``**`` enters the interpreter again in C, a stack page deeper under every connection.)"""
    turn = p.turn
    with turn.lock:
        done = _register(
            p,
            nick,
            resume=resume,
            last_seq=last_seq,
            password=password,
            room=room,
            epoch=epoch,
            others=others,
            login_token=login_token,
            account_password=account_password,
        )
    if turn:
        devices.drain(p)
    return done


def _register(
    p: Entrant,
    nick: str,
    *,
    resume: str | None = None,
    last_seq: int | None = None,
    password: str | None = None,
    room: str | None = None,
    epoch: str | None = None,
    others: Sequence[tuple[str, str | None, int | None]] = (),
    login_token: str | None = None,
    account_password: str | None = None,
) -> bool:
    """Claim ``nick``, join the room and greet; on refusal tell the peer why.

    With ``login_token`` or ``account_password`` the person logs in to an account
    as it arrives (``login_at_hello``: the token's account's name is the one
    taken); without, a registered name (or a look-alike) is refused, and
    everyone is, with ``--accounts required``.

    A reconnecting client names its ``room``, and is put back there even
    when the server no longer knows its token (after a restart): what it
    typed for that room must not land anywhere else. Whether it missed
    messages there is the room's ``epoch``'s to say, not the token's.
    ``others`` are the other rooms it was in, (room, epoch, last seq):
    each is joined again after the welcome, focus staying on ``room``.
    """
    replaced = False
    if not p.server.token_is_ours(resume, nick):
        resume = None  # from an earlier run of the server: no name to take over
    if room is not None:
        try:
            p.room = validate_room(room)
        except InvalidRoom:
            last_seq = None  # not a room: start in the lobby
    wanted, why = p.room, ""
    login: Login | bool | None = True
    try:
        nick = validate_nick(nick)
        if p.server.reserved_for_host(nick, p):
            p.send(m.Error("nick_taken", f"{nick!r} is the name of this server's host"))
            return False
        # (a password proves only an account that exists: one made at this hello, ``--accounts required``,
        # would make anyone who types the name an operator)
        accounts = p.server.accounts
        # (the account the name is, read once: asked again below, it was up to three reads a hello)
        known = accounts.registered(nick) if accounts is not None and login_token is None else None
        by_account = accounts is not None and (
            login_token is not None or (account_password is not None and known is not None)
        )
        if not authenticate(p, nick, password, by_account=by_account):
            return False
        refuse_if_banned(p, nick)
        login = login_at_hello(p, nick, login_token, account_password, known)
        if login is None:
            return False
        if login is not True and nick_key(login.account) != nick_key(nick):
            nick = validate_nick(login.account)  # (a token's account names itself: checked as that name)
            if p.server.reserved_for_host(nick, p):
                p.send(m.Error("nick_taken", f"{nick!r} is the name of this server's host"))
                return False
            refuse_if_banned(p, nick)
        elif login is not True:
            nick = validate_nick(login.account)
        if login is not True:  # (its other devices renamed the person: this one takes that name)
            nick = p.hub.named(login.account) or nick
        p.token = p.server.issue_token(nick)  # (the welcome carries it)
        p.registered = True
        if login is not True:  # (before the name is claimed: the account's other devices hold it too)
            p.account = login.account
        if p.shared:
            # Name and room in one step: nobody finds us before our welcome; the room told
            # unless it is crowded (``crowd.py``: one O(1) count, not a notice to thousands).
            arrival = membership.arrival_of(p, membership.judged(p, p.room, 1))
            _, replaced, why = p.hub.enter(
                p,
                nick,
                p.room,
                p.greet,
                resume=resume,
                after=last_seq,
                epoch=epoch,
                recent=p.server.config.history,
                arrival=arrival,
            )
        else:  # nobody else sees you: names need not be unique
            p.nick = nick
    except Unavailable as exc:
        p.registered, p.token, p.account = False, "", None
        text = f"cannot join now: {exc}; try again in a moment"
        p.execute(leave("cluster unavailable", "cluster unavailable", code="cluster_unavailable", text=text))
    except (InvalidNick, NickTaken) as exc:
        p.registered, p.token, p.account = False, "", None
        if isinstance(login, Login) and account_password is not None and p.server.accounts is not None:
            p.server.accounts.logout(login.token)  # (the name is held: the token made for it is not kept)
        if isinstance(exc, NickTaken):  # (``nick_taken``, or ``too_many_devices`` for an account's)
            p.send(m.Error(exc.code, str(exc), suggestion=exc.suggestion or None))
        else:
            p.send(m.Error(exc.code, f"nickname {nick[:40]!r} is not allowed: {exc}"))
        return False
    if resume and p.server.sanctions.reclaim(nick, resume, p.token):
        p.op = True  # this client's session was made an operator with /op
        p.hub.changed(p)
    log.info("%s registered%s", nick, "" if last_seq is None else f" (resuming after #{last_seq})")
    if why:  # (the hello's room could not be had: it is not left to look joined)
        p.send(m.Error("too_many_rooms", f"{wanted} could not be joined: {why}; you are in {p.room}"))
    if not p.shared:
        p.greet(Greeting(p.room, "", 0, [], 0, "history"))
    else:
        focus = p.room
        # Announced, as the first room was, unless an old session of ours is still there.
        membership.rejoin(p, others, announced=not replaced)
        devices.arrive(p)  # (another device's rooms: its person is in them; and its own, the person's)
        p.room = focus  # (rejoining moved the focus)
    p.server.participant_joined(p)
    if login is not True:
        p.execute(accountrules.logged_in(p, login))
    mute = p.mute()
    if mute is not None:  # (back after a mute: told at once, not at the first line it types)
        p.send(m.Notice(text=p.muted_text(mute), ts=time.time(), event="mute"))
    return True


def login_at_hello(
    p: Entrant, nick: str, token: str | None, password: str | None, known: StoredAccount | None = None
) -> Login | bool | None:
    """The hello's login: the ``Login`` done, True for a guest who may come in (the name is
    nobody's account, and guests are welcome), or None when refused (told why). ``known``: the
    account ``nick`` is, as the caller read it (None: none)."""
    accounts = p.server.accounts
    if accounts is None or p.is_host:
        return True
    try:
        if token is not None:
            return accounts.login_token(token, p.address)
        if password is not None and accounts.required and known is None:
            return accounts.register(nick, password, p.address)  # (accounts only: a new one is made here)
        if password is not None:
            return accounts.login_password(nick, password, p.address)
    except Refused as refused:
        p.send(m.Error(refused.code, refused.text, wait=refused.wait or None))
        return None
    account = known
    if account is not None:
        text = f"{nick!r} is registered (the account {account.name}): log in with its password, or choose another name"
        p.send(m.Error("name_registered", text))
        return None
    if accounts.required:
        text = f"{p.server.config.name} takes only people with an account: log in, or ask an operator for one"
        p.send(m.Error("accounts_required", text))
        return None
    return True


def refuse_if_banned(p: Entrant, nick: str) -> None:
    """End the session of a banned name, or of anyone from a banned address
    but an operator (a ban on a shared address must not lock them out).
    Someone refused for the address alone is told it is the address's ban:
    not the banned person's name, nor that they are that person."""
    ban = None if p.is_host else p.server.sanctions.banned(nick, "" if p.op else p.address)
    if ban is None:
        return
    why = f": {ban.reason}" if ban.reason else ""
    who = "you are" if nick_key(ban.nick) == nick_key(nick) else f"your address ({p.address}) is"
    text = f"{who} banned from {p.server.config.name} {until_text(ban, time.time())}, by {ban.by}{why}"
    log.warning("refused %s from %s: banned (%s)", nick, p.address, ban.nick)
    p.execute(leave("banned", "banned", code="banned", text=text))
