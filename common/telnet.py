"""Telnet command stripping for plain clients: a linear-time, sans-IO scanner.

A telnet client mixes commands into its byte stream: ``IAC WILL/WONT/DO/DONT
option``, subnegotiations ``IAC SB ... IAC SE``, one-byte commands such as
``IAC NOP`` or ``IAC GA``, and ``IAC IAC`` for a literal 0xFF data byte.
``TelnetScanner.feed`` takes the raw stream in whatever pieces the socket
delivers (a command may be split across reads) and returns only the data
bytes, looking at every input byte a constant number of times. A
subnegotiation is skipped, never stored; one longer than
``max_subnegotiation`` bytes raises ``TelnetError`` (fatal): no telnet client
sends one that long, and a peer that opens one and never closes it would
otherwise have everything it says swallowed silently.

UTF-8 text never contains the byte 0xFF, so for a UTF-8 client (nc included)
only telnet commands are touched.
"""

from __future__ import annotations

from .errors import RemoteProtocolError

IAC = 0xFF
DONT = 0xFE
DO = 0xFD
WONT = 0xFC
WILL = 0xFB
SB = 0xFA
SE = 0xF0
_OPTION_VERBS = frozenset({WILL, WONT, DO, DONT})

#: Longest subnegotiation accepted (terminal type, window size and
#: environment options are a few dozen bytes).
MAX_SUBNEGOTIATION = 1024

# States: between commands, after IAC, after WILL/WONT/DO/DONT (the option
# byte is next), inside SB, and after IAC inside SB.
_DATA, _IAC, _OPTION, _SB, _SB_IAC = range(5)


class TelnetError(RemoteProtocolError):
    code = "telnet_error"


class TelnetScanner:
    """Remove telnet commands from a byte stream fed in arbitrary pieces."""

    def __init__(self, max_subnegotiation: int = MAX_SUBNEGOTIATION) -> None:
        self.max_subnegotiation = max_subnegotiation
        self._state = _DATA
        self._sb_length = 0  # bytes inside the current subnegotiation so far
        self._failed: TelnetError | None = None

    def feed(self, data: bytes) -> bytes:
        """The data bytes of ``data`` (in order), with every telnet command removed."""
        if self._failed:
            raise self._failed
        out = bytearray()
        pos, end = 0, len(data)
        while pos < end:
            state = self._state
            if state == _DATA:
                # Copy the run up to the next IAC in one step (the usual case: all of it).
                found = data.find(IAC, pos)
                if found < 0:
                    out += data[pos:]
                    break
                out += data[pos:found]
                self._state = _IAC
                pos = found + 1
            elif state == _SB:
                found = data.find(IAC, pos)
                stop = end if found < 0 else found
                self._skip_sb(stop - pos)
                if found < 0:
                    break
                self._state = _SB_IAC
                pos = found + 1
            else:
                self._command_byte(data[pos], out)
                pos += 1
        return bytes(out)

    def _command_byte(self, byte: int, out: bytearray) -> None:
        """One byte in the middle of a command (states _IAC, _OPTION, _SB_IAC)."""
        state = self._state
        if state == _IAC:
            if byte == IAC:  # IAC IAC: a literal 0xFF
                out.append(IAC)
                self._state = _DATA
            elif byte in _OPTION_VERBS:
                self._state = _OPTION
            elif byte == SB:
                self._sb_length = 0
                self._state = _SB
            else:  # a one-byte command (NOP, GA, AYT, ...) or nonsense: dropped
                self._state = _DATA
        elif state == _OPTION:  # the option byte of WILL/WONT/DO/DONT
            self._state = _DATA
        elif byte == SE:  # _SB_IAC: the subnegotiation ends
            self._state = _DATA
        else:  # IAC IAC (an escaped 0xFF) or a stray IAC x inside SB: still inside
            self._skip_sb(2)
            self._state = _SB

    def _skip_sb(self, count: int) -> None:
        self._sb_length += count
        if self._sb_length > self.max_subnegotiation:
            self._failed = TelnetError(f"telnet subnegotiation longer than {self.max_subnegotiation} bytes", fatal=True)
            raise self._failed
