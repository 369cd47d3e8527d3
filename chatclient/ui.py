"""The terminal UI: a prompt_toolkit prompt with messages printed above it.

The receiver thread writes finished lines to ``patch_stdout``'s proxy, which
is thread-safe and batches bursts into one redraw, so the half-typed input
line, cursor and history stay intact. Ending the prompt from the receiver
thread is marshalled onto the application's event loop. The prompt's parts
are given explicit callables: the toolbar and completion (``toolbar.Facts``),
the room keys (``keyboard.room_keys``), and the session gets ours in turn
(``show``, ``on_end``, ``on_status``, ``ask_password``, the windows' hooks).
"""

from __future__ import annotations

import asyncio
import signal
import sys

from prompt_toolkit import PromptSession
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import merge_key_bindings
from prompt_toolkit.patch_stdout import patch_stdout

from common import messages as m
from common.commands import HELP_LINES, AskPassword, CommandError, ShowHelp
from common.safetext import neutralise

from .askpass import PasswordDesk, PasswordWanted, ask_command
from .errors import ClientError
from .keyboard import confirm, history, interrupt_keys, room_keys, terminal_input
from .linemode import Interrupted, finish
from .local import HELP_LINES as LOCAL_HELP
from .local import Preferences, handle_local
from .notify import Notifier
from .render import Renderer
from .session import ChatSession
from .toolbar import Facts, completer, toolbar
from .windows import room_of

#: Each ends the UI as /quit does (the status: 128 + its number).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class _SessionEnded(Exception):
    """Raised into the prompt when the receiver thread sees the session end."""


def run_tty(
    session: ChatSession,
    renderer: Renderer,
    prefs: Preferences | None = None,
    paste_confirm: int = 5,
    notify: tuple[str, float] = ("off", 10.0),
    keyboard: Input | None = None,
) -> int:
    """The terminal UI; ``notify``: the notification mode and interval (``notify.py``); ``keyboard``:
    the terminal's input, already raw (``cli.py`` makes it so before "Connected" is said)."""
    # SIGINT is ours, as SIGTERM and SIGHUP are (leave as by /quit, status 130): with a handler of
    # ours set, asyncio.run installs none of its own, which cancels the UI's task at whatever
    # await it is, and the UI went on as if nothing was pressed (a Ctrl-C lost before the prompt).
    previous = signal.signal(signal.SIGINT, _interrupted)
    try:
        return asyncio.run(
            _run(session, renderer, prefs or Preferences(), paste_confirm, notify, keyboard or terminal_input())
        )
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupted(signum: int, _frame: object) -> None:
    """SIGINT before the event loop has its handler: leave (``cli.py`` catches it, says goodbye)."""
    raise Interrupted(128 + signum)


