"""The chat mode's command table: what each command a person sends does, in rooms shared with others.

``COMMANDS`` maps each message type to its handler: the person and the
command in, effects out (``effects.py``). The hub is asked directly only
where its answer decides what follows (a rename's name taken, a private
message's recipient gone). ``alone.py`` holds the reverse and ack modes'
tables, which reuse some of these.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import msgspec

from chatserver.backends.records import SearchTooLong
from chatserver.core.fanout import Frame
from chatserver.core.registry import NickTaken
from chatserver.rules import away as away_changes
from chatserver.rules import lookup, membership, operators, privates, rooms, sharing
from chatserver.rules.effects import (
    QUIT,
    SAID_EXIT_WORD,
    Announce,
    Answer,
    Changed,
    Effect,
    End,
    Kick,
    Publish,
    error,
    notice,
)
from chatserver.rules.moderation import until_text
from chatserver.rules.modes import Mode
from chatserver.rules.said import chat_message, silenced
from chatserver.rules.services import Handler, Me
from common import messages as m
from common.nicks import InvalidNick, is_exit_word, nick_key, validate_nick
from common.rooms import one_line

log = logging.getLogger(__name__)

#: ``/history N`` shows at most this many; ``/search`` this many results.
MAX_LOOK_BACK = lookup.LOOK_BACK
MAX_FOUND = 100


def say(me: Me, msg: m.Say | m.Action) -> list[Effect]:
    """A message to the focused room, or to the room it names (one of ours)."""
    text, action = msg.text, isinstance(msg, m.Action)
    if not text.strip():
        return [error("empty_message", "empty messages are not sent")]
    room: str | None = me.room
    if msg.room is not None:
        room, refused = membership.member_of(me, msg.room)
        if room is None:
            return refused
    leaving = not action and is_exit_word(text, Mode.CHAT.exit_words)
    effects: list[Effect] = []
    if not (leaving and me.mute() is not None):  # (a muted person may leave, unheard)
        refused = silenced(me)
        if refused:
            return refused
        notice, tags = (None, None) if action else (msg.notice, msg.tags)  # type: ignore[union-attr]
        effects.append(Publish(room, chat_message(room, me.nick, text, action, notice, me.account, tags)))
    if leaving:
        effects.append(End(SAID_EXIT_WORD, "goodbye"))
    return effects


def private(me: Me, msg: m.PrivateSay) -> list[Effect]:
    """``/msg``: to one person alone, and its copy back to the sender."""
    target = me.hub.find(msg.to)
    if target is None:
        away = privates.to_the_away(me, msg, time.time())  # (an account's: kept for it)
        return away if away is not None else [error("no_such_nick", f"nobody called {msg.to[:40]!r} is here")]
    said = m.Private(
        ts=time.time(),
        nick=me.nick,
        to=target.nick,
        text=msg.text,
        notice=msg.notice,
        account=me.account,
        tags=msg.tags,
    )
    frame = Frame(said)
    to_account = target.account or None  # (the hub says it: no read of the accounts store)
    # Kept before it is told: a /privates or /history @NICK the recipient types on seeing it shows it.
    in_conversation = not msg.notice and privates.kept(me, said, to_account)
    # (asked of the hub now: the recipient may have gone since it was found)
    if me.hub.tell(target.nick, frame) is None:
        away = privates.to_the_away(me, msg, time.time(), in_conversation=in_conversation)
        return away if away is not None else [error("no_such_nick", f"nobody called {msg.to[:40]!r} is here")]
    effects: list[Effect] = privates.not_kept_told(me, to_account)
    if nick_key(target.nick) != nick_key(me.nick):
        effects.append(Answer(frame.msg))  # the sender's copy: it arrived (the client shows it as "to NICK")
        me.hub.echo(me, frame)  # (and its other devices': the conversation is whole on each)
    if target.away and not msg.notice:  # (nothing answers a notice)
        effects.append(notice(f"{target.nick} is away: {target.away}", event="away"))
    return effects


def new_name(me: Me, wanted: str) -> str | list[Effect]:
    """``wanted`` as a nickname this person may take (the hub still says whether it is
    free), or the refusal: an operator's, the host's or a banned name, or no name at all."""
    if nick_key(wanted) in me.server.config.ops and not me.op and nick_key(wanted) != nick_key(me.nick):
        return [error("nick_reserved", f"{wanted[:40]!r} is an operator's name")]
    refused = silenced(me)
    if refused:
        return refused
    try:
        new = validate_nick(wanted)
    except InvalidNick as exc:
        return [error(exc.code, f"nickname {wanted[:40]!r} is not allowed: {exc}")]
    if me.server.reserved_for_host(new, me):  # type: ignore[arg-type]
        return [error("nick_taken", f"{new!r} is the name of this server's host")]
    refused = registered_to_another(me, new)
    if refused:
        return refused
    ban = None if me.is_host else me.server.sanctions.banned(new, "")
    if ban is not None:  # (a banned name is not taken back by a rename either)
        return [error("nick_banned", f"the nickname {new!r} is banned {until_text(ban, time.time())}")]
    return new


def registered_to_another(me: Me, nick: str) -> list[Effect]:
    """The refusal of a name that is an account's (or looks like one's) other than ours."""
    accounts = me.server.accounts
    account = accounts.registered(nick) if accounts is not None else None
    if account is None or (me.account is not None and nick_key(me.account) == nick_key(account.name)):
        return []
    text = f"{nick[:40]!r} is registered (the account {account.name}): /login {account.name} if it is yours"
    return [error("name_registered", text)]


def renamed_notice(old: str, new: str):  # -> Callable[[float], m.Notice]
    return lambda ts: m.Notice(text=f"{old} is now known as {new}", ts=ts, event="nick", nick=new, previous=old)


def rename(me: Me, msg: m.SetNick) -> list[Effect]:
    """``/nick``: a new name, if free; every room we are in hears of it."""
    new = new_name(me, msg.nick)
    if isinstance(new, list):
        return new
    try:
        old = me.hub.rename(me, new)  # type: ignore[arg-type]  # (asked now: the name may be taken)
    except NickTaken as exc:
        return [error("nick_taken", str(exc), suggestion=exc.suggestion)]
    # A resume token names its nick: the new name needs a new one, before the news.
    me.token = me.server.issue_token(new)
    if me.op:
        me.server.sanctions.renamed(old, new, me.token)
    effects: list[Effect] = [Changed()]  # (a cluster keeps it: a resume on another node presents it)
    if not me.plain:
        effects.append(Answer(m.Token(me.token)))
    announce = renamed_notice(old, new)
    heard = False
    for name in me.rooms.values():  # every room we are in hears of it, unless crowded (``crowd.py``)
        verdict = membership.judged(me, name)
        if verdict.announced:
            effects.append(Announce(name, announce))
            heard = True
        effects += membership.crossing(me, name, verdict)
    if not heard:  # (no room heard it: we alone are told, as the focused room's, which an IRC client needs as NICK)
        effects.append(Answer(dataclasses.replace(announce(time.time()), room=me.room)))
    return effects


def who(me: Me, msg: m.Who) -> list[Effect]:
    return [Answer(me.users_reply())]


def topic(me: Me, msg: m.SetTopic) -> list[Effect]:
    """``/topic`` alone asks for the focused room's topic; with words, sets it."""
    room: str | None = me.room
    if msg.room is not None:  # (a room named: one we are in)
        room, refused = membership.member_of(me, msg.room)
        if room is None:
            return refused
    text = one_line(msg.text)
    if not text and not msg.clear:
        now = me.hub.topic(room)
        return [notice(f"the topic of {room}: {now}" if now else f"{room} has no topic", event="topic")]
    refused = silenced(me)
    if refused:
        return refused
    me.hub.set_topic(room, text)
    nick = me.nick
    told = f"{nick} set the topic of {room}: {text}" if text else f"{nick} cleared the topic of {room}"
    return [Announce(room, lambda ts: m.Notice(text=told, ts=ts, event="topic", nick=nick, topic=text))]


