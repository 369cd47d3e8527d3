"""The frames a client sends the server: one Struct per ``type``."""

from __future__ import annotations

from typing import ClassVar

from .accounts import masked
from .base import Int, Ints, Message, Str, Strs, Text, sent


@masked
class Hello(Message, tag="hello"):
    """First frame from a native client: who it is and what it speaks."""

    SECRETS: ClassVar[tuple[str, ...]] = ("password", "login_token", "account_password")

    version: Int
    nick: Str
    client: Str = sent("")
    #: Reconnecting: the ``token`` of the earlier welcome, to take the name back
    #: from a session the server has not yet noticed is dead.
    resume: Str | None = None
    #: Reconnecting: the last room ``seq`` seen; missed messages are replayed.
    last_seq: Int | None = None
    #: For a server started with a password (or an operator's password).
    password: Str | None = None
    #: Reconnecting: the room we were in (``last_seq`` counts its messages).
    #: The server puts us back there even if it no longer knows ``resume``.
    room: Str | None = None
    #: Reconnecting: the ``epoch`` of ``room`` that ``last_seq`` counts in.
    #: When the room's numbering has changed since, there is no resuming:
    #: the server says so (notice ``renumbered``) and sends recent history.
    epoch: Str | None = None
    #: Reconnecting: the other rooms we were in (``room`` is the focused one),
    #: with parallel lists of each one's ``epoch`` and last ``seq`` seen (-1:
    #: none). Each is joined again after the welcome, with its ``joined`` and replay.
    rooms: Strs | None = None
    epochs: Strs | None = None
    last_seqs: Ints | None = None
    #: Log in to an account as we arrive (``accounts.py``): a login token from an earlier
    #: ``LoggedIn`` (its account's name is the one taken), or the password of the account
    #: named ``nick``. Answered by ``LoggedIn`` after the welcome, or refused (``bad_login``).
    login_token: Str | None = None
    account_password: Str | None = None


class Say(Message, tag="say"):
    """A chat message to ``room`` (one we are in), or to the focused room."""

    text: Text
    room: Str | None = None
    #: A notice (IRC's NOTICE): a message nobody answers automatically.
    notice: bool | None = None
    #: Client-only tags (IRCv3 ``+name=value;...``, escaped as IRC sends them), relayed as they are.
    tags: Str | None = None


class Line(Message, tag="line"):
    """A line as the user typed it, parsed by the server (``common/commands.py``) as
    an nc user's line is: a message, or a ``/command``. A message or ``/me`` without a
    room of its own goes to ``room`` (one we are in), or to the focused room."""

    text: Text
    room: Str | None = None


class Action(Message, tag="action"):
    """``/me text``: an action in ``room``, or in the focused room."""

    text: Text
    room: Str | None = None


class PrivateSay(Message, tag="privmsg"):
    """``/msg NICK text``: a private message to one user."""

    to: Str
    text: Text
    #: A notice (IRC's NOTICE): a message nobody answers automatically.
    notice: bool | None = None
    #: Client-only tags, as ``Say.tags``.
    tags: Str | None = None


class SetNick(Message, tag="nick"):
    """``/nick NEW``."""

    nick: Str


class Who(Message, tag="who"):
    """``/who``: ask for the users in the room."""


class Join(Message, tag="join"):
    """``/join #room``: join a room (made on first join) and focus it; the other rooms are kept."""

    room: Str
    #: The room's key, when it has one (``+k``: ``rules/roommodes.py``).
    key: Str | None = None


class Part(Message, tag="part"):
    """``/part [#room]``: leave ``room`` or the focused room (the last one: back to the lobby)."""

    room: Str | None = None
    #: Why, told to the room (IRC's part message).
    reason: Str | None = None


class ListRooms(Message, tag="list"):
    """``/rooms [AFTER]``: answered with ``RoomList``, a page of rooms in order of name
    (those after the room ``after``, for the next page)."""

    after: Str | None = None


class SetTopic(Message, tag="topic"):
    """``/topic text``: the current room's topic."""

    text: Text
    #: The room (one we are in) whose topic it is; absent: the focused room.
    room: Str | None = None
    #: With no text: clear the topic (rather than ask what it is).
    clear: bool | None = None


class Away(Message, tag="away"):
    """``/away [reason]``: away with a reason, or back without one."""

    reason: Str = sent("")


class Kick(Message, tag="kick"):
    """``/kick NICK [reason]``: an operator removes a user; ``/kick #ROOM NICK [reason]``: out of that room only."""

    nick: Str
    reason: Str = sent("")
    #: The room kicked out of (its operator's or a server operator's right); absent: out of the chat.
    room: Str | None = None


class History(Message, tag="history"):
    """``/history [N]``: the room's last ``count`` messages (numbered below ``before``)."""

    count: Int = sent(100)
    before: Int | None = None
    #: ``/history @NICK``: the private conversation with ``nick`` instead of the room's
    #: (kept between two accounts only; the asker must be logged in).
    nick: Str | None = None


class Search(Message, tag="search"):
    """``/search WORDS``: earlier messages of the room holding all of ``words``."""

    words: Str


class Op(Message, tag="op"):
    """``/op NICK``: an operator makes a connected user an operator."""

    nick: Str


class Deop(Message, tag="deop"):
    """``/deop NICK``: an operator takes operator rights away."""

    nick: Str


class ListOps(Message, tag="ops"):
    """``/ops``: who are operators (answered with notices, event "ops")."""


class Ban(Message, tag="ban"):
    """``/ban NICK [DURATION] [reason]``: disconnect, and refuse the name and its address.

    ``duration`` in seconds: None for the server's default (an hour), 0 until lifted."""

    nick: Str
    duration: Int | None = None
    reason: Str = sent("")


class Unban(Message, tag="unban"):
    """``/unban MASK``: lift the bans on a nickname or an address."""

    mask: Str


class ListBans(Message, tag="bans"):
    """``/bans``: the bans and mutes in force (answered with notices, event "bans")."""


class Mute(Message, tag="mute"):
    """``/mute NICK [DURATION] [reason]``: refuse their room messages (``duration`` as in ``Ban``)."""

    nick: Str
    duration: Int | None = None
    reason: Str = sent("")


class Unmute(Message, tag="unmute"):
    """``/unmute NICK``."""

    nick: Str


class Quit(Message, tag="quit"):
    """The client leaves; the server answers with ``Bye`` and closes."""

    text: Text = sent("")
