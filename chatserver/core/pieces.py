"""A batch's posts in one wire format as one byte string, and a member's own copy cut out of it without copying it.

A room's posts are encoded once per wire format (``Encoded``): every member
there all along that sent nothing gets that one byte string. A sender gets it
with its own posts replaced by their receipts: a few slices of the whole
(``Encoded.part``), handed over by ``give``. A big batch is not copied for each
sender: each long stretch of it goes as a view of the one encoding, in a call of
its own, and only the short pieces between (the receipts) are joined; a small
batch goes as one byte string in one call.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable

from chatserver.core.frames import Frame, run_bytes, run_chunks
from chatserver.core.posts import Post

#: A stretch of a batch's encoding at least this long goes to a member as a view of the
#: encoding in a call of its own, not copied into a byte string of the member's own: a
#: call costs about what copying a few KiB does, and a sender's copy of a big batch (a
#: room where everyone talks, hundreds of KiB) was the fan-out's largest cost per sender.
SHARE_OVER = 16 * 1024

Piece = bytes | memoryview


class Encoded:
    """Posts in one wire format: the whole as one byte string, and where each
    post starts in it, so a member's own copy (its messages replaced by their
    receipts) is cut out of it with a few slices."""

    __slots__ = ("blob", "starts", "wire")

    def __init__(self, posts: list[Post], wire: str) -> None:
        chunks = run_chunks([p.frame for p in posts], wire)
        self.blob = b"".join(chunks)
        self.starts = [0, *itertools.accumulate(map(len, chunks))]
        self.wire = wire

    def part(self, posts: list[Post], own: list[int] | None, lo: int, hi: int) -> list[Piece]:
        """``posts[lo:hi]`` as slices of the whole, a member's own posts (``own``:
        their indices, ascending) replaced by their receipts."""
        view = memoryview(self.blob)
        starts, wire = self.starts, self.wire
        pieces: list[Piece] = []
        pos = starts[lo]
        receipts: list[Frame] = []  # those of posts side by side, not yet added: encoded together
        for i in own[bisect.bisect_left(own, lo) :] if own else ():
            if i >= hi:
                break
            start = starts[i]
            if start != pos:  # (a sender's posts are mostly side by side: nothing between them)
                if receipts:
                    _add_receipts(pieces, receipts, wire)
                    receipts = []
                pieces.append(view[pos:start])
            receipt = posts[i].receipt
            if receipt is not None:
                receipts.append(receipt)
            pos = starts[i + 1]
        if receipts:
            _add_receipts(pieces, receipts, wire)
        end = starts[hi]
        if end != pos:
            pieces.append(view[pos:end])
        return pieces


def _add_receipts(pieces: list[Piece], receipts: list[Frame], wire: str) -> None:
    data = run_bytes(receipts, wire)
    if data:  # (receipts said as nothing: an IRC client's without echo-message)
        pieces.append(data)


def give(deliver: Callable[[bytes], object], pieces: list[Piece]) -> None:
    """Hand ``pieces`` (whole frames, in order) to ``deliver``: each one of at least
    ``SHARE_OVER`` bytes as it is (a view of the batch's encoding), the others joined
    between them; nothing at all when there is nothing. All of a small batch is one call."""
    small: list[Piece] = []
    for piece in pieces:
        if len(piece) >= SHARE_OVER:
            if small:
                deliver(b"".join(small))
                small = []
            deliver(piece)  # type: ignore[arg-type]
        else:
            small.append(piece)
    data = b"".join(small)
    if data:
        deliver(data)
