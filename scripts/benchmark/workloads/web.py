"""The web workload (issue 20): fan-out over WebSocket against native, and native against plain, in one run.

The three are ours with ``--store memory``, interleaved run by run: the native protocol over the chat page's
WebSocket (``/ws``, the browser's way in), the native protocol on the chat port, and plain lines. The targets
are issue 20's: WebSocket at least 0.8x native, native at least 1.0x plain, at N=50.
"""

from __future__ import annotations

from benchmark.context import Ctx
from benchmark.rows import by_rate, error_row, median_row, run_interleaved
from benchmark.servers import SERVERS

#: (faster, slower, target ratio): each pair's deliveries/s over the other's.
TARGETS = [("ours-ws", "ours-native", 0.8), ("ours-native", "ours-plain", 1.0)]


def web(ctx: Ctx, n: int) -> list[dict]:
    args = ctx.args
    specs = [SERVERS[k] for k in ("ours-ws", "ours-native", "ours-plain")]
    m = args.messages or max(1, round(args.deliveries / (n * (n - 1))))
    name = f"web fan-out N={n} M={m}"
    kwargs = {"n": n, "mode": "burst", "messages": m, "audit_all": args.quick, "hard_timeout": args.run_timeout}
    results = run_interleaved(ctx, [(name, spec, kwargs) for spec in specs], args.repeat)
    rows = [
        error_row(name, spec, runs) if isinstance(runs, Exception) else median_row(name, spec, runs, by_rate)
        for spec, runs in zip(specs, results, strict=True)
    ]
    by_key = {spec.key: (row, runs) for spec, row, runs in zip(specs, rows, results, strict=True)}
    small = f" (quick: N={n}, not the issue's 50)" if n != 50 else ""
    for mine, theirs, goal in TARGETS:
        (row, runs), (orow, oruns) = by_key[mine], by_key[theirs]
        if row.get("failed") or orow.get("failed") or not orow["deliv_s"]:
            row.setdefault("targets", []).append(f"{name}: {mine} x {theirs}: not measured (a run failed): NOT met")
            continue
        ratio = row["deliv_s"] / orow["deliv_s"]
        paired = "/".join(f"{by_rate(a) / by_rate(b):.2f}" for a, b in zip(runs, oruns, strict=False) if by_rate(b))
        row.setdefault("targets", []).append(
            f"{name}: {row['server']} x {orow['server']} = {ratio:.2f}x ({row['deliv_s'] / 1e6:.2f}M / "
            f"{orow['deliv_s'] / 1e6:.2f}M deliveries/s; run by run {paired}) (target >= {goal:g}x): "
            f"{'met' if ratio >= goal else 'NOT met'}{small}"
        )
    return rows
