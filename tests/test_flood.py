"""Floods of connections: refused at once on both ports, threads and descriptors bounded, no spin."""

from __future__ import annotations

import os
import resource
import socket
import ssl
import time

from helpers import TIMEOUT, NativeClient, ServerProcess, proc_counts, wait_for

from chatserver.net.admission import MAX_REFUSING


def _until_eof(sock: socket.socket, timeout: float = TIMEOUT) -> bytes:
    """Everything the server sends until it closes (the test sends nothing)."""
    deadline = time.monotonic() + timeout
    data = b""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"not closed within {timeout} s; got {data!r}")


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of the whole process so far, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime in clock ticks


def _files(soft: int, hard: int):  # noqa: ANN202 - a preexec_fn
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return limit


def test_idle_sockets_over_the_limit_on_the_web_port_get_503_at_once_and_no_thread_each():
    srv = ServerProcess("--max-per-ip", "5")
    pid = srv.proc.pid
    held: list[socket.socket] = []
    flood: list[socket.socket] = []
    try:
        base, _ = proc_counts(pid)
        held = [socket.create_connection((srv.host, srv.web_port)) for _ in range(5)]  # admitted, silent
        assert wait_for(lambda: proc_counts(pid)[0] >= base + 5)
        peak = 0
        for _ in range(200):
            flood.append(socket.create_connection((srv.host, srv.web_port)))
            peak = max(peak, proc_counts(pid)[0])
        # A thread for each admitted connection and each refusal in flight; none for the rest.
        assert peak <= base + 5 + MAX_REFUSING + 2, (peak, base)
        for sock in flood:  # each refused before it sent a byte: 503, the reason, closed
            data = _until_eof(sock)
            assert data.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), data[:80]
            assert data.endswith(b"\r\n\r\ntoo many connections from 127.0.0.1 (at most 5)\n"), data[-80:]
        assert wait_for(lambda: proc_counts(pid)[0] <= base + 5 + 1)
        for sock in held:  # those admitted are served as before
            sock.sendall(f"GET / HTTP/1.1\r\nHost: {srv.host}:{srv.web_port}\r\nConnection: close\r\n\r\n".encode())
            assert _until_eof(sock).startswith(b"HTTP/1.1 200 OK\r\n")
    finally:
        for sock in held + flood:
            sock.close()
        code, err = srv.stop()
    assert code == 0 and "Traceback" not in err


def test_out_of_descriptors_the_listener_says_so_once_backs_off_and_serves_again():
    srv = ServerProcess("--max-per-ip", "1000", "--login-timeout", "60")
    pid = srv.proc.pid
    flood: list[socket.socket] = []
    try:
        _, fds = proc_counts(pid)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (fds + 20, fds + 20))  # far below --max-clients
        flood = [socket.create_connection((srv.host, srv.port)) for _ in range(60)]  # (the rest wait in the backlog)
        assert wait_for(lambda: "out of file descriptors" in "".join(srv._stderr)), "".join(srv._stderr)[-2000:]
        # It waits for descriptors instead of trying accept again at once: a spin would burn a core.
        before, start = _cpu_seconds(pid), time.monotonic()
        wait_for(lambda: time.monotonic() - start >= 2.0, timeout=3)
        used = _cpu_seconds(pid) - before
        assert used < 0.5, f"{used:.2f} s of CPU in {time.monotonic() - start:.2f} s while out of descriptors"
        for sock in flood:
            sock.close()
        late = NativeClient(srv.port, "late")  # accepted once the flood's descriptors are closed
        assert late.welcome["type"] == "welcome"
        late.close()
    finally:
        for sock in flood:
            sock.close()
        code, err = srv.stop()
    assert code == 0 and "Traceback" not in err
    assert err.count("out of file descriptors") == 1, err


def test_a_low_descriptor_limit_lowers_max_clients_and_a_flood_past_it_is_refused():
    srv = ServerProcess("--max-per-ip", "1000", preexec_fn=_files(200, 200))
    flood: list[socket.socket] = []
    try:
        wait_for(lambda: "at most" in "".join(srv._stderr))
        err = "".join(srv._stderr)
        line = next(line for line in err.splitlines() if "not --max-clients 1000" in line)
        assert "only 200 files may be open" in line and "the hard limit is 200" in line, line
        fits = int(line.split("at most ")[1].split()[0])
        assert 0 < fits < 200 - 32
        flood = [socket.create_connection((srv.host, srv.port)) for _ in range(250)]  # past the limit itself
        first = [_until_eof(sock) for sock in flood[fits:]]
        assert all(b"the server is full" in data for data in first), first[:3]
        for sock in flood:
            sock.close()
        late = NativeClient(srv.port, "late")
        assert late.welcome["type"] == "welcome"
        late.close()
    finally:
        for sock in flood:
            sock.close()
        code, err = srv.stop()
    assert code == 0 and "Traceback" not in err
    assert "out of file descriptors" not in err


def test_the_soft_descriptor_limit_is_raised_for_max_clients_where_the_hard_limit_allows():
    srv = ServerProcess(preexec_fn=_files(200, 4096))
    try:
        assert wait_for(lambda: "raised the open-file limit" in "".join(srv._stderr))
        with open(f"/proc/{srv.proc.pid}/limits") as f:
            soft = int(next(line for line in f if line.startswith("Max open files")).split()[3])
        assert 1000 < soft <= 4096
        assert f"raised the open-file limit from 200 to {soft} for --max-clients 1000" in "".join(srv._stderr)
    finally:
        code, err = srv.stop()
    assert code == 0


def test_over_the_limit_the_tls_page_answers_503_inside_tls():
    srv = ServerProcess("--tls", "--max-per-ip", "1")
    holder = socket.create_connection((srv.host, srv.port))
    try:
        assert wait_for(lambda: "connection from 127.0.0.1" in "".join(srv._stderr))
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the server's own self-signed certificate
        with ctx.wrap_socket(socket.create_connection((srv.host, srv.web_port), timeout=TIMEOUT)) as page:
            data = b""
            try:
                while chunk := page.recv(65536):
                    data += chunk
            except ssl.SSLError:  # (a close without close_notify)
                pass
        assert data.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), data[:80]
        assert data.endswith(b"too many connections from 127.0.0.1 (at most 1)\n"), data[-80:]
    finally:
        holder.close()
        srv.stop()
