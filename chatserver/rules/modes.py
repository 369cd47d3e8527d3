"""What the server does with a message: chat, reverse it, or acknowledge it."""

from __future__ import annotations

import enum
import json

import regex

from common.messages import MAX_TEXT


class Mode(enum.Enum):
    CHAT = "chat"  # broadcast to the room
    REVERSE = "reverse"  # answer the sender with the text reversed
    ACK = "ack"  # answer the sender with an acknowledgment

    @property
    def exit_words(self) -> tuple[str, ...]:
        return ("bye", "end") if self is Mode.REVERSE else ("bye",)

    @property
    def description(self) -> str:
        return {
            Mode.CHAT: "chat: messages go to everyone in the room",
            Mode.REVERSE: "reverse: every message comes back reversed; 'end' or 'bye' to finish",
            Mode.ACK: "ack: every message is acknowledged with its sequence number",
        }[self]


_GRAPHEME = regex.compile(r"\X")


def reverse_text(text: str) -> str:
    """Reverse by grapheme cluster: accents stay on their letter, emoji stay whole."""
    return "".join(reversed(_GRAPHEME.findall(text)))


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def ack_text(seq: int, text: str, limit: int = MAX_TEXT, *, action: bool = False) -> str:
    """``ACK 42: "hello"`` — the text quoted as JSON, so any content is unambiguous;
    an action (``/me waves``) is acknowledged as one: ``ACK 42: /me "waves"``.

    The reply is a message like any other and has at most ``limit`` characters;
    quoting lengthens the text (``"`` becomes ``\\"``, a control character
    ``\\u001b``), so a long one is quoted only in part, cut between grapheme
    clusters, and the reply says how much of it is shown.
    """
    head = f"ACK {seq}: " + ("/me " if action else "")
    whole = head + _quoted(text)
    if len(whole) <= limit:
        return whole
    tail = f" … (the first {{}} of {len(text)} characters)"
    # Room for the quotes and the tail (its count has at most as many digits as the length).
    budget = limit - len(head) - 2 - len(tail.format(len(text)))
    shown, used = 0, 0
    for cluster in _GRAPHEME.findall(text):
        cost = len(_quoted(cluster)) - 2  # JSON escapes each character on its own
        if used + cost > budget:
            break
        shown += len(cluster)
        used += cost
    return head + _quoted(text[:shown]) + tail.format(shown)
