"""The addresses people on the LAN can use to reach this machine."""

from __future__ import annotations

import ipaddress
import logging

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
