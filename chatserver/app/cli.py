"""``chatserver`` command line: parse flags, start, wait for a signal, stop."""

from __future__ import annotations

import dataclasses
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

from chatserver.accounts.service import Accounts
from chatserver.app import collector
from chatserver.app.advertise import Advertiser, should_advertise
from chatserver.app.certs import cert_der, ensure_self_signed, server_context
from chatserver.app.descriptors import fit_max_clients
from chatserver.app.files import start_files
from chatserver.app.host import HostSeat
from chatserver.app.netinfo import lan_addresses, own_addresses, own_names
from chatserver.app.options import days_kept, parse, store_path
from chatserver.backends.accounts import AccountStore, MemoryAccounts
from chatserver.backends.markers import MarkerStore, MemoryMarkers
from chatserver.backends.memory import memory_backends
from chatserver.backends.ports import Backends
from chatserver.backends.retention import DEFAULT_MAX_MB, MB, Prunable, Retention
from chatserver.backends.store import SqliteStore, StoreError
from chatserver.config import ServerConfig
from chatserver.net.irc.port import DEFAULT_IRC_PORT, DEFAULT_IRC_TLS_PORT, IrcPort
from chatserver.net.server import ChatServer
from chatserver.net.web import DEFAULT_WEB_PORT, WebServer
from chatserver.rules.modes import Mode
from common.hostport import format_host
from common.nicks import nick_key
from common.paths import server_state_dir
from common.rooms import room_key
from common.threads import run_within, wait_for_stop
from common.tls import fingerprint

if TYPE_CHECKING:
    from chatserver.cluster.hub import ClusterHub
    from chatserver.cluster.link import Link

log = logging.getLogger("chatserver")


def _read_secret(path: str, what: str) -> str:
    try:
        secret = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None
    if not secret:
        raise ValueError(f"the {what} file {path} is empty")
    return secret


@dataclasses.dataclass
class Certificate:
    """The certificate served with --tls: its file, and whether it was made just now."""

    path: Path
    created: bool = False


def _security(config: ServerConfig) -> tuple[dict, Certificate | None]:
    """The config's TLS context, passwords and operators, from their flags, and the
    certificate served (raises ValueError/OSError/ssl.SSLError)."""
    out: dict = {}
    certificate = None
    if config.tls_cert or config.tls_key:
        if not (config.tls_cert and config.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
        out["tls"] = True
    if config.tls or config.tls_cert:
        if config.tls_cert and config.tls_key:
            cert, key, created = Path(config.tls_cert), Path(config.tls_key), False
        else:
            cert, key, created = ensure_self_signed()
        certificate = Certificate(cert, created)
        out["tls_context"] = server_context(cert, key)
    if config.password_file:
        out["password"] = _read_secret(config.password_file, "password")
    elif os.environ.get("CHATSERVER_PASSWORD"):
        out["password"] = os.environ["CHATSERVER_PASSWORD"]
    if config.op_password_file:
        out["op_password"] = _read_secret(config.op_password_file, "operator password")
    if config.op:  # (each a valid nickname: see checkers.py)
        if "password" not in out and "op_password" not in out:
            raise ValueError("--op needs a password to authenticate operators: --password-file or --op-password-file")
        out["ops"] = frozenset(nick_key(n) for n in config.op)
    return out, certificate


def security_notes(config: ServerConfig, certificate: Certificate | None) -> list[str]:
    notes = []
    if config.tls_context is not None and certificate is not None:
        made = " (new self-signed certificate)" if certificate.created else ""
        notes.append(f"TLS certificate SHA-256 fingerprint{made}: {fingerprint(cert_der(certificate.path))}")
    if config.password is not None:
        notes.append("a password is required to join")
    return notes


def _log_handler(interactive: bool) -> tuple[logging.StreamHandler, str | None]:
    """Where diagnostics go, and a line saying so when it is not stderr.

    With ``--interactive`` the terminal belongs to the host's chat client: a
    log line there would land in the middle of its screen, so the log goes
    to a file (appended, readable by its owner only).
    """
    if not interactive:
        return logging.StreamHandler(sys.stderr), None
    path = server_state_dir() / "interactive.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        stream = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a", encoding="utf-8")
    except OSError as exc:
        quiet = logging.StreamHandler(sys.stderr)
        quiet.setLevel(logging.ERROR)
        return quiet, f"Server log: cannot write {path} ({exc.strerror or exc}); only errors are shown, here"
    return logging.StreamHandler(stream), f"Server log: {path}"


