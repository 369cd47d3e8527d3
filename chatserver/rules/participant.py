"""A person in the chat: its state, its mode's command table, and its outlet.

``Participant`` holds one registered person's state (name, rights, rooms,
away) and acts on what it sends: each command goes through its mode's table
(``TABLES``: ``chat.COMMANDS``, ``alone.REVERSE``, ``alone.ACK``; the way
through it is ``dispatch.py``) to a handler that returns effects
(``effects.py``), which the executor (``executor.py``) carries out; what it
is told on entering is ``greeting.py``'s. It is given everything else
explicitly: the server-wide ``Services``, the hub, and an ``Outlet`` for
what is sent to this person (``services.py``); it imports no transport. A
connection (``net/session.py``'s ``Session``) holds its participant and is
its outlet: the person is not the connection (issue 23).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence

from chatserver.backends.markers import MarkerStore
from chatserver.backends.records import StoredSanction
from chatserver.core.fanout import Frame
from chatserver.core.hub import Hub
from chatserver.rules import (
    accounts,
    alone,
    chat,
    devices,
    dispatch,
    entry,
    executor,
    greeting,
    membership,
    privates,
    roomcommands,
)
from chatserver.rules.effects import QUIT, SAID_EXIT_WORD, Announce, Effect, SessionEnd
from chatserver.rules.moderation import until_text
from chatserver.rules.modes import Mode
from chatserver.rules.services import Handler, Outlet, Services
from common import messages as m
from common.commands import AskPassword
from common.nicks import nick_key
from common.ratelimit import TokenBucket

__all__ = ["QUIT", "SAID_EXIT_WORD", "Participant", "SessionEnd"]

#: Each mode's command table, and whether its people meet in the hub's rooms.
TABLES: dict[Mode, tuple[dict[type[m.Message], Handler], bool]] = {
    Mode.CHAT: ({**chat.COMMANDS, **accounts.COMMANDS, **roomcommands.COMMANDS, **privates.COMMANDS}, True),
    Mode.REVERSE: (alone.REVERSE, False),
    Mode.ACK: (alone.ACK, False),
}


class Participant:
    plain = False  # does this participant see plain-line text (no receipts, no tokens)?
    #: Does it get its own room messages back as the room does, in their place (IRC's echo-message)?
    echoes = False
    #: The server's own terminal (``--interactive``): see ``seat_host``.
    is_host = False
    #: Does what it types cross a network unencrypted? (Its connection says: ``net/session.py``.)
    in_clear: Callable[[], bool] = staticmethod(lambda: False)
    # What most connections never set is a class attribute until they do: every connection's
    # instance dict shares its keys with the others' (about 300 bytes) while it has at most 29 of
    # them; at 30 it is a dict of its own, 1,584 bytes (plain idle memory per connection: issue 20).
    #: What it said as it quit (IRC's quit message), told to its rooms with its leaving.
    quit_reason = ""
    #: What it calls itself besides its name (an IRC client's real name; "": its name), told with its joins.
    realname = ""
    #: This session's login token, and whether its operator rights came with the account (``rules/accounts.py``).
    login_token = ""
    account_op = False
    #: A guest told once that its private messages are not kept (``privates.not_kept_told``).
    told_not_kept = False
    #: A guest's own read markers, for the session's life (``readmarkers.py``).
    guest_markers: MarkerStore | None = None
    #: An account command typed without its password(s): the lines typed next are them.
    asking: AskPassword | None = None
    #: Set when a reconnected session took over: leave silently.
    replaced = False
    #: Set when its session is ended from outside (a kick, a ban): its leaving is moderation,
    #: told even to a crowded room (``crowd.py``).
    removed = False
    #: What its dialect adds to ``joined`` for a room another device of the person put it in
    #: (``devices.py``; an IRC client's: the topic's setter and ``NAMES``).
    followed: Callable[[str], None] = staticmethod(lambda room: None)

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
        #: The account it is logged in to (None: a guest); its login token, whether its operator
        #: rights came with the account, and more: class attributes below until set.
        self.account: str | None = None
        self.password_answers: list[str] = []
        self._clock = clock  # (the rate limit's, ``bucket``)
        self.over_limit = 0  # messages in a row that had to be slowed (``dispatch.throttle``)
        #: How the hub hands it batches: see ``fanout.Participant.wire`` (``rewire``).
        self.wire: str | None = outlet.wire
        #: Who changes its rooms now: its own commands, or what another thread asked (``devices.py``).
        self.turn = devices.turn()

    @functools.cached_property
    def bucket(self) -> TokenBucket | None:
        """The rate limit on what it sends (None: none), made when first asked (its welcome says
        it), not with the participant: it starts full either way, and made inside a session's
        constructor it took each connection's thread a C stack page deeper, for good."""
        cfg = self.server.config
        return TokenBucket(cfg.rate_limit, cfg.rate_burst, clock=self._clock) if cfg.rate_limit > 0 else None

    # -- the outlet: what the hub and the rules send this person through --
    def rewire(self) -> None:
        """Fetch how the hub hands this participant batches (``fanout.Participant.wire`` and
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

    def asked(self, room: str, join: bool, by: str, reason: str) -> None:
        """Hub entry point, from any thread: join or leave ``room`` in this participant's turn (``devices.py``)."""
        devices.asked(self, room, join, by, reason)

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

    def send_many(self, msgs: list[m.Message]) -> None:
        """``send`` for each of ``msgs``, in order; through the hub in one call (one turn of its lock)."""
        if self.registered and self.shared and not any(isinstance(msg, m.Bye) for msg in msgs):
            self.hub.send_many_to(self, [Frame(msg) for msg in msgs])
            return
        for msg in msgs:
            self.send(msg)

    def notice(self, text: str, event: str = "info") -> None:
        self.send(m.Notice(text=text, ts=time.time(), event=event))

    # -- the executor --------------------------------------------------------
    def execute(self, effects: Sequence[Effect]) -> None:
        """Carry out what a handler returned, in order (``executor.execute``)."""
        executor.execute(self, effects)

    # -- entering and leaving ----------------------------------------------
    #: Registered: the welcome, then recent or missed messages: ``greeting.greet`` itself, not a method
    #: calling it (a frame less under every connection's registration: ``scripts/framedepth.py``).
    greet = greeting.greet

    def seat_host(self) -> None:
        """This participant is the interactive host: an operator by right (no
        password: its private socket is its credential), never kicked or slowed."""
        self.is_host = True
        self.op = True
        self.bucket = None

    def authenticate(self, nick: str, password: str | None) -> bool | None:
        """Check the password ``nick`` needs: see ``entry.authenticate``."""
        return entry.authenticate(self, nick, password)

    @property
    def address(self) -> str:
        """Where it connects from (an IP address; ``local`` when not said)."""
        return self._address

    #: Claim a name, join the room and greet; on refusal tell the peer why: ``entry.register``
    #: itself, not a method calling it (a frame less under every connection's registration).
    register = entry.register

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
        with self.turn.lock:  # (nothing asked of it meanwhile is done once it is gone: ``devices.py``)
            self._unregister(reason)

    def _unregister(self, reason: str) -> None:
        if not self.registered:
            return
        self.registered = False
        if self.shared:
            staying = self.hub.unregister(self)  # (its other devices' rooms, decided as it goes: the person is there)
            if not self.server.stopping and not self.replaced:
                nick = self.nick
                text = f"{nick} left" + ("" if reason in (SAID_EXIT_WORD, QUIT) else f" ({reason})")
                said = self.quit_reason or None
                said_text = text + (f": {said}" if said else "")
                build = lambda ts: m.Notice(text=said_text, ts=ts, event="leave", nick=nick, reason=said)  # noqa: E731
                for name in (n for k, n in self.rooms.items() if k not in staying):  # (unless crowded; a kick is told)
                    verdict = membership.judged(self, name)
                    told = [Announce(name, build)] if verdict.announced or self.removed else []
                    self.execute(told + membership.crossing(self, name, verdict))
        self.server.participant_left(self, reason)

    def welcome(self) -> m.Welcome:
        """The handshake's answer (``greeting.welcome``)."""
        return greeting.welcome(self)

    def users_on_entry(self) -> m.Users:
        """Who is here, as a plain peer is told on entering (``greeting.users_on_entry``)."""
        return greeting.users_on_entry(self)

    def users_reply(self) -> m.Users:
        """``/who`` (``greeting.users_reply``)."""
        return greeting.users_reply(self)

    # -- commands: through this mode's table (``dispatch.py``) --------------
    # (each in this participant's turn: what another thread asked of it meanwhile is done right after)
    def handle(self, msg: m.Message) -> None:
        """Act on one message from this registered participant (``dispatch.handle``)."""
        turn = self.turn
        with turn.lock:
            dispatch.handle(self, msg)
        if turn:
            devices.drain(self)

    def typed(self, line: str, room: str | None = None) -> None:
        """A line as typed, parsed as the terminal parses it (``dispatch.typed``)."""
        turn = self.turn
        with turn.lock:
            dispatch.typed(self, line, room)
        if turn:
            devices.drain(self)

    def say_many(self, msgs: list[m.Message]) -> None:
        """Messages read together; a run of room messages published at once (``dispatch.say_many``)."""
        turn = self.turn
        with turn.lock:
            dispatch.say_many(self, msgs)
        if turn:
            devices.drain(self)
