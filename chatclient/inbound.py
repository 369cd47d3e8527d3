"""What each message from the server does to the client's session: a table of handlers by type, and what they keep.

The receiver thread reads a connection until the server's ``bye`` or the
link fails (``pump``); each message goes through its type's handler (a kick
ends the session, a ping is answered, an ``accepted`` confirms a line, an
error decides a line's fate, a replayed message may be one already on the
screen), then through the tracker (``track``: our rooms, who is in them,
our name, whom we exchanged private messages with), then to the screen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from common import messages as m
from common.nicks import nick_key
from common.rooms import room_key

from .connection import ChatConnection
from .errors import ClientError
from .notify import Schedule, timer
from .outbox import Outbox
from .positions import Positions
from .typed import not_sent
from .windows import Windows

#: A room's live messages shown are marked read (for our account's other devices) once a second at most.
MARK_EVERY = 1.0

#: The messages that may share a file (their ``file``).
_SHARING = (m.ChatMessage, m.Private)

Handler = Callable[["Inbound", m.Message], "m.Message | None"]


class Inbound:
    """The receiver's side of a session: what it makes of each message, and what it keeps of them."""

    def __init__(
        self,
        welcome: m.Welcome,
        outbox: Outbox,
        windows: Windows,
        *,
        show: Callable[[m.Message], None],
        changed: Callable[[], None],
        info: Callable[[str], None],
        cluster_link: Callable[[bool], None],
        answer_ping: Callable[[m.Ping], None],
        clock: Callable[[], float] = time.monotonic,
        schedule: Schedule = timer,
    ) -> None:
        self._outbox = outbox
        self.windows = windows
        self._show = show  # (the session's current ``show``)
        self._changed = changed  # the status changed (``on_status``)
        self._info = info
        self._cluster_link = cluster_link
        self._answer_ping = answer_ping
        self.nick = welcome.nick
        #: The right to take our name back after a lost link (a new one after each /nick).
        self.token = welcome.token
        self.positions = Positions()
        self.positions.entered(welcome.room, welcome.epoch, welcome.seq)
        #: Replayed messages still to come of the last welcome/joined (not of a /history).
        self.greeting_left = welcome.replay
        #: Show the history a room replays on joining (a piped bot wants only what follows).
        self.history_on_join = True
        self.rooms: set[str] = {welcome.room}  # every room we heard of, for completion
        #: Who we exchanged private messages with (any room), for ``/msg`` completion.
        self.correspondents: set[str] = set()
        self.kicked = False  # an operator's /kick: the Bye that follows is not a normal end
        self.server_stopping = False  # the server said it stops: the Bye that follows is not the end
        #: Why the session ended without the server's ``bye`` (a kick's words).
        self.lost: str | None = None
        #: A message sharing a file, as shown here (``files.Transfers.shown``: numbered for /get).
        self.file_shown: Callable[[m.ChatMessage | m.Private], m.Message] = lambda msg: msg
        #: The server's yes to a /send: the upload starts (``files.Transfers.token``).
        self.upload_token: Callable[[m.UploadToken], None] = lambda msg: None
        #: An error, which may answer a /send (``files.Transfers.refused``).
        self.upload_refused: Callable[[m.Error], None] = lambda msg: None
        #: Logged in or out (``accounts.Account``): the notice to show.
        self.logged_in: Callable[[m.LoggedIn], m.Message] = lambda msg: msg
        self.logged_out: Callable[[m.LoggedOut], m.Message] = lambda msg: msg
        #: A login refused, with why: True if it was the remembered one (the user was told).
        self.login_refused: Callable[[str], bool] = lambda why: False
        #: The account we are logged in to, asked of ``accounts.Account`` (None: a guest): while
        #: there is one, what is shown is marked read for its other devices.
        self.account: Callable[[], str | None] = lambda: None
        self._marked: dict[str, tuple[float, float]] = {}  # room key -> (ts marked, when: our clock)
        #: A room's last message shown within its second, sent when the second is over (room, ts).
        self._pending: dict[str, tuple[str, float]] = {}
        self._marks_lock = threading.Lock()  # (the receiver thread marks; a timer sends what waited)
        self._clock = clock
        self._schedule = schedule
        windows.on_read = self.mark

    def pump(self, conn: ChatConnection, leaving: Callable[[], bool]) -> str | None:
        """Handle messages until the server says bye (None) or the link fails (why)."""
        try:
            while True:
                msg = conn.next_message()
                if msg is None:
                    return "connection lost: the server closed the connection"
                if isinstance(msg, m.Bye):
                    if leaving():  # the answer to our quit: all we sent before it arrived
                        self._outbox.forget_unacked()
                    elif self.server_stopping:  # it will probably be back: as if the link broke
                        self.server_stopping = False  # (its notice said why: no separate bye line)
                        return f"the server stopped ({msg.reason})"
                    elif not self.kicked:  # (a kick's notice said it all: it is the reason we end with)
                        self._show(msg)
                    return None
                self.on_message(msg)
        except ClientError as exc:
            return str(exc)

    def on_message(self, msg: m.Message) -> None:
        if type(msg) in _SHARING and msg.file is not None:  # type: ignore[attr-defined]
            msg = self.file_shown(msg)  # type: ignore[arg-type]
        handler = _HANDLERS.get(type(msg))
        if handler is not None:
            found = handler(self, msg)
            if found is None:  # (taken care of: not for the screen)
                return
            msg = found
        self.track(msg)
        if not isinstance(msg, m.Pong) and self.windows.route(msg, self._show)[0]:
            self._changed()  # (the hotlist changed)
        elif isinstance(msg, m.ChatMessage) and not msg.replay:
            self.mark(msg.room, msg.ts, every=MARK_EVERY)  # (shown: read, as far as our account goes)

    def mark(self, room: str, ts: float, every: float = 0.0) -> None:
        """Tell the server ``room`` is read up to ``ts`` (logged in only). Live messages: at most once
        per ``every`` seconds a room (a busy room costs a frame a second, not one a message), the
        first at once and the last of the second when it is over, as ``notify.Notifier`` does."""
        if self.account() is None:
            return
        key = room_key(room)
        with self._marks_lock:
            last, when = self._marked.get(key, (0.0, -every))
            if ts <= last:
                return
            now = self._clock()
            if now - when < every:
                waiting = self._pending.get(key)
                self._pending[key] = (room, max(ts, waiting[1] if waiting else ts))
                if waiting is None:
                    self._schedule(when + every - now, lambda: self._mark_waiting(key))
                return
            self._marked[key] = (ts, now)
        self._outbox.urgent(m.ReadMarker(target=room, ts=ts))

    def _mark_waiting(self, key: str) -> None:
        with self._marks_lock:
            waiting = self._pending.pop(key, None)
        if waiting is not None:
            self.mark(*waiting)

    def _read_marker(self, msg: m.ReadMarker) -> None:
        """Another device of our account read up to ``msg.ts``: it no longer counts as new here."""
        if self.windows.read_elsewhere(msg.target, msg.ts):
            self._changed()  # (the hotlist changed)

    # -- the handlers, by type: each returns what goes on to the tracker and the screen --
    def _notice(self, msg: m.Notice) -> m.Message | None:
        if msg.event == "kick":  # not the end we chose: exit 1 saying why (once), and never reconnect
            self.kicked = True
            self.lost = msg.text
            return None
        if msg.event == "shutdown":
            self.server_stopping = True  # a restart, not the end of the chat
        if msg.event in ("link_down", "link_up"):
            self._cluster_link(msg.event == "link_up")
        if msg.event == "account" and msg.nick and nick_key(msg.nick) == nick_key(self.nick):
            return None  # (ours, told to our rooms for the others: ``loggedin``/``loggedout`` said it to us)
        return msg

    def _ping(self, msg: m.Ping) -> None:
        self._answer_ping(msg)

    def _upload_token(self, msg: m.UploadToken) -> None:
        self.upload_token(msg)

    def _token(self, msg: m.Token) -> None:
        self.token = msg.token  # after /nick: the right to resume, under the new name

    def _accepted(self, msg: m.Accepted) -> None:
        self._outbox.acknowledged(msg.room)
        self.positions.saw(msg.room or self.windows.room, msg.seq)  # (a server before rooms in acks: ours)

    def _reply(self, msg: m.Reply) -> m.Message:
        self._outbox.acknowledged(None)
        return msg

    def _error(self, msg: m.Error) -> m.Message | None:
        self.upload_refused(msg)
        if msg.code == "bad_login" and self.login_refused(msg.message):
            return None  # (the remembered login, forgotten: said in the client's words)
        if msg.code == "cluster_unavailable":
            # Not taken, not lost: it waits in the outbox until the server's cluster is back.
            self._cluster_link(False)
            self._outbox.refused()
            if self._outbox.unavailable():
                self._info("the server could not take your message now: it is sent when its cluster is back")
            return None  # (the server's own words, "try again", are not for a line that goes by itself)
        if msg.code in ("not_kept", "muted"):
            # Delivered but not kept, or refused while muted: the line's fate is known, not sent again.
            line = self._outbox.oldest_unconfirmed()
            self._outbox.acknowledged()
            if msg.code == "muted" and isinstance(line, (m.Say, m.Action)):
                return not_sent(line, msg)  # the screen showed it as sent ("You: ..."): say it was not
            return msg
        self._outbox.refused()
        return msg

    def _logged_in(self, msg: m.LoggedIn) -> m.Message:
        return self.logged_in(msg)

    def _logged_out(self, msg: m.LoggedOut) -> m.Message:
        return self.logged_out(msg)

    def _chat(self, msg: m.ChatMessage) -> m.Message | None:
        greeting = self.greeting_left > 0 and msg.replay is not None
        if greeting:
            self.greeting_left -= 1
        if greeting and msg.replay == "history" and not self.history_on_join:
            self.positions.saw(msg.room, msg.seq)  # (as good as seen: not shown on coming back either)
            return None
        if greeting and msg.replay == "history" and self.positions.seen(msg.room, msg.seq):
            return None  # on the screen already (back in a room we were in); /history asked shows all
        self.positions.saw(msg.room, msg.seq)
        if msg.replay == "missed" and msg.nick == self.nick:
            self._outbox.arrived(msg)  # it did arrive before the link broke
            return None  # our own line: a confirmation, not news
        return msg

    # -- the tracker, by type: each says whether the status changed --
    def track(self, msg: m.Message) -> None:
        """Keep our rooms, who is in them, the topic, our name and correspondents up to date."""
        tracker = _TRACKERS.get(type(msg))
        if tracker is not None and tracker(self, msg):
            self._changed()

    def _entered(self, msg: m.Welcome | m.Joined) -> bool:
        self.greeting_left = msg.replay  # the messages that follow at once are its replay
        rejoined = self.windows.entered(msg)
        self.rooms.add(msg.room)
        self.positions.entered(msg.room, msg.epoch, msg.seq)
        released = 0 if rejoined else self._outbox.entered(msg.room)  # (a room taken back: not focused)
        if released:
            self._info(f"sending {released} line(s) you typed for {msg.room} while elsewhere")
        return True

    def _parted(self, msg: m.Parted) -> bool:
        self.windows.parted(msg, self._show)
        self._outbox.entered(msg.focus)
        return True

    def _focused(self, msg: m.Focused) -> bool:
        self._outbox.entered(msg.room)  # the server's focus follows ours
        return True

    def _users(self, msg: m.Users) -> bool:
        self.windows.who(msg)
        return True

    def _room_list(self, msg: m.RoomList) -> bool:
        self.rooms = set(msg.names)
        return True

    def _private(self, msg: m.Private) -> bool:
        other = msg.to if msg.nick == self.nick else msg.nick
        if other != self.nick:
            self.correspondents = self.correspondents | {other}  # (replaced: read by the UI thread)
        return False

    def _renamed(self, msg: m.Notice) -> bool:
        if not msg.nick:
            return False
        if msg.event == "nick" and msg.previous:
            if msg.previous == self.nick:
                self.nick = msg.nick
            if msg.previous in self.correspondents:
                self.correspondents = (self.correspondents - {msg.previous}) | {msg.nick}
        return self.windows.notice(msg)


