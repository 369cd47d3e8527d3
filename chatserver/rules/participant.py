"""A person in the chat: its state, its way through the command tables, and the executor of what they return.

``Participant`` holds one registered person's state (name, rights, rooms,
away) and acts on what it sends: each command goes through its mode's table
(``chat.COMMANDS``, ``alone.REVERSE``, ``alone.ACK``) to a handler that
returns effects (``effects.py``), which ``execute`` carries out. It is given
everything else explicitly: the server-wide ``Services``, the hub, and an
``Outlet`` for what is sent to this person (``services.py``); it imports no
transport. A connection (``net/session.py``'s ``Session``) holds its
participant and is its outlet: the person is not the connection (issue 23).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Sequence

from chatserver.backends.records import StoredSanction, Unavailable
from chatserver.core.fanout import Frame
from chatserver.core.hub import Greeting, Hub
from chatserver.core.hub import Publish as Batched  # (one message of a publish_many)
from chatserver.rules import accounts, alone, chat, entry, membership
from chatserver.rules import rooms as roomrules
from chatserver.rules.effects import (
    QUIT,
    SAID_EXIT_WORD,
    Announce,
    Answer,
    Changed,
    Effect,
    End,
    JoinRoom,
    Kick,
    LeaveRoom,
    Pause,
    Publish,
    SessionEnd,
    SetOp,
    Tell,
    leave,
    notice,
)
from chatserver.rules.moderation import until_text
from chatserver.rules.modes import Mode
from chatserver.rules.services import Handler, Outlet, Services
from common import messages as m
from common.commands import HELP_LINES, AskPassword, CommandError, ShowHelp, parse_input
from common.limits import bound, fit
from common.nicks import is_exit_word, nick_key
from common.ratelimit import TokenBucket

__all__ = ["QUIT", "SAID_EXIT_WORD", "Participant", "SessionEnd"]

log = logging.getLogger(__name__)

#: Each mode's command table, and whether its people meet in the hub's rooms.
TABLES: dict[Mode, tuple[dict[type[m.Message], Handler], bool]] = {
    Mode.CHAT: ({**chat.COMMANDS, **accounts.COMMANDS}, True),
    Mode.REVERSE: (alone.REVERSE, False),
    Mode.ACK: (alone.ACK, False),
}


def _receipt(msg: m.Message) -> m.Message:
    assert isinstance(msg, m.ChatMessage)
    return m.Accepted(seq=msg.seq, ts=msg.ts, room=msg.room)


def _echo(msg: m.Message) -> m.Message:
    """The receipt of a message made by a typed command: with what it said."""
    assert isinstance(msg, m.ChatMessage)
    return m.Accepted(seq=msg.seq, ts=msg.ts, room=msg.room, text=msg.text, action=msg.action)


def _itself(msg: m.Message) -> m.Message:
    """The receipt of a peer that gets its own room messages back as everyone does (IRC's echo-message)."""
    return msg


class Participant:
    plain = False  # does this participant see plain-line text (no receipts, no tokens)?
    #: Does it get its own room messages back as the room does, in their place (IRC's echo-message)?
    echoes = False
    #: The server's own terminal (``--interactive``): see ``seat_host``.
    is_host = False
    #: Does what it types cross a network unencrypted? (Its connection says: ``net/session.py``.)
    in_clear: Callable[[], bool] = staticmethod(lambda: False)
    #: Set when a reconnected session took over: leave silently.
    replaced = False
    #: Set when its session is ended from outside (a kick, a ban): its leaving is moderation,
    #: told even to a crowded room (``crowd.py``).
    removed = False

    def __init__(
        self,
        server: Services,
        hub: Hub,
        outlet: Outlet,
        *,
        address: str = "local",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.server = server  # (a ``Services``: the server-wide things, not the server itself)
        self.hub = hub
        self.outlet = outlet
        self._address = address  # where it connects from: bans, mutes and room quotas go by it
        self.mode: Mode = server.config.mode
        self.commands, self.shared = TABLES[self.mode]
        self.nick = ""
        #: The focused room: where ``say`` without a room goes, what ``topic``,
        #: ``who``, ``/history`` and ``/search`` are about.
        self.room = membership.LOBBY
        self.epoch = ""  # the numbering of ``room`` when we joined it
        #: Every room this participant is in (``room`` among them): key -> name, in joining order.
        self.rooms: dict[str, str] = {}
        self.registered = False
        #: Lets a reconnecting client take its name back (``Hello.resume``).
        self.token = ""  # issued on registration, for that name
        #: An operator (``--op`` with its password, the host, or ``/op``): may
        #: ``/kick`` and moderate (``operators.py``).
        self.op = False
        #: ``/away`` reason; empty when here.
        self.away = ""
        #: What it said as it quit (IRC's quit message), told to its rooms with its leaving.
        self.quit_reason = ""
        #: What it calls itself besides its name (an IRC client's real name; "": its name), told with its joins.
        self.realname = ""
        #: The account it is logged in to (None: a guest), this session's login token, and
        #: whether its operator rights came with the account (``rules/accounts.py``).
        self.account: str | None = None
        self.login_token = ""
        self.account_op = False
        self.told_not_kept = False
        #: An account command typed without its password(s): the lines typed next are them.
        self.asking: AskPassword | None = None
        self.password_answers: list[str] = []
        self._clock = clock  # (the rate limit's, ``_bucket``)
        self._over_limit = 0  # consecutive messages that had to be slowed
        #: How the hub hands it batches: see ``fanout.Subscriber.wire`` (``rewire``).
        self.wire: str | None = outlet.wire

    @functools.cached_property
    def _bucket(self) -> TokenBucket | None:
        """The rate limit on what it sends (None: none), made when first asked (its welcome says
        it), not with the participant: it starts full either way, and made inside a session's
        constructor it took each connection's thread a C stack page deeper, for good."""
        cfg = self.server.config
        return TokenBucket(cfg.rate_limit, cfg.rate_burst, clock=self._clock) if cfg.rate_limit > 0 else None

    # -- the outlet: what the hub and the rules send this person through --
    def rewire(self) -> None:
        """Fetch how the hub hands this participant batches (``fanout.Subscriber.wire`` and
        ``deliver_bytes``) from the outlet, once, rather than ask it on every batch: called
        when the outlet's dialect changes and when its rooms do (a plain peer's lines name
        their room while it is in several)."""
        outlet = self.outlet
        self.wire = outlet.wire
        self.deliver_bytes = outlet.deliver_bytes  # type: ignore[method-assign]

    def deliver_bytes(self, data: bytes) -> object:
        """Hub entry point: encoded frames in the ``wire`` format (must not block); the
        outlet's own callable once ``rewire`` fetched it."""
        return self.outlet.deliver_bytes(data)

    def deliver(self, frame: Frame) -> None:
        """Hub entry point: a frame for this participant (must not block)."""
        self.outlet.deliver(frame)

    @property
    def full(self) -> bool:
        """Is this participant's peer behind, so publishers should wait?"""
        return self.outlet.full

    def wait_room(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until it is not ``full``."""
        self.outlet.wait_room(timeout)

    def kick(self, reason: str) -> None:
        """End this participant's session from another thread."""
        self.removed = True
        self.outlet.kick(reason)

    def send(self, msg: m.Message) -> None:
        """To this participant only, after everything the hub has queued for it: one ordered channel."""
        in_hub = self.registered and self.shared
        if in_hub and not isinstance(msg, m.Bye):
            self.hub.send_to(self, Frame(msg))
            return
        if in_hub:
            # What is queued for this peer (acks for its last lines, a notice
            # saying why) goes out first: a client counts unacknowledged lines
            # as unsent. The Bye itself goes now, or an outbox about to close
            # would never see it.
            self.hub.flush(timeout=1.0)
        self.deliver(Frame(msg))

    def notice(self, text: str, event: str = "info") -> None:
        self.send(m.Notice(text=text, ts=time.time(), event=event))

    # -- the executor --------------------------------------------------------
    def execute(self, effects: Sequence[Effect]) -> None:
        """Carry out what a handler returned, in order (``SessionEnd`` at an ``End``)."""
        for effect in effects:
            _EXECUTORS[type(effect)](self, effect)

    # -- entering and leaving ----------------------------------------------
    def greet(self, g: Greeting) -> None:
        """Registered: send the welcome, then recent or missed messages (runs under
        the hub lock, so no live message can come between them). A plain peer gets
        the welcome line and who is here first, and outside chat mode nothing."""
        if self.plain and self.mode is not Mode.CHAT:
            return  # a plain client there sees only the answers to its lines
        membership.entered(self, g)
        if self.plain:
            self.send(self.welcome())
            self.send(self.users_on_entry())
        else:
            self.send(dataclasses.replace(self.welcome(), replay=len(g.messages), seq=g.seq))
        membership.replay(self, g)

    def seat_host(self) -> None:
        """This participant is the interactive host: an operator by right (no
        password: its private socket is its credential), never kicked or slowed."""
        self.is_host = True
        self.op = True
        self._bucket = None

    def authenticate(self, nick: str, password: str | None) -> bool | None:
        """Check the password ``nick`` needs: see ``entry.authenticate``."""
        return entry.authenticate(self, nick, password)

    @property
    def address(self) -> str:
        """Where it connects from (an IP address; ``local`` when not said)."""
        return self._address

    def register(
        self,
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
        """Claim ``nick``, join the room and greet; on refusal tell the peer why (``entry.register``)."""
        return entry.register(
            self,
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

    def mute(self) -> StoredSanction | None:
        """The mute on this participant's name or address (an operator's is not looked at), if any."""
        if not self.shared or self.is_host:
            return None
        return self.server.sanctions.muted(self.nick, "" if self.op else self.address)

    def muted_text(self, mute: StoredSanction) -> str:
        """``you are muted by alice (spam) until ...``: what a muted participant is told."""
        why = f" ({mute.reason})" if mute.reason else ""
        who = "you are" if nick_key(mute.nick) == nick_key(self.nick) else f"your address ({self.address}) is"
        return (
            f"{who} muted by {mute.by}{why} {until_text(mute, time.time())}: the room does not hear "
            "you, but you can still read and send private messages (/msg)"
        )

    def unregister(self, reason: str) -> None:
        """Leave the room, telling the others why (unless the server is stopping)."""
        if not self.registered:
            return
        self.registered = False
        if self.shared:
            self.hub.unregister(self)
            if not self.server.stopping and not self.replaced:
                nick = self.nick
                text = f"{nick} left" + ("" if reason in (SAID_EXIT_WORD, QUIT) else f" ({reason})")
                said = self.quit_reason or None
                said_text = text + (f": {said}" if said else "")
                build = lambda ts: m.Notice(text=said_text, ts=ts, event="leave", nick=nick, reason=said)  # noqa: E731
                for name in self.rooms.values():  # every room it was in, unless crowded (a kick still is told)
                    verdict = membership.judged(self, name)
                    told = [Announce(name, build)] if verdict.announced or self.removed else []
                    self.execute(told + membership.crossing(self, name, verdict))
        self.server.participant_left(self, reason)

    def welcome(self) -> m.Welcome:
        """The handshake's answer: it names the first people here (``limits.first``) and counts
        the rest, so it costs the same in a room of 5 as of 5,000 and always fits its frame."""
        users, more = self._nicks_here()
        return fit(
            m.Welcome(
                version=m.PROTOCOL_VERSION,
                server=self.server.config.name,
                nick=self.nick,
                room=self.room,
                users=users,
                mode=self.mode.value,
                exit_words=list(self.mode.exit_words),
                token=self.token,
                topic=self.hub.topic(self.room) if self.mode is Mode.CHAT else "",
                epoch=self.epoch,
                rate=self._bucket.rate if self._bucket else 0.0,
                burst=self._bucket.burst if self._bucket else 0,
                more=more,
                accounts=self._accounts_mode(),
            )
        )

    def _accounts_mode(self) -> str | None:
        """What a welcome says of accounts: "required", "optional", or None (none here)."""
        accounts = self.server.accounts
        if accounts is None or self.mode is not Mode.CHAT:
            return None
        return "required" if accounts.required else "optional"

    def _nicks_here(self) -> tuple[list[str], int]:
        """The names a welcome lists, and how many more people are here."""
        if self.mode is not Mode.CHAT:
            return [self.nick], 0
        shown, count = self.hub.first_names(self.room, bound(m.Welcome))
        return shown, count - len(shown)

    def users_on_entry(self) -> m.Users:
        """Who is here, as a plain peer is told on entering: the first ``limits.first`` of them
        with their away marks, and the count of the rest (``/who`` names as many as fit)."""
        shown, count = self.hub.first_members(self.room, bound(m.Users))
        nicks = [p.nick for p in shown]
        return fit(m.Users(self.room, nicks, away=[p.nick for p in shown if p.away], more=count - len(shown)))

    def users_reply(self) -> m.Users:
        """``/who``: everyone here who fits one frame (``limits.fit`` measures each name once;
        asked for, not paid on every join), and the count of the rest."""
        here = self.hub.members(self.room) if self.mode is Mode.CHAT else [self]
        return fit(m.Users(self.room, [p.nick for p in here], away=[p.nick for p in here if p.away]))

    # -- commands ----------------------------------------------------------
    def handle(self, msg: m.Message) -> None:
        """Act on one message from this registered participant (a typed ``Line``: what it parses to)."""
        if isinstance(msg, m.Line):
            self.typed(msg.text, msg.room)
            return
        if self._bucket is not None and not isinstance(msg, (m.Ping, m.Pong, m.Error)):
            self.execute(self._throttle(self._bucket))
        self._act(msg)

    def typed(self, line: str, room: str | None = None) -> None:
        """A line as typed (an nc user's, or a ``line`` frame), parsed as the terminal parses
        it and then done as the message it makes would be; a message without a room of its
        own goes to ``room`` (the focused room if None). Help and parse errors are answered
        here, and count against the rate limit as any line does."""
        if self.asking is not None:  # (a password: never parsed, shown or logged)
            asked = accounts.answered(self, line)
            if asked is not None:
                self._act(asked)
            return
        parsed = parse_input(line)
        if parsed is None:
            return  # a blank line
        if self._bucket is not None:
            self.execute(self._throttle(self._bucket))
        if isinstance(parsed, ShowHelp):
            self.send(m.Notice(text="\n".join(HELP_LINES), ts=time.time(), event="help"))
        elif isinstance(parsed, CommandError):
            self.send(m.Error("bad_command", parsed.message))
        elif isinstance(parsed, AskPassword):
            accounts.ask(self, parsed)
        elif isinstance(parsed, (m.Say, m.Action)):
            # A command that made a message (/me, /say): its ack tells the sender what it said.
            command = line.startswith("/") and not line.startswith("//")
            self._act(parsed if parsed.room is not None else dataclasses.replace(parsed, room=room), echo=command)
        else:
            self._act(parsed)

    def _act(self, msg: m.Message, *, echo: bool = False) -> None:
        """``msg`` through this mode's table; a message ``echo``ed has its text in its receipt."""
        handler = self.commands.get(type(msg))
        if handler is None:
            return  # (nothing a registered person sends: a pong, a second hello)
        try:
            effects = handler(self, msg)
            if echo:
                effects = [dataclasses.replace(e, echo=True) if type(e) is Publish else e for e in effects]
            self.execute(effects)
        except Unavailable as exc:  # ("cluster_unavailable" is a say's answer: the client pairs it with one)
            if isinstance(msg, (m.Say, m.Action)):
                self.send(m.Error("cluster_unavailable", f"not sent: {exc}; try again when it is back"))
            else:
                what = "/msg" if isinstance(msg, m.PrivateSay) else f"/{msg.TYPE}"
                self.send(m.Error("unavailable", f"{what} not done: {exc}; try again when it is back"))

    def _throttle(self, bucket: TokenBucket) -> list[Effect]:
        """Slow a sender over the rate limit; disconnect one that keeps flooding."""
        wait = bucket.delay()
        if wait <= 0:
            self._over_limit = 0
            return []
        self._over_limit += 1
        if self._over_limit > 3 * bucket.burst:
            reason = f"flooding (over {bucket.rate:g} messages/s for {self._over_limit} messages)"
            return leave(reason, reason, code="flooding", text=f"disconnected for {reason}")
        if self._over_limit == 1:
            told = f"slow down: at most {bucket.rate:g} messages/s; your messages are being delayed"
            return [notice(told), Pause(wait)]
        return [Pause(wait)]

    def say_many(self, msgs: list[m.Message]) -> None:
        """Messages read together, taken in order as ``handle`` takes each; but the run of
        those that only go to a room (said, not muted, no exit word: nothing to answer) is
        published in one hub call, one turn of its lock for the lot. What does not change
        within the run (who, where, muted or not) is looked at once for it."""
        if len(msgs) == 1 or self._bucket is not None or not self.shared or not self.hub.publishes_many:
            for msg in msgs:
                self.handle(msg)
            return
        i = 0
        while i < len(msgs):
            if self.mute() is not None:  # (muted: each is refused, and told why, by ``handle``)
                self.handle(msgs[i])
                i += 1
                continue
            items: list[Batched] = []
            exit_words, focused, nick = self.mode.exit_words, self.room, self.nick
            rooms = set(self.rooms.values())
            receipt = _itself if self.echoes else _receipt if not self.plain else None
            while i < len(msgs):
                msg = msgs[i]
                if not isinstance(msg, (m.Say, m.Action)) or not msg.text.strip():
                    break
                if isinstance(msg, m.Say) and (msg.notice or msg.tags):  # (as ``chat.say`` makes it)
                    break
                text, action = msg.text, isinstance(msg, m.Action)
                room = focused if msg.room is None else msg.room
                # (a room named as the server spells it; else ``chat.say`` says why not)
                if (msg.room is not None and room not in rooms) or (not action and is_exit_word(text, exit_words)):
                    break
                if not roomrules.may_say(self, room):  # (a moderated room: ``chat.say`` says why not)
                    break
                items.append((room, chat.chat_message(room, nick, text, action, account=self.account), receipt))
                i += 1
            if items:
                self.hub.publish_many(items, self)
            if i < len(msgs):  # (one that is not only a room message: as ever)
                self.handle(msgs[i])
                i += 1


def _publish(p: Participant, e: Publish) -> None:
    # the sender's ack takes the message's place in the room's order
    receipt = _itself if p.echoes else (_echo if e.echo else _receipt) if not p.plain else None
    p.hub.publish(e.room, e.build, exclude=p, receipt=receipt)


def _kick(p: Participant, e: Kick) -> None:
    if e.logged:
        log.warning("%s %s", e.nick, e.why)
    p.hub.kick(e.nick, e.why)


def _end(p: Participant, e: End) -> None:
    p.send(m.Bye(e.bye))
    raise SessionEnd(e.reason)


#: How each effect is carried out.
_EXECUTORS: dict[type, Callable[[Participant, Effect], None]] = {
    Answer: lambda p, e: p.send(e.msg),
    Publish: _publish,
    Announce: lambda p, e: p.hub.announce(e.room, e.build, except_nick=e.except_nick),
    JoinRoom: lambda p, e: membership.join_room(p, e.room),
    LeaveRoom: lambda p, e: p.hub.part(e.room, p),
    Tell: lambda p, e: p.hub.tell(e.nick, Frame(e.msg)),
    Kick: _kick,
    SetOp: lambda p, e: p.hub.set_op(e.nick, e.op),
    Changed: lambda p, e: p.hub.changed(p),
    Pause: lambda p, e: p.server.pause(e.seconds),
    End: _end,
}
