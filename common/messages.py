"""Message types of the native protocol: one small dataclass per ``type``.

Every frame is a JSON object with a ``type`` key. ``decode`` validates the
object against the dataclass it names and raises ``InvalidFrame`` (never any
other exception) for anything else; ``encode`` produces the frame bytes,
newline included, so a broadcast is encoded exactly once.

A server-to-client message keeps itself within the limits every receiver
enforces (``common/limits.py``) however it is built: a string over its field's
limit is cut (ending "…"), and a list too long for one frame is cut to what
fits, the message's ``more`` counting the entries left out.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import types
import typing
from typing import Any, ClassVar, Union

import msgspec

from .errors import InvalidFrame
from .limits import MAX_FIELD as MAX_FIELD
from .limits import MAX_TEXT as MAX_TEXT
from .limits import Fitter, field_limit

PROTOCOL_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Message:
    """Base of all frames; ``TYPE`` is the wire name."""

    TYPE: ClassVar[str] = ""
    #: List fields cut together (entry ``i`` of each is about one thing) when the
    #: frame would be too big; the field ``more`` then counts the entries cut.
    PAGED: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        fit = _FITTERS.get(type(self))
        if fit is not None:
            fit(self)

    def _cut(self, lists: dict[str, list[Any]], keep: int) -> dict[str, list[Any]]:
        """The ``PAGED`` lists with their first ``keep`` entries."""
        return {name: value[:keep] for name, value in lists.items()}


_REGISTRY: dict[str, type[Message]] = {}


def _register(cls: type[Message]) -> type[Message]:
    _REGISTRY[cls.TYPE] = cls
    return cls


# --- client to server -----------------------------------------------------


@_register
@dataclasses.dataclass(frozen=True)
class Hello(Message):
    """First frame from a native client: who it is and what it speaks."""

    TYPE: ClassVar[str] = "hello"
    version: int
    nick: str
    client: str = ""
    #: Reconnecting: the ``token`` of the earlier welcome, to take the name back
    #: from a session the server has not yet noticed is dead.
    resume: str | None = None
    #: Reconnecting: the last room ``seq`` seen; missed messages are replayed.
    last_seq: int | None = None
    #: For a server started with a password (or an operator's password).
    password: str | None = None
    #: Reconnecting: the room we were in (``last_seq`` counts its messages).
    #: The server puts us back there even if it no longer knows ``resume``.
    room: str | None = None
    #: Reconnecting: the ``epoch`` of ``room`` that ``last_seq`` counts in.
    #: When the room's numbering has changed since, there is no resuming:
    #: the server says so (notice ``renumbered``) and sends recent history.
    epoch: str | None = None
    #: Reconnecting: the other rooms we were in (``room`` is the focused one),
    #: with parallel lists of each one's ``epoch`` and last ``seq`` seen (-1:
    #: none). Each is joined again after the welcome, with its ``joined`` and replay.
    rooms: list[str] | None = None
    epochs: list[str] | None = None
    last_seqs: list[int] | None = None


@_register
@dataclasses.dataclass(frozen=True)
class Say(Message):
    """A chat message to ``room`` (one we are in), or to the focused room."""

    TYPE: ClassVar[str] = "say"
    text: str
    room: str | None = None


@_register
@dataclasses.dataclass(frozen=True)
class Line(Message):
    """A line as the user typed it, parsed by the server (``common/commands.py``) as
    an nc user's line is: a message, or a ``/command``. A message or ``/me`` without a
    room of its own goes to ``room`` (one we are in), or to the focused room."""

    TYPE: ClassVar[str] = "line"
    text: str
    room: str | None = None


@_register
@dataclasses.dataclass(frozen=True)
class Action(Message):
    """``/me text``: an action in ``room``, or in the focused room."""

    TYPE: ClassVar[str] = "action"
    text: str
    room: str | None = None


@_register
@dataclasses.dataclass(frozen=True)
class PrivateSay(Message):
    """``/msg NICK text``: a private message to one user."""

    TYPE: ClassVar[str] = "privmsg"
    to: str
    text: str


@_register
@dataclasses.dataclass(frozen=True)
class SetNick(Message):
    """``/nick NEW``."""

    TYPE: ClassVar[str] = "nick"
    nick: str


@_register
@dataclasses.dataclass(frozen=True)
class Who(Message):
    """``/who``: ask for the users in the room."""

    TYPE: ClassVar[str] = "who"


@_register
@dataclasses.dataclass(frozen=True)
class Join(Message):
    """``/join #room``: join a room (made on first join) and focus it; the other rooms are kept."""

    TYPE: ClassVar[str] = "join"
    room: str


