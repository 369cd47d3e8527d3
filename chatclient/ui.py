"""The terminal UI: a prompt_toolkit prompt with messages printed above it.

The receiver thread writes finished lines to ``patch_stdout``'s proxy, which
is thread-safe and batches bursts into one redraw, so the half-typed input
line, cursor and history stay intact. Ending the prompt from the receiver
thread is marshalled onto the application's event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import queue
import signal
import sys
import typing

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import Input, create_input
from prompt_toolkit.input.vt100 import Vt100Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent, merge_key_bindings
from prompt_toolkit.patch_stdout import patch_stdout

from common import messages as m
from common.commands import HELP_LINES, CommandError, ShowHelp
from common.paths import client_state_dir
from common.safetext import neutralise

from .completion import ChatCompleter
from .connection import ClientError
from .linemode import finish
from .local import HELP_LINES as LOCAL_HELP
from .local import Preferences, handle_local
from .notify import Notifier
from .render import Renderer
from .session import FrontEndSession
from .windows import room_of

if typing.TYPE_CHECKING:
    from .session import ChatSession


class _SessionEnded(Exception):
    """Raised into the prompt when the receiver thread sees the session end."""


class _PasswordWanted(Exception):
    """Raised into the prompt: a reconnect needs a password; ``text`` is the half-typed line, kept."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class _PasswordDesk:
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
            app.exit(exception=_PasswordWanted(app.current_buffer.text))

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


class _StayRawInput(Vt100Input):
    """Terminal input that stays raw while text is printed above the prompt.

    ``patch_stdout`` prints through ``run_in_terminal``, which puts the tty in
    cooked mode meanwhile: a key typed in that moment is echoed by the kernel
    into the messages, and an erase is eaten by the kernel's line editing, so
    the input line no longer holds what was typed. Printing text needs no
    cooked mode (output processing, \n -> \r\n, is on in raw mode too).
    """

    def cooked_mode(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


def _terminal_input() -> Input:
    return create_input() if sys.platform == "win32" else _StayRawInput(sys.stdin)


def _history() -> History:
    """Input history kept across runs (Ctrl-R searches it); in memory if it cannot be stored."""
    try:
        client_state_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
        path = client_state_dir() / "history"
        os.close(os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600))  # private messages live here
        return FileHistory(str(path))
    except OSError:
        return InMemoryHistory()


def toolbar(session: FrontEndSession) -> str:
    """Server, room and head count, connection state (and the server's cluster link's), a lock when encrypted."""
    # Who is here is known only while connected: no stale head count while reconnecting.
    users = getattr(session, "users", None) if getattr(session, "connected", True) else None
    room = getattr(session, "room", "")
    parts = [
        getattr(getattr(session, "welcome", None), "server", "") or "",
        f"{room} ({len(users)})" if users else room,
    ]
    parts.append(session.status)
    if getattr(session, "cluster_down", False):  # between the server's link_down and link_up notices
        parts.append("⚠ cluster link down: your lines wait, commands fail")
    conn = getattr(session, "conn", None)
    if conn is not None and getattr(conn, "tls", None) is not None:
        parts.append("🔒 TLS")
    hotlist = getattr(session, "hotlist_text", None)
    if hotlist is not None:
        parts.append(hotlist())  # rooms with unseen messages: #dev(3) #ops(1!)
    return " " + " │ ".join(neutralise(p) for p in parts if p) + " "


def run_tty(
    session: FrontEndSession,
    renderer: Renderer,
    prefs: Preferences | None = None,
    paste_confirm: int = 5,
    notify: tuple[str, float] = ("off", 10.0),
) -> int:
    """The terminal UI; ``notify``: the notification mode and interval (``notify.py``)."""
    return asyncio.run(_run(session, renderer, prefs or Preferences(), paste_confirm, notify))


def completer_for(session: object) -> ChatCompleter:
    """Tab completion from the session's live state (a host's session has only some of it)."""
    return ChatCompleter(
        nicks=lambda: getattr(session, "users", []),
        rooms=lambda: getattr(session, "rooms", set()),
        correspondents=lambda: getattr(session, "correspondents", set()),
    )


