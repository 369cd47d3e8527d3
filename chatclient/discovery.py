"""Find chat servers on the LAN (mDNS / DNS-SD, ``_chatserver._tcp``), list them, pick one.

``browse`` listens for a couple of seconds and returns what answered, one
``Found`` per advertised service; ``servers`` makes the nodes of one cluster
(the same TXT ``cluster`` id) one ``Server`` with several addresses;
``format_found`` makes the lines ``chatclient --list`` prints; ``choose`` is
the small menu shown when several servers answered.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import threading
import time
from collections.abc import Sequence
from typing import TypeVar

from common.discovery import SERVICE_TYPE
from common.safetext import neutralise
from common.threads import stop_signals_blocked

from .addresses import Address, format_address, format_addresses

log = logging.getLogger(__name__)

#: Extra time after the deadline to resolve a service seen late.
_RESOLVE_GRACE = 0.3


class DiscoveryError(Exception):
    """mDNS cannot be used on this machine at all (no multicast socket)."""


@dataclasses.dataclass(frozen=True)
class Found:
    """One server that answered."""

    name: str  # the advertised (unique) instance name: the server's --name, or "NAME (HOST)" if taken
    host: str  # the address to connect to (IPv4 preferred, on a local subnet if possible)
    port: int
    tls: bool
    password: bool
    version: int | None  # protocol version, None if not announced
    addresses: tuple[str, ...] = ()  # every address announced, ``host`` first
    cluster: str | None = None  # the cluster id its nodes share (TXT ``cluster``), None: a server alone
    server_name: str = ""  # the server's --name (TXT ``name``): a cluster's nodes share it

    @property
    def address(self) -> str:
        """``host:port``, with IPv6 in brackets (what ``chatclient HOST:PORT`` takes)."""
        return format_address(self.host, self.port)


@dataclasses.dataclass(frozen=True)
class Server:
    """One chat server as the user sees it: a server alone, or every node of a cluster."""

    nodes: tuple[Found, ...]  # in the order to try them

    @property
    def name(self) -> str:
        """A server alone: its instance name; a cluster: the name its nodes share."""
        first = self.nodes[0]
        return first.server_name if first.cluster is not None and first.server_name else first.name

    @property
    def cluster(self) -> str | None:
        return self.nodes[0].cluster

    @property
    def endpoints(self) -> tuple[Address, ...]:
        """Where to connect, first choice first: one (host, port) per node."""
        return tuple((node.host, node.port) for node in self.nodes)

    @property
    def address(self) -> str:
        """``HOST:PORT[,HOST:PORT...]``, what ``chatclient`` takes."""
        return format_addresses(self.endpoints)

    @property
    def tls(self) -> bool:  # (the nodes of one cluster should agree; if not, TLS where any says so)
        return any(node.tls for node in self.nodes)

    @property
    def password(self) -> bool:
        return any(node.password for node in self.nodes)


def servers(found: list[Found]) -> list[Server]:
    """What ``browse`` found, as the user sees it: the services with the same
    cluster id are one server (its nodes in ``found``'s order); sorted by name."""
    clusters: dict[str, list[Found]] = {}
    alone: list[Server] = []
    for node in found:
        if node.cluster is None:
            alone.append(Server((node,)))
        else:
            clusters.setdefault(node.cluster, []).append(node)
    grouped = alone + [Server(tuple(nodes)) for nodes in clusters.values()]
    return sorted(grouped, key=lambda s: (s.name.casefold(), s.address))


#: The longest cluster id taken from a TXT record (the servers make 32 hex digits or so).
MAX_CLUSTER_ID = 64


def _cluster_id(value: str | None) -> str | None:
    """The TXT ``cluster`` value if it is a plausible id (printable, not too long), else None."""
    value = (value or "").strip()
    if not value or len(value) > MAX_CLUSTER_ID or not value.isprintable():
        return None
    return value


def _local_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        import ifaddr
    except ImportError:  # pragma: no cover - declared dependency
        return []
    nets = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            raw = ip.ip[0] if isinstance(ip.ip, tuple) else ip.ip
            try:
                nets.append(ipaddress.ip_network(f"{raw}/{ip.network_prefix}", strict=False))
            except ValueError:
                continue
    return nets


def _order_addresses(addresses: list[str], networks: list) -> list[str]:
    """Best first: on one of our subnets, then IPv4 before IPv6, then not link-local."""

    def rank(text: str) -> tuple:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
        local = any(addr.version == net.version and addr in net for net in networks)
        return (not local, addr.version, addr.is_link_local, addr.is_loopback)

    return sorted(dict.fromkeys(addresses), key=rank)


def _flag(props: dict[str, str | None], key: str) -> bool:
    return (props.get(key) or "").strip().lower() in ("1", "true", "yes")


def _found_from_info(info, networks: list) -> Found | None:  # noqa: ANN001 - zeroconf.ServiceInfo
    addresses = _order_addresses(info.parsed_scoped_addresses(), networks)
    if not addresses or not info.port:
        return None
    props = info.decoded_properties
    instance = info.name[: -len(SERVICE_TYPE) - 1] if info.name.endswith("." + SERVICE_TYPE) else info.name
    try:
        version: int | None = int(props.get("version") or "")
    except ValueError:
        version = None
    return Found(
        name=instance,
        host=addresses[0],
        port=info.port,
        tls=_flag(props, "tls"),
        password=_flag(props, "password"),
        version=version,
        addresses=tuple(addresses),
        cluster=_cluster_id(props.get("cluster")),
        server_name=_cluster_id(props.get("name")) or "",  # (the same plausibility test)
    )


def _open_zeroconf():  # noqa: ANN202
    try:
        from zeroconf import InterfaceChoice, IPVersion, Zeroconf
    except ImportError:
        raise DiscoveryError("the zeroconf package is not installed") from None
    error: Exception | None = None
    for version in (IPVersion.All, IPVersion.V4Only):
        try:
            return Zeroconf(interfaces=InterfaceChoice.All, ip_version=version)
        except (OSError, RuntimeError) as exc:  # no IPv6, or no multicast at all
            error = exc
    raise DiscoveryError(f"cannot use mDNS here: {error}")


def browse(timeout: float = 2.0) -> list[Found]:
    """Servers answering on the LAN within ``timeout`` seconds, sorted by name.

    Raises ``DiscoveryError`` if mDNS cannot be used at all on this machine.
    A server that says goodbye before the deadline is not returned.
    """
    # zeroconf's threads block the stop signals, so Ctrl-C reaches this (main) thread at once.
    with stop_signals_blocked():
        zc = _open_zeroconf()
    from zeroconf import ServiceBrowser, ServiceInfo, ServiceStateChange

    networks = _local_networks()
    deadline = time.monotonic() + timeout
    seen: dict[str, Found | None] = {}  # instance name -> resolved server (None: not yet)
    lock = threading.Lock()

    def resolve(zc, name: str, wait: float) -> None:  # noqa: ANN001
        info = ServiceInfo(SERVICE_TYPE, name)
        if not info.load_from_cache(zc) and wait > 0:
            info.request(zc, int(wait * 1000))
        found = _found_from_info(info, networks)
        with lock:
            if name in seen and found is not None:
                seen[name] = found

    def on_change(zeroconf, service_type: str, name: str, state_change) -> None:  # noqa: ANN001
        if state_change is ServiceStateChange.Removed:
            with lock:
                seen.pop(name, None)
            return
        with lock:
            seen.setdefault(name, None)
        resolve(zeroconf, name, max(0.0, deadline - time.monotonic()))

    try:
        with stop_signals_blocked():
            browser = ServiceBrowser(zc, SERVICE_TYPE, handlers=[on_change])
        try:
            time.sleep(max(0.0, deadline - time.monotonic()))  # the browse window itself
        finally:
            browser.cancel()
        with lock:
            pending = [name for name, found in seen.items() if found is None]
        for name in pending:  # seen at the last moment
            resolve(zc, name, _RESOLVE_GRACE)
    finally:
        zc.close()
    with lock:
        results = sorted((f for f in seen.values() if f is not None), key=lambda f: (f.name.casefold(), f.address))
    unique: list[Found] = []
    endpoints: set[tuple[str, int]] = set()
    for found in results:  # one line per server, even if it answered under two names
        if (found.host, found.port) not in endpoints:
            endpoints.add((found.host, found.port))
            unique.append(found)
    return unique


S = TypeVar("S", Found, Server)


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def format_found(found: Sequence[Found | Server]) -> list[str]:
    """One aligned line per server: name, address:port (a cluster's, comma-separated), TLS, password (safe to print)."""
    rows = [(neutralise(f.name), f.address, _yes_no(f.tls), _yes_no(f.password)) for f in found]
    if not rows:
        return []
    name_w = max(len(r[0]) for r in rows)
    addr_w = max(len(r[1]) for r in rows)
    return [f"{n:<{name_w}}  {a:<{addr_w}}  TLS {t:<3}  password {p}" for n, a, t, p in rows]


def choose(found: Sequence[S], *, input=None, output=None) -> S | None:  # noqa: A002
    """Ask which server to use; None if the user cancels (q, Ctrl-C, Ctrl-D).

    ``input``/``output`` are prompt_toolkit ones, for tests (default: the terminal).
    """
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    from prompt_toolkit import PromptSession, print_formatted_text
    from prompt_toolkit.validation import ValidationError, Validator

    count = len(found)

    class _Pick(Validator):
        def validate(self, document) -> None:  # noqa: ANN001
            text = document.text.strip().lower()
            if text in ("", "q", "quit"):
                return
            if not (text.isdigit() and 1 <= int(text) <= count):
                raise ValidationError(len(document.text), f"a number from 1 to {count}, or q to cancel")

    print_formatted_text(f"{count} chat servers found:", output=output)
    for number, line in enumerate(format_found(found), 1):
        print_formatted_text(f"  {number:>{len(str(count))}}) {line}", output=output)
    session: PromptSession[str] = PromptSession(input=input, output=output)
    try:
        answer = session.prompt(f"Connect to [1-{count}, Enter = 1, q = cancel]: ", validator=_Pick()).strip()
    except (KeyboardInterrupt, EOFError):
        return None
    if answer.lower() in ("q", "quit"):
        return None
    return found[int(answer) - 1 if answer else 0]