def open_cluster(config: ServerConfig) -> tuple[ClusterHub, Link, str]:
    """The hub of a cluster node (``--cluster``), its link to Redis, and the line that says where chat is kept.
    Raises ``ClusterError`` with a one-line reason."""
    import redis  # here, not at the top: a server that is no cluster node starts ~0.2 s of CPU sooner without it

    from chatserver.cluster.hub import ClusterHub
    from chatserver.cluster.link import BadClusterURL, ClusterUnavailable, Link, check_url, shown

    try:
        link = Link(check_url(config.cluster))
    except BadClusterURL as exc:
        raise ClusterError(str(exc)) from None
    try:
        hub = ClusterHub(link, keep=config.keep, heartbeat=config.cluster_heartbeat)
    except ClusterUnavailable as exc:
        link.close()
        why = str(exc.__cause__ or exc)
        if any(word in why.lower() for word in ("auth", "password", "hello")):
            why += " (it wants a password: put it in the URL, redis://:PASSWORD@HOST:PORT/DB, or in REDIS_PASSWORD)"
        raise ClusterError(f"cannot reach the cluster's Redis at {shown(config.cluster)}: {why}") from None
    except redis.RedisError as exc:  # answers, but refuses: a password, a read-only replica...
        link.close()
        raise ClusterError(f"the cluster's Redis at {shown(config.cluster)} refused: {exc}") from None
    return hub, link, f"chat is kept in Redis at {shown(config.cluster)} (cluster {hub.cluster_id}, node {hub.node})"


def share_page_addresses(link: Link, node: str, web: WebServer) -> None:
    """This node's page addresses into the cluster's Redis, and the others' into the page's ``/info``."""
    from chatserver.cluster.link import ClusterUnavailable
    from chatserver.cluster.pages import PageAddresses

    host, port = web.address
    hosts = lan_addresses(ipv6=host == "::") if host in ("0.0.0.0", "::") else [host]
    pages = PageAddresses(link, node)
    try:
        pages.publish([f"{web.scheme}://{format_host(h)}:{port}/" for h in hosts])
    except ClusterUnavailable as exc:
        log.warning("the other nodes' pages will not know this one: %s", exc)
    web.peers = pages.others


class ClusterError(Exception):
    pass


def open_store(config: ServerConfig) -> tuple[Backends, str]:
    """The backends the flags ask for, and the line that says where chat is kept."""
    if config.store == "memory":
        return memory_backends(), "chat is kept in memory only (--store memory): a restart forgets it"
    path = store_path(config)
    store = SqliteStore(path, room_key=room_key)  # (one file keeps all three, and is pruned)
    return Backends(store, store, store, pruner=store), f"chat is kept in {path}"


def open_accounts(config: ServerConfig, backends: Backends, link: Link | None) -> Accounts | None:
    """The accounts service (``--accounts``), keeping accounts where the chat is kept: the
    cluster's Redis, the SQLite file's tables, else memory (``docs/accounts.md``)."""
    if config.accounts == "off" or config.mode is not Mode.CHAT:
        return None
    broker = backends.broker
    store: AccountStore
    if link is not None:
        from chatserver.cluster.redisaccounts import RedisAccounts  # (as the cluster's other modules: when asked for)

        store = RedisAccounts(link)
    else:
        store = broker.accounts if isinstance(broker, SqliteStore) else MemoryAccounts()
    return Accounts(store, required=config.accounts == "required", ops=config.ops)


def open_markers(backends: Backends, link: Link | None) -> MarkerStore:
    """The accounts' read markers, kept where the accounts are: Redis, the SQLite file, else memory."""
    if link is not None:
        from chatserver.cluster.redismarkers import RedisMarkers  # (as redisaccounts: when asked for)

        return RedisMarkers(link)
    return backends.broker.markers if isinstance(backends.broker, SqliteStore) else MemoryMarkers()


