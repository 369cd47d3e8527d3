"""How a host and port are written for people: ``host:port``, an IPv6 host in brackets."""

from __future__ import annotations


def format_address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets (as the command line takes it)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