def away(me: Me, msg: m.Away) -> list[Effect]:
    """``/away REASON`` (or back, without one): every room we are in hears of it, unless crowded or
    the quiet lobby (``crowd.py``), as for a rename: else, as everyone shares the lobby, an IRC
    client with away-notify had each change twice (the lobby's, and the room's they share)."""
    refused = silenced(me) or bounded_away(me, msg)
    if refused:
        return refused
    me.away = one_line(msg.reason.strip())
    nick = me.nick
    text = f"{nick} is away: {me.away}" if me.away else f"{nick} is back"
    build = lambda ts: m.Notice(text=text, ts=ts, event="away", nick=nick)  # noqa: E731
    effects: list[Effect] = [Changed()]
    for name in me.rooms.values():
        verdict = membership.judged(me, name)
        if verdict.announced:
            effects.append(Announce(name, build))
        effects += membership.crossing(me, name, verdict)
    return effects


def bounded_away(me: Me, msg: m.Away) -> list[Effect]:
    """The refusal of an away change too long or too frequent (``away.py``), or nothing."""
    why = away_changes.CHANGED.refusal(me, " ".join(msg.reason.split()), me.server.sanctions.clock)
    return [error("away_refused", why)] if why else []


def kick(me: Me, msg: m.Kick) -> list[Effect]:
    if not me.op:
        return [error("not_operator", "only operators can /kick")]
    target = me.hub.find(msg.nick)
    if target is None or nick_key(target.nick) == nick_key(me.nick):
        return [error("no_such_nick", f"nobody else called {msg.nick[:40]!r} is here")]
    if target.host:
        return [error("not_kickable", f"{target.nick} runs this server")]
    reason = one_line(msg.reason)
    return [Kick(target.nick, f"kicked by {me.nick}" + (f": {reason}" if reason else ""))]


