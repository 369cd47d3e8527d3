"""Shared files in the terminal client: ``/send`` uploads, ``/get N`` downloads, the numbered files seen, progress.

A shared file arrives as a message carrying a ``FileRef``; ``Shelf`` numbers
each one seen (1, 2, ...) and the line shown reads ``bob shared report.pdf
(2.1 MB) — /get 7``. ``/send PATH [#room|nick]`` asks the server for an
upload token over the chat connection; the token's answer starts the upload
(HTTP ``PUT`` to the page's port on the chat server's own address) in a
thread of its own, the file read in chunks, never whole. ``/get N [DIR]``
downloads into DIR or the user's download directory (``platformdirs``),
never over an existing file (``report (1).pdf``), resuming a ``.part`` left
by an interrupted try (``Range``), and checks the SHA-256 the message gave.
Progress shows as a bar: in the terminal UI, one line per transfer in the
prompt's bottom toolbar, redrawn in place by prompt_toolkit as it moves
(``Transfers.redraw``, ``bars``); without a terminal (line mode, scripts,
``--send-file``), a line at each quarter.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import http.client
import json
import os
import re
import ssl
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import platformdirs

from common import messages as m
from common.filenames import safe_name
from common.safetext import neutralise
from common.sizes import human_size

from .connection import ChatConnection
from .errors import ClientError

CHUNK = 256 * 1024
TRANSFERS_LIMIT = 3600.0  # seconds ``--send-file`` waits for its upload at most
#: The errors that answer an ``Upload``.
_REFUSALS = frozenset({"file_refused", "no_files", "not_in_room", "no_such_nick", "muted", "invalid_room"})
#: A shared file's link: its host (an IPv6 one in brackets) and port.
_LINK = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+):(\d{1,5})/f/")
TIMEOUT = 30.0


@dataclasses.dataclass(frozen=True)
class Asked:
    """An upload asked for: the file, the name the server will give it (``safe_name``), its size."""

    path: Path
    name: str
    size: int


@dataclasses.dataclass(frozen=True)
class Seen:
    """A shared file seen in a message: its number, what it is, who shared it, where."""

    number: int
    ref: m.FileRef
    nick: str
    port: int | None  # the page's port, as the message's link gives it
    host: str | None = None  # the link's host: on a cluster, the node that keeps the file


class Shelf:
    """The shared files seen in this session, numbered as their lines say (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Seen] = {}
        self._numbered: list[Seen] = []

    def add(self, ref: m.FileRef, nick: str, text: str) -> Seen:
        link = _LINK.search(text)
        port, host = (int(link.group(2)), link.group(1).strip("[]")) if link else (None, None)
        with self._lock:
            seen = self._by_id.get(ref.id)
            if seen is None:
                seen = Seen(len(self._numbered) + 1, ref, nick, port, host)
                self._by_id[ref.id] = seen
                self._numbered.append(seen)
            return seen

    def get(self, number: int) -> Seen | None:
        with self._lock:
            return self._numbered[number - 1] if 0 < number <= len(self._numbered) else None


def shared_text(ref: m.FileRef, number: int) -> str:
    """The words after the sharer's name: ``shared report.pdf (2.1 MB) — /get 7``."""
    return f"shared {ref.name} ({human_size(ref.size)}) — /get {number}"


def progress_line(label: str, done: int, total: int) -> str:
    """``[#####.....]  50% report.pdf (1.0 MB of 2.1 MB)``."""
    share = done / total if total else 1.0
    filled = int(share * 20)
    return f"[{'#' * filled}{'.' * (20 - filled)}] {share:4.0%} {label} ({human_size(done)} of {human_size(total)})"


class Progress:
    """Says how far a transfer is in lines: a bar line at 0, 25, 50, 75 and 100 % (line mode, scripts)."""

    def __init__(self, label: str, total: int, say: Callable[[str], None]) -> None:
        self.label, self.total, self.say = label, total, say
        self._next = 0  # the next quarter to show

    def update(self, done: int) -> None:
        crossed = self._next
        while crossed <= 4 and done >= self.total * crossed / 4:
            crossed += 1
        if crossed > self._next:  # (one line however many quarters this step crossed)
            self.say(progress_line(self.label, min(done, self.total), self.total))
            self._next = crossed

    def finish(self) -> None:
        """(The lines said stay: nothing to take back.)"""


