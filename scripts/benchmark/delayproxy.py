"""A TCP proxy on loopback that holds every byte towards its target for a fixed delay (Redis "far away").

Each chunk a client sends is forwarded ``delay`` seconds after it arrived, in order; answers come back at
once; so every request/answer round trip through the proxy takes ``delay`` longer. Bounded: at most
``max_conns`` connections at a time (more are closed at once), threads only while a connection lives, and
``stop()`` closes everything. The sleeps are the delay itself, not a wait for something to happen.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
import time

from benchmark.protocol import HOST


class DelayProxy:
    def __init__(self, target_port: int, delay: float, max_conns: int = 64) -> None:
        self.target = (HOST, target_port)
        self.delay = delay
        self.max_conns = max_conns
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.socks: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True, name="delay-proxy").start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                full = len(self.socks) >= 2 * self.max_conns
            if full or self.stopped.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.socks |= {client, upstream}
                self.accepted += 1
            self._delayed(client, upstream)
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _delayed(self, src: socket.socket, dst: socket.socket) -> None:
        """``src`` to ``dst``, each chunk sent ``delay`` after it arrived: a reader queues, a sender waits."""
        queue: collections.deque[tuple[float, bytes]] = collections.deque()
        ready = threading.Condition()

        def read() -> None:
            with contextlib.suppress(OSError):
                while chunk := src.recv(65536):
                    with ready:
                        queue.append((time.monotonic() + self.delay, chunk))
                        ready.notify()
            with ready:
                queue.append((0.0, b""))  # the end
                ready.notify()

        def send() -> None:
            try:
                while True:
                    with ready:
                        while not queue:
                            ready.wait()
                        due, chunk = queue.popleft()
                    if not chunk:
                        break
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                self._close(src, dst)

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=send, daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        self._close(src, dst)

    def _close(self, *socks: socket.socket) -> None:
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
            with self.lock:
                self.socks.discard(s)

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()
        with self.lock:
            socks = list(self.socks)
        self._close(*socks)
