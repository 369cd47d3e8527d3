"""Slash commands typed by a user, parsed into protocol messages.

The native client parses its input with ``parse_input`` and sends typed
frames; the server uses the same function for plain-line (nc/telnet) clients
and for the chat page's ``line`` frames (the page holds no parser and no help
of its own), so every kind of user has the very same commands.
"""

from __future__ import annotations

import dataclasses
import re

from .messages import (
    MAX_TEXT,
    Action,
    Away,
    Ban,
    ChangePassword,
    Deop,
    DropAccount,
    History,
    Invite,
    Join,
    Kick,
    ListBans,
    ListConversations,
    ListFiles,
    ListOps,
    ListRooms,
    Login,
    Logout,
    Message,
    Mute,
    Op,
    Part,
    PrivateSay,
    Quit,
    Register,
    RoomMode,
    Say,
    Search,
    SetNick,
    SetTopic,
    Unban,
    Unmute,
    Unregister,
    Who,
)

HELP_LINES = (
    "Commands:",
    "  /who               who is here",
    "  /join #ROOM        join a room (made if new) and talk there; your other rooms are kept",
    "  /part [#ROOM]      leave this room, or #ROOM (leaving the last one: back to #lobby)",
    "  /say #ROOM TEXT    say TEXT in #ROOM, another of your rooms",
    "  /rooms [AFTER]     rooms, how many are in each, their topics, which you are in; 50 at a time, after AFTER",
    "  /topic [TEXT]      show this room's topic, or set it",
    "  /away [REASON]     mark yourself away; /away alone when back",
    "  /nick NEW          change your nickname",
    "  /history [N|@NICK] this room's last N messages (100), or your private ones with NICK (/privates)",
    "  /search WORDS      earlier messages of this room holding all the words",
    "  /me ACTION         say what you are doing (* alice waves)",
    "  /msg NICK TEXT     private message to NICK",
    "  /send PATH [#ROOM|NICK]  share a file with this room, #ROOM or NICK (terminal client, page)",
    "  /get N [DIR]       download shared file N (as numbered in its line)",
    "  /files [#ROOM]     this room's recent shared files",
    "  /quit [TEXT]       leave (so does a message that is just 'bye')",
    "  /mode [#ROOM] [+-MODES [ARGS]], /invite NICK   room modes, as IRC's (+t m i k l s n o v b)",
    "  /help              this list",
    "  /register, /login NAME, /passwd, /unregister, /logout [all]   your account (the password is asked)",
    "Operators only (TIME like 30m, 2h, 1d; 0 = until lifted; default 1h):",
    "  /kick NICK [WHY]   remove someone",
    "  /kick #ROOM NICK [WHY]   out of that room only (its operators too: +o)",
    "  /ban NICK [TIME] [WHY]   disconnect NICK, refuse the name and its address",
    "  /unban NICK|ADDRESS      lift a ban; /bans lists bans and mutes",
    "  /mute NICK [TIME] [WHY]  NICK may read and /msg, not talk in rooms",
    "  /unmute NICK             let NICK talk again",
    "  /op NICK, /deop NICK     give or take operator rights; /ops lists operators; /dropaccount NAME",
)


@dataclasses.dataclass(frozen=True)
class ShowHelp:
    """``/help``: shown by the terminal client; the server answers it for nc users and the page."""


@dataclasses.dataclass(frozen=True)
class CommandError:
    """The input looked like a command but was not a valid one."""

    message: str


@dataclasses.dataclass(frozen=True)
class AskPassword:
    """An account command typed without its password(s): the terminal client asks for each of
    ``prompts`` without echo and sends ``build(*answers)``; the server asks a plain-line user
    (or the page) to type each on the next line (``Notice`` event "password")."""

    command: str  # register, login, passwd, unregister
    prompts: tuple[str, ...]
    name: str | None = None  # /login's account

    def build(self, *passwords: str) -> Message:
        """The command's message, given the answer to each of ``prompts`` in order."""
        if len(passwords) != len(self.prompts):
            raise ValueError(f"/{self.command} takes {len(self.prompts)} password(s)")
        if self.command == "login":
            return Login(name=self.name or "", password=passwords[0])
        if self.command == "passwd":
            return ChangePassword(password=passwords[0], new_password=passwords[1])
        return {"register": Register, "unregister": Unregister}[self.command](passwords[0])

    def __repr__(self) -> str:  # (nothing secret in it; said so that nobody adds one)
        return f"AskPassword({self.command!r}, name={self.name!r})"


Parsed = Message | ShowHelp | CommandError | AskPassword | None


#: The longest a ban or mute may be given for (0, "until lifted", is longer).
MAX_DURATION = 10 * 366 * 86400
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(?:\d{1,9}[smhdw])+")


def parse_duration(word: str) -> int | None:
    """``30m``, ``2h``, ``1d``, ``1h30m`` (or ``0``: until lifted) in seconds; None if not one."""
    word = word.lower()
    if word == "0":
        return 0
    if not _DURATION.fullmatch(word):
        return None
    seconds = sum(int(n) * _UNITS[unit] for n, unit in re.findall(r"(\d+)([smhdw])", word))
    return seconds if 0 < seconds <= MAX_DURATION else None


