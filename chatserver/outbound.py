"""The outbound path of one connection: a bounded byte queue and its writer.

Publishers only append bytes (no socket call, no encoding), so a peer that
reads slowly or never can delay nobody but itself. The writer thread takes
everything queued at once and sends it in one ``sendall`` (coalescing bursts).
When the backlog passes ``max_backlog`` the outbox gives up on the peer: it
stops accepting data and shuts the socket down, which wakes the connection's
reader thread to clean up.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

DEFAULT_MAX_BACKLOG = 1024 * 1024
#: How long a publisher waits for the writer to take a full backlog before
#: deciding the peer is not reading. Paid at most once per dropped peer.
DRAIN_GRACE = 0.1


class Outbox:
    def __init__(
        self,
        sock: socket.socket,
        *,
        send: Callable[[bytes], None] | None = None,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
        name: str = "",
    ) -> None:
        self._sock = sock  # shut down to unblock a stuck send
        self.send = send or sock.sendall  # the socket, or TLS over it
        self.max_backlog = max_backlog
        self._cond = threading.Condition(threading.Lock())
        self._chunks: list[bytes] = []
        self._queued = 0
        self._closing = False
        #: Why the peer was given up on (backlog overflow or a send error), if it was.
        self.failure: str | None = None
        #: True when that was a full backlog: the peer stopped reading.
        self.overflowed = False
        self._thread = threading.Thread(target=self._run, name=f"writer-{name}", daemon=True)
        self._thread.start()

    def put(self, data: bytes) -> bool:
        """Queue ``data``; False if the outbox is closed or just overflowed."""
        overflow = False
        with self._cond:
            if self._closing or self.failure:
                return False
            if self._queued and self._queued + len(data) > self.max_backlog:
                # A burst can outrun a writer that merely has not been scheduled
                # yet (the GIL); a peer that is not reading leaves it blocked.
                self._cond.wait_for(lambda: self._fits(len(data)), timeout=DRAIN_GRACE)
                if self._closing or self.failure:
                    return False
            if self._queued and self._queued + len(data) > self.max_backlog:
                self.failure = f"outbound backlog over {self.max_backlog} bytes (peer not reading)"
                self.overflowed = True
                self._chunks.clear()
                self._queued = 0
                self._cond.notify()
                overflow = True
            else:
                self._chunks.append(data)
                self._queued += len(data)
                if len(self._chunks) == 1:
                    self._cond.notify()
                return True
        if overflow:
            self._kill_socket()
        return False

    def _fits(self, size: int) -> bool:
        return self._queued + size <= self.max_backlog or self._closing or self.failure is not None

    @property
    def backlog(self) -> int:
        return self._queued

    def close(self, timeout: float = 1.0) -> None:
        """Send what is queued (for at most ``timeout`` seconds), then stop the writer."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            # The peer is not reading: break the blocked send.
            self._kill_socket()
            self._thread.join(timeout)

    def _kill_socket(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._chunks and not self._closing and not self.failure:
                    self._cond.wait()
                if self.failure or (not self._chunks and self._closing):
                    return
                data = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
                self._chunks.clear()
                self._queued = 0
                self._cond.notify_all()  # publishers waiting for room
            try:
                self.send(data)
            except OSError as exc:
                with self._cond:
                    if not self.failure:
                        self.failure = f"send failed: {exc.strerror or exc}"
                self._kill_socket()
                return
