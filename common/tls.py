"""TLS for both sides without giving the socket to OpenSSL.

A plain ``ssl.SSLSocket`` must not be read by one thread while another
writes to it (OpenSSL's per-connection state is not thread-safe; see
CPython gh-76714), yet both our server and our client read in one thread and
write in another. ``TlsStream`` drives an ``ssl.SSLObject`` over memory BIOs
(sans-IO TLS) under one lock, and is given the raw ``recv``/``sendall`` to use,
so it never decides anything about the network itself.
"""

from __future__ import annotations

import hashlib
import ssl
import threading
from collections.abc import Callable

from .errors import RemoteProtocolError

TLS_RECORD_HANDSHAKE = 0x16  # first byte of every TLS ClientHello


class TlsError(RemoteProtocolError):
    code = "tls_error"


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate as ``AB:CD:...``, the form ``openssl x509 -fingerprint`` prints."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


class TlsStream:
    """A TLS connection over injected raw I/O; ``recv``/``sendall`` carry plaintext.

    One thread may ``recv`` while others ``sendall``: every use of the TLS
    state happens under ``_wire``; records are written under ``_order``,
    taken before ``_wire`` is let go, so they go out in the order they were
    made, while a write the peer is slow to take holds up no reader.
    """

    def __init__(
        self,
        context: ssl.SSLContext,
        recv_raw: Callable[[int], bytes],
        send_raw: Callable[[bytes], None],
        *,
        server_side: bool,
        server_hostname: str | None = None,
    ) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._in, self._out, server_side=server_side, server_hostname=server_hostname)
        self._recv_raw = recv_raw
        self._send_raw = send_raw
        self._wire = threading.Lock()
        self._order = threading.Lock()  # taken (after _wire) by whoever writes records next
        self._handshaken = False
        self._eof = False
        self._early = b""  # plaintext that arrived with the end of the handshake

    @property
    def handshaken(self) -> bool:
        return self._handshaken

    def handshake(self) -> None:
        """Complete the handshake now (a client does, to check the certificate first)."""
        with self._wire:
            self._step_handshake()
        while not self._handshaken:
            self._early += self._pump(self._recv_raw(65536))
            if self._eof and not self._handshaken:
                raise TlsError("the connection closed during the TLS handshake")

    def pending(self) -> int:
        """Plaintext bytes already received and not yet returned by ``recv``."""
        return len(self._early)

    def peer_certificate(self) -> bytes | None:
        """The peer's certificate (DER), after the handshake."""
        return self._obj.getpeercert(binary_form=True)

    def version(self) -> str | None:
        return self._obj.version()

    def recv(self, size: int = 65536) -> bytes:
        """Plaintext from the peer; ``b""`` at end of stream."""
        if self._early:
            data, self._early = self._early, b""
            return data
        while True:
            if self._eof:
                return b""
            data = self._pump(self._recv_raw(size))
            if data:
                return data

    def sendall(self, data: bytes) -> None:
        with self._wire:
            if not self._handshaken:
                self._step_handshake()
            try:
                self._obj.write(data)
            except ssl.SSLError as exc:
                raise TlsError(f"TLS error: {exc.reason or exc}") from None
            records = self._out.read()
            self._order.acquire()
        self._write_records(records)

    def _write_records(self, records: bytes) -> None:
        """Write records made under ``_wire``; the caller took ``_order`` there."""
        try:
            self._send_raw(records)
        finally:
            self._order.release()

    def _pump(self, raw: bytes) -> bytes:
        """Feed raw bytes; return the plaintext they complete (maybe none)."""
        with self._wire:
            if raw:
                self._in.write(raw)
            else:
                self._in.write_eof()
            if not self._handshaken:
                self._step_handshake()
            chunks = []
            while self._handshaken and not self._eof:
                try:
                    chunk = self._obj.read(65536)
                except ssl.SSLWantReadError:
                    break
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    self._eof = True
                    break
                except ssl.SSLError as exc:
                    raise TlsError(f"TLS error: {exc.reason or exc}") from None
                if not chunk:
                    self._eof = True
                    break
                chunks.append(chunk)
            if not raw:
                self._eof = True
            pending = self._out.read()  # handshake, session tickets, key updates, alerts
            if pending:
                self._order.acquire()
        if pending:
            self._write_records(pending)
        return b"".join(chunks)

    def _step_handshake(self) -> None:
        try:
            self._obj.do_handshake()
            self._handshaken = True
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLCertVerificationError as exc:
            raise TlsError(f"certificate verify failed: {exc.verify_message}", code="tls_verify") from None
        except ssl.SSLError as exc:
            out = self._out.read()
            if out:  # the alert that tells the peer why
                try:
                    with self._order:
                        self._send_raw(out)
                except OSError:
                    pass
            raise TlsError(f"TLS handshake failed: {exc.reason or exc}") from None
        out = self._out.read()
        if out:
            with self._order:
                self._send_raw(out)
