"""``chatclient`` command line: pick a front end, connect, register, run."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import ssl
import sys
import typing

from common import __version__
from common import messages as m
from common.nicks import nick_key, nick_problem
from common.plain import render_plain
from common.safetext import neutralise

from .accounts import Account
from .addresses import DEFAULT_PORT, Address, format_address, format_addresses, parse_addresses
from .arrival import Arrival
from .asking import ask_name, confirm_certificate, login_name, read_password, warn_in_clear
from .config import Config, ConfigError
from .config import load as load_config
from .connection import ChatConnection
from .discovery import DiscoveryError, browse, choose, format_found, servers
from .errors import ClientError, LoginRefused, Throttled, WrongPassword
from .files import send_file_once
from .linemode import Interrupted, LinePrinter, finish, run_line_mode, show_line
from .local import Preferences
from .logins import Logins
from .oneshot import one_shot_message, send_once
from .reconnect import first_answering
from .trust import KnownServers, TlsOptions

if typing.TYPE_CHECKING:
    from prompt_toolkit.input import Input

    from .session import ChatSession


def port_number(text: str) -> int:
    """``--port``: a TCP port a server can listen on (argparse names the flag)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{text} is not a port (1-65535)")
    return port


def cafile_problem(path: str) -> str | None:
    """Why ``--cafile`` cannot be used (checked before connecting), or None."""
    try:
        ssl.create_default_context(cafile=path)
    except OSError as exc:
        if isinstance(exc, ssl.SSLError):
            return "no PEM certificate in it"
        return (exc.strerror or str(exc)).lower()
    except ValueError as exc:  # e.g. a path with a NUL
        return str(exc)
    return None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chatclient",
        description="Terminal chat client. Without a terminal on stdin it runs in line mode.",
    )
    p.add_argument(
        "address",
        nargs="?",
        metavar="HOST[:PORT][,HOST[:PORT]...]",
        help="server; several, comma-separated, are one server's nodes: the first that answers is used, "
        "the others after a lost link; without it, servers on the LAN are looked for (then 127.0.0.1:5050)",
    )
    p.add_argument("--port", type=port_number, help=f"server port (default {DEFAULT_PORT})")
    p.add_argument("--name", help="your nickname (asked for on a terminal if not given)")
    p.add_argument("--no-timestamps", action="store_true", help="hide HH:MM before messages")
    p.add_argument("--tls", action="store_true", help="encrypt; trust the server's certificate on first use")
    p.add_argument("--cafile", metavar="PEM", help="verify the server against this CA certificate (implies --tls)")
    p.add_argument("--password-file", metavar="PATH", help="the server's password (asked for on a terminal otherwise)")
    p.add_argument(
        "--no-reconnect",
        action="store_true",
        help="exit when the connection is lost instead of reconnecting",
    )
    p.add_argument(
        "--send",
        metavar="TEXT",
        help="send one message, print the server's reply (or a delivery confirmation), and exit",
    )
    p.add_argument(
        "--send-file",
        metavar="PATH",
        help="share one file with the room (or --to), print where it went, and exit",
    )
    p.add_argument("--to", metavar="#ROOM|NICK", default="", help="with --send-file: the room or person it goes to")
    p.add_argument("--list", action="store_true", help="list the chat servers on the LAN and exit")
    # chatserver --interactive: a socket already connected to it, inherited as this descriptor.
    p.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def list_servers() -> int:
    """``--list``: what the LAN announces."""
    try:
        found = servers(browse())
    except DiscoveryError as exc:
        print(f"chatclient: cannot look for servers: {exc}", file=sys.stderr)
        return 1
    if not found:
        print("No chat servers found on the LAN.")
    for line in format_found(found):
        print(line)
    return 0


