"""The one thread that writes to a connection's socket: callers queue bytes and never wait.

A blocking ``sendall`` under a lock that the receiver also needs (to answer a
ping) freezes the client when the server stops reading for a while: the
receiver stops reading in turn, and the server drops it as a stuck peer. Here
the writes happen in their own thread, in the order they were queued; the
receiver and the UI only append to a queue. A failed write is reported once
through ``on_failure`` (which breaks the link, so the receiver notices).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

from common.threads import stop_signals_blocked

#: Bytes handed to one write at most (queued frames are joined up to this).
BATCH = 64 * 1024


class WriterClosed(Exception):
    """The writer no longer takes data: it was closed, or a write failed (``reason``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Writer:
    def __init__(
        self, write: Callable[[bytes], None], on_failure: Callable[[BaseException], None], name: str = "writer"
    ) -> None:
        self._write = write
        self._on_failure = on_failure
        self._chunks: collections.deque[bytes] = collections.deque()
        self._queued = 0  # bytes put and not yet written
        self._cond = threading.Condition()
        self._stopped: str | None = None  # why it takes no more data
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        with stop_signals_blocked():  # signals are for the main thread
            self._thread.start()

    def put(self, data: bytes) -> None:
        """Queue ``data`` after everything queued before; never waits."""
        with self._cond:
            if self._stopped is not None:
                raise WriterClosed(self._stopped)
            self._chunks.append(data)
            self._queued += len(data)
            self._cond.notify_all()

    def wait_below(self, limit: int, timeout: float | None = None) -> bool:
        """Wait until at most ``limit`` bytes are queued (or nothing more will be written)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._queued <= limit or self._stopped is not None, timeout)

    def close(self) -> None:
        """Write nothing more (what is still queued is dropped)."""
        with self._cond:
            if self._stopped is None:
                self._stopped = "connection closed"
            self._chunks.clear()
            self._queued = 0
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._chunks or self._stopped is not None)
                if self._stopped is not None:
                    return
                batch = [self._chunks.popleft()]
                size = len(batch[0])
                while self._chunks and size + len(self._chunks[0]) <= BATCH:
                    size += len(self._chunks[0])
                    batch.append(self._chunks.popleft())
            try:
                self._write(b"".join(batch))
            except Exception as exc:  # OSError, TlsError: the link is broken
                with self._cond:
                    closed = self._stopped is not None  # (then the failure is our own close)
                    self._stopped = self._stopped or "write failed"
                    self._chunks.clear()
                    self._queued = 0
                    self._cond.notify_all()
                if not closed:
                    self._on_failure(exc)
                return
            with self._cond:
                self._queued -= size
                self._cond.notify_all()
