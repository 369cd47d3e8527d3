"""Runs into table rows: interleaved repeats, the median row, notes, ratios to a twin."""

from __future__ import annotations

from benchmark.context import Ctx
from benchmark.driver import run_load
from benchmark.servers import ServerSpec
from benchmark.system import log

#: Lines printed at the end: each of ours (this tree) against ngircd and against its --compare twin.
RATIOS: list[str] = []


def drops_note(res: dict) -> str:
    drops = res.get("dropped_peers") or []
    if not drops:
        return ""
    first = drops[0]
    return f"{len(drops)} reading peer(s) disconnected (first {first[0]} at {first[1]:.2f} s: {first[2]})"


def stderr_note(res: dict) -> str:
    st = res.get("stderr") or {}
    bits = []
    if st.get("tracebacks"):
        bits.append(f"{st['tracebacks']} traceback(s)")
    if st.get("errors"):
        bits.append(f"{st['errors']} ERROR")
    if st.get("warnings"):
        bits.append(f"{st['warnings']} WARNING")
    if res.get("server_stop_s") is None and res.get("server_exit") is not None:
        bits.append("did not stop on SIGTERM (killed)")
    return "stderr: " + ", ".join(bits) if bits else ""


def load_row(workload: str, spec: ServerSpec, res: dict, *, check: bool = True, notes: list[str] = ()) -> dict:  # type: ignore[assignment]
    lat = res["latency_ms"]
    other = res.get("other_cpu") or 0
    busy = f"other CPU load {other:.0%}" if other >= 0.2 and not res.get("extra") else ""
    cut = (
        f"CUT OFF at the {res.get('hard_timeout', 0):g} s limit (undelivered counted as loss)"
        if res.get("cut_off")
        else ""
    )
    kept = f"store {res['store_mib']:.1f} MiB at the end" if res.get("store_mib") is not None else ""
    extra = [n for n in [*notes, kept, cut, drops_note(res), stderr_note(res), busy] if n]
    return {
        "workload": workload,
        "server": spec.label,
        "key": spec.key,
        "rate_limit": res["rate_limit"],
        "deliv_s": res["deliveries_per_s"],
        "p50": lat["p50"],
        "p99": lat["p99"],
        "max": lat["max"],
        "loss": res["loss"],
        "dup": res["dup"],
        "ooo": res["ooo"],
        "srv_cpu": res["server_cpu"],
        "gen_cpu": res["gen_cpu"],
        "rss_mib": res["rss_mib"],
        "threads": res["threads"],
        "notes": "; ".join(extra),
        "check": check,
        "data": res,
    }


def error_row(workload: str, spec: ServerSpec, exc: BaseException) -> dict:
    log(f"  {workload} {spec.label}: FAILED: {exc}")
    return {
        "workload": workload,
        "server": spec.label,
        "key": spec.key,
        "notes": f"FAILED: {exc}"[:300],
        "check": True,
        "failed": True,
    }


def run_interleaved(ctx: Ctx, jobs: list[tuple[str, ServerSpec, dict]], repeat: int) -> list[list[dict] | Exception]:
    """Run every job ``repeat`` times, round-robin (job 1, job 2, ..., job 1, ...), so that a slow drift
    of a shared machine hits every server alike. A job that fails once is not run again."""
    out: list[list[dict] | Exception] = [[] for _ in jobs]
    for i in range(repeat):
        for j, (name, spec, kwargs) in enumerate(jobs):
            if isinstance(out[j], Exception):
                continue
            log(f"{name} {spec.label} run {i + 1}/{repeat}")
            runner = kwargs.get("runner", run_load)  # (the cluster workload's starts a Redis around run_load)
            try:
                res = runner(ctx, spec, **{k: v for k, v in kwargs.items() if k != "runner"})
            except Exception as exc:  # noqa: BLE001
                log(f"  FAILED: {exc}")
                out[j] = exc
                continue
            lat = res["latency_ms"]
            ms = "/".join(f"{lat[k] or 0:.2f}" for k in ("p50", "p99", "max"))
            log(
                f"  {res['deliveries_per_s']:,.0f} deliveries/s, p50/p99/max {ms} ms, "
                f"loss {res['loss']}, dup {res['dup']}, ooo {res['ooo']}, srv CPU {res['server_cpu']:.0%}, "
                f"gen CPU {res['gen_cpu']:.0%}, other {res['other_cpu']:.0%}{cpu_note(res)}"
            )
            out[j].append(res)
    return out


def cpu_per_million(res: dict) -> float | None:
    """The server's CPU seconds (user + system, every thread) per million deliveries: what a
    delivery costs, which moves far less than deliveries/s with what else the machine runs."""
    delivered = res.get("delivered")
    cpu = res.get("server_cpu_s")
    return cpu / delivered * 1e6 if delivered and cpu is not None else None


def cpu_note(res: dict) -> str:
    per = cpu_per_million(res)
    return f", srv CPU {per:.3f} s per million deliveries" if per is not None else ""


def by_p99(res: dict) -> float:
    return res["latency_ms"]["p99"] or 0.0


def by_rate(res: dict) -> float:
    return res["deliveries_per_s"]


def median_row(name: str, spec: ServerSpec, runs: list[dict], key, notes: list[str] = (), check: bool = True) -> dict:  # noqa: ANN001, B006
    """The row of the median run by ``key``; loss/dup/ooo summed over every run."""
    med = sorted(runs, key=key)[len(runs) // 2]
    notes = list(notes)
    if len(runs) > 1:
        shown = [f"{key(r) / 1e3:.0f}k" if key is by_rate else f"{key(r):.1f}" for r in runs]
        notes.insert(0, f"median of {len(runs)} by {'deliveries/s' if key is by_rate else 'p99 ms'}: {'/'.join(shown)}")
    row = load_row(name, spec, med, check=check, notes=notes)
    row["loss"] = sum(r["loss"] for r in runs)
    row["dup"] = sum(r["dup"] for r in runs)
    row["ooo"] = sum(r["ooo"] for r in runs)
    row["data"] = {"median": med, "runs": runs}
    drops = [d for r in runs for d in r["dropped_peers"]]
    if drops and not med["dropped_peers"]:
        row["notes"] = "; ".join(filter(None, [row["notes"], f"{len(drops)} reading peer(s) disconnected in repeats"]))
    return row


def vs_memory(group: list[dict], results: list, key) -> None:  # noqa: ANN001
    """A sqlite-store row gets its median figure over the same server's with --store memory, from the same
    interleaved runs, and the ratio of each pair of runs made one after the other."""
    by_key = {r["key"]: (r, runs) for r, runs in zip(group, results, strict=True)}
    for r, runs in zip(group, results, strict=True):
        twin = by_key.get(r["key"].removesuffix("-sqlite")) if r["key"].endswith("-sqlite") else None
        if twin is None or r.get("failed") or twin[0].get("failed"):
            continue
        mine, theirs = key(r["data"]["median"]), key(twin[0]["data"]["median"])
        if not theirs:
            continue
        r["vs_memory"] = mine / theirs
        paired = [key(a) / key(b) for a, b in zip(runs, twin[1], strict=False) if key(b)]
        r["vs_memory_paired"] = paired
        if len(paired) > 1:
            note = "x memory run by run: " + "/".join(f"{x:.2f}" for x in paired)
            r["notes"] = "; ".join(filter(None, [r["notes"], note]))