def look_back(me: Me, msg: m.History | m.Search) -> list[Effect]:
    """``/history`` and ``/search``: earlier messages of the focused room, to this person alone."""
    if isinstance(msg, m.History) and msg.nick is not None:  # (``/history @NICK``: a private conversation)
        return privates.history(me, msg)
    if isinstance(msg, m.History):
        count = max(1, min(msg.count, MAX_LOOK_BACK))
        found = me.hub.recent(me.room, count, msg.before)
        kind = "history"
        if msg.before is None:
            head = f"the last {len(found)} message(s) of {me.room}"
        else:
            head = f"{len(found)} earlier message(s) of {me.room}, before #{msg.before}"
    else:
        words = " ".join(msg.words.split())
        if not words:
            return [error("bad_command", "usage: /search WORDS")]
        try:
            found = me.hub.search(me.room, words, MAX_FOUND)[::-1]  # oldest first, like a scrollback
        except SearchTooLong as exc:
            return [error("search_too_long", str(exc))]
        kind = "search"
        more = " (the newest shown)" if len(found) == MAX_FOUND else ""
        count = f"{len(found)} message(s){more}" if found else "none found"
        head = f"search results for {words[:80]!r} in {me.room}: {count}"
    effects: list[Effect] = [notice(head, event=kind)]
    effects += [Answer(msgspec.structs.replace(x, replay=kind)) for x in found]
    if found:
        effects.append(notice(f"end of {kind} for {me.room}", event=kind))
    return effects


def quit_(me: Me, msg: m.Quit) -> list[Effect]:
    me.quit_reason = one_line(msg.text)[:200]
    return [End(QUIT, "goodbye")]


def ping(me: Me, msg: m.Ping) -> list[Effect]:
    return [Answer(m.Pong(msg.token))]


def reported(me: Me, msg: m.Error) -> list[Effect]:
    """The peer says something we sent was wrong: the log keeps it."""
    log.info("%s reports an error: %s %s", me.nick, msg.code, msg.message)
    return []


#: What works the same whatever the mode.
COMMON: dict[type[m.Message], Handler] = {
    m.Who: who,
    m.ListRooms: rooms.list_rooms(membership.list_rooms),
    m.Quit: quit_,
    m.Ping: ping,
    m.Error: reported,
}

#: The chat mode's table: each command a registered person sends, to its handler.
COMMANDS: dict[type[m.Message], Handler] = {
    **COMMON,
    m.Say: rooms.say(say),  # (held to the room's modes: ``rooms.py``)
    m.Action: rooms.say(say),
    m.PrivateSay: private,
    m.SetNick: rooms.rename(rename),
    m.Join: rooms.join,
    m.Part: membership.part,
    m.SetTopic: rooms.topic(topic),
    m.Away: away,
    m.Kick: kick,
    m.History: look_back,
    m.Search: look_back,
    **operators.COMMANDS,
    **lookup.COMMANDS,  # (questions a dialect asks: IRC's NAMES, WHOIS, ban list)
    **sharing.COMMANDS,  # (file sharing: an upload token, /files)
    **rooms.COMMANDS,  # (and IRC's MODE and INVITE)
}
