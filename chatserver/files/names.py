"""What a shared file is called: a name safe to show and link, never a path; its size in words; its type.

Sizes are said as file managers say them (``human_size``: decimal, ``2.1 MB``);
a limit set in MiB (``--max-file-size``, ``--file-quota``, ``--files-max-mb``)
is said in MiB, as it was set (``in_mib``).

``safe_name`` is ``common/filenames.py``'s (the terminal client saves a
download under it too): only the last part of a name from the network, no
separator or look-alike of one, no control, bidi or invisible character.
The name is only ever shown and put in a URL: files are kept on disk under
their random id.
"""

from __future__ import annotations

from common.filenames import safe_name
from common.sizes import human_size

__all__ = [
    "MIB",
    "human_size",
    "in_mib",
    "media_type",
    "safe_name",
]  # (human_size: common/sizes.py; safe_name: common/filenames.py)
#: The unit the file limits are set in.
MIB = 1024 * 1024
#: The image types shown in the page (never SVG: it is a document that may hold script).
INLINE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
#: What the first bytes of each inline type are: a file named ``.png`` that is not one is served as bytes.
_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
BYTES = "application/octet-stream"


def media_type(name: str, head: bytes) -> str:
    """An inline image type if the name says one and the first bytes agree; else plain bytes."""
    dot = name.rfind(".")
    kind = INLINE_TYPES.get(name[dot:].lower()) if dot >= 0 else None
    if kind is None or not head.startswith(_MAGIC[kind]):
        return BYTES
    if kind == "image/webp" and head[8:12] != b"WEBP":
        return BYTES
    return kind


def in_mib(size: int) -> str:
    """A size in the unit the limits are set in: ``1073741824`` -> ``1024 MiB``, ``1572864`` -> ``1.5 MiB``."""
    value = size / MIB
    if value == int(value):
        return f"{int(value)} MiB"
    return f"{value:.1f} MiB" if value >= 0.05 else "less than 0.1 MiB"
