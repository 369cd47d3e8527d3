"""Discovery end to end: real mDNS between two network namespaces joined by a veth pair.

The namespaces, the veth pair and the 10.200.7.0/24 addresses exist only for
the duration of this module; every packet stays inside them. Where the
machine cannot make them (not root, no ``ip``, no netns or veth support) or
multicast does not cross the pair, the namespace tests skip and say why.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chatclient.discovery import Found, choose, format_found, servers
from chatserver.app.advertise import Advertiser, advertised_addresses, should_advertise
from common.discovery import SERVICE_TYPE
from common.messages import PROTOCOL_VERSION

pytest.importorskip("zeroconf", reason="discovery needs the zeroconf package")

from helpers import READY, program, python_env  # noqa: E402

_TAG = f"{os.getpid() % 100000}"
NS_SERVER, NS_CLIENT = f"chatdisc{_TAG}s", f"chatdisc{_TAG}c"
VETH_SERVER, VETH_CLIENT = f"cdv{_TAG}s", f"cdv{_TAG}c"  # interface names: at most 15 characters
ADDR_SERVER, ADDR_CLIENT = "10.200.7.1", "10.200.7.2"
ADVERTISED = r"advertised on the LAN as '([^']*)'"
DEADLINE = 10.0

# ---------------------------------------------------------------- unit tests


@pytest.mark.parametrize(
    "host, expected",
    [
        ("0.0.0.0", True),
        ("::", True),
        ("", True),
        ("192.168.1.5", True),
        ("fd00::5", True),
        ("127.0.0.1", False),
        ("127.1.2.3", False),
        ("::1", False),
        ("[::1]", False),
        ("::ffff:127.0.0.1", False),
        ("localhost", False),
        ("LocalHost", False),
    ],
)
def test_should_advertise(host: str, expected: bool) -> None:
    assert should_advertise(host) is expected


def test_a_specific_address_is_advertised_alone() -> None:
    assert advertised_addresses("192.168.1.5") == ["192.168.1.5"]
    assert advertised_addresses("fd00::5") == ["fd00::5"]
    assert advertised_addresses("127.0.0.1") == []
    assert all(a != "127.0.0.1" for a in advertised_addresses("0.0.0.0"))


def _found(
    name: str, host: str, port: int, tls: bool = False, password: bool = False, cluster: str | None = None
) -> Found:
    return Found(
        name=name, host=host, port=port, tls=tls, password=password, version=1, addresses=(host,), cluster=cluster
    )


def test_format_found_aligns_and_neutralises() -> None:
    lines = format_found(
        [
            _found("Testhaus", "10.0.0.1", 5050),
            _found("Geheim\x1b[31m", "fd00::7", 40000, tls=True, password=True),
        ]
    )
    assert lines == [
        "Testhaus      10.0.0.1:5050    TLS no   password no",
        "Geheim^[[31m  [fd00::7]:40000  TLS yes  password yes",
    ]
    assert format_found([]) == []


def test_the_nodes_of_a_cluster_are_one_server_with_their_addresses() -> None:
    found = [  # as browse returns them: sorted by instance name
        _found("Hausnetz", "10.0.0.1", 5050, cluster="c0ffee"),
        _found("Hausnetz (b)", "fd00::2", 5051, cluster="c0ffee"),
        _found("Hausnetz (c)", "10.0.0.3", 5052, cluster="c0ffee"),
        _found("Nebenan", "10.0.0.8", 5050, tls=True, cluster="other"),
        _found("Testhaus", "10.0.0.9", 5050),
        _found("Zweithaus", "10.0.0.10", 5050),
    ]
    listed = servers(found)
    assert [(s.name, s.endpoints) for s in listed] == [
        ("Hausnetz", (("10.0.0.1", 5050), ("fd00::2", 5051), ("10.0.0.3", 5052))),
        ("Nebenan", (("10.0.0.8", 5050),)),
        ("Testhaus", (("10.0.0.9", 5050),)),
        ("Zweithaus", (("10.0.0.10", 5050),)),
    ]
    assert format_found(listed) == [  # what `chatclient --list` prints: the address list chatclient takes
        "Hausnetz   10.0.0.1:5050,[fd00::2]:5051,10.0.0.3:5052  TLS no   password no",
        "Nebenan    10.0.0.8:5050                               TLS yes  password no",
        "Testhaus   10.0.0.9:5050                               TLS no   password no",
        "Zweithaus  10.0.0.10:5050                              TLS no   password no",
    ]
    mixed = servers([_found("A", "10.0.0.1", 1, cluster="x"), _found("B", "10.0.0.2", 2, tls=True, cluster="x")])
    assert [(s.tls, s.cluster) for s in mixed] == [(True, "x")], "TLS where any node says so"


def _service(properties: dict[str, str]):  # noqa: ANN202 - zeroconf.ServiceInfo
    from zeroconf import ServiceInfo

    return ServiceInfo(
        SERVICE_TYPE, f"Hausnetz.{SERVICE_TYPE}", port=5050, properties=properties, parsed_addresses=["10.0.0.1"]
    )


@pytest.mark.parametrize(
    "value, expected",
    [
        ("c0ffee42", "c0ffee42"),
        (" c0ffee42 ", "c0ffee42"),
        ("", None),
        ("x" * 65, None),  # longer than any id a node makes
        ("evil\x1b[31m", None),  # not printable
    ],
)
def test_the_cluster_id_is_read_from_the_txt_record(value: str, expected: str | None) -> None:
    from chatclient.discovery import _found_from_info

    found = _found_from_info(_service({"name": "Hausnetz", "version": "1", "cluster": value}), [])
    assert found is not None and found.cluster == expected
    alone = _found_from_info(_service({"name": "Hausnetz", "version": "1"}), [])
    assert alone is not None and alone.cluster is None


def test_a_node_of_a_cluster_advertises_its_cluster_id() -> None:
    assert "cluster" not in Advertiser("Alone", "192.0.2.1", 5050).properties()
    props = Advertiser("Hausnetz", "192.0.2.1", 5050, cluster="c0ffee42").properties()
    assert props == {
        "name": "Hausnetz",
        "version": str(PROTOCOL_VERSION),
        "tls": "0",
        "password": "0",
        "cluster": "c0ffee42",
    }


def test_cluster_nodes_ask_for_names_of_their_own_and_are_listed_by_the_one_they_share() -> None:
    """Nodes started with one --name must not contend for one mDNS instance name
    (a restarted node took the name of a live one, hiding it): each asks for
    "NAME (NODE)", and the client lists the cluster by the name in their TXT."""
    from types import SimpleNamespace

    from chatclient.discovery import _found_from_info

    config = SimpleNamespace(name="chatserver", tls_context=None, password=None)
    node = SimpleNamespace(address=("0.0.0.0", 5050), config=config, cluster_id="c0ffee42", cluster_node="vm-ab12cd")
    assert Advertiser.for_server(node).wanted == "chatserver (vm-ab12cd)"  # type: ignore[arg-type]
    alone = SimpleNamespace(address=("0.0.0.0", 5050), config=config, cluster_id=None, cluster_node=None)
    assert Advertiser.for_server(alone).wanted == "chatserver"  # type: ignore[arg-type]

    props = {"name": "chatserver", "version": "1", "cluster": "c0ffee42"}
    found = _found_from_info(_service(props), [])
    assert found is not None and found.server_name == "chatserver"
    a = dataclasses.replace(found, name="chatserver (vm-ab12cd)")
    b = dataclasses.replace(found, name="chatserver (vm-ef34ab)", host="10.0.0.2", addresses=("10.0.0.2",))
    (one,) = servers([a, b])
    assert one.name == "chatserver"
    assert servers([dataclasses.replace(a, cluster=None)])[0].name == "chatserver (vm-ab12cd)"


def _choose_with_keys(keys: str, found: list[Found]) -> tuple[Found | None, str]:
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output.plain_text import PlainTextOutput

    class _Sink:
        def __init__(self) -> None:
            self.parts: list[str] = []

        def write(self, text: str) -> None:
            self.parts.append(text)

        def flush(self) -> None:
            pass

        def isatty(self) -> bool:
            return False

        def fileno(self) -> int:
            raise OSError

    sink = _Sink()
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        pipe.close()  # end of input after the keys: choose() cannot hang
        result = choose(found, input=pipe, output=PlainTextOutput(sink))
    return result, "".join(sink.parts)


@pytest.mark.parametrize(
    "keys, expected",
    [
        ("2\r", 1),
        ("\r", 0),
        ("7\r\x7f3\r", 2),  # refused, then corrected with Backspace
        ("abc\r\x7f\x7f\x7f1\r", 0),
        ("q\r", None),
        ("\x04", None),  # Ctrl-D
        ("\x03", None),  # Ctrl-C
        ("9\r", None),  # refused, then the input ends
    ],
)
def test_choose_validates_and_can_be_cancelled(keys: str, expected: int | None) -> None:
    found = [_found("Alpha", "10.0.0.1", 1), _found("Beta", "10.0.0.2", 2), _found("Gamma", "10.0.0.3", 3)]
    result, shown = _choose_with_keys(keys, found)
    assert result is (None if expected is None else found[expected])
    assert "3 chat servers found" in shown and "2) Beta" in shown


def test_choose_with_one_or_none_asks_nothing() -> None:
    only = _found("Alpha", "10.0.0.1", 1)
    assert choose([only]) is only
    assert choose([]) is None


def test_advertiser_failures_only_warn(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import zeroconf

    def no_multicast(*args: object, **kwargs: object) -> None:
        raise OSError(19, "No such device")

    monkeypatch.setattr(zeroconf, "Zeroconf", no_multicast)
    adv = Advertiser("Testhaus", "192.0.2.1", 5050)  # TEST-NET: nothing is sent anywhere
    adv.start()
    assert adv.wait(DEADLINE) is False
    adv.close()
    adv.close()
    nowhere = Advertiser("Testhaus", "127.0.0.1", 5050)  # loopback: no address to advertise
    nowhere.start()
    assert nowhere.wait(DEADLINE) is False
    nowhere.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("No such device" in w for w in warnings), warnings
    assert any("no LAN address" in w for w in warnings), warnings
    Advertiser("never started", "192.0.2.1", 5050).close()  # closing before start is fine


# ---------------------------------------------------------------- namespaces


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=DEADLINE)


def _delete_namespaces() -> None:
    for ns in (NS_SERVER, NS_CLIENT):
        _ip("netns", "del", ns)  # also removes the veth pair


class NsProcess:
    """A process inside a namespace, its output collected line by line for polling."""

    def __init__(self, ns: str, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env or python_env(),
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._open = 2
        self._cond = threading.Condition()
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, lines), daemon=True).start()

    def _pump(self, stream, lines: list[str]) -> None:  # noqa: ANN001
        for line in stream:
            with self._cond:
                lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._open -= 1
            self._cond.notify_all()

    def wait_for(self, pattern: str, stream: str = "out", timeout: float = DEADLINE) -> re.Match:
        rx = re.compile(pattern)
        lines = self.out if stream == "out" else self.err
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in lines:
                    match = rx.search(line)
                    if match:
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._open == 0:
                    raise AssertionError(f"no {pattern!r} on std{stream}; stdout={self.out} stderr={self.err}")
                self._cond.wait(remaining)

    def stop(self, timeout: float = DEADLINE) -> tuple[int, float]:
        """SIGTERM; returns (exit status, seconds it took)."""
        start = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - start

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(DEADLINE)


@pytest.fixture(scope="module")
def lan():
    """Two namespaces joined by a veth pair with multicast on; skips where impossible."""
    if not sys.platform.startswith("linux"):
        pytest.skip("network namespaces are Linux only")
    if os.geteuid() != 0:
        pytest.skip("making network namespaces needs root")
    if shutil.which("ip") is None:
        pytest.skip("the `ip` command (iproute2) is not installed")
    made = _ip("netns", "add", NS_SERVER)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
    try:
        steps = [
            ("netns", "add", NS_CLIENT),
            ("link", "add", VETH_SERVER, "type", "veth", "peer", "name", VETH_CLIENT),
            ("link", "set", VETH_SERVER, "netns", NS_SERVER),
            ("link", "set", VETH_CLIENT, "netns", NS_CLIENT),
            ("-n", NS_SERVER, "addr", "add", f"{ADDR_SERVER}/24", "dev", VETH_SERVER),
            ("-n", NS_CLIENT, "addr", "add", f"{ADDR_CLIENT}/24", "dev", VETH_CLIENT),
            ("-n", NS_SERVER, "link", "set", VETH_SERVER, "up", "multicast", "on"),
            ("-n", NS_CLIENT, "link", "set", VETH_CLIENT, "up", "multicast", "on"),
            ("-n", NS_SERVER, "link", "set", "lo", "up"),
            ("-n", NS_CLIENT, "link", "set", "lo", "up"),
        ]
        for step in steps:
            done = _ip(*step)
            if done.returncode != 0:
                pytest.skip(f"cannot set up the test network (ip {' '.join(step)}): {done.stderr.strip()}")
        problem = _multicast_problem()
        if problem:
            pytest.skip(f"multicast does not cross a veth pair on this machine: {problem}")
        yield
    finally:
        _delete_namespaces()


_RECEIVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 49777))
group = socket.inet_aton("239.255.42.42") + socket.inet_aton(sys.argv[1])
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, group)
s.settimeout(5)
print("ready", flush=True)
print(s.recv(100).decode(), flush=True)
"""

