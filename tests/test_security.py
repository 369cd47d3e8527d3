"""Encryption, access control and safe display."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import trustme
from helpers import TIMEOUT, NativeClient, PlainClient, ServerProcess, client_process, program, python_env
from terminal import Terminal


@pytest.fixture
def home(tmp_path, monkeypatch):
    """Private XDG directories for the processes this test starts."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


@pytest.fixture
def ca(tmp_path):
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1", "localhost")
    paths = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "cert.pem", "key": tmp_path / "key.pem"}
    authority.cert_pem.write_to_path(str(paths["ca"]))
    cert.private_key_pem.write_to_path(str(paths["key"]))
    cert.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    return paths


def run_client(address: str, *args: str, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*program("chatclient"), address, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env or python_env(),
        timeout=20,
    )


def fingerprint_of(server: ServerProcess) -> str:
    line = server.proc.stdout.readline()
    match = re.search(r"fingerprint.*: ([0-9A-F:]{95})$", line.strip())
    assert match, line
    return match.group(1)


# --- TLS ------------------------------------------------------------------------


def test_tls_with_a_ca_verified_certificate(home, ca):
    srv = ServerProcess("--tls-cert", str(ca["cert"]), "--tls-key", str(ca["key"]), "--rate-limit", "0")
    try:
        fingerprint_of(srv)
        watcher = client_process(srv.address, "--cafile", str(ca["ca"]), "--name", "watcher")
        assert watcher.stdout.readline() == "Connected to the server.\n"
        result = run_client(srv.address, "--cafile", str(ca["ca"]), "--name", "sender", stdin="secret words\n")
        assert result.returncode == 0, result.stderr
        line = ""
        while "sender:" not in line:
            line = watcher.stdout.readline()
        assert line == "sender: secret words\n"
        watcher.stdin.close()
        assert watcher.wait(TIMEOUT) == 0
        # The bytes on the wire are not the text: sniff a raw TCP connection's view.
        raw = socket.create_connection(("127.0.0.1", srv.port))
        raw.sendall(b"bob\n")
        said = b""
        while chunk := raw.recv(4096):
            said += chunk
        assert said.startswith(b"* error: this server requires TLS") and b"{" not in said, "nc gets text only"
    finally:
        srv.stop()


def test_tls_ca_mismatch_is_refused(home, ca, tmp_path):
    other = trustme.CA()
    other.cert_pem.write_to_path(str(tmp_path / "other.pem"))
    srv = ServerProcess("--tls-cert", str(ca["cert"]), "--tls-key", str(ca["key"]))
    try:
        result = run_client(srv.address, "--cafile", str(tmp_path / "other.pem"), "--name", "x")
        assert result.returncode == 1
        assert "TLS with 127.0.0.1" in result.stderr and "certificate verify failed" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        srv.stop()


def test_self_signed_certificate_is_made_once_and_trusted_on_first_use(home):
    srv = ServerProcess("--tls")
    try:
        first_fp = fingerprint_of(srv)
        assert (home / "data" / "chatserver" / "tls-cert.pem").exists()
        key_mode = (home / "data" / "chatserver" / "tls-key.pem").stat().st_mode & 0o777
        assert key_mode == 0o600
        result = run_client(srv.address, "--tls", "--name", "tofu", stdin="hello\n")
        assert result.returncode == 0, result.stderr
        assert f"its TLS certificate is SHA256 {first_fp}" in result.stderr
        known = (home / "config" / "chatclient" / "known_servers").read_text()
        assert known == f"{srv.address} {first_fp}\n"
        again = run_client(srv.address, "--tls", "--name", "tofu", stdin="hello\n")
        assert again.returncode == 0 and "SHA256" not in again.stderr, "known: no more notice"
        # Once known, never reached without TLS, even without --tls (so a LAN
        # announcement claiming "no TLS" cannot downgrade it).
        plain = run_client(srv.address, "--name", "tofu", stdin="hello\n")
        assert plain.returncode == 0, plain.stderr
    finally:
        srv.stop()
    # The same server started again keeps its certificate.
    srv2 = ServerProcess("--tls", "--port", str(srv.port))
    try:
        assert fingerprint_of(srv2) == first_fp
    finally:
        srv2.stop()


