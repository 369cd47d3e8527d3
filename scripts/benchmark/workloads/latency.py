"""The latency workload: N clients, a fixed total rate; p50/p99/max."""

from __future__ import annotations

from benchmark.context import Ctx
from benchmark.rows import by_p99, error_row, median_row, run_interleaved, vs_memory
from benchmark.servers import ServerSpec


def latency(ctx: Ctx, specs: list[ServerSpec], n: int, rate: float, duration: float) -> list[dict]:
    name = f"latency N={n} {rate:g} msg/s {duration:g} s"
    kwargs = {"n": n, "mode": "rate", "rate": rate, "duration": duration, "audit_all": True}
    results = run_interleaved(ctx, [(name, spec, kwargs) for spec in specs], ctx.args.repeat)
    group = [
        error_row(name, spec, runs) if isinstance(runs, Exception) else median_row(name, spec, runs, by_p99)
        for spec, runs in zip(specs, results, strict=True)
    ]
    vs_memory(group, results, by_p99)
    return group