def _sanction(name: str, rest: str) -> Message | CommandError:
    """``/ban`` and ``/mute``: NICK [DURATION] [REASON]."""
    usage = CommandError(f"usage: /{name} NICK [DURATION] [REASON] (DURATION like 30m, 2h, 1d; 0 = until lifted)")
    nick, _, more = rest.partition(" ")
    if not nick:
        return usage
    first, _, after = more.strip().partition(" ")
    duration = parse_duration(first) if first else None
    if duration is None and first and (first.isdigit() or _DURATION.fullmatch(first.lower())):
        return usage  # a bare number, or too long: not a reason
    reason = after.strip() if duration is not None else more.strip()
    cls = Ban if name == "ban" else Mute
    return cls(nick=nick, duration=duration, reason=reason)


def _account(name: str, rest: str) -> Message | AskPassword | CommandError:
    """``/register``, ``/login``, ``/passwd``, ``/unregister``, ``/logout``, ``/dropaccount``."""
    if name == "logout":
        if rest not in ("", "all"):
            return CommandError("usage: /logout [all]")
        return Logout(all=rest == "all")
    if name == "dropaccount":
        return DropAccount(rest) if rest and " " not in rest else CommandError("usage: /dropaccount NAME")
    if name == "login":
        account, _, password = rest.partition(" ")
        if not account:
            return CommandError("usage: /login NAME (the password is asked for)")
        if password:
            return Login(name=account, password=password)
        return AskPassword("login", (f"password for {account}",), name=account)
    if name == "passwd":
        old, _, new = rest.partition(" ")
        if old and new:
            return ChangePassword(password=old, new_password=new)
        if old:
            return CommandError("usage: /passwd (both passwords are asked for), or /passwd OLD NEW")
        return AskPassword("passwd", ("current password", "new password"))
    if rest:  # register, unregister: the rest of the line is the password
        return {"register": Register, "unregister": Unregister}[name](rest)
    prompt = "password for your new account" if name == "register" else "your password, to delete the account"
    return AskPassword(name, (prompt,))


def _mode(rest: str) -> RoomMode | CommandError:
    """``/mode [#ROOM] [CHANGES [ARGS...]]``: the changes are checked by the server, as IRC's are."""
    words = rest.split()
    room = words.pop(0) if words and words[0].startswith("#") else None
    if words and words[0][0] not in "+-":
        return CommandError("usage: /mode [#ROOM] [+|-MODES [ARGS]] (like /mode +t, /mode #dev +k KEY, /mode +o bob)")
    changes = words.pop(0) if words else ""
    return RoomMode(room=room, changes=changes, args=words)


ACCOUNT_COMMANDS = frozenset({"register", "login", "passwd", "unregister", "logout", "dropaccount"})


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
        return Part(rest or None) if " " not in rest else CommandError("usage: /part [#ROOM]")
    if name == "say":
        room, _, text = rest.partition(" ")
        if not room.startswith("#") or not text.strip():
            return CommandError("usage: /say #ROOM TEXT")
        return Say(text.strip(), room=room)
    if name in ("rooms", "list"):
        return ListRooms(rest or None) if " " not in rest else CommandError("usage: /rooms [AFTER]")
    if name == "topic":
        return SetTopic(rest)  # empty: a question, answered with the current topic
    if name == "away":
        return Away(rest)
    if name == "kick":
        who, _, why = rest.partition(" ")
        room = None
        if who.startswith("#"):  # (``/kick #ROOM NICK [REASON]``: out of that room only)
            room, (who, _, why) = who, why.strip().partition(" ")
        usage = "usage: /kick [#ROOM] NICK [REASON]"
        return Kick(nick=who, reason=why.strip(), room=room) if who else CommandError(usage)
    if name in ("ban", "mute"):
        return _sanction(name, rest)
    if name in ("unban", "unmute", "op", "deop"):
        if not rest or " " in rest:
            return CommandError(f"usage: /{name} {'NICK|ADDRESS' if name == 'unban' else 'NICK'}")
        return {"unban": Unban, "unmute": Unmute, "op": Op, "deop": Deop}[name](rest)
    if name == "bans":
        return ListBans()
    if name == "ops":
        return ListOps()
    if name in ACCOUNT_COMMANDS:
        return _account(name, rest)
    if name == "history" and rest.startswith("@"):
        peer, _, count = rest[1:].partition(" ")
        if not peer or (count and (not count.isdigit() or not 0 < int(count) <= 100_000)):
            return CommandError("usage: /history @NICK [N]")
        return History(count=int(count) if count else 100, nick=peer)
    if name == "history":
        if not rest:
            return History()
        if not rest.isdigit() or not 0 < int(rest) <= 100_000:
            return CommandError("usage: /history [N] (a number of messages)")
        return History(count=int(rest))
    if name == "mode":
        return _mode(rest)
    if name == "invite":
        who, _, room = rest.partition(" ")
        room = room.strip()
        if not who or (room and (not room.startswith("#") or " " in room)):
            return CommandError("usage: /invite NICK [#ROOM]")
        return Invite(nick=who, room=room or None)
    if name in ("privates", "conversations"):
        return ListConversations() if not rest else CommandError("usage: /privates")
    if name == "search":
        return Search(rest) if rest else CommandError("usage: /search WORDS")
    if name == "files":
        return ListFiles(rest or None) if " " not in rest else CommandError("usage: /files [#ROOM]")
    if name in ("send", "get"):
        return CommandError(f"/{name} needs the terminal client (chatclient) or the chat page: files go over HTTP")
    if name in ("who", "names"):
        return Who()
    if name in ("quit", "exit"):
        return Quit(rest)
    if name in ("help", "?"):
        return ShowHelp()
    return CommandError(f"unknown command /{name[:32]}; try /help")


def format_duration(seconds: float) -> str:
    """``5400`` -> ``1 h 30 min``: the two largest units."""
    left = max(0, round(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size} {unit}")
            left %= size
    return " ".join(parts[:2])
