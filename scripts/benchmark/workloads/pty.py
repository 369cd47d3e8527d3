"""The terminal workload: a real chatclient in a pseudo-terminal; all shown? typed-key echo time."""

from __future__ import annotations

import contextlib
import os
import re
import statistics
import sys
import tempfile
import time

from benchmark.context import Ctx
from benchmark.driver import run_load
from benchmark.protocol import HOST, NS
from benchmark.rows import error_row, load_row
from benchmark.servers import ServerProc, ServerSpec
from benchmark.system import OURS_ROOT, child_env, log, proc_sample


class Terminal:
    """The pty's far end. It answers cursor-position requests at once, as a real terminal does
    (prompt_toolkit asks for one and otherwise waits, then warns); pyte renders the screen afterwards
    (it is too slow to keep up live)."""

    def __init__(self, child, rows: int, cols: int) -> None:  # noqa: ANN001
        self.child = child
        self.rows, self.cols = rows, cols
        self.out = bytearray()

    def read(self, timeout: float) -> bytes:
        import pexpect

        try:
            chunk = self.child.read_nonblocking(65536, timeout=timeout)
        except pexpect.TIMEOUT:
            return b""
        tail = bytes(self.out[-3:])
        self.out += chunk
        for _ in range((tail + chunk).count(b"\x1b[6n")):
            self.child.send(b"\x1b[%d;1R" % self.rows)  # the prompt sits on the bottom line
        return chunk

    def lines(self) -> list[str]:
        import pyte

        screen = pyte.Screen(self.cols, self.rows)
        pyte.ByteStream(screen).feed(bytes(self.out))
        return [line.rstrip() for line in screen.display]


PTY_MESSAGE = re.compile(rb"(c\d+): m (\d+)")


def run_pty(ctx: Ctx, rate: float, duration: float, senders: int = 4, probe_every: float = 0.25) -> dict:
    """A real chatclient in a pty receives ``rate`` messages/s: all shown? how fast is a typed key echoed?"""
    import pexpect

    rows, cols = 40, 120
    holder: dict = {}

    def before(server: ServerProc) -> None:  # the viewer joins before the senders
        env = child_env()
        env.update({"NO_COLOR": "1", "TERM": "xterm"})
        child = pexpect.spawn(
            sys.executable,
            ["-m", "chatclient", f"{HOST}:{server.port}", "--name", "viewer"],
            env=env,
            cwd=str(OURS_ROOT[0]),
            dimensions=(rows, cols),
        )
        holder["child"] = child
        term = holder["term"] = Terminal(child, rows, cols)
        end = time.monotonic() + 15
        while b"viewer>" not in term.out:
            if time.monotonic() > end:
                raise RuntimeError(f"chatclient showed no prompt: {bytes(term.out[-300:])!r}")
            term.read(0.1)
        if ctx.all_cpus:  # the client under test may use every core
            with contextlib.suppress(OSError):
                os.sched_setaffinity(child.pid, ctx.all_cpus)

    def during(server: ServerProc, t_go: int) -> dict:
        child, term = holder["child"], holder["term"]
        start = len(term.out)
        probes: list[float | None] = []
        # Probe keys: capitals that neither the messages nor prompt_toolkit's usual escape sequences contain.
        letters = [c.encode() for c in "QZXVWYUO"]
        sent_letters: list[bytes] = []
        probe: tuple[bytes, int, int] | None = None  # letter, sent at, output offset
        next_probe = t_go + NS // 2
        end_sched = t_go + int(duration * NS)
        expected = int(rate * duration)
        last_growth = time.monotonic_ns()
        cpu0 = proc_sample(child.pid)["cpu"]
        while True:
            now = time.monotonic_ns()
            if probe is None and next_probe <= now < end_sched:
                if not letters:
                    letters, sent_letters = sent_letters, []
                letter = letters.pop(0)
                sent_letters.append(letter)
                child.send(letter)
                probe = (letter, time.monotonic_ns(), len(term.out))
            try:
                chunk = term.read(0.002)
            except pexpect.EOF:
                break
            now = time.monotonic_ns()
            if chunk:
                last_growth = now
            if probe is not None:
                letter, t_sent, offset = probe
                found = term.out.find(letter, offset) >= 0
                if found or now - t_sent > 2 * NS:
                    probes.append((now - t_sent) / 1e6 if found else None)
                    child.send(b"\x7f")  # erase it again
                    probe = None
                    next_probe = now + int(probe_every * NS)
            if now > end_sched and not chunk:
                if now - last_growth > 3 * NS or now > end_sched + 20 * NS:
                    break
                if now - last_growth > NS // 10 and len(set(PTY_MESSAGE.findall(term.out, start))) >= expected:
                    break
        wall = (time.monotonic_ns() - t_go) / NS
        cpu = proc_sample(child.pid)["cpu"] - cpu0
        out = bytes(term.out[start:])
        found = PTY_MESSAGE.findall(out)
        unique = set(found)
        # A key typed while prompt_toolkit prints (the tty briefly in cooked mode) is echoed by the kernel,
        # into the middle of a message line.
        garbled = re.findall(rb"c\d+: m [^\r\n]*?[QZXVWYUO][^\r\n]*", out)
        display = term.lines()
        prompt = next((line for line in reversed(display) if line.startswith("viewer>")), None)
        done = [p for p in probes if p is not None]
        missing = []
        if len(unique) < expected:
            have = {(n.decode(), int(q)) for n, q in unique}
            sends = {f"c{i}": len(range(i, expected, senders)) for i in range(senders)}
            missing = sorted((n, q) for n, c in sends.items() for q in range(c) if (n, q) not in have)[:20]
        transcript = None
        odd = not (prompt is not None and prompt.strip() == "viewer>") or any(p < 1.0 for p in done)
        if missing or garbled or odd or os.environ.get("BENCH_PTY_TRANSCRIPT"):
            fd, transcript = tempfile.mkstemp(prefix="bench-pty-", suffix=".log")
            os.write(fd, out)
            os.close(fd)
        return {
            "expected": expected,
            "shown": len(unique),
            "shown_twice": len(found) - len(unique),
            "missing_sample": missing,
            "garbled_lines": [g.decode(errors="replace") for g in garbled[:5]],
            "garbled": len(garbled),
            "echo_ms": [round(p, 2) for p in done],
            "echo_p50": statistics.median(done) if done else None,
            "echo_max": max(done) if done else None,
            "echo_timeouts": probes.count(None),
            "client_cpu": cpu / wall,
            "output_bytes": len(out),
            "prompt_line": prompt,
            "prompt_clean": prompt is not None and prompt.strip() == "viewer>",
            "screen_tail": display[-3:],
            "transcript": transcript,
        }

    try:
        return run_load(
            ctx,
            ServerSpec("ours", "native"),
            senders,
            mode="rate",
            rate=rate,
            duration=duration,
            audit_all=True,
            before=before,
            during=during,
        )
    finally:
        child = holder.get("child")
        if child is not None:
            with contextlib.suppress(Exception):
                child.terminate(force=True)