def retention_of(config: ServerConfig, store: Prunable) -> Retention:
    """The store's limits from the flags: a flag left out is its default, 0 is no limit."""
    days = days_kept(config)
    max_mb = DEFAULT_MAX_MB if config.store_max_mb is None else config.store_max_mb
    return Retention(
        store, days=days or None, messages=config.retain_messages, max_bytes=max_mb * MB if max_mb else None
    )


def start_web(config: ServerConfig, server: ChatServer) -> WebServer | None:
    """The chat page's port, and the line that gives its address (after the ready line).

    Raises ``OSError`` if ``--web-port`` was asked for and cannot be had; the
    default port taken (another server on this machine) is a warning only.
    """
    if config.no_web or config.mode is not Mode.CHAT:
        return None
    port = DEFAULT_WEB_PORT if config.web_port is None else config.web_port
    names = {*config.web_host, *own_names(server.address[1]), *own_addresses(config.host)}  # (this machine's)
    web = WebServer(server, config.host, port, names)
    sharing = start_files(config, server, web)
    try:
        host, port = web.start()
    except OSError as exc:
        if sharing is not None:
            sharing.store.close()
        if config.web_port is not None:
            raise
        print(
            f"chatserver: warning: the chat page is not served: port {DEFAULT_WEB_PORT} is taken "
            f"({exc.strerror or exc}); choose one with --web-port",
            file=sys.stderr,
            flush=True,
        )
        return None
    scheme = web.scheme
    line = f"chat page for browsers: {scheme}://{format_host(host)}:{port}/"
    if host in ("0.0.0.0", "::"):
        lan = lan_addresses(ipv6=host == "::")
        if lan:
            line += " — on the LAN: " + ", ".join(f"{scheme}://{a}:{port}/" for a in lan)
    print(line, flush=True)
    return web


def start_irc(config: ServerConfig, server: ChatServer) -> IrcPort | None:
    """The IRC port (its line, ``irc_line``, is printed after the start notes).

    Raises ``OSError`` if ``--irc-port`` was asked for and cannot be had; the
    default port taken (another IRC server here) is a warning only.
    """
    if config.no_irc or config.mode is not Mode.CHAT:
        return None
    default = DEFAULT_IRC_TLS_PORT if config.tls_context is not None else DEFAULT_IRC_PORT
    irc = IrcPort(server, config.host, default if config.irc_port is None else config.irc_port)
    try:
        irc.start()
    except OSError as exc:
        if config.irc_port is not None:
            raise
        print(
            f"chatserver: warning: IRC clients are not served: port {default} is taken "
            f"({exc.strerror or exc}); choose one with --irc-port",
            file=sys.stderr,
            flush=True,
        )
        return None
    return irc


def irc_line(irc: IrcPort) -> str:
    """``IRC clients: irc://HOST:PORT``, with the LAN's addresses when bound to all."""
    host, port = irc.address
    line = f"IRC clients: {irc.scheme}://{format_host(host)}:{port}"
    if host in ("0.0.0.0", "::"):
        lan = lan_addresses(ipv6=host == "::")
        if lan:
            line += " — on the LAN: " + ", ".join(f"{irc.scheme}://{a}:{port}" for a in lan)
    return line


