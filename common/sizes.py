"""Sizes in words: ``2100000`` bytes are ``2.1 MB`` (decimal units, as file managers show them)."""

from __future__ import annotations


def human_size(size: int) -> str:
    """``2100000`` -> ``2.1 MB``."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 999.95:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} TB"
