"""The command line: options, which workloads on which servers, the exit status."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from benchmark.context import Ctx
from benchmark.ngircd import NGIRCD_INSTALL, ngircd_binary
from benchmark.report import report
from benchmark.servers import SERVERS, ServerSpec, export_rev
from benchmark.system import OURS_ROOT, ROOT, cleanup, log, pin, raise_nofile
from benchmark.workloads.cluster import cluster
from benchmark.workloads.fanout import fanout
from benchmark.workloads.files import files
from benchmark.workloads.idle import idle
from benchmark.workloads.joins import joins
from benchmark.workloads.latency import latency
from benchmark.workloads.pty import pty
from benchmark.workloads.register import register
from benchmark.workloads.search import search
from benchmark.workloads.slow import slow
from benchmark.workloads.store import store
from benchmark.workloads.web import web


@dataclasses.dataclass
class Servers:
    """The servers chosen (``--servers``, with their ``--compare`` twins): all of them, ours alone, and all but
    ngircd (which runs in fan-out and latency only)."""

    all: list[ServerSpec]
    ours: list[ServerSpec]
    not_irc: list[ServerSpec]


def _quick(ctx: Ctx, small, full):  # noqa: ANN001, ANN202
    return small if ctx.args.quick else full


#: Each workload by name, in the order a full run runs them: the servers it runs on and its sizes.
WORKLOADS: dict[str, Callable[[Ctx, Servers], list[dict]]] = {
    "fanout": lambda ctx, s: fanout(ctx, s.all, ctx.args.fanout_sizes),
    "latency": lambda ctx, s: latency(ctx, _quick(ctx, s.ours, s.all), *_quick(ctx, (20, 200, 1.0), (50, 500, 5.0))),
    "idle": lambda ctx, s: idle(ctx, _quick(ctx, s.ours, s.not_irc), ctx.args.idle_counts),
    "register": lambda ctx, s: register(ctx, s.ours, ctx.args.register_count),
    "slow": lambda ctx, s: slow(
        ctx,
        _quick(ctx, s.ours, s.not_irc),
        *_quick(ctx, (10, 500), (20, 1000)),
        ctx.args.slow_duration,
        ctx.args.slow_pad,
    ),
    "pty": lambda ctx, s: (
        pty(ctx, *_quick(ctx, (500, 1.0), (2000, 5.0)))
        if any(x.kind == "ours" and x.proto == "native" for x in s.all)
        else []
    ),
    "store": lambda ctx, s: store(ctx, s.all),
    "search": lambda ctx, s: search(ctx, ctx.args.search_messages),
    "web": lambda ctx, s: web(ctx, _quick(ctx, 10, 50)),
    "cluster": lambda ctx, s: cluster(ctx),
    "cluster-joins": lambda ctx, s: joins(ctx),
    # Files (issue 24): 1 GiB up and down beside a chat at 50 msg/s into 10, and without it.
    "files": lambda ctx, s: files(ctx, *_quick(ctx, (64, 10, 50.0, 5.0), (1024, 10, 50.0, 20.0))),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Benchmark chatserver against two baselines (127.0.0.1 only).")
    p.add_argument("--quick", action="store_true", help="small smoke run (minutes); exit 1 on any loss/dup/reorder")
    p.add_argument("--json", metavar="PATH", help="also write every number to PATH as JSON")
    p.add_argument(
        "--servers",
        default=None,
        help="comma list of ours-native,ours-plain,asyncio,naive,ngircd (the default; ngircd is skipped with a "
        "message when not installed) or ours-native-sqlite,ours-plain-sqlite,ours-irc,ours-irc-sqlite,asyncio-coalesce",
    )
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="comma list of %(default)s")
    p.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs of each fan-out, latency and slow-consumer case, interleaved across servers; "
        "the median is reported (default 3; quick 1)",
    )
    p.add_argument("--workers", type=int, default=2, help="load-generator processes (default 2)")
    p.add_argument("--batch", type=int, default=16, help="lines per send in fan-out (default 16)")
    p.add_argument("--deliveries", type=int, default=None, help="fan-out size per run in deliveries (default 600k)")
    p.add_argument(
        "--lowat", type=int, default=2048, help="SO_RCVLOWAT of fan-out receivers, bytes (default 2048; 0 = off)"
    )
    p.add_argument("--messages", type=int, default=0, help="fan-out messages per sender (overrides --deliveries)")
    p.add_argument("--fanout-sizes", default=None, help="comma list of N (default 10,50,200; quick 10)")
    p.add_argument("--idle-counts", default=None, help="comma list (default 1000,5000; quick 200)")
    p.add_argument(
        "--register-count",
        type=int,
        default=None,
        help="clients to register (default 5000; quick 200)",
    )
    p.add_argument("--idle-timeout", type=float, default=45.0, help="seconds allowed to register idle clients")
    p.add_argument("--slow-duration", type=float, default=None, help="slow-consumer run length (default 10 s)")
    p.add_argument("--slow-pad", type=int, default=1000, help="padding bytes per slow-consumer message (default 1000)")
    p.add_argument(
        "--store-messages",
        type=int,
        default=None,
        help="messages in the store the start is timed with (default 1,000,000; quick 20,000; -1: no start)",
    )
    p.add_argument(
        "--search-messages",
        type=int,
        default=None,
        help="messages in the searched room (default 10,000; quick 2,000)",
    )
    p.add_argument("--run-timeout", type=float, default=50.0, help="hard limit per fan-out run, seconds")
    p.add_argument(
        "--ours-root", type=Path, default=ROOT, help="run chatserver/chatclient from this tree (default: this checkout)"
    )
    p.add_argument(
        "--compare",
        metavar="REV[,REV...]",
        help="also run the chatserver of each git revision REV (exported with git archive into a temporary "
        "directory) beside each of ours, interleaved, and print the ratios",
    )
    p.add_argument("--profile", metavar="DIR", help="py-spy record chatserver during load runs into DIR (slows it)")
    p.add_argument(
        "--profile-mode",
        choices=("gil", "cpu"),
        default="gil",
        help="with --profile: 'gil' samples the thread holding the GIL (the Python work; the default), "
        "'cpu' every thread that is running, in Python or in C with the GIL let go (sends, SQLite)",
    )
    p.add_argument(
        "--profile-rate",
        type=int,
        default=100,
        help="with --profile: samples per second (default 100; more gives firmer shares from a short run, "
        "and slows the server more)",
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin server and generator to different cores")
    p.add_argument("--server-cpus", help="comma list of CPUs for the server (default: the first)")
    p.add_argument("--gen-cpus", help="comma list of CPUs for the load generator (default: the rest)")
    args = p.parse_args(argv)
    q = args.quick
    args.repeat = args.repeat or (1 if q else 3)
    args.deliveries = args.deliveries or (20_000 if q else 600_000)
    args.fanout_sizes = [int(x) for x in (args.fanout_sizes or ("10" if q else "10,50,200")).split(",")]
    args.idle_counts = [int(x) for x in (args.idle_counts or ("200" if q else "1000,5000")).split(",")]
    args.slow_duration = args.slow_duration or (1.0 if q else 10.0)
    args.store_messages = args.store_messages or (20_000 if q else 1_000_000)  # (-1: no start)
    args.servers_asked = args.servers is not None
    args.servers = [s for s in (args.servers or "ours-native,ours-plain,asyncio,naive,ngircd").split(",") if s]
    args.register_count = args.register_count or (200 if q else 5000)
    args.search_messages = args.search_messages or (2_000 if q else 10_000)
    args.workloads = [w for w in args.workloads.split(",") if w]
    for w in args.workloads:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    for s in args.servers:
        if s not in SERVERS:
            p.error(f"unknown server {s!r}; choose from {', '.join(SERVERS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    OURS_ROOT[0] = args.ours_root.resolve()
    raise_nofile(2 * max(*args.idle_counts, args.register_count) + 1000)
    ctx = Ctx(args)
    if ctx.gen_cpus:
        pin(ctx.gen_cpus)  # the driver is part of the generator
    specs = [SERVERS[s] for s in args.servers]
    if "ngircd" in args.servers and not ngircd_binary():
        log(f"ngircd is not installed, so it is not run: {NGIRCD_INSTALL}")
        if args.servers_asked and os.environ.get("CI"):
            return 1
        specs = [s for s in specs if s.kind != "ngircd"]
    if args.compare:
        trees = [export_rev(r) for r in args.compare.split(",") if r]
        for r, (tree, rev) in zip(args.compare.split(","), trees, strict=False):
            log(f"--compare {r}: chatserver of {rev} from {tree}, beside each of ours")
        twins = lambda s: [s.twin(*tree) for tree in trees] if s.kind == "ours" and not s.rev else []  # noqa: E731
        specs = [t for s in specs for t in [s, *twins(s)]]
    started = time.monotonic()

    def on_signal(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    rows: list[dict] = []
    chosen = Servers(specs, [s for s in specs if s.kind == "ours"], [s for s in specs if s.kind != "ngircd"])
    try:
        for name in args.workloads:
            rows += WORKLOADS[name](ctx, chosen)
    finally:
        cleanup()
    bad = report(args, ctx, rows, time.monotonic() - started)
    return 1 if (args.quick and any(bad.values())) else 0
