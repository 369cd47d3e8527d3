"""The frames sent both ways: an error, and the ping and its answer."""

from __future__ import annotations

from .base import Message, Number, Str, Text, sent


class Error(Message, tag="error"):
    """Something the receiver sent was refused; ``code`` is machine-readable."""

    code: Str
    message: Text
    suggestion: Str | None = None
    #: The room the refusal is about, when there is one.
    room: Str | None = None
    #: What else in the command it is about (a room mode's letter, when that mode is refused).
    target: Str | None = None
    #: Seconds to wait before trying again (``throttled``: a login held by the server's throttle).
    wait: Number | None = None


class Ping(Message, tag="ping"):
    token: Str = sent("")


class Pong(Message, tag="pong"):
    token: Str = sent("")
