"""The account commands (issue 23): register, log in and out, change or delete a password; operators drop accounts.

Each handler asks the accounts service (``chatserver/accounts/service.py``)
and turns its answer into effects: ``LoggedIn`` (a plain-line user, who keeps
no token, is told in a line), the name taken, operator rights that come with
the account, and the private messages kept while it was away. A refusal is
the service's ``Error`` code and line. Logging in at hello is ``entry.py``'s,
through ``login_at_hello`` here.

The account is a field of the person (``Me.account``), not of the connection:
nothing here assumes one session per account.
"""

from __future__ import annotations

import functools
import time
from typing import Protocol

import msgspec

from chatserver.accounts.service import Accounts, Login
from chatserver.core.registry import NickTaken
from chatserver.rules import chat, membership, readmarkers
from chatserver.rules.effects import Announce, Answer, Arrive, Changed, Effect, SetOp, Tell, error, notice
from chatserver.rules.guards import logged_in_only, operator_only, with_accounts
from chatserver.rules.services import Handler, Me
from common import messages as m
from common.commands import AskPassword
from common.lookalike import identity
from common.rooms import room_key


class Asked(Protocol):
    """A person a password is asked of, line by line (``Participant``)."""

    asking: AskPassword | None
    password_answers: list[str]

    def in_clear(self) -> bool: ...

    def send(self, msg: m.Message) -> None: ...


def ask(p: Asked, command: AskPassword) -> None:
    """An account command typed without its password(s): ask for the first on the next line."""
    p.asking, p.password_answers = command, []
    _prompt(p)


def _prompt(p: Asked) -> None:
    assert p.asking is not None
    what = p.asking.prompts[len(p.password_answers)]
    text = f"type the {what} on the next line (an empty line gives up)"
    if p.in_clear():  # (as a server password without --tls is warned of)
        text += "; warning: no TLS: the password goes to the server unencrypted, readable on the network"
    p.send(m.Notice(text=text, ts=time.time(), event="password", target=p.asking.command))


def answered(p: Asked, line: str) -> m.Message | None:
    """A line typed while asked: the next password (an empty one gives up); the command's
    message once every password is in (None: more to ask, or given up)."""
    assert p.asking is not None
    if not line.strip():
        p.asking = None
        p.send(m.Notice(text="given up: nothing was sent", ts=time.time(), event="password"))
        return None
    p.password_answers.append(line.rstrip("\r\n"))
    if len(p.password_answers) < len(p.asking.prompts):
        _prompt(p)
        return None
    msg, p.asking, p.password_answers = p.asking.build(*p.password_answers), None, []
    return msg


def logged_in(me: Me, login: Login) -> list[Effect]:
    """What logging in does to ``me`` (now ``login.account``), and what it is told: the token
    (a line for a plain-line user, who keeps none), rights, and messages kept for it."""
    me.account, me.login_token = login.account, login.token
    me.account_op = login.op and not me.op  # (rights that come with the account go with it)
    effects: list[Effect] = [Changed()]  # (presence holds the account: its other devices may share the name)
    if me.plain:
        what = "made and logged in to" if login.registered else "logged in to"
        effects.append(notice(f"{what} the account {login.account}", event="account"))
    else:
        effects.append(Answer(login.frame()))
    if me.account_op:
        effects.append(SetOp(me.nick, True))
    accounts = me.server.accounts
    markers = me.server.markers
    if markers is not None and not me.plain:  # (how far each room and conversation is read, on any device)
        effects += [Answer(m.ReadMarker(target=t, ts=ts)) for t, ts in sorted(markers.markers(login.account).items())]
    kept = accounts.store.take_privates(login.account) if accounts is not None else []
    if kept:
        count = f"{len(kept)} private message{'s' if len(kept) != 1 else ''}"
        effects.append(notice(f"{count} while you were away", event="away_messages"))
        effects += [Answer(msgspec.structs.replace(msg, replay="away")) for msg in kept]
    return effects


