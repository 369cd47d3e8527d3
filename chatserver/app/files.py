"""File sharing put together at start: where files are kept, the limits from the flags, the links' address.

Files live in ``files/STEM/`` beside the SQLite store ``STEM.sqlite3`` (one
directory per store: two servers of one machine never share theirs), or in
a temporary directory deleted at exit with ``--store memory`` (and in
reverse and ack modes, which serve no page). A cluster node keeps the files
shared through it in a temporary directory of its own (docs/cluster.md).
Files are deleted after ``--retain-days``, as messages are.
"""

from __future__ import annotations

from pathlib import Path

from chatserver.app.netinfo import lan_addresses
from chatserver.app.options import days_kept, store_path
from chatserver.config import ServerConfig
from chatserver.files.names import MIB
from chatserver.files.sharing import Sharing
from chatserver.files.store import FileStore
from chatserver.net.server import ChatServer
from chatserver.net.transfers import add_routes
from chatserver.net.web import WebServer
from common.hostport import format_host


def files_dir(config: ServerConfig) -> Path | None:
    """Where shared files are kept; None: a temporary directory."""
    if config.store == "memory" or config.cluster:  # (a cluster node: its files go with it, docs/cluster.md)
        return None
    path = store_path(config)
    return path.parent / "files" / path.stem


def link_host(config: ServerConfig, bound: str) -> str:
    """The address links in messages name: the first ``--web-host``, the address the page's
    port is bound to, or (bound to every address) this machine's first LAN address."""
    if config.web_host:
        host = config.web_host[0]
    elif bound not in ("0.0.0.0", "::"):
        host = bound
    else:
        lan = lan_addresses(ipv6=bound == "::")
        host = lan[0] if lan else "localhost"
    return format_host(host)


def start_files(config: ServerConfig, server: ChatServer, web: WebServer) -> Sharing | None:
    """File sharing on the page's port of ``web`` (not started yet): its routes, and ``server.files`` for the
    rules; None with ``--max-file-size 0`` (sharing off: no routes, no directory, ``/send`` says so)."""
    if config.max_file_size == 0:
        return None
    store = FileStore(files_dir(config), per_person=config.file_quota * MIB, total=config.files_max_mb * MIB)
    bases: list[str] = []

    def link_base() -> str:  # (the port is known once ``web`` has started; the address is looked up once)
        if not bases:
            host, port = web.address
            bases.append(f"{web.scheme}://{link_host(config, host)}:{port}")
        return bases[0]

    days = days_kept(config)  # (0: forever)
    sharing = Sharing(
        store,
        server.hub,
        max_size=config.max_file_size * MIB,
        web_port=lambda: web.address[1],
        link_base=link_base,
        retain=days * 86400 if days else None,
    )
    sharing.prune()
    add_routes(
        web.routes, sharing, web.security_headers, lambda: web.peers()
    )  # (before the port opens: no request finds them missing)
    server.files = web.sharing = sharing
    return sharing
