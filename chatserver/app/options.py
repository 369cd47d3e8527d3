"""``chatserver``'s command line: the parser, built from ``ServerConfig``'s fields,
and the config from what it parsed, with the checks that span several flags and
what flags left out mean (``store_path``, ``days_kept``)."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from chatserver.backends.retention import DEFAULT_DAYS
from chatserver.config import ServerConfig, flags
from chatserver.rules.modes import Mode
from common import __version__
from common.nicks import nick_problem
from common.paths import store_file


def build_parser() -> argparse.ArgumentParser:
    """A flag for each field that has one, in the fields' order, each in its group."""
    p = argparse.ArgumentParser(prog="chatserver", description="Multi-user LAN chat server.")
    groups: dict[str, argparse._ArgumentGroup] = {}
    exclusive: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for field, flag in flags():
        where: argparse._ActionsContainer = p
        if flag.group is not None:
            if flag.group not in groups:
                groups[flag.group] = p.add_argument_group(flag.group)
            where = groups[flag.group]
        if flag.exclusive is not None:
            if flag.exclusive not in exclusive:
                exclusive[flag.exclusive] = where.add_mutually_exclusive_group()
            where = exclusive[flag.exclusive]
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default
        if flag.env is not None:
            default = os.environ.get(flag.env) or default
        given = {"type": flag.type, "metavar": flag.metavar, "choices": flag.choices}
        where.add_argument(
            flag.name,
            dest=field.name,
            action=flag.action or "store",
            default=default,
            help=flag.help,
            **{key: value for key, value in given.items() if value is not None},
        )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def config_from(args: argparse.Namespace) -> ServerConfig:
    """The config of what was parsed: each flag's value in its field."""
    values = {}
    for field, flag in flags():
        value = getattr(args, field.name)
        values[field.name] = flag.convert(value) if flag.convert is not None else value
    return ServerConfig(**values)


def parse(argv: list[str] | None = None) -> ServerConfig:
    """The config the command line asks for; a mistake exits 2 with usage, as argparse does."""
    parser = build_parser()
    config = config_from(parser.parse_args(argv))
    if config.interactive:
        if config.mode is not Mode.CHAT:
            parser.error("--interactive works in chat mode only")
        problem = nick_problem(config.name)
        if problem:
            parser.error(f"--name {config.name!r} cannot be the host's nickname: {problem}")
    if config.mode is not Mode.CHAT:  # nothing to keep and no page: flags that ask for them are mistakes
        from_env = os.environ.get("CHATSERVER_CLUSTER") or None
        for flag, given in (
            ("--store", config.store),
            ("--cluster", config.cluster != from_env),
            ("--web-port", config.web_port is not None),
            ("--irc-port", config.irc_port is not None),
            ("--retain-days", config.retain_days),
            ("--retain-messages", config.retain_messages),
        ):
            if given:
                parser.error(f"--mode {config.mode.value} keeps nothing and serves no page: leave out {flag}")
    if config.cluster and config.store:
        parser.error("--cluster keeps chat in Redis: leave out --store")
    if config.cluster and (config.retain_days or config.retain_messages or config.store_max_mb):
        parser.error(
            "--retain-days, --retain-messages and --store-max-mb are for the SQLite store; a cluster keeps "
            "about the last 10000 entries of each room"
        )
    return config


def store_path(config: ServerConfig) -> Path:
    """The SQLite file chat is kept in: ``--store``, or the default one of the server's name."""
    return Path(config.store).expanduser() if config.store else store_file(config.name)


def days_kept(config: ServerConfig) -> float:
    """How long messages and shared files are kept, in days (``--retain-days``; 0: forever)."""
    return DEFAULT_DAYS if config.retain_days is None else config.retain_days
