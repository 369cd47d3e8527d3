"""``chatserver`` command line: parse flags, start, wait for a signal, stop."""

from __future__ import annotations

import argparse
import faulthandler
import functools
import logging
import os
import queue
import signal
import ssl
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import redis

from common.nicks import nick_key, nick_problem
from common.rooms import room_key
from common.threads import wait_for_stop
from common.tls import fingerprint

from .advertise import Advertiser, should_advertise
from .certs import cert_der, ensure_self_signed, server_context
from .descriptors import fit_max_clients
from .host import HostSeat
from .modes import Mode
from .netinfo import lan_addresses
from .options import build_parser
from .retention import DEFAULT_DAYS, DEFAULT_MAX_MB, MB, Retention
from .roomlog import RoomLog
from .server import ChatServer, ServerConfig
from .store import SqliteStore, StoreError, default_path
from .web import DEFAULT_WEB_PORT, WebServer

if TYPE_CHECKING:
    from .cluster.hub import ClusterHub

log = logging.getLogger("chatserver")


def _read_secret(path: str, what: str) -> str:
    try:
        secret = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None
    if not secret:
        raise ValueError(f"the {what} file {path} is empty")
    return secret


def _security(args: argparse.Namespace) -> dict:
    """TLS context, passwords and operators from the flags (raises ValueError/OSError)."""
    out: dict = {}
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
        args.tls = True
    if args.tls:
        if args.tls_cert:
            cert, key = Path(args.tls_cert), Path(args.tls_key)
        else:
            cert, key, created = ensure_self_signed()
            args.tls_created = created
        args.tls_cert_path = cert
        out["tls_context"] = server_context(cert, key)
    if args.password_file:
        out["password"] = _read_secret(args.password_file, "password")
    elif os.environ.get("CHATSERVER_PASSWORD"):
        out["password"] = os.environ["CHATSERVER_PASSWORD"]
    if args.op_password_file:
        out["op_password"] = _read_secret(args.op_password_file, "operator password")
    if args.op:  # (each a valid nickname: see options.py)
        if "password" not in out and "op_password" not in out:
            raise ValueError("--op needs a password to authenticate operators: --password-file or --op-password-file")
        out["ops"] = frozenset(nick_key(n) for n in args.op)
    return out


def security_notes(args: argparse.Namespace, config: ServerConfig) -> list[str]:
    notes = []
    if config.tls_context is not None:
        made = " (new self-signed certificate)" if getattr(args, "tls_created", False) else ""
        notes.append(f"TLS certificate SHA-256 fingerprint{made}: {fingerprint(cert_der(args.tls_cert_path))}")
    if config.password is not None:
        notes.append("a password is required to join")
    return notes


