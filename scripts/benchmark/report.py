"""The printed report: the table, notes, ratios, verdicts, integrity, and the JSON."""

from __future__ import annotations

import argparse
import json

from benchmark.context import Ctx
from benchmark.rows import RATIOS
from benchmark.servers import our_flags
from benchmark.system import machine

COLUMNS = [
    ("workload", "workload"),
    ("server", "server"),
    ("rate_limit", "rate limit"),
    ("deliv_s", "deliveries/s"),
    ("vs_asyncio", "x asyncio"),
    ("vs_naive", "x naive"),
    ("vs_ngircd", "x ngircd"),
    ("vs_memory", "x memory"),
    ("vs_single", "x 1 server"),
    ("vs_node", "x 1 node"),
    ("p50", "p50 ms"),
    ("p99", "p99 ms"),
    ("max", "max ms"),
    ("loss", "loss"),
    ("dup", "dup"),
    ("ooo", "ooo"),
    ("srv_cpu", "srv CPU"),
    ("gen_cpu", "gen CPU"),
    ("redis_cpu", "Redis CPU"),
    ("rss_mib", "srv RSS MiB"),
    ("threads", "threads"),
    ("ready_s", "ready s"),
    ("notes", "notes"),
]


def cell(key: str, value) -> str:  # noqa: ANN001
    if value is None or value == "":
        return ""
    if key == "deliv_s":
        return f"{value:,.0f}"
    if key == "ready_s":
        return f"{value:.3f}"
    if key in ("vs_asyncio", "vs_naive", "vs_ngircd", "vs_memory", "vs_single", "vs_node"):
        return f"{value:.2f}x"
    if key in ("p50", "p99", "max"):
        return f"{value:.2f}" if value < 100 else f"{value:.0f}"
    if key in ("srv_cpu", "gen_cpu", "redis_cpu"):
        return f"{value:.0%}"
    if key == "rss_mib":
        return f"{value:.1f}"
    return str(value)


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(cell(k, r.get(k)).replace("|", "/") for k, _ in COLUMNS) + " |")
    return "\n".join(lines)


def stderr_notes(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        data = r.get("data") or {}
        runs = data.get("runs") or [data]
        kinds: dict[str, int] = {}
        for run in runs:
            for k, v in ((run.get("stderr") or {}).get("kinds") or {}).items():
                kinds[k] = kinds.get(k, 0) + v
        for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])[:4]:
            out.append(f"{r['workload']} / {r['server']}: {v} x {k}")
    return out


def check_failures(rows: list[dict]) -> dict[str, list[str]]:
    """Rows that failed to run, lost/duplicated/reordered a message, or did not hold every idle client."""
    bad: dict[str, list[str]] = {"failed": [], "integrity": [], "capacity": []}
    for r in rows:
        if not r.get("check"):
            continue
        where = f"{r['workload']} / {r['server']}"
        if r.get("failed"):
            bad["failed"].append(f"{where}: {r['notes']}")
        elif r.get("loss") or r.get("dup") or r.get("ooo") or r.get("room_order_bad"):
            order = f", room order: {r['room_order_bad']} wrong" if r.get("room_order_bad") else ""
            bad["integrity"].append(f"{where}: loss {r['loss']}, dup {r['dup']}, ooo {r['ooo']}{order}")
        elif "held_all" in r and not r["held_all"]:
            bad["capacity"].append(f"{where}: {r['notes']}")
    return bad


def report(args: argparse.Namespace, ctx: Ctx, rows: list[dict], elapsed: float) -> dict[str, list[str]]:
    """Print the table and everything under it (and write the JSON); the failures by kind."""
    info = machine()
    print(table(rows))
    print()
    print(
        f"machine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, {info['platform']}; "
        f"server CPUs {ctx.server_cpus or 'any'}, generator CPUs {ctx.gen_cpus or 'any'} "
        f"({args.workers} processes); took {elapsed:.0f} s"
    )
    where = info["ours_root"] + (f" (git HEAD {info['ours_commit']})" if info["ours_commit"] else "")
    print(f"chatserver and chatclient from {where}")
    flags = our_flags()
    print(
        "rate limit: 'off' = chatserver run with --rate-limit 0 (every workload that sends messages exceeds its "
        "default per-connection rate); 'default' = its defaults; baselines have none. "
        if "--rate-limit" in flags
        else "rate limit: chatserver has no --rate-limit option, so every run has none ('off'/'default' alike). "
    )
    if "--max-clients" in flags:
        print("chatserver runs get --max-clients/--max-per-ip raised to the workload's client count (127.0.0.1 only).")
    print(
        "CPU = share of one core (server; the generator's processes summed); RSS/threads = server peak; "
        "loss/dup/ooo = missing, duplicated, out-of-order deliveries summed over all repeats."
    )
    notes = stderr_notes(rows)
    if notes:
        print("server stderr (distinct WARNING/ERROR lines, with counts):")
        for line in notes:
            print("  " + line)
    for r in rows:
        data = r.get("data") or {}
        prof = (data.get("median") or data).get("profile")
        if prof:
            print(f"profile of {r['server']} in {r['workload']} ({prof['samples']} samples, {prof['file']}):")
            print("  self:      " + "; ".join(f"{k} {v}%" for k, v in prof["self_pct"][:8]))
            print("  inclusive: " + "; ".join(f"{k} {v}%" for k, v in prof["inclusive_pct"][:10]))
    if RATIOS:
        print("ratios (median over median within this run; each pair of runs made one after the other):")
        for line in RATIOS:
            print("  " + line)
    targets = [t for r in rows for t in [r.get("target"), *r.get("targets", ())] if t]
    if targets:
        print("targets (ratios between runs of this bench, interleaved):")
        for t in targets:
            print("  " + t)
    bad = check_failures(rows)
    if bad["integrity"]:
        print("integrity: FAILED (loss/dup/out-of-order where every message should arrive)")
        for b in bad["integrity"]:
            print("  " + b)
    else:
        print("integrity: every checked peer got every message once, in order")
    if bad["capacity"]:
        print("capacity: not every idle client was registered and held")
        for b in bad["capacity"]:
            print("  " + b)
    if bad["failed"]:
        print("failed runs:")
        for b in bad["failed"]:
            print("  " + b)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"machine": info, "args": vars(args), "elapsed_s": elapsed, "rows": rows},
                f,
                indent=1,
                default=lambda o: o.hex() if isinstance(o, bytes) else str(o),
            )
    return bad
