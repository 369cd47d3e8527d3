"""The addresses and names people on the LAN can use to reach this machine."""

from __future__ import annotations

import ipaddress
import logging
import re
import socket

log = logging.getLogger(__name__)


def lan_addresses(ipv6: bool = False) -> list[str]:
    """Non-loopback, non-link-local addresses of this machine's interfaces."""
    try:
        import ifaddr
    except ImportError:  # pragma: no cover - declared dependency
        return []
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            raw = ip.ip[0] if isinstance(ip.ip, tuple) else ip.ip
            try:
                addr = ipaddress.ip_address(raw)
            except ValueError:
                continue
            if addr.is_loopback or addr.is_link_local or (addr.version == 6 and not ipv6):
                continue
            text = f"[{addr}]" if addr.version == 6 else str(addr)
            if text not in found:
                found.append(text)
    return found


_MAX_LABEL = 63  # bytes in one DNS label


def service_host(port: int) -> str:
    """The host name the LAN announcement gives the server on ``port`` (its SRV record's
    target): a name of our own, never the machine's, which avahi owns."""
    base = re.sub(r"[^A-Za-z0-9-]+", "-", socket.gethostname().split(".")[0]).strip("-") or "host"
    suffix = f"-chatserver-{port}"
    return f"{base[: _MAX_LABEL - len(suffix)]}{suffix}.local."


def own_names(port: int) -> set[str]:
    """The names this machine goes by, lower case and without a final dot: ``localhost``, its
    host name (whole and its first label), that label with ``.local``, and ``service_host(port)``."""
    hostname = socket.gethostname().lower().rstrip(".")
    label = hostname.split(".")[0]
    names = {"localhost", hostname, label, f"{label}.local", service_host(port).lower().rstrip(".")}
    try:
        names.add(socket.getfqdn().lower().rstrip("."))
    except OSError:  # pragma: no cover - no resolver
        pass
    return {name for name in names if name}


def own_addresses(bind_host: str) -> set[str]:
    """The addresses of this machine a server bound to ``bind_host`` answers on (loopback
    included), as ``ipaddress`` writes them."""
    found = {"127.0.0.1", "::1"}
    host = (bind_host or "").strip().strip("[]")
    if host in ("", "0.0.0.0", "::"):
        found.update(a.strip("[]") for a in lan_addresses(ipv6=True))
    else:
        try:
            found.add(str(ipaddress.ip_address(host.split("%", 1)[0])))
        except ValueError:  # a name: what it resolves to
            try:
                found.update(info[4][0].split("%", 1)[0] for info in socket.getaddrinfo(host, None))
            except OSError:
                pass
    return found
