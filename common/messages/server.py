"""The frames the server sends a client: one Struct per ``type``."""

from __future__ import annotations

from typing import ClassVar

from .base import Bools, Int, Ints, Message, Number, Str, Strs, Text, sent
from .files import FileRef


class Welcome(Message, tag="welcome"):
    """Handshake accepted: the nick the server registered and where we are."""

    PAGED: ClassVar[tuple[str, ...]] = ("users",)
    version: Int
    server: Str
    nick: Str
    room: Str
    users: Strs
    mode: Str = sent("chat")
    exit_words: Strs = sent(["bye"])
    token: Str = sent("")  # secret for ``Hello.resume``
    topic: Str = sent("")
    #: How many replayed messages follow at once (``replay`` "history" or "missed").
    replay: Int = sent(0)
    #: The server's limit on this connection: ``rate`` lines/s, bursts of
    #: ``burst`` (0: none). A client that keeps to it is never cut off.
    rate: Number = sent(0.0)
    burst: Int = sent(0)
    #: The numbering of ``room``: ``seq`` values mean something only within one epoch.
    epoch: Str = sent("")
    #: The room's last ``seq`` as we joined: a reconnect resumes from at least here.
    seq: Int = sent(0)
    #: Users in the room not in ``users`` (the list was cut to fit one frame).
    more: Int = sent(0)
    #: Accounts on this server (``accounts.py``): "optional" (guests welcome) or
    #: "required"; absent: the server has none.
    accounts: Str | None = None


class ChatMessage(Message, tag="message"):
    """A room message, stamped by the server with order, time and sender."""

    seq: Int
    ts: Number
    room: Str
    nick: Str
    text: Text
    action: bool = sent(False)
    #: Sent again: "history" (recent messages on joining, or asked for), "missed"
    #: (after a reconnect), "search" (found by ``/search``), "files" (``/files``).
    replay: Str | None = None
    #: A shared file (an action: "shared NAME (SIZE) — LINK"): what it is and where.
    file: FileRef | None = None
    #: A notice (IRC's NOTICE): a message nobody answers automatically.
    notice: bool | None = None
    #: The account the sender was logged in to (absent: a guest), stamped by the server.
    account: Str | None = None
    #: The sender's client-only tags (IRCv3 ``+name=value;...``, as IRC escapes them): for IRC
    #: clients with ``message-tags`` (``+typing``, ``+draft/reply``); not kept in the store.
    tags: Str | None = None


class Private(Message, tag="private"):
    """A private message; ``nick`` is the sender, stamped by the server."""

    ts: Number
    nick: Str
    to: Str
    text: Text
    #: A file shared with ``to`` alone (see ``ChatMessage.file``).
    file: FileRef | None = None
    #: A notice (IRC's NOTICE): a message nobody answers automatically.
    notice: bool | None = None
    #: Sent again: "away" (kept while you were away, ``ts`` its time), "history" (``/history @NICK``).
    replay: Str | None = None
    #: The account the sender was logged in to (absent: a guest), stamped by the server.
    account: Str | None = None
    #: The sender's client-only tags, as ``ChatMessage.tags``.
    tags: Str | None = None


class Notice(Message, tag="notice"):
    """Server information: joins, leaves, renames, replies to commands."""

    text: Text
    ts: Number
    event: Str = sent("info")  # join, leave, nick, shutdown, ended, info, help, ...
    seq: Int | None = None
    nick: Str | None = None  # whom the notice is about (the new name, for "nick")
    previous: Str | None = None  # the old name, for "nick"
    topic: Str | None = None  # the new topic, for "topic"
    #: The room it was announced to (absent: a word to you alone).
    room: Str | None = None
    #: Why (a leave's part or quit reason, a kick's), as its author said it; for "join", the joiner's
    #: away reason if it is away (IRC's away-notify tells it with the join).
    reason: Str | None = None
    #: Whom it is about besides ``nick`` (a mode's person, an invitation's guest).
    target: Str | None = None
    #: A room's mode changes, as IRC says them, for "mode" (``nick`` set them): ``+kl-i KEY 5``
    #: (a key has no space), or ``+o``/``-v`` alone for one person's, whose name is ``target``.
    mode: Str | None = None
    #: The room one is invited into, for "invite" (``nick`` invites ``target``).
    invited_to: Str | None = None
    #: ``nick``'s account: for "join" and "invite" the one it is logged in to (absent: a guest);
    #: for "account" (told to its rooms) the one it logged in to now (absent: it logged out).
    account: Str | None = None
    #: For "join": what ``nick`` calls itself besides its name (an IRC client's real name).
    realname: Str | None = None


class Users(Message, tag="users"):
    """Reply to ``Who``."""

    PAGED: ClassVar[tuple[str, ...]] = ("nicks", "away")
    SUBSETS: ClassVar[frozenset[str]] = frozenset({"away"})
    room: Str
    nicks: Strs
    away: Strs = sent([])  # those of ``nicks`` who are away
    #: Users in the room not in ``nicks`` (the list was cut to fit one frame).
    more: Int = sent(0)


class Joined(Message, tag="joined"):
    """You are now in ``room``; ``replay`` recent messages follow at once."""

    PAGED: ClassVar[tuple[str, ...]] = ("users",)
    room: Str
    topic: Str
    users: Strs
    replay: Int = sent(0)
    #: The numbering of ``room`` (see ``Welcome.epoch``).
    epoch: Str = sent("")
    #: The room's last ``seq`` as we joined (see ``Welcome.seq``).
    seq: Int = sent(0)
    #: Users in the room not in ``users`` (the list was cut to fit one frame).
    more: Int = sent(0)


class RoomList(Message, tag="rooms"):
    """Reply to ``ListRooms``: parallel lists, one entry per room."""

    PAGED: ClassVar[tuple[str, ...]] = ("names", "counts", "topics", "mine")
    names: Strs
    counts: Ints
    topics: Strs
    #: Rooms after the last listed, not listed (a page holds at most ``ROOMS_PAGE``, and
    #: what fits one frame): ``ListRooms(after=names[-1])`` asks for them.
    more: Int = sent(0)
    #: Whether the asker is in each room.
    mine: Bools = sent([])


class Parted(Message, tag="parted"):
    """You left ``room``; ``focus`` is your focused room now."""

    room: Str
    focus: Str
    #: Why, as you said it (told to the room too).
    reason: Str | None = None
    #: Who kicked you out of it (a room operator's kick; absent: you left it, here or on another device).
    by: Str | None = None


class Focused(Message, tag="focused"):
    """``room``, one you are in, is your focused room now (``join`` of a room you are in)."""

    room: Str


class Accepted(Message, tag="accepted"):
    """Tells the sender its room message was broadcast, and as which ``seq`` of which room."""

    seq: Int
    ts: Number
    room: Str | None = None
    #: For a ``line`` whose command made a message (``/me``, ``/say``): the message's
    #: text and whether it is an action, which its sender cannot know without the parser.
    text: Text | None = None
    action: bool | None = None


class Token(Message, tag="token"):
    """A new resume token for this session (after ``/nick``: tokens name their nick)."""

    token: Str


class Reply(Message, tag="reply"):
    """The server's answer to the sender alone (reverse and ack modes)."""

    seq: Int
    ts: Number
    text: Text


class Bye(Message, tag="bye"):
    """The server ends this session; the connection closes after it."""

    reason: Str = sent("")
