"""Where a server is: the addresses the user gives (``HOST[:PORT][,HOST[:PORT]...]``) and the order they are tried in.

Several comma-separated addresses are one server with several nodes (a
cluster sharing its chat through Redis): the client connects to the first
that answers, and after a lost link tries them in turn, starting with the one
after the node it lost (``rotation``), so a dead node is tried last.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from common.hostport import format_address

DEFAULT_PORT = 5050
#: More addresses than this in one list is a mistake, not a cluster.
MAX_ADDRESSES = 32

Address = tuple[str, int]


def format_addresses(addresses: Sequence[Address]) -> str:
    """The list as ``chatclient`` takes it: ``HOST:PORT,HOST:PORT``."""
    return ",".join(format_address(host, port) for host, port in addresses)


def parse_address(text: str | None, port: int | None) -> Address:
    """``HOST``, ``HOST:PORT``, ``[V6]:PORT`` or a bare IPv6 address (``port``: ``--port``)."""
    host, found_port = text or "127.0.0.1", None
    if host.startswith("["):
        inner, sep, rest = host[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad address {text!r}: expected [IPv6]:PORT")
        host, found_port = inner, rest[1:] or None
    elif host.count(":") == 1:
        host, found_port = host.split(":")
    if not host:
        raise ValueError(f"bad address {text!r}: no host")
    if found_port is not None:
        if not found_port.isdigit() or not 0 < int(found_port) < 65536:
            raise ValueError(f"bad port {found_port!r} in {text!r}")
        if port is not None and port != int(found_port):
            raise ValueError(f"{text!r} and --port {port} disagree")
        return host, int(found_port)
    return host, port or DEFAULT_PORT


def parse_addresses(text: str | None, port: int | None) -> list[Address]:
    """One address, or several separated by commas (one server's nodes), in the
    order given; one given twice is tried once. ``ValueError`` says what is wrong."""
    if not text:
        return [parse_address(text, port)]
    entries = [entry.strip() for entry in text.split(",")]
    if len(entries) > MAX_ADDRESSES:
        raise ValueError(f"bad address list: {len(entries)} addresses, the most is {MAX_ADDRESSES}")
    found: list[Address] = []
    for number, entry in enumerate(entries, 1):
        if not entry:
            raise ValueError(
                f"bad address list {text!r}: address {number} of {len(entries)} is empty "
                "(give HOST[:PORT],HOST[:PORT] with single commas)"
            )
        address = parse_address(entry, port)
        if address not in found:
            found.append(address)
    return found


def rotation(addresses: Sequence[Address], lost: Address) -> list[Address]:
    """Every address once, starting with the one after ``lost`` (``lost`` comes
    last); from the first if ``lost`` is not one of them."""
    if lost not in addresses:
        return list(addresses)
    after = list(addresses).index(lost) + 1
    return [*addresses[after:], *addresses[:after]]


def address_key(address: str) -> str:
    """``HOST:PORT`` as remembered (known certificates, login tokens): one spelling per
    server (``Chat.LAN`` and ``chat.lan``, ``::0001`` and ``::1`` are the same)."""
    if address.startswith("["):
        host, _, port = address[1:].partition("]:")
    else:
        host, _, port = address.rpartition(":")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return f"{host.lower().rstrip('.')}:{port}"
    return f"[{ip.compressed}]:{port}" if ip.version == 6 else f"{ip.compressed}:{port}"
