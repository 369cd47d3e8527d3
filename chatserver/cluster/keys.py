"""The cluster's Redis keys, in one place (``docs/cluster.md`` lists what each holds)."""

from __future__ import annotations

PREFIX = "lanchat:"

CLUSTER = PREFIX + "cluster"  # string: the cluster's id, made by its first node
#: string: a random value made anew whenever Redis is found empty: a node that
#: sees another than the one it knew knows Redis lost its data (even if another
#: node has put the cluster id back meanwhile).
GENERATION = PREFIX + "generation"
SECRET = PREFIX + "secret"  # string (hex): signs resume tokens, so any node takes any node's
NODES = PREFIX + "nodes"  # set of node ids that have run and not been reaped
ROOMS = PREFIX + "rooms"  # set of room keys
SANCTIONS = PREFIX + "sanctions"  # hash "kind:nick_key" -> JSON of a StoredSanction
GRANTS = PREFIX + "grants"  # hash nick_key -> JSON of a StoredGrant
EVENTS = PREFIX + "events"  # stream every node reads: "sanctions changed"
NAMED = PREFIX + "named"  # hash account key -> the nick key its person holds (a /nick may have renamed it)


def alive(node: str) -> str:
    """String with a TTL: the node's lease; gone means the node is dead."""
    return f"{PREFIX}alive:{node}"


def people(node: str) -> str:
    """Set of the nick keys a node's sessions hold."""
    return f"{PREFIX}people:{node}"


def inbox(node: str) -> str:
    """Stream of what other nodes ask of this one (private frames, kicks, take-overs)."""
    return f"{PREFIX}inbox:{node}"


def reaping(node: str) -> str:
    """String: which node is clearing away a dead one (only one does)."""
    return f"{PREFIX}reaping:{node}"


def nick(key: str) -> str:
    """Hash: who holds a name (nick, node, sid, proof, away, op, host, address, rooms)."""
    return f"{PREFIX}nick:{key}"


def room(key: str) -> str:
    """Hash: a room (name, epoch, seq, sub, topic)."""
    return f"{PREFIX}room:{key}"


def log(key: str) -> str:
    """Stream: a room's messages (id SEQ-0) and notices (id SEQ-N, N > 0), in the room's order."""
    return f"{PREFIX}log:{key}"


def members(key: str) -> str:
    """Hash nick_key -> sid: who is in a room, on any node."""
    return f"{PREFIX}members:{key}"


def order(key: str) -> str:
    """Sorted set of nick keys in a room, scored by when each came in: its first few, bounded."""
    return f"{PREFIX}order:{key}"


def readpos(key: str) -> str:
    """Hash node -> the stream id it has read a room up to: entries after it are not trimmed."""
    return f"{PREFIX}readpos:{key}"
