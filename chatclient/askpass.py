"""Passwords asked at the terminal with nothing echoed, not even their length: a reconnect's (asked
for by the receiver thread, in the prompt's place on the UI thread) and an account command's."""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue

from prompt_toolkit import PromptSession
from prompt_toolkit.input import Input
from prompt_toolkit.layout.processors import Processor, Transformation, TransformationInput

from common import messages as m
from common.commands import AskPassword

from .accounts import twice


class _Unseen(Processor):
    """Shows nothing of what is typed (as ssh and sudo do): no characters, no asterisks."""

    def apply_transformation(self, ti: TransformationInput) -> Transformation:
        return Transformation([], source_to_display=lambda i: 0, display_to_source=lambda i: 0)


async def ask_command(keyboard: Input, asked: AskPassword, in_clear: bool) -> m.Message | str:
    """The passwords an account command typed without them needs, asked one by one (a new one
    twice): the command's message, or why it is not sent."""
    clear = " (no --tls: it travels unencrypted)" if in_clear else ""
    answers = []
    for number, prompt in enumerate(asked.prompts):
        typed = await ask_secret(keyboard, f"{prompt[:1].upper()}{prompt[1:]}{clear if number == 0 else ''}: ")
        if typed is None:
            return f"/{asked.command} not sent: no password typed"
        if twice(asked, number):  # (both asked before either refusal: the second entry would
            # otherwise land on the chat line, typed by a person expecting the second prompt)
            if await ask_secret(keyboard, "The same again, to be sure: ") != typed:
                return f"/{asked.command} not sent: the two passwords differ"
            if len(typed) < m.MIN_PASSWORD:
                return f"/{asked.command} not sent: a password has at least {m.MIN_PASSWORD} characters"
        answers.append(typed)
    return asked.build(*answers)


async def ask_secret(keyboard: Input, question: str) -> str | None:
    """A password typed at the terminal, nothing of it shown and none of it kept in any history;
    None: given up (Ctrl-C, Ctrl-D) or nothing typed."""
    try:
        typed = await PromptSession[str](input=keyboard, input_processors=[_Unseen()]).prompt_async(question)
    except (EOFError, KeyboardInterrupt):
        return None
    return typed or None


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
        answer.set_result(await ask_secret(self._prompt.input, question))

    def close(self) -> None:
        self._closed = True
        while not self._asks.empty():
            self._asks.get_nowait()[1].set_result(None)
