"""The cluster joins workload (issue 20): with Redis 5 ms away, do 50 people joining one node slow the others?

Two ``--cluster`` nodes reach their Redis through ``DelayProxy`` (every round trip 5 ms longer). The people
already there (N split over the two nodes) talk at a steady rate; in one job 50 more people join the first node
a third of the way in (``AT_ONCE`` at a time, each waiting for its welcome), in the other nobody joins. The two
jobs run interleaved; the target is issue 20's: the joins raise the others' delivery p99 by at most 10 ms.
"""

from __future__ import annotations

import os
import threading
import time

from benchmark.context import Ctx
from benchmark.delayproxy import DelayProxy
from benchmark.driver import run_load
from benchmark.probe import Probe
from benchmark.protocol import HOST, NS
from benchmark.redisserver import RedisServer, redis_executable
from benchmark.rows import by_p99, error_row, median_row, run_interleaved
from benchmark.servers import ServerProc
from benchmark.system import log
from benchmark.workloads.cluster import NodesSpec

#: Issue 20's case: Redis's added delay (s), the people joining, the most their joins may add to the p99 (ms).
DELAY = 0.005
JOINERS = 50
MAX_RISE_MS = 10.0
#: The joiners come in this many at a time (each thread joins its share one after another).
AT_ONCE = 10


def run_joins(ctx: Ctx, spec: NodesSpec, *, exe: str, joiners: int, **kwargs) -> dict:  # noqa: ANN003
    """One load on two nodes whose Redis is behind the delaying proxy; ``joiners`` join the first node a
    third of the way into the load (``after`` reports how many got their welcome, and how long it took)."""
    redis = RedisServer(exe, ctx.server_cpus)
    proxy: DelayProxy | None = None
    joined: list[Probe] = []
    times: list[float] = []
    errors: list[str] = []
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def join(port: int, at_ns: int, nicks: range) -> None:
        stop.wait(max(0.0, (at_ns - time.monotonic_ns()) / NS))  # (the moment the joins begin, or the end)
        for i in nicks:
            if stop.is_set():
                return
            t0 = time.monotonic()
            try:
                joined.append(Probe(port, f"newcomer{i}"))
            except Exception as exc:  # noqa: BLE001  (reported with the run)
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            times.append(time.monotonic() - t0)

    def during(server: ServerProc, t_go: int) -> None:
        at = t_go + int(kwargs["duration"] / 3 * NS)
        for k in range(min(AT_ONCE, joiners)):
            threads.append(
                threading.Thread(target=join, args=(server.port, at, range(k, joiners, AT_ONCE)), daemon=True)
            )
            threads[-1].start()

    def after() -> dict:
        stop.set()
        for th in threads:
            th.join(30)
        return {
            "joined": len(joined),
            "join_ms_mean": sum(times) / len(times) * 1e3 if times else None,
            "join_ms_max": max(times) * 1e3 if times else None,
            "errors": errors,
        }

    try:
        redis.start()
        proxy = DelayProxy(redis.port, DELAY)
        return run_load(
            ctx,
            spec,
            nodes=spec.nodes,
            cluster=f"redis://{HOST}:{proxy.port}/0",
            side={"redis": redis.pid},
            extra_conns=joiners,
            during=during,
            after=after,
            **kwargs,
        )
    finally:
        stop.set()
        for probe in joined:
            probe.sock.close()
        if proxy is not None:
            proxy.stop()
        redis.stop()


def joins(ctx: Ctx) -> list[dict]:
    q = ctx.args.quick
    spec = NodesSpec(2)
    exe, where = redis_executable()
    if exe is None:
        if os.environ.get("CI"):
            return [error_row("cluster joins", spec, RuntimeError(f"no Redis to run: {where} (CI is set)"))]
        log(f"cluster joins: SKIPPED: {where}")
        return [{"workload": "cluster joins", "server": spec.label, "key": spec.key, "notes": f"SKIPPED: {where}"}]
    n, rate, duration = (10, 100, 4.0) if q else (20, 200, 8.0)
    base = f"cluster joins: Redis +{DELAY * 1e3:g} ms, N={n} {rate} msg/s {duration:g} s"
    load = {"n": n, "mode": "rate", "rate": rate, "duration": duration, "audit_all": True}
    jobs = [
        (f"{base}, {k} join node 1", spec, load | {"runner": run_joins, "exe": exe, "joiners": k}) for k in (JOINERS, 0)
    ]
    results = run_interleaved(ctx, jobs, ctx.args.repeat)
    rows = []
    for (name, _, kwargs), runs in zip(jobs, results, strict=True):
        if isinstance(runs, Exception):
            rows.append(error_row(name, spec, runs))
            continue
        notes = []
        if kwargs["joiners"]:
            done = [r["after"] for r in runs]
            means = [d["join_ms_mean"] for d in done if d["join_ms_mean"] is not None]
            notes.append(
                f"joined {'/'.join(str(d['joined']) for d in done)} of {kwargs['joiners']}"
                + (f", welcome in {sum(means) / len(means):.0f} ms mean" if means else "")
                + "".join(f"; join error: {e}" for d in done for e in d["errors"][:1])
            )
        rows.append(median_row(name, spec, runs, by_p99, notes=notes))
    with_joins, without = rows[0], rows[-1]
    if len(rows) == 2 and not with_joins.get("failed") and not without.get("failed"):
        rise = (with_joins["p99"] or 0) - (without["p99"] or 0)
        everyone = all(r["after"]["joined"] == JOINERS for r in results[0])
        ok = rise <= MAX_RISE_MS and everyone
        with_joins["target"] = (
            f"{base}: {JOINERS} joining node 1 raise the others' delivery p99 from {without['p99']:.1f} to "
            f"{with_joins['p99']:.1f} ms, +{rise:.1f} ms (target <= +{MAX_RISE_MS:g} ms"
            + ("" if everyone else f"; and all {JOINERS} welcomed: NOT all were")
            + f"): {'met' if ok else 'NOT met'}"
            + (" (quick: fewer people talking than a full run)" if q else "")
        )
    return rows
