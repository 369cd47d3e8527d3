"""The files workload (issue 24): a big file uploaded and downloaded over loopback, and the chat latency of
others while it moves against without it, in one run.

``scripts/bench.py --workloads files --servers ours-native`` (64 MiB with ``--quick``, else 1024 MiB), or
``PYTHONPATH=scripts python -m benchmark.workloads.files [--size-mib N] [bench.py options]``. Ours with
``--store memory`` and its page's port (the files' HTTP port), started by ``servers.py``; the chat is the
load generator's (``driver.run_load``, rate mode: N clients in one room, a fixed total rate, every delivery
timed). Two runs: the chat alone, then the same chat while, from the driver's ``during`` hook, one client
(``probe.Probe``) asks for an upload token, uploads SIZE (``PUT /up/TOKEN``) and downloads it again and
again (``GET /f/ID/NAME``, read and dropped) until the chat's schedule ends. The bytes go through ``curl``
when there is one (a process of its own), else ``http.client`` in the driver. Three verdict lines: upload
and download MB/s (target >= 200) and the chat p99 during over alone (target <= 1.5x). On a loaded
machine the figures are indicative only: compare the ratio within the run, not the numbers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmark.context import Ctx
from benchmark.probe import Probe
from benchmark.protocol import HOST, NS
from benchmark.rows import by_p99, error_row, median_row, run_interleaved
from benchmark.servers import ServerSpec
from benchmark.system import bench_home, log

MIB = 1024 * 1024
CHUNK = MIB
UP_TARGET = DOWN_TARGET = 200.0  # MB/s
P99_TARGET = 1.5  # chat p99 during the transfers over alone, at most


class FilesServer(ServerSpec):
    """Ours (native) with its page's port, taking files of ``size_mib`` MiB without quotas."""

    def __init__(self, size_mib: int) -> None:
        super().__init__("ours", "native", key="ours-native-files")
        self.size_mib = size_mib

    def command(
        self, rate_off: bool, conns: int, store_path: str | None = None, cluster: str | None = None
    ) -> list[str]:
        cmd = [a for a in super().command(rate_off, conns, store_path, cluster) if a != "--no-web"]
        limits = ["--max-file-size", str(self.size_mib + 1), "--file-quota", "0", "--files-max-mb", "0"]
        return [*cmd, "--web-port", "0", *limits]


def _put(web: int, token: dict, path: Path, size: int) -> dict:
    curl = shutil.which("curl")
    if curl:
        url = f"http://{HOST}:{web}{token['path']}"
        out = subprocess.run([curl, "-sS", "-f", "-T", str(path), url], capture_output=True, check=True)
        return json.loads(out.stdout)
    conn = http.client.HTTPConnection(HOST, web, timeout=120)
    conn.putrequest("PUT", token["path"])
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            conn.send(chunk)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if resp.status != 201:
        raise RuntimeError(f"upload answered {resp.status}: {body[:200]!r}")
    return json.loads(body)


def _get(web: int, url: str) -> int:
    curl = shutil.which("curl")
    if curl:
        out = subprocess.run(
            [curl, "-sS", "-f", "-o", "/dev/null", "-w", "%{size_download}", f"http://{HOST}:{web}{url}"],
            capture_output=True,
            check=True,
        )
        return int(float(out.stdout))
    conn = http.client.HTTPConnection(HOST, web, timeout=120)
    conn.request("GET", url)
    resp = conn.getresponse()
    got = 0
    while block := resp.read(CHUNK):
        got += len(block)
    conn.close()
    return got


