"""A store built as a server builds one: a real chatserver makes the file, sqlite3 appends the many messages."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

from benchmark.context import Ctx
from benchmark.probe import Probe
from benchmark.servers import ServerProc, ServerSpec

STORE_ROOMS = {"#lobby": 0.4, "#general": 0.3, "#random": 0.15, "#dev": 0.1, "#music": 0.05}
STORE_WORDS = (
    "the a to and of is it in that for you on with this we are not be was at have but so just do what "
    "meeting lunch build test server client release deploy coffee today tomorrow later anyone seen "
    "the printer again fixed broken works thanks please review merge branch main ticket bug patch "
    "network wifi laptop disk backup restart update music playlist weekend holiday office room"
).split()


def build_store(
    ctx: Ctx, path: Path, count: int, rooms_share: dict[str, float] = STORE_ROOMS, words: tuple[int, int] = (3, 14)
) -> dict:
    """A store holding ``count`` room messages, made the way a server makes one: a real chatserver
    creates the file (schema, resume secret, rooms, topics, a first message per room from a real client,
    each acknowledged), then the rest are appended with sqlite3 into the same tables (their words put
    in its FTS index as the store does it: by its trigger, or by one statement if it has none) and each
    room's ``seq`` is moved on to its last message."""
    t0 = time.monotonic()
    spec = ServerSpec("ours", "native", store="sqlite")
    server = ServerProc(spec, ctx.server_cpus, rate_off=True, conns=2, store_path=path)
    try:
        server.start(timeout=30)
        with Probe(server.port, "builder") as client:
            for room in rooms_share:
                if room != client.welcome["room"]:
                    client.join(room)
                client.send({"type": "topic", "text": f"bench store: {room[1:]}"})
                client.say(f"first words in {room}")  # acknowledged: committed by the server
        server.stop()
    finally:
        server.stop()
    if server.exit_code != 0:
        raise RuntimeError(f"the server that made the store exited with {server.exit_code}: {server.errors()}")
    made_by_server = time.monotonic() - t0
    rng = random.Random(12)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=OFF")  # bench data: a crash while building just means building again
        rooms = {name: [key, seq] for key, name, seq in db.execute("SELECT key, name, seq FROM rooms")}
        have = db.execute("SELECT count(*) FROM messages").fetchone()[0]
        missing = [r for r in rooms_share if r not in rooms]
        if missing or have != len(rooms_share):
            raise RuntimeError(f"the server's store is not as expected: rooms {sorted(rooms)}, {have} messages")
        last_id = db.execute("SELECT max(id) FROM messages").fetchone()[0]
        indexed_by_trigger = db.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'messages'"
            " AND sql LIKE '%AFTER INSERT%messages_fts%'"
        ).fetchone()[0]
        names, weights = list(rooms_share), list(rooms_share.values())
        nicks = [f"user{i}" for i in range(40)]
        ts = time.time()
        left = count - have
        while left > 0:
            rows = []
            for _ in range(min(left, 50_000)):
                room = rooms[rng.choices(names, weights)[0]]
                room[1] += 1
                ts += 0.0005
                text = " ".join(rng.choices(STORE_WORDS, k=rng.randint(*words)))
                rows.append((room[0], room[1], ts, rng.choice(nicks), text, 0))
            db.execute("BEGIN")
            db.executemany("INSERT INTO messages (room, seq, ts, nick, text, action) VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.execute("COMMIT")
            left -= len(rows)
        db.execute("BEGIN")
        db.executemany("UPDATE rooms SET seq = ? WHERE key = ?", [(seq, key) for key, seq in rooms.values()])
        if not indexed_by_trigger:  # a schema whose commits index the words themselves: do as they do
            db.execute("INSERT INTO messages_fts (rowid, text) SELECT id, text FROM messages WHERE id > ?", (last_id,))
        db.execute("COMMIT")
        total = db.execute("SELECT count(*) FROM messages").fetchone()[0]
    finally:
        db.close()  # (checkpoints the WAL into the file)
    return {
        "messages": total,
        "rooms": {name: seq for name, (_, seq) in rooms.items()},
        "build_s": time.monotonic() - t0,
        "server_part_s": made_by_server,
        "mib": path.stat().st_size / 2**20,
    }
