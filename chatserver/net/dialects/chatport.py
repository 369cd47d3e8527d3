"""The chat port's way in: TLS sniffed when the server has it, then native or plain by the first bytes said.

A connection to the chat port starts in ``CHAT_PORT``, which only chooses:
a TLS handshake (``Stream.open_tls``; a client speaking the wrong one is
told at once), then the native dialect when the first byte is ``{`` (the
JSON ``hello`` frame), plain text (nc, telnet) otherwise; a peer silent for
a moment is a person at nc, asked for a name. Then the session speaks what
was chosen and its reader loop runs. Until then only errors go out, in the
native form.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from chatserver.core.frames import Frame
from chatserver.net.stream import Sniffed
from chatserver.rules.effects import SessionEnd
from chatserver.rules.modes import Mode
from common import messages as m
from common.tls import TLS_RECORD_HANDSHAKE

from .native import NATIVE, encode_native
from .plain import PLAIN

if TYPE_CHECKING:
    from chatserver.net.session import Dialect, Session

log = logging.getLogger(__name__)

#: The chat port's dialect, by whether the first thing said is a JSON frame.
_BY_FIRST: dict[bool, Dialect] = {True: NATIVE, False: PLAIN}


class ChatPort:
    """The dialect of a chat port connection until it is known (see the module docstring)."""

    plain = False
    pings = False  # (not yet: a person at nc, maybe)

    def wire(self, session: Session) -> str:
        return "native"

    def encode(self, session: Session, frame: Frame) -> bytes | None:
        return encode_native(session, frame)

    def write(self, session: Session, data: bytes) -> None:
        session.stream.write(data)

    def writer(self, session: Session) -> Callable[[bytes], object]:
        return session.straight()

    def run(self, session: Session, first: bytes | None) -> None:
        dialect, first = _sniff(session)
        session.speak(dialect)
        dialect.run(session, first)

    def goodbye(self, session: Session) -> None:
        pass


CHAT_PORT = ChatPort()


def _sniff(session: Session) -> tuple[Dialect, bytes]:
    """The chat port's stack: TLS when the server has it (a client speaking the wrong
    one is told at once), then the dialect, by the first bytes said."""
    cfg = session.server.config
    stream = session.stream
    if cfg.tls_context is not None and not session.participant.is_host:  # (the host's socket never leaves this machine)
        sniffed = stream.open_tls(cfg.tls_context, cfg.plain_prompt_delay)
        if sniffed is Sniffed.TLS:
            log.info("%s: %s established", session.peer, stream.tls.version())  # type: ignore[union-attr]
        elif sniffed is not Sniffed.CLOSED:  # (closed before a word: the reader sees EOF)
            _tls_required(session)
    first = _first_data(session)
    if first[:1] == bytes([TLS_RECORD_HANDSHAKE]) and cfg.tls_context is None:
        raise SessionEnd("a TLS client on a plain port (connect without --tls)")
    return _BY_FIRST[first.lstrip()[:1] == b"{"], first


def _tls_required(session: Session) -> None:
    """A plaintext peer on the TLS port: told in the dialect it spoke (silent: a person at nc)."""
    text = "this server requires TLS: use chatclient --tls, or openssl s_client -connect HOST:PORT"
    native = session.stream.first_byte == ord("{")
    session.stream.write(m.encode(m.Error("tls_required", text)) if native else f"* error: {text}\r\n".encode())
    raise SessionEnd("a plain client on the TLS port")


def _first_data(session: Session) -> bytes:
    """First bytes from the peer; greet it in plain text if none come soon.

    A native client sends ``hello`` at once. A silent peer is probably a
    person at nc/telnet, who needs to be asked for a name.
    """
    cfg = session.server.config
    if not session.stream.data_within(cfg.plain_prompt_delay):
        # plain text: a native client skips lines before its welcome
        mode = session.participant.mode
        if mode is Mode.CHAT:
            text = f"Welcome to {cfg.name}. Choose a nickname:"
        else:
            text = f"Welcome to {cfg.name} ({mode.description})."
        session.stream.write(Frame(m.Notice(text=text, ts=time.time())).plain)
    return session.stream.read()