def transfers(chat_port: int, path: Path, size: int, until_ns: int) -> dict:
    """One upload of ``path``, then downloads of it until ``until_ns`` (at least one): MB/s of each."""
    with Probe(chat_port, f"up{time.monotonic_ns() % 10**6}", timeout=120) as owner:
        owner.send({"type": "upload", "name": "big.bin", "size": size})
        token, _ = owner.until("upload_token")
        start = time.perf_counter()
        answer = _put(token["web_port"], token, path, size)
        up = size / (time.perf_counter() - start) / 1e6
        uploaded_ns = time.monotonic_ns()
        downs = []
        while not downs or time.monotonic_ns() < until_ns:
            start = time.perf_counter()
            got = _get(token["web_port"], answer["url"])
            if got != size:
                raise RuntimeError(f"downloaded {got} of {size} bytes")
            downs.append(size / (time.perf_counter() - start) / 1e6)
    return {"upload_mb_s": up, "download_mb_s": sorted(downs)[len(downs) // 2], "downloads": len(downs),
            "upload_outlasted_chat": uploaded_ns > until_ns}  # fmt: skip


def files(ctx: Ctx, size_mib: int, n: int = 10, rate: float = 50.0, duration: float = 20.0) -> list[dict]:
    spec = FilesServer(size_mib)
    size = size_mib * MIB
    folder = Path(tempfile.mkdtemp(prefix="files-", dir=bench_home()))
    try:
        path = folder / "big.bin"
        with open(path, "wb") as f:
            block = bytes(range(256)) * (CHUNK // 256)
            for i in range(size_mib):
                f.write(block[i % 256 :] + block[: i % 256])  # (every MiB differs: no block repeats end to end)
        log(f"files: {size_mib} MiB in {path}")
        kwargs = {"n": n, "mode": "rate", "rate": rate, "duration": duration, "audit_all": True, "hard_timeout": 600}

        def during(server, t_go: int) -> dict:  # noqa: ANN001 - a ServerProc
            return transfers(server.port, path, size, t_go + int(duration * NS))

        alone_name = f"files: chat N={n} {rate:g} msg/s alone"
        during_name = f"files: chat N={n} {rate:g} msg/s during {size_mib} MiB up and down"
        jobs = [(alone_name, spec, kwargs), (during_name, spec, kwargs | {"during": during})]
        alone, moving = run_interleaved(ctx, jobs, 1)  # (one run each, as the issue asks: the ratio in one run)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if isinstance(alone, Exception) or isinstance(moving, Exception):
        return [error_row(name, spec, runs) if isinstance(runs, Exception) else median_row(name, spec, runs, by_p99)
                for name, runs in ((alone_name, alone), (during_name, moving))]  # fmt: skip
    rows = [median_row(alone_name, spec, alone, by_p99), median_row(during_name, spec, moving, by_p99)]
    moved = moving[0]["extra"]
    a, d = by_p99(alone[0]), by_p99(moving[0])
    ratio = d / a if a else float("inf")
    over = " (the upload outlasted the chat's schedule: lengthen it)" if moved["upload_outlasted_chat"] else ""
    up, down = moved["upload_mb_s"], moved["download_mb_s"]
    rows[1]["targets"] = [
        f"files: upload {size_mib} MiB over loopback: {up:.0f} MB/s (target >= {UP_TARGET:g}): "
        f"{'met' if up >= UP_TARGET else 'NOT met'}",
        f"files: download {size_mib} MiB over loopback: {down:.0f} MB/s, the median of {moved['downloads']} "
        f"(target >= {DOWN_TARGET:g}): {'met' if down >= DOWN_TARGET else 'NOT met'}",
        f"files: chat p99 of N={n} at {rate:g} msg/s: {a:.1f} ms alone, {d:.1f} ms during the transfers: "
        f"{ratio:.2f}x (target <= {P99_TARGET:g}x): {'met' if ratio <= P99_TARGET else 'NOT met'}{over}",
    ]
    return rows


def main(argv: list[str] | None = None) -> int:
    """Standalone: ``--size-mib N`` (default 1024), the rest as ``scripts/bench.py``'s options."""
    from benchmark.cli import parse_args  # (the bench's own options: CPUs, --quick, ...)
    from benchmark.report import report
    from benchmark.system import OURS_ROOT, cleanup

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mib", type=int, default=None, help="the file's size (default 1024; quick 64)")
    own, rest = p.parse_known_args(argv)
    args = parse_args([*rest, "--workloads", "fanout"])  # (a name cli knows: this module runs files itself)
    OURS_ROOT[0] = args.ours_root.resolve()
    ctx = Ctx(args)
    started = time.monotonic()
    try:
        rows = files(ctx, own.size_mib or (64 if args.quick else 1024), duration=5.0 if args.quick else 20.0)
    finally:
        cleanup()
    report(args, ctx, rows, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
