#!/usr/bin/env python3
"""Run the IRC conformance suite irctest against our IRC port (and, with --ngircd, against ngircd to compare).

irctest (github.com/progval/irctest) is kept outside this repository, in
``../shared/irctest`` by default. As irctest runs every server, each case
gets a fresh one: ours through ``irctest_lanchat.py`` (beside this script),
ngircd (Debian's package) through irctest's own controller. What passes and fails, and
why, is in docs/irc.md. The exit status says whether the suite ran, not how
many cases passed: the comparison is read, not asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SELECTION = "not Ergo and not deprecated and not strict"
_SUMMARY = re.compile(r"^=*\s*(.*\d+ (passed|failed).*?)\s*=*$")
_COUNT = re.compile(r"(\d+) (passed|failed|skipped|deselected|errors?|xfailed|xpassed)")


def run_suite(irctest: Path, controller: str, env: dict[str, str], selection: str) -> dict[str, int]:
    """Run irctest with ``controller``; the counts of its summary line."""
    cmd = [sys.executable, "-m", "pytest", "--controller", controller, "-k", selection]
    cmd += ["-p", "no:cacheprovider", "-p", "no:xdist", "-q", "-rfE", "--tb=no", "--timeout", "30"]
    # irctest keeps the ports it hands out in $TMPDIR/irctest_ports.json, locked only under xdist: two runs
    # at once (ngircd's beside ours, or another checkout's) overwrite it and fail with JSONDecodeError. Each
    # run gets a temporary folder of its own.
    with tempfile.TemporaryDirectory(prefix="irctest-") as tmp:
        result = subprocess.run(
            cmd,
            cwd=irctest,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": tmp, **env},
            capture_output=True,
            text=True,
        )
    lines = result.stdout.splitlines()
    for line in lines:
        if line.startswith(("FAILED ", "ERROR ")):
            print(f"  {line}")
    summary = next((m.group(1) for line in reversed(lines) if (m := _SUMMARY.match(line))), None)
    if summary is None:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
        raise SystemExit(f"irctest with {controller} did not finish")
    return {kind.rstrip("s") if kind.startswith("error") else kind: int(n) for n, kind in _COUNT.findall(summary)}


def said(name: str, counts: dict[str, int]) -> str:
    ran = counts.get("passed", 0) + counts.get("failed", 0) + counts.get("error", 0)
    return (
        f"irctest against {name}: passed {counts.get('passed', 0)} of {ran} run "
        f"(failed {counts.get('failed', 0)}, errors {counts.get('error', 0)}, skipped {counts.get('skipped', 0)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--irctest", type=Path, default=ROOT.parent / "shared" / "irctest", help="irctest's folder")
    parser.add_argument("--ngircd", action="store_true", help="also run it against ngircd, to compare")
    parser.add_argument("-k", dest="selection", default=SELECTION, help=f"the cases (default {SELECTION!r})")
    args = parser.parse_args()
    if not (args.irctest / "irctest").is_dir():
        print(f"irctest: not found at {args.irctest} (a copy of github.com/progval/irctest); nothing run")
        return 0 if not os.environ.get("CI") else 1
    scripts = str(Path(__file__).resolve().parent)
    path = os.pathsep.join(filter(None, [scripts, os.environ.get("PYTHONPATH")]))
    print(said("lanchat", run_suite(args.irctest, "irctest_lanchat", {"PYTHONPATH": path}, args.selection)))
    if args.ngircd:
        if shutil.which("ngircd") is None:
            print("irctest: ngircd is not installed (apt-get install ngircd): no comparison")
        else:
            print(said("ngircd", run_suite(args.irctest, "irctest.controllers.ngircd", {}, args.selection)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
