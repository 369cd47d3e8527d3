"""What the chat rules need from around them, as narrow interfaces passed in explicitly.

The rules (``participant.py`` and the command tables) never import the
server, the transports or the command line. They are given:

- ``Services``: what is server-wide (the settings, resume tokens, the
  password throttle, the reply numbering, bans and mutes, the host's seat);
  ``net.server.ChatServer`` is one, a test's fake is another;
- the hub (``core.hub.Hub``): names, rooms and delivery;
- an ``Outlet``: where what is for this person goes (a connection; a test's
  recorder). The person's rules and state are not the outlet, so a person
  could later have several (issue 23: one account on several devices).
- ``Me``: what a command's handler may read of the person it acts for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from chatserver.accounts.service import Accounts
from chatserver.backends.markers import MarkerStore
from chatserver.backends.records import StoredSanction
from chatserver.core.fanout import Frame, Participant
from chatserver.core.hub import Hub
from chatserver.rules.moderation import Sanctions
from chatserver.rules.modes import Mode
from common import messages as m


class Settings(Protocol):
    """The server's settings the rules read (``config.ServerConfig`` has them)."""

    name: str
    mode: Mode
    ops: Iterable[str]  # the nick_key()s named by --op (a frozenset)
    password: str | None
    op_password: str | None
    rate_limit: float
    rate_burst: int
    history: int  # recent messages replayed to whoever joins a room
    announce_limit: int  # people in a room above which joins and leaves are not announced (``crowd.py``)
    room_operators: bool  # the maker of a room is its first operator (``roommodes.py``)
    quiet_lobby: bool  # connecting and disconnecting are not announced to the lobby


class Services(Protocol):
    """Server-wide things the rules use: one per server, shared by every person."""

    @property
    def config(self) -> Settings: ...

    #: Bans, mutes and /op grants (``moderation.Sanctions``).
    sanctions: Sanctions
    #: The server is stopping: people leave without a goodbye to the others.
    stopping: bool
    #: File sharing (``rules/sharing.FileShare``), None without the page's port.
    files: object | None
    #: Accounts (``chatserver/accounts/service.py``), None with ``--accounts off``.
    accounts: Accounts | None
    #: The accounts' read markers (``backends/markers.py``), None with ``--accounts off``.
    markers: MarkerStore | None

    def pause(self, seconds: float) -> None:
        """Wait in the caller's thread (a throttled sender), cut short by shutdown."""

    def auth_failed(self, ip: str) -> float:
        """Count a wrong password from ``ip``; how long its answer must wait."""
        ...

    def auth_succeeded(self, ip: str) -> None: ...

    def issue_token(self, nick: str) -> str:
        """A resume token for ``nick``."""
        ...

    def token_is_ours(self, token: str | None, nick: str) -> bool: ...

    def next_seq(self) -> int:
        """The server-wide numbering of reverse and ack replies (and guest names)."""
        ...

    def reserved_for_host(self, nick: str, who: Participant) -> bool:
        """Is ``nick`` the interactive host's name, which ``who`` may not take?"""
        ...

    def participant_joined(self, who: Participant) -> None: ...

    def participant_left(self, who: Participant, reason: str) -> None: ...


class Outlet(Protocol):
    """Where frames for one person go: a connection, or a test's recorder."""

    #: How it takes room batches: see ``core.fanout.Participant.wire``.
    @property
    def wire(self) -> str | None: ...

    def deliver(self, frame: Frame) -> None:
        """A frame for this person, in its turn (must not block)."""

    def deliver_bytes(self, data: bytes) -> None:
        """Encoded frames in the ``wire`` format (must not block)."""

    @property
    def full(self) -> bool:
        """Behind, so that publishers should wait."""
        ...

    def wait_room(self, timeout: float) -> None: ...

    def kick(self, reason: str) -> None:
        """End this connection from another thread."""


class Me(Protocol):
    """What a command's handler reads of the person it acts for (``Participant`` is one).

    Handlers change the person's own state (``room``, ``rooms``, ``away``,
    ``token``) directly; what they do to anyone else they return as effects
    (``effects.py``), or ask of the hub when they need its answer.
    """

    nick: str
    room: str  # the focused room
    epoch: str
    rooms: dict[str, str]  # every room it is in: key -> name, in joining order
    op: bool
    away: str
    quit_reason: str  # what it said as it quit
    realname: str  # what it calls itself besides its name (an IRC client's real name; "": its name)
    token: str
    is_host: bool
    registered: bool
    hub: Hub
    server: Services
    #: The account this person is logged in to (None: a guest), and this session's login token
    #: (``/logout`` revokes it). An account is not a connection: several may share one.
    account: str | None
    login_token: str
    account_op: bool
    #: A guest was told its private messages are not kept (``privates.py``: once).
    told_not_kept: bool
    #: A guest's own read markers, for its session's life (``readmarkers.py``; None until one is set).
    guest_markers: MarkerStore | None

    @property
    def address(self) -> str: ...

    #: Does it see plain-line text (no receipts, no resume tokens)?
    plain: bool

    def rewire(self) -> None:
        """Its rooms changed: the hub's batches may go to it in another wire format."""

    def mute(self) -> StoredSanction | None:
        """The mute in force on this person's name or address, if any."""
        ...

    def muted_text(self, mute: StoredSanction) -> str: ...

    def send(self, msg: m.Message) -> None:
        """To this person, in its turn (for the hub's greeting callbacks, which run under its lock)."""

    def users_reply(self) -> m.Users:
        """Who is in the focused room."""
        ...


Handler = Callable[[Me, m.Message], list]
"""A command's handler: the person, the command; the effects to carry out, in order."""
