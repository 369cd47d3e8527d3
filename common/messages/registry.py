"""The tagged union: which types go which way, every type by its wire name, and each one's fields."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Union

import msgspec

from .accounts import (
    ChangePassword,
    DropAccount,
    LoggedIn,
    LoggedOut,
    Login,
    Logout,
    ReadMarker,
    Register,
    Unregister,
)
from .base import Message, Number
from .both import Error, Ping, Pong
from .client import (
    Action,
    Away,
    Ban,
    Deop,
    Hello,
    History,
    Join,
    Kick,
    Line,
    ListBans,
    ListOps,
    ListRooms,
    Mute,
    Op,
    Part,
    PrivateSay,
    Quit,
    Say,
    Search,
    SetNick,
    SetTopic,
    Unban,
    Unmute,
    Who,
)
from .files import ListFiles, Upload, UploadToken
from .modes import Invite, RoomMode
from .privates import Conversations, ListConversations
from .server import (
    Accepted,
    Bye,
    ChatMessage,
    Focused,
    Joined,
    Notice,
    Parted,
    Private,
    Reply,
    RoomList,
    Token,
    Users,
    Welcome,
)

CLIENT_TYPES: frozenset[type[Message]] = frozenset(
    {Hello, Line, Say, Action, PrivateSay, SetNick, Who, Join, Part, ListRooms, SetTopic, Away, Kick, History, Search}
    | {Quit}
    | {Upload, ListFiles}
    | {Op, Deop, ListOps, Ban, Unban, ListBans, Mute, Unmute}
    | {Register, Login, ChangePassword, Unregister, Logout, DropAccount, ReadMarker}
    | {RoomMode, Invite, ListConversations}
    | {Error, Ping, Pong}
)
SERVER_TYPES: frozenset[type[Message]] = frozenset(
    {Welcome, ChatMessage, Private, Notice, Users, Joined, RoomList, Parted, Focused, Accepted, Token, Reply}
    | {Bye, Error, Ping, Pong}
    | {UploadToken}
    | {LoggedIn, LoggedOut, ReadMarker}
    | {Conversations}
)


class _DataclassFields:
    """``cls.__dataclass_fields__``, built on first use (by ``dataclasses.replace``, say):
    building them for all fifty types was a large share of every program's start-up, and
    the test suite starts a program for most tests. (Two threads at once both build it:
    equal fields, harmless.)"""

    def __init__(self, cls: type[Message]) -> None:
        self.cls = cls

    def __get__(self, obj: object, owner: type | None = None) -> dict[str, dataclasses.Field]:
        # The fields of a dataclass of the same fields and defaults.
        fields = dataclasses.make_dataclass(
            self.cls.__name__,
            [
                (f.name, f.type, dataclasses.field(default=f.default))
                if f.default is not msgspec.NODEFAULT
                else (f.name, f.type, dataclasses.field(default_factory=f.default_factory))
                if f.default_factory is not msgspec.NODEFAULT
                else (f.name, f.type)
                for f in msgspec.structs.fields(self.cls)
            ],
        ).__dataclass_fields__
        self.cls.__dataclass_fields__ = fields  # type: ignore[attr-defined]  # (in place of this)
        return fields


REGISTRY: dict[str, type[Message]] = {}
for _cls in sorted(CLIENT_TYPES | SERVER_TYPES, key=lambda cls: cls.__name__):
    _cls.TYPE = _cls.__struct_config__.tag  # type: ignore[assignment,misc]
    REGISTRY[_cls.TYPE] = _cls
    # ``dataclasses.fields`` and ``dataclasses.replace`` take a message as they did when
    # messages were dataclasses (prefer ``msgspec.structs``).
    _cls.__dataclass_fields__ = _DataclassFields(_cls)  # type: ignore[attr-defined]

AnyMessage = Union[tuple(REGISTRY.values())]  # type: ignore[valid-type]  # noqa: UP007 - of a tuple


def _wire_type(tp: Any) -> Any:
    """``X`` of ``X | None``."""
    if typing.get_origin(tp) is Union and type(None) in typing.get_args(tp):
        (tp,) = (a for a in typing.get_args(tp) if a is not type(None))
    return tp


#: Each type's fields and their wire types.
FIELD_TYPES: dict[type[Message], dict[str, Any]] = {
    cls: {f.name: _wire_type(f.type) for f in msgspec.structs.fields(cls)} for cls in REGISTRY.values()
}
#: The number fields of the types that have any.
NUMBERS: dict[type[Message], tuple[str, ...]] = {
    cls: names for cls, fields in FIELD_TYPES.items() if (names := tuple(n for n, t in fields.items() if t is Number))
}
