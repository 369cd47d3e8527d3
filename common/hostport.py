"""How a host and port are written for people: ``host:port``, an IPv6 host in brackets."""

from __future__ import annotations


def format_host(host: str) -> str:
    """``host`` as it is written before ``:PORT`` (an IPv6 address in brackets, once)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def format_address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets (as the command line takes it)."""
    return f"{format_host(host)}:{port}"
