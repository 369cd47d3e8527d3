"""Every per-user file stays where earlier versions kept it (``common/paths.py``):
the formulas each module had before platformdirs, for a given environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chatclient.config import config_path
from chatclient.trust import KnownServers
from common import paths

XDG = ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME")


def _old_base(var: str, *fallback: str) -> Path:
    """How each module found a base directory before ``common/paths.py``."""
    return Path(os.environ.get(var) or os.path.join(os.path.expanduser("~"), *fallback))


def _old_store(server_name: str) -> Path:
    """``chatserver.backends.store.default_path`` as it was."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in server_name).strip(".") or "chatserver"
    return _old_base("XDG_STATE_HOME", ".local", "state") / "lanchat" / f"{safe}.sqlite3"


def _expected() -> dict[str, Path]:
    state = _old_base("XDG_STATE_HOME", ".local", "state")
    return {
        "server state (chatserver/app/cli.py)": state / "chatserver",
        "server data (chatserver/app/certs.py)": _old_base("XDG_DATA_HOME", ".local", "share") / "chatserver",
        "client config (chatclient/trust.py)": _old_base("XDG_CONFIG_HOME", ".config") / "chatclient",
        "client state (chatclient/ui.py)": state / "chatclient",
    }


def _now() -> dict[str, Path]:
    return {
        "server state (chatserver/app/cli.py)": paths.server_state_dir(),
        "server data (chatserver/app/certs.py)": paths.server_data_dir(),
        "client config (chatclient/trust.py)": paths.client_config_dir(),
        "client state (chatclient/ui.py)": paths.client_state_dir(),
    }


@pytest.mark.parametrize("xdg", ["set", "unset", "empty"])
def test_each_directory_is_where_it_was(tmp_path, monkeypatch, xdg):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in XDG:
        if xdg == "set":
            monkeypatch.setenv(var, str(tmp_path / var.lower()))
        elif xdg == "unset":
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, "")
    expected = _expected()
    assert _now() == expected
    under = tmp_path / ("xdg_" if xdg == "set" else "home")
    assert all(str(path).startswith(str(under)) for path in expected.values()), expected  # the case meant
    if xdg != "set":
        home = tmp_path / "home"
        assert paths.server_state_dir() == home / ".local" / "state" / "chatserver"
        assert paths.server_data_dir() == home / ".local" / "share" / "chatserver"
        assert paths.client_config_dir() == home / ".config" / "chatclient"
        assert paths.client_state_dir() == home / ".local" / "state" / "chatclient"


@pytest.mark.parametrize("name", ["chatserver", "Hausnetz A", "../x", "..", "", "Ünïcode/ä", "a.b-c_d"])
def test_the_default_store_is_where_it_was(tmp_path, monkeypatch, name):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_STATE_HOME")
    assert paths.store_file(name) == _old_store(name)
    assert paths.store_file(name).parent == tmp_path / "home" / ".local" / "state" / "lanchat"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert paths.store_file(name) == _old_store(name)
    assert paths.store_file(name).parent == tmp_path / "state" / "lanchat"


def test_the_files_in_them_follow_the_environment(tmp_path, monkeypatch):
    """The client's files are found afresh from the environment each time, not once at import."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "one"))
    assert config_path() == tmp_path / "one" / "chatclient" / "config.toml"
    assert KnownServers().path == tmp_path / "one" / "chatclient" / "known_servers"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "two"))
    assert config_path() == tmp_path / "two" / "chatclient" / "config.toml"
    assert KnownServers().path == tmp_path / "two" / "chatclient" / "known_servers"


def test_the_downloads_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user-dirs.dirs in it
    monkeypatch.delenv("XDG_DOWNLOAD_DIR", raising=False)
    assert paths.downloads_dir() == tmp_path / "home" / "Downloads"
    monkeypatch.setenv("XDG_DOWNLOAD_DIR", str(tmp_path / "incoming"))
    assert paths.downloads_dir() == tmp_path / "incoming"
