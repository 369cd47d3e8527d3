"""The other nodes of a cluster, reached through their inbox streams: what this node asks of their sessions.

``core.names.Peers`` in Redis: a private frame, an operator grant, a kick or
a rename (its person was renamed on another node) for a session of another
node is one ``XADD`` to that node's inbox, which its reader hands to its
``_obey``. A node writes to its own inbox too, to
wake its reader's blocking read.
"""

from __future__ import annotations

from chatserver.cluster import keys
from chatserver.cluster.link import Link
from chatserver.core.fanout import Frame
from common import messages as m

INBOX_KEEP = 10_000  # entries an inbox keeps, about (a node reads its own at once)


class Inboxes:
    """Every node's inbox, written through ``link``."""

    def __init__(self, link: Link) -> None:
        self._link = link

    def send(self, node: str, fields: dict[str, str]) -> None:
        self._link.call(lambda r: r.xadd(keys.inbox(node), fields, maxlen=INBOX_KEEP, approximate=True))

    def tell(self, node: str, sid: str, frame: Frame) -> None:
        self.send(node, {"t": "tell", "sid": sid, "f": m.encode(frame.msg).decode()})

    def set_op(self, node: str, sid: str, op: bool) -> None:
        self.send(node, {"t": "op", "sid": sid, "op": "1" if op else "0"})

    def kick(self, node: str, sid: str, why: str) -> None:
        self.send(node, {"t": "kick", "sid": sid, "why": why})

    def move(self, node: str, sid: str, room: str, join: bool, by: str, reason: str) -> None:
        self.send(node, {"t": "move", "sid": sid, "room": room, "join": "1" if join else "0", "by": by, "why": reason})

    def rooms_to(self, node: str, sid: str, to_node: str, to_sid: str) -> None:
        self.send(node, {"t": "rooms", "sid": sid, "node": to_node, "to": to_sid})

    def replace(self, node: str, sid: str) -> None:
        self.send(node, {"t": "replace", "sid": sid})

    def rename(self, node: str, sid: str, new: str) -> None:
        self.send(node, {"t": "rename", "sid": sid, "nick": new})
