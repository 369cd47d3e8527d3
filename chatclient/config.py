"""``~/.config/chatclient/config.toml``: defaults that command-line flags override.

name = "alice"
server = "192.168.1.5:5050"
tls = true
timestamps = true
color = true              # false, or NO_COLOR in the environment, for none
bell = "mentions"         # "on" (every message), "mentions" (and private), "off"
paste_confirm = 5         # ask before sending a paste of more lines than this
ignore = ["spammer"]
highlight = ["deploy"]    # words that count as a mention, besides your name
notify = "mentions"       # desktop notifications: "mentions" (and private), "all", "off"
notify_interval = 10      # at most one notification per this many seconds (a burst: one saying how many)
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from common.paths import client_config_dir

BELL_MODES = ("on", "mentions", "off")
NOTIFY_MODES = ("mentions", "all", "off")


@dataclasses.dataclass
class Config:
    name: str | None = None
    server: str | None = None
    tls: bool = False
    timestamps: bool = True
    color: bool = True
    bell: str = "mentions"
    paste_confirm: int = 5
    ignore: list[str] = dataclasses.field(default_factory=list)
    highlight: list[str] = dataclasses.field(default_factory=list)
    notify: str = "mentions"
    notify_interval: int = 10


class ConfigError(Exception):
    pass


#: How a setting's type is named to a person editing the file.
_KINDS = {str: "a string", bool: "true or false", int: "a whole number", list: "a list"}


def _toml(value: object) -> str:
    """A value as it is spelled in the file (``true``, ``'yes'``, ``5``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def config_path() -> Path:
    return client_config_dir() / "config.toml"


def load(path: Path | None = None) -> Config:
    """The config file's settings (defaults if there is none); ``ConfigError`` says what is wrong."""
    path = path or config_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    config = Config()
    types = {f.name: f.type for f in dataclasses.fields(Config)}
    for key, value in raw.items():
        if key not in types:
            raise ConfigError(f"{path}: unknown setting {key!r} (known: {', '.join(types)})")
        expected = {"str | None": str, "bool": bool, "int": int, "str": str, "list[str]": list}[types[key]]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"{path}: {key} must be {_KINDS[expected]}, not {_toml(value)}")
        setattr(config, key, value)
    if config.bell not in BELL_MODES:
        raise ConfigError(f"{path}: bell must be one of {', '.join(BELL_MODES)}")
    if not all(isinstance(n, str) for n in config.ignore):
        raise ConfigError(f"{path}: ignore must be a list of nicknames")
    if not all(isinstance(w, str) and w.strip() for w in config.highlight):
        raise ConfigError(f"{path}: highlight must be a list of words")
    if config.notify not in NOTIFY_MODES:
        raise ConfigError(f"{path}: notify must be one of {', '.join(NOTIFY_MODES)}")
    if config.notify_interval < 0:
        raise ConfigError(f"{path}: notify_interval must be 0 or more seconds")
    return config
