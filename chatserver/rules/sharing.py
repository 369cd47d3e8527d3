"""File sharing's commands: an upload token asked for (``Upload``), a room's recent files (``ListFiles``).

The rules decide who may share what with whom (a room one is in and not
muted in, a person who is here); the files themselves are the server's
``FileShare`` (``chatserver/files/sharing.py``), reached as ``me.server.files``
(None on a server without the page's port: files travel over HTTP there).
"""

from __future__ import annotations

from typing import Protocol

from chatserver.rules import membership
from chatserver.rules.effects import Answer, Effect, error, notice
from chatserver.rules.services import Handler, Me
from common import messages as m

#: ``/files`` sends again at most this many.
FILES_SHOWN = 20
NO_FILES = "file sharing is off on this server (--max-file-size 0, or it serves no chat page)"


class FileShare(Protocol):
    """What the rules ask of the server's file sharing (``files.sharing.Sharing``)."""

    def offer(self, nick: str, room: str | None, to: str | None, name: str, size: int) -> m.UploadToken:
        """A token, or raises an exception whose text says why not."""
        ...

    def recent(self, room: str, count: int = FILES_SHOWN) -> list[m.ChatMessage]: ...


def _files(me: Me) -> FileShare | None:
    return me.server.files  # type: ignore[attr-defined,no-any-return]


def upload(me: Me, msg: m.Upload) -> list[Effect]:
    """May ``me`` share this file with that room or person? The token, or why not."""
    files = _files(me)
    if files is None:
        return [error("no_files", NO_FILES)]
    room, to = None, None
    if msg.to is not None:
        target = me.hub.find(msg.to)
        if target is None:
            return [error("no_such_nick", f"nobody called {msg.to[:40]!r} is here")]
        to = target.nick
    else:
        room = me.room
        if msg.room is not None:
            room, refused = membership.member_of(me, msg.room)
            if room is None:
                return refused
        mute = me.mute()  # (a muted person shares nothing with a room either)
        if mute is not None:
            return [error("muted", me.muted_text(mute))]
    try:
        token = files.offer(me.nick, room, to, msg.name, msg.size)
    except Exception as exc:  # files.store.Refusal: its text says why
        return [error("file_refused", str(exc))]
    return [Answer(token)]


def list_files(me: Me, msg: m.ListFiles) -> list[Effect]:
    """``/files``: the room's recent files, their messages sent again, and how many."""
    files = _files(me)
    if files is None:
        return [error("no_files", NO_FILES)]
    room = me.room
    if msg.room is not None:
        room, refused = membership.member_of(me, msg.room)
        if room is None:
            return refused
    found = files.recent(room, FILES_SHOWN)
    if not found:
        return [notice(f"no files shared in {room} yet (/send PATH shares one)", event="files")]
    return [*(Answer(x) for x in found), notice(f"{len(found)} recent files of {room}", event="files")]


COMMANDS: dict[type[m.Message], Handler] = {m.Upload: upload, m.ListFiles: list_files}  # type: ignore[dict-item]
