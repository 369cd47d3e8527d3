"""The plain dialect: text lines, as a person at nc or telnet types them (a browser's stray request turned away).

The first line is the nickname (then the password, if the server wants
one); every later line is parsed as the terminal client's input is
(``Participant.typed``). Telnet commands are stripped before framing. An HTTP
request (a browser sent here by some web page) is answered ``400`` and closed
with nothing said in its name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from chatserver.net.dialects.together import Together
from chatserver.rules.effects import SessionEnd
from chatserver.rules.modes import Mode
from common import messages as m
from common.errors import FrameTooLarge
from common.framing import LineFramer
from common.nicks import nick_key
from common.telnet import TelnetError, TelnetScanner

if TYPE_CHECKING:
    from chatserver.core.frames import Frame
    from chatserver.net.session import Session

#: A plain client's first line that is an HTTP request line, or a ``Host`` line before it has a name.
_HTTP_REQUEST = re.compile(r"[A-Z]+ \S+ HTTP/\d(\.\d)?")
_HTTP_HOST = re.compile(r"host:", re.IGNORECASE)


class PlainText:
    """Text lines; a line names its room while the person is in several."""

    plain = True
    pings = False  # a person at nc cannot answer pings: TCP keepalive covers them

    def wire(self, session: Session) -> str:
        return "plain_rooms" if len(session.participant.rooms) > 1 else "plain"

    def encode(self, session: Session, frame: Frame) -> bytes | None:
        return getattr(frame, self.wire(session))

    def write(self, session: Session, data: bytes) -> None:
        session.stream.write(data)

    def writer(self, session: Session) -> Callable[[bytes], object]:
        return session.straight()

    def run(self, session: Session, first: bytes | None) -> None:
        _run_plain(session, session.stream.read() if first is None else first)

    def goodbye(self, session: Session) -> None:
        pass


PLAIN = PlainText()


def _run_plain(session: Session, first: bytes) -> None:
    framer = LineFramer(session.server.config.max_frame)
    telnet = TelnetScanner()  # strips telnet commands before framing: they may span reads

    def receive(data: bytes) -> None:
        try:
            text = telnet.feed(data)
        except TelnetError as exc:
            session.participant.send(m.Error(exc.code, str(exc)))
            raise SessionEnd(str(exc)) from None
        if text or not data:  # b"" is the end of the stream; a read of only telnet commands is not
            framer.receive_data(text)

    receive(first)
    if session.participant.mode is not Mode.CHAT:  # nobody to talk to: no name needed
        session.participant.register(f"guest{session.server.next_seq()}")
    first_line = True
    pending_nick: str | None = None  # name given, password next
    pending_account = False  # ... and the password is an account's (``rules/accounts.py``)
    together = Together(session.participant)  # room messages read together: taken in one go

    while True:
        try:
            raw = framer.next_line()
        except FrameTooLarge as exc:
            together.flush()
            session.participant.send(m.Error(exc.code, f"line too long: {exc}"))
            raise SessionEnd(str(exc)) from None
        if raw is None:
            together.flush()  # (before waiting for more)
            if framer.at_eof:
                return
            receive(session.stream.read())
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            together.flush()
            session.participant.send(m.Error("invalid_utf8", "that line was not valid UTF-8 and was not sent"))
            continue
        if (first_line and _HTTP_REQUEST.fullmatch(line.strip())) or (
            not session.participant.registered and _HTTP_HOST.match(line)
        ):  # a browser, sent here by some web page (a cross-origin POST): it says nothing in our name
            _answer_http(session)
        first_line = False
        if session.participant.registered:
            asked = session.participant.asking is not None  # (a password: not a message)
            # (a line said, not a command: ``parse_input``'s ``Say(line)``, without its call)
            if not asked and line[:1] != "/" and len(line) <= m.MAX_TEXT and line.strip():
                together.add(m.Say(line))
                continue
            together.flush()
            session.participant.typed(line)  # parsed and done as a native client's ``line`` frame is
        elif pending_nick is not None:  # this line is the password
            nick, pending_nick = pending_nick, None
            given = {"account_password" if pending_account else "password": line.strip()}
            if not (line.strip() and session.participant.register(nick, **given)):
                session.participant.notice("Choose a nickname:")
        elif line.strip() and _needs_password(session, line.strip()):
            pending_nick, pending_account = line.strip(), False
            session.participant.notice("Password:")
        elif line.strip() and (asked := _account_prompt(session, line.strip())):
            pending_nick, pending_account = line.strip(), True
            session.participant.notice(asked)
        elif not (line.strip() and session.participant.register(line.strip())):
            session.participant.notice("Choose a nickname:")


def _answer_http(session: Session) -> None:
    """Answer an HTTP request with a short ``400`` that points to the chat page, and end."""
    server = session.server
    port = server.page_port
    if port is None:
        text = "this is a chat server's port, for chatclient or nc; it serves no web page"
    else:
        host = session.sock.getsockname()[0].removeprefix("::ffff:")
        host = f"[{host}]" if ":" in host else host
        scheme = "https" if server.config.tls_context is not None else "http"
        text = f"this is a chat server's port, for chatclient or nc; its chat page is at {scheme}://{host}:{port}/"
    body = f"{text}\n".encode()
    head = "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
    head += f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    session.deliver_bytes(head.encode() + body)
    raise SessionEnd("an HTTP request on the chat port (answered 400)")


def _account_prompt(session: Session, nick: str) -> str | None:
    """What to ask for a name that is an account's (or, with ``--accounts required``, any
    name: a new account); None: nothing, the name is a guest's to take."""
    accounts = session.server.accounts
    if accounts is None:
        return None
    clear = "; warning: no TLS, it crosses the network readable" if session.participant.in_clear() else ""
    if accounts.registered(nick) is not None:
        return f"{nick} is registered: its password (an empty line: another name){clear}:"
    if accounts.required:
        return f"accounts only here: a password for the new account {nick} (an empty line: another name){clear}:"
    return None


def _needs_password(session: Session, nick: str) -> bool:
    cfg = session.server.config
    return cfg.password is not None or (nick_key(nick) in cfg.ops and cfg.op_password is not None)
