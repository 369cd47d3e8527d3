"""The terminal UI: a prompt_toolkit prompt with messages printed above it.

The receiver thread writes finished lines to ``patch_stdout``'s proxy, which
is thread-safe and batches bursts into one redraw, so the half-typed input
line, cursor and history stay intact. Ending the prompt from the receiver
thread is marshalled onto the application's event loop.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from prompt_toolkit import PromptSession
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.patch_stdout import patch_stdout

from common import messages as m
from common.commands import HELP_LINES, CommandError, ShowHelp
from common.safetext import neutralise

from .connection import ClientError
from .linemode import finish
from .render import Renderer
from .session import FrontEndSession


class _SessionEnded(Exception):
    """Raised into the prompt when the receiver thread sees the session end."""


def run_tty(session: FrontEndSession, renderer: Renderer) -> int:
    return asyncio.run(_run(session, renderer))


async def _run(session: FrontEndSession, renderer: Renderer) -> int:
    # erase_when_done: the sent line is shown once, as "You: ...", not also as the old prompt.
    prompt: PromptSession[str] = PromptSession(
        history=InMemoryHistory(),
        erase_when_done=True,
        bottom_toolbar=lambda: f" {neutralise(session.status)} ",
    )
    loop = asyncio.get_running_loop()
    status = 0

    def end_prompt() -> None:  # runs on the event loop
        app = prompt.app
        if app.is_running and not app.future.done():
            app.exit(exception=_SessionEnded())

    def on_signal(code: int) -> None:  # SIGTERM, SIGHUP: leave as if by /quit
        nonlocal status
        status = code
        end_prompt()

    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, on_signal, 128 + sig)
    with patch_stdout(raw=True):
        out = sys.stdout

        def say(text: str) -> None:
            out.write(text + "\n")

        session.show = lambda msg: say(renderer.message(msg))
        session.on_end = lambda: loop.call_soon_threadsafe(end_prompt)
        session.on_status = prompt.app.invalidate  # thread-safe: redraws the toolbar
        session.start()
        while not session.ended.is_set() and not status:
            try:
                line = await prompt.prompt_async(lambda: f"{neutralise(session.nick)}> ")
            except _SessionEnded:
                break
            except EOFError:  # Ctrl-D
                break
            except KeyboardInterrupt:  # Ctrl-C
                status = 130
                break
            try:
                parsed = session.submit(line)
            except ClientError as exc:
                session.lost = str(exc)
                break
            if isinstance(parsed, (m.Say, m.Action)):
                say(renderer.own(parsed.text, action=isinstance(parsed, m.Action), nick=session.nick))
            elif isinstance(parsed, m.PrivateSay):
                say(renderer.info(f"to {parsed.to}: {parsed.text}"))
            elif isinstance(parsed, ShowHelp):
                say("\n".join(renderer.info(h) for h in HELP_LINES))
            elif isinstance(parsed, CommandError):
                say(renderer.info(f"error: {parsed.message}"))
            if session.leaving:
                await loop.run_in_executor(None, session.ended.wait, 5.0)
                break
        lost_first = session.ended.is_set() and not session.leaving and session.lost
        await loop.run_in_executor(None, session.leave)
        unsent = session.unsent()  # after leave: the server's bye confirms what arrived
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.remove_signal_handler(sig)
    return finish(session.lost if lost_first else None, unsent, status)
