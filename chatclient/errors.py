"""Why the client cannot go on: each failure reported to the user in one line, by kind."""

from __future__ import annotations


class ClientError(Exception):
    """A failure to report to the user in one line (exit status 1)."""


class CertificateMismatch(ClientError):
    """A remembered server presented a different certificate: never connect."""


class NotTrusted(ClientError):
    """The user did not trust the server's certificate: not connecting (nor to another node)."""


class WrongPassword(ClientError):
    """The password was refused (trying it again changes nothing)."""


class Banned(ClientError):
    """An operator banned this name or address; the message says until when (never retry)."""


class PasswordRequired(ClientError):
    """The server wants a password (send ``hello`` again with one)."""


class Unavailable(ClientError):
    """The server cannot take anyone now (its cluster link is down): another node, or later, may."""


class NickRejected(ClientError):
    """The server refused our nickname; ``suggestion`` may name a free one."""

    def __init__(self, message: str, suggestion: str | None) -> None:
        super().__init__(message)
        self.suggestion = suggestion


class NameRegistered(NickRejected):
    """Our name (or one like it) is an account's: log in to it (its password), or take another."""


class LoginRefused(ClientError):
    """The server refused a login at hello (a remembered token it no longer knows, a wrong
    account password): the token is forgotten; a guest's hello may follow."""


class Throttled(ClientError):
    """A login held by the server's throttle (too many wrong ones from here): try again in ``wait`` seconds."""

    def __init__(self, message: str, wait: float) -> None:
        super().__init__(message)
        self.wait = wait


class AccountRequired(ClientError):
    """The server takes only people logged in to an account."""