@_register
@dataclasses.dataclass(frozen=True)
class Part(Message):
    """``/part [#room]``: leave ``room`` or the focused room (the last one: back to the lobby)."""

    TYPE: ClassVar[str] = "part"
    room: str | None = None


@_register
@dataclasses.dataclass(frozen=True)
class ListRooms(Message):
    """``/rooms [AFTER]``: answered with ``RoomList``, a page of rooms in order of name
    (those after the room ``after``, for the next page)."""

    TYPE: ClassVar[str] = "list"
    after: str | None = None


@_register
@dataclasses.dataclass(frozen=True)
class SetTopic(Message):
    """``/topic text``: the current room's topic."""

    TYPE: ClassVar[str] = "topic"
    text: str


@_register
@dataclasses.dataclass(frozen=True)
class Away(Message):
    """``/away [reason]``: away with a reason, or back without one."""

    TYPE: ClassVar[str] = "away"
    reason: str = ""


@_register
@dataclasses.dataclass(frozen=True)
class Kick(Message):
    """``/kick NICK [reason]``: an operator removes a user."""

    TYPE: ClassVar[str] = "kick"
    nick: str
    reason: str = ""


@_register
@dataclasses.dataclass(frozen=True)
class History(Message):
    """``/history [N]``: the room's last ``count`` messages (numbered below ``before``)."""

    TYPE: ClassVar[str] = "history"
    count: int = 100
    before: int | None = None


@_register
@dataclasses.dataclass(frozen=True)
class Search(Message):
    """``/search WORDS``: earlier messages of the room holding all of ``words``."""

    TYPE: ClassVar[str] = "search"
    words: str


@_register
@dataclasses.dataclass(frozen=True)
class Op(Message):
    """``/op NICK``: an operator makes a connected user an operator."""

    TYPE: ClassVar[str] = "op"
    nick: str


@_register
@dataclasses.dataclass(frozen=True)
class Deop(Message):
    """``/deop NICK``: an operator takes operator rights away."""

    TYPE: ClassVar[str] = "deop"
    nick: str


@_register
@dataclasses.dataclass(frozen=True)
class ListOps(Message):
    """``/ops``: who are operators (answered with notices, event "ops")."""

    TYPE: ClassVar[str] = "ops"


@_register
@dataclasses.dataclass(frozen=True)
class Ban(Message):
    """``/ban NICK [DURATION] [reason]``: disconnect, and refuse the name and its address.

    ``duration`` in seconds: None for the server's default (an hour), 0 until lifted."""

    TYPE: ClassVar[str] = "ban"
    nick: str
    duration: int | None = None
    reason: str = ""


@_register
@dataclasses.dataclass(frozen=True)
class Unban(Message):
    """``/unban MASK``: lift the bans on a nickname or an address."""

    TYPE: ClassVar[str] = "unban"
    mask: str


@_register
@dataclasses.dataclass(frozen=True)
class ListBans(Message):
    """``/bans``: the bans and mutes in force (answered with notices, event "bans")."""

    TYPE: ClassVar[str] = "bans"


@_register
@dataclasses.dataclass(frozen=True)
class Mute(Message):
    """``/mute NICK [DURATION] [reason]``: refuse their room messages (``duration`` as in ``Ban``)."""

    TYPE: ClassVar[str] = "mute"
    nick: str
    duration: int | None = None
    reason: str = ""


@_register
@dataclasses.dataclass(frozen=True)
class Unmute(Message):
    """``/unmute NICK``."""

    TYPE: ClassVar[str] = "unmute"
    nick: str