async def _run(
    session: ChatSession,
    renderer: Renderer,
    prefs: Preferences,
    paste_confirm: int,
    notify: tuple[str, float],
    keyboard: Input,
) -> int:
    renderer.me = lambda: session.nick
    # erase_when_done: the sent line is shown once, as "You: ...", not also as the old prompt.
    facts = Facts.of(session)
    prompt: PromptSession[str] = PromptSession(
        key_bindings=merge_key_bindings(
            [room_keys(session.focus.window, session.focus.step, session.focus.next_active), interrupt_keys()]
        ),
        input=keyboard,
        history=history(),
        erase_when_done=True,
        completer=completer(facts),
        complete_while_typing=False,
        bottom_toolbar=lambda: toolbar(facts),
    )
    loop = asyncio.get_running_loop()
    status = 0

    def end_prompt() -> None:  # runs on the event loop
        app = prompt.app
        if app.is_running and not app.future.done():
            app.exit(exception=_SessionEnded())

    def on_signal(code: int) -> None:  # SIGTERM, SIGHUP, SIGINT (from kill: Ctrl-C is a key): leave as if by /quit
        nonlocal status
        status = code
        end_prompt()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, 128 + sig)
    # Raw from start to end, not only while a prompt is up: between two prompts (a line
    # just sent, /window, waiting for the server's goodbye) the terminal would echo keys
    # typed meanwhile above what is printed next, and the prompt would then show them again.
    with keyboard.raw_mode(), patch_stdout(raw=True):
        out = sys.stdout

        def say(text: str) -> None:
            out.write(text + "\n")

        def emit(text: str) -> None:  # no line of its own (the proxy holds text until a newline or flush)
            out.write(text)
            out.flush()

        notifier = Notifier.for_terminal(notify[0], emit, notify[1])

        def typing() -> bool:  # something half-typed at the prompt
            return bool(prompt.app.current_buffer.text)

        def show(msg: m.Message) -> None:  # receiver thread
            if prefs.hides(msg):
                return
            mentioned = renderer.mentions_me(msg)
            ring = prefs.rings_for(msg, mentioned, session.nick)
            say(renderer.message(msg) + ("\a" if ring else ""))
            # Not for a room on screen while the user is typing (a private message has no room).
            notifier.message(msg, mentioned, session.nick, watched=isinstance(msg, m.ChatMessage) and typing())

        def hidden(msg: m.Message, mentioned: bool) -> None:  # receiver thread: kept in the hotlist
            if prefs.hides(msg):
                return
            if prefs.rings_for(msg, mentioned, session.nick):
                emit("\a")
            notifier.message(msg, mentioned, session.nick)

        session.show = show
        windows = session.windows
        windows.hide_unfocused = True
        windows.mentions = renderer.mentions_me
        windows.on_hidden = hidden
        windows.show_kept = lambda msg: None if prefs.hides(msg) else say(renderer.message(msg))
        session.on_end = lambda: loop.call_soon_threadsafe(end_prompt)
        session.on_status = prompt.app.invalidate  # thread-safe: redraws the toolbar
        session.files.redraw = prompt.app.invalidate  # the files' progress bars, in the toolbar
        desk = PasswordDesk(loop, prompt, in_clear=not facts.encrypted())
        session.ask_password = desk.ask

        def give_way() -> None:  # as each prompt starts: for a password, or for the end that came meanwhile
            desk.give_way()
            if session.ended.is_set():
                end_prompt()

        session.start()
        typed = ""  # a half-typed line the password prompt interrupted
        while not session.ended.is_set() and not status:
            try:
                line = await prompt.prompt_async(
                    lambda: f"{neutralise(session.nick)}> ", default=typed, pre_run=give_way
                )
            except PasswordWanted as wanted:
                typed = wanted.text
                await desk.answer()
                continue
            except _SessionEnded:
                break
            except EOFError:  # Ctrl-D
                break
            except KeyboardInterrupt:  # Ctrl-C on an empty line
                status = 130
                break
            typed = ""
            local = handle_local(line, prefs)
            if local is not None:
                say(renderer.info(local))
                continue
            lines = line.rstrip("\r\n").count("\n") + 1  # (the newline after a paste's last line is none)
            if lines > paste_confirm and not await confirm(prompt, f"Send {lines} pasted lines as one message?"):
                say(renderer.info(f"not sent ({lines} lines)"))
                continue
            try:
                parsed = session.submit(line)
            except ClientError as exc:
                session.lost = str(exc)
                break
            if isinstance(parsed, (m.Say, m.Action)):
                elsewhere = parsed.room if _elsewhere(parsed.room, session.room) else None
                say(renderer.own(parsed.text, action=isinstance(parsed, m.Action), nick=session.nick, room=elsewhere))
            elif isinstance(parsed, ShowHelp):
                say("\n".join(renderer.info(h) for h in (*HELP_LINES, "This terminal:", *LOCAL_HELP)))
            elif isinstance(parsed, CommandError):
                say(renderer.info(f"error: {parsed.message}"))
            elif isinstance(parsed, AskPassword):  # typed without its password: asked, nothing shown
                built = await ask_command(keyboard, parsed, in_clear=not facts.encrypted())
                if isinstance(built, str):
                    say(renderer.info(built))
                else:
                    session.send(built)
            if session.leaving:
                await loop.run_in_executor(None, session.ended.wait, 5.0)
                break
        desk.close()
        lost_first = session.ended.is_set() and not session.leaving and session.lost
        await loop.run_in_executor(None, session.leave)
        unsent = session.unsent()  # after leave: the server's bye confirms what arrived
    for sig in STOP_SIGNALS:
        loop.remove_signal_handler(sig)
    return finish(session.lost if lost_first else None, unsent, status)


def _elsewhere(room: str | None, focused: str) -> bool:
    """Is ``room`` (a ``/say #ROOM``'s) another than the one on screen?"""
    return bool(room) and room_of(room) != room_of(focused)
