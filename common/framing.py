"""Newline-delimited framing with a size limit enforced while reading.

``LineFramer`` is sans-IO: feed it bytes with ``receive_data`` and pull complete
lines with ``next_line``. It never holds more than ``max_frame`` bytes of an
unfinished line, so a peer that never sends a newline cannot make us buffer
without bound.
"""

from __future__ import annotations

from .errors import FrameTooLarge

DEFAULT_MAX_FRAME = 64 * 1024


class LineFramer:
    """Split a byte stream into ``\\n``-terminated lines (``\\r\\n`` accepted)."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if max_frame < 1:
            raise ValueError("max_frame must be positive")
        self.max_frame = max_frame
        self._buf = bytearray()
        self._scan_from = 0
        self._eof = False
        self._failed = False

    def receive_data(self, data: bytes) -> None:
        """Add bytes from the peer; ``b""`` means end of stream."""
        if not data:
            self._eof = True
            return
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def next_line(self) -> bytes | None:
        """Return the next complete line without its terminator, or ``None``.

        At end of stream a final unterminated line is returned as a line of its
        own. Raises ``FrameTooLarge`` (fatal) once an unfinished line passes the
        limit; the buffered part is discarded at that point.
        """
        if self._failed:
            raise FrameTooLarge(self.max_frame)
        idx = self._buf.find(b"\n", self._scan_from)
        if idx < 0:
            if len(self._buf) > self.max_frame:
                self._fail()
            self._scan_from = len(self._buf)
            if self._eof and self._buf:
                line = bytes(self._buf)
                self._buf.clear()
                self._scan_from = 0
                return line.rstrip(b"\r")
            return None
        if idx > self.max_frame:
            self._fail()
        line = bytes(self._buf[:idx])
        del self._buf[: idx + 1]
        self._scan_from = 0
        if line.endswith(b"\r"):
            line = line[:-1]
        return line

    @property
    def at_eof(self) -> bool:
        """True once end of stream was seen and every line has been taken."""
        return self._eof and not self._buf

    def _fail(self) -> None:
        self._failed = True
        self._buf.clear()
        self._scan_from = 0
        raise FrameTooLarge(self.max_frame)


def encode_line(payload: bytes) -> bytes:
    """Terminate one frame; the payload must not contain a newline."""
    return payload + b"\n"
