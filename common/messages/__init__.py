"""Message types of the native protocol: one msgspec Struct per ``type``, a tagged union.

Every frame is a JSON object whose ``type`` names its Struct. ``decode`` reads a
frame into its Struct, msgspec checking every field's type and cap (in C) as it
reads, and raises ``InvalidFrame`` (never any other exception) for anything
else; ``encode`` produces the frame bytes, newline included, so a broadcast is
encoded exactly once, by one msgspec call.

Whatever a receiver refuses the server keeps out of its frames where it builds
them (``common/limits.py``: ``fit``, ``first``); a message's constructor checks
nothing, so building and decoding one costs no Python per field.

The package, one module per concern: ``base`` (the base Struct, the field types
and their caps), ``client``, ``server`` and ``both`` (the types by direction),
``files`` (file sharing), ``accounts`` (accounts and logins), ``modes`` (``/mode``,
``/invite``), ``privates`` (the list of private conversations), ``registry`` (the tagged
union, each type by its wire name), ``codec``
(frames to and from bytes) and ``refusals`` (what a refused frame is told).
``from common import messages as m`` gives every name of them.
"""

from __future__ import annotations

from .accounts import (
    ACCOUNT_CODES,
    MAX_PASSWORD,
    MIN_PASSWORD,
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
from .base import (
    INT_MAX,
    INT_MIN,
    MAX_FIELD,
    MAX_TEXT,
    PROTOCOL_VERSION,
    Bools,
    Int,
    Ints,
    Message,
    Number,
    Str,
    Strs,
    Text,
)
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
from .codec import decode, encode, from_dict, to_dict
from .files import FileRef, ListFiles, Upload, UploadToken
from .modes import Invite, RoomMode
from .privates import Conversations, ListConversations
from .registry import CLIENT_TYPES, REGISTRY, SERVER_TYPES, AnyMessage
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

_REGISTRY = REGISTRY  # (the name the tests have used)

__all__ = [
    "ACCOUNT_CODES",
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "ChangePassword",
    "DropAccount",
    "LoggedIn",
    "LoggedOut",
    "Login",
    "Logout",
    "Register",
    "Unregister",
    "Accepted",
    "Action",
    "AnyMessage",
    "Away",
    "Ban",
    "Bools",
    "Bye",
    "Conversations",
    "Invite",
    "ListConversations",
    "RoomMode",
    "CLIENT_TYPES",
    "ChatMessage",
    "Deop",
    "Error",
    "FileRef",
    "Focused",
    "Hello",
    "History",
    "INT_MAX",
    "INT_MIN",
    "Int",
    "Ints",
    "Join",
    "Joined",
    "Kick",
    "Line",
    "ListBans",
    "ListFiles",
    "ListOps",
    "ListRooms",
    "MAX_FIELD",
    "MAX_TEXT",
    "Message",
    "Mute",
    "Notice",
    "Number",
    "Op",
    "PROTOCOL_VERSION",
    "Part",
    "Parted",
    "Ping",
    "Pong",
    "Private",
    "PrivateSay",
    "Quit",
    "ReadMarker",
    "Reply",
    "RoomList",
    "SERVER_TYPES",
    "Say",
    "Search",
    "SetNick",
    "SetTopic",
    "Str",
    "Strs",
    "Text",
    "Token",
    "Unban",
    "Unmute",
    "Upload",
    "UploadToken",
    "Users",
    "Welcome",
    "Who",
    "decode",
    "encode",
    "from_dict",
    "to_dict",
    "_REGISTRY",
]
