"""What the server does with a message: chat, reverse it, or acknowledge it."""

from __future__ import annotations

import enum
import json

import regex


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


def ack_text(seq: int, text: str) -> str:
    """``ACK 42: "hello"`` — the text quoted as JSON, so any content is unambiguous."""
    return f"ACK {seq}: {json.dumps(text, ensure_ascii=False)}"
