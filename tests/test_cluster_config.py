"""Starting a cluster node: where Redis is, its password, and what is refused with a clear error."""

from __future__ import annotations

import subprocess

import pytest
from helpers import CLUSTER_LINE, TIMEOUT, NativeClient, ServerProcess, program, python_env
from redis_server import free_port

from chatserver.app.options import build_parser


def run_server(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*program("chatserver"), "--host", "127.0.0.1", "--port", "0", "--no-web", *args],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=TIMEOUT,
    )


def test_cluster_and_store_together_is_an_error(redis_server, tmp_path):
    done = run_server("--cluster", redis_server.url, "--store", str(tmp_path / "x.sqlite3"))
    assert done.returncode == 2 and "--store" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.sqlite3").exists()


def test_the_cluster_address_from_the_environment_with_its_password(make_redis, monkeypatch):
    secret = "pa55word"
    redis = make_redis(password=secret)
    monkeypatch.setenv("CHATSERVER_CLUSTER", f"redis://127.0.0.1:{redis.port}/0")
    monkeypatch.setenv("REDIS_PASSWORD", secret)
    node = ServerProcess("--no-web", "--cluster-heartbeat", "1")
    try:
        line = node.read_start_line(CLUSTER_LINE).group(0)
        assert secret not in line, "the password is not printed"
        assert redis.client().get("lanchat:cluster"), "the node is using this Redis"
        alice = NativeClient(node.port, "alice")
        alice.say("hi")
        assert alice.expect(lambda f: f["type"] in ("accepted", "error"))["type"] == "accepted"
    finally:
        code, err = node.stop()
    assert code == 0 and secret not in err


def test_a_password_in_the_address_is_used_and_never_shown(make_redis, make_nodes):
    redis = make_redis(password="in-the-url")
    (node,) = make_nodes(1, redis=redis)
    assert "in-the-url" not in node.ready_line + node.redis_shown
    assert node.redis_shown.endswith(f"127.0.0.1:{redis.port}/0")
    alice = NativeClient(node.port, "alice")
    alice.say("hi")
    assert alice.expect(lambda f: f["type"] in ("accepted", "error"))["type"] == "accepted"
    assert redis.client().get("lanchat:cluster") == node.cluster_id


def test_a_wrong_password_is_a_clear_error(make_redis):
    redis = make_redis(password="right")
    done = run_server("--cluster", f"redis://:not-the-password@127.0.0.1:{redis.port}/0")
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert "not-the-password" not in done.stderr + done.stdout, "not even a wrong password is shown"


def test_a_redis_not_there_at_start_is_a_clear_error():
    port = free_port()  # nothing listens there
    done = run_server("--cluster", f"redis://127.0.0.1:{port}/0")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"127.0.0.1:{port}" in done.stderr, "it says which Redis it could not reach"


@pytest.mark.parametrize("bad", ["redis://127.0.0.1:notaport/0", "http://127.0.0.1:6379/0"])
def test_a_bad_cluster_address_is_a_clear_error(bad):
    done = run_server("--cluster", bad)
    assert done.returncode != 0 and "Traceback" not in done.stderr and done.stderr.strip()


@pytest.mark.parametrize("beat", ["0", "0.05", "61", "1000000"])
def test_a_heartbeat_out_of_range_is_refused(beat):
    """0.1 to 60 s: a second checker of the same name once shadowed this one, and any positive number passed."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--cluster-heartbeat", beat])
    assert exited.value.code == 2
    assert build_parser().parse_args(["--cluster-heartbeat", "0.5"]).cluster_heartbeat == 0.5
