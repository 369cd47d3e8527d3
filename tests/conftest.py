from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import ServerProcess  # noqa: E402


@pytest.fixture
def server():
    """A chat server with rate limiting off, so tests can send quickly."""
    srv = ServerProcess("--rate-limit", "0")
    yield srv
    if srv.proc.poll() is None:
        srv.stop()