class LiveBar:
    """Says how far a transfer is in one bar redrawn in place: ``show`` the bar's line each time its
    percentage changes (at most about a hundred redraws, however many chunks), ``show(None)`` at the end."""

    def __init__(self, label: str, total: int, show: Callable[[str | None], None]) -> None:
        self.label, self.total, self.show = label, total, show
        self._shown = -1  # the percentage shown

    def update(self, done: int) -> None:
        share = int(100 * done / self.total) if self.total else 100
        if share != self._shown:
            self._shown = share
            self.show(progress_line(self.label, min(done, self.total), self.total))

    def finish(self) -> None:
        self.show(None)


def unique_path(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name (1)``, ``name (2)``... before its extension: never an existing file."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    candidate = folder / name
    n = 1
    while candidate.exists():
        candidate = folder / (f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})")
        n += 1
    return candidate


def downloads_dir() -> Path:
    return Path(platformdirs.user_downloads_dir())


class Transfers:
    """The session's uploads and downloads, each in a thread of its own; what they say goes to ``info``."""

    def __init__(
        self,
        host: str,
        tls: ssl.SSLContext | None,
        send: Callable[[m.Message], None],
        info: Callable[[str], None],
        folder: Callable[[], Path] = downloads_dir,
    ) -> None:
        self.host = host
        self.tls = tls
        self._send = send
        self.info = info
        self.folder = folder
        self.shelf = Shelf()
        self._lock = threading.Condition()  # (notified when a transfer ends, or an ask is answered)
        self._running = 0
        #: The uploads asked for and not yet answered, oldest first: the server answers them in order.
        self._asked: collections.deque[Asked] = collections.deque()
        #: Called with each finished upload's ``FileRef`` or ``None`` if it failed (``--send-file``).
        self.on_uploaded: Callable[[m.FileRef | None], None] = lambda ref: None
        #: The terminal UI's redraw (thread-safe): progress is then live bars (``bars``) it draws in
        #: place, asked again at each call; None (line mode, scripts): lines at each quarter, to ``info``.
        self.redraw: Callable[[], None] | None = None
        self._bars: dict[object, str] = {}  # a transfer under way -> its bar's line

    # -- progress ----------------------------------------------------------------
    def _progress(self, label: str, total: int) -> Progress | LiveBar:
        redraw = self.redraw
        if redraw is None:
            return Progress(label, total, self.info)
        key = object()

        def show(line: str | None) -> None:
            with self._lock:
                if line is None:
                    self._bars.pop(key, None)
                else:
                    self._bars[key] = line
            redraw()

        return LiveBar(label, total, show)

    def bars(self) -> str:
        """The live bars of the transfers under way, a line each ("" if none)."""
        with self._lock:
            return "\n".join(self._bars.values())

    # -- /send -----------------------------------------------------------------
    def send(self, rest: str, focused: str) -> str | None:
        """``/send PATH [#room|nick]``: ask for a token (the upload follows it); an error, or None."""
        path_text, target = split_target(rest)
        if not path_text:
            return "usage: /send PATH [#ROOM|NICK]"
        return self.ask(path_text, target, focused)

    def ask(self, path_text: str, target: str, focused: str) -> str | None:
        """Ask the server for a token to send ``path_text`` to ``target`` (a room, a nick, or
        "": the focused room); an error, or None."""
        path = Path(os.path.expanduser(path_text))
        try:
            if not path.is_file():
                return f"no such file: {path_text}"
            size = path.stat().st_size
        except OSError as exc:  # (unreadable folder, a name too long: is_file lets these through)
            return f"cannot read {path_text}: {exc.strerror or exc}"
        name = path.name
        with self._lock:
            self._asked.append(Asked(path, safe_name(name), size))
        room = target if target.startswith("#") else None
        to = target if target and not room else None
        self._send(m.Upload(name=name, size=size, room=room, to=to))
        self.info(f"asking to send {name} ({human_size(size)}) to {target or focused}")
        return None

    def token(self, msg: m.UploadToken) -> None:
        """The server's yes: upload the file it is for (receiver thread: the upload runs in its own)."""
        with self._lock:
            # The oldest ask it answers (the server names a file by ``safe_name``, as the ask was kept).
            asked = next((a for a in self._asked if (a.name, a.size) == (msg.name, msg.size)), None)
            if asked is None:
                return
            self._asked.remove(asked)
            path = asked.path
            self._running += 1  # (before the ask is seen answered: ``wait`` never sees neither)
            self._lock.notify_all()
        self._start(self._upload, path, msg, counted=True)

    def refused(self, msg: m.Error) -> None:
        """An error that answers a /send (the oldest one asked): it is not waited for any more."""
        if msg.code not in _REFUSALS:
            return
        with self._lock:
            if self._asked:
                self._asked.popleft()
                self._lock.notify_all()

    def _start(self, target: Callable, *args: object, counted: bool = False) -> None:
        def run() -> None:
            try:
                target(*args)
            finally:
                with self._lock:
                    self._running -= 1
                    self._lock.notify_all()

        with self._lock:
            if not counted:
                self._running += 1
        threading.Thread(target=run, name="transfer", daemon=True).start()

    def _connection(self, port: int, host: str | None = None) -> http.client.HTTPConnection:
        """To the page's port of the chat server (or of ``host``, another node's)."""
        if self.tls is not None:
            return http.client.HTTPSConnection(host or self.host, port, timeout=TIMEOUT, context=self.tls)
        return http.client.HTTPConnection(host or self.host, port, timeout=TIMEOUT)

    def _upload(self, path: Path, token: m.UploadToken) -> None:
        where = token.room or token.to or "the room"
        progress = self._progress(f"sending {token.name}", token.size)
        ref = None
        try:
            conn = self._connection(token.web_port)
            conn.putrequest("PUT", token.path)
            conn.putheader("Content-Length", str(token.size))
            conn.endheaders()
            sent = 0
            progress.update(0)
            with open(path, "rb") as file:
                while chunk := file.read(min(CHUNK, token.size - sent)):
                    conn.send(chunk)
                    sent += len(chunk)
                    progress.update(sent)
                    if sent >= token.size:
                        break
            resp = conn.getresponse()
            body = resp.read().decode("utf-8", "replace").strip()
            conn.close()
            if resp.status != 201:
                self.info(f"{token.name} was not sent: {neutralise(body)}")
            else:
                answer = json.loads(body)
                ref = m.FileRef(
                    id=answer["id"], name=answer["name"], size=answer["size"], sha256=answer["sha256"],
                    type=answer["type"],
                )  # fmt: skip
                self.info(f"sent {token.name} ({human_size(token.size)}) to {neutralise(where)}")
        except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
            self.info(f"{token.name} was not sent: {exc}")
        finally:
            progress.finish()
        self.on_uploaded(ref)

    # -- /get ------------------------------------------------------------------
    def shown(self, msg: m.ChatMessage | m.Private) -> m.ChatMessage | m.Private:
        """A message sharing a file, numbered and worded for this terminal (``/get N``)."""
        assert msg.file is not None
        seen = self.shelf.add(msg.file, msg.nick, msg.text)
        return dataclasses.replace(msg, text=shared_text(msg.file, seen.number))

    def get(self, rest: str) -> str | None:
        """``/get N [DIR]``: download file N (its number in its line); an error, or None."""
        number, _, folder_text = rest.strip().partition(" ")
        if not number.isdigit():
            return "usage: /get N [DIR] (N: the number after /get in a shared file's line)"
        seen = self.shelf.get(int(number))
        if seen is None:
            return f"no shared file {number} here (its line says /get N)"
        if seen.port is None:
            return "the server did not say where its files are (no page port)"
        folder = Path(os.path.expanduser(folder_text.strip())) if folder_text.strip() else self.folder()
        self._start(self._download, seen.ref, folder, seen.host, seen.port)
        return None

    def _download(self, ref: m.FileRef, folder: Path, host: str | None, port: int) -> None:
        """From the chat server's own address first (the link's may not be reachable from here: a
        server on every address links its first LAN one), then from the link's: on a cluster of
        several machines, the node that keeps the file (ours has nothing there, or sends us on)."""
        progress = self._progress(f"getting {ref.name}", ref.size)
        hosts = [self.host, *([host] if host and host != self.host else [])]
        try:
            for i, where in enumerate(hosts):
                try:
                    path = download(
                        lambda p, where=where: self._connection(p, where), port, ref, folder, self.info, progress
                    )
                    break
                except (ConnectionRefusedError, NotHere):
                    if i == len(hosts) - 1:
                        raise
        except (OSError, http.client.HTTPException, DownloadError) as exc:
            self.info(f"{ref.name} was not downloaded: {exc}")
            return
        finally:
            progress.finish()
        self.info(f"saved {ref.name} as {path} (SHA-256 checked)")

    def busy(self) -> bool:
        with self._lock:
            return self._busy_locked()

    def _busy_locked(self) -> bool:
        return self._running > 0 or bool(self._asked)

    def wait(self, timeout: float) -> bool:
        """Until the transfers asked for or under way end (line mode at its end, ``--send-file``); True if they did."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._busy_locked() and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)
            return not self._busy_locked()


class DownloadError(Exception):
    pass


class NotHere(DownloadError):
    """The server asked does not keep the file (404), or sends us to another (a cluster's ``307``)."""


def download(
    connect: Callable[[int], http.client.HTTPConnection],
    port: int,
    ref: m.FileRef,
    folder: Path,
    say: Callable[[str], None],
    progress: Progress | LiveBar | None = None,
) -> Path:
    """``ref`` into ``folder`` under a name no file has, through ``NAME.part`` (resumed with a
    ``Range`` if an earlier try left one); checked against its SHA-256, else deleted. How far
    it is goes to ``progress``, or as lines to ``say``."""
    folder.mkdir(parents=True, exist_ok=True)
    safe = safe_name(ref.name)  # (as the server names it: one harmless component, never a path)
    part = folder / f".{safe}.{ref.id[:12]}.part"  # (one per file: a later try resumes it)
    have = part.stat().st_size if part.exists() else 0
    if have > ref.size:
        part.unlink()
        have = 0
    conn = connect(port)
    path = f"/f/{ref.id}/{urllib.parse.quote(ref.name)}"
    headers = {"Range": f"bytes={have}-", "If-Range": f'"{ref.sha256[:32]}"'} if 0 < have < ref.size else {}
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    if resp.status not in (200, 206):
        said = resp.read(4096).decode("utf-8", "replace").strip()
        conn.close()
        if resp.status == 404:
            raise NotHere(said)
        if resp.status in (307, 308):
            raise NotHere(f"kept by another server: {neutralise(resp.getheader('location', ''))}")
        raise DownloadError(f"the server answered {resp.status}")
    if resp.status == 200:
        have = 0
    if progress is None:
        progress = Progress(f"getting {ref.name}", ref.size, say)
    progress.update(have)
    with open(part, "ab" if have else "wb") as out:
        while chunk := resp.read(CHUNK):
            out.write(chunk)
            have += len(chunk)
            progress.update(have)
    conn.close()
    if have != ref.size:
        raise DownloadError(f"interrupted after {human_size(have)} of {human_size(ref.size)}: /get again resumes it")
    sha = hashlib.sha256()
    with open(part, "rb") as got:
        while block := got.read(CHUNK):
            sha.update(block)
    if sha.hexdigest() != ref.sha256:
        part.unlink()
        raise DownloadError("its SHA-256 is not the one shared: deleted")
    while True:  # a hard link fails if the name was taken meanwhile: nothing is ever overwritten
        final = unique_path(folder, safe)
        try:
            os.link(part, final)
        except FileExistsError:
            continue
        part.unlink()
        return final


def split_target(rest: str) -> tuple[str, str]:
    """``PATH [#room|nick]``: the last word is a target if it is a room, or there are two words
    and the whole is not an existing file (a path with spaces needs no quotes)."""
    rest = rest.strip()
    head, _, last = rest.rpartition(" ")
    if head and (last.startswith("#") or not _exists(rest)):
        return head.strip(), last
    return rest, ""


def _exists(path_text: str) -> bool:
    """Is there a file by this name (False also when it cannot be looked at)?"""
    try:
        return Path(os.path.expanduser(path_text)).exists()
    except OSError:
        return False


def send_file_once(conn: ChatConnection, path_text: str, target: str, tls: ssl.SSLContext | None) -> int:
    """``--send-file PATH [--to #ROOM|NICK]``: ask, upload (progress on stderr), say where it went, leave."""

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    done: list[m.FileRef | None] = []
    transfers = Transfers(conn.host, tls, conn.send, say)
    transfers.on_uploaded = done.append
    try:
        refused = transfers.ask(path_text, target, "the room")
        if refused:
            say(f"chatclient: {refused}")
            return 2
        while True:
            msg = conn.next_message()
            if msg is None or isinstance(msg, m.Bye):
                raise ClientError("the server closed the connection before answering")
            if isinstance(msg, m.Error):
                say(f"chatclient: the server refused the file: {neutralise(msg.message)}")
                return 1
            if isinstance(msg, m.UploadToken):
                transfers.token(msg)
                break
        transfers.wait(TRANSFERS_LIMIT)
        ref = done[0] if done else None
        if ref is not None:
            print(f"File sent: {ref.name} ({human_size(ref.size)}), SHA-256 {ref.sha256}", flush=True)
        try:
            conn.send(m.Quit())
            while conn.next_message() is not None:
                pass
        except ClientError:
            pass
        return 0 if ref is not None else 1
    finally:
        conn.close()
