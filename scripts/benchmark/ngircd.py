"""Debian's ngircd as a target: where it is, and a config of its own on a private port."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

from benchmark.protocol import HOST
from benchmark.system import bench_home

NGIRCD_INSTALL = "apt-get install -y ngircd (Debian/Ubuntu, as root)"


def ngircd_binary() -> str | None:
    return shutil.which("ngircd") or next((p for p in ("/usr/sbin/ngircd",) if os.path.exists(p)), None)


def ngircd_command(conns: int) -> tuple[Path, list[str]]:
    """A config of its own for ngircd (a temporary directory, a free loopback port) and the command to run it
    in the foreground. Limits are lifted as its sample ngircd.conf documents: no cap on connections (per IP
    too) or channels, ``MaxPenaltyTime = 0`` (no flood penalties: the load sends as fast as TCP takes it),
    no DNS/ident/PAM lookups at connect, pings far apart."""
    binary = ngircd_binary()
    if not binary:
        raise RuntimeError(f"ngircd is not installed: {NGIRCD_INSTALL}")
    conf_dir = Path(tempfile.mkdtemp(prefix="ngircd-", dir=bench_home()))
    conf_dir.chmod(0o777)  # ngircd started as root runs as nobody: let it write its pid file here
    with socket.socket() as s:  # a free port (ngircd cannot be told port 0)
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    conf = conf_dir / "ngircd.conf"
    conf.write_text(
        "[Global]\n\tName = bench.irc\n\tInfo = lanchat bench\n\tAdminInfo1 = bench\n\tAdminInfo2 = bench\n"
        f"\tAdminEMail = bench@localhost\n\tListen = {HOST}\n\tPorts = {port}\n\tMotdPhrase = bench\n"
        f"\tPidFile = {conf_dir / 'ngircd.pid'}\n"
        "[Limits]\n\tMaxConnections = 0\n\tMaxConnectionsIP = 0\n\tMaxJoins = 0\n\tMaxPenaltyTime = 0\n"
        "\tPingTimeout = 600\n\tPongTimeout = 600\n"
        "[Options]\n\tDNS = no\n\tIdent = no\n\tPAM = no\n"
    )
    return conf_dir, [binary, "--nodaemon", "--config", str(conf)]


# ----------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------
