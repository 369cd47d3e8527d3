"""One load run: start the servers and the generator processes, go, collect and merge their results."""

from __future__ import annotations

import array
import contextlib
import math
import time
from pathlib import Path

from benchmark.context import Ctx
from benchmark.generator import worker_main
from benchmark.profiler import start_profiler, stop_profiler
from benchmark.protocol import NS
from benchmark.servers import ServerProc, ServerSpec
from benchmark.system import LIVE_WORKERS, context_switches, cpu_seconds, machine_busy, proc_sample


def percentiles(lat: array.array) -> dict:
    if not lat:
        return {"p50": None, "p99": None, "max": None, "samples": 0}
    s = sorted(lat)
    n = len(s)
    pick = lambda q: s[min(n - 1, math.ceil(q * n) - 1)] / 1e6  # noqa: E731  nearest rank, in ms
    return {"p50": pick(0.50), "p99": pick(0.99), "max": s[-1] / 1e6, "samples": n}


def start_workers(ctx: Ctx, cfgs: list[dict]) -> list[tuple]:
    workers = []
    for cfg in cfgs:
        cfg["cpus"] = ctx.gen_cpus
        parent, child = ctx.mp.Pipe()
        proc = ctx.mp.Process(target=worker_main, args=(child, cfg), daemon=True)
        proc.start()
        LIVE_WORKERS.add(proc)
        child.close()
        workers.append((proc, parent))
    return workers


def recv_all(workers: list[tuple], timeout: float) -> list[dict]:
    out: list[dict | None] = [None] * len(workers)
    end = time.monotonic() + timeout
    while any(o is None for o in out):
        left = end - time.monotonic()
        if left <= 0:
            raise TimeoutError("a load-generator process did not answer in time")
        for i, (proc, conn) in enumerate(workers):
            if out[i] is None and conn.poll(min(0.05, left)):
                out[i] = conn.recv()
            elif out[i] is None and not proc.is_alive():
                raise RuntimeError(f"load-generator process exited with {proc.exitcode}")
    return out  # type: ignore[return-value]


def finish_workers(workers: list[tuple]) -> None:
    for _, conn in workers:
        with contextlib.suppress(OSError, BrokenPipeError):
            conn.send({"cmd": "close"})
    for proc, conn in workers:
        proc.join(3)
        if proc.is_alive():
            proc.kill()
            proc.join(1)
        LIVE_WORKERS.discard(proc)
        conn.close()


