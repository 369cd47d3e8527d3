"""``chatserver``'s flags: what each means and which values it accepts."""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import re
import unicodedata

from common import __version__
from common.nicks import nick_problem

from .modes import Mode
from .retention import DEFAULT_DAYS, DEFAULT_MAX_MB
from .roomquota import ROOMS_PER_HOUR

#: Longest wait a flag may set: poll() takes milliseconds in a C int.
MAX_SECONDS = 1_000_000
MAX_SERVER_NAME = 64  # characters; the LAN announcement keeps 63 bytes of it


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        try:
            float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = _int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _nonneg_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _heartbeat(text: str) -> float:
    value = _float(text)
    if not 0.1 <= value <= 60:
        raise argparse.ArgumentTypeError(f"must be between 0.1 and 60 seconds, not {text}")
    return value


def _days(text: str) -> float:
    value = _float(text)
    if not 0 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"must be a number of days, or 0 for no limit, not {text}")
    return value


def _megabytes(text: str) -> int:
    value = _nonneg_int(text)
    if value > 1024 * 1024 * 1024:
        raise argparse.ArgumentTypeError(f"at most {1024**3} MiB, not {text}")
    return value


def _rate(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _seconds(text: str) -> float:
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"at most {MAX_SECONDS} seconds, not {text}")
    return value


def _seconds_or_zero(text: str) -> float:
    return 0.0 if _rate(text) == 0 else _seconds(text)


def _port(text: str) -> int:
    value = _int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, not {text}")
    return value


def _web_host(text: str) -> str:
    """A host name or address (no port), as a browser puts it in ``Host``."""
    name = text.strip().strip("[]").rstrip(".")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*", name):
            raise argparse.ArgumentTypeError(f"not a host name or address (and no port): {text!r}") from None
    return name


def _server_name(text: str) -> str:
    """The name users see: one line of visible text."""
    if not text.strip():
        raise argparse.ArgumentTypeError("a server name cannot be empty")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text):
        raise argparse.ArgumentTypeError(f"a server name cannot contain control characters: {text!r}")
    if len(text) > MAX_SERVER_NAME:
        raise argparse.ArgumentTypeError(f"a server name has at most {MAX_SERVER_NAME} characters")
    return text.strip()


