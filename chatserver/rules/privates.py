"""Private messages that last (issue 23): kept for an account that is away, and conversations between accounts.

A ``/msg`` to a registered name nobody holds is kept for its account (the
``AccountStore``) and delivered, marked ``replay`` "away" with its time,
when the account next logs in (``accounts.logged_in``). A private message
between two accounts is also kept as a room of its own in the broker (the
``conversation`` key, which no room name can be: ``ports.py`` anticipates
it), so ``/history @NICK`` reads it back, on every backend the broker has:
one publication per message. The accounts store lists each account's
conversations by the time of their last message (``AccountStore.talked``,
bounded), so ``/privates`` and the page list them, the most recent first,
however many messages another conversation had since. Guests' private
messages are not kept; a guest is told so once.
"""

from __future__ import annotations

import logging

import msgspec

from chatserver.backends.records import Unavailable
from chatserver.rules.effects import Answer, Effect, error, notice
from chatserver.rules.services import Handler, Me
from common import messages as m
from common.limits import fit
from common.nicks import nick_key

log = logging.getLogger(__name__)

#: Messages of a conversation read by ``/history @NICK``, at most.
MAX_HISTORY = 1000


def conversation(one: str, other: str) -> str:
    """The broker's room for the private messages between two accounts (a space: no room has one)."""
    a, b = sorted((nick_key(one), nick_key(other)))
    return f"@{a} @{b}"


def kept(me: Me, said: m.Private, to_account: str | None) -> bool:
    """Keep ``said`` in the conversation of ``me`` and ``to_account`` when both are accounts, and
    list the conversation for each by it; whether it was kept."""
    if me.account is None or to_account is None:
        return False
    room = conversation(me.account, to_account)
    accounts = me.server.accounts
    assert accounts is not None  # (two accounts: there are accounts)
    try:  # (first: a store that notes it for its next commit has it written with this message)
        accounts.store.talked(me.account, to_account, said.ts)
    except Unavailable as exc:  # (the list is best-effort: the message itself is kept and told all the same)
        log.warning("cannot list the conversation of %s and %s: %s", me.account, to_account, exc)
    me.hub.publish(room, lambda seq, ts: m.ChatMessage(seq=seq, ts=said.ts, room=room, nick=said.nick, text=said.text))
    return True


def account_of(me: Me, nick: str) -> str | None:
    """The account whose name ``nick`` is (whoever holds a registered name is logged in to it)."""
    accounts = me.server.accounts
    found = accounts.registered(nick) if accounts is not None else None
    return None if found is None else found.name


def to_the_away(me: Me, msg: m.PrivateSay, ts: float, *, in_conversation: bool = False) -> list[Effect] | None:
    """``/msg`` to nobody here: kept for the account of that name, if there is one (None: there is
    not, and the usual refusal stands); ``in_conversation``: already kept in the conversation (its
    recipient went between being found and being told)."""
    account = account_of(me, msg.to)
    if account is None or msg.notice:  # (nothing answers, or is kept for, a notice)
        return None
    if me.account is None:
        text = f"{account} is not here; messages from guests are not kept: /register to leave them one"
        return [error("not_kept", text)]
    said = m.Private(ts=ts, nick=me.nick, to=account, text=msg.text)
    accounts = me.server.accounts
    assert accounts is not None
    accounts.store.keep_private(account, said)
    if not in_conversation:
        kept(me, said, account)
    return [Answer(said), notice(f"{account} is away: kept, and given to them when they next log in", event="kept")]


def not_kept_told(me: Me, to_account: str | None) -> list[Effect]:
    """A guest's first private message to an account: it is told, once, that none of its private
    messages are kept (as they would be, were it an account too)."""
    if me.account is not None or to_account is None or me.told_not_kept:
        return []
    me.told_not_kept = True
    return [notice("private messages of guests are not kept (accounts' are: /register)", event="not_kept")]


def history(me: Me, msg: m.History) -> list[Effect]:
    """``/history @NICK``: the private conversation between our account and NICK's, oldest first."""
    assert msg.nick is not None
    other = account_of(me, msg.nick)
    if me.account is None:
        return [error("not_logged_in", "private conversations are kept between accounts: log in first")]
    if other is None:
        return [error("no_such_account", f"{msg.nick[:40]!r} is not an account: nothing is kept")]
    room = conversation(me.account, other)
    found = me.hub.recent(room, max(1, min(msg.count, MAX_HISTORY)), msg.before)
    head = f"the last {len(found)} private message(s) between you and {other}"
    effects: list[Effect] = [notice(head, event="history")]
    for x in found:
        to = other if nick_key(x.nick) == nick_key(me.account) else me.account
        effects.append(
            Answer(msgspec.structs.replace(m.Private(ts=x.ts, nick=x.nick, to=to, text=x.text), replay="history"))
        )
    if found:
        effects.append(notice(f"end of history with {other}", event="history"))
    return effects


def conversations(me: Me, msg: m.ListConversations) -> list[Effect]:
    """``/privates``: the accounts ours has conversations with, the most recent first."""
    accounts = me.server.accounts
    if me.account is None or accounts is None:
        return [error("not_logged_in", "private conversations are kept between accounts: log in first")]
    found = accounts.store.talks(me.account)
    return [Answer(fit(m.Conversations([name for name, _ in found], [int(ts) for _, ts in found])))]


#: The native commands' handlers, for the chat table.
COMMANDS: dict[type[m.Message], Handler] = {m.ListConversations: conversations}  # type: ignore[dict-item]
