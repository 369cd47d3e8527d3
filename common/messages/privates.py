"""The private conversations kept for an account: asked for, and listed (``/privates``, the page's list)."""

from __future__ import annotations

from typing import ClassVar

from .base import Int, Ints, Message, Strs, sent


class ListConversations(Message, tag="conversations"):
    """Which accounts have we private conversations with? Answered by ``Conversations``
    (or ``not_logged_in``: conversations are kept between accounts)."""


class Conversations(Message, tag="conversation-list"):
    """The answer to ``ListConversations``: the other account of each conversation, the most
    recent first, with the time (seconds) of its last message; ``/history @NAME`` reads one."""

    PAGED: ClassVar[tuple[str, ...]] = ("names", "times")
    names: Strs
    times: Ints = sent([])
    #: Conversations not listed (the list was cut to fit one frame).
    more: Int = sent(0)
