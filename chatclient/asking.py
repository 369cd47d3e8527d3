"""What the command line asks or tells the person at the terminal before a session: name, password, trust."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from common.nicks import nick_problem

from .errors import ClientError


def read_password(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ClientError(f"cannot read the password file {path}: {exc.strerror or exc}") from None


def warn_in_clear() -> None:
    print(
        "chatclient: warning: no --tls: the password goes to the server unencrypted, readable on the network",
        file=sys.stderr,
    )


def ask_password(question: str = "Password: ") -> str:
    """Nothing echoed, not even its length (as ssh and sudo do)."""
    return getpass.getpass(question)


def confirm_certificate(address: str, fingerprint: str) -> bool:
    """First connection to a TLS server from a terminal: ask, as ssh does."""
    print(
        f"First connection to {address}: its TLS certificate is SHA256 {fingerprint}\n"
        "Check it against the fingerprint the server printed when it started.",
        file=sys.stderr,
    )
    from prompt_toolkit import prompt

    answer = prompt("Trust it and remember it for this address? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def ask_name(default: str) -> str:
    """The nickname, asked on the terminal: ``default`` is shown greyed in the empty line and taken
    by Enter alone; what is typed replaces it (as text already in the line, typing added to it:
    "root" and "frank" made "rootfrank")."""
    from prompt_toolkit import prompt
    from prompt_toolkit.formatted_text import FormattedText

    hint = FormattedText([("fg:ansibrightblack", f"{default} (Enter keeps it)")]) if default else None
    while True:
        name = prompt("Your nickname: ", placeholder=hint).strip() or default
        problem = nick_problem(name)
        if not problem:
            return name
        print(f"  {problem}")


def login_name() -> str:
    try:
        name = getpass.getuser()
    except Exception:  # no login name in this environment
        name = "guest"
    return name if not nick_problem(name) else "guest"
