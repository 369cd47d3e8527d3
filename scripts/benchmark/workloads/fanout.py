"""The fan-out workload: N clients in one room each sending as fast as TCP takes it; ratios and issue 26's targets."""

from __future__ import annotations

from pathlib import Path

from benchmark.context import Ctx
from benchmark.rows import RATIOS, by_rate, cpu_per_million, error_row, median_row, run_interleaved, vs_memory
from benchmark.servers import ServerSpec


def fanout(ctx: Ctx, specs: list[ServerSpec], sizes: list[int]) -> list[dict]:
    args = ctx.args
    rows = []
    for n in sizes:
        m = args.messages or max(1, round(args.deliveries / (n * (n - 1))))
        name = f"fan-out N={n} M={m}"
        kwargs = {"n": n, "mode": "burst", "messages": m, "audit_all": args.quick, "hard_timeout": args.run_timeout}
        results = run_interleaved(ctx, [(name, spec, kwargs) for spec in specs], args.repeat)
        group = []
        for spec, runs in zip(specs, results, strict=True):
            if isinstance(runs, Exception):
                group.append(error_row(name, spec, runs))
            else:
                group.append(median_row(name, spec, runs, by_rate))
        by_key = {r["key"]: r for r in group}
        for r in group:
            if r["key"].startswith("ours") and not r.get("failed"):
                for base in ("asyncio", "naive", "ngircd"):
                    b = by_key.get(base)
                    if b and not b.get("failed") and b["deliv_s"]:
                        r[f"vs_{base}"] = r["deliv_s"] / b["deliv_s"]
        vs_memory(group, results, by_rate)
        RATIOS.extend(ratio_lines(name, n, specs, group, results))
        rows += group
    return rows


#: Issue 26's targets for fan-out, by N: (ours over ngircd, ours over an older commit of ours).
FANOUT_TARGETS = {50: {"ngircd": 1.5, "rev": 1.0}, 200: {"ngircd": 3.0}}


def ratio_lines(name: str, n: int, specs: list[ServerSpec], group: list[dict], results: list) -> list[str]:
    """``ours (plain) x ngircd``, ``ours (plain) x ours (plain) @REV`` and ``ours (native) x ours (plain)``
    for one fan-out case: the ratio of medians, and of each pair of runs made one after the other
    (interleaved); with issue 26's target where it has one."""
    out = []
    rows = dict(zip([s.key for s in specs], zip(group, results, specs, strict=True), strict=True))
    for key, (row, runs, spec) in rows.items():
        if spec.kind != "ours" or spec.rev or row.get("failed"):
            continue
        others = [k for k, (_, _, s) in rows.items() if s.rev and s.twin(Path(), "").key == key] + ["ngircd"]
        if spec.proto == "native":
            others.append(key.replace("-native", "-plain"))
        for other in others:
            if other not in rows or rows[other][0].get("failed") or not rows[other][0]["deliv_s"]:
                continue
            orow, oruns, ospec = rows[other]
            paired = "/".join(f"{by_rate(a) / by_rate(b):.2f}" for a, b in zip(runs, oruns, strict=False) if by_rate(b))
            ratio = row["deliv_s"] / orow["deliv_s"]
            goal = (
                1.0
                if ospec.kind == "ours" and ospec.proto != spec.proto
                else FANOUT_TARGETS.get(n, {}).get("rev" if ospec.rev else other)
            )
            verdict = f"; target >= {goal:g}x: {'met' if ratio >= goal else 'NOT met'}" if goal else ""
            out.append(
                f"{name}: {row['server']} x {orow['server']} = {ratio:.2f}x "
                f"({row['deliv_s'] / 1e6:.2f}M / {orow['deliv_s'] / 1e6:.2f}M deliveries/s; run by run {paired}"
                f"{verdict}){cpu_ratio(runs, oruns)}"
            )
    return out


def cpu_ratio(runs: list[dict], oruns: list[dict]) -> str:
    """The other server's CPU per delivery over this one's (above 1x: this one spends less per delivery), the
    median of each server's runs: on a loaded machine, a steadier comparison than deliveries/s."""
    mine = sorted(x for x in map(cpu_per_million, runs) if x)
    theirs = sorted(x for x in map(cpu_per_million, oruns) if x)
    if not mine or not theirs:
        return ""
    a, b = mine[len(mine) // 2], theirs[len(theirs) // 2]
    return f"; server CPU per million deliveries {a:.3f} / {b:.3f} s: {b / a:.2f}x as cheap"
