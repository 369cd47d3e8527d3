"""File sharing frames: a shared file as a message carries it, an upload asked for, its token, a room's files."""

from __future__ import annotations

import msgspec

from .base import Int, Message, Str


class FileRef(msgspec.Struct, omit_defaults=True, gc=False):
    """A shared file as a message carries it: the server's id (at least 128 random bits), its
    name (made safe by the server: no path, no control or bidi character), size in bytes,
    SHA-256 (hex) and media type. Its address on the page's port is ``/f/ID/NAME``."""

    id: Str
    name: Str
    size: Int
    sha256: Str
    type: Str = "application/octet-stream"


class Upload(Message, tag="upload"):
    """``/send``: may I upload ``size`` bytes named ``name`` to ``room`` (one we are in; the
    focused room when neither is given) or to the person ``to``? Answered with
    ``UploadToken`` or an ``Error``."""

    name: Str
    size: Int
    room: Str | None = None
    to: Str | None = None


class UploadToken(Message, tag="upload_token"):
    """Yes: ``PUT`` the file's bytes to ``path`` on the page's port (``web_port``, on the
    address this connection came to) within ``expires`` seconds, ``size`` bytes exactly."""

    token: Str
    path: Str
    web_port: Int
    name: Str
    size: Int
    expires: Int
    room: Str | None = None
    to: Str | None = None


class ListFiles(Message, tag="files"):
    """``/files [#room]``: the room's recent shared files, sent again as their messages
    (``ChatMessage`` with ``replay`` "files"), then a notice (event "files") saying how many."""

    room: Str | None = None
