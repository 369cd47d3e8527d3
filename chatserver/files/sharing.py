"""Upload tokens handed out over the chat connection, the upload itself, and the message a whole upload becomes.

A person asks (``Upload`` frame) to share ``size`` bytes named ``name`` with a
room or a person; ``offer`` checks the size and quotas and returns a token
bound to that person, target, name and size, good for ``TOKEN_TTL`` seconds
and one upload. The page's port takes the bytes (``receive``): streamed to
``ID.part`` in chunks with their SHA-256, never whole in memory, at most
``PER_ADDRESS`` at once from one address. When whole, the file is kept and
shared: a room gets a ``ChatMessage`` (an action, kept in its history like
any other), a person a ``Private`` (to them and to the sharer alone: the
only place its unguessable link is ever given).
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import hashlib
import os
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable

import msgspec

from chatserver.core.fanout import Frame
from chatserver.core.hub import Hub
from chatserver.files.names import human_size, media_type, safe_name
from chatserver.files.store import FileStore, Record, Refusal
from common import messages as m
from common.nicks import nick_key
from common.rooms import room_key

TOKEN_TTL = 600  # seconds an upload token is good for
PER_ADDRESS = 3  # uploads at once from one address
DEFAULT_MAX_FILE = 100 * 1024 * 1024
CHUNK = 256 * 1024
#: What a write says when the disk (or the files' share of it) is full: EFBIG is a file-size limit.
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@dataclasses.dataclass(frozen=True)
class Offer:
    """What an upload token allows: ``size`` bytes named ``name`` from ``nick`` to ``room`` or ``to``."""

    token: str
    nick: str
    room: str | None
    to: str | None
    name: str
    size: int
    expires: float


class Sharing:
    """The server's file sharing: its store, its tokens, and the hub it shares through."""

    def __init__(
        self,
        store: FileStore,
        hub: Hub,
        *,
        max_size: int = DEFAULT_MAX_FILE,
        web_port: Callable[[], int],
        link_base: Callable[[], str],
        clock: Callable[[], float] = time.monotonic,
        retain: float | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.hub = hub
        self.max_size = max_size
        self.web_port = web_port
        #: ``http://HOST:PORT`` of the page's port, as links in messages give it.
        self.link_base = link_base
        self.clock = clock
        #: Seconds a file is kept (None: forever), as messages are (``--retain-days``); ``wall`` tells the time.
        self.retain = retain
        self.wall = wall
        self._lock = threading.Lock()  # the tokens and the uploads under way (never held for I/O)
        self._offers: dict[str, Offer] = {}
        self._uploading: collections.Counter[str] = collections.Counter()

    # -- tokens (from the chat connection) ---------------------------------------
    def offer(self, nick: str, room: str | None, to: str | None, name: str, size: int) -> m.UploadToken:
        """An upload token, or ``Refusal`` saying why not (too big, over a quota, disk full)."""
        if size < 0:
            raise Refusal("a file's size cannot be negative")
        if size > self.max_size:
            raise Refusal(
                f"{safe_name(name)} is {human_size(size)}: files here take at most {human_size(self.max_size)}"
            )
        self.store.check(nick_key(nick), size)
        now = self.clock()
        offer = Offer(secrets.token_urlsafe(24), nick, room, to, safe_name(name), size, now + TOKEN_TTL)
        with self._lock:
            for key in [k for k, o in self._offers.items() if o.expires <= now]:
                del self._offers[key]
            self._offers[offer.token] = offer
        return m.UploadToken(
            token=offer.token,
            path=f"/up/{offer.token}",
            web_port=self.web_port(),
            name=offer.name,
            size=size,
            expires=TOKEN_TTL,
            room=room,
            to=to,
        )

    def claim(self, token: str) -> Offer:
        """The offer of ``token``, taken (a token is good for one upload); ``Refusal`` if none."""
        with self._lock:
            offer = self._offers.pop(token, None)
        if offer is None or offer.expires <= self.clock():
            raise Refusal("no such upload token (used, expired, or never given): ask again with /send", 403)
        return offer

    # -- the upload ---------------------------------------------------------------
    def receive(self, offer: Offer, address: str, chunks: Iterable[bytes]) -> m.FileRef:
        """Take the upload's bytes from ``chunks`` to disk, then share it; ``Refusal`` if it
        may not (too many at once from ``address``, a quota, a full disk, a wrong length).
        Whatever fails, nothing is left on disk and the reservation is given back."""
        with self._lock:
            if self._uploading[address] >= PER_ADDRESS:
                raise Refusal(f"at most {PER_ADDRESS} uploads at once from one address: wait for one to finish", 429)
            self._uploading[address] += 1
        owner = nick_key(offer.nick)
        file_id = secrets.token_urlsafe(18)  # 144 random bits
        try:
            self.store.reserve(owner, offer.size)
            try:
                digest, head = self._write(file_id, offer.size, chunks)
                kind = media_type(offer.name, head)
                record = Record(
                    file_id, offer.name, offer.size, digest, kind, owner, offer.nick, offer.room, offer.to, self.wall()
                )
                self.store.keep(record)
            finally:
                self.store.release(owner, offer.size)
        except BaseException:
            self.store.forget(file_id)
            raise
        finally:
            with self._lock:
                self._uploading[address] -= 1
                if not self._uploading[address]:
                    del self._uploading[address]
        self.prune()  # (in the uploader's thread: the files' I/O is never chat's)
        return self._share(record)

    def prune(self) -> int:
        """Delete the files older than the retention (at start, and after each upload)."""
        return self.store.prune(self.wall() - self.retain) if self.retain else 0

    def _write(self, file_id: str, size: int, chunks: Iterable[bytes]) -> tuple[str, bytes]:
        """The bytes to ``ID.part`` as they come; their SHA-256 and the first few (the type)."""
        sha = hashlib.sha256()
        head = b""
        got = 0
        try:
            with open(self.store.part_path(file_id), "xb") as out:
                for chunk in chunks:
                    got += len(chunk)
                    if got > size:
                        raise Refusal(f"more bytes than the {size} announced")
                    if len(head) < 16:
                        head += chunk[: 16 - len(head)]
                    sha.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            if exc.errno in _FULL:
                raise Refusal("the server's disk is full: the file was not kept (chat goes on)", 507) from exc
            raise Refusal(f"the server could not keep the file ({exc.strerror or exc}): chat goes on", 507) from exc
        if got != size:
            raise Refusal(f"the upload ended after {got} of {size} bytes")
        return sha.hexdigest(), head

    # -- the message ----------------------------------------------------------------
    def link(self, ref: m.FileRef) -> str:
        return f"{self.link_base()}/f/{ref.id}/{urllib.parse.quote(ref.name)}"

    def _share(self, record: Record) -> m.FileRef:
        ref = m.FileRef(id=record.id, name=record.name, size=record.size, sha256=record.sha256, type=record.type)
        text = f"shared {ref.name} ({human_size(ref.size)}) — {self.link(ref)}"
        if record.room is not None:
            sent: list[m.Message] = []

            def build(seq: int, ts: float) -> m.Message:
                msg = m.ChatMessage(
                    seq=seq, ts=ts, room=record.room, nick=record.nick, text=text, action=True, file=ref
                )
                sent.append(msg)
                return msg

            self.hub.publish(record.room, build)
            message = sent[0] if sent else None
        else:
            assert record.to is not None
            message = m.Private(ts=time.time(), nick=record.nick, to=record.to, text=text, file=ref)
            frame = Frame(message)
            if self.hub.tell(record.to, frame) is None:
                self.store.forget(record.id)
                raise Refusal(f"{record.to} has left: the file was not kept", 410)
            if nick_key(record.to) != nick_key(record.nick):
                self.hub.tell(record.nick, frame)  # the sharer's copy (gone already: no matter)
        if message is not None:
            self.store.remember(record, msgspec.to_builtins(message))
        return ref

    def recent(self, room: str, count: int = 20) -> list[m.ChatMessage]:
        """The room's last ``count`` shared files, as their messages marked ``replay`` "files"."""
        found = []
        for record in self.store.in_room(room_key(room), room_key, count):
            if record.message is not None:
                msg = msgspec.convert(record.message, m.ChatMessage)
                found.append(msgspec.structs.replace(msg, replay="files"))
        return found
