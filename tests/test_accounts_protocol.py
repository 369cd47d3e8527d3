"""The account frames and commands (issue 23): round trips, the parser, and no password in any repr."""

from __future__ import annotations

import pytest

from common import messages as m
from common.commands import HELP_LINES, AskPassword, CommandError, parse_input

FRAMES: list[m.Message] = [
    m.Register(password="correct horse"),
    m.Login(name="bob", password="correct horse"),
    m.Login(name="bob", token="t0k3n"),
    m.ChangePassword(password="old one", new_password="new one"),
    m.Unregister(password="correct horse"),
    m.Logout(),
    m.Logout(all=True),
    m.DropAccount("bob"),
    m.LoggedIn(account="bob", token="t0k3n", registered=True),
    m.LoggedOut(account="bob", all=True, reason="dropped"),
    m.Hello(version=1, nick="bob", login_token="t0k3n"),
    m.Hello(version=1, nick="bob", account_password="correct horse", password="server's"),
    m.History(count=5, nick="alice"),
    m.Private(ts=1.5, nick="alice", to="bob", text="hi", replay="away"),
]


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: f.TYPE)
def test_account_frames_round_trip(frame: m.Message) -> None:
    assert m.decode(m.encode(frame)) == frame


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: f.TYPE)
def test_no_password_or_token_in_any_repr(frame: m.Message) -> None:
    shown = repr(frame) + str(frame) + repr(list(getattr(frame, "__rich_repr__", lambda: [])()))
    for secret in ("correct horse", "t0k3n", "old one", "new one", "server's"):
        assert secret not in shown
    if isinstance(frame, m.Login) and frame.password is not None:
        assert "password='***'" in repr(frame) and "token=None" in repr(frame)


def test_directions() -> None:
    for cls in (m.Register, m.Login, m.ChangePassword, m.Unregister, m.Logout, m.DropAccount):
        assert cls in m.CLIENT_TYPES and cls not in m.SERVER_TYPES
    for cls in (m.LoggedIn, m.LoggedOut):
        assert cls in m.SERVER_TYPES


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/register hunter22 x", m.Register("hunter22 x")),
        ("/login bob hunter22", m.Login(name="bob", password="hunter22")),
        ("/passwd old new", m.ChangePassword(password="old", new_password="new")),
        ("/unregister hunter22", m.Unregister("hunter22")),
        ("/logout", m.Logout()),
        ("/logout all", m.Logout(all=True)),
        ("/dropaccount bob", m.DropAccount("bob")),
        ("/history @bob", m.History(count=100, nick="bob")),
        ("/history @bob 7", m.History(count=7, nick="bob")),
    ],
)
def test_account_commands_parse(line: str, expected: m.Message) -> None:
    assert parse_input(line) == expected


@pytest.mark.parametrize(
    "line", ["/login", "/logout some", "/dropaccount", "/dropaccount a b", "/passwd old", "/history @"]
)
def test_account_command_usage(line: str) -> None:
    assert isinstance(parse_input(line), CommandError)


def test_commands_without_password_ask_for_it() -> None:
    ask = parse_input("/login bob")
    assert isinstance(ask, AskPassword) and ask.name == "bob" and len(ask.prompts) == 1
    assert ask.build("pw 1") == m.Login(name="bob", password="pw 1")
    ask = parse_input("/passwd")
    assert isinstance(ask, AskPassword) and len(ask.prompts) == 2
    assert ask.build("a", "b") == m.ChangePassword(password="a", new_password="b")
    with pytest.raises(ValueError):
        ask.build("a")
    assert parse_input("/register").build("x") == m.Register("x")  # type: ignore[union-attr]
    assert parse_input("/unregister").build("x") == m.Unregister("x")  # type: ignore[union-attr]


def test_help_names_the_account_commands() -> None:
    text = "\n".join(HELP_LINES)
    for command in (
        "/register",
        "/login NAME",
        "/passwd",
        "/unregister",
        "/logout [all]",
        "/dropaccount NAME",
        "@NICK",
    ):
        assert command in text
