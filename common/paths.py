"""Where the programs keep their files: every per-user directory, in one place.

The XDG layout (``$XDG_STATE_HOME``, ``$XDG_CONFIG_HOME``, ``$XDG_DATA_HOME``,
else ``~/.local/state``, ``~/.config``, ``~/.local/share``), worked out by
``platformdirs``, on every platform: that is where every earlier version kept
its stores, certificates, known servers and histories (and where the README
says they are), so they are found after an upgrade. Each call reads the
environment afresh (the tests give each test its own HOME and XDG dirs).

=========================  ==========================================
``server_state_dir()``     ``~/.local/state/chatserver``: interactive.log
``store_file(NAME)``       ``~/.local/state/lanchat/NAME.sqlite3``
``server_data_dir()``      ``~/.local/share/chatserver``: TLS certificate
``client_config_dir()``    ``~/.config/chatclient``: config.toml, known_servers
``client_state_dir()``     ``~/.local/state/chatclient``: input history
``downloads_dir()``        ``$XDG_DOWNLOAD_DIR`` or ``~/Downloads``
=========================  ==========================================
"""

from __future__ import annotations

from pathlib import Path

from platformdirs.unix import Unix


def _dirs(app: str) -> Unix:
    # Unix on every platform, not platformdirs.PlatformDirs: the native macOS and
    # Windows places would lose the files kept where earlier versions put them.
    return Unix(app)


def server_state_dir() -> Path:
    """``$XDG_STATE_HOME/chatserver``: the server's log with ``--interactive``."""
    return Path(_dirs("chatserver").user_state_dir)


def store_dir() -> Path:
    """``$XDG_STATE_HOME/lanchat``: default stores, one file per server name."""
    return Path(_dirs("lanchat").user_state_dir)


def store_file(server_name: str) -> Path:
    """``$XDG_STATE_HOME/lanchat/NAME.sqlite3``: the default store of the server named so
    (characters other than letters, digits and ``-_.`` become ``_``)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in server_name).strip(".") or "chatserver"
    return store_dir() / f"{safe}.sqlite3"


def server_data_dir() -> Path:
    """``$XDG_DATA_HOME/chatserver``: the self-signed TLS certificate and its key."""
    return Path(_dirs("chatserver").user_data_dir)


def client_config_dir() -> Path:
    """``$XDG_CONFIG_HOME/chatclient``: ``config.toml`` and ``known_servers``."""
    return Path(_dirs("chatclient").user_config_dir)


def client_state_dir() -> Path:
    """``$XDG_STATE_HOME/chatclient``: the input history."""
    return Path(_dirs("chatclient").user_state_dir)


def downloads_dir() -> Path:
    """The user's downloads folder (``$XDG_DOWNLOAD_DIR``, else ``user-dirs.dirs``, else ``~/Downloads``),
    for files received."""
    return Path(Unix().user_downloads_dir)
