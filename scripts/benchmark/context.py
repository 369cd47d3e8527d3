"""The options every workload shares (Ctx): the command line's arguments, which CPUs the server and the
generator get, the process start method."""

from __future__ import annotations

import argparse
import multiprocessing
import os


class Ctx:
    """Options shared by every workload."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workers = args.workers
        self.server_cpus, self.gen_cpus = plan_cpus(args)
        self.all_cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        self.mp = multiprocessing.get_context("spawn")


def plan_cpus(args: argparse.Namespace) -> tuple[list[int] | None, list[int] | None]:
    if args.no_pin or not hasattr(os, "sched_getaffinity"):
        return None, None
    avail = sorted(os.sched_getaffinity(0))
    if args.server_cpus or args.gen_cpus:
        parse = lambda s: [int(x) for x in s.split(",")] if s else None  # noqa: E731
        return parse(args.server_cpus), parse(args.gen_cpus)
    if len(avail) < 2:
        return None, None
    return avail[:1], avail[1:]