def pty(ctx: Ctx, rate: float, duration: float) -> list[dict]:
    name = f"terminal client {rate:g} msg/s {duration:g} s"
    spec = ServerSpec("ours", "native")
    log(name)
    try:
        res = run_pty(ctx, rate, duration)
    except Exception as exc:  # noqa: BLE001
        return [error_row(name, spec, exc)]
    x = res["extra"] or {}
    lost = x.get("expected", 0) - x.get("shown", 0)
    echo = x.get("echo_p50")
    notes = [
        f"shown {x.get('shown')}/{x.get('expected')}",
        f"key echo p50 {echo:.1f} ms, max {x['echo_max']:.1f} ms ({len(x['echo_ms'])} keys)" if echo else "no echo",
        f"{x['echo_timeouts']} keys not echoed within 2 s" if x.get("echo_timeouts") else "",
        f"{x['garbled']} message line(s) with a typed key echoed into them" if x.get("garbled") else "",
        f"{sum(1 for e in x['echo_ms'] if e < 1)} key(s) echoed in < 1 ms (by the tty, not the client?)"
        if any(e < 1 for e in x.get("echo_ms", []))
        else "",
        f"transcript {x['transcript']}" if x.get("transcript") else "",
        ""
        if x.get("prompt_clean")
        else f"input line left as {x.get('prompt_line')!r} (a typed key or erase went astray)",
        f"client CPU {x.get('client_cpu', 0):.0%}",
    ]
    log("  " + "; ".join(filter(None, notes)))
    row = load_row(name, spec, res, notes=[n for n in notes if n])
    row["server"] = "ours (native) + chatclient"
    row["loss"] = row["loss"] + max(0, lost)  # a message not shown in the terminal is lost too
    row["dup"] = row["dup"] + x.get("shown_twice", 0)
    return [row]
