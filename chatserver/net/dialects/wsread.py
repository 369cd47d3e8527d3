"""A browser's usual WebSocket frames read without a per-frame Python state machine: whole, final, masked text frames.

A page sends each native frame as one short text message in one frame. Read
by ``wsproto`` each costs a generator's turns, an event object and a masker:
the WebSocket reader's main cost in the web fan-out (py-spy). ``simple_texts``
takes the leading frames that are nothing else (first byte 0x81: final, no
reserved bits, text; masked; a length in 7 bits, or in 16 bits when that is the
shortest form; UTF-8 text) and says where it stopped; at the first frame that
is anything else (a control frame, a fragment, binary, a 64-bit length, a
frame without a mask, text that is not UTF-8) the dialect hands that frame and
everything after it to ``wsproto``, which judges it as it would have.
"""

from __future__ import annotations

#: First byte of a final, unfragmented text frame with no reserved bits (RFC 6455, 5.2).
_FINAL_TEXT = 0x81
_MASKED = 0x80


def unmask(data: bytes | bytearray, key: bytes | bytearray) -> bytes:
    """A client frame's payload, its 4-byte mask key taken off (RFC 6455, 5.3), in a few C calls."""
    n = len(data)
    keys = (bytes(key) * ((n >> 2) + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(keys, "little")).to_bytes(n, "little")


def simple_texts(buf: bytearray) -> tuple[list[bytes], int, bool]:
    """The texts (UTF-8, checked) of the simple frames whole at the start of ``buf``, how
    many bytes they took, and whether what follows is a frame of another kind (for
    ``wsproto``) rather than the start of a simple frame not whole yet (wait for more)."""
    texts: list[bytes] = []
    i, n = 0, len(buf)
    while i < n:
        if buf[i] != _FINAL_TEXT:
            return texts, i, True
        if n - i < 2:
            break
        second = buf[i + 1]
        if not second & _MASKED:
            return texts, i, True
        size, head = second & 0x7F, i + 2
        if size == 127:
            return texts, i, True
        if size == 126:
            if n - i < 4:
                break
            size, head = (buf[i + 2] << 8) | buf[i + 3], i + 4
            if size < 126:  # (not the shortest form: wsproto's to refuse)
                return texts, i, True
        end = head + 4 + size
        if end > n:
            break
        text = unmask(buf[head + 4 : end], buf[head : head + 4])
        try:
            text.decode("utf-8")
        except UnicodeDecodeError:
            return texts, i, True
        texts.append(text)
        i = end
    return texts, i, False
