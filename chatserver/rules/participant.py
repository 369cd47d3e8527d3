"""What every chat participant does, whatever it is connected through.

``Participant`` holds the chat rules (registration, commands, modes, leave
notices); which rooms it is in is ``membership.py``'s. A ``Session`` is a participant behind a socket; the interactive
host (``host.py``) is a session too, on a socket only its client holds.
Subclasses say how to ``send`` a message to the participant and how to
``deliver`` a frame.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from chatserver.backends.roomlog import SearchTooLong, StoredSanction, Unavailable
from chatserver.core.hub import LOBBY, Frame, Greeting, Publish
from chatserver.core.registry import NickTaken
from chatserver.rules.membership import Membership
from chatserver.rules.moderation import until_text
from chatserver.rules.modes import Mode, ack_text, reverse_text
from chatserver.rules.operators import COMMANDS as OPERATOR_COMMANDS
from chatserver.rules.operators import moderate
from common import messages as m
from common.commands import HELP_LINES, CommandError, ShowHelp, parse_input
from common.limits import first, fit
from common.nicks import InvalidNick, is_exit_word, nick_key, validate_nick
from common.ratelimit import TokenBucket
from common.rooms import InvalidRoom, one_line, room_key, validate_room

if TYPE_CHECKING:
    from chatserver.net.server import ChatServer

log = logging.getLogger(__name__)


def _chat_message(room: str, nick: str, text: str, action: bool) -> Callable[[int, float], m.Message]:
    """How the hub builds a room message once it has its number and time."""
    return lambda seq, ts: m.ChatMessage(seq=seq, ts=ts, room=room, nick=nick, text=text, action=action)


def _receipt(msg: m.Message) -> m.Message:
    assert isinstance(msg, m.ChatMessage)
    return m.Accepted(seq=msg.seq, ts=msg.ts, room=msg.room)


def _echo(msg: m.Message) -> m.Message:
    """The receipt of a message made by a typed command: with what it said."""
    assert isinstance(msg, m.ChatMessage)
    return m.Accepted(seq=msg.seq, ts=msg.ts, room=msg.room, text=msg.text, action=msg.action)


#: ``/history N`` shows at most this many; ``/search`` this many results.
MAX_LOOK_BACK = 1000
MAX_FOUND = 100
#: ``/rooms`` lists at most this many rooms at a time (and says how many more).
ROOMS_PAGE = 50


class SessionEnd(Exception):
    """Ends the participant's session; the message is the reason."""


#: Reasons for ending a session by choice. The exit word is a statement to
#: the others (it ends an interactive host's two-person chat); ``/quit``
#: (also sent by Ctrl-C, a script's end of input, ``--send``) only leaves.
SAID_EXIT_WORD = "bye"
QUIT = "quit"


