"""The terminal UI's keyboard: raw input, the key bindings, and the input history kept across runs."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import Input, create_input
from prompt_toolkit.input.vt100 import Vt100Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

from common.paths import client_state_dir


class _StayRawInput(Vt100Input):
    """Terminal input that stays raw while text is printed above the prompt.

    ``patch_stdout`` prints through ``run_in_terminal``, which puts the tty in
    cooked mode meanwhile: a key typed in that moment is echoed by the kernel
    into the messages, and an erase is eaten by the kernel's line editing, so
    the input line no longer holds what was typed. Printing text needs no
    cooked mode (output processing, \\n -> \\r\\n, is on in raw mode too).
    """

    def cooked_mode(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


def terminal_input() -> Input:
    return create_input() if sys.platform == "win32" else _StayRawInput(sys.stdin)


#: Account commands: a line starting with one is never kept in the history (a password typed
#: after one, out of habit, stays out of the file); ``/login NAME`` alone holds none and is kept.
SECRET_COMMANDS = ("/register", "/login", "/passwd", "/unregister")


def keeps(line: str) -> bool:
    """May ``line`` go into the input history?"""
    words = line.split()
    if not words or words[0].lower() not in SECRET_COMMANDS:
        return True
    return words[0].lower() == "/login" and len(words) <= 2


class _SecretsLeftOut(History):
    """A history that keeps no line ``keeps`` refuses, neither in its file nor for Up in this run."""

    def append_string(self, string: str) -> None:
        if keeps(string):
            super().append_string(string)


class _FileHistory(_SecretsLeftOut, FileHistory):
    pass


class _MemoryHistory(_SecretsLeftOut, InMemoryHistory):
    pass


def history() -> History:
    """Input history kept across runs (Ctrl-R searches it); in memory if it cannot be stored.
    Lines with a password in them are kept in neither (``keeps``)."""
    try:
        client_state_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
        path = client_state_dir() / "history"
        os.close(os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600))  # private messages live here
        return _FileHistory(str(path))
    except OSError:
        return _MemoryHistory()


def interrupt_keys() -> KeyBindings:
    """Ctrl-C, as shells have it: a half-typed line is cleared (kept in the history:
    Up brings it back), not lost with the program; on an empty line it quits."""
    keys = KeyBindings()

    @keys.add("c-c")
    def _interrupt(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.text:
            buffer.append_to_history()
            buffer.reset()
        else:
            event.app.exit(exception=KeyboardInterrupt)

    return keys


def room_keys(
    window: Callable[[int], object], step: Callable[[int], object], next_active: Callable[[], object]
) -> KeyBindings:
    """Alt+1..9 (``window``: by position), Ctrl+N / Ctrl+P (``step``: next, previous),
    Alt+A (``next_active``: the next with activity): which of our rooms we look at."""
    keys = KeyBindings()
    for number in range(1, 10):
        keys.add("escape", str(number))(lambda event, number=number: window(number))
    keys.add("c-n")(lambda event: step(1))
    keys.add("c-p")(lambda event: step(-1))
    keys.add("escape", "a")(lambda event: next_active())
    return keys


async def confirm(prompt: PromptSession[str], question: str) -> bool:
    """Ask a yes/no question at the terminal (no: the default, Ctrl-C, Ctrl-D)."""
    try:
        answer = await PromptSession[str](input=prompt.input).prompt_async(f"{question} [y/N] ")
    except (EOFError, KeyboardInterrupt):
        return False
    return answer.strip().lower() in ("y", "yes")
