"""Make text from the network safe to show on a terminal.

Peer text may carry escape sequences (CSI, OSC 52 clipboard writes, window
titles), BEL, backspace and carriage-return tricks, C1 controls and bidi
overrides. ``neutralise`` turns every such character into a visible, inert
form, in one place, before anything is printed.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, bidi embeddings/overrides/isolates, and
# zero-width/invisible format characters that can disguise text. The zero-width
# (non-)joiners U+200C/U+200D stay: emoji sequences and Indic scripts need them.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def _visible(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    if code < 0x20:
        return "^" + chr(code + 0x40)  # ESC -> ^[, BEL -> ^G
    if code == 0x7F:
        return "^?"
    return f"<U+{code:04X}>"


def neutralise(text: str, *, keep_newlines: bool = False) -> str:
    """Return ``text`` with every unsafe character shown in escaped form.

    With ``keep_newlines`` a ``\\n`` stays (for multi-line display); otherwise
    it becomes ``^J`` so one message is always one line.
    """
    if text.isprintable():  # (the usual text, found by one scan in C: every unsafe character is unprintable)
        return text
    if keep_newlines and "\n" in text:
        return "\n".join(_UNSAFE.sub(_visible, part) for part in text.split("\n"))
    return _UNSAFE.sub(_visible, text)
