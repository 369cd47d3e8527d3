"""The outbound path of one connection: a bounded byte queue, sent without waiting.

``Outbox.put`` tries the socket at once with a non-blocking send, in the
caller's thread (the hub's dispatcher, or the session's reader); whatever the
kernel does not take is queued, and one ``Flusher`` thread for the whole
server sends it when the socket becomes writable. So a peer that reads
slowly or never can delay nobody but itself, no thread ever blocks in a send,
and a connection needs no writer thread of its own. An outbox that gives up
on its peer drops what is queued and shuts the socket down, which wakes the
connection's reader thread to clean up.

Slow is not stuck. An outbox over the limit is *full*; a full outbox whose
peer has taken nothing for ``STUCK_AFTER`` seconds is dropped, but one whose
peer keeps reading is waited for: the hub makes the publishers to its room
wait (``wait_room``) before they read their next line, which pushes back on
the senders through TCP instead of buffering without end or dropping a peer
that reads. Every other peer's delivery goes on meanwhile.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable

from common.threads import stop_signals_blocked

log = logging.getLogger(__name__)

DEFAULT_MAX_BACKLOG = 1024 * 1024
#: A full outbox whose peer took no byte for this long is given up on (longer
#: than a TCP retransmission timeout on a LAN, so a lost packet is not "stuck").
STUCK_AFTER = 0.5
#: How often a publisher waiting for a full outbox checks on its peer.
CHECK_EVERY = 0.05
#: Memory bound whatever happens: a backlog this many times ``max_backlog``
#: is dropped even if the peer still reads (publishers stopped waiting for it),
#: but never below HARD_MIN, so that one batch from the hub (its queue holds up
#: to about 1 MiB) cannot trip it on a small ``--max-backlog``.
HARD_FACTOR = 4
HARD_MIN = 4 * 1024 * 1024
#: Most bytes one send takes from the queued chunks, and most chunks (well under
#: the kernel's ``IOV_MAX`` of 1024 buffers a gathering send may name).
SEND_PIECE = 256 * 1024
SEND_PARTS = 128
_NOWAIT = socket.MSG_DONTWAIT  # one send that never blocks, whatever the socket's mode
_WAKE_EVENTS = select.POLLIN
_SEND_EVENTS = select.POLLOUT
_DONE_EVENTS = select.POLLERR | select.POLLHUP | select.POLLNVAL


def _libc_send() -> Callable[[int, bytes, int, int], int] | None:
    """libc's ``send`` called with the GIL held (``ctypes.PyDLL``), where there is one."""
    try:
        libc = ctypes.PyDLL(None, use_errno=True)
        send = libc.send
    except (OSError, AttributeError, TypeError):  # pragma: no cover - (no C library to call: Python's send)
        return None
    send.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int)
    send.restype = ctypes.c_ssize_t
    return send  # type: ignore[no-any-return]


_SEND = _libc_send()
_SEND_FLAGS = _NOWAIT | getattr(socket, "MSG_NOSIGNAL", 0)


def send_now(sock: socket.socket, data: bytes | memoryview) -> int:
    """``sock.send(data, MSG_DONTWAIT)``, keeping the GIL for a byte string.

    A send that cannot block takes a few microseconds; Python's lets go of the GIL
    for it all the same, and taking it back can mean waiting behind every runnable
    thread: the dispatcher, sending a batch to each of a room's members in turn,
    waited so behind the room's readers once per member (with 200 members, most
    of a batch's time). Called through ``ctypes.PyDLL`` the GIL stays held."""
    if _SEND is None or data.__class__ is not bytes:
        return sock.send(data, _NOWAIT)
    sent = _SEND(sock.fileno(), data, len(data), _SEND_FLAGS)  # type: ignore[arg-type]
    if sent >= 0:
        return sent
    code = ctypes.get_errno()
    if code in (errno.EAGAIN, errno.EWOULDBLOCK):
        raise BlockingIOError(code, os.strerror(code))
    if code == errno.EINTR:  # pragma: no cover - (a signal: Python's send retries)
        return sock.send(data, _NOWAIT)
    raise OSError(code, os.strerror(code))


