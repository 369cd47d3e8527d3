"""A shared file's name made safe to show, link and save: one harmless component, never a path.

A name from the network may hold path separators (``../../etc/passwd``,
``C:\\x``), look-alikes of them (``∕``, ``⁄``, fullwidth ``／``), control,
bidi and invisible characters: ``safe_name`` keeps only the last part,
folds compatibility forms (NFKC), turns every such character into ``_``,
drops leading dots and cuts it to ``MAX_NAME`` characters, keeping the
extension. The server names every shared file so (``chatserver/files``), and
the terminal client saves a download under it, so both sides agree on it.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 120
#: Separators and their look-alikes, Windows' reserved characters, controls, bidi and invisible format characters.
_UNSAFE = re.compile(
    '[/\\\\:*?"<>|\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2044\u2060-\u2064\u2066-\u2069'
    "\u2215\u2216\u29f5\u29f8\u29f9\ufe68\uff0f\uff3c\ufeff]"
)


def safe_name(name: str) -> str:
    """``name`` as it is shown, linked and saved: one harmless component (see the module docstring)."""
    name = unicodedata.normalize("NFKC", name)
    name = re.split(r"[/\\]", name)[-1]  # (after NFKC: fullwidth slashes are slashes now)
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot and stem else ""
        name = name[: MAX_NAME - len(ext) - 1].rstrip() + ("." + ext if ext else "")
    return name or "file"
