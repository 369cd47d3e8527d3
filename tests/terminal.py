"""Drive a program in a real pseudo-terminal and read its screen (pexpect + pyte)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pexpect
import pyte


class _Screen(pyte.Screen):
    """A pyte screen that answers the terminal queries prompt_toolkit sends (CPR)."""

    def __init__(self, cols: int, rows: int, reply: Callable[[str], None]) -> None:
        super().__init__(cols, rows)
        self._reply = reply

    def write_process_input(self, data: str) -> None:
        self._reply(data)


class Terminal:
    def __init__(self, argv: list[str], env: dict[str, str], rows: int = 24, cols: int = 100) -> None:
        self.child = pexpect.spawn(argv[0], argv[1:], env=env, dimensions=(rows, cols), encoding=None)
        self.screen = _Screen(cols, rows, lambda data: self.child.send(data.encode()))
        self.stream = pyte.ByteStream(self.screen)
        self.raw = b""
        self._unfed: list[bytes] = []

    def pump(self, timeout: float = 0.05) -> None:
        self.collect(timeout)
        if self._unfed:
            self.stream.feed(b"".join(self._unfed))
            self._unfed.clear()

    def collect(self, timeout: float = 0.0) -> None:
        """Read what the program wrote, without updating the screen yet (cheap:
        keeps a fast writer from blocking while a test does something else)."""
        try:
            while True:
                data = self.child.read_nonblocking(65536, timeout=timeout)
                self.raw += data
                self._unfed.append(data)
                timeout = 0
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            pass

    @property
    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pred: Callable[[Terminal], bool], timeout: float = 10.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            if pred(self):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"screen never showed {what or pred}:\n{self.text}")

    def wait_text(self, needle: str, timeout: float = 10.0) -> None:
        self.wait_for(lambda t: needle in t.text, timeout, repr(needle))

    def cursor_line(self) -> str:
        return self.lines[self.screen.cursor.y]

    def send(self, text: str) -> None:
        self.child.send(text.encode())

    def wait_exit(self, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while self.child.isalive():
            self.pump()
            if time.monotonic() > deadline:
                raise AssertionError(f"program did not exit:\n{self.text}")
        self.pump()
        self.child.close()
        return self.child.exitstatus if self.child.exitstatus is not None else -self.child.signalstatus