class Participant(Membership):
    plain = False  # does this participant see plain-line text?
    #: The server's own terminal (``--interactive``): see ``seat_host``.
    is_host = False

    def __init__(self, server: ChatServer) -> None:
        self.server = server
        self.hub = server.hub
        self.mode: Mode = server.config.mode
        self.nick = ""
        #: The focused room: where ``say`` without a room goes, what ``topic``,
        #: ``who``, ``/history`` and ``/search`` are about.
        self.room = LOBBY
        self.epoch = ""  # the numbering of ``room`` when we joined it
        #: Every room this participant is in (``room`` among them): key -> name, in joining order.
        self.rooms: dict[str, str] = {}
        self.registered = False
        #: Lets a reconnecting client take its name back (``Hello.resume``).
        self.token = ""  # issued on registration, for that name
        #: Set when a reconnected session took over: leave silently.
        self.replaced = False
        #: An operator (``--op`` with its password, the host, or ``/op``): may
        #: ``/kick`` and moderate (``operators.py``).
        self.op = False
        #: ``/away`` reason; empty when here.
        self.away = ""
        cfg = server.config
        self._bucket = TokenBucket(cfg.rate_limit, cfg.rate_burst) if cfg.rate_limit > 0 else None
        self._over_limit = 0  # consecutive messages that had to be slowed

    # -- subclasses ------------------------------------------------------
    def send(self, msg: m.Message) -> None:
        """Send a message to this participant only."""
        raise NotImplementedError

    #: How the hub hands over batches: see ``hub.Subscriber.wire``.
    wire: str | None = None

    def deliver(self, frame: Frame) -> None:
        """Hub entry point: a frame for this participant (must not block)."""
        raise NotImplementedError

    def deliver_bytes(self, data: bytes) -> None:
        """Hub entry point: encoded frames in the ``wire`` format (must not block)."""
        raise NotImplementedError

    @property
    def full(self) -> bool:
        """Is this participant's peer behind, so publishers should wait?"""
        return False

    def wait_room(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until it is not ``full``."""

    def kick(self, reason: str) -> None:
        """End this participant's session from another thread."""
        raise NotImplementedError

    def greet(self, g: Greeting) -> None:
        """Registered: send the welcome, then recent or missed messages (runs under
        the hub lock, so no live message can come between them)."""
        self._entered(g)
        self.send(dataclasses.replace(self.welcome(), replay=len(g.messages), seq=g.seq))
        self._replay(g)

    def _replay(self, g: Greeting) -> None:
        kind = g.kind
        if kind == "renumbered":  # a reconnect whose numbering this room no longer has
            self.notice(
                f"{g.room} was started afresh since you were last here (the server lost what it kept?), so what you "
                f"missed cannot be told; here are its {len(g.messages)} most recent message(s)",
                event="renumbered",
            )
            kind = "history"
        for msg in g.messages:
            self.send(dataclasses.replace(msg, replay=kind))
        if g.lost:
            self.notice(f"{g.lost} earlier message(s) were missed and are no longer available", event="missed")

    def seat_host(self) -> None:
        """This participant is the interactive host: an operator by right (no
        password: its private socket is its credential), never kicked or slowed."""
        self.is_host = True
        self.op = True
        self._bucket = None

    # -- shared ----------------------------------------------------------
    def notice(self, text: str, event: str = "info") -> None:
        self.send(m.Notice(text=text, ts=time.time(), event=event))

    def authenticate(self, nick: str, password: str | None) -> bool | None:
        """Check the password ``nick`` needs: True ok, None none given yet.

        A wrong one is answered (after a delay that grows with each failure
        from the same address) and ends the session.
        """
        if self.is_host:
            return True
        cfg = self.server.config
        is_op = nick_key(nick) in cfg.ops
        expected = (cfg.op_password or cfg.password) if is_op else cfg.password
        if expected is None:
            return True
        if password is None:
            who = "an operator's" if is_op else "a"
            self.send(m.Error("password_required", f"{nick!r} needs {who} password on this server"))
            return None
        if hmac.compare_digest(password.encode(), expected.encode()):
            self.server.auth_succeeded(self.address)
            self.op = is_op
            return True
        delay = self.server.auth_failed(self.address)
        log.warning("wrong password for %s from %s; next answer waits %g s", nick, self.address, delay)
        self.server.pause(delay)
        self.send(m.Error("bad_password", "wrong password"))
        self.send(m.Bye("wrong password"))
        raise SessionEnd("wrong password")

    @property
    def address(self) -> str:
        return "local"

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
    ) -> bool:
        """Claim ``nick``, join the room and greet; on refusal tell the peer why.

        A reconnecting client names its ``room``, and is put back there even
        when the server no longer knows its token (after a restart): what it
        typed for that room must not land anywhere else. Whether it missed
        messages there is the room's ``epoch``'s to say, not the token's.
        ``others`` are the other rooms it was in, (room, epoch, last seq):
        each is joined again after the welcome, focus staying on ``room``.
        """
        replaced = False
        if not self.server.token_is_ours(resume, nick):
            resume = None  # from an earlier run of the server: no name to take over
        if room is not None:
            try:
                self.room = validate_room(room)
            except InvalidRoom:
                last_seq = None  # not a room: start in the lobby
        wanted, why = self.room, ""
        try:
            nick = validate_nick(nick)
            if self.server.reserved_for_host(nick, self):
                self.send(m.Error("nick_taken", f"{nick!r} is the name of this server's host"))
                return False
            if not self.authenticate(nick, password):
                return False
            self._refuse_if_banned(nick)
            self.token = self.server.issue_token(nick)  # (the welcome carries it)
            self.registered = True
            if self.mode is Mode.CHAT:
                # Name and room in one step: nobody finds us before our welcome.
                _, replaced, why = self.hub.enter(
                    self,
                    nick,
                    self.room,
                    self.greet,
                    resume=resume,
                    after=last_seq,
                    epoch=epoch,
                    recent=self.server.config.history,
                    arrival=self._arrival,
                )
            else:  # nobody else sees you: names need not be unique
                self.nick = nick
        except Unavailable as exc:
            self.registered, self.token = False, ""
            self.send(m.Error("cluster_unavailable", f"cannot join now: {exc}; try again in a moment"))
            self.send(m.Bye("cluster unavailable"))
            raise SessionEnd("cluster unavailable") from None
        except (InvalidNick, NickTaken) as exc:
            self.registered, self.token = False, ""
            if isinstance(exc, NickTaken):
                self.send(m.Error("nick_taken", str(exc), suggestion=exc.suggestion))
            else:
                self.send(m.Error(exc.code, f"nickname {nick[:40]!r} is not allowed: {exc}"))
            return False
        if resume and self.server.sanctions.reclaim(nick, resume, self.token):
            self.op = True  # this client's session was made an operator with /op
            self.hub.changed(self)
        log.info("%s registered%s", nick, "" if last_seq is None else f" (resuming after #{last_seq})")
        if why:  # (the hello's room could not be had: it is not left to look joined)
            self.send(m.Error("too_many_rooms", f"{wanted} could not be joined: {why}; you are in {self.room}"))
        if self.mode is not Mode.CHAT:
            self.greet(Greeting(self.room, "", 0, [], 0, "history"))
        else:
            focus = self.room
            # Announced, as the first room was, unless an old session of ours is still there.
            self._rejoin(others, announced=not replaced)
            self.room = focus  # (rejoining moved the focus)
        self.server.participant_joined(self)
        mute = self._mute()
        if mute is not None:  # (back after a mute: told at once, not at the first line it types)
            self.send(m.Notice(text=self._muted_text(mute), ts=time.time(), event="mute"))
        return True

    def _refuse_if_banned(self, nick: str) -> None:
        """End the session of a banned name, or of anyone from a banned address
        but an operator (a ban on a shared address must not lock them out).
        Someone refused for the address alone is told it is the address's ban:
        not the banned person's name, nor that they are that person."""
        ban = None if self.is_host else self.server.sanctions.banned(nick, "" if self.op else self.address)
        if ban is None:
            return
        why = f": {ban.reason}" if ban.reason else ""
        who = "you are" if nick_key(ban.nick) == nick_key(nick) else f"your address ({self.address}) is"
        text = f"{who} banned from {self.server.config.name} {until_text(ban, time.time())}, by {ban.by}{why}"
        log.warning("refused %s from %s: banned (%s)", nick, self.address, ban.nick)
        self.send(m.Error("banned", text))
        self.send(m.Bye("banned"))
        raise SessionEnd("banned")

    def _mute(self) -> StoredSanction | None:
        """The mute on this participant's name or address (an operator's is not looked at), if any."""
        if self.mode is not Mode.CHAT or self.is_host:
            return None
        return self.server.sanctions.muted(self.nick, "" if self.op else self.address)

    def _muted_text(self, mute: StoredSanction) -> str:
        """``you are muted by alice (spam) until ...``: what a muted participant is told."""
        why = f" ({mute.reason})" if mute.reason else ""
        who = "you are" if nick_key(mute.nick) == nick_key(self.nick) else f"your address ({self.address}) is"
        return (
            f"{who} muted by {mute.by}{why} {until_text(mute, time.time())}: the room does not hear "
            "you, but you can still read and send private messages (/msg)"
        )

    def _silenced(self) -> bool:
        """A muted participant may not say anything the room sees (messages, and
        topic, away and nick changes): True, and told why."""
        mute = self._mute()
        if mute is not None:
            self.send(m.Error("muted", self._muted_text(mute)))
        return mute is not None

    def unregister(self, reason: str) -> None:
        """Leave the room, telling the others why (unless the server is stopping)."""
        if not self.registered:
            return
        self.registered = False
        if self.mode is Mode.CHAT:
            self.hub.unregister(self)
            if not self.server.stopping and not self.replaced:
                nick = self.nick
                text = f"{nick} left" + ("" if reason in (SAID_EXIT_WORD, QUIT) else f" ({reason})")
                for name in list(self.rooms.values()):  # every room it was in hears it
                    self.hub.announce(name, lambda ts: m.Notice(text=text, ts=ts, event="leave", nick=nick))
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
            )
        )

    def _nicks_here(self) -> tuple[list[str], int]:
        """The names a welcome lists, and how many more people are here."""
        if self.mode is not Mode.CHAT:
            return [self.nick], 0
        shown, more = first(m.Welcome, self.hub.members(self.room))
        return [p.nick for p in shown], more

    def users_reply(self) -> m.Users:
        """``/who``: the first people here (``limits.first``, as the welcome) and the count of the rest."""
        here = self.hub.members(self.room) if self.mode is Mode.CHAT else [self]
        shown, more = first(m.Users, here)
        return fit(m.Users(self.room, [p.nick for p in shown], away=[p.nick for p in shown if p.away], more=more))

    def handle(self, msg: m.Message) -> None:
        """Act on one message from this registered participant (a typed ``Line``: what it parses to)."""
        if isinstance(msg, m.Line):
            self.typed(msg.text, msg.room)
            return
        if self._bucket is not None and not isinstance(msg, (m.Ping, m.Pong, m.Error)):
            self._throttle(self._bucket)
        self._act(msg)

    def typed(self, line: str, room: str | None = None) -> None:
        """A line as typed (an nc user's, or a ``line`` frame), parsed as the terminal parses
        it and then done as the message it makes would be; a message without a room of its
        own goes to ``room`` (the focused room if None). Help and parse errors are answered
        here, and count against the rate limit as any line does."""
        parsed = parse_input(line)
        if parsed is None:
            return  # a blank line
        if self._bucket is not None:
            self._throttle(self._bucket)
        if isinstance(parsed, ShowHelp):
            self.send(m.Notice(text="\n".join(HELP_LINES), ts=time.time(), event="help"))
        elif isinstance(parsed, CommandError):
            self.send(m.Error("bad_command", parsed.message))
        elif isinstance(parsed, (m.Say, m.Action)):
            # A command that made a message (/me, /say): its ack tells the sender what it said.
            command = line.startswith("/") and not line.startswith("//")
            self._act(parsed if parsed.room is not None else dataclasses.replace(parsed, room=room), echo=command)
        else:
            self._act(parsed)

    def _act(self, msg: m.Message, *, echo: bool = False) -> None:
        try:
            self._handle(msg, echo=echo)
        except Unavailable as exc:  # ("cluster_unavailable" is a say's answer: the client pairs it with one)
            if isinstance(msg, (m.Say, m.Action)):
                self.send(m.Error("cluster_unavailable", f"not sent: {exc}; try again when it is back"))
            else:
                what = "/msg" if isinstance(msg, m.PrivateSay) else f"/{msg.TYPE}"
                self.send(m.Error("unavailable", f"{what} not done: {exc}; try again when it is back"))

    def _handle(self, msg: m.Message, *, echo: bool) -> None:
        if isinstance(msg, (m.Say, m.Action)):
            self._say(msg.text, action=isinstance(msg, m.Action), to=msg.room, echo=echo)
        elif isinstance(msg, m.PrivateSay):
            self._private(msg)
        elif isinstance(msg, m.SetNick):
            self._rename(msg.nick)
        elif isinstance(msg, m.Who):
            self.send(self.users_reply())
        elif isinstance(msg, m.Join):
            self._join(msg.room)
        elif isinstance(msg, m.Part):
            self._part(msg.room)
        elif isinstance(msg, m.ListRooms):
            after = room_key(msg.after) if msg.after else ""
            rooms = [r for r in self.hub.rooms() if room_key(r.name) > after]  # (in order of room_key)
            page, more = rooms[:ROOMS_PAGE], max(0, len(rooms) - ROOMS_PAGE)
            mine = [room_key(r.name) in self.rooms for r in page]
            names, counts, topics = [r.name for r in page], [r.members for r in page], [r.topic for r in page]
            self.send(m.RoomList(names, counts, topics, more=more, mine=mine))
        elif isinstance(msg, m.SetTopic):
            self._set_topic(msg.text)
        elif isinstance(msg, m.Away):
            self._set_away(msg.reason.strip())
        elif isinstance(msg, m.Kick):
            self._kick(msg)
        elif isinstance(msg, OPERATOR_COMMANDS):
            if self.mode is Mode.CHAT:
                moderate(self, msg)
            else:
                self.send(m.Error("bad_command", "this server has no rooms to moderate"))
        elif isinstance(msg, (m.History, m.Search)):
            self._look_back(msg)
        elif isinstance(msg, m.Quit):
            self.send(m.Bye("goodbye"))
            raise SessionEnd(QUIT)
        elif isinstance(msg, m.Ping):
            self.send(m.Pong(msg.token))
        elif isinstance(msg, m.Error):
            log.info("%s reports an error: %s %s", self.nick, msg.code, msg.message)

    def _throttle(self, bucket: TokenBucket) -> None:
        """Slow a sender over the rate limit; disconnect one that keeps flooding."""
        wait = bucket.delay()
        if wait <= 0:
            self._over_limit = 0
            return
        self._over_limit += 1
        if self._over_limit > 3 * bucket.burst:
            reason = f"flooding (over {bucket.rate:g} messages/s for {self._over_limit} messages)"
            self.send(m.Error("flooding", f"disconnected for {reason}"))
            self.send(m.Bye(reason))
            raise SessionEnd(reason)
        if self._over_limit == 1:
            self.notice(f"slow down: at most {bucket.rate:g} messages/s; your messages are being delayed")
        self.server.pause(wait)

    def say_many(self, msgs: list[m.Message]) -> None:
        """Messages read together, taken in order as ``handle`` takes each; but the run of
        those that only go to a room (said, not muted, no exit word: nothing to answer) is
        published in one hub call, one turn of its lock for the lot. What does not change
        within the run (who, where, muted or not) is looked at once for it."""
        if len(msgs) == 1 or self._bucket is not None or self.mode is not Mode.CHAT or not self.hub.publishes_many:
            for msg in msgs:
                self.handle(msg)
            return
        i = 0
        while i < len(msgs):
            if self._mute() is not None:  # (muted: each is refused, and told why, by ``handle``)
                self.handle(msgs[i])
                i += 1
                continue
            items: list[Publish] = []
            exit_words, focused, nick = self.mode.exit_words, self.room, self.nick
            rooms = set(self.rooms.values())
            receipt = _receipt if not self.plain else None
            while i < len(msgs):
                msg = msgs[i]
                if not isinstance(msg, (m.Say, m.Action)) or not msg.text.strip():
                    break
                text, action = msg.text, isinstance(msg, m.Action)
                room = focused if msg.room is None else msg.room
                # (a room named as the server spells it; else ``_say`` says why not)
                if (msg.room is not None and room not in rooms) or (not action and is_exit_word(text, exit_words)):
                    break
                items.append((room, _chat_message(room, nick, text, action), receipt))
                i += 1
            if items:
                self.hub.publish_many(items, self)
            if i < len(msgs):  # (one that is not only a room message: as ever)
                self.handle(msgs[i])
                i += 1

    def _say(self, text: str, *, action: bool, to: str | None = None, echo: bool = False) -> None:
        if not text.strip():
            self.send(m.Error("empty_message", "empty messages are not sent"))
            return
        room = self.room
        if to is not None and self.mode is Mode.CHAT:
            found = self._member_of(to)
            if found is None:
                return
            room = found
        leaving = not action and is_exit_word(text, self.mode.exit_words)
        if leaving and self._mute() is not None:
            pass  # a muted person may leave, unheard
        elif self._silenced():
            return
        elif self.mode is Mode.CHAT:
            nick = self.nick
            self.hub.publish(
                room,
                lambda seq, ts: m.ChatMessage(seq=seq, ts=ts, room=room, nick=nick, text=text, action=action),
                exclude=self,
                # the sender's ack takes the message's place in the room's order
                receipt=(_echo if echo else _receipt) if not self.plain else None,
            )
        elif not leaving:
            seq = self.server.next_seq()
            reply = reverse_text(text) if self.mode is Mode.REVERSE else ack_text(seq, text, action=action)
            self.send(m.Reply(seq=seq, ts=time.time(), text=reply))
        if leaving:
            self.send(m.Bye("goodbye"))
            raise SessionEnd(SAID_EXIT_WORD)

    def _kick(self, msg: m.Kick) -> None:
        if not self.op:
            self.send(m.Error("not_operator", "only operators can /kick"))
            return
        target = self.hub.find(msg.nick) if self.mode is Mode.CHAT else None
        if target is None or nick_key(target.nick) == nick_key(self.nick):
            self.send(m.Error("no_such_nick", f"nobody else called {msg.nick[:40]!r} is here"))
            return
        if target.host:
            self.send(m.Error("not_kickable", f"{target.nick} runs this server"))
            return
        reason = one_line(msg.reason)
        why = f"kicked by {self.nick}" + (f": {reason}" if reason else "")
        log.warning("%s %s", target.nick, why)
        self.hub.kick(target.nick, why)

    def _private(self, msg: m.PrivateSay) -> None:
        target = self.hub.find(msg.to) if self.mode is Mode.CHAT else None
        frame = Frame(m.Private(ts=time.time(), nick=self.nick, to=target.nick, text=msg.text)) if target else None
        # (after what is queued for the target: in the order decided)
        if target is None or frame is None or self.hub.tell(target.nick, frame) is None:
            self.send(m.Error("no_such_nick", f"nobody called {msg.to[:40]!r} is here"))
            return
        if nick_key(target.nick) != nick_key(self.nick):
            self.hub.send_to(self, frame)  # the sender's copy: it arrived (the client shows it as "to NICK")
        if target.away:
            self.notice(f"{target.nick} is away: {target.away}", event="away")

    def _look_back(self, msg: m.History | m.Search) -> None:
        """``/history`` and ``/search``: earlier messages of this room, to this participant alone."""
        if self.mode is not Mode.CHAT:
            self.send(m.Error("bad_command", "this server has no rooms"))
            return
        if isinstance(msg, m.History):
            count = max(1, min(msg.count, MAX_LOOK_BACK))
            found = self.hub.recent(self.room, count, msg.before)
            kind = "history"
            if msg.before is None:
                head = f"the last {len(found)} message(s) of {self.room}"
            else:
                head = f"{len(found)} earlier message(s) of {self.room}, before #{msg.before}"
        else:
            words = " ".join(msg.words.split())
            if not words:
                self.send(m.Error("bad_command", "usage: /search WORDS"))
                return
            try:
                found = self.hub.search(self.room, words, MAX_FOUND)[::-1]  # oldest first, like a scrollback
            except SearchTooLong as exc:
                self.send(m.Error("search_too_long", str(exc)))
                return
            kind = "search"
            more = " (the newest shown)" if len(found) == MAX_FOUND else ""
            count = f"{len(found)} message(s){more}" if found else "none found"
            head = f"search results for {words[:80]!r} in {self.room}: {count}"
        self.notice(head, event=kind)
        for x in found:
            self.send(dataclasses.replace(x, replay=kind))
        if found:
            self.notice(f"end of {kind} for {self.room}", event=kind)

    def _set_topic(self, text: str) -> None:
        if self.mode is not Mode.CHAT:
            self.send(m.Error("bad_command", "this server has no rooms"))
            return
        topic = one_line(text)
        if not topic:  # "/topic" alone asks for it
            now = self.hub.topic(self.room)
            self.notice(f"the topic of {self.room}: {now}" if now else f"{self.room} has no topic", event="topic")
            return
        if self._silenced():
            return
        self.hub.set_topic(self.room, topic)
        room, nick = self.room, self.nick
        self.hub.announce(
            room,
            lambda ts: m.Notice(
                text=f"{nick} set the topic of {room}: {topic}", ts=ts, event="topic", nick=nick, topic=topic
            ),
        )

    def _set_away(self, reason: str) -> None:
        if self._silenced():
            return
        self.away = one_line(reason)
        if self.mode is Mode.CHAT:
            self.hub.changed(self)
        nick = self.nick
        text = f"{nick} is away: {self.away}" if self.away else f"{nick} is back"
        if self.mode is Mode.CHAT:
            for name in list(self.rooms.values()):
                self.hub.announce(name, lambda ts: m.Notice(text=text, ts=ts, event="away", nick=nick))
        else:
            self.notice(text, event="away")

    def _rename(self, new: str) -> None:
        if nick_key(new) in self.server.config.ops and not self.op and nick_key(new) != nick_key(self.nick):
            self.send(m.Error("nick_reserved", f"{new[:40]!r} is an operator's name"))
            return
        if self._silenced():
            return
        try:
            new = validate_nick(new)
            if self.server.reserved_for_host(new, self):
                self.send(m.Error("nick_taken", f"{new!r} is the name of this server's host"))
                return
            ban = None if self.is_host else self.server.sanctions.banned(new, "")
            if ban is not None:  # (a banned name is not taken back by a rename either)
                self.send(m.Error("nick_banned", f"the nickname {new!r} is banned {until_text(ban, time.time())}"))
                return
            old = self.hub.rename(self, new) if self.mode is Mode.CHAT else self.nick
        except InvalidNick as exc:
            self.send(m.Error(exc.code, f"nickname {new[:40]!r} is not allowed: {exc}"))
            return
        except NickTaken as exc:
            self.send(m.Error("nick_taken", str(exc), suggestion=exc.suggestion))
            return
        notice = lambda ts: m.Notice(  # noqa: E731
            text=f"{old} is now known as {new}", ts=ts, event="nick", nick=new, previous=old
        )
        if self.mode is Mode.CHAT:
            # A resume token names its nick: the new name needs a new one, before the news.
            self.token = self.server.issue_token(new)
            self.hub.changed(self)  # (a cluster keeps it: a resume on another node presents it)
            if self.op:
                self.server.sanctions.renamed(old, new, self.token)
            if not self.plain:
                self.send(m.Token(self.token))
            for name in list(self.rooms.values()):
                self.hub.announce(name, notice)
        else:
            self.nick = new
            self.send(notice(time.time()))
