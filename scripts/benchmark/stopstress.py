"""Start a chatserver and signal it right after its ready line, again and again.

A stop must never hang, whenever the signal lands. This found a deadlock that
showed about once in a thousand stops (the SIGTERM handler's Event.set()
running inside the main thread's Event.wait()); the suite cannot afford that
many stops, so it lives here. Bounded by count and time; loopback only.

    python scripts/stop_stress.py --stops 2000 --seconds 600
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "tests"))

from helpers import ServerProcess  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stops", type=int, default=1000, help="servers to start and stop (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=300, help="give up after this long (default %(default)s)")
    parser.add_argument("--signal", choices=["TERM", "INT"], default="TERM")
    args = parser.parse_args()
    sig = getattr(signal, f"SIG{args.signal}")
    started = time.monotonic()
    done = 0
    while done < args.stops and time.monotonic() - started < args.seconds:
        server = ServerProcess("--rate-limit", "0")
        try:
            code, _ = server.stop(sig, timeout=5)
        except AssertionError as exc:  # it hung: the message holds its threads' stacks
            print(f"hang after {done} stops:\n{exc}")
            return 1
        if code != 0:
            print(f"exit code {code} after {done} stops")
            return 1
        done += 1
    print(f"{done} stops, none hung ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
