"""Typed protocol errors.

Like h11, an error says which side broke the rules: a ``RemoteProtocolError``
means the peer sent something invalid (answer with an error frame or close),
a ``LocalProtocolError`` means our own code tried something the protocol does
not allow (a bug on this side).
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class. ``code`` is a short machine-readable reason sent on the wire."""

    code = "protocol_error"

    def __init__(self, message: str, *, code: str | None = None, fatal: bool = False) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        #: True when the stream can no longer be trusted and must be closed.
        self.fatal = fatal


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol."""


class LocalProtocolError(ProtocolError):
    """This side tried to break the protocol."""


class FrameTooLarge(RemoteProtocolError):
    """A line grew past the frame limit before its newline arrived."""

    code = "frame_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"frame exceeds the {limit}-byte limit", fatal=True)
        self.limit = limit


class InvalidFrame(RemoteProtocolError):
    """A complete line that is not valid UTF-8 JSON of a known message type."""

    code = "invalid_frame"