def told_to_rooms(me: Me) -> list[Effect]:
    """Its rooms hear that its account changed (IRC's ``account-notify``): ``me.account`` now, None
    when it logged out; not in a crowded or quiet room (``crowd.py``), as a rename is not."""
    nick, account = me.nick, me.account
    text = f"{nick} logged in to the account {account}" if account else f"{nick} logged out"
    build = lambda ts: m.Notice(text=text, ts=ts, event="account", nick=nick, account=account)  # noqa: E731
    return [Announce(name, build) for name in me.rooms.values() if membership.judged(me, name).announced]


@with_accounts
def register(me: Me, msg: m.Register, accounts: Accounts) -> list[Effect]:
    """``/register``: the name we have becomes an account, and we are logged in to it."""
    if me.account is not None:
        return [error("already_registered", f"you are logged in to the account {me.account} already")]
    return logged_in(me, accounts.register(me.nick, msg.password, me.address)) + told_to_rooms(me)


@with_accounts
def login(me: Me, msg: m.Login, accounts: Accounts) -> list[Effect]:
    """``/login NAME``: with its password or a token; the session takes the account's name."""
    if me.account is not None and identity(me.account) == identity(msg.name):
        return [notice(f"you are logged in to {me.account} already", event="account")]
    if msg.token is not None:
        done = accounts.login_token(msg.token, me.address, name=msg.name)
    elif msg.password is not None:
        done = accounts.login_password(msg.name, msg.password, me.address)
    else:
        return [error("bad_login", "log in with the account's password or a login token")]
    effects: list[Effect] = []
    present = me.hub.named(done.account)  # (its person is here already, through another device)
    name = present or done.account  # (its devices' name, if they renamed the person)
    if identity(name) != identity(me.nick):  # (take the account's name first: it may be held)
        before, me.account = me.account, done.account
        effects = chat.COMMANDS[m.SetNick](me, m.SetNick(name))  # (as /nick: room rights follow)
        if identity(me.nick) != identity(name):
            me.account = before
            if msg.password is not None:
                accounts.logout(done.token)  # (the token made for this login is not kept)
            return effects
    effects += logged_in(me, done)  # (sets ``me.account``: what the rooms are told below)
    told = [] if present else told_to_rooms(me)  # (a person already logged in: nothing changed for the others)
    return [*effects, *told, Arrive()]  # (then into the person's rooms)


@with_accounts
@logged_in_only("/passwd changes your account's password: log in first")
def change_password(me: Me, msg: m.ChangePassword, accounts: Accounts) -> list[Effect]:
    assert me.account is not None
    accounts.change_password(me.account, msg.password, msg.new_password, me.address)
    return [notice(f"the password of {me.account} is changed; your logins stay (/logout all ends them)", "account")]


def _logged_out(me: Me, everywhere: bool, reason: str, *, told: bool = True) -> list[Effect]:
    """This session is no longer logged in; its rooms are ``told``, unless its person stays
    logged in through another device (only this device became a guest, under a name of its own)."""
    account, me.account, me.login_token = me.account or "", None, ""
    effects: list[Effect] = [Changed()]
    if me.account_op:
        me.account_op = False
        effects.append(SetOp(me.nick, False))
    if told:
        effects += told_to_rooms(me)
    if me.plain:
        return [*effects, notice(f"logged out of {account}", event="account")]
    return [*effects, Answer(m.LoggedOut(account=account, all=everywhere, reason=reason))]


@with_accounts
@logged_in_only("/unregister deletes your account: log in first")
def unregister(me: Me, msg: m.Unregister, accounts: Accounts) -> list[Effect]:
    """``/unregister``: the account goes (its password proves it), with every login and kept message."""
    assert me.account is not None
    accounts.unregister(me.account, msg.password, me.address)
    name = me.account
    if me.server.markers is not None:
        me.server.markers.forget(name)
    return [*_logged_out(me, True, "unregistered"), notice(f"the account {name} is deleted", event="account")]


