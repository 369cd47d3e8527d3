"""``chatserver --interactive``: the host takes part through the real client.

The server starts ``chatclient`` as a child process on the server's own
terminal and hands it one end of a connected loopback socket pair; the other
end is served like any connection, marked as the host's. Holding that socket
is the host's credential: nothing travels over the listening port, no secret
is written anywhere, the link needs no TLS and counts against no limit.

This module owns the host's seat: the child, the notices only the host gets
("Got a connection from ..."), and when the chat is over (the host left, or
the last peer said the exit word), which it reports to the main thread.
"""

from __future__ import annotations

import logging
import queue
import signal
import socket
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

from chatserver.rules.effects import SAID_EXIT_WORD
from common.hostport import format_address
from common.nicks import nick_key
from common.threads import stop_signals_blocked, wait_for_stop

if TYPE_CHECKING:
    from chatserver.net.server import ChatServer
    from chatserver.rules.participant import Participant

log = logging.getLogger(__name__)

WAITING = "Server is waiting for a connection..."
#: After the chat is over, how long the host's client has to show the last
#: words and exit before it is asked (SIGTERM), then made (SIGKILL), to.
CHILD_GRACE = 5.0
#: Exit statuses of the host's client that are an ordinary end (Ctrl-C, a signal).
_ORDINARY = {0, 130, 128 + signal.SIGTERM, 128 + signal.SIGHUP, -signal.SIGTERM, -signal.SIGHUP}


def loopback_pair() -> tuple[socket.socket, socket.socket]:
    """A connected TCP pair on 127.0.0.1: (server end, client end).

    A throwaway listener accepts exactly our own connect; a stranger's that
    races in first is recognised by its address and closed.
    """
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname()[:2], timeout=5.0)
        client.settimeout(None)
        ours = client.getsockname()
        listener.settimeout(5.0)
        while True:
            server_end, peer = listener.accept()
            if peer[:2] == ours[:2]:
                return server_end, client
            server_end.close()


class HostSeat:
    """The host's seat in a running ``ChatServer`` (attach before the child connects)."""

    def __init__(self, server: ChatServer, nick: str) -> None:
        self.server = server
        self.nick = nick
        #: Why the chat is over (the reason to tell everyone), once it is. A
        #: SimpleQueue: its put() is safe in a signal handler.
        self.events: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.participant: Participant | None = None  # once the host's client is registered
        self.child: subprocess.Popen | None = None

    # -- the child --------------------------------------------------------
    def start(self) -> None:
        """Serve our end of a private socket; start the client on the other, on this terminal."""
        server_end, client_end = loopback_pair()
        with stop_signals_blocked():
            threading.Thread(target=self.server.serve_host, args=(server_end,), name="host", daemon=True).start()
        fd = client_end.fileno()
        _, port = self.server.address
        argv = [
            sys.executable,
            "-m",
            "chatclient",
            f"127.0.0.1:{port}",  # names the server in the client's toolbar; the link is --fd
            "--fd",
            str(fd),
            "--name",
            self.nick,
            "--no-reconnect",
        ]
        try:
            self.child = subprocess.Popen(argv, pass_fds=(fd,))
        finally:
            client_end.close()  # the child has its own copy
        with stop_signals_blocked():
            threading.Thread(target=self._watch_child, name="host-child", daemon=True).start()

    def _watch_child(self) -> None:
        assert self.child is not None
        self.child.wait()
        self.events.put(f"{self.nick} ended the chat")

    def wait_over(self) -> str:
        """Block until the chat is over; returns the reason to tell everyone."""
        return wait_for_stop(self.events)

    def stop_signal(self, signum: int) -> None:
        """A stop signal to the server (safe in a signal handler): the chat is over."""
        self.events.put(f"{self.nick} ended the chat")

    def finish(self) -> int:
        """After the shutdown: let the client show its last words, then make sure it ends.

        Returns the server's exit status: 0 for an ordinary end.
        """
        child = self.child
        if child is None:
            return 1
        try:
            status = child.wait(CHILD_GRACE)
        except subprocess.TimeoutExpired:
            log.warning("the host's client did not exit after the chat ended; stopping it")
            child.terminate()
            try:
                status = child.wait(CHILD_GRACE)
            except subprocess.TimeoutExpired:
                child.kill()
                status = child.wait()
        return 0 if status in _ORDINARY else 1

    # -- what the server calls ---------------------------------------------
    def reserved(self, nick: str) -> bool:
        """Is ``nick`` the host's name (which nobody else may use)?"""
        return nick_key(nick) == nick_key(self.nick)

    def connection_from(self, addr: tuple) -> None:
        if self.participant is not None:
            self.participant.notice(f"Got a connection from {format_address(*addr[:2])}", event="connection")

    def joined(self, who: Participant) -> None:
        if who.is_host:
            self.participant = who
            if not self._peers():
                who.notice(WAITING, event="connection")

    def left(self, who: Participant, reason: str) -> None:
        if self.server.stopping:
            return
        if who.is_host:
            self.events.put(f"{self.nick} ended the chat")
            return
        if self.participant is None or self._peers():
            return
        if reason == SAID_EXIT_WORD:  # the last peer said "bye": the chat is over (not /quit)
            self.events.put(f"{who.nick} ended the chat")
        else:
            self.server.hub.flush(timeout=1.0)  # after the "left" notice, not before it
            self.participant.notice(WAITING, event="connection")

    def _peers(self) -> bool:
        """Is anyone but the host here?"""
        return any(not p.host for p in self.server.hub.sessions())
