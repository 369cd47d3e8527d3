"""The slow-consumer workload: N clients at a fixed rate, with and without one that never reads."""

from __future__ import annotations

from benchmark.context import Ctx
from benchmark.rows import by_p99, error_row, median_row, run_interleaved
from benchmark.servers import ServerSpec


def slow(ctx: Ctx, specs: list[ServerSpec], n: int, rate: float, duration: float, pad: int) -> list[dict]:
    variants = (True,) if ctx.args.quick else (False, True)
    jobs = []
    for spec in specs:
        for stuck in variants:
            name = f"slow consumer N={n} {rate:g} msg/s {'+ 1 stuck' if stuck else 'no stuck'}"
            kwargs = {"n": n, "mode": "rate", "rate": rate, "duration": duration, "pad": pad, "stuck": stuck}
            jobs.append((name, spec, kwargs | {"audit_all": True}))
    results = run_interleaved(ctx, jobs, ctx.args.repeat)
    rows = []
    base: dict | None = None
    for (name, spec, kwargs), runs in zip(jobs, results, strict=True):
        stuck = kwargs["stuck"]
        if isinstance(runs, Exception):
            rows.append(error_row(name, spec, runs))
            base = None
            continue
        med = sorted(runs, key=by_p99)[len(runs) // 2]
        notes = []
        # The naive server is *expected* to stall the room: no integrity assertion for it.
        check = not (stuck and spec.kind == "naive")
        if not stuck:
            base = med
        else:
            drops = [r["stuck_dropped_at"] for r in runs]
            if all(d is not None for d in drops):
                notes.append("stuck dropped at " + "/".join(f"{d:.2f}" for d in drops) + " s")
            else:
                notes.append(
                    "stuck NOT dropped within the run"
                    + (f" ({drops.count(None)} of {len(drops)})" if len(drops) > 1 else "")
                    + (" (expected: a quick run is too short to fill a 1 MiB backlog)" if ctx.args.quick else "")
                )
            if base is not None and base["deliveries_per_s"] and by_p99(base):
                notes.append(
                    f"others vs no-stuck: deliv/s x{med['deliveries_per_s'] / base['deliveries_per_s']:.2f}, "
                    f"p99 x{by_p99(med) / by_p99(base):.2f}"
                )
            if med["loss"]:
                notes.append(f"others' last delivery at {med['span_s']:.2f} s of {duration:g} s")
            if not check:
                notes.append("room stall expected (naive)")
            base = None
        rows.append(median_row(name, spec, runs, by_p99, notes=notes, check=check))
    return rows
