"""``chatserver`` command line: parse flags, start, wait for a signal, stop."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from common import __version__

from .netinfo import lan_addresses
from .server import ChatServer, ServerConfig

log = logging.getLogger("chatserver")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chatserver", description="Multi-user LAN chat server.")
    p.add_argument("--host", default="0.0.0.0", help="address to bind; '::' for IPv6 and IPv4 (default 0.0.0.0)")
    p.add_argument("--port", type=_port, default=5050, help="TCP port; 0 picks a free one (default 5050)")
    p.add_argument("--name", default="chatserver", help="server name shown to users")
    p.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="diagnostics on stderr (default INFO)",
    )
    p.add_argument("--max-frame", type=_positive_int, default=64 * 1024, metavar="BYTES", help="longest line accepted")
    p.add_argument(
        "--max-backlog",
        type=_positive_int,
        default=1024 * 1024,
        metavar="BYTES",
        help="unsent bytes allowed per peer before it is dropped",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ServerConfig(
        host=args.host, port=args.port, name=args.name, max_frame=args.max_frame, max_backlog=args.max_backlog
    )
    server = ChatServer(config)
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
    print(line, flush=True)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    log.info("signal received, shutting down")
    server.shutdown()
    return 0


def run() -> None:
    sys.exit(main())