def test_a_person_at_a_terminal_is_asked_before_a_new_certificate_is_trusted(home):
    srv = ServerProcess("--tls", "--login-timeout", "1")
    known = home / "config" / "chatclient" / "known_servers"
    env = {**python_env(), "TERM": "xterm"}
    try:
        fp = fingerprint_of(srv)
        for answer, trusted in (("n", False), ("y", True)):
            term = Terminal([*program("chatclient"), srv.address, "--tls", "--name", "eve"], env=env)
            term.wait_text("Trust it and remember it for this address? [y/N]")
            assert f"SHA256 {fp[:47]}" in term.text.replace("\n", "")
            if trusted:  # a person comparing fingerprints: longer than the server waits for a hello
                time.sleep(1.5)
            term.send(answer + "\r")
            if trusted:
                term.wait_text("eve>")
                assert known.read_text() == f"{srv.address} {fp}\n"
                term.send("/quit\r")
                assert term.wait_exit() == 0
            else:
                assert term.wait_exit() == 1
                assert "was not trusted; not connecting" in term.text
                assert not known.exists(), "nothing remembered without a yes"
        again = Terminal([*program("chatclient"), srv.address, "--tls", "--name", "eve"], env=env)
        again.wait_text("eve>")
        assert "Trust it" not in again.text, "known now: not asked again"
        again.send("/quit\r")
        assert again.wait_exit() == 0
    finally:
        srv.stop()


def test_changed_certificate_is_refused_loudly(home, ca):
    srv = ServerProcess("--tls")
    port = srv.port
    try:
        old_fp = fingerprint_of(srv)
        assert run_client(srv.address, "--tls", "--name", "a").returncode == 0
    finally:
        srv.stop()
    srv = ServerProcess("--tls-cert", str(ca["cert"]), "--tls-key", str(ca["key"]), "--port", str(port))
    try:
        new_fp = fingerprint_of(srv)
        result = run_client(srv.address, "--tls", "--name", "a", stdin="do not send\n")
        assert result.returncode == 1
        assert "has CHANGED" in result.stderr
        assert f"remembered: SHA256 {old_fp}" in result.stderr and f"presented:  SHA256 {new_fp}" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        srv.stop()


def test_tls_client_on_a_plain_port_fails_fast_and_clearly(server, home):
    start = time.monotonic()
    result = run_client(server.address, "--tls", "--name", "x")
    assert result.returncode == 1
    assert "is the server started with --tls?" in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - start < TIMEOUT
    code, err = server.stop()
    assert "a TLS client on a plain port" in err


def test_plain_client_on_a_tls_port_fails_fast_and_clearly(home):
    srv = ServerProcess("--tls")
    try:
        result = run_client(srv.address, "--name", "x")
        assert result.returncode == 1
        assert result.stderr.strip() == f"chatclient: {srv.address} requires TLS: connect with --tls"
    finally:
        _, err = srv.stop()
    assert "a plain client on the TLS port" in err


