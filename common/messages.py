"""Message types of the native protocol: one msgspec Struct per ``type``, a tagged union.

Every frame is a JSON object whose ``type`` names its Struct. ``decode`` reads a
frame into its Struct, msgspec checking every field's type and cap (in C) as it
reads, and raises ``InvalidFrame`` (never any other exception) for anything
else; ``encode`` produces the frame bytes, newline included, so a broadcast is
encoded exactly once, by one msgspec call.

Whatever a receiver refuses the server keeps out of its frames where it builds
them (``common/limits.py``: ``fit``, ``first``); a message's constructor checks
nothing, so building and decoding one costs no Python per field.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import typing
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Union

import msgspec

from .errors import InvalidFrame
from .limits import MAX_FIELD as MAX_FIELD
from .limits import MAX_LIST, fit
from .limits import MAX_TEXT as MAX_TEXT

PROTOCOL_VERSION = 1

#: Integers on the wire are 64-bit signed, as SQLite keeps them.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1

# The field types: each one's cap is checked by msgspec as a frame is decoded.
Str = Annotated[str, msgspec.Meta(max_length=MAX_FIELD)]
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]  # fields ``text`` and ``message``
Int = Annotated[int, msgspec.Meta(ge=INT_MIN, le=INT_MAX)]
#: A finite number (an integer given for one is held to 64 bits as any integer is: ``decode``).
Number = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
Strs = Annotated[list[Str], msgspec.Meta(max_length=MAX_LIST)]
Ints = Annotated[list[Int], msgspec.Meta(max_length=MAX_LIST)]
Bools = Annotated[list[bool], msgspec.Meta(max_length=MAX_LIST)]


def _sent(value: Any) -> Any:
    """A default that is still sent: frames leave out only the fields that are None
    (``omit_defaults`` leaves out a field equal to its default; one made by a factory
    is never equal to it, but for an empty list made by ``list``)."""
    kind = type(value)
    if kind in (str, int, float, bool) and value == kind():
        return msgspec.field(default_factory=kind)  # (a C call: no Python per message)
    if kind is list:
        return msgspec.field(default_factory=lambda: list(value))
    return msgspec.field(default_factory=lambda: value)


class Message(msgspec.Struct, tag_field="type", omit_defaults=True, gc=False):
    """Base of all frames; ``TYPE`` is the wire name (the Struct's tag)."""

    TYPE: ClassVar[str] = ""
    #: List fields cut together (entry ``i`` of each is about one thing) when the
    #: frame would be too big; the field ``more`` then counts the entries cut.
    PAGED: ClassVar[tuple[str, ...]] = ()
    #: ``PAGED`` lists holding some of the entries of the first (``Users.away``):
    #: cut to those of the entries kept.
    SUBSETS: ClassVar[frozenset[str]] = frozenset()

    def __setattr__(self, name: str, value: Any) -> None:
        """Messages are values: one is sent to many, and kept in the history."""
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


# --- client to server -----------------------------------------------------


class Hello(Message, tag="hello"):
    """First frame from a native client: who it is and what it speaks."""

    version: Int
    nick: Str
    client: Str = _sent("")
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


class Say(Message, tag="say"):
    """A chat message to ``room`` (one we are in), or to the focused room."""

    text: Text
    room: Str | None = None


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


class SetNick(Message, tag="nick"):
    """``/nick NEW``."""

    nick: Str


class Who(Message, tag="who"):
    """``/who``: ask for the users in the room."""


class Join(Message, tag="join"):
    """``/join #room``: join a room (made on first join) and focus it; the other rooms are kept."""

    room: Str


class Part(Message, tag="part"):
    """``/part [#room]``: leave ``room`` or the focused room (the last one: back to the lobby)."""

    room: Str | None = None


class ListRooms(Message, tag="list"):
    """``/rooms [AFTER]``: answered with ``RoomList``, a page of rooms in order of name
    (those after the room ``after``, for the next page)."""

    after: Str | None = None


class SetTopic(Message, tag="topic"):
    """``/topic text``: the current room's topic."""

    text: Text


class Away(Message, tag="away"):
    """``/away [reason]``: away with a reason, or back without one."""

    reason: Str = _sent("")


class Kick(Message, tag="kick"):
    """``/kick NICK [reason]``: an operator removes a user."""

    nick: Str
    reason: Str = _sent("")


class History(Message, tag="history"):
    """``/history [N]``: the room's last ``count`` messages (numbered below ``before``)."""

    count: Int = _sent(100)
    before: Int | None = None


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
    reason: Str = _sent("")


class Unban(Message, tag="unban"):
    """``/unban MASK``: lift the bans on a nickname or an address."""

    mask: Str


class ListBans(Message, tag="bans"):
    """``/bans``: the bans and mutes in force (answered with notices, event "bans")."""


class Mute(Message, tag="mute"):
    """``/mute NICK [DURATION] [reason]``: refuse their room messages (``duration`` as in ``Ban``)."""

    nick: Str
    duration: Int | None = None
    reason: Str = _sent("")


class Unmute(Message, tag="unmute"):
    """``/unmute NICK``."""

    nick: Str


class Quit(Message, tag="quit"):
    """The client leaves; the server answers with ``Bye`` and closes."""

    text: Text = _sent("")


# --- server to client -----------------------------------------------------


class Welcome(Message, tag="welcome"):
    """Handshake accepted: the nick the server registered and where we are."""

    PAGED: ClassVar[tuple[str, ...]] = ("users",)
    version: Int
    server: Str
    nick: Str
    room: Str
    users: Strs
    mode: Str = _sent("chat")
    exit_words: Strs = _sent(["bye"])
    token: Str = _sent("")  # secret for ``Hello.resume``
    topic: Str = _sent("")
    #: How many replayed messages follow at once (``replay`` "history" or "missed").
    replay: Int = _sent(0)
    #: The server's limit on this connection: ``rate`` lines/s, bursts of
    #: ``burst`` (0: none). A client that keeps to it is never cut off.
    rate: Number = _sent(0.0)
    burst: Int = _sent(0)
    #: The numbering of ``room``: ``seq`` values mean something only within one epoch.
    epoch: Str = _sent("")
    #: The room's last ``seq`` as we joined: a reconnect resumes from at least here.
    seq: Int = _sent(0)
    #: Users in the room not in ``users`` (the list was cut to fit one frame).
    more: Int = _sent(0)


class ChatMessage(Message, tag="message"):
    """A room message, stamped by the server with order, time and sender."""

    seq: Int
    ts: Number
    room: Str
    nick: Str
    text: Text
    action: bool = _sent(False)
    #: Sent again: "history" (recent messages on joining, or asked for), "missed"
    #: (after a reconnect), "search" (found by ``/search``).
    replay: Str | None = None


class Private(Message, tag="private"):
    """A private message; ``nick`` is the sender, stamped by the server."""

    ts: Number
    nick: Str
    to: Str
    text: Text


class Notice(Message, tag="notice"):
    """Server information: joins, leaves, renames, replies to commands."""

    text: Text
    ts: Number
    event: Str = _sent("info")  # join, leave, nick, shutdown, ended, info, help, ...
    seq: Int | None = None
    nick: Str | None = None  # whom the notice is about (the new name, for "nick")
    previous: Str | None = None  # the old name, for "nick"
    topic: Str | None = None  # the new topic, for "topic"
    #: The room it was announced to (absent: a word to you alone).
    room: Str | None = None


class Users(Message, tag="users"):
    """Reply to ``Who``."""

    PAGED: ClassVar[tuple[str, ...]] = ("nicks", "away")
    SUBSETS: ClassVar[frozenset[str]] = frozenset({"away"})
    room: Str
    nicks: Strs
    away: Strs = _sent([])  # those of ``nicks`` who are away
    #: Users in the room not in ``nicks`` (the list was cut to fit one frame).
    more: Int = _sent(0)


class Joined(Message, tag="joined"):
    """You are now in ``room``; ``replay`` recent messages follow at once."""

    PAGED: ClassVar[tuple[str, ...]] = ("users",)
    room: Str
    topic: Str
    users: Strs
    replay: Int = _sent(0)
    #: The numbering of ``room`` (see ``Welcome.epoch``).
    epoch: Str = _sent("")
    #: The room's last ``seq`` as we joined (see ``Welcome.seq``).
    seq: Int = _sent(0)
    #: Users in the room not in ``users`` (the list was cut to fit one frame).
    more: Int = _sent(0)


class RoomList(Message, tag="rooms"):
    """Reply to ``ListRooms``: parallel lists, one entry per room."""

    PAGED: ClassVar[tuple[str, ...]] = ("names", "counts", "topics", "mine")
    names: Strs
    counts: Ints
    topics: Strs
    #: Rooms after the last listed, not listed (a page holds at most ``ROOMS_PAGE``, and
    #: what fits one frame): ``ListRooms(after=names[-1])`` asks for them.
    more: Int = _sent(0)
    #: Whether the asker is in each room.
    mine: Bools = _sent([])


class Parted(Message, tag="parted"):
    """You left ``room``; ``focus`` is your focused room now."""

    room: Str
    focus: Str


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

    reason: Str = _sent("")


# --- both directions ------------------------------------------------------


class Error(Message, tag="error"):
    """Something the receiver sent was refused; ``code`` is machine-readable."""

    code: Str
    message: Text
    suggestion: Str | None = None


class Ping(Message, tag="ping"):
    token: Str = _sent("")


class Pong(Message, tag="pong"):
    token: Str = _sent("")


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

_REGISTRY: dict[str, type[Message]] = {}
for _cls in sorted(CLIENT_TYPES | SERVER_TYPES, key=lambda cls: cls.__name__):
    _cls.TYPE = _cls.__struct_config__.tag  # type: ignore[assignment,misc]
    _REGISTRY[_cls.TYPE] = _cls
    # ``dataclasses.fields`` and ``dataclasses.replace`` take a message as they did when
    # messages were dataclasses (prefer ``msgspec.structs``): the fields of a dataclass
    # of the same fields and defaults.
    _cls.__dataclass_fields__ = dataclasses.make_dataclass(  # type: ignore[attr-defined]
        _cls.__name__,
        [
            (f.name, f.type, dataclasses.field(default=f.default))
            if f.default is not msgspec.NODEFAULT
            else (f.name, f.type, dataclasses.field(default_factory=f.default_factory))
            if f.default_factory is not msgspec.NODEFAULT
            else (f.name, f.type)
            for f in msgspec.structs.fields(_cls)
        ],
    ).__dataclass_fields__

AnyMessage = Union[tuple(_REGISTRY.values())]  # type: ignore[valid-type]  # noqa: UP007 - of a tuple

#: Frames from and to bytes by msgspec (C): fields checked as they are read.
_decode_msg: Callable[[bytes], Message] = msgspec.json.Decoder(AnyMessage).decode
_encode_msg: Callable[[Any], bytes] = msgspec.json.Encoder().encode
#: Server frames that can hold what a receiver refuses (text made of what users typed,
#: lists of any length) are kept within the caps as they are encoded (``limits.fit``:
#: a few length checks for most). The messages that fan out are built from fields checked
#: as they came in, and are encoded by one msgspec call.
_FITTED = SERVER_TYPES - {ChatMessage, Accepted, Private, Reply, Ping, Pong}


def decode(line: bytes) -> Message:
    """Decode one frame (without its newline). Raises only ``InvalidFrame``."""
    try:
        msg = _decode_msg(line)
    except msgspec.ValidationError as exc:
        try:
            obj = msgspec.json.decode(line)
        except (msgspec.DecodeError, RecursionError):  # (nested past msgspec's depth: said below)
            pass
        else:
            raise _refusal(obj, exc) from None
    except msgspec.DecodeError:
        pass  # invalid UTF-8, NaN, a lone surrogate...: the json module says what is wrong, below
    else:
        if msg.__class__ not in _NUMBERS or _numbers_within_64_bits(msg):
            return msg
        # msgspec reads an integer of any length into a number field: read as written, below
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidFrame(f"frame is not valid UTF-8 (byte {exc.start})") from None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidFrame(f"frame is not valid JSON: {str(exc)[:80]}") from None
    return from_dict(obj)


def from_dict(obj: Any) -> Message:
    """Validate a decoded JSON value and build the message it describes."""
    if isinstance(obj, dict):
        for name, value in obj.items():
            if _holds_surrogate(value):
                raise InvalidFrame(f"field {name!r} holds an unpaired surrogate")
    try:
        msg = msgspec.convert(obj, AnyMessage)
    except msgspec.ValidationError as exc:
        raise _refusal(obj, exc) from None
    for name in _NUMBERS.get(msg.__class__, ()):  # an integer there is held to 64 bits, as any integer is
        written = obj[name] if name in obj else None
        if isinstance(written, int) and not INT_MIN <= written <= INT_MAX:
            raise InvalidFrame(f"field {name!r} {_MUST[Number]}")
    return msg


def to_dict(msg: Message) -> dict[str, Any]:
    """The frame's JSON object: ``type`` and every field but those that are None."""
    return msgspec.to_builtins(msg)  # type: ignore[no-any-return]


#: The json module's, for what msgspec will not encode (a lone surrogate: it raises as before).
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def encode(msg: Message) -> bytes:
    """The frame for ``msg``: compact JSON plus newline (JSON escapes any newline)."""
    if msg.__class__ in _FITTED:
        msg = fit(msg)
    try:
        return _encode_msg(msg) + b"\n"
    except (msgspec.EncodeError, UnicodeEncodeError, OverflowError, TypeError):
        return _encode_json(to_dict(msg)).encode() + b"\n"


# --- what a refused frame is told -----------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")
_MISSING = re.compile(r"Object missing required field `(\w+)`$")
_AT = re.compile(r" - at `\$\.(\w+)(\[\d+\])?`$")
#: What a field of each type must be (of a list: what each entry must be), as refusals say it.
_MUST: dict[Any, str] = {
    Str: "must be a string",
    Text: "must be a string",
    Int: "must be an integer of 64 bits (signed)",
    Number: "must be a finite number",
    bool: "must be a boolean",
}


def _numbers_within_64_bits(msg: Message) -> bool:
    for name in _NUMBERS[msg.__class__]:
        if not -(2.0**63) < getattr(msg, name) < 2.0**63:
            return False
    return True


def _holds_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, list):
        return any(_holds_surrogate(v) for v in value)
    return False


