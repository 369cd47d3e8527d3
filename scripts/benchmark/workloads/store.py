"""The store workload (issue 12): each of ours with its SQLite store against --store memory, and the start."""

from __future__ import annotations

from benchmark.context import Ctx
from benchmark.servers import SERVERS, ServerSpec
from benchmark.workloads.fanout import fanout
from benchmark.workloads.latency import latency
from benchmark.workloads.start import start


def store(ctx: Ctx, specs: list[ServerSpec]) -> list[dict]:
    """Issue 12: each of our servers with its SQLite store against the same with --store memory
    (fan-out and latency, interleaved, ratios from one run), and the start on a big store."""
    q = ctx.args.quick
    pairs: list[ServerSpec] = []
    for spec in specs:
        base = spec.key.removesuffix("-sqlite")
        if spec.kind == "ours" and not spec.rev and SERVERS[base] not in pairs:
            pairs += [SERVERS[base], SERVERS[base + "-sqlite"]]
    pairs = (pairs or [SERVERS["ours-native"], SERVERS["ours-native-sqlite"]])[: 2 if q else None]
    rows = fanout(ctx, pairs, [10 if q else 50])
    rows += latency(ctx, pairs, 20 if q else 50, 200 if q else 500, 1.0 if q else 5.0)
    for r in rows:
        if "vs_memory" in r:
            fan = r["workload"].startswith("fan-out")
            met = r["vs_memory"] >= 0.8 if fan else r["vs_memory"] <= 1.3
            what = "deliveries/s" if fan else "p99"
            r["target"] = (
                f"{r['workload']}: {r['server']} {what} {r['vs_memory']:.2f}x --store memory's "
                f"(target {'>= 0.8x' if fan else '<= 1.3x'}): {'met' if met else 'NOT met'}"
                + (" (quick: smaller than the issue's case)" if q else "")
            )
    if ctx.args.store_messages > 0:
        rows += start(ctx, ctx.args.store_messages)
    for r in rows:
        if r["workload"].startswith("start, store of") and "ready_s" in r:
            met = r["ready_s"] < 2.0
            r["target"] = (
                f"{r['workload']}: ready in {r['ready_s']:.2f} s (target < 2 s): {'met' if met else 'NOT met'}"
            )
    return rows


# ----------------------------------------------------------------------------
# Output