def _nick(text: str) -> str:
    problem = nick_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"{problem}: {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chatserver", description="Multi-user LAN chat server.")
    p.add_argument("--host", default="0.0.0.0", help="address to bind; '::' for IPv6 and IPv4 (default 0.0.0.0)")
    p.add_argument("--port", type=_port, default=5050, help="TCP port; 0 picks a free one (default 5050)")
    web = p.add_mutually_exclusive_group()
    web.add_argument(
        "--web-port",
        type=_port,
        metavar="PORT",
        help="port of the chat page for browsers (http://HOST:PORT/); 0 picks a free one (default 5080)",
    )
    web.add_argument("--no-web", action="store_true", help="do not serve the chat page")
    p.add_argument(
        "--web-host",
        type=_web_host,
        action="append",
        default=[],
        metavar="NAME",
        help="another name the chat page may be opened by (http://NAME:PORT/), besides this machine's addresses, "
        "localhost, its host name and HOSTNAME.local (repeat)",
    )
    p.add_argument("--name", type=_server_name, default="chatserver", help="server name shown to users")
    p.add_argument(
        "--mode",
        choices=[mode.value for mode in Mode],
        default="chat",
        help="chat: broadcast (default); reverse: answer each message reversed; ack: acknowledge each message",
    )
    p.add_argument(
        "--interactive",
        action="store_true",
        help="take part in the chat from this terminal, as --name (chat mode only)",
    )
    p.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="diagnostics on stderr (default INFO); with --interactive, in a log file instead (named at start)",
    )
    p.add_argument("--max-frame", type=_positive_int, default=64 * 1024, metavar="BYTES", help="longest line accepted")
    p.add_argument(
        "--max-backlog",
        type=_positive_int,
        default=1024 * 1024,
        metavar="BYTES",
        help="unsent bytes allowed per peer before it is dropped",
    )
    sec = p.add_argument_group("security (see README: Security)")
    sec.add_argument(
        "--tls", action="store_true", help="encrypt with TLS (a self-signed certificate is made if none given)"
    )
    sec.add_argument("--tls-cert", metavar="PEM", help="certificate chain for --tls")
    sec.add_argument("--tls-key", metavar="PEM", help="private key for --tls-cert")
    sec.add_argument(
        "--password-file",
        metavar="PATH",
        help="everyone needs the password in this file (or in $CHATSERVER_PASSWORD)",
    )
    sec.add_argument(
        "--op",
        type=_nick,
        action="append",
        default=[],
        metavar="NICK",
        help="an operator, who may /kick, /ban, /mute and /op (repeat)",
    )
    sec.add_argument(
        "--op-password-file",
        metavar="PATH",
        help="password operators log in with (default: the server password)",
    )
    limits = p.add_argument_group("limits (see README: Limits and failure behaviour)")
    limits.add_argument(
        "--login-timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="time to finish the handshake (default 10)",
    )
    limits.add_argument(
        "--ping-interval",
        type=_seconds_or_zero,
        default=30.0,
        metavar="SECONDS",
        help="ping a silent native client after this long; 0 = never (default 30)",
    )
    limits.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=90.0,
        metavar="SECONDS",
        help="drop a native client silent this long (default 90)",
    )
    limits.add_argument(
        "--rate-limit",
        type=_rate,
        default=5.0,
        metavar="MSGS_PER_S",
        help="messages per second per connection; 0 turns it off (default 5)",
    )
    limits.add_argument(
        "--rate-burst", type=_positive_int, default=20, metavar="N", help="messages allowed in a burst (default 20)"
    )
    limits.add_argument(
        "--max-clients", type=_positive_int, default=1000, metavar="N", help="connections at once (default 1000)"
    )
    limits.add_argument(
        "--max-per-ip",
        type=_positive_int,
        default=20,
        metavar="N",
        help="connections at once from one address (default 20)",
    )
    limits.add_argument(
        "--rooms-per-hour",
        type=_positive_int,
        default=ROOMS_PER_HOUR,
        metavar="N",
        help=f"rooms one address may make in an hour (default {ROOMS_PER_HOUR})",
    )
    limits.add_argument(
        "--keep",
        type=_positive_int,
        default=1000,
        metavar="N",
        help="messages kept per room for reconnecting clients (default 1000)",
    )
    p.add_argument(
        "--history",
        type=_nonneg_int,
        default=50,
        metavar="N",
        help="recent messages shown on joining a room (default 50)",
    )
    kept = p.add_argument_group("where chat is kept (see README: Where your chat is kept)")
    kept.add_argument(
        "--store",
        metavar="PATH",
        help="SQLite file keeping rooms, topics and messages across restarts, or 'memory' to keep nothing "
        "(default: $XDG_STATE_HOME/lanchat/NAME.sqlite3)",
    )
    kept.add_argument(
        "--retain-days",
        type=_days,
        metavar="DAYS",
        help=f"delete kept messages older than this; 0 keeps them forever (default {DEFAULT_DAYS:g})",
    )
    kept.add_argument(
        "--retain-messages", type=_positive_int, metavar="N", help="keep at most the last N messages of each room"
    )
    kept.add_argument(
        "--store-max-mb",
        type=_megabytes,
        metavar="MIB",
        help=f"the store's messages take at most this much; over it the oldest go first; 0 for no limit "
        f"(default {DEFAULT_MAX_MB})",
    )
    cluster = p.add_argument_group("several servers (see README: Several servers)")
    cluster.add_argument(
        "--cluster",
        metavar="URL",
        default=os.environ.get("CHATSERVER_CLUSTER") or None,
        help="share rooms, names and history with every server using this Redis: redis://HOST:PORT[/DB] or "
        "rediss://... (default: $CHATSERVER_CLUSTER; the password in the URL or $REDIS_PASSWORD)",
    )
    cluster.add_argument(
        "--cluster-heartbeat",
        type=_heartbeat,
        default=5.0,
        metavar="SECONDS",
        help="how often this server renews its lease in the cluster; one silent for 3 of these is "
        "taken for dead (default 5)",
    )
    p.add_argument(
        "--no-advertise",
        action="store_true",
        help="do not announce the server on the LAN (mDNS); a loopback-only server never does",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p