def _refusal(obj: Any, exc: msgspec.ValidationError) -> InvalidFrame:
    """The ``InvalidFrame`` for a JSON value msgspec refused as a message, saying why."""
    if not isinstance(obj, dict):
        return InvalidFrame("frame must be a JSON object")
    kind = obj.get("type")
    if not isinstance(kind, str):
        return InvalidFrame("frame has no string 'type'")
    cls = _REGISTRY.get(kind)
    if cls is None:
        return InvalidFrame(f"unknown message type {kind[:40]!r}", code="unknown_type")
    why = str(exc)
    if missing := _MISSING.match(why):
        return InvalidFrame(f"{kind!r} frame is missing field {missing.group(1)!r}")
    at = _AT.search(why)
    if at is None:  # pragma: no cover - every field error names its field
        return InvalidFrame(f"{kind!r} frame: {why[:80]}")
    name, entry = at.group(1), at.group(2)
    hint = _FIELD_TYPES[cls].get(name)
    if hint in (Strs, Ints, Bools) and entry is None:
        return InvalidFrame(f"field {name!r} must be a list")
    if hint in (Strs, Ints, Bools):
        hint = {Strs: Str, Ints: Int, Bools: bool}[hint]
    if hint in (Str, Text) and "of length" in why:
        limit = MAX_TEXT if hint is Text else MAX_FIELD
        return InvalidFrame(f"field {name!r} is longer than {limit} characters")
    return InvalidFrame(f"field {name!r} {_MUST.get(hint, 'is not valid')}")


def _wire_type(tp: Any) -> Any:
    """``X`` of ``X | None``."""
    if typing.get_origin(tp) is Union and type(None) in typing.get_args(tp):
        (tp,) = (a for a in typing.get_args(tp) if a is not type(None))
    return tp


#: Each type's fields and their wire types.
_FIELD_TYPES: dict[type[Message], dict[str, Any]] = {
    cls: {f.name: _wire_type(f.type) for f in msgspec.structs.fields(cls)} for cls in _REGISTRY.values()
}
#: The number fields of the types that have any.
_NUMBERS: dict[type[Message], tuple[str, ...]] = {
    cls: names for cls, fields in _FIELD_TYPES.items() if (names := tuple(n for n, t in fields.items() if t is Number))
}