def discover(interactive: bool) -> tuple[list[Address], bool]:
    """A server to connect to when no address was given: (its addresses, uses TLS).
    The nodes of one cluster are one server with several addresses."""
    try:
        found = servers(browse())
    except DiscoveryError:
        found = []
    if len(found) > 1:
        if not interactive:
            listed = "; ".join(f"{neutralise(f.name)} at {f.address}" for f in found)
            raise ClientError(f"several chat servers on the LAN ({listed}): give one as HOST[:PORT]")
        chosen = choose(found)
        if chosen is None:
            raise ClientError("no server chosen")
        found = [chosen]
    if found:
        f = found[0]
        print(f"Found {neutralise(f.name)} at {f.address}.", file=sys.stderr)
        return list(f.endpoints), f.tls
    print(
        f"No chat server found on the LAN; trying this machine (127.0.0.1:{DEFAULT_PORT}). "
        "To reach another: chatclient HOST[:PORT]",
        file=sys.stderr,
    )
    return [("127.0.0.1", DEFAULT_PORT)], False


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.send is not None:
        if not args.send.strip():
            parser.error("--send needs a non-empty message")
        args.send_msg = one_shot_message(args.send)
        if isinstance(args.send_msg, str):
            parser.error(f"--send: {args.send_msg}")
    if args.name is not None and (problem := nick_problem(args.name)):
        parser.error(f"--name: {problem}")
    if args.cafile is not None and (problem := cafile_problem(args.cafile)):
        parser.error(f"--cafile {args.cafile}: {problem}")
    try:
        args.config = load_config()
    except ConfigError as exc:
        parser.error(f"config: {exc}")
    if args.list:
        return list_servers()
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    target = args.address or args.config.server
    try:
        addresses = parse_addresses(target, args.port)
    except ValueError as exc:
        parser.error(str(exc))
    args.found_tls = False  # (a server found on the LAN that says it speaks TLS)
    if target is None and args.port is None and args.fd is None:
        try:
            addresses, args.found_tls = discover(interactive)
        except ClientError as exc:
            print(f"chatclient: {exc}", file=sys.stderr)
            return 1

    def on_signal(signum: int, _frame: object) -> None:
        raise Interrupted(128 + signum)

    # From the start, so a signal during connect ends as cleanly as one later
    # (the terminal UI installs its own handlers on its event loop).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        return _run(args, addresses, interactive)
    except Interrupted as exc:
        return exc.status
    except ClientError as exc:
        print(f"chatclient: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print(file=sys.stderr)
        return 130


def _run(args: argparse.Namespace, addresses: list[Address], interactive: bool) -> int:
    default_name = login_name()
    one_shot = args.send is not None or args.send_file is not None
    config: Config = args.config
    logins = Logins()
    # A login remembered for this server: its account's name, unless another name was asked for.
    remembered = logins.get(addresses) if args.fd is None else None
    nick = args.name or config.name or (remembered.account if remembered is not None else None)
    nick = nick or (ask_name(default_name) if interactive and not one_shot else default_name)
    if remembered is not None and nick_key(remembered.account) != nick_key(nick):
        remembered = None
    if interactive and not one_shot and args.fd is None:
        print(f"Connecting to {format_addresses(addresses)}...", flush=True)
    known = KnownServers()
    wants_tls = (
        args.tls
        or args.cafile
        or config.tls
        or args.found_tls
        or any(known.knows(format_address(host, port)) for host, port in addresses)
    )
    confirm = confirm_certificate if interactive and not one_shot else None
    tls = TlsOptions(cafile=args.cafile, confirm=confirm) if wants_tls else None
    password = read_password(args.password_file) if args.password_file else None
    if password is not None and tls is None:
        warn_in_clear()

    arrival = Arrival(
        nick,
        password=password,
        remembered=remembered,
        logins=logins,
        addresses=addresses,
        interactive=interactive,
        one_shot=one_shot,
        in_clear=tls is None,
    )

    def registered(conn: ChatConnection) -> tuple[ChatConnection, m.Welcome]:
        try:
            return conn, arrival.register(conn)
        except BaseException:
            conn.close()
            raise

    if args.fd is not None:
        conn, welcome = registered(_inherited(args.fd, *addresses[0]))
    else:  # the first of the server's addresses that answers and takes us
        while True:
            try:
                conn, welcome = first_answering(addresses, lambda host, port: registered(_connect(host, port, tls)))
                break
            except (WrongPassword, LoginRefused) as exc:  # (the server may hang up: a new connection)
                arrival.again(exc)
            except Throttled as exc:  # (a login held for a while: waited for, then a new connection)
                arrival.held(exc)
    if args.send_file is not None:
        return send_file_once(conn, args.send_file, args.to, conn.tls.context() if conn.tls is not None else None)
    if one_shot:
        return send_once(conn, args.send_msg, welcome.nick)
    from .session import ChatSession  # (imported here: --send and --list start faster without it)

    account = Account(addresses, logins if args.fd is None else None, sent=arrival.remembered)
    session = ChatSession(
        conn, welcome, reconnect=not args.no_reconnect, password=arrival.password, addresses=addresses, account=account
    )
    prefs = Preferences(bell=config.bell, ignored={nick_key(n) for n in config.ignore})
    keyboard = None
    if interactive:
        from .keyboard import terminal_input

        keyboard = terminal_input()
    # The terminal raw before "Connected" is said, until the UI ends: a Ctrl-C pressed before the
    # prompt is drawn is then a key waiting for it (which quits politely), never a signal that
    # could come in the instant the event loop starts and be lost.
    try:
        with keyboard.raw_mode() if keyboard is not None else contextlib.nullcontext():
            return _front_end(args, session, welcome, prefs, keyboard)
    except Interrupted as exc:  # a signal before the front end took over
        session.leave()
        return finish(None, session.unsent(), exc.status)


def _front_end(
    args: argparse.Namespace, session: ChatSession, welcome: m.Welcome, prefs: Preferences, keyboard: Input | None
) -> int:
    """The terminal UI (``keyboard``: the terminal, raw) or line mode, for a session just connected."""
    config: Config = args.config
    print("Connected to the server.", flush=True)
    if welcome.mode != "chat":
        words = " or ".join(repr(w) for w in welcome.exit_words)
        print(f"* This server is in {welcome.mode} mode: it answers you alone. Say {words} to finish.", flush=True)
    if keyboard is not None:
        from .render import Renderer
        from .ui import run_tty

        color = config.color and "NO_COLOR" not in os.environ
        renderer = Renderer(
            color=color,
            timestamps=config.timestamps and not args.no_timestamps,
            highlight=tuple(config.highlight),
        )
        notify = (config.notify, float(config.notify_interval))
        return run_tty(session, renderer, prefs, config.paste_confirm, notify, keyboard)
    printer = LinePrinter(sys.stdout)
    # Piped input is a script or a bot: what was said before it came is not its business.
    session.history_on_join = sys.stdin.isatty()
    show = show_line(printer, lambda: len(session.joined))
    session.show = lambda msg: None if prefs.hides(msg) else show(msg)
    if welcome.mode == "chat":
        printer(render_plain(m.Users(welcome.room, welcome.users, more=welcome.more)))
    return run_line_mode(session, sys.stdin, printer)


def _connect(host: str, port: int, tls: TlsOptions | None) -> ChatConnection:
    """A connection (TLS done) to one address; a certificate seen for the first time is shown."""
    conn = ChatConnection.connect(host, port, tls)
    if conn.new_fingerprint and tls is not None and tls.confirm is not None:
        # Comparing fingerprints takes longer than the server waits for a
        # hello: start afresh, now with a certificate we know.
        conn.close()
        conn = ChatConnection.connect(host, port, tls)
    elif conn.new_fingerprint:
        print(
            f"First connection to {conn.address}: its TLS certificate is SHA256 {conn.new_fingerprint}\n"
            "Check it against the fingerprint the server printed; it is remembered from now on.",
            file=sys.stderr,
        )
    return conn


def _inherited(fd: int, host: str, port: int) -> ChatConnection:
    """The connection ``chatserver --interactive`` made for us (no TLS: it never leaves this machine)."""
    try:
        return ChatConnection(socket.socket(fileno=fd), host, port)
    except OSError as exc:
        raise ClientError(f"--fd {fd}: {exc.strerror or exc}") from None


def run() -> None:
    sys.exit(main())
