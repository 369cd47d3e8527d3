"""The bench's processes and this machine: where our tree is, a private HOME, the processes left to stop,
/proc samples, CPU pinning, the log line.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import platform
import re
import resource
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BASELINES = ROOT / "scripts" / "baselines"


def pin(cpus: list[int] | None) -> None:
    if cpus and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, cpus)


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


#: Where chatserver/chatclient are imported from (``--ours-root``; default: this checkout).
OURS_ROOT = [ROOT]


_HOME: list[Path] = []


def bench_home() -> Path:
    """HOME (and XDG directories) of every process the bench starts, never the real one: a
    chatserver started without ``--store`` would keep its chat under ``$XDG_STATE_HOME``.
    Made on first use, removed when the bench exits (store files of the runs live in it too)."""
    if not _HOME:
        _HOME.append(Path(tempfile.mkdtemp(prefix="lanchat-bench-home-")))
        atexit.register(shutil.rmtree, _HOME[0], True)
    return _HOME[0]


def child_env(tree: Path | None = None) -> dict:
    env = dict(os.environ)
    root = str(tree or OURS_ROOT[0])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONASYNCIODEBUG", None)
    env.setdefault("PYTHONUSERBASE", site.getuserbase())  # packages installed with --user stay importable
    home = bench_home()
    env["HOME"] = str(home)
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        env[name] = str(home / name.split("_")[1].lower())
    return env


LIVE: set[subprocess.Popen] = set()
LIVE_WORKERS: set = set()


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def proc_sample(pid: int) -> dict:
    """CPU seconds, RSS (KiB) and thread count of ``pid`` from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
    except OSError:
        return {"cpu": 0.0, "sys": 0.0, "rss_kib": 0, "threads": 0}
    tick = os.sysconf("SC_CLK_TCK")
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) if "VmRSS" in status else 0
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
    return {
        "cpu": (int(fields[11]) + int(fields[12])) / tick,
        "sys": int(fields[12]) / tick,
        "rss_kib": rss,
        "threads": threads,
    }


def context_switches(pid: int) -> int:
    """Context switches of every thread of ``pid`` so far (live threads only)."""
    total = 0
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if "ctxt_switches" in line:  # voluntary_ and nonvoluntary_
                        total += int(line.split()[-1])
    return total


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def machine() -> dict:
    model = ""
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=OURS_ROOT[0])
    return {
        "ours_root": str(OURS_ROOT[0]),
        "ours_commit": commit.stdout.strip() or None,
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
    }


def raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < need:
        log(f"warning: RLIMIT_NOFILE is {soft}; idle runs need about {need}")


def cleanup() -> None:
    for proc in list(LIVE_WORKERS):
        with contextlib.suppress(Exception):
            proc.kill()
    for proc in list(LIVE):
        with contextlib.suppress(Exception):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.wait(2)
