#!/usr/bin/env python3
"""Start a chatserver and signal it right after its ready line, again and again (``benchmark.stopstress``).

python scripts/stop_stress.py --stops 2000 --seconds 600
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmark package beside this file

from benchmark.stopstress import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
