"""Checkers of ``chatserver``'s flag values: each takes the text given and returns
the value, or raises ``argparse.ArgumentTypeError`` saying what is wrong."""

from __future__ import annotations

import argparse
import ipaddress
import math
import re
import unicodedata

from common.nicks import nick_problem

#: Longest wait a flag may set: poll() takes milliseconds in a C int.
MAX_SECONDS = 1_000_000
MAX_SERVER_NAME = 64  # characters; the LAN announcement keeps 63 bytes of it


def whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        try:
            float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def finite_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def positive_int(text: str) -> int:
    value = whole_number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def nonneg_int(text: str) -> int:
    value = whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def heartbeat(text: str) -> float:
    value = finite_number(text)
    if not 0.1 <= value <= 60:
        raise argparse.ArgumentTypeError(f"must be between 0.1 and 60 seconds, not {text}")
    return value


def days(text: str) -> float:
    value = finite_number(text)
    if not 0 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"must be a number of days, or 0 for no limit, not {text}")
    return value


def megabytes(text: str) -> int:
    value = nonneg_int(text)
    if value > 1024 * 1024 * 1024:
        raise argparse.ArgumentTypeError(f"at most {1024**3} MiB, not {text}")
    return value


def rate(text: str) -> float:
    value = finite_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def seconds(text: str) -> float:
    value = finite_number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"at most {MAX_SECONDS} seconds, not {text}")
    return value


def seconds_or_zero(text: str) -> float:
    return 0.0 if rate(text) == 0 else seconds(text)


def port(text: str) -> int:
    value = whole_number(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, not {text}")
    return value


def web_host(text: str) -> str:
    """A host name or address (no port), as a browser puts it in ``Host``."""
    name = text.strip().strip("[]").rstrip(".")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*", name):
            raise argparse.ArgumentTypeError(f"not a host name or address (and no port): {text!r}") from None
    return name


def server_name(text: str) -> str:
    """The name users see: one line of visible text."""
    if not text.strip():
        raise argparse.ArgumentTypeError("a server name cannot be empty")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text):
        raise argparse.ArgumentTypeError(f"a server name cannot contain control characters: {text!r}")
    if len(text) > MAX_SERVER_NAME:
        raise argparse.ArgumentTypeError(f"a server name has at most {MAX_SERVER_NAME} characters")
    return text.strip()


def nick(text: str) -> str:
    problem = nick_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"{problem}: {text!r}")
    return text