def run_load(
    ctx: Ctx,
    spec: ServerSpec,
    n: int,
    *,
    mode: str,
    messages: int = 0,
    rate: float = 0,
    duration: float = 0,
    pad: int = 0,
    stuck: bool = False,
    audit_all: bool = False,
    auditors_per_worker: int = 2,
    rate_off: bool = True,
    hard_timeout: float = 55.0,
    nodes: int = 1,
    cluster: str | None = None,
    side: dict[str, int] | None = None,
    room_order: bool = False,
    store_path: Path | None = None,
    extra_conns: int = 0,
    before=None,  # noqa: ANN001  called (server) once it listens, before the generator connects
    during=None,  # noqa: ANN001  called (server, t_go) in the driver while the load runs
    after=None,  # noqa: ANN001  called () in the driver once the load is over, before the servers stop
) -> dict:
    """Start the server, run one load with N clients in the room, stop everything.

    With ``nodes`` > 1, that many servers of ``spec`` (cluster nodes on the Redis at ``cluster``)
    and the clients split between them in blocks (c0.. on the first); ``side`` names other processes
    (pid) whose CPU is reported beside the servers' (Redis). ``store_path``: the store the server runs on
    (one made by the caller); ``extra_conns``: clients the caller connects itself (``before``), beside the N.
    ``room_order`` (native only) audits the
    room's own numbering: rising for every auditor, one message per number for all of them."""
    nicks = [f"c{i}" for i in range(n)]
    node_of = {nick: i * nodes // n for i, nick in enumerate(nicks)}
    if mode == "burst":
        sends = dict.fromkeys(nicks, messages)
    else:
        total = int(rate * duration)
        sends = {nick: len(range(i, total, n)) for i, nick in enumerate(nicks)}
    total_sent = sum(sends.values())
    nworkers = max(1, min(ctx.workers, n))
    cfgs = [
        {
            "port": 0,
            "proto": spec.proto,
            "mode": mode,
            "rate": rate,
            "nsenders": n,
            "pad": pad,
            "batch": ctx.args.batch,
            "lowat": ctx.args.lowat if mode == "burst" else 0,
            "peers": [],
            "senders": sends,
            "watch": "stuck" if stuck else None,
            "idle_timeout": 3.0,
            "node_of": node_of if nodes > 1 else {},
            "room_order": room_order,
        }
        for _ in range(nworkers)
    ]
    auditors: dict[tuple[int, int], int] = {}  # (worker, node) -> auditors so far
    for i, nick in enumerate(nicks):
        cfg = cfgs[i % nworkers]
        where = (i % nworkers, node_of[nick])
        audit = audit_all or auditors.get(where, 0) < auditors_per_worker
        auditors[where] = auditors.get(where, 0) + audit
        cfg["peers"].append(
            {
                "nick": nick,
                "sends": sends[nick],
                "gidx": i,
                "audit": audit,
                "expected": total_sent - sends[nick],
                "node": node_of[nick],
            }
        )
    if stuck:
        cfgs[0]["peers"].append({"nick": "stuck", "reads": False})

    servers = [
        ServerProc(
            spec, ctx.server_cpus, rate_off=rate_off, conns=n + 1 + extra_conns, cluster=cluster, store_path=store_path
        )
        for _ in range(nodes)
    ]
    server = servers[0]
    side = side or {}
    workers: list[tuple] = []
    result: dict = {"server": spec.label, "n": n, "mode": mode, "rate_limit": spec.rate_limit(rate_off)}
    try:
        for srv in servers:
            srv.start()
        if before:
            before(server)
        for cfg in cfgs:
            cfg["port"] = server.port
            for peer in cfg["peers"]:
                peer["port"] = servers[peer.get("node", 0)].port
        workers = start_workers(ctx, cfgs)
        ready = recv_all(workers, 40)
        nfailed = sum(r["nfailed"] for r in ready)
        if nfailed:
            raise RuntimeError(f"{nfailed} client(s) could not register: {ready[0]['failed'] or ready[-1]['failed']}")
        # (recorded from here: the load alone, not the clients' registration and joins before it)
        spies = [
            start_profiler(ctx, srv, f"{mode}-n{n}-{spec.key}" + (f"-node{k + 1}" if nodes > 1 else ""))
            for k, srv in enumerate(servers)
            if spec.kind == "ours"
        ]
        before = [srv.sample() for srv in servers]
        side0 = {name: proc_sample(pid)["cpu"] for name, pid in side.items()}
        cs0 = sum(context_switches(srv.proc.pid) for srv in servers)
        busy0, self0, t0 = machine_busy(), cpu_seconds(), time.monotonic_ns()
        for srv in servers:
            srv.start_sampling()
        t_go = time.monotonic_ns() + NS // 5
        deadline = t_go + int(hard_timeout * NS)
        for _, conn in workers:
            conn.send({"cmd": "go", "t_go": t_go, "deadline": deadline})
        extra = during(server, t_go) if during else None
        results = recv_all(workers, hard_timeout + 10)
        t_end = time.monotonic_ns()
        after_samples = [srv.sample() for srv in servers]
        side1 = {name: proc_sample(pid)["cpu"] for name, pid in side.items()}
        busy1, self1 = machine_busy(), cpu_seconds()
        cs1 = sum(context_switches(srv.proc.pid) for srv in servers)
        after_load = after() if after else None
        profiles = [stop_profiler(spy) for spy in spies]
        for srv in servers:
            srv.stop_sampling()
        for _, conn in workers:
            conn.send({"cmd": "drain", "timeout": 6.0})
        for srv in servers:
            srv.stop()
    finally:
        if workers:
            finish_workers(workers)
        for srv in servers:
            srv.stop()
    lat = array.array("q")
    lat_cross = array.array("q")
    for r in results:
        lat.frombytes(r["lat"])
        lat_cross.frombytes(r["lat_cross"])
    wall = (t_end - t_go) / NS
    t_last = max(r["t_last"] for r in results)
    span = (t_last - t_go) / NS if t_last > t_go else wall
    delivered = sum(r["delivered"] for r in results)
    closed = [c for r in results for c in r["closed"]]
    watch = [r["watch_at"] for r in results if r["watch_at"] is not None]
    node_cpu = [(a["cpu"] - b["cpu"]) / wall for a, b in zip(after_samples, before, strict=True)]
    side_cpu = {name: (side1[name] - side0[name]) / wall for name in side}
    stderr = [srv.stderr_summary() for srv in servers]
    result.update(
        {
            "delivered": delivered,
            "expected": sum(r["expected"] for r in results),
            # A fixed-rate run is judged over at least its schedule, so a stalled room shows.
            "deliveries_per_s": delivered / max(span, duration) if max(span, duration) > 0 else 0.0,
            "span_s": span,
            "loss": sum(r["loss"] for r in results),
            "dup": sum(r["dup"] for r in results),
            "ooo": sum(r["ooo"] for r in results),
            "unknown": sum(r["unknown"] for r in results),
            "sent": sum(r["sent"] for r in results),
            "messages_per_sender": messages if mode == "burst" else None,
            "latency_ms": percentiles(lat),
            "server_cpu": sum(node_cpu),
            # CPU seconds, not shares: a run that waited for lost messages has a long idle tail in ``wall_s``.
            "wall_s": wall,
            "server_cpu_s": sum(a["cpu"] - b["cpu"] for a, b in zip(after_samples, before, strict=True)),
            "server_sys_cpu": sum(a["sys"] - b["sys"] for a, b in zip(after_samples, before, strict=True)) / wall,
            "server_ctx_switches_per_delivery": (cs1 - cs0) / delivered if delivered else None,
            "gen_cpu": sum(r["cpu"] for r in results) / wall,
            # CPU used on this machine by anything but the servers, the generator and ``side`` (other users,
            # the pty client).
            "other_cpu": max(
                0.0,
                (
                    busy1
                    - busy0
                    - sum(a["cpu"] - b["cpu"] for a, b in zip(after_samples, before, strict=True))
                    - sum(side1[name] - side0[name] for name in side)
                    - sum(r["cpu"] for r in results)
                    - (self1 - self0)
                )
                / ((t_end - t0) / NS),
            ),
            "rss_mib": sum(srv.peak_rss for srv in servers) / 1024,
            "threads": sum(srv.peak_threads for srv in servers),
            "dropped_peers": [c for c in closed if c[0] != "stuck"],
            "stuck_dropped_at": min(watch) if watch else None,
            "cut_off": any(r["cut_off"] for r in results),
            "receivers": sum(r["receivers"] for r in results),
            "auditors": sum(r["auditors"] for r in results),
            "server_exit": server.exit_code,
            "server_stop_s": server.stop_seconds,
            "server_ready_s": server.ready_s,
            "store_mib": server.store_bytes / 2**20 if server.store_bytes is not None else None,
            "stderr": merge_stderr(stderr),
            "extra": extra,
            "after": after_load,
            "hard_timeout": hard_timeout,
            "profile": profiles[0] if profiles else None,
        }
    )
    if nodes > 1:
        result.update(
            {
                "nodes": nodes,
                "node_cpu": node_cpu,
                "node_rss_mib": [srv.peak_rss / 1024 for srv in servers],
                "node_exit": [srv.exit_code for srv in servers],
                "latency_cross_ms": percentiles(lat_cross),
                "profiles": profiles,
            }
        )
    if side:
        result["side_cpu"] = side_cpu
        result["side_cpu_s"] = {name: side1[name] - side0[name] for name in side}
    if room_order:
        result["room_order"] = audit_room_order(results, total_sent)
    return result


def merge_stderr(summaries: list[dict]) -> dict:
    """Several servers' ``stderr_summary`` as one."""
    if len(summaries) == 1:
        return summaries[0]
    kinds: dict[str, int] = {}
    for st in summaries:
        for k, v in st["kinds"].items():
            kinds[k] = kinds.get(k, 0) + v
    out = {key: sum(st[key] for st in summaries) for key in ("lines", "tracebacks", "errors", "warnings")}
    return out | {"kinds": kinds}


def audit_room_order(results: list[dict], sent: int) -> dict:
    """The room-order audit over every worker's auditors: a room number means the same message to all
    (``conflicts``), each auditor saw the numbers rise (``ooo``), and the messages seen are numbered
    without gaps (``gaps``: numbers in the seen range that no auditor saw with a message)."""
    seqs: dict[int, tuple[str, int]] = {}
    by_message: dict[tuple[str, int], int] = {}
    conflicts = sum(r["room_conflicts"] for r in results)
    for r in results:
        for k, msg in (r["room_seqs"] or {}).items():
            msg = tuple(msg)
            if seqs.setdefault(k, msg) != msg:
                conflicts += 1
            if by_message.setdefault(msg, k) != k:
                conflicts += 1  # one message under two numbers
    span = (max(seqs) - min(seqs) + 1) if seqs else 0
    return {
        "messages": len(seqs),
        "sent": sent,
        "first": min(seqs) if seqs else None,
        "last": max(seqs) if seqs else None,
        "gaps": span - len(seqs),
        "conflicts": conflicts,
        "ooo": sum(r["room_ooo"] for r in results),
    }
