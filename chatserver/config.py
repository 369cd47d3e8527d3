"""``ServerConfig``: everything a chatserver is told, each setting defined once.

A field with a flag carries it beside its default: the flag's name, checker
(``checkers.py``), help and group in ``--help``. ``options.py`` builds the
parser from these fields, in their order, and the config from what it parsed.
Fields without a flag are worked out at start (``cli.py``): the TLS context,
the passwords read from their files, the operators' nickname keys.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Callable
from typing import Any

import chatserver.checkers as check  # (not "from chatserver import": that reads as importing the package, in a circle)
from chatserver.backends.retention import DEFAULT_DAYS, DEFAULT_MAX_MB
from chatserver.backends.roomlog import DEFAULT_KEEP
from chatserver.core.roomquota import ROOMS_PER_HOUR
from chatserver.net.outbound import DEFAULT_MAX_BACKLOG
from chatserver.rules.crowd import ANNOUNCE_LIMIT
from chatserver.rules.modes import Mode
from common.framing import DEFAULT_MAX_FRAME

SECURITY = "security (see README: Security)"
LIMITS = "limits (see README: Limits and failure behaviour)"
KEPT = "where chat is kept (see README: Where your chat is kept)"
CLUSTER = "several servers (see README: Several servers)"


@dataclasses.dataclass(frozen=True)
class Flag:
    """How a field is given on the command line (``argparse.add_argument``'s terms)."""

    name: str  # --host
    help: str
    type: Callable[[str], Any] | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    action: str | None = None  # "store_true", "append"
    group: str | None = None  # the --help section; None: "options"
    exclusive: str | None = None  # flags sharing this word cannot be given together
    env: str | None = None  # an environment variable that sets the default
    convert: Callable[[Any], Any] | None = None  # from what argparse gives to the field's value


def option(default: Any, name: str, help: str, **how: Any) -> Any:
    """A config field given by flag ``name`` (see ``Flag``); a list default is a fresh empty list."""
    metadata = {"flag": Flag(name, help, **how)}
    if isinstance(default, list):
        assert not default, "only an empty list is a list default"
        return dataclasses.field(default_factory=list, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class ServerConfig:
    host: str = option("0.0.0.0", "--host", "address to bind; '::' for IPv6 and IPv4 (default 0.0.0.0)")
    port: int = option(5050, "--port", "TCP port; 0 picks a free one (default 5050)", type=check.port)
    web_port: int | None = option(
        None,
        "--web-port",
        "port of the chat page for browsers (http://HOST:PORT/); 0 picks a free one (default 5080)",
        type=check.port,
        metavar="PORT",
        exclusive="web",
    )
    no_web: bool = option(False, "--no-web", "do not serve the chat page", action="store_true", exclusive="web")
    irc_port: int | None = option(
        None,
        "--irc-port",
        "port for IRC clients (irc://HOST:PORT); 0 picks a free one (default 6667, 6697 with --tls)",
        type=check.port,
        metavar="PORT",
        exclusive="irc",
    )
    no_irc: bool = option(False, "--no-irc", "do not serve IRC clients", action="store_true", exclusive="irc")
    web_host: list[str] = option(
        [],
        "--web-host",
        "another name the chat page may be opened by (http://NAME:PORT/), besides this machine's addresses, "
        "localhost, its host name and HOSTNAME.local (repeat)",
        type=check.web_host,
        action="append",
        metavar="NAME",
    )
    room_operators: bool = option(
        False,
        "--room-operators",
        "whoever makes a room is its first operator: may set its modes and make others its operators "
        "(without it, only server operators do)",
        action="store_true",
    )
    quiet_lobby: bool = option(
        False,
        "--quiet-lobby",
        "do not announce people connecting to and disconnecting from the lobby, where everyone is put "
        "(who is there is still listed; the other rooms still hear of it)",
        action="store_true",
    )
    name: str = option("chatserver", "--name", "server name shown to users", type=check.server_name)
    mode: Mode = option(
        Mode.CHAT,
        "--mode",
        "chat: broadcast (default); reverse: answer each message reversed; ack: acknowledge each message",
        choices=tuple(mode.value for mode in Mode),
        convert=Mode,
    )
    interactive: bool = option(
        False,
        "--interactive",
        "take part in the chat from this terminal, as --name (chat mode only)",
        action="store_true",
    )
    log_level: str = option(
        "INFO",
        "--log-level",
        "diagnostics on stderr (default INFO); with --interactive, in a log file instead (named at start)",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
    )
    max_frame: int = option(
        DEFAULT_MAX_FRAME, "--max-frame", "longest line accepted", type=check.positive_int, metavar="BYTES"
    )
    max_backlog: int = option(
        DEFAULT_MAX_BACKLOG,
        "--max-backlog",
        "unsent bytes allowed per peer before it is dropped",
        type=check.positive_int,
        metavar="BYTES",
    )
    tls: bool = option(
        False,
        "--tls",
        "encrypt with TLS (a self-signed certificate is made if none given)",
        action="store_true",
        group=SECURITY,
    )
    tls_cert: str | None = option(None, "--tls-cert", "certificate chain for --tls", metavar="PEM", group=SECURITY)
    tls_key: str | None = option(None, "--tls-key", "private key for --tls-cert", metavar="PEM", group=SECURITY)
    password_file: str | None = option(
        None,
        "--password-file",
        "everyone needs the password in this file (or in $CHATSERVER_PASSWORD)",
        metavar="PATH",
        group=SECURITY,
    )
    op: list[str] = option(
        [],
        "--op",
        "an operator, who may /kick, /ban, /mute and /op (repeat)",
        type=check.nick,
        action="append",
        metavar="NICK",
        group=SECURITY,
    )
    op_password_file: str | None = option(
        None,
        "--op-password-file",
        "password operators log in with (default: the server password)",
        metavar="PATH",
        group=SECURITY,
    )
    login_timeout: float = option(
        10.0,
        "--login-timeout",
        "time to finish the handshake (default 10)",
        type=check.seconds,
        metavar="SECONDS",
        group=LIMITS,
    )
    ping_interval: float = option(
        30.0,
        "--ping-interval",
        "ping a silent native client after this long; 0 = never (default 30)",
        type=check.seconds_or_zero,
        metavar="SECONDS",
        group=LIMITS,
    )
    idle_timeout: float = option(
        90.0,
        "--idle-timeout",
        "drop a native client silent this long (default 90)",
        type=check.seconds,
        metavar="SECONDS",
        group=LIMITS,
    )
    rate_limit: float = option(
        5.0,
        "--rate-limit",
        "messages per second per connection; 0 turns it off (default 5)",
        type=check.rate,
        metavar="MSGS_PER_S",
        group=LIMITS,
    )
    rate_burst: int = option(
        20,
        "--rate-burst",
        "messages allowed in a burst (default 20)",
        type=check.positive_int,
        metavar="N",
        group=LIMITS,
    )
    max_clients: int = option(
        1000, "--max-clients", "connections at once (default 1000)", type=check.positive_int, metavar="N", group=LIMITS
    )
    max_per_ip: int = option(
        20,
        "--max-per-ip",
        "connections at once from one address (default 20)",
        type=check.positive_int,
        metavar="N",
        group=LIMITS,
    )
    rooms_per_hour: int = option(
        ROOMS_PER_HOUR,
        "--rooms-per-hour",
        f"rooms one address may make in an hour (default {ROOMS_PER_HOUR})",
        type=check.positive_int,
        metavar="N",
        group=LIMITS,
    )
    keep: int = option(
        DEFAULT_KEEP,
        "--keep",
        f"messages kept per room for reconnecting clients (default {DEFAULT_KEEP})",
        type=check.positive_int,
        metavar="N",
        group=LIMITS,
    )
    max_file_size: int = option(
        100,
        "--max-file-size",
        "the largest file one may share (/send, the page's attach button), in MiB (default 100)",
        type=check.megabytes,
        metavar="MIB",
        group=LIMITS,
    )
    file_quota: int = option(
        1024,
        "--file-quota",
        "shared files one person may have kept at once, in MiB; 0 for no limit (default 1024)",
        type=check.megabytes,
        metavar="MIB",
        group=LIMITS,
    )
    files_max_mb: int = option(
        10240,
        "--files-max-mb",
        "all shared files together take at most this, in MiB; 0 for no limit (default 10240)",
        type=check.megabytes,
        metavar="MIB",
        group=LIMITS,
    )
    history: int = option(
        50, "--history", "recent messages shown on joining a room (default 50)", type=check.nonneg_int, metavar="N"
    )
    announce_limit: int = option(
        ANNOUNCE_LIMIT,
        "--announce-limit",
        "in a room of more than N people, joins, leaves and renames are not announced one by one "
        f"(the room is told when it crosses N; kicks and bans still are) (default {ANNOUNCE_LIMIT})",
        type=check.positive_int,
        metavar="N",
        group=LIMITS,
    )
    store: str | None = option(
        None,
        "--store",
        "SQLite file keeping rooms, topics and messages across restarts, or 'memory' to keep nothing "
        "(default: $XDG_STATE_HOME/lanchat/NAME.sqlite3)",
        metavar="PATH",
        group=KEPT,
    )
    retain_days: float | None = option(
        None,
        "--retain-days",
        f"delete kept messages older than this; 0 keeps them forever (default {DEFAULT_DAYS:g})",
        type=check.days,
        metavar="DAYS",
        group=KEPT,
    )
    retain_messages: int | None = option(
        None,
        "--retain-messages",
        "keep at most the last N messages of each room",
        type=check.positive_int,
        metavar="N",
        group=KEPT,
    )
    store_max_mb: int | None = option(
        None,
        "--store-max-mb",
        f"the store's messages take at most this much; over it the oldest go first; 0 for no limit "
        f"(default {DEFAULT_MAX_MB})",
        type=check.megabytes,
        metavar="MIB",
        group=KEPT,
    )
    cluster: str | None = option(
        None,
        "--cluster",
        "share rooms, names and history with every server using this Redis: redis://HOST:PORT[/DB] or "
        "rediss://... (default: $CHATSERVER_CLUSTER; the password in the URL or $REDIS_PASSWORD)",
        metavar="URL",
        env="CHATSERVER_CLUSTER",
        group=CLUSTER,
    )
    cluster_heartbeat: float = option(
        5.0,
        "--cluster-heartbeat",
        "how often this server renews its lease in the cluster; one silent for 3 of these is "
        "taken for dead (default 5)",
        type=check.heartbeat,
        metavar="SECONDS",
        group=CLUSTER,
    )
    accounts: str = option(
        "optional",
        "--accounts",
        "registered names (/register, /login: docs/accounts.md): 'optional' (guests welcome, the default), "
        "'required' (guests refused), 'off'",
        choices=("optional", "required", "off"),
    )
    no_advertise: bool = option(
        False,
        "--no-advertise",
        "do not announce the server on the LAN (mDNS); a loopback-only server never does",
        action="store_true",
    )
    # Worked out at start, not given by a flag of their own:
    tls_context: ssl.SSLContext | None = None  # --tls
    password: str | None = None  # needed by everyone, when set (--password-file, $CHATSERVER_PASSWORD)
    op_password: str | None = None  # needed by operators, when set (else ``password``)
    ops: frozenset[str] = frozenset()  # nick_key() of the --op nicknames
    #: How long a silent new connection waits before it is asked for a nickname.
    plain_prompt_delay: float = 0.3


def flags() -> list[tuple[dataclasses.Field, Flag]]:
    """The fields given by a flag, with their flags, in ``--help`` order."""
    return [(f, f.metadata["flag"]) for f in dataclasses.fields(ServerConfig) if "flag" in f.metadata]