def test_openssl_s_client_joins_as_a_plain_line_client(home):
    srv = ServerProcess("--tls")
    try:
        watcher = client_process(srv.address, "--tls", "--name", "watcher")
        assert watcher.stdout.readline() == "Connected to the server.\n"
        s_client = subprocess.Popen(
            ["openssl", "s_client", "-quiet", "-connect", srv.address],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            s_client.stdin.write("ossl\n")
            s_client.stdin.flush()
            line = ""
            while not line.startswith("* welcome"):
                line = s_client.stdout.readline()
                assert line, "s_client got no welcome"
            s_client.stdin.write("hello over openssl\n")
            s_client.stdin.flush()
            got = ""
            while "ossl:" not in got:
                got = watcher.stdout.readline()
            assert got == "ossl: hello over openssl\n"
            watcher.stdin.write("hi ossl\n")
            watcher.stdin.flush()
            while "watcher:" not in line:
                line = s_client.stdout.readline()
            assert line.strip() == "watcher: hi ossl"
        finally:
            s_client.kill()
            s_client.wait()
            watcher.kill()
            watcher.wait()
    finally:
        srv.stop()


@pytest.mark.parametrize("limit", ["--max-clients", "--max-per-ip"])
def test_a_tls_server_refuses_over_tls(home, ca, limit):
    """'server full' and 'too many connections' reach a TLS client as words, not as a TLS error."""
    srv = ServerProcess("--tls-cert", str(ca["cert"]), "--tls-key", str(ca["key"]), limit, "1")
    holder = client_process(srv.address, "--cafile", str(ca["ca"]), "--name", "holder")
    try:
        assert holder.stdout.readline() == "Connected to the server.\n"
        late = run_client(srv.address, "--cafile", str(ca["ca"]), "--name", "late", "--send", "hi")
        assert late.returncode == 1
        expected = "the server is full" if limit == "--max-clients" else "too many connections from 127.0.0.1"
        assert expected in late.stderr and "WRONG_VERSION_NUMBER" not in late.stderr, late.stderr
        # A peer that starts a handshake and goes silent cannot hold its refusal open.
        stalled = socket.create_connection(("127.0.0.1", srv.port))
        stalled.sendall(b"\x16")
        stalled.settimeout(TIMEOUT)
        while stalled.recv(4096):
            pass
        stalled.close()
    finally:
        holder.kill()
        holder.wait()
        srv.stop()


def _tls_records(data: bytes) -> list[int]:
    """The content types of the TLS records in ``data``; fails on anything that is not TLS."""
    types = []
    while data:
        assert len(data) >= 5 and data[0] in (20, 21, 22, 23) and data[1] == 3, f"not a TLS record: {data[:40]!r}"
        length = int.from_bytes(data[3:5], "big")
        types.append(data[0])
        data = data[5 + length :]
    return types


def test_a_login_timeout_during_the_tls_handshake_writes_no_plaintext(home, ca):
    srv = ServerProcess("--tls-cert", str(ca["cert"]), "--tls-key", str(ca["key"]), "--login-timeout", "1")
    try:
        hello = ssl.create_default_context(cafile=str(ca["ca"]))
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = hello.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
        with pytest.raises(ssl.SSLWantReadError):
            tls.do_handshake()
        sock = socket.create_connection(("127.0.0.1", srv.port))
        sock.sendall(outgoing.read())  # the ClientHello, and then nothing: the handshake stalls
        sock.settimeout(TIMEOUT)
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
        assert _tls_records(got)[0] == 22  # the server's handshake flight, and only TLS after it
    finally:
        srv.stop()


def _server_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``chatserver ARGS`` that is expected to refuse to start."""
    argv = [*program("chatserver"), "--host", "127.0.0.1", "--port", "0", "--no-advertise", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=python_env(), timeout=20, cwd=cwd)


@pytest.mark.parametrize(
    "cert, key, named, why",
    [
        ("missing.pem", "key.pem", "missing.pem", "cannot read the TLS certificate"),
        ("cert.pem", "missing.pem", "missing.pem", "cannot read the TLS key"),
        ("garbage.pem", "key.pem", "garbage.pem", "no PEM certificate"),
        ("cert.pem", "garbage.pem", "garbage.pem", "no usable PEM private key"),
        ("key.pem", "cert.pem", "key.pem", "no PEM certificate"),  # swapped
        ("cert.pem", "other-key.pem", "other-key.pem", "does not belong to the certificate"),
        ("cert.pem", "encrypted-key.pem", "encrypted-key.pem", "is encrypted"),
    ],
)
def test_an_unusable_certificate_or_key_is_one_line_naming_the_file(ca, tmp_path, cert, key, named, why):
    other = trustme.CA().issue_cert("127.0.0.1")
    other.private_key_pem.write_to_path(str(tmp_path / "other-key.pem"))
    (tmp_path / "garbage.pem").write_text("this is not PEM\n")
    from cryptography.hazmat.primitives import serialization

    loaded = serialization.load_pem_private_key(ca["key"].read_bytes(), password=None)
    encrypted = serialization.BestAvailableEncryption(b"secret")
    (tmp_path / "encrypted-key.pem").write_bytes(
        loaded.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encrypted)
    )
    result = _server_cli("--tls-cert", cert, "--tls-key", key, cwd=tmp_path)
    assert result.returncode in (1, 2)
    assert result.stderr.count("\n") == 1 and named in result.stderr and why in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "_ssl.c" not in result.stderr and "Errno" not in result.stderr


def test_a_combined_pem_file_serves_as_certificate_and_key(ca, tmp_path, home):
    both = tmp_path / "both.pem"
    both.write_bytes(ca["key"].read_bytes() + ca["cert"].read_bytes())
    srv = ServerProcess("--tls-cert", str(both), "--tls-key", str(both))
    try:
        assert re.search(r"fingerprint.*: [0-9A-F:]{95}$", srv.proc.stdout.readline().strip())
        result = run_client(srv.address, "--cafile", str(ca["ca"]), "--name", "c", "--send", "hi")
        assert result.returncode == 0, result.stderr
    finally:
        srv.stop()


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--port", "abc"], "--port: not a number: 'abc'"),
        (["--port", "70000"], "--port: a port is 0-65535, not 70000"),
        (["--max-clients", "1e3"], "--max-clients: not a whole number: '1e3'"),
        (["--login-timeout", "inf"], "--login-timeout: not a finite number: 'inf'"),
        (["--idle-timeout", "1e12"], "--idle-timeout: at most 1000000 seconds"),
        (["--rate-limit", "nan"], "--rate-limit: not a finite number: 'nan'"),
        (["--name", ""], "--name: a server name cannot be empty"),
        (["--name", "  "], "--name: a server name cannot be empty"),
        (["--name", "bad\x1bname"], "--name: a server name cannot contain control characters"),
        (["--op", "bad nick", "--password-file", "/dev/null"], "--op: a nickname cannot contain spaces"),
    ],
)
def test_bad_command_line_values_are_human_usage_errors(args, expected):
    result = _server_cli(*args)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and "invalid" not in result.stderr and "Traceback" not in result.stderr


# --- passwords and operators ------------------------------------------------------


@pytest.fixture
def secret_server(tmp_path, make_server):
    (tmp_path / "pw").write_text("open sesame\n")
    (tmp_path / "wrong").write_text("open sesam\n")
    (tmp_path / "oppw").write_text("op secret\n")
    srv = make_server(
        "--password-file", str(tmp_path / "pw"), "--op", "alice", "--op-password-file", str(tmp_path / "oppw")
    )
    srv.files = tmp_path
    fingerprint_line = srv.proc.stdout.readline()
    assert "password is required" in fingerprint_line
    return srv


def test_right_and_wrong_password(secret_server):
    files = secret_server.files
    ok = run_client(secret_server.address, "--password-file", str(files / "pw"), "--name", "bob", stdin="hi\n")
    assert ok.returncode == 0 and ok.stdout.startswith("Connected to the server."), ok.stderr
    bad = run_client(secret_server.address, "--password-file", str(files / "wrong"), "--name", "bob")
    assert bad.returncode == 1 and "wrong password" in bad.stderr
    none = run_client(secret_server.address, "--name", "bob")
    assert none.returncode == 1 and "needs a password" in none.stderr and "--password-file" in none.stderr
    for out in (ok, bad, none):
        assert "Traceback" not in out.stderr


def test_repeated_wrong_passwords_are_slowed_down(secret_server):
    for _ in range(3):
        c = NativeClient(secret_server.port)
        c.send_json({"type": "hello", "version": 1, "nick": "guess", "password": "nope"})
        assert c.expect(lambda f: f["type"] == "error")["code"] == "bad_password"
        assert c.read_until_closed()[-1].startswith(b'{"type":"bye"')
    _, err = secret_server.stop()
    waits = [
        float(w) for w in re.findall(r"wrong password for guess from 127.0.0.1; next answer waits ([\d.]+) s", err)
    ]
    assert len(waits) == 3 and waits == sorted(waits) and waits[2] > waits[0]


def test_plain_client_gives_the_password_after_its_name(secret_server):
    nc = socket.create_connection(("127.0.0.1", secret_server.port), timeout=TIMEOUT)
    reader = nc.makefile("rb")
    nc.sendall(b"carol\n")
    assert reader.readline() == b"* Password:\r\n"
    nc.sendall(b"open sesame\n")
    assert reader.readline().startswith(b"* welcome")


def test_password_is_asked_for_hidden_on_a_terminal(secret_server):
    env = python_env()
    env["TERM"] = "xterm"
    term = Terminal([*program("chatclient"), secret_server.address, "--name", "dave"], env=env)
    term.wait_text("Password:")
    term.send("open sesame\r")
    term.wait_text("dave>")
    assert b"open sesame" not in term.raw, "the password is not echoed"
    assert b"*" * len("open sesame") not in term.raw, "not even its length"
    term.send("/quit\r")
    assert term.wait_exit() == 0


def test_operator_kicks_and_the_kicked_user_sees_why(secret_server):
    files = secret_server.files
    alice = NativeClient(secret_server.port)
    alice.send_json({"type": "hello", "version": 1, "nick": "alice", "password": "op secret"})
    assert alice.expect(lambda f: f["type"] in ("welcome", "error"))["type"] == "welcome"
    bob = client_process(secret_server.address, "--password-file", str(files / "pw"), "--name", "bob")
    assert bob.stdout.readline() == "Connected to the server.\n"
    carol = NativeClient(secret_server.port)
    carol.send_json({"type": "hello", "version": 1, "nick": "carol", "password": "open sesame"})
    carol.expect(lambda f: f["type"] == "welcome")
    # Not an operator: refused.
    carol.send_json({"type": "kick", "nick": "bob", "reason": "mutiny"})
    assert carol.expect(lambda f: f["type"] == "error")["code"] == "not_operator"
    alice.send_json({"type": "kick", "nick": "bob", "reason": "spamming"})
    seen = bob.stdout.read().splitlines()  # to the end: bob's client exits
    assert "Chat ended." not in seen, "being kicked is not a normal end"
    err = bob.stderr.read()
    assert bob.wait(TIMEOUT) == 1 and "chatclient: you were kicked by alice: spamming" in err
    assert "Traceback" not in err
    leave = carol.expect(lambda f: f.get("event") == "leave")
    assert leave["text"] == "bob left (kicked by alice: spamming)"


def test_operator_name_is_reserved(secret_server):
    imposter = NativeClient(secret_server.port)
    imposter.send_json({"type": "hello", "version": 1, "nick": "Alice", "password": "open sesame"})
    assert imposter.expect(lambda f: f["type"] == "error")["code"] == "bad_password"


def test_op_needs_a_password_to_start():
    proc = subprocess.run(
        [*program("chatserver"), "--port", "0", "--op", "alice"], capture_output=True, text=True, env=python_env()
    )
    assert proc.returncode == 1 and "--op needs a password" in proc.stderr


def test_a_password_without_tls_is_said_to_travel_in_clear(tmp_path, home):
    (tmp_path / "pw").write_text("open sesame\n")
    clear = ServerProcess("--password-file", str(tmp_path / "pw"))
    _, err = clear.stop()
    assert "warning: the password travels in clear text" in err and "--tls" in err
    sealed = ServerProcess("--password-file", str(tmp_path / "pw"), "--tls")
    _, err = sealed.stop()
    assert "in clear" not in err
    plain = ServerProcess()
    _, err = plain.stop()
    assert "in clear" not in err


# --- safe display ----------------------------------------------------------------

CORPUS = [
    "title \x1b]0;owned\x07 done",
    "clipboard \x1b]52;c;cm0gLXJmIH4=\x07 done",
    "clear \x1b[2J\x1b[H done",
    "cursor \x1b[10A\x1b[5C up",
    "bell \x07\x07 done",
    "fake \rbob: line",
    "back\x08\x08\x08space",
    "c1 \x9b31m red \x9d0;x\x9c",
    "bidi \u202egnp.exe\u202c and \u2066iso\u2069",
]


def test_escape_corpus_is_neutralised_in_line_mode(server):
    reader = client_process(server.address, "--name", "reader")
    assert reader.stdout.readline() == "Connected to the server.\n"
    raw = NativeClient(server.port, "mallory")
    for text in CORPUS:
        raw.say(text)
    raw.say("end of corpus")
    lines = []
    while "end of corpus" not in (lines[-1] if lines else ""):
        lines.append(reader.stdout.readline())
    reader.kill()
    reader.wait()
    shown = "".join(lines)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", shown)
    assert "mallory: title ^[]0;owned^G done\n" in shown
    assert "mallory: fake ^Mbob: line\n" in shown
    assert "mallory: bidi <U+202E>gnp.exe<U+202C> and <U+2066>iso<U+2069>\n" in shown


def test_escape_corpus_is_neutralised_in_the_terminal(server):
    env = python_env()
    env["TERM"] = "xterm"
    term = Terminal([*program("chatclient"), server.address, "--name", "viewer"], env=env, rows=40)
    term.wait_text("viewer>")
    raw = NativeClient(server.port, "mallory")
    for text in CORPUS:
        raw.say(text)
    raw.say("end of corpus")
    term.wait_text("end of corpus")
    assert b"\x1b]52" not in term.raw and b"\x1b]0;owned" not in term.raw and b"\x07" not in term.raw
    assert "\u202e" not in term.raw.decode(errors="replace")
    assert "mallory: clipboard ^[]52;c;cm0gLXJmIH4=^G done" in term.text
    assert "mallory: cursor ^[[10A^[[5C up" in term.text
    assert term.screen.title in ("", None) or "owned" not in term.screen.title
    term.send("/quit\r")
    assert term.wait_exit() == 0


def test_hostile_nicknames_are_rejected_and_lookalikes_clash(server):
    holder = NativeClient(server.port, "bob")  # noqa: F841
    for nick, code in (
        ("evil\x1b[2J", "invalid_nick"),
        ("\u202ebob", "invalid_nick"),
        ("BOB", "nick_taken"),
        ("\uff42\uff4f\uff42", "nick_taken"),  # fullwidth b o b
    ):
        c = NativeClient(server.port)
        c.send_json({"type": "hello", "version": 1, "nick": nick})
        assert c.frame()["code"] == code, nick


def test_operator_name_cannot_be_taken_by_renaming(secret_server):
    bob = NativeClient(secret_server.port)
    bob.send_json({"type": "hello", "version": 1, "nick": "bob", "password": "open sesame"})
    bob.expect(lambda f: f["type"] == "welcome")
    bob.send_json({"type": "nick", "nick": "ALICE"})
    assert bob.expect(lambda f: f["type"] in ("error", "notice"))["code"] == "nick_reserved"


@pytest.mark.parametrize(
    "lookalike",
    ["\u0430lice", "alice\u034f", "alice\ufe0f", "a\u180blice", "\u03b1lice"],  # Cyrillic а, CGJ, VS16, FVS1, Greek α
)
def test_lookalike_nicknames_are_refused(server, lookalike):
    holder = NativeClient(server.port, "alice")  # noqa: F841
    c = NativeClient(server.port)
    c.send_json({"type": "hello", "version": 1, "nick": lookalike})
    assert c.frame()["code"] in ("invalid_nick", "nick_taken")


def test_reasons_cannot_forge_notices(server):
    plain = PlainClient(server.port, "watcher")
    mallory = NativeClient(server.port, "mallory")
    mallory.send_json({"type": "away", "reason": "brb\nserver shutting down\nbye: server shutting down"})
    line = plain.expect_line(lambda ln: b"mallory is away" in ln)[-1]
    assert line == b"* mallory is away: brb server shutting down bye: server shutting down"


def test_hello_twice_is_refused(server):
    bob = NativeClient(server.port, "bob")
    watcher = NativeClient(server.port, "watcher")
    bob.send_json({"type": "hello", "version": 1, "nick": "carol"})
    assert bob.expect(lambda f: f["type"] == "error")["code"] == "already_registered"
    watcher.send_json({"type": "who"})
    assert watcher.expect(lambda f: f["type"] == "users")["nicks"] == ["bob", "watcher"]


def test_a_flood_of_blank_lines_is_harmless(server):
    c = NativeClient(server.port, "blank")
    c.send(b"\n" * 20000 + b'{"type":"say","text":"after the blanks"}\n')
    assert c.expect(lambda f: f["type"] in ("accepted", "error"))["type"] == "accepted"
    watcher = NativeClient(server.port, "watcher2")
    c.say("still here")
    assert watcher.expect(lambda f: f["type"] == "message" and "replay" not in f)["text"] == "still here"
    _, err = server.stop()
    assert "Traceback" not in err and "RecursionError" not in err


def test_a_kicked_script_stops_at_once_with_its_input_unsent(secret_server):
    """A script paced to the rate limit that is kicked must not go on pacing
    through the rest of its input (at 5 lines/s, 500 lines take 100 s)."""
    files = secret_server.files
    alice = NativeClient(secret_server.port)
    alice.send_json({"type": "hello", "version": 1, "nick": "alice", "password": "op secret"})
    alice.expect(lambda f: f["type"] == "welcome")
    script = client_process(secret_server.address, "--password-file", str(files / "pw"), "--name", "bot")
    assert script.stdout.readline() == "Connected to the server.\n"
    script.stdin.write("".join(f"line {i}\n" for i in range(500)))
    script.stdin.flush()
    alice.expect(lambda f: f["type"] == "message" and f["text"] == "line 25")  # past its burst: paced now
    alice.send_json({"type": "kick", "nick": "bot", "reason": "enough"})
    code = script.wait(TIMEOUT)  # not the 94 s that pacing through the other 470 lines would take
    assert code == 1 and "kicked by alice: enough" in script.stderr.read()


def test_known_servers_match_one_server_however_its_address_is_spelled(tmp_path):
    from chatclient.trust import KnownServers

    known = KnownServers(tmp_path / "known_servers")
    assert known.check("Chat.LAN:5050", "AA") and known.check("[::0001]:5050", "BB")
    assert known.knows("chat.lan:5050") and known.knows("chat.lan.:5050") and known.knows("[::1]:5050")
    assert not known.knows("chat.lan:5051") and not known.knows("[::2]:5050")
    assert known.check("[0:0:0:0:0:0:0:1]:5050", "BB") is False, "known, and matching"
