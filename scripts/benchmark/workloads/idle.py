"""The idle workload: registered idle connections held; RSS per connection, threads, registration time."""

from __future__ import annotations

import time

from benchmark.context import Ctx
from benchmark.driver import finish_workers, recv_all, start_workers
from benchmark.profiler import start_profiler, stop_profiler
from benchmark.rows import error_row, stderr_note
from benchmark.servers import ServerProc, ServerSpec
from benchmark.system import log


def run_idle(ctx: Ctx, spec: ServerSpec, count: int, setup_timeout: float = 45.0, ready_times: bool = False) -> dict:
    """Hold ``count`` registered idle connections; RSS per connection, threads (with ``ready_times``, when
    each client's welcome arrived, sorted, and when the first connect began: ``ready_at``, ``setup_at``)."""
    nworkers = max(1, min(ctx.workers, count))
    cfgs = [
        {
            "port": 0,
            "proto": spec.proto,
            "mode": "idle",
            "peers": [],
            "senders": {},
            "concurrency": 32,
            "sweep_every": 0.25,
            "ready_times": ready_times,
        }
        for _ in range(nworkers)
    ]
    for i in range(count):
        cfgs[i % nworkers]["peers"].append({"nick": f"c{i}"})
    for cfg in cfgs:
        cfg["setup_timeout"] = setup_timeout
    server = ServerProc(spec, ctx.server_cpus, rate_off=False, conns=count)
    workers: list[tuple] = []
    spy = None
    result: dict = {"server": spec.label, "n": count, "mode": "idle", "rate_limit": spec.rate_limit(False)}
    try:
        server.start()
        time.sleep(0.3)
        base = server.sample()
        for cfg in cfgs:
            cfg["port"] = server.port
        server.start_sampling()
        spy = start_profiler(ctx, server, f"idle-n{count}-{spec.key}")
        t0 = time.monotonic()
        workers = start_workers(ctx, cfgs)
        ready = recv_all(workers, setup_timeout + 15)
        t_reg = time.monotonic() - t0
        result["profile"], spy = stop_profiler(spy), None
        # Let join notices drain: wait until the server's CPU goes quiet (at most 15 s).
        prev = server.sample()
        quiet_end = time.monotonic() + 15
        while time.monotonic() < quiet_end:
            time.sleep(0.5)
            cur = server.sample()
            if cur["cpu"] - prev["cpu"] < 0.02:
                break
            prev = cur
        time.sleep(0.5)
        held_sample = server.sample()
        for _, conn in workers:
            conn.send({"cmd": "check"})
        alive = sum(r["alive"] for r in recv_all(workers, 15))
        server.stop_sampling()
        for _, conn in workers:
            conn.send({"cmd": "drain", "timeout": 6.0})
        server.stop()
    finally:
        stop_profiler(spy)
        if workers:
            finish_workers(workers)
        server.stop()
    registered = sum(r["ready"] for r in ready)
    failed = [f for r in ready for f in r["failed"]]
    grown = held_sample["rss_kib"] - base["rss_kib"]
    result.update(
        {
            "registered": registered,
            "held": alive,
            "register_s": t_reg,
            "ready_at": sorted(t for r in ready for t in r["ready_at"] or ()),
            "setup_at": min(r["setup_at"] for r in ready),
            "rss_base_mib": base["rss_kib"] / 1024,
            "rss_mib": held_sample["rss_kib"] / 1024,
            "rss_per_conn_kib": grown / alive if alive else None,
            "threads": held_sample["threads"],
            "threads_base": base["threads"],
            "peak_rss_mib": server.peak_rss / 1024,
            "failed_sample": failed[:3],
            "nfailed": sum(r["nfailed"] for r in ready),
            "server_exit": server.exit_code,
            "server_stop_s": server.stop_seconds,
            "stderr": server.stderr_summary(),
        }
    )
    return result


def idle(ctx: Ctx, specs: list[ServerSpec], counts: list[int]) -> list[dict]:
    rows = []
    for count in counts:
        name = f"idle {count} conns"
        for spec in specs:
            log(f"{name} {spec.label}")
            try:
                res = run_idle(ctx, spec, count, setup_timeout=ctx.args.idle_timeout)
            except Exception as exc:  # noqa: BLE001
                rows.append(error_row(name, spec, exc))
                continue
            per = res["rss_per_conn_kib"]
            notes = [
                f"held {res['held']}/{count}",
                f"{per:.1f} KiB RSS/conn" if per is not None else "",
                f"registered in {res['register_s']:.1f} s",
            ]
            if res["nfailed"]:
                notes.append(f"{res['nfailed']} failed ({res['failed_sample'][0][1]})")
            note = stderr_note(res)
            if note:
                notes.append(note)
            log("  " + "; ".join(filter(None, notes)) + f"; {res['threads']} threads")
            rows.append(
                {
                    "workload": name,
                    "server": spec.label,
                    "key": spec.key,
                    "rate_limit": res["rate_limit"],
                    "rss_mib": res["rss_mib"],
                    "threads": res["threads"],
                    "held": res["held"],
                    "rss_per_conn_kib": per,
                    "notes": "; ".join(filter(None, notes)),
                    "check": True,
                    "held_all": res["held"] == count,
                    "data": res,
                }
            )
    return rows
