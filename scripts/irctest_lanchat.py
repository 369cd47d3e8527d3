"""irctest's controller for lanchat: a fresh ``chatserver`` per test case, as irctest runs every server.

Used by ``scripts/irctest.py`` (``--controller irctest_lanchat``, with this
folder on ``PYTHONPATH``). Like irctest's own controllers (ngircd's), it
names the server ``My.Little.Server``, gives it the test's password, and
keeps nothing between cases, with irctest's operator (``OPER operuser
operpassword``). lanchat has no IRC services (accounts) and no TLS on
irctest's certificate or WebSocket: those cases are told so
(``NotImplementedByController``); docs/irc.md says what fails and why.
"""

from __future__ import annotations

import atexit
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
    supported_sasl_mechanisms: set[str] = set()
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
        if run_services:
            raise NotImplementedByController("services (accounts)")
        assert self.proc is None
        self.port = port
        self.hostname = hostname
        self.create_config()
        (_, chat_port) = self.get_hostname_and_port()
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


def get_irctest_controller_class() -> type[LanchatController]:
    return LanchatController