async def _run(
    session: FrontEndSession, renderer: Renderer, prefs: Preferences, paste_confirm: int, notify: tuple[str, float]
) -> int:
    renderer.me = lambda: session.nick
    # erase_when_done: the sent line is shown once, as "You: ...", not also as the old prompt.
    keyboard = _terminal_input()
    prompt: PromptSession[str] = PromptSession(
        key_bindings=merge_key_bindings([_room_keys(session), _interrupt_keys()]),
        input=keyboard,
        history=_history(),
        erase_when_done=True,
        completer=completer_for(session),
        complete_while_typing=False,
        bottom_toolbar=lambda: toolbar(session),
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
        windows = getattr(session, "windows", None)
        if windows is not None:  # (the server's host has one room)
            windows.hide_unfocused = True
            windows.mentions = renderer.mentions_me
            windows.on_hidden = hidden
            windows.show_kept = lambda msg: None if prefs.hides(msg) else say(renderer.message(msg))
        session.on_end = lambda: loop.call_soon_threadsafe(end_prompt)
        session.on_status = prompt.app.invalidate  # thread-safe: redraws the toolbar
        desk = _PasswordDesk(loop, prompt, in_clear=getattr(getattr(session, "conn", None), "tls", True) is None)
        if hasattr(session, "ask_password"):  # (the server's host needs none)
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
            except _PasswordWanted as wanted:
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
            if lines > paste_confirm and not await _confirm(prompt, f"Send {lines} pasted lines as one message?"):
                say(renderer.info(f"not sent ({lines} lines)"))
                continue
            try:
                parsed = session.submit(line)
            except ClientError as exc:
                session.lost = str(exc)
                break
            if isinstance(parsed, (m.Say, m.Action)):
                elsewhere = parsed.room if _elsewhere(parsed.room, getattr(session, "room", "")) else None
                say(renderer.own(parsed.text, action=isinstance(parsed, m.Action), nick=session.nick, room=elsewhere))
            elif isinstance(parsed, ShowHelp):
                say("\n".join(renderer.info(h) for h in (*HELP_LINES, "This terminal:", *LOCAL_HELP)))
            elif isinstance(parsed, CommandError):
                say(renderer.info(f"error: {parsed.message}"))
            if session.leaving:
                await loop.run_in_executor(None, session.ended.wait, 5.0)
                break
        desk.close()
        lost_first = session.ended.is_set() and not session.leaving and session.lost
        await loop.run_in_executor(None, session.leave)
        unsent = session.unsent()  # after leave: the server's bye confirms what arrived
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.remove_signal_handler(sig)
    return finish(session.lost if lost_first else None, unsent, status)


def _elsewhere(room: str | None, focused: str) -> bool:
    """Is ``room`` (a ``/say #ROOM``'s) another than the one on screen?"""
    return bool(room) and room_of(room) != room_of(focused)


def _interrupt_keys() -> KeyBindings:
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


def _room_keys(session: FrontEndSession) -> KeyBindings:
    """Alt+1..9 (by position), Ctrl+N / Ctrl+P (next, previous), Alt+A (the next
    with activity): which of our rooms we look at."""
    keys = KeyBindings()
    if not hasattr(session, "switch_to"):
        return keys
    chat = typing.cast("ChatSession", session)
    for number in range(1, 10):
        keys.add("escape", str(number))(lambda event, number=number: chat.window(number))
    keys.add("c-n")(lambda event: chat.step(1))
    keys.add("c-p")(lambda event: chat.step(-1))
    keys.add("escape", "a")(lambda event: chat.next_active())
    return keys


async def _confirm(prompt: PromptSession[str], question: str) -> bool:
    try:
        answer = await PromptSession[str](input=prompt.input).prompt_async(f"{question} [y/N] ")
    except (EOFError, KeyboardInterrupt):
        return False
    return answer.strip().lower() in ("y", "yes")
