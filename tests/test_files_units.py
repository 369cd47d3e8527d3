"""File limits are set in MiB (``--file-quota``, ``--files-max-mb``) and said in MiB, as they were set."""

from __future__ import annotations

import pytest

from chatserver.files.names import MIB, in_mib
from chatserver.files.store import FileStore, Refusal


def test_a_quota_refusal_says_the_quota_as_it_was_set(tmp_path):
    store = FileStore(tmp_path / "files", per_person=MIB, total=0, margin=0)
    with pytest.raises(Refusal) as over:
        store.check("alice", MIB + 1)
    assert "your quota of 1 MiB of files (1 MiB left)" in over.value.args[0] and over.value.status == 413


def test_a_full_server_says_its_limit_as_it_was_set(tmp_path):
    store = FileStore(tmp_path / "files", per_person=0, total=10240 * MIB, margin=0)
    with pytest.raises(Refusal) as full:
        store.check("alice", 10240 * MIB + 1)
    assert "the server's files are full (10240 MiB)" in full.value.args[0] and full.value.status == 507


def test_sizes_in_mib():
    assert [in_mib(n) for n in (0, MIB, 1024 * MIB, 3 * MIB // 2, 1000)] == [
        "0 MiB",
        "1 MiB",
        "1024 MiB",
        "1.5 MiB",
        "less than 0.1 MiB",
    ]
