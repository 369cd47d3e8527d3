"""Slash commands typed by a user, parsed into protocol messages.

The native client parses its input with ``parse_input`` and sends typed
frames; the server uses the same function for plain-line (nc/telnet) clients,
so both kinds of user have the very same commands.
"""

from __future__ import annotations

import dataclasses

from .messages import (
    MAX_TEXT,
    Action,
    Away,
    History,
    Join,
    Kick,
    ListRooms,
    Message,
    Part,
    PrivateSay,
    Quit,
    Say,
    Search,
    SetNick,
    SetTopic,
    Who,
)

HELP_LINES = (
    "Commands:",
    "  /who               who is here",
    "  /join #ROOM        go to a room (made if new); /part goes back to #lobby",
    "  /rooms             rooms, how many are in each, and their topics",
    "  /topic [TEXT]      show this room's topic, or set it",
    "  /away [REASON]     mark yourself away; /away alone when back",
    "  /nick NEW          change your nickname",
    "  /history [N]       this room's last N messages (100), from the server",
    "  /search WORDS      earlier messages of this room holding all the words",
    "  /me ACTION         say what you are doing (* alice waves)",
    "  /msg NICK TEXT     private message to NICK",
    "  /quit [TEXT]       leave (so does a message that is just 'bye')",
    "  /kick NICK [WHY]   remove someone (operators only)",
    "  /help              this list",
    "  //TEXT             send a message that starts with '/'",
)


@dataclasses.dataclass(frozen=True)
class ShowHelp:
    """``/help``: handled where the user is (client or plain session)."""


@dataclasses.dataclass(frozen=True)
class CommandError:
    """The input looked like a command but was not a valid one."""

    message: str


Parsed = Message | ShowHelp | CommandError | None


def parse_input(line: str) -> Parsed:
    """Turn one line of user input into a message, ``ShowHelp``, an error, or None (blank)."""
    if not line.strip():
        return None
    if len(line) > MAX_TEXT:
        return CommandError(f"message too long ({len(line)} characters, at most {MAX_TEXT}): not sent")
    if not line.startswith("/"):
        return Say(line)
    if line.startswith("//"):
        return Say(line[1:])
    name, _, rest = line[1:].partition(" ")
    name = name.lower()
    rest = rest.strip()
    if name == "me":
        return Action(rest) if rest else CommandError("usage: /me ACTION")
    if name == "msg":
        to, _, text = rest.partition(" ")
        if not to or not text.strip():
            return CommandError("usage: /msg NICK TEXT")
        return PrivateSay(to=to, text=text.strip())
    if name == "nick":
        return SetNick(rest) if rest and " " not in rest else CommandError("usage: /nick NEW")
    if name in ("join", "j"):
        return Join(rest) if rest and " " not in rest else CommandError("usage: /join #ROOM")
    if name in ("part", "leave"):
        return Part()
    if name in ("rooms", "list"):
        return ListRooms()
    if name == "topic":
        return SetTopic(rest)  # empty: a question, answered with the current topic
    if name == "away":
        return Away(rest)
    if name == "kick":
        who, _, why = rest.partition(" ")
        return Kick(nick=who, reason=why.strip()) if who else CommandError("usage: /kick NICK [REASON]")
    if name == "history":
        if not rest:
            return History()
        if not rest.isdigit() or not 0 < int(rest) <= 100_000:
            return CommandError("usage: /history [N] (a number of messages)")
        return History(count=int(rest))
    if name == "search":
        return Search(rest) if rest else CommandError("usage: /search WORDS")
    if name in ("who", "names"):
        return Who()
    if name in ("quit", "exit"):
        return Quit(rest)
    if name in ("help", "?"):
        return ShowHelp()
    return CommandError(f"unknown command /{name[:32]}; try /help")
