"""The search workload (issue 20): a room of long messages in the SQLite store, sessions searching it in a loop,
and a message between two other people timed meanwhile (p99 < 50 ms), against the same with nobody searching."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

from benchmark.context import Ctx
from benchmark.driver import run_load
from benchmark.probe import Probe
from benchmark.rows import by_p99, error_row, median_row, run_interleaved
from benchmark.servers import SERVERS, ServerProc, ServerSpec
from benchmark.storebuild import STORE_WORDS, build_store
from benchmark.system import bench_home, log

#: Issue 20's target: the p99 of a message between two others while four sessions search, in ms.
P99_MS = 50.0
#: What the searchers ask, in turn: many hits, two terms, words with punctuation, one long query of 255 characters.
QUERIES = [
    "the",
    "meeting lunch",
    "server, client; release.",
    " ".join(STORE_WORDS * 3)[:255].rsplit(" ", 1)[0],
]
#: A searcher stops after this many searches even if the load goes on (a bound, not a target).
MAX_SEARCHES = 100_000


#: An answer whose closing notice has not come this long after its last frame is counted as unfinished (the
#: notice's wording may change) and the next search is sent.
QUIET_S = 10.0


def search_loop(probe: Probe, stop: threading.Event, out: dict) -> None:
    """Search, wait for the whole answer (the closing notice, or an error: a refusal), again, until ``stop``."""
    times: list[float] = []
    refused = 0
    probe.sock.settimeout(QUIET_S)
    try:
        for i in range(MAX_SEARCHES):
            if stop.is_set():
                break
            t0 = time.monotonic()
            probe.send({"type": "search", "words": QUERIES[i % len(QUERIES)]})
            while True:
                try:
                    frame = probe.frame()
                except TimeoutError:
                    out["unfinished"] = out.get("unfinished", 0) + 1
                    t0 = None
                    break
                kind = frame.get("type")
                if kind == "error":
                    refused += 1
                    out.setdefault("refusal", f"{frame.get('code')}: {frame.get('message')}"[:160])
                    break
                text = frame.get("text", "")
                if (
                    kind == "notice"
                    and frame.get("event") == "search"
                    and (text.startswith("end of search") or text.endswith("none found"))
                ):
                    break
            if t0 is not None:
                times.append(time.monotonic() - t0)
    except Exception as exc:  # noqa: BLE001  (reported with the run)
        out["error"] = f"{type(exc).__name__}: {exc}"
    out["times"] = times
    out["refused"] = refused


def run_search(ctx: Ctx, spec: ServerSpec, *, searchers: int, store_path: Path, **kwargs) -> dict:  # noqa: ANN003
    """One load (``run_load``) on a copy of ``store_path`` (messages of earlier runs would be replayed to the
    talkers) with ``searchers`` more sessions searching all along."""
    run_dir = Path(tempfile.mkdtemp(prefix="search-run-", dir=store_path.parent))
    copy = run_dir / store_path.name
    shutil.copyfile(store_path, copy)
    copy.chmod(0o600)  # (the server refuses a store others may read)
    probes: list[Probe] = []
    outs = [{} for _ in range(searchers)]
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def before(server: ServerProc) -> None:
        probes.extend(Probe(server.port, f"finder{i}") for i in range(searchers))

    def during(_server: ServerProc, _t_go: int) -> None:
        for probe, out in zip(probes, outs, strict=True):
            threads.append(threading.Thread(target=search_loop, args=(probe, stop, out), daemon=True))
            threads[-1].start()

    def after() -> dict:
        stop.set()
        for th in threads:
            th.join(30)
        times = sorted(t for o in outs for t in o.get("times", ()))
        return {
            "searches": len(times),
            "refused": sum(o.get("refused", 0) for o in outs),
            "unfinished": sum(o.get("unfinished", 0) for o in outs),
            "mean_ms": sum(times) / len(times) * 1e3 if times else None,
            "max_ms": times[-1] * 1e3 if times else None,
            "errors": [o["error"] for o in outs if "error" in o],
            "refusals": sorted({o["refusal"] for o in outs if "refusal" in o}),
            "still_running": sum(th.is_alive() for th in threads),
        }

    try:
        return run_load(
            ctx, spec, store_path=copy, extra_conns=searchers, before=before, during=during, after=after, **kwargs
        )
    finally:
        stop.set()
        for probe in probes:
            probe.sock.close()  # (a thread still reading gets an error and ends)
        shutil.rmtree(run_dir, ignore_errors=True)


def search(ctx: Ctx, count: int) -> list[dict]:
    """Two people talk at a steady rate in a room of ``count`` long messages, with four sessions searching it
    and with none, interleaved; the p99 with searchers against the target."""
    q = ctx.args.quick
    spec = SERVERS["ours-native-sqlite"]
    rate, duration = 50, 2.0 if q else 10.0
    with tempfile.TemporaryDirectory(prefix="search-store-", dir=bench_home()) as tmp:
        path = Path(tmp) / "search.sqlite3"
        log(f"building a room of {count:,} long messages")
        try:
            info = build_store(ctx, path, count, rooms_share={"#lobby": 1.0}, words=(40, 48))
        except Exception as exc:  # noqa: BLE001
            return [error_row(f"search, {count:,} messages", spec, exc)]
        log(f"  {info['messages']:,} messages, {info['mib']:.1f} MiB, built in {info['build_s']:.1f} s")
        load = {"n": 2, "mode": "rate", "rate": rate, "duration": duration, "audit_all": True, "store_path": path}
        jobs = [
            (
                f"search: {count:,} long messages, {k} searching, 2 talking {rate} msg/s {duration:g} s",
                spec,
                load
                | {
                    "runner": run_search,
                    "searchers": k,
                },
            )
            for k in (4, 0)
        ]
        results = run_interleaved(ctx, jobs, ctx.args.repeat)
    rows = []
    for (name, _, kwargs), runs in zip(jobs, results, strict=True):
        if isinstance(runs, Exception):
            rows.append(error_row(name, spec, runs))
            continue
        found = [r["after"] for r in runs]
        notes = []
        if kwargs["searchers"]:
            done = sum(f["searches"] for f in found)
            unfinished = sum(f["unfinished"] for f in found)
            mean = [f["mean_ms"] for f in found if f["mean_ms"] is not None]
            notes.append(
                f"{done:,} searches answered ({done / (duration * len(runs)):.1f}/s), "
                + (
                    f"mean {sum(mean) / len(mean):.0f} ms, max {max(f['max_ms'] for f in found if f['max_ms']):.0f} ms"
                    if mean
                    else "none answered"
                )
                + f", {sum(f['refused'] for f in found)} refused"
                + (f", {unfinished} with no closing notice within {QUIET_S:g} s" if unfinished else "")
                + "".join(f" ({r})" for r in sorted({r for f in found for r in f["refusals"]})[:2])
            )
            errors = [e for f in found for e in f["errors"]]
            if errors:
                notes.append(f"searcher errors: {errors[0]}" + (f" (+{len(errors) - 1})" if len(errors) > 1 else ""))
        row = median_row(name, spec, runs, by_p99, notes=notes)
        if kwargs["searchers"] and row.get("p99") is not None:
            done = sum(f["searches"] for f in found)
            ok = row["p99"] < P99_MS and done > 0 and not any(f["errors"] for f in found)
            row["target"] = (
                f"{name}: {spec.label} p99 {row['p99']:.1f} ms for a message between two others while "
                f"{kwargs['searchers']} sessions searched ({done:,} searches answered) (target < {P99_MS:g} ms): "
                f"{'met' if ok else 'NOT met'}" + (" (quick: fewer messages than the issue's 10,000)" if q else "")
            )
        rows.append(row)
    return rows