@with_accounts
@logged_in_only("you are not logged in")
def logout(me: Me, msg: m.Logout, accounts: Accounts) -> list[Effect]:
    """``/logout``: this session's token is revoked; ``/logout all``: every token of the account."""
    assert me.account is not None
    staying = me.hub.staying(me, me.rooms.values())  # type: ignore[arg-type]  # (its other devices' rooms: asked as one of them)
    if msg.all:
        count = accounts.logout_all(me.account)
        told = notice(f"{count} login(s) of {me.account} revoked, on every device", event="account")
    else:
        accounts.logout(me.login_token)
        told = notice(f"this device's login to {me.account} is revoked", event="account")
    alone = bool(staying) and not msg.all and me.registered  # (its person stays logged in elsewhere: ``as_guest``)
    return [*_logged_out(me, msg.all, "logout", told=not alone), told, *as_guest(me, staying)]


#: Names a device logged out of an account tries, at most, before it keeps the account's.
GUEST_TRIES = 20


def as_guest(me: Me, staying: set[str]) -> list[Effect]:
    """A device just logged out while other devices of its person stay (``staying``: the keys of
    its rooms they are in) goes on as a guest under a free name of its own, derived from the
    account's (``bob`` -> ``bob2``): the account's name stays the account's, held by the other
    devices, and a guest beside them never holds it (nor refuses the account's next device). Its
    rooms hear a guest come in (a rename where no other device is); it is told its new name.
    The only device of a person keeps the name as a guest, as before (docs/accounts.md)."""
    if not me.registered or not staying:  # (its only device: it keeps the name as a guest, as before)
        return []
    old = me.nick
    new = ""
    for n in range(2, 2 + GUEST_TRIES):
        candidate = f"{old[:29]}{n}"
        if isinstance(chat.new_name(me, candidate), str):
            try:
                me.hub.rename(me, candidate, alone=True)  # type: ignore[arg-type]
            except NickTaken:
                continue
            new = candidate
            break
    if not new:
        return [notice(f"no free guest name was found: this device goes on as {old} until it changes it")]
    me.token = me.server.issue_token(new)
    effects: list[Effect] = [Changed()]
    if not me.plain:
        effects.append(Answer(m.Token(me.token)))
    renamed = chat.renamed_notice(old, new)
    effects.append(Answer(msgspec.structs.replace(renamed(time.time()), room=me.room)))
    for name in me.rooms.values():
        verdict = membership.judged(me, name)
        if not verdict.announced:
            continue
        if room_key(name) in staying:  # (the person is still there: a guest came in)
            effects.append(Announce(name, functools.partial(membership.arrival, me, name), except_nick=new))
        else:
            effects.append(Announce(name, renamed, except_nick=new))
    text = f"you are a guest now, as {new}: {old} stays the account's (/login {old} to be it again)"
    return [*effects, notice(text, event="account")]


@operator_only
@with_accounts
def drop_account(me: Me, msg: m.DropAccount, accounts: Accounts) -> list[Effect]:
    """``/dropaccount NAME``: an operator deletes an account; whoever is using it is told."""
    dropped = accounts.drop(msg.name)
    if dropped is None:
        return [error("no_such_account", f"no account is called {msg.name[:40]!r}")]
    if me.server.markers is not None:
        me.server.markers.forget(dropped.name)
    effects: list[Effect] = [notice(f"the account {dropped.name} is dropped", event="account")]
    holder = me.hub.find(dropped.name)
    if holder is not None and identity(holder.nick) != identity(me.nick):
        told = m.Notice(text=f"the account {dropped.name} was dropped by {me.nick}", ts=time.time(), event="account")
        effects += [
            Tell(holder.nick, m.LoggedOut(account=dropped.name, all=True, reason="dropped")),
            Tell(holder.nick, told),
        ]
    return effects


#: The account commands, for each mode's table that has accounts (``chat.COMMANDS``).
COMMANDS: dict[type[m.Message], Handler] = {
    m.Register: register,  # type: ignore[dict-item]
    m.Login: login,  # type: ignore[dict-item]
    m.ChangePassword: change_password,  # type: ignore[dict-item]
    m.Unregister: unregister,  # type: ignore[dict-item]
    m.Logout: logout,  # type: ignore[dict-item]
    m.DropAccount: drop_account,  # type: ignore[dict-item]
    m.ReadMarker: readmarkers.read_marker,  # type: ignore[dict-item]  (an account's, or a guest's own)
}
