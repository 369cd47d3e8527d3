"""The register workload (issue 20): many clients register (hello to welcome) one after another; is the last
thousand as fast as the first, the whole at 500 a second, and each held connection at most 32 KiB?"""

from __future__ import annotations

from benchmark.context import Ctx
from benchmark.protocol import NS
from benchmark.rows import error_row, stderr_note
from benchmark.servers import ServerSpec
from benchmark.system import log
from benchmark.workloads.idle import run_idle

#: Issue 20's targets: the last window's rate over the first's, registrations per second, KiB per connection.
LAST_OVER_FIRST = 0.7
PER_SECOND = 500.0
KIB_PER_CONN = 32.0


def rates(ready_at: list[int], setup_at: int, window: int) -> dict:
    """Registrations per second: overall (from the first connect to the last welcome), in the first
    ``window`` welcomes and in the last ``window`` (each from the welcome before it, so they do not
    overlap), and their ratio."""
    n = len(ready_at)
    if n < 2 * window or window < 2:
        return {"registered": n, "window": window} | dict.fromkeys(("overall", "first", "last", "last_over_first"))
    overall = n / ((ready_at[-1] - setup_at) / NS)
    first = window / ((ready_at[window - 1] - setup_at) / NS)
    last = window / ((ready_at[-1] - ready_at[-window - 1]) / NS)
    return {"registered": n, "window": window, "overall": overall, "first": first, "last": last} | {
        "last_over_first": last / first
    }


def verdicts(name: str, spec: ServerSpec, count: int, r: dict, per_conn: float | None, quick: bool) -> list[str]:
    small = " (quick: smaller than the issue's 5,000)" if quick else ""
    met = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    out = []
    if r["last_over_first"] is not None:
        out.append(
            f"{name}: {spec.label} last {r['window']:,} at {r['last']:,.0f}/s = {r['last_over_first']:.2f}x the "
            f"first {r['window']:,}'s {r['first']:,.0f}/s (target >= {LAST_OVER_FIRST:g}x): "
            f"{met(r['last_over_first'] >= LAST_OVER_FIRST)}{small}"
        )
        out.append(
            f"{name}: {spec.label} {r['registered']:,} of {count:,} registered at {r['overall']:,.0f}/s overall "
            f"(target >= {PER_SECOND:g}/s): {met(r['overall'] >= PER_SECOND and r['registered'] == count)}{small}"
        )
    else:
        out.append(f"{name}: {spec.label}: too few registered to compare windows: NOT met")
    if per_conn is not None:
        out.append(
            f"{name}: {spec.label} {per_conn:.1f} KiB RSS per idle connection (target <= {KIB_PER_CONN:g} KiB): "
            f"{met(per_conn <= KIB_PER_CONN)}{small}"
        )
    return out


def register(ctx: Ctx, specs: list[ServerSpec], count: int) -> list[dict]:
    """Each of ``specs`` (ours) registers ``count`` clients, 64 in flight (32 per generator process, as idle)."""
    name = f"register {count} clients"
    window = max(2, min(1000, count // 5))
    rows = []
    for spec in specs:
        log(f"{name} {spec.label}")
        try:
            res = run_idle(ctx, spec, count, setup_timeout=ctx.args.idle_timeout, ready_times=True)
        except Exception as exc:  # noqa: BLE001
            rows.append(error_row(name, spec, exc))
            continue
        r = rates(res["ready_at"], res["setup_at"], window)
        res["rates"] = r
        per = res["rss_per_conn_kib"]
        notes = [
            f"registered {res['registered']}/{count}, held {res['held']}",
            f"{r['overall']:,.0f}/s overall, first {window:,} {r['first']:,.0f}/s, last {window:,} {r['last']:,.0f}/s"
            if r["overall"]
            else "",
            f"{per:.1f} KiB RSS/conn" if per is not None else "",
            f"{res['nfailed']} failed ({res['failed_sample'][0][1]})" if res["nfailed"] else "",
            stderr_note(res),
        ]
        log("  " + "; ".join(filter(None, notes)))
        rows.append(
            {
                "workload": name,
                "server": spec.label,
                "key": spec.key,
                "rate_limit": res["rate_limit"],
                "rss_mib": res["rss_mib"],
                "threads": res["threads"],
                "notes": "; ".join(filter(None, notes)),
                "check": True,
                "held_all": res["held"] == count,
                "targets": verdicts(name, spec, count, r, per, ctx.args.quick),
                "data": res,
            }
        )
    return rows
