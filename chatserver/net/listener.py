"""A listening socket: it hands each new connection on from its accept thread, and waits
rather than spins when the process is out of descriptors.

Built on ``socketserver.TCPServer`` (its ``serve_forever`` loop), with
dual-stack IPv6; what to do with a connection is the caller's
(``Admission.accept``), which must not block.
"""

from __future__ import annotations

import errno
import itertools
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable

from common.threads import stop_signals_blocked

log = logging.getLogger(__name__)

#: Out of descriptors, ``accept`` is tried again after this long, doubling up to ``ACCEPT_BACKOFF_MAX``.
ACCEPT_BACKOFF_FIRST = 0.05
ACCEPT_BACKOFF_MAX = 1.0
#: Out of descriptors is logged at most once in this many seconds (a flood would repeat it).
NO_FDS_LOG_EVERY = 60.0


class Listener(socketserver.TCPServer):
    """One listening socket; ``on_accept(sock, addr)`` runs in the accept thread for each connection
    and must not block (``Admission.accept`` admits it into a thread of its own, or refuses it)."""

    allow_reuse_address = True
    request_queue_size = socket.SOMAXCONN  # not 5: a burst of connects must not be refused

    def __init__(
        self,
        on_accept: Callable[[socket.socket, tuple], None],
        family: int,
        address: tuple,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.address_family = family
        self.on_accept = on_accept
        self.clock = clock
        self._stop = threading.Event()  # cuts a back-off short on shutdown
        self._backoff = 0.0  # seconds: the wait before the next accept, while out of descriptors
        self._no_fds_logged: float | None = None  # when it was last logged
        super().__init__(address, socketserver.BaseRequestHandler)

    @classmethod
    def bind(cls, host: str, port: int, on_accept: Callable[[socket.socket, tuple], None]) -> Listener:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, sockaddr = infos[0]
        return cls(on_accept, family, sockaddr[:2] if family == socket.AF_INET else sockaddr)

    def start(self, name: str) -> None:
        """Accept in a background thread."""
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True)
        # Every connection thread descends from this one: with SIGINT/SIGTERM
        # blocked there, the kernel delivers them to the main thread, whose
        # wait they must interrupt.
        with stop_signals_blocked():
            thread.start()

    def shutdown(self) -> None:
        self._stop.set()
        super().shutdown()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server_address[:2]
        return host, port

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            # "::" serves IPv4 too, where the OS allows dual-stack sockets.
            try:
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            except OSError:  # pragma: no cover - OS without dual-stack
                pass
        super().server_bind()

    def get_request(self) -> tuple[socket.socket, tuple]:
        """``accept``; out of descriptors, wait a little before the next try (the listening
        socket stays readable, so trying again at once would spin) and say so, once."""
        try:
            accepted = super().get_request()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                self._out_of_descriptors(exc)
            raise  # (socketserver skips this round)
        self._backoff = 0.0
        return accepted

    def _out_of_descriptors(self, exc: OSError) -> None:
        now = self.clock()
        if self._no_fds_logged is None or now - self._no_fds_logged >= NO_FDS_LOG_EVERY:
            self._no_fds_logged = now
            log.error(
                "out of file descriptors (%s): new connections to port %d wait until some close "
                "(raise the open-file limit, ulimit -n, or lower --max-clients)",
                exc.strerror or exc,
                self.address[1],
            )
        self._backoff = min(ACCEPT_BACKOFF_MAX, max(ACCEPT_BACKOFF_FIRST, self._backoff * 2))
        self._stop.wait(self._backoff)

    def process_request(self, request: socket.socket, client_address: tuple) -> None:  # type: ignore[override]
        self.on_accept(request, client_address)

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        log.exception("unexpected error accepting %s", client_address)


class _Thread(threading.Thread):
    """A daemon thread running ``target(*args)`` called as a plain call: ``Thread.run``'s
    ``target(*args, **kwargs)`` enters the interpreter once more in C, and every C stack
    page a connection's thread once touches stays in its memory while it idles."""

    def __init__(self, target: Callable[..., None], args: tuple) -> None:
        super().__init__(name=f"{target.__name__}-{next(_numbers)}", daemon=True)
        self._call = target, args

    def run(self) -> None:
        target, args = self._call
        del self._call
        if len(args) == 2:
            target(args[0], args[1])  # (the connections' case: no unpacking call)
        else:
            target(*args)


_numbers = itertools.count(1)


def spawn(target: Callable[..., None], *args: object) -> bool:
    """Run ``target(*args)`` in a daemon thread; False if no thread can be had (out of memory)."""
    try:
        _Thread(target, args).start()
    except RuntimeError as exc:  # "can't start new thread"
        log.error("cannot start a thread: %s", exc)
        return False
    return True


def refuse_now(sock: socket.socket, words: bytes) -> None:
    """One try to send ``words`` without waiting, then close."""
    try:
        sock.setblocking(False)
        if words:
            sock.send(words)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    sock.close()