def state_dir() -> Path:
    """``$XDG_STATE_HOME/chatserver`` (``~/.local/state/chatserver``)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "chatserver"


def _log_handler(interactive: bool) -> tuple[logging.StreamHandler, str | None]:
    """Where diagnostics go, and a line saying so when it is not stderr.

    With ``--interactive`` the terminal belongs to the host's chat client: a
    log line there would land in the middle of its screen, so the log goes
    to a file (appended, readable by its owner only).
    """
    if not interactive:
        return logging.StreamHandler(sys.stderr), None
    path = state_dir() / "interactive.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        stream = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a", encoding="utf-8")
    except OSError as exc:
        quiet = logging.StreamHandler(sys.stderr)
        quiet.setLevel(logging.ERROR)
        return quiet, f"Server log: cannot write {path} ({exc.strerror or exc}); only errors are shown, here"
    return logging.StreamHandler(stream), f"Server log: {path}"


def open_cluster(args: argparse.Namespace, keep: int) -> tuple[ClusterHub, str]:
    """The hub of a cluster node (``--cluster``), and the line that says where chat is kept.
    Raises ``ClusterError`` with a one-line reason."""
    from .cluster.hub import ClusterHub
    from .cluster.link import BadClusterURL, ClusterUnavailable, Link, check_url, shown

    try:
        link = Link(check_url(args.cluster))
    except BadClusterURL as exc:
        raise ClusterError(str(exc)) from None
    try:
        hub = ClusterHub(link, keep=keep, heartbeat=args.cluster_heartbeat)
    except ClusterUnavailable as exc:
        link.close()
        why = str(exc.__cause__ or exc)
        if any(word in why.lower() for word in ("auth", "password", "hello")):
            why += " (it wants a password: put it in the URL, redis://:PASSWORD@HOST:PORT/DB, or in REDIS_PASSWORD)"
        raise ClusterError(f"cannot reach the cluster's Redis at {shown(args.cluster)}: {why}") from None
    except redis.RedisError as exc:  # answers, but refuses: a password, a read-only replica...
        link.close()
        raise ClusterError(f"the cluster's Redis at {shown(args.cluster)} refused: {exc}") from None
    return hub, f"chat is kept in Redis at {shown(args.cluster)} (cluster {hub.cluster_id}, node {hub.node})"


class ClusterError(Exception):
    pass


def open_store(args: argparse.Namespace) -> tuple[RoomLog | None, str]:
    """The room log the flags ask for, and the line that says where chat is kept."""
    if args.store == "memory":
        return None, "chat is kept in memory only (--store memory): a restart forgets it"
    path = Path(args.store).expanduser() if args.store else default_path(args.name)
    return SqliteStore(path, room_key=room_key), f"chat is kept in {path}"


def retention_of(args: argparse.Namespace, store: SqliteStore) -> Retention:
    """The store's limits from the flags: a flag left out is its default, 0 is no limit."""
    days = DEFAULT_DAYS if args.retain_days is None else args.retain_days
    max_mb = DEFAULT_MAX_MB if args.store_max_mb is None else args.store_max_mb
    return Retention(store, days=days or None, messages=args.retain_messages, max_bytes=max_mb * MB if max_mb else None)


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def start_web(args: argparse.Namespace, server: ChatServer) -> WebServer | None:
    """The chat page's port, and the line that gives its address (after the ready line).

    Raises ``OSError`` if ``--web-port`` was asked for and cannot be had; the
    default port taken (another server on this machine) is a warning only.
    """
    if args.no_web or Mode(args.mode) is not Mode.CHAT:
        return None
    web = WebServer(server, args.host, DEFAULT_WEB_PORT if args.web_port is None else args.web_port, args.web_host)
    try:
        host, port = web.start()
    except OSError as exc:
        if args.web_port is not None:
            raise
        print(
            f"chatserver: warning: the chat page is not served: port {DEFAULT_WEB_PORT} is taken "
            f"({exc.strerror or exc}); choose one with --web-port",
            file=sys.stderr,
            flush=True,
        )
        return None
    scheme = web.scheme
    line = f"chat page for browsers: {scheme}://{_format_host(host)}:{port}/"
    if host in ("0.0.0.0", "::"):
        lan = lan_addresses(ipv6=host == "::")
        if lan:
            line += " — on the LAN: " + ", ".join(f"{scheme}://{a}:{port}/" for a in lan)
    print(line, flush=True)
    return web


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    mode = Mode(args.mode)
    if args.interactive:
        if mode is not Mode.CHAT:
            parser.error("--interactive works in chat mode only")
        problem = nick_problem(args.name)
        if problem:
            parser.error(f"--name {args.name!r} cannot be the host's nickname: {problem}")
    if mode is not Mode.CHAT:  # nothing to keep and no page: flags that ask for them are mistakes
        from_env = os.environ.get("CHATSERVER_CLUSTER") or None
        for flag, given in (
            ("--store", args.store),
            ("--cluster", args.cluster != from_env),
            ("--web-port", args.web_port is not None),
            ("--retain-days", args.retain_days),
            ("--retain-messages", args.retain_messages),
        ):
            if given:
                parser.error(f"--mode {mode.value} keeps nothing and serves no page: leave out {flag}")
    if args.cluster and args.store:
        parser.error("--cluster keeps chat in Redis: leave out --store")
    if args.cluster and (args.retain_days or args.retain_messages or args.store_max_mb):
        parser.error(
            "--retain-days, --retain-messages and --store-max-mb are for the SQLite store; a cluster keeps "
            "about the last 10000 entries of each room"
        )
    try:
        security = _security(args)
    except (OSError, ValueError, ssl.SSLError) as exc:
        print(f"chatserver: {exc}", file=sys.stderr)
        return 1
    handler, log_note = _log_handler(args.interactive)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=args.log_level, handlers=[handler])
    max_clients, fd_note = fit_max_clients(args.max_clients)
    if fd_note is not None:
        log.log(logging.INFO if max_clients == args.max_clients else logging.WARNING, fd_note)
    config = ServerConfig(
        host=args.host,
        port=args.port,
        name=args.name,
        mode=mode,
        max_frame=args.max_frame,
        max_backlog=args.max_backlog,
        login_timeout=args.login_timeout,
        ping_interval=args.ping_interval,
        idle_timeout=args.idle_timeout,
        rate_limit=args.rate_limit,
        rate_burst=args.rate_burst,
        max_clients=max_clients,
        max_per_ip=args.max_per_ip,
        rooms_per_hour=args.rooms_per_hour,
        keep=args.keep,
        history=min(args.history, args.keep),
        **security,
    )
    # Handlers first: a signal right after the ready line must stop us cleanly.
    # Not an Event: a handler's set() that interrupts the main thread inside
    # wait() deadlocks on the Event's own lock. SimpleQueue.put is reentrant.
    stop: queue.SimpleQueue[int] = queue.SimpleQueue()
    hub = None
    try:
        if mode is not Mode.CHAT:
            room_log, kept_line = None, f"nothing is kept ({mode.value} mode answers each message and keeps none)"
        elif args.cluster:
            hub, kept_line = open_cluster(args, config.keep)
            room_log: RoomLog | None = hub.cluster_log
        else:
            room_log, kept_line = open_store(args)
    except (StoreError, ClusterError) as exc:
        print(f"chatserver: {exc}", file=sys.stderr)
        return 2
    server = ChatServer(config, hub=hub, room_log=room_log)
    if hub is not None:
        hub.on_sanctions = server.sanctions.reload
        server.cluster_id, server.cluster_node = hub.cluster_id, hub.node
    seat = HostSeat(server, args.name) if args.interactive else None
    server.host_seat = seat
    on_stop = seat.stop_signal if seat is not None else stop.put
    # The host's terminal closing (SIGHUP) ends its chat; a plain server keeps SIGHUP's default.
    for sig in (signal.SIGINT, signal.SIGTERM, *((signal.SIGHUP,) if seat is not None else ())):
        signal.signal(sig, lambda signum, _frame: on_stop(signum))
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 PID`: every thread's stack to the log, to see what hangs
        signal.signal(signal.SIGUSR1, functools.partial(_dump_stacks, getattr(handler, "stream", sys.stderr)))
    try:
        host, port = server.start()
    except OSError as exc:
        print(
            f"chatserver: cannot listen on {_format_host(args.host)}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    line = f"{config.name} listening on {_format_host(host)}:{port}"
    if host in ("0.0.0.0", "::"):
        lan = lan_addresses(ipv6=host == "::")
        if lan:
            line += " — on the LAN: " + ", ".join(f"{a}:{port}" for a in lan)
    if mode is not Mode.CHAT:
        line += f" ({mode.description})"
    print(line, flush=True)
    try:
        web = start_web(args, server)
    except OSError as exc:
        print(
            f"chatserver: cannot serve the chat page on {_format_host(args.host)}:{args.web_port}: "
            f"{exc.strerror or exc} (choose another with --web-port, or --no-web)",
            file=sys.stderr,
        )
        server.shutdown()
        return 1
    for note in [*security_notes(args, config), kept_line, *([log_note] if log_note else [])]:
        print(note, flush=True)
    retention = None
    if isinstance(room_log, SqliteStore):
        retention = retention_of(args, room_log)
        retention.start()
    if config.tls_context is None and (config.password is not None or config.op_password is not None):
        print(
            "chatserver: warning: the password travels in clear text; anyone on the network path can read it "
            "(start with --tls to encrypt it)",
            file=sys.stderr,
            flush=True,
        )
    advertiser = None
    if not args.no_advertise and should_advertise(host):
        advertiser = Advertiser.for_server(server, web_port=web.address[1] if web is not None else None)
        advertiser.start()
    # Without a host, clients will reconnect when the server is back; with one,
    # its terminal is the chat: when that is over, it is over for everyone.
    reason = "server shutting down" if seat is None else f"{args.name} ended the chat"
    try:
        if seat is None:
            wait_for_stop(stop)
            log.info("signal received, shutting down")
        else:
            seat.start()
            reason = seat.wait_over()
    except OSError as exc:
        print(f"chatserver: cannot start the host's chat client: {exc.strerror or exc}", file=sys.stderr)
        return 1
    finally:
        if advertiser is not None:
            advertiser.close()
        if retention is not None:
            retention.stop()
        server.shutdown(reason, final=seat is not None)
    return seat.finish() if seat is not None else 0


def _dump_stacks(stream, _signum: int, _frame: object) -> None:  # noqa: ANN001
    """Every thread's stack to ``stream``, from the main thread holding the GIL,
    so that no other thread's frames change while they are read. (faulthandler's
    own handler dumps from whichever thread the signal lands on, with the others
    running: a frame read while it was being pushed crashed the server, the dump
    cut off mid-line. The main thread only waits, and a signal interrupts its waits.)"""
    stream.flush()
    faulthandler.dump_traceback(stream, all_threads=True)


def run() -> None:
    sys.exit(main())
