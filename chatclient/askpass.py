"""A password a reconnect asks for (receiver thread), asked at the terminal in the prompt's place (UI thread)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue

from prompt_toolkit import PromptSession


class PasswordWanted(Exception):
    """Raised into the prompt: a reconnect needs a password; ``text`` is the half-typed line, kept."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class PasswordDesk:
    """Passwords a reconnect asks for (receiver thread), asked at the terminal in the prompt's
    place (UI thread): the prompt gives way, the password prompt shows no echo, the prompt comes back."""

    def __init__(self, loop: asyncio.AbstractEventLoop, prompt: PromptSession[str], in_clear: bool) -> None:
        self._loop, self._prompt, self._in_clear = loop, prompt, in_clear
        self._asks: queue.SimpleQueue[tuple[str, concurrent.futures.Future[str | None]]] = queue.SimpleQueue()
        self._closed = False

    def ask(self, why: str) -> str | None:
        """Receiver thread: wait for the user's answer (None: given up, or the UI is over)."""
        answer: concurrent.futures.Future[str | None] = concurrent.futures.Future()
        if self._closed:
            return None
        self._asks.put((why, answer))
        self._loop.call_soon_threadsafe(self.give_way)
        return answer.result()

    def give_way(self) -> None:
        """On the event loop (and as each prompt starts): a password is wanted, the prompt ends keeping its text."""
        app = self._prompt.app
        if not self._asks.empty() and app.is_running and app.future is not None and not app.future.done():
            app.exit(exception=PasswordWanted(app.current_buffer.text))

    async def answer(self) -> None:
        why, answer = self._asks.get_nowait()
        clear = " (no --tls: it travels unencrypted)" if self._in_clear else ""
        question = f"{why}{clear}; Ctrl-C gives up\nPassword: "
        try:
            typed = await PromptSession[str](input=self._prompt.input, is_password=True).prompt_async(question)
        except (EOFError, KeyboardInterrupt):
            typed = ""
        answer.set_result(typed or None)

    def close(self) -> None:
        self._closed = True
        while not self._asks.empty():
            self._asks.get_nowait()[1].set_result(None)
