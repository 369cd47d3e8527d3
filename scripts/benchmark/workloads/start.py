"""The start on a big store: timed starts on a store of many messages, each checking that the store is served."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmark.context import Ctx
from benchmark.probe import Probe
from benchmark.rows import error_row, stderr_note
from benchmark.servers import SERVERS, ServerProc, ServerSpec
from benchmark.storebuild import STORE_ROOMS, build_store
from benchmark.system import bench_home, log


def run_start(ctx: Ctx, spec: ServerSpec, store_path: Path | None, rooms: dict[str, int]) -> dict:
    """Start the server (on ``store_path``, or on a new store of its own, or in memory), time its ready
    line, then check that it serves what the store holds: the lobby's history in the welcome and
    another room's on joining end at their last messages (``rooms``: room -> last seq), and the next
    message is numbered after (on ``store_path``, ``rooms`` is moved on to it)."""
    server = ServerProc(spec, ctx.server_cpus, rate_off=True, conns=2, store_path=store_path)
    room = "#general"
    try:
        server.start(timeout=30)
        at_ready = server.sample()
        t0 = time.monotonic()
        with Probe(server.port, "probe") as client:
            welcomed = time.monotonic()
            lobby = client.replay
            _, history = client.join(room)
            joined = time.monotonic()
            accepted = client.say("m 0 0")
            said = time.monotonic()
        server.stop()
    finally:
        server.stop()
    checks = {
        "lobby history ends at its last message": (lobby[-1]["seq"] if lobby else 0) == rooms.get("#lobby", 0),
        f"{room} history ends at its last message": (history[-1]["seq"] if history else 0) == rooms.get(room, 0),
        f"the next message in {room} is numbered after it": accepted["seq"] == rooms.get(room, 0) + 1,
    }
    if store_path is not None:
        rooms[room] = accepted["seq"]  # acknowledged, so kept: the next start on this store must show it
    return {
        "server": spec.label,
        "ready_s": server.ready_s,
        "cpu_at_ready_s": at_ready["cpu"],
        "rss_at_ready_mib": at_ready["rss_kib"] / 1024,
        "threads": at_ready["threads"],
        "welcome_ms": (welcomed - t0) * 1e3,
        "join_ms": (joined - welcomed) * 1e3,
        "first_ack_ms": (said - joined) * 1e3,
        "history": {"#lobby": len(lobby), room: len(history)},
        "accepted_seq": accepted["seq"],
        "failed_checks": [what for what, ok in checks.items() if not ok],
        "server_exit": server.exit_code,
        "server_stop_s": server.stop_seconds,
        "stderr": server.stderr_summary(),
    }


# ----------------------------------------------------------------------------
# Workloads -> table rows


def evict(path: Path) -> None:
    """Drop ``path`` (and its WAL) from the page cache, so a start reads it from the disk
    (posix_fadvise DONTNEED: needs no privileges, and works on clean pages, hence the fsync)."""
    for f in (path, Path(f"{path}-wal")):
        if f.exists():
            fd = os.open(f, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def start(ctx: Ctx, count: int) -> list[dict]:
    """Time from process start to the ready line, with a store of ``count`` messages (page cache warm,
    and evicted), against a new empty store and --store memory; each run also checks that the server
    serves the store's rooms (history ends at their last messages, numbering continues)."""
    sqlite_spec = SERVERS["ours-native-sqlite"]
    big = f"store of {count:,} messages"
    with tempfile.TemporaryDirectory(prefix="big-store-", dir=bench_home()) as tmp:
        path = Path(tmp) / "big.sqlite3"
        log(f"building a {big}")
        try:
            info = build_store(ctx, path, count)
        except Exception as exc:  # noqa: BLE001
            return [error_row(f"start, {big}", sqlite_spec, exc)]
        log(f"  {info['messages']:,} messages, {info['mib']:.0f} MiB, built in {info['build_s']:.1f} s")
        variants = [
            ("start, --store memory", SERVERS["ours-native"], None, {}, False),
            ("start, new empty store", sqlite_spec, None, {}, False),
            (f"start, {big} (in the page cache)", sqlite_spec, path, info["rooms"], False),
            (f"start, {big} (evicted from the page cache)", sqlite_spec, path, info["rooms"], True),
        ]
        results: list[list[dict] | Exception] = [[] for _ in variants]
        for i in range(ctx.args.repeat):
            for j, (name, spec, store_path, rooms, cold) in enumerate(variants):
                if isinstance(results[j], Exception):
                    continue
                log(f"{name} run {i + 1}/{ctx.args.repeat}")
                try:
                    if cold:
                        evict(store_path)
                    res = run_start(ctx, spec, store_path, rooms)
                except Exception as exc:  # noqa: BLE001
                    log(f"  FAILED: {exc}")
                    results[j] = exc
                    continue
                log(
                    f"  ready in {res['ready_s']:.3f} s; welcome {res['welcome_ms']:.1f} ms, join "
                    f"{res['join_ms']:.1f} ms, first ack {res['first_ack_ms']:.1f} ms; "
                    f"RSS {res['rss_at_ready_mib']:.1f} MiB"
                    + (f"; FAILED: {', '.join(res['failed_checks'])}" if res["failed_checks"] else "")
                )
                results[j].append(res)
    rows = []
    for (name, spec, store_path, _, _), runs in zip(variants, results, strict=True):
        if isinstance(runs, Exception):
            rows.append(error_row(name, spec, runs))
            continue
        med = sorted(runs, key=lambda r: r["ready_s"])[len(runs) // 2]
        failed = sorted({c for r in runs for c in r["failed_checks"]})
        notes = [
            f"median of {len(runs)}: " + "/".join(f"{r['ready_s']:.3f}" for r in runs) + " s" if len(runs) > 1 else "",
            f"then: welcome {med['welcome_ms']:.1f} ms, join #general {med['join_ms']:.1f} ms "
            f"(history {med['history']['#general']}), first ack {med['first_ack_ms']:.1f} ms "
            f"(seq {med['accepted_seq']})",
            f"store {info['mib']:.0f} MiB, made by a chatserver then {info['messages'] - len(STORE_ROOMS):,} messages "
            f"appended with sqlite3 (built in {info['build_s']:.0f} s)"
            if store_path
            else "",
            stderr_note(med),
            "FAILED: " + "; ".join(failed) if failed else "",
        ]
        rows.append(
            {
                "workload": name,
                "server": spec.label,
                "key": spec.key,
                "rate_limit": "off",
                "ready_s": med["ready_s"],
                "rss_mib": med["rss_at_ready_mib"],
                "threads": med["threads"],
                "notes": "; ".join(filter(None, notes)),
                "check": True,
                "failed": bool(failed),
                "data": {"median": med, "runs": runs, "store": info if store_path else None},
            }
        )
    return rows