_HANDLERS: dict[type[m.Message], Handler] = {
    m.Notice: Inbound._notice,  # type: ignore[dict-item]
    m.Ping: Inbound._ping,  # type: ignore[dict-item]
    m.Token: Inbound._token,  # type: ignore[dict-item]
    m.UploadToken: Inbound._upload_token,  # type: ignore[dict-item]  (the transfer's: not for the screen)
    m.Accepted: Inbound._accepted,  # type: ignore[dict-item]
    m.Reply: Inbound._reply,  # type: ignore[dict-item]
    m.Error: Inbound._error,  # type: ignore[dict-item]
    m.ChatMessage: Inbound._chat,  # type: ignore[dict-item]
    m.LoggedIn: Inbound._logged_in,  # type: ignore[dict-item]  (its token: kept, never shown)
    m.LoggedOut: Inbound._logged_out,  # type: ignore[dict-item]
    m.ReadMarker: Inbound._read_marker,  # type: ignore[dict-item]  (another device's: not for the screen)
}
_TRACKERS: dict[type[m.Message], Callable[[Inbound, m.Message], bool]] = {
    m.Welcome: Inbound._entered,  # type: ignore[dict-item]
    m.Joined: Inbound._entered,  # type: ignore[dict-item]
    m.Parted: Inbound._parted,  # type: ignore[dict-item]
    m.Focused: Inbound._focused,  # type: ignore[dict-item]
    m.Users: Inbound._users,  # type: ignore[dict-item]
    m.RoomList: Inbound._room_list,  # type: ignore[dict-item]
    m.Private: Inbound._private,  # type: ignore[dict-item]
    m.Notice: Inbound._renamed,  # type: ignore[dict-item]
}