@_register
@dataclasses.dataclass(frozen=True)
class Quit(Message):
    """The client leaves; the server answers with ``Bye`` and closes."""

    TYPE: ClassVar[str] = "quit"
    text: str = ""


# --- server to client -----------------------------------------------------


@_register
@dataclasses.dataclass(frozen=True)
class Welcome(Message):
    """Handshake accepted: the nick the server registered and where we are."""

    TYPE: ClassVar[str] = "welcome"
    PAGED: ClassVar[tuple[str, ...]] = ("users",)
    version: int
    server: str
    nick: str
    room: str
    users: list[str]
    mode: str = "chat"
    exit_words: list[str] = dataclasses.field(default_factory=lambda: ["bye"])
    token: str = ""  # secret for ``Hello.resume``
    topic: str = ""
    #: How many replayed messages follow at once (``replay`` "history" or "missed").
    replay: int = 0
    #: The server's limit on this connection: ``rate`` lines/s, bursts of
    #: ``burst`` (0: none). A client that keeps to it is never cut off.
    rate: float = 0.0
    burst: int = 0
    #: The numbering of ``room``: ``seq`` values mean something only within one epoch.
    epoch: str = ""
    #: The room's last ``seq`` as we joined: a reconnect resumes from at least here.
    seq: int = 0
    #: Users in the room not in ``users`` (the list was cut to fit one frame).
    more: int = 0


@_register
@dataclasses.dataclass(frozen=True)
class ChatMessage(Message):
    """A room message, stamped by the server with order, time and sender."""

    TYPE: ClassVar[str] = "message"
    seq: int
    ts: float
    room: str
    nick: str
    text: str
    action: bool = False
    #: Sent again: "history" (recent messages on joining, or asked for), "missed"
    #: (after a reconnect), "search" (found by ``/search``).
    replay: str | None = None


@_register
@dataclasses.dataclass(frozen=True)
class Private(Message):
    """A private message; ``nick`` is the sender, stamped by the server."""

    TYPE: ClassVar[str] = "private"
    ts: float
    nick: str
    to: str
    text: str


@_register
@dataclasses.dataclass(frozen=True)
class Notice(Message):
    """Server information: joins, leaves, renames, replies to commands."""

    TYPE: ClassVar[str] = "notice"
    text: str
    ts: float
    event: str = "info"  # join, leave, nick, shutdown, ended, info, help, ...
    seq: int | None = None
    nick: str | None = None  # whom the notice is about (the new name, for "nick")
    previous: str | None = None  # the old name, for "nick"
    topic: str | None = None  # the new topic, for "topic"
    #: The room it was announced to (absent: a word to you alone).
    room: str | None = None


@_register
@dataclasses.dataclass(frozen=True)
class Users(Message):
    """Reply to ``Who``."""

    TYPE: ClassVar[str] = "users"
    PAGED: ClassVar[tuple[str, ...]] = ("nicks", "away")
    room: str
    nicks: list[str]
    away: list[str] = dataclasses.field(default_factory=list)  # those of ``nicks`` who are away
    #: Users in the room not in ``nicks`` (the list was cut to fit one frame).
    more: int = 0

    def _cut(self, lists: dict[str, list[Any]], keep: int) -> dict[str, list[Any]]:
        nicks = lists["nicks"][:keep]
        away = set(lists["away"])
        return {"nicks": nicks, "away": [n for n in nicks if n in away]}


@_register
@dataclasses.dataclass(frozen=True)
class Joined(Message):
    """You are now in ``room``; ``replay`` recent messages follow at once."""

    TYPE: ClassVar[str] = "joined"
    PAGED: ClassVar[tuple[str, ...]] = ("users",)
    room: str
    topic: str
    users: list[str]
    replay: int = 0
    #: The numbering of ``room`` (see ``Welcome.epoch``).
    epoch: str = ""
    #: The room's last ``seq`` as we joined (see ``Welcome.seq``).
    seq: int = 0
    #: Users in the room not in ``users`` (the list was cut to fit one frame).
    more: int = 0