class Outbox:
    """Bytes for one peer: sent at once when the kernel takes them, else queued.

    ``put`` is on the fan-out hot path (once per recipient per batch of
    messages): one lock, one non-blocking ``send``, no thread hand-off.
    ``clock`` (seconds) times the peer's progress and ``wait_room``'s
    deadline; a test passes a fake one to decide when a peer is stuck.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
        name: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sock = sock
        self._clock = clock
        self.name = name
        self.max_backlog = max_backlog
        self._lock = threading.Lock()  # guards everything below, and orders sends
        self._chunks: collections.deque[bytes | memoryview] = collections.deque()
        self._queued = 0
        self._closing = False
        self._sealed = False  # ``seal``: batches (``put_batch``) are refused from now on
        self._drained = threading.Event()  # set while nothing is queued
        self._drained.set()
        self._room = threading.Event()  # set while not full
        self._room.set()
        self._progress = clock()  # when the kernel last took bytes
        #: Why the peer was given up on (backlog overflow or a send error), if it was.
        self.failure: str | None = None
        #: True when that was a full backlog: the peer stopped reading.
        self.overflowed = False

    def put(self, data: bytes) -> bool:
        """Send or queue ``data``; False if the outbox is closed or has failed."""
        with self._lock:
            return self._put_locked(data)

    def put_batch(self, data: bytes) -> bool:
        """``put`` for the fan-out's batches, which a session's member holds as its
        writer (one call per recipient per batch): refused once ``seal``ed, so that
        nothing the hub sends follows the session's last words."""
        with self._lock:
            return not self._sealed and self._put_locked(data)

    def seal(self) -> None:
        """From now on ``put_batch`` takes nothing (before a ``Bye`` or a closing
        handshake is written with ``put``: it stays the last thing sent)."""
        with self._lock:
            self._sealed = True

    def _put_locked(self, data: bytes) -> bool:
        if self._closing or self.failure:
            return False
        if not self._chunks:  # the usual case: straight to the kernel
            try:
                sent = send_now(self._sock, data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self._fail_locked(f"send failed: {exc.strerror or exc}")
                return False
            if sent == len(data):
                return True
            self._chunks.append(memoryview(data)[sent:] if sent else data)
            self._queued = len(data) - sent
            self._progress = self._clock()  # it took bytes until now
            self._drained.clear()
            if self._queued > self.max_backlog:
                self._room.clear()
            flusher().watch(self)
            return True
        # Behind a queue, append only (order), unless the limit is reached:
        # then see first whether the kernel takes some (the flusher may
        # simply not have run yet) before calling the outbox full.
        self._chunks.append(data)
        self._queued += len(data)
        if self._queued <= self.max_backlog or not self._send_locked():
            return True
        return self._queued <= self.max_backlog or self._full_locked()

    @property
    def full(self) -> bool:
        """Over ``max_backlog``: publishers should wait (``wait_room``)."""
        return not self._room.is_set()

    def wait_room(self, timeout: float) -> None:
        """Wait until the backlog is under the limit again, or the peer is
        dropped for taking nothing for ``STUCK_AFTER`` s, or ``timeout``."""
        clock = self._clock
        deadline = clock() + timeout
        while not self._room.wait(min(CHECK_EVERY, max(0.0, deadline - clock()))):
            with self._lock:
                # The flusher hears of room only once a third of the kernel's
                # buffer is free: try a send before judging the peer.
                self._send_locked()
                if self._queued <= self.max_backlog or not self._full_locked():
                    return
            if clock() >= deadline:
                return

    def _full_locked(self) -> bool:
        """Over the limit: drop a stuck peer (False), else mark full (True)."""
        if self.failure:
            return False
        stuck = self._clock() - self._progress > STUCK_AFTER
        if stuck or self._queued > max(HARD_FACTOR * self.max_backlog, HARD_MIN):
            self._fail_locked(f"outbound backlog over {self.max_backlog} bytes (peer not reading)", overflow=True)
            return False
        self._room.clear()
        return True

    def flush(self) -> bool:
        """Send what the kernel takes now (the flusher calls this); True while more waits."""
        with self._lock:
            return self._send_locked()

    def _send_locked(self) -> bool:
        """Send queued bytes until the kernel takes no more; True while some is left.

        Queued chunks go out in one gathering send of up to ``SEND_PIECE`` bytes
        (``sendmsg``: the kernel reads them where they lie), so a backlog is
        never joined into a copy of itself (a batch's chunks are often views of
        the one encoding every member of the room got: ``core/pieces.py``).
        """
        chunks = self._chunks
        while chunks and not self.failure:
            head = chunks[0]
            try:
                if len(chunks) > 1 and len(head) < SEND_PIECE:
                    parts, size = [], 0
                    for part in chunks:
                        parts.append(part)
                        size += len(part)
                        if size >= SEND_PIECE or len(parts) == SEND_PARTS:
                            break
                    sent = self._sock.sendmsg(parts, (), _NOWAIT)
                else:
                    sent = self._sock.send(head, _NOWAIT)
            except BlockingIOError:
                return True
            except OSError as exc:
                self._fail_locked(f"send failed: {exc.strerror or exc}")
                return False
            if not sent:  # pragma: no cover - a non-blocking send says EAGAIN instead
                return True
            self._progress = self._clock()
            self._queued -= sent
            while sent:  # the chunks it took, and the rest of the one it took part of
                head = chunks[0]
                if sent >= len(head):
                    sent -= len(head)
                    chunks.popleft()
                else:
                    chunks[0] = memoryview(head)[sent:]
                    sent = 0
            if self._queued <= self.max_backlog and not self._room.is_set():
                self._room.set()
        if not chunks:
            self._drained.set()
        return bool(chunks)

    def fileno(self) -> int:
        return self._sock.fileno()

    def _fail_locked(self, why: str, *, overflow: bool = False) -> None:
        if self.failure:
            return
        self.failure = why
        self.overflowed = overflow
        self._drop_queue_locked()
        self._kill_socket()

    def _drop_queue_locked(self) -> None:
        self._chunks.clear()
        self._queued = 0
        self._drained.set()
        if not self._room.is_set():
            self._room.set()

    def fail(self, why: str) -> None:
        with self._lock:
            self._fail_locked(why)

    @property
    def backlog(self) -> int:
        return self._queued

    def close(self, timeout: float = 1.0) -> None:
        """Stop taking data; wait up to ``timeout`` s for the queue to go out, else cut the peer off."""
        with self._lock:
            self._closing = True
        if not self._drained.wait(timeout):
            with self._lock:
                self._drop_queue_locked()
            self._kill_socket()

    def _kill_socket(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Flusher:
    """One thread that sends the queued bytes of every outbox whose peer lags.

    It polls only the sockets with something queued; other threads hand it
    an outbox through ``watch`` and a wake-up byte.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._new: list[Outbox] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._woken = False
        with stop_signals_blocked():  # SIGINT/SIGTERM go to the main thread
            self._thread = threading.Thread(target=self._run, name="flusher", daemon=True)
            self._thread.start()

    def watch(self, outbox: Outbox) -> None:
        with self._lock:
            self._new.append(outbox)
            wake, self._woken = not self._woken, True
        if wake:
            try:
                self._wake_w.send(b"x")
            except OSError:  # pragma: no cover - the pipe is full: it is awake anyway
                pass

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._wake_r, _WAKE_EVENTS)
        watched: dict[int, Outbox] = {}
        while True:
            try:
                events = poller.poll()
            except InterruptedError:  # pragma: no cover
                continue
            wake = self._wake_r.fileno()
            # New outboxes first; this round's events for their fds may be
            # about a closed socket whose number they reuse: skip those.
            fresh = self._take_new(poller, watched) if any(fd == wake for fd, _ in events) else set()
            for fd, mask in events:
                if fd == wake or fd in fresh:
                    continue
                outbox = watched.get(fd)
                more = False
                if outbox is not None and outbox.fileno() == fd:
                    try:
                        more = outbox.flush()
                    except Exception:  # pragma: no cover - never let one peer stop the rest
                        log.exception("flushing %s", outbox.name)
                    if mask & _DONE_EVENTS and more:
                        outbox.fail("connection lost")
                        more = False
                if not more:
                    watched.pop(fd, None)
                    poller.unregister(fd)

    def _take_new(self, poller: select.poll, watched: dict[int, Outbox]) -> set[int]:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            new, self._new = self._new, []
            self._woken = False
        fresh = set()
        for outbox in new:
            fd = outbox.fileno()
            if fd < 0:
                continue
            if fd in watched:
                poller.modify(fd, _SEND_EVENTS)
            else:
                poller.register(fd, _SEND_EVENTS)
            watched[fd] = outbox
            fresh.add(fd)
        return fresh


_flusher: Flusher | None = None
_flusher_lock = threading.Lock()


def flusher() -> Flusher:
    """The process's flusher, started on first use."""
    global _flusher
    if _flusher is None:
        with _flusher_lock:
            if _flusher is None:
                _flusher = Flusher()
    return _flusher