_SENDER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(sys.argv[1]))
for _ in range(20):  # until the receiver has it (it exits) or 1 s has passed
    s.sendto(b"hello over multicast", ("239.255.42.42", 49777))
    time.sleep(0.05)
"""


def _multicast_problem() -> str | None:
    """None if a multicast datagram gets from the server namespace to the client one."""
    receiver = NsProcess(NS_CLIENT, [sys.executable, "-c", _RECEIVER, ADDR_CLIENT])
    try:
        receiver.wait_for("ready")
        sent = subprocess.run(
            ["ip", "netns", "exec", NS_SERVER, sys.executable, "-c", _SENDER, ADDR_SERVER],
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
        if sent.returncode != 0:
            return sent.stderr.strip().splitlines()[-1]
        receiver.wait_for("hello over multicast", timeout=3)
        return None
    except AssertionError:
        return "a test datagram to 239.255.42.42 was not received: " + " ".join(receiver.err[-1:])
    finally:
        receiver.kill()


def start_server(ns: str, *args: str, env: dict[str, str] | None = None) -> NsProcess:
    # Two servers of one --name would share the default store (the second refused): keep nothing.
    return NsProcess(ns, [*program("chatserver"), "--port", "0", "--store", "memory", *args], env=env)


def server_port(server: NsProcess) -> int:
    return int(server.wait_for(READY.pattern).group(2))


_BROWSE = """
import dataclasses, json, socket, sys
from chatclient.discovery import browse, format_found
found = browse(float(sys.argv[1]))
rows = []
for f in found:
    row = dataclasses.asdict(f)
    try:
        socket.create_connection((f.host, f.port), timeout=3).close()
        row["reachable"] = True
    except OSError:
        row["reachable"] = False
    rows.append(row)