@_register
@dataclasses.dataclass(frozen=True)
class RoomList(Message):
    """Reply to ``ListRooms``: parallel lists, one entry per room."""

    TYPE: ClassVar[str] = "rooms"
    PAGED: ClassVar[tuple[str, ...]] = ("names", "counts", "topics", "mine")
    names: list[str]
    counts: list[int]
    topics: list[str]
    #: Rooms after the last listed, not listed (a page holds at most ``ROOMS_PAGE``, and
    #: what fits one frame): ``ListRooms(after=names[-1])`` asks for them.
    more: int = 0
    #: Whether the asker is in each room.
    mine: list[bool] = dataclasses.field(default_factory=list)


@_register
@dataclasses.dataclass(frozen=True)
class Parted(Message):
    """You left ``room``; ``focus`` is your focused room now."""

    TYPE: ClassVar[str] = "parted"
    room: str
    focus: str


@_register
@dataclasses.dataclass(frozen=True)
class Focused(Message):
    """``room``, one you are in, is your focused room now (``join`` of a room you are in)."""

    TYPE: ClassVar[str] = "focused"
    room: str


@_register
@dataclasses.dataclass(frozen=True)
class Accepted(Message):
    """Tells the sender its room message was broadcast, and as which ``seq`` of which room."""

    TYPE: ClassVar[str] = "accepted"
    seq: int
    ts: float
    room: str | None = None
    #: For a ``line`` whose command made a message (``/me``, ``/say``): the message's
    #: text and whether it is an action, which its sender cannot know without the parser.
    text: str | None = None
    action: bool | None = None


@_register
@dataclasses.dataclass(frozen=True)
class Token(Message):
    """A new resume token for this session (after ``/nick``: tokens name their nick)."""

    TYPE: ClassVar[str] = "token"
    token: str


@_register
@dataclasses.dataclass(frozen=True)
class Reply(Message):
    """The server's answer to the sender alone (reverse and ack modes)."""

    TYPE: ClassVar[str] = "reply"
    seq: int
    ts: float
    text: str


@_register
@dataclasses.dataclass(frozen=True)
class Bye(Message):
    """The server ends this session; the connection closes after it."""

    TYPE: ClassVar[str] = "bye"
    reason: str = ""


# --- both directions ------------------------------------------------------


@_register
@dataclasses.dataclass(frozen=True)
class Error(Message):
    """Something the receiver sent was refused; ``code`` is machine-readable."""

    TYPE: ClassVar[str] = "error"
    code: str
    message: str
    suggestion: str | None = None


@_register
@dataclasses.dataclass(frozen=True)
class Ping(Message):
    TYPE: ClassVar[str] = "ping"
    token: str = ""


@_register
@dataclasses.dataclass(frozen=True)
class Pong(Message):
    TYPE: ClassVar[str] = "pong"
    token: str = ""


CLIENT_TYPES: frozenset[type[Message]] = frozenset(
    {Hello, Line, Say, Action, PrivateSay, SetNick, Who, Join, Part, ListRooms, SetTopic, Away, Kick, History, Search}
    | {Quit}
    | {Op, Deop, ListOps, Ban, Unban, ListBans, Mute, Unmute}
    | {Error, Ping, Pong}
)
SERVER_TYPES: frozenset[type[Message]] = frozenset(
    {Welcome, ChatMessage, Private, Notice, Users, Joined, RoomList, Parted, Focused, Accepted, Token, Reply}
    | {Bye, Error, Ping, Pong}
)

# --- validation -----------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")
#: Integers on the wire are 64-bit signed, as SQLite keeps them.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_Check = typing.Callable[[str, Any], Any]


