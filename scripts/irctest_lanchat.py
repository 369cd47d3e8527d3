"""irctest's controller for lanchat: a fresh ``chatserver`` per test case, as irctest runs every server.

Used by ``scripts/irctest.py`` (``--controller irctest_lanchat``, with this
folder on ``PYTHONPATH``). Like irctest's own controllers (ngircd's), it
names the server ``My.Little.Server``, gives it the test's password, and
keeps nothing between cases, with irctest's operator (``OPER operuser
operpassword``). Accounts are the server's own (no services to run):
``registerUser`` makes one as a native client does, and the IRC port logs
in to it with SASL PLAIN. There is no TLS on irctest's certificate or
WebSocket, and no TLS-only port for its STS cases: those cases are told so
(``NotImplementedByController``) or fail; docs/irc.md says which and why.
"""

from __future__ import annotations

import atexit
import itertools
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Optional

from irctest.basecontrollers import BaseServerController, DirectoryBasedController
from irctest.runner import NotImplementedByController

ROOT = Path(__file__).resolve().parent.parent

#: Every server started, so that none outlives irctest: some cases start one and never have the
#: controller kill it (six servers were left running after each full run in CI).
_STARTED: list[subprocess.Popen] = []
#: A loopback source address per account made: the server allows an address a few registrations
#: an hour (docs/accounts.md), and irctest makes up to three accounts per case.
_SOURCES = (f"127.0.{n // 250}.{n % 250 + 2}" for n in itertools.count())


@atexit.register
def _stop_leftovers() -> None:
    for proc in _STARTED:
        if proc.poll() is None:
            proc.terminate()
    for proc in _STARTED:
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


class LanchatController(BaseServerController, DirectoryBasedController):
    software_name = "lanchat"
    supported_sasl_mechanisms = {"PLAIN", "SCRAM-SHA-256"}
    supports_sts = False

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: Optional[str],  # noqa: UP045 - irctest's signature
        ssl: bool,
        run_services: bool,
        faketime: Optional[str],  # noqa: UP045
        websocket_hostname: Optional[str],  # noqa: UP045
        websocket_port: Optional[int],  # noqa: UP045
    ) -> None:
        if websocket_hostname is not None or websocket_port is not None:
            raise NotImplementedByController("Websocket")
        if ssl:
            raise NotImplementedByController("TLS on irctest's own certificate")
        if self.test_config.account_registration_requires_email:
            raise NotImplementedByController("accounts with an email (none is asked for: docs/irc.md)")
        assert self.proc is None
        self.port = port
        self.hostname = hostname
        self.create_config()
        (_, chat_port) = self.get_hostname_and_port()
        self.chat_port = chat_port  # (for ``registerUser``: each call of the above picks a new port)
        cmd = [sys.executable, "-m", "chatserver", "--host", hostname, "--port", str(chat_port)]
        cmd += ["--irc-port", str(port), "--no-web", "--store", "memory", "--rate-limit", "0"]
        cmd += ["--max-per-ip", "10000", "--name", "My.Little.Server", "--no-advertise", "--log-level", "WARNING"]
        # (as irctest's cases expect of any server: a channel's maker is its operator, and a person is in no
        # channel until it joins one: lanchat puts everyone in #lobby, whose comings and goings are then not told)
        cmd += ["--room-operators", "--quiet-lobby"]
        assert self.directory
        with self.open_file("operpassword") as fd:  # (irctest's operator: OPER operuser operpassword)
            fd.write("operpassword\n")
        cmd += ["--op", "operuser", "--op-password-file", str(self.directory / "operpassword")]
        if password:
            assert self.directory
            with self.open_file("password") as fd:
                fd.write(password + "\n")
            cmd += ["--password-file", str(self.directory / "password")]
        self.proc = self.execute(cmd, cwd=ROOT)
        _STARTED.append(self.proc)

    def wait_for_services(self) -> None:
        self.wait_for_port()  # (the accounts are the server's own: up when it is)

    def registerUser(self, case: object, username: str, password: Optional[str] = None) -> None:  # noqa: UP045
        """Make the account ``username`` as a native client does (``register`` after its hello)."""
        assert password
        self.wait_for_port()  # (irctest makes accounts before its first client waits for the server)
        address, source = ("127.0.0.1", self.chat_port), (next(_SOURCES), 0)  # (the server listens on 0.0.0.0)
        with socket.create_connection(address, timeout=10, source_address=source) as sock:
            reader = sock.makefile("rb")
            hello = {"type": "hello", "version": 1, "nick": username}
            sock.sendall(json.dumps(hello).encode() + b"\n")
            for line in reader:
                frame = json.loads(line)
                if frame["type"] == "welcome":
                    sock.sendall(json.dumps({"type": "register", "password": password}).encode() + b"\n")
                elif frame["type"] == "loggedin":
                    return
                if frame["type"] == "error":
                    raise RuntimeError(f"registering {username}: {frame.get('message')}")
            raise RuntimeError(f"registering {username}: the server closed the connection")


def get_irctest_controller_class() -> type[LanchatController]:
    return LanchatController
