"""Tab completion for the prompt: commands, nicknames, room names, and paths after ``/send``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

COMMANDS = (
    "/who", "/join", "/part", "/say", "/window", "/rooms", "/topic", "/away", "/msg", "/me", "/nick",
    "/kick", "/ignore", "/unignore", "/bell", "/help", "/quit", "/send", "/get", "/files",
    "/mode", "/invite", "/privates",
)  # fmt: skip
_TAKES_NICK = {"/msg", "/kick", "/ignore", "/unignore", "/invite"}
_TAKES_ROOM = {"/join", "/part", "/say", "/window"}


class ChatCompleter(Completer):
    """Completes from live state: ``nicks()``, ``rooms()`` and
    ``correspondents()`` are asked on every key.

    ``/msg`` also offers the people one has exchanged private messages with,
    who may be in another room (a private message crosses rooms).
    """

    def __init__(
        self,
        nicks: Callable[[], Iterable[str]],
        rooms: Callable[[], Iterable[str]],
        correspondents: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        self.nicks = nicks
        self.rooms = rooms
        self.correspondents = correspondents
        self._paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        before = document.text_before_cursor
        word = document.get_word_before_cursor(WORD=True)
        words = before.split()
        if before.startswith("/") and len(words) <= 1 and not before.endswith(" "):
            for c in self._matching(COMMANDS, word):  # a space after it: the argument comes next
                yield Completion(c.text + " ", c.start_position, display=c.text)
            return
        command = words[0].lower() if words and before.startswith("/") else ""
        if command == "/send" and len(words) <= 2 and not (len(words) == 2 and before.endswith(" ")):
            # The path: completed from the file system (``~`` too), as a shell would.
            typed = before[len(words[0]) :].lstrip()
            yield from self._paths.get_completions(Document(typed, len(typed)), complete_event)
            return
        if command in _TAKES_ROOM:
            yield from self._matching(sorted(self.rooms()), word)
        elif command in _TAKES_NICK or not command:
            at_start = not command and len(words) <= 1 and not before.endswith(" ")
            nicks = {*self.nicks(), *self.correspondents()} if command == "/msg" else self.nicks()
            for c in self._matching(sorted(nicks, key=str.casefold), word):
                # "ali<Tab>" at the start of a line addresses alice, IRC-style.
                yield Completion(c.text + ": ", -len(word), display=c.text) if at_start else c

    @staticmethod
    def _matching(options: Iterable[str], word: str) -> Iterable[Completion]:
        low = word.casefold()
        for option in options:
            if option.casefold().startswith(low) and option != word:
                yield Completion(option, -len(word))
