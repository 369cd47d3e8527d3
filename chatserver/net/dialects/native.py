"""The native dialect: JSON lines (``common/connection.py``'s protocol machine), as the terminal client speaks.

The reader loop takes a ``read`` callable, so the same loop runs over the
chat port's stream and inside WebSocket messages (``websocket.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from chatserver.net.dialects.together import Together
from chatserver.rules.effects import SessionEnd
from chatserver.rules.membership import MAX_MEMBERSHIPS
from common import messages as m
from common.connection import CLOSED, NEED_DATA, State
from common.errors import LocalProtocolError, RemoteProtocolError

if TYPE_CHECKING:
    from chatserver.core.frames import Frame
    from chatserver.net.session import Session

log = logging.getLogger(__name__)


class NativeLines:
    """JSON lines on the stream itself."""

    pings = True
    plain = False

    def wire(self, session: Session) -> str:
        return "native"

    def encode(self, session: Session, frame: Frame) -> bytes | None:
        return encode_native(session, frame)

    def write(self, session: Session, data: bytes) -> None:
        session.stream.write(data)

    def writer(self, session: Session) -> Callable[[bytes], object]:
        return session.straight()

    def run(self, session: Session, first: bytes | None) -> None:
        read = session.stream.read
        run_native(session, read() if first is None else first, read)

    def goodbye(self, session: Session) -> None:
        pass


NATIVE = NativeLines()


def encode_native(session: Session, frame: Frame) -> bytes | None:
    """``frame`` through the session's protocol machine (which checks it may be sent now)."""
    conn = session.conn
    if conn.state is State.CLOSED:
        return None
    try:
        return conn.send(frame.msg)
    except LocalProtocolError as exc:  # a bug here, not the peer's fault: say so, go on
        log.error("%s: not sent: %s", session.peer, exc)
        return None


def run_native(session: Session, first: bytes, read: Callable[[], bytes]) -> None:
    """Frames from the peer until it closes; room messages read together are taken in one go."""
    conn = session.conn
    conn.receive_data(first)
    together = Together(session.participant)  # room messages read together: taken in one go

    while True:
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            together.flush()
            log.debug("%s sent a bad frame: %s", session.peer, exc)
            session.participant.send(m.Error(exc.code, str(exc)))
            if exc.fatal:
                raise SessionEnd(str(exc)) from None
            continue
        if event is NEED_DATA:
            together.flush()  # (before waiting for more)
            conn.receive_data(read())
            continue
        if event is CLOSED:
            together.flush()
            return
        assert isinstance(event, m.Message)
        if isinstance(event, (m.Say, m.Action)) and session.participant.registered:
            together.add(event)
            continue
        together.flush()
        if isinstance(event, m.Hello):
            _hello(session, event)
        else:
            session.participant.handle(event)


def _hello(session: Session, hello: m.Hello) -> None:
    if hello.version != m.PROTOCOL_VERSION:
        session.participant.send(
            m.Error(
                "unsupported_version",
                f"this server speaks protocol version {m.PROTOCOL_VERSION}, not {hello.version}",
            )
        )
        session.participant.send(m.Bye("unsupported protocol version"))
        raise SessionEnd("unsupported protocol version")
    session.participant.register(
        hello.nick,
        resume=hello.resume,
        last_seq=hello.last_seq,
        password=hello.password,
        room=hello.room,
        epoch=hello.epoch,
        others=_other_rooms(hello),
        login_token=hello.login_token,
        account_password=hello.account_password,
    )


def _other_rooms(hello: m.Hello) -> list[tuple[str, str | None, int | None]]:
    """The other rooms a reconnecting client was in: (room, epoch, last seq or None)."""
    rooms = hello.rooms or []
    epochs, seqs = hello.epochs or [], hello.last_seqs or []
    return [
        (
            room,
            epochs[i] if i < len(epochs) else None,
            seqs[i] if i < len(seqs) and seqs[i] >= 0 else None,
        )
        for i, room in enumerate(rooms[:MAX_MEMBERSHIPS])
    ]