def _cannot_serve(what: str, host: str, port: int | None, option: str, exc: OSError) -> None:
    """The line for a port of ours that cannot be opened (the page's, the IRC one)."""
    print(
        f"chatserver: cannot serve {what} on {format_host(host)}:{port}: "
        f"{exc.strerror or exc} (choose another with --{option}-port, or --no-{option})",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    config = parse(argv)
    mode = config.mode
    try:
        security, certificate = _security(config)
    except (OSError, ValueError, ssl.SSLError) as exc:
        print(f"chatserver: {exc}", file=sys.stderr)
        return 1
    handler, log_note = _log_handler(config.interactive)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=config.log_level, handlers=[handler])
    max_clients, fd_note = fit_max_clients(config.max_clients)
    if fd_note is not None:
        log.log(logging.INFO if max_clients == config.max_clients else logging.WARNING, fd_note)
    config = dataclasses.replace(config, max_clients=max_clients, history=min(config.history, config.keep), **security)
    # Handlers first: a signal right after the ready line must stop us cleanly.
    # Not an Event: a handler's set() that interrupts the main thread inside
    # wait() deadlocks on the Event's own lock. SimpleQueue.put is reentrant.
    stop: queue.SimpleQueue[int] = queue.SimpleQueue()
    hub = link = None
    try:
        if mode is not Mode.CHAT:
            backends = memory_backends()
            kept_line = f"nothing is kept ({mode.value} mode answers each message and keeps none)"
        elif config.cluster:
            hub, link, kept_line = open_cluster(config)
            backends = hub.backends
        else:
            backends, kept_line = open_store(config)
    except (StoreError, ClusterError) as exc:
        print(f"chatserver: {exc}", file=sys.stderr)
        return 2
    accounts = open_accounts(config, backends, link)
    server = ChatServer(config, hub=hub, backends=backends, accounts=accounts, markers=open_markers(backends, link))
    collector.tune()  # (after start-up: see collector.py)
    if hub is not None:
        hub.on_sanctions = server.sanctions.reload
        server.cluster_id, server.cluster_node = hub.cluster_id, hub.node
    seat = HostSeat(server, config.name) if config.interactive else None
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
            f"chatserver: cannot listen on {format_host(config.host)}:{config.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    line = f"{config.name} listening on {format_host(host)}:{port}"
    if host in ("0.0.0.0", "::"):
        lan = lan_addresses(ipv6=host == "::")
        if lan:
            line += " — on the LAN: " + ", ".join(f"{a}:{port}" for a in lan)
    if mode is not Mode.CHAT:
        line += f" ({mode.description})"
    print(line, flush=True)
    try:
        web = start_web(config, server)
    except OSError as exc:
        _cannot_serve("the chat page", config.host, config.web_port, "web", exc)
        server.shutdown()
        return 1
    if hub is not None and link is not None and web is not None:  # a cluster node's page says where the others are
        share_page_addresses(link, hub.node, web)
    try:
        irc = start_irc(config, server)
    except OSError as exc:
        _cannot_serve("IRC clients", config.host, config.irc_port, "irc", exc)
        server.shutdown()
        return 1
    for note in [*security_notes(config, certificate), kept_line, *([log_note] if log_note else [])]:
        print(note, flush=True)
    if irc is not None:  # (after the notes: the lines before them are read in their order by scripts)
        print(irc_line(irc), flush=True)
    retention = None
    if backends.pruner is not None:
        retention = retention_of(config, backends.pruner)
        retention.start()
    if config.tls_context is None and (config.password is not None or config.op_password is not None):
        print(
            "chatserver: warning: the password travels in clear text; anyone on the network path can read it "
            "(start with --tls to encrypt it)",
            file=sys.stderr,
            flush=True,
        )
    advertiser = None
    if not config.no_advertise and should_advertise(host):
        advertiser = Advertiser.for_server(
            server,
            web_port=web.address[1] if web is not None else None,
            irc_port=irc.address[1] if irc is not None else None,
        )
        advertiser.start()
    # Without a host, clients will reconnect when the server is back; with one,
    # its terminal is the chat: when that is over, it is over for everyone.
    reason = "server shutting down" if seat is None else f"{config.name} ended the chat"
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
        stream = getattr(handler, "stream", sys.stderr)
        overrun = functools.partial(_stop_anyway, stream)
        run_within(functools.partial(server.shutdown, reason, final=seat is not None), SHUTDOWN_LIMIT, overrun)
        if web is not None and web.sharing is not None:
            web.sharing.store.close()  # (a temporary directory, with --store memory, goes with the server)
    return seat.finish() if seat is not None else 0


#: The longest a stop may take (the shutdown's own waits are bounded well within it).
SHUTDOWN_LIMIT = 4.0


def _stop_anyway(stream) -> None:  # noqa: ANN001
    """The shutdown did not end in ``SHUTDOWN_LIMIT`` s (something waits that never ends):
    say so with every thread's stack, and stop all the same. Written straight to the
    descriptor, not through logging: the thread that is stuck may hold logging's locks."""
    try:
        fd = stream.fileno()
        os.write(fd, f"chatserver: shutdown did not finish within {SHUTDOWN_LIMIT:g} s: stopping anyway\n".encode())
        faulthandler.dump_traceback(fd, all_threads=True)
    finally:
        os._exit(1)


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
