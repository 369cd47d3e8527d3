"""``ServerConfig`` (``chatserver/config.py``) is the one place a setting is defined:
the parser is built from its fields and the command line fills them all."""

from __future__ import annotations

import dataclasses
import re

import pytest

from chatserver.app.options import build_parser, config_from, parse
from chatserver.config import ServerConfig, flags
from chatserver.rules.modes import Mode


def _flag_fields(config: ServerConfig) -> dict:
    return {field.name: getattr(config, field.name) for field, _ in flags()}


def test_each_flag_is_a_field_and_each_field_a_flag_once(monkeypatch):
    monkeypatch.delenv("CHATSERVER_CLUSTER", raising=False)
    parser = build_parser()
    given = [opt for action in parser._actions for opt in action.option_strings]
    assert sorted(given) == sorted(["-h", "--help", "--version", *(flag.name for _, flag in flags())])
    assert len(given) == len(set(given))
    dests = {action.dest for action in parser._actions} - {"help", "version"}
    assert dests == {field.name for field, _ in flags()}
    help_text = parser.format_help()
    for _, flag in flags():
        assert len(re.findall(rf"^  {flag.name}(?= |\n)", help_text, re.M)) == 1, flag.name


def test_the_command_line_defaults_are_the_configs_defaults(monkeypatch):
    """A server made in-process (``ServerConfig()``) is configured as ``chatserver`` with no flags."""
    monkeypatch.delenv("CHATSERVER_CLUSTER", raising=False)
    assert _flag_fields(config_from(build_parser().parse_args([]))) == _flag_fields(ServerConfig())
    assert parse([]) == ServerConfig()
    assert parse([]).mode is Mode.CHAT


def test_every_flag_lands_in_its_field(monkeypatch):
    monkeypatch.delenv("CHATSERVER_CLUSTER", raising=False)
    flags_given = (
        "--host :: --port 0 --web-port 0 --web-host chat.lan --web-host b --mode chat --log-level debug "
        "--max-frame 100 --max-backlog 200 --tls --op Alice --op bob --login-timeout 3 --ping-interval 0 "
        "--idle-timeout 4 --rate-limit 0 --rate-burst 2 --max-clients 7 --max-per-ip 3 --rooms-per-hour 9 "
        "--keep 11 --history 12 --store memory --store-max-mb 0 --no-advertise"
    )
    config = parse([*flags_given.split(), "--name", " Hub "])
    expected = dict(
        host="::", port=0, web_port=0, web_host=["chat.lan", "b"], name="Hub", mode=Mode.CHAT, log_level="DEBUG",
        max_frame=100, max_backlog=200, tls=True, op=["Alice", "bob"], login_timeout=3.0, ping_interval=0.0,
        idle_timeout=4.0, rate_limit=0.0, rate_burst=2, max_clients=7, max_per_ip=3, rooms_per_hour=9, keep=11,
        history=12, store="memory", store_max_mb=0, no_advertise=True,
    )  # fmt: skip
    assert {name: getattr(config, name) for name in expected} == expected
    untouched = {name: value for name, value in _flag_fields(ServerConfig()).items() if name not in expected}
    assert {name: getattr(config, name) for name in untouched} == untouched
    assert parse(["--mode", "ack", "--no-web"]).mode is Mode.ACK


def test_the_cluster_url_defaults_to_the_environment(monkeypatch):
    monkeypatch.setenv("CHATSERVER_CLUSTER", "redis://cache.lan:6379/2")
    assert parse([]).cluster == "redis://cache.lan:6379/2"
    assert parse(["--cluster", "redis://other"]).cluster == "redis://other"
    assert ServerConfig().cluster is None, "read when the command line is, not by every config made in-process"
    monkeypatch.setenv("CHATSERVER_CLUSTER", "")
    assert parse([]).cluster is None


def test_a_list_default_is_never_shared():
    one, two = ServerConfig(), ServerConfig()
    one.web_host.append("x")
    assert two.web_host == [] and ServerConfig().op == []
    assert build_parser().parse_args([]).web_host == []


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--mode", "ack", "--store", "x"], "--mode ack keeps nothing and serves no page: leave out --store"),
        (["--interactive", "--mode", "reverse"], "--interactive works in chat mode only"),
        (["--cluster", "redis://x", "--store", "y"], "--cluster keeps chat in Redis: leave out --store"),
        (["--web-port", "1", "--no-web"], "argument --no-web: not allowed with argument --web-port"),
        (["--port", "70000"], "argument --port: a port is 0-65535, not 70000"),
    ],
)
def test_mistakes_exit_2_with_the_usage(monkeypatch, capsys, argv, says):
    monkeypatch.delenv("CHATSERVER_CLUSTER", raising=False)
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: chatserver ") and err.endswith(f"chatserver: error: {says}\n")


def test_fields_worked_out_at_start_have_no_flag():
    no_flag = {field.name for field in dataclasses.fields(ServerConfig)} - {field.name for field, _ in flags()}
    assert no_flag == {"tls_context", "password", "op_password", "ops", "plain_prompt_delay"}