print(json.dumps({"found": rows, "lines": format_found(found)}))
"""


def browse_from(ns: str, timeout: float = 2.0) -> dict:
    done = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", _BROWSE, str(timeout)],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=DEADLINE + timeout,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# A node of a cluster: the real chatserver, with the cluster id that --cluster
# would have read from Redis (issue 13; this test is about what is advertised).
_CLUSTER_NODE = """
import sys
from chatserver.net.server import ChatServer
ChatServer.cluster_id = sys.argv[1]
from chatserver.app.cli import main
sys.exit(main(sys.argv[2:]))
"""

# A node that went down without its announcement going (still cached on the
# LAN, as after a crash): advertised by the real Advertiser, nothing listening.
_GHOST_NODE = """
import sys
from chatserver.app.advertise import Advertiser
adv = Advertiser("Hausnetz A", "0.0.0.0", int(sys.argv[2]), cluster=sys.argv[1])
adv.start()
print("advertised" if adv.wait(20) else "not advertised", adv.instance, flush=True)
sys.stdin.read()
adv.close()
"""

DEAD_PORT = 47999  # nothing listens on it in the server namespace


def _client_in(ns: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *program("chatclient"), *args],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=DEADLINE + 20,
    )


def test_the_nodes_of_a_cluster_are_listed_and_used_as_one_server(lan) -> None:
    """Two nodes with one cluster id (named as they like): ``--list`` shows
    one line, under the first one's name, with both addresses; without an
    address the client takes them as one server and, the first one being
    down, gets through on the second.

    (Before the ``testhaus`` tests: with a second server on the LAN the client
    would ask which one.)"""
    cluster = "c0ffee4200000000"
    ghost = NsProcess(NS_SERVER, [sys.executable, "-c", _GHOST_NODE, cluster, str(DEAD_PORT)])
    node = None
    try:
        assert ghost.wait_for(r"^advertised Hausnetz A$")
        node = NsProcess(
            NS_SERVER,
            [sys.executable, "-c", _CLUSTER_NODE, cluster, "--port", "0", "--store", "memory"]
            + ["--host", "0.0.0.0", "--name", "Hausnetz B", "--no-web"],
        )
        port = server_port(node)
        assert node.wait_for(ADVERTISED, "err").group(1) == "Hausnetz B"

        listed = _client_in(NS_CLIENT, "--list")

        assert listed.returncode == 0, listed.stderr
        hausnetz = [line for line in listed.stdout.splitlines() if "Hausnetz" in line]
        assert [line.split() for line in hausnetz] == [
            ["Hausnetz", "A", f"{ADDR_SERVER}:{DEAD_PORT},{ADDR_SERVER}:{port}", "TLS", "no", "password", "no"]
        ], listed.stdout

        sent = _client_in(NS_CLIENT, "--send", "found by its cluster", "--name", "finder")

        assert sent.returncode == 0, sent.stderr
        assert f"Found Hausnetz A at {ADDR_SERVER}:{DEAD_PORT},{ADDR_SERVER}:{port}." in sent.stderr
        assert sent.stdout == "Message delivered (#1).\n"
    finally:
        ghost.proc.stdin.close()
        ghost.kill()
        if node is not None:
            node.kill()


@pytest.fixture(scope="module")
def testhaus(lan):
    """A plain chat server named Testhaus on 0.0.0.0 in the server namespace, advertised."""
    server = start_server(NS_SERVER, "--host", "0.0.0.0", "--name", "Testhaus")
    try:
        server.port = server_port(server)
        assert server.wait_for(ADVERTISED, "err").group(1) == "Testhaus"
        yield server
    finally:
        server.kill()


def test_servers_are_found_with_address_port_and_properties(testhaus, tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("our secret\n")
    env = {**python_env(), "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    secret = start_server(
        NS_SERVER,
        *("--host", "0.0.0.0", "--name", "Geheim", "--tls", "--password-file", str(tmp_path / "pw")),
        env=env,
    )
    hidden = start_server(NS_SERVER, "--host", "127.0.0.1", "--name", "Versteckt")
    quiet = start_server(NS_SERVER, "--host", "0.0.0.0", "--name", "Stumm", "--no-advertise")
    try:
        secret_port = server_port(secret)
        assert secret.wait_for(ADVERTISED, "err").group(1) == "Geheim"
        server_port(hidden)  # listening, so it would be advertising by the time the browse ends
        server_port(quiet)

        seen = browse_from(NS_CLIENT)

        by_name = {f["name"]: f for f in seen["found"]}
        assert sorted(by_name) == ["Geheim", "Testhaus"], seen
        assert [f["name"] for f in seen["found"]] == ["Geheim", "Testhaus"]  # sorted by name
        assert by_name["Testhaus"] == {
            "name": "Testhaus",
            "host": ADDR_SERVER,
            "port": testhaus.port,
            "tls": False,
            "password": False,
            "version": PROTOCOL_VERSION,
            "addresses": [ADDR_SERVER],
            "cluster": None,
            "server_name": "Testhaus",
            "reachable": True,
        }
        assert by_name["Geheim"]["port"] == secret_port
        assert (by_name["Geheim"]["tls"], by_name["Geheim"]["password"]) == (True, True)
        assert by_name["Geheim"]["reachable"]
        geheim, haus = seen["lines"]  # what `chatclient --list` prints
        assert geheim.split() == ["Geheim", f"{ADDR_SERVER}:{secret_port}", "TLS", "yes", "password", "yes"]
        assert haus.split() == ["Testhaus", f"{ADDR_SERVER}:{testhaus.port}", "TLS", "no", "password", "no"]
        assert geheim.index("TLS") == haus.index("TLS") and geheim.index(ADDR_SERVER) == haus.index(ADDR_SERVER)
        assert not any(re.search(ADVERTISED, line) for line in hidden.err), hidden.err
    finally:
        for proc in (secret, hidden, quiet):
            if proc:
                proc.kill()


def test_a_taken_name_is_made_unique(testhaus) -> None:
    # A second "Testhaus", bound to one specific address, in the other namespace.
    twin = start_server(NS_CLIENT, "--host", ADDR_CLIENT, "--name", "Testhaus")
    try:
        twin_port = server_port(twin)
        instance = twin.wait_for(ADVERTISED, "err").group(1)
        assert instance.startswith("Testhaus (") and instance.endswith(")"), instance

        seen = browse_from(NS_SERVER, timeout=1.5)  # both are registered already

        found = {(f["name"], f["host"], f["port"], tuple(f["addresses"])) for f in seen["found"]}
        assert found == {
            ("Testhaus", ADDR_SERVER, testhaus.port, (ADDR_SERVER,)),
            (instance, ADDR_CLIENT, twin_port, (ADDR_CLIENT,)),
        }
    finally:
        twin.kill()


_WATCH = """
import sys
from zeroconf import IPVersion, ServiceBrowser, Zeroconf
zc = Zeroconf(ip_version=IPVersion.V4Only)
def changed(zeroconf, service_type, name, state_change):
    print(state_change.name, name, flush=True)
ServiceBrowser(zc, "_chatserver._tcp.local.", handlers=[changed])
print("watching", flush=True)
sys.stdin.read()
zc.close()
"""


def test_goodbye_when_the_server_stops(lan) -> None:
    watcher = NsProcess(NS_CLIENT, [sys.executable, "-c", _WATCH])
    server = start_server(NS_SERVER, "--host", "0.0.0.0", "--name", "Abschied")
    try:
        watcher.wait_for("watching")
        server_port(server)
        watcher.wait_for(r"^Added Abschied\._chatserver\._tcp\.local\.$")

        code, took = server.stop()
        assert code == 0 and took < 2.0, (code, took, server.err)
        # The goodbye (TTL 0) removes it within about a second; without one it would stay for minutes.
        watcher.wait_for(r"^Removed Abschied\._chatserver\._tcp\.local\.$", timeout=5)
    finally:
        server.kill()
        watcher.proc.stdin.close()
        watcher.kill()
