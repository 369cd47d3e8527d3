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
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

DEFAULT_MAX_BACKLOG = 1024 * 1024
#: How long a publisher waits for the writer to take a full backlog before
#: deciding the peer is not reading. Paid at most once per dropped peer.
DRAIN_GRACE = 0.1


class Outbox:
    """Bytes queued for one peer, sent by the peer's own writer thread.

    ``put`` is on the fan-out hot path (once per recipient per message), so it
    takes one plain lock and wakes the writer only when the writer sleeps,
    through a second lock used as a binary semaphore; no Condition objects.
    """

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
        self._lock = threading.Lock()  # guards everything below
        self._chunks: list[bytes] = []
        self._queued = 0
        self._closing = False
        self._sleeping = False  # the writer waits on _wake
        self._wake = threading.Lock()  # held while nobody woke the writer
        self._wake.acquire()
        #: Why the peer was given up on (backlog overflow or a send error), if it was.
        self.failure: str | None = None
        #: True when that was a full backlog: the peer stopped reading.
        self.overflowed = False
        self._thread = threading.Thread(target=self._run, name=f"writer-{name}", daemon=True)
        self._thread.start()

    def put(self, data: bytes) -> bool:
        """Queue ``data``; False if the outbox is closed or just overflowed."""
        with self._lock:
            if self._closing or self.failure:
                return False
            if not self._queued or self._queued + len(data) <= self.max_backlog:
                self._chunks.append(data)
                self._queued += len(data)
                wake, self._sleeping = self._sleeping, False
                if wake:
                    self._wake.release()
                return True
        # Over the limit. A burst can outrun a writer that merely has not been
        # scheduled yet (the GIL); a peer that is not reading leaves it blocked
        # in send. Give the writer a moment (rare: at most once per dropped peer).
        deadline = time.monotonic() + DRAIN_GRACE
        while time.monotonic() < deadline:
            time.sleep(0.002)
            with self._lock:
                if self._closing or self.failure:
                    return False
                if self._queued + len(data) <= self.max_backlog:
                    self._chunks.append(data)
                    self._queued += len(data)
                    return True
        self._fail(f"outbound backlog over {self.max_backlog} bytes (peer not reading)", overflow=True)
        return False

    def _fail(self, why: str, *, overflow: bool = False) -> None:
        with self._lock:
            if self.failure:
                return
            self.failure = why
            self.overflowed = overflow
            self._chunks.clear()
            self._queued = 0
            wake, self._sleeping = self._sleeping, False
            if wake:
                self._wake.release()
        self._kill_socket()

    @property
    def backlog(self) -> int:
        return self._queued

    def close(self, timeout: float = 1.0) -> None:
        """Send what is queued (for at most ``timeout`` seconds), then stop the writer."""
        with self._lock:
            self._closing = True
            wake, self._sleeping = self._sleeping, False
            if wake:
                self._wake.release()
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
            with self._lock:
                if self.failure or (not self._chunks and self._closing):
                    return
                if not self._chunks:
                    self._sleeping = True
                    data = None
                else:
                    # Everything queued goes out in one send (coalescing bursts).
                    data = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
                    self._chunks.clear()
                    self._queued = 0
            if data is None:
                self._wake.acquire()  # until put/close/_fail releases it
                continue
            try:
                self.send(data)
            except Exception as exc:  # OSError, or a TLS error: either way the peer is gone
                self._fail(f"send failed: {getattr(exc, 'strerror', None) or exc}")
                return
