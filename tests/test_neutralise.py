"""``neutralise``'s shortcut for text with nothing to escape: exact for every character."""

from __future__ import annotations

import sys

from common.safetext import _UNSAFE, neutralise


def test_every_character_it_escapes_is_unprintable_so_the_shortcut_is_exact() -> None:
    """Text that ``str.isprintable`` passes comes back as it is, unscanned: no character
    the escaping looks for may be printable, or it would slip through."""
    printable_yet_unsafe = [hex(c) for c in range(sys.maxunicode + 1) if _UNSAFE.match(chr(c)) and chr(c).isprintable()]
    assert printable_yet_unsafe == []


def test_text_with_something_to_escape_is_still_escaped() -> None:
    assert neutralise("hi \x1b[2Jthere") == "hi ^[[2Jthere"
    assert neutralise("a\u202eb") == "a<U+202E>b"
    assert neutralise("two\nlines") == "two^Jlines"
    assert neutralise("two\nlines\x07", keep_newlines=True) == "two\nlines^G"
    assert neutralise("plain text, ünïcödé ✓") == "plain text, ünïcödé ✓"
