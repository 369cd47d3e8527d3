"""The files workload (issue 24): upload and download of a big file over loopback, and the chat latency of
others while it runs against without it, in one run.

Standalone (``PYTHONPATH=scripts python -m benchmark.workloads.files [--size-mib 1024]``): it starts one
``chatserver --store memory`` with its page's port, K native clients in one room, and a sender that says a
message every 1/RATE s with its send time; each other client's receive time gives a latency. Phase 1:
chat alone for D s. Phase 2: the same chat while one client uploads SIZE (``PUT /up/TOKEN``) and then
downloads it (``GET /f/ID/NAME``, read and dropped). Printed: MB/s of each transfer (target >= 200), the
latency p99 of both phases and their ratio (target <= 1.5x). On a loaded machine the figures are
indicative only: compare the ratio, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MIB = 1024 * 1024
CHUNK = MIB


class Client:
    """A native client on its own socket, reading frames as lines."""

    def __init__(self, port: int, nick: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")
        self.send({"type": "hello", "version": 1, "nick": nick})
        self.until(lambda f: f["type"] == "welcome")

    def send(self, frame: dict) -> None:
        self.sock.sendall(json.dumps(frame).encode() + b"\n")

    def frame(self) -> dict:
        line = self.file.readline()
        if not line:
            raise ConnectionError("server closed")
        return json.loads(line)

    def until(self, pred) -> dict:  # noqa: ANN001
        while True:
            f = self.frame()
            if pred(f):
                return f


def start_server(size_mib: int) -> tuple[subprocess.Popen, int, int]:
    args = [sys.executable, "-m", "chatserver", "--host", "127.0.0.1", "--port", "0", "--web-port", "0"]
    args += ["--no-irc", "--store", "memory", "--rate-limit", "0", "--max-file-size", str(size_mib + 1)]
    args += ["--file-quota", "0", "--files-max-mb", "0", "--no-advertise"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    chat = int(re.search(r"listening on \S+:(\d+)", proc.stdout.readline()).group(1))
    web = int(re.search(r"chat page for browsers: \S+:(\d+)/", proc.stdout.readline()).group(1))
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, chat, web


def chat_phase(port: int, clients: int, rate: float, stop: threading.Event, duration: float | None) -> list[float]:
    """Latencies (ms) of every delivery of a sender's paced messages to ``clients`` readers, until ``stop``
    (or ``duration`` s)."""
    tag = time.monotonic_ns() % 10**9
    readers = [Client(port, f"r{i}-{tag % 10**6}") for i in range(clients)]
    sender = Client(port, f"s-{tag % 10**6}")
    room = f"#bench{tag}"  # (a room of its own: no history of another phase replayed)
    for c in (*readers, sender):
        c.send({"type": "join", "room": room})
        c.until(lambda f: f["type"] == "joined")
    found: list[float] = []
    lock = threading.Lock()

    def read(c: Client) -> None:
        try:
            while True:
                f = c.frame()
                if f["type"] == "message" and "replay" not in f and f["text"].startswith("t="):
                    if f["text"] == "t=end":
                        return
                    ms = (time.perf_counter() - float(f["text"][2:])) * 1000
                    with lock:
                        found.append(ms)
        except (ConnectionError, OSError, ValueError):
            return

    threads = [threading.Thread(target=read, args=(c,), daemon=True) for c in readers]
    for t in threads:
        t.start()
    end = time.monotonic() + duration if duration else None
    next_at = time.perf_counter()
    while not stop.is_set() and (end is None or time.monotonic() < end):
        sender.send({"type": "say", "text": f"t={time.perf_counter()!r}"})
        next_at += 1 / rate
        time.sleep(max(0.0, next_at - time.perf_counter()))
    sender.send({"type": "say", "text": "t=end"})
    for t in threads:
        t.join(10)
    for c in (*readers, sender):
        c.sock.close()
    return found


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")


def transfer(chat_port: int, web_port: int, path: Path, size: int) -> tuple[float, float]:
    """Upload then download ``path``: MB/s of each. The bytes go through ``curl`` when there is one
    (a process of its own: this one's readers then share no interpreter lock with the transfer),
    else through ``http.client`` here."""
    owner = Client(chat_port, f"up-{time.monotonic_ns() % 10**6}")
    owner.send({"type": "upload", "name": "big.bin", "size": size})
    token = owner.until(lambda f: f["type"] in ("upload_token", "error"))
    if token["type"] == "error":
        raise RuntimeError(token["message"])
    base = f"http://127.0.0.1:{web_port}"
    curl = shutil.which("curl")
    start = time.perf_counter()
    if curl:
        out = subprocess.run([curl, "-sS", "-T", str(path), base + token["path"]], capture_output=True, check=True)
        answer = json.loads(out.stdout)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", web_port, timeout=120)
        conn.putrequest("PUT", token["path"])
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                conn.send(chunk)
        answer = json.loads(conn.getresponse().read())
        conn.close()
    up = size / (time.perf_counter() - start) / 1e6
    start = time.perf_counter()
    if curl:
        out = subprocess.run(
            [curl, "-sS", "-o", "/dev/null", "-w", "%{size_download}", base + answer["url"]],
            capture_output=True,
            check=True,
        )
        got = int(float(out.stdout))
    else:
        conn = http.client.HTTPConnection("127.0.0.1", web_port, timeout=120)
        conn.request("GET", answer["url"])
        resp = conn.getresponse()
        got = 0
        while block := resp.read(CHUNK):
            got += len(block)
        conn.close()
    down = size / (time.perf_counter() - start) / 1e6
    owner.sock.close()
    if got != size:
        raise RuntimeError(f"downloaded {got} of {size} bytes")
    return up, down


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--rate", type=float, default=50.0, help="chat messages per second")
    p.add_argument("--alone", type=float, default=10.0, help="seconds of chat without a transfer")
    args = p.parse_args(argv)
    proc, chat_port, web_port = start_server(args.size_mib)
    try:
        with tempfile.TemporaryDirectory(prefix="lanchat-bench-files-") as tmp:
            path = Path(tmp) / "big.bin"
            block = os.urandom(CHUNK)
            with open(path, "wb") as f:
                for _ in range(args.size_mib):
                    f.write(block)
            size = args.size_mib * MIB
            alone = chat_phase(chat_port, args.clients, args.rate, threading.Event(), args.alone)
            stop = threading.Event()
            during: list[float] = []
            chat = threading.Thread(
                target=lambda: during.extend(chat_phase(chat_port, args.clients, args.rate, stop, None))
            )
            chat.start()
            try:
                up, down = transfer(chat_port, web_port, path, size)
            finally:
                stop.set()
                chat.join()
        a, d = p99(alone), p99(during)
        print(f"files: upload {args.size_mib} MiB over loopback: {up:.0f} MB/s (target >= 200): "
              f"{'met' if up >= 200 else 'NOT met'}")  # fmt: skip
        print(f"files: download {args.size_mib} MiB over loopback: {down:.0f} MB/s (target >= 200): "
              f"{'met' if down >= 200 else 'NOT met'}")  # fmt: skip
        print(f"files: chat p99 of {args.clients} readers at {args.rate:g} msg/s: {a:.1f} ms alone "
              f"({len(alone)} deliveries), {d:.1f} ms during the transfers ({len(during)} deliveries): "
              f"{d / a:.2f}x (target <= 1.5x): {'met' if d / a <= 1.5 else 'NOT met'}")  # fmt: skip
        print("files: (indicative only on a loaded machine: compare the ratio, not the figures)")
    finally:
        proc.terminate()
        proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
