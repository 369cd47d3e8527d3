"""The IRC port: opened beside the chat port, each connection a ``Session`` speaking the IRC dialect.

Its connections pass the same admission as every port (``--max-clients``,
``--max-per-ip``); with ``--tls`` it speaks TLS only (6697 by default, 6667
without). The server's ``start`` does not open it: the program does
(``app/cli.py``), as it does the page's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatserver.net.listener import Listener
from chatserver.net.session import Session
from chatserver.net.stream import Stream

from . import names
from .dialect import IrcDialect
from .lines import build, encode
from .people import People

if TYPE_CHECKING:
    from chatserver.net.server import ChatServer

DEFAULT_IRC_PORT = 6667
DEFAULT_IRC_TLS_PORT = 6697


def network_name(name: str) -> str:
    """The server's name as an ISUPPORT ``NETWORK`` token (no spaces, nothing IRC reads)."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)[:32] or "lanchat"


def refusal(code: str, text: str) -> bytes:
    """Why a connection is refused before it is served (over the limit), in IRC."""
    return encode([build("ERROR", f"Closing link: {text}")])


class IrcPort:
    """The IRC port of one ``ChatServer``; ``start`` binds, the chat server's shutdown closes it."""

    def __init__(self, chat: ChatServer, host: str, port: int) -> None:
        self.chat = chat
        self.host = host
        self.port = port
        self._listener: Listener | None = None
        self.network = names.SERVER = network_name(chat.config.name)
        #: What its users said of themselves (USER), and who was here (WHOWAS).
        self.people = People()

    @property
    def scheme(self) -> str:
        return "ircs" if self.chat.config.tls_context is not None else "irc"

    def start(self) -> tuple[str, int]:
        self._listener = self.chat.open_port(self.host, self.port, self.serve, refusal, "irc-accept")
        return self._listener.address

    @property
    def address(self) -> tuple[str, int]:
        assert self._listener is not None
        return self._listener.address

    def serve(self, stream: Stream) -> None:
        """Run one admitted IRC connection to its end (in its own thread)."""
        cfg = self.chat.config
        dialect = IrcDialect(self.network, cfg.history, self.people)
        self.chat.run_session(Session(self.chat, stream.sock, stream.addr, stream=stream, dialect=dialect))
