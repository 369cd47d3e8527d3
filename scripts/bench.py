#!/usr/bin/env python3
"""Benchmark chatserver against reference servers, on 127.0.0.1 only (the code is the ``benchmark`` package).

    python scripts/bench.py                 # the full run (about 15 minutes on 2 cores), prints one table
    python scripts/bench.py --json out.json # the same, plus every number as JSON
    python scripts/bench.py --quick         # a small smoke run; exit 1 on any loss
    python scripts/bench.py --help          # workloads, servers, --compare REV, --ours-root DIR
    python scripts/bench.py --workloads files  # file transfers and the chat beside them (issue 24)

What each workload measures: scripts/benchmark/__init__.py and docs/performance.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmark package beside this file

from benchmark.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
