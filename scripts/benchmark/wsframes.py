"""The WebSocket dialect of the load generator: the upgrade request, a client's frames, the server's frames read.

A client frame must be masked; the mask key here is four zero bytes (allowed: the key is any 32 bits), so a
frame is its payload with a header in front, as cheap to build as a native line. A server frame is not
masked (RFC 6455 5.1). One native JSON frame per WebSocket message, without its newline.
"""

from __future__ import annotations

#: The key the server hashes into its accept token (any 16 bytes, base64).
KEY = b"YmVuY2hiZW5jaGJlbmNoIQ=="


def upgrade_request(host: str, port: int) -> bytes:
    """The HTTP request that opens ``/ws``, with the Origin of the server's own page (it refuses others)."""
    where = f"{host}:{port}".encode()
    return (
        b"GET /ws HTTP/1.1\r\nHost: " + where + b"\r\nOrigin: http://" + where + b"\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: " + KEY + b"\r\n\r\n"
    )


def frame(line: bytes) -> bytes:
    """One native line (its newline dropped) as one masked text frame, mask key zero."""
    if line.endswith(b"\n"):
        line = line[:-1]
    n = len(line)
    if n < 126:
        return b"\x81" + bytes((0x80 | n,)) + b"\0\0\0\0" + line
    if n < 65536:
        return b"\x81\xfe" + n.to_bytes(2, "big") + b"\0\0\0\0" + line
    return b"\x81\xff" + n.to_bytes(8, "big") + b"\0\0\0\0" + line


def lines(buf: bytes) -> tuple[bytes, bytes]:
    """The data frames whole in ``buf`` as newline-ended lines (control frames skipped), and the rest
    (a frame not whole yet)."""
    out = []
    i, n = 0, len(buf)
    while n - i >= 2:
        size, head = buf[i + 1] & 0x7F, 2
        if size == 126:
            if n - i < 4:
                break
            size, head = int.from_bytes(buf[i + 2 : i + 4], "big"), 4
        elif size == 127:
            if n - i < 10:
                break
            size, head = int.from_bytes(buf[i + 2 : i + 10], "big"), 10
        if buf[i + 1] & 0x80:  # masked (a server must not): skip the key
            head += 4
        if n - i < head + size:
            break
        if buf[i] & 0x0F < 8:  # text, binary, continuation; not close, ping, pong
            out.append(buf[i + head : i + head + size])
            out.append(b"\n")
        i += head + size
    return b"".join(out), buf[i:]
