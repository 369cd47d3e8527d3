"""py-spy on a server during a load (--profile) and the hottest functions of what it recorded."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmark.context import Ctx
from benchmark.servers import ServerProc
from benchmark.system import LIVE


def start_profiler(ctx: Ctx, server: ServerProc, name: str) -> tuple | None:
    """With ``--profile DIR``: py-spy records the server while the load runs (collapsed stacks)."""
    if not ctx.args.profile:
        return None
    out = Path(ctx.args.profile)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{time.strftime('%H%M%S')}.txt"
    spy = Path(sys.executable).with_name("py-spy")
    cmd = [str(spy) if spy.exists() else "py-spy", "record", "-p", str(server.proc.pid), "-o", str(path)]
    # --gil: sample only the thread holding the GIL, i.e. where the Python work goes; without it
    # (--profile-mode cpu), every thread that is not idle: C work with the GIL let go counts too.
    rate = str(getattr(ctx.args, "profile_rate", 100))
    cmd += ["-f", "raw", "-r", rate, "--nonblocking", "--threads"]
    if getattr(ctx.args, "profile_mode", "gil") == "gil":
        cmd.append("--gil")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    LIVE.add(proc)
    time.sleep(0.5)  # let it attach
    return proc, path


def stop_profiler(spy: tuple | None) -> dict | None:
    if spy is None:
        return None
    proc, path = spy
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    LIVE.discard(proc)
    return summarise_profile(path)


def summarise_profile(path: Path, top: int = 15) -> dict | None:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    try:
        text = path.read_text()
    except OSError:
        return None
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if not f.startswith(("thread (", "process "))]
        if not frames:
            continue
        total += n
        fn = lambda f: re.sub(r" \((?:[^()]*/)?([^/()]+\.py):\d+\)$", r" (\1)", f)  # noqa: E731  drop line numbers
        own[fn(frames[-1])] = own.get(fn(frames[-1]), 0) + n
        for f in {fn(f) for f in frames}:
            incl[f] = incl.get(f, 0) + n
    if not total:
        return None
    pick = lambda d: [(k, round(100 * v / total, 1)) for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]]  # noqa: E731
    return {"file": str(path), "samples": total, "self_pct": pick(own), "inclusive_pct": pick(incl)}
