"""What a person's command makes happen, as values: the command tables return them, one executor does them.

A handler (``chat.py``, ``alone.py``, ``operators.py``, ``membership.py``)
looks at the person and the hub and returns a list of effects; the
participant's executor (``Participant.execute``) carries them out in order,
as h11 returns events for its caller to act on. Tests read the effects, or
what the executor did with them, without a socket.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from common import messages as m


class SessionEnd(Exception):
    """Ends the participant's session; the message is the reason."""


#: Reasons for ending a session by choice. The exit word is a statement to
#: the others (it ends an interactive host's two-person chat); ``/quit``
#: (also sent by Ctrl-C, a script's end of input, ``--send``) only leaves.
SAID_EXIT_WORD = "bye"
QUIT = "quit"


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """Tell this person ``msg``, after everything already queued for it."""

    msg: m.Message


@dataclasses.dataclass(frozen=True, slots=True)
class Publish:
    """Say a message in ``room``: numbered, kept and delivered to every member;
    the sender gets its receipt in its place (with the text, if ``echo``)."""

    room: str
    build: Callable[[int, float], m.Message]
    echo: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Announce:
    """A notice to ``room`` (in order with its messages, not kept), but not to ``except_nick``."""

    room: str
    build: Callable[[float], m.Message]
    except_nick: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class JoinRoom:
    """Join ``room`` and focus it: greeted with ``joined`` and its recent messages, the others told."""

    room: str


@dataclasses.dataclass(frozen=True, slots=True)
class LeaveRoom:
    """Leave ``room`` (what was queued to it while we were there still comes); ``told``, if any,
    to the room when no other device of the person is left in it (the person left it)."""

    room: str
    told: Callable[[float], m.Message] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Tell:
    """``msg`` to another person alone, in its turn."""

    nick: str
    msg: m.Message


@dataclasses.dataclass(frozen=True, slots=True)
class Kick:
    """End ``nick``'s session, telling it ``why``; ``logged`` says so in the server's log."""

    nick: str
    why: str
    logged: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class Follow:
    """This person's other devices join ``room`` (``join``) or leave it, as this one just did."""

    room: str
    join: bool
    reason: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Arrive:
    """This session just became one of its person's devices (``/login``): into the person's
    rooms, and the person into its own (``devices.arrive``)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Remove:
    """Every device of ``nick``'s person leaves ``room``, kicked out of it by ``by`` (``why``: what it is told)."""

    nick: str
    room: str
    by: str
    why: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class SetOp:
    """Make ``nick`` an operator, or no longer one."""

    nick: str
    op: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Changed:
    """This person's away text, rights or token changed: the hub (a cluster's presence) keeps it."""


@dataclasses.dataclass(frozen=True, slots=True)
class Pause:
    """Hold this person's next command back ``seconds`` (a rate limit, a wrong password)."""

    seconds: float


@dataclasses.dataclass(frozen=True, slots=True)
class End:
    """Say goodbye (``bye``) to this person and end its session for ``reason``."""

    reason: str
    bye: str


Effect = (
    Answer | Publish | Announce | JoinRoom | LeaveRoom | Tell | Kick | Follow | Remove | SetOp | Changed | Pause | End
)


def notice(text: str, event: str = "info") -> Answer:
    """Tell this person ``text`` as a notice, stamped now."""
    return Answer(m.Notice(text=text, ts=time.time(), event=event))


def error(
    code: str, text: str, suggestion: str | None = None, room: str | None = None, target: str | None = None
) -> Answer:
    """Tell this person its command was refused, and why (and which room, and what in it, it was about)."""
    return Answer(m.Error(code, text, suggestion=suggestion, room=room, target=target))


def leave(reason: str, bye: str, *, code: str = "", text: str = "") -> list[Effect]:
    """End the session: an error first when ``code`` is given, then the goodbye."""
    first: list[Effect] = [error(code, text)] if code else []
    return [*first, End(reason, bye)]