def _check_for(tp: Any) -> _Check:
    """Build a checker for one annotated field type."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = _check_for(args[0])

        def check_optional(name: str, value: Any) -> Any:
            return None if value is None else inner(name, value)

        return check_optional
    if origin is list:
        (item,) = typing.get_args(tp)
        inner = _check_for(item)

        def check_list(name: str, value: Any) -> Any:
            if not isinstance(value, list) or len(value) > 10_000:
                raise InvalidFrame(f"field {name!r} must be a list")
            return [inner(name, v) for v in value]

        return check_list
    if tp is bool:

        def check_bool(name: str, value: Any) -> Any:
            if not isinstance(value, bool):
                raise InvalidFrame(f"field {name!r} must be a boolean")
            return value

        return check_bool
    if tp is int:

        def check_int(name: str, value: Any) -> Any:
            if isinstance(value, bool) or not isinstance(value, int) or not INT_MIN <= value <= INT_MAX:
                raise InvalidFrame(f"field {name!r} must be an integer of 64 bits (signed)")
            return value

        return check_int
    if tp is float:

        def check_float(name: str, value: Any) -> Any:
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (isinstance(value, int) and not INT_MIN <= value <= INT_MAX)
                or not math.isfinite(value)
            ):
                raise InvalidFrame(f"field {name!r} must be a finite number")
            return float(value)

        return check_float
    if tp is str:

        def check_str(name: str, value: Any) -> Any:
            if not isinstance(value, str):
                raise InvalidFrame(f"field {name!r} must be a string")
            limit = field_limit(name)
            if len(value) > limit:
                raise InvalidFrame(f"field {name!r} is longer than {limit} characters")
            if _SURROGATE.search(value):
                raise InvalidFrame(f"field {name!r} holds an unpaired surrogate")
            return value

        return check_str
    raise TypeError(f"unsupported field type {tp!r}")  # pragma: no cover


_SCHEMAS: dict[str, tuple[type[Message], dict[str, tuple[_Check, bool]]]] = {}
for _name, _cls in _REGISTRY.items():
    _hints = typing.get_type_hints(_cls)
    _SCHEMAS[_name] = (
        _cls,
        {
            f.name: (
                _check_for(_hints[f.name]),
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            )
            for f in dataclasses.fields(_cls)
        },
    )


def from_dict(obj: Any) -> Message:
    """Validate a decoded JSON value and build the message it describes."""
    if not isinstance(obj, dict):
        raise InvalidFrame("frame must be a JSON object")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise InvalidFrame("frame has no string 'type'")
    schema = _SCHEMAS.get(kind)
    if schema is None:
        raise InvalidFrame(f"unknown message type {kind[:40]!r}", code="unknown_type")
    cls, fields = schema
    kwargs: dict[str, Any] = {}
    for name, (check, required) in fields.items():
        if name in obj:
            kwargs[name] = check(name, obj[name])
        elif required:
            raise InvalidFrame(f"{kind!r} frame is missing field {name!r}")
    return cls(**kwargs)


def decode(line: bytes) -> Message:
    """Decode one frame (without its newline). Raises only ``InvalidFrame``."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidFrame(f"frame is not valid UTF-8 (byte {exc.start})") from None
    try:
        obj = _decode_json(text)
    except (msgspec.DecodeError, RecursionError):  # (NaN, a lone surrogate...: json.loads says what is wrong)
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise InvalidFrame(f"frame is not valid JSON: {str(exc)[:80]}") from None
    return from_dict(obj)


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def to_dict(msg: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"type": msg.TYPE}
    for name in _field_names(type(msg)):
        value = getattr(msg, name)
        if value is not None:
            out[name] = value
    return out


#: JSON from and to bytes by msgspec (C): a fifth of the time of the json module's either way,
#: the same bytes out (compact, UTF-8, control characters escaped) and the same values in.
_decode_json = msgspec.json.Decoder().decode
_encode_msgspec = msgspec.json.Encoder().encode
#: The json module's, for what msgspec will not encode (a lone surrogate: it raises as before).
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def encode(msg: Message) -> bytes:
    """The frame for ``msg``: compact JSON plus newline (JSON escapes any newline)."""
    obj = to_dict(msg)
    try:
        return _encode_msgspec(obj) + b"\n"
    except (msgspec.EncodeError, UnicodeEncodeError, OverflowError, TypeError):
        return _encode_json(obj).encode() + b"\n"


#: Every server-to-client message keeps itself within the limits, however it is built.
_FITTERS: dict[type[Message], Fitter] = {cls: Fitter(cls, encode) for cls in SERVER_TYPES}
