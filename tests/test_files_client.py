"""The terminal client's file sharing (issue 24): ``--send-file``, ``/send`` and ``/get`` in line mode against a
real server, resuming, never overwriting, the download directory inside a temporary home, path completion."""

from __future__ import annotations

import hashlib
import http.client
import os
import queue
import threading
from pathlib import Path

import pytest
from helpers import NativeClient, ServerProcess, client_process, run_client
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from chatclient.completion import ChatCompleter
from chatclient.files import Progress, Shelf, download, progress_line, split_target, unique_path
from common import messages as m


class Lines:
    """A line-mode client's stdout, read by a thread, waited on line by line."""

    def __init__(self, proc) -> None:
        self.proc = proc
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=lambda: [self.queue.put(x) for x in proc.stdout], daemon=True).start()

    def until(self, words: str, timeout: float = 20) -> str:
        while True:
            line = self.queue.get(timeout=timeout)
            self.seen.append(line)
            if words in line:
                return line


def test_send_file_reaches_the_room_and_get_saves_identical_bytes_without_overwriting(server, tmp_path):
    bob = client_process(server.address, "--name", "bob")
    out = Lines(bob)
    out.until("bob")  # (its who line: it is in the room)
    body = os.urandom(700_000)
    source = tmp_path / "report.pdf"
    source.write_bytes(body)
    sent = run_client(server.address, "--name", "alice", "--send-file", str(source))
    assert sent.returncode == 0, sent.stderr
    assert "File sent: report.pdf (700.0 kB)" in sent.stdout
    assert "100%" in sent.stderr  # the progress bar's last line
    line = out.until("shared report.pdf")
    assert "alice shared report.pdf (700.0 kB) — /get 1" in line
    target = tmp_path / "downloads"
    target.mkdir()
    (target / "report.pdf").write_bytes(b"already here")
    bob.stdin.write(f"/get 1 {target}\n")
    bob.stdin.flush()
    saved = out.until("saved report.pdf")
    assert "report (1).pdf" in saved
    assert (target / "report.pdf").read_bytes() == b"already here"
    assert hashlib.sha256((target / "report (1).pdf").read_bytes()).digest() == hashlib.sha256(body).digest()
    bob.stdin.close()
    assert bob.wait(20) == 0


def test_send_in_line_mode_to_a_person_and_get_into_the_download_directory(server, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    carol = client_process(server.address, "--name", "carol")
    out = Lines(carol)
    out.until("carol")
    source = tmp_path / "notes.txt"
    source.write_bytes(b"for carol\n" * 1000)
    # A script: /send then the end of its input; the client waits for the upload before leaving.
    sent = run_client(server.address, "--name", "dave", input=f"/send {source} carol\n")
    assert sent.returncode == 0, sent.stderr
    assert "sent notes.txt" in sent.stdout
    assert "upload_token" not in sent.stdout + sent.stderr  # (the transfer's own frame: not a line to show)
    line = out.until("shared notes.txt")
    assert "(private)" in line or "private" in line.lower()
    carol.stdin.write("/get 1\n")
    carol.stdin.flush()
    out.until("saved notes.txt")
    assert (home / "Downloads" / "notes.txt").read_bytes() == source.read_bytes()
    carol.stdin.close()
    carol.wait(20)


def test_send_file_refusals_are_clear(tmp_path):
    srv = ServerProcess("--max-file-size", "1")
    try:
        big = tmp_path / "big.iso"
        big.write_bytes(b"\0" * (1024 * 1024 + 1))
        refused = run_client(srv.address, "--name", "alice", "--send-file", str(big))
        assert refused.returncode == 1
        assert "files here take at most" in refused.stderr
        missing = run_client(srv.address, "--name", "alice", "--send-file", str(tmp_path / "nope"))
        assert missing.returncode == 2 and "no such file" in missing.stderr
        too_long = run_client(srv.address, "--name", "alice", "--send-file", str(tmp_path / ("a" * 300)))
        assert too_long.returncode == 2 and "cannot read" in too_long.stderr, too_long.stderr
        assert "Traceback" not in too_long.stderr
    finally:
        srv.stop()


def test_an_interrupted_download_resumes_and_a_wrong_hash_is_refused(server, tmp_path):
    alice = NativeClient(server.port, "alice")
    body = os.urandom(400_000)
    alice.send_json({"type": "upload", "name": "big.bin", "size": len(body)})
    token = alice.expect(lambda f: f["type"] == "upload_token")
    conn = http.client.HTTPConnection("127.0.0.1", server.web_port, timeout=10)
    conn.request("PUT", token["path"], body=body)
    assert conn.getresponse().status == 201
    shared = alice.expect(lambda f: f["type"] == "message" and "file" in f)["file"]
    ref = m.FileRef(**shared)
    folder = tmp_path / "dl"
    folder.mkdir()
    part = folder / f".big.bin.{ref.id[:12]}.part"
    part.write_bytes(body[:123_456])  # what an interrupted try left

    def connect(port: int) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    said: list[str] = []
    path = download(connect, server.web_port, ref, folder, said.append)
    assert path.read_bytes() == body and not part.exists()
    assert said[0].startswith("[######") and "31%" in said[0]  # it started where the part ended
    wrong = m.FileRef(id=ref.id, name="big.bin", size=ref.size, sha256="0" * 64)
    with pytest.raises(Exception, match="SHA-256"):
        download(connect, server.web_port, wrong, folder, said.append)
    assert sorted(p.name for p in folder.iterdir()) == ["big.bin"]  # nothing half-done left behind


def test_helpers():
    assert split_target("a b.txt #dev") == ("a b.txt", "#dev")
    assert split_target("/nonexistent/x.txt bob") == ("/nonexistent/x.txt", "bob")
    assert split_target("x.txt") == ("x.txt", "")
    assert progress_line("x", 50, 100).startswith("[##########..........]  50% x")
    shelf = Shelf()
    ref = m.FileRef(id="a", name="n", size=1, sha256="s")
    assert shelf.add(ref, "bob", "shared n (1 B) — http://h:5080/f/a/n").number == 1
    assert shelf.add(ref, "bob", "again").number == 1
    assert shelf.get(1).port == 5080 and shelf.get(2) is None


def test_progress_says_each_quarter_once_and_a_jump_in_one_line():
    said: list[str] = []
    bar = Progress("x", 100, said.append)
    for done in (0, 10, 30, 30, 100, 100):
        bar.update(done)
    assert [line.split("]")[1].split()[0] for line in said] == ["0%", "30%", "100%"], said


def test_unique_names(tmp_path):
    assert unique_path(tmp_path, "a.pdf") == tmp_path / "a.pdf"
    (tmp_path / "a.pdf").write_bytes(b"")
    (tmp_path / "a (1).pdf").write_bytes(b"")
    assert unique_path(tmp_path, "a.pdf") == tmp_path / "a (2).pdf"
    (tmp_path / "README").write_bytes(b"")
    assert unique_path(tmp_path, "README") == tmp_path / "README (1)"


def test_tab_completes_paths_after_send(tmp_path, monkeypatch):
    (tmp_path / "report.pdf").write_bytes(b"")
    (tmp_path / "rest").mkdir()
    monkeypatch.chdir(tmp_path)
    completer = ChatCompleter(lambda: ["bob"], lambda: ["#dev"])
    text = "/send rep"
    got = [c.text for c in completer.get_completions(Document(text, len(text)), CompleteEvent())]
    assert got == ["ort.pdf"]
    text = "/se"
    assert [c.text for c in completer.get_completions(Document(text, len(text)), CompleteEvent())] == ["/send "]
    assert Path("report.pdf").exists()


def test_send_to_a_named_room_and_files_lists_it_with_get_numbers(server, tmp_path):
    bob = client_process(server.address, "--name", "bob")
    out = Lines(bob)
    out.until("bob")
    bob.stdin.write("/join #dev\n")
    bob.stdin.flush()
    out.until("#dev")
    source = tmp_path / "plan.txt"
    source.write_bytes(b"the plan\n" * 100)
    # From a script, to a room it names: the file goes there, not to the sender's room.
    sent = run_client(server.address, "--name", "alice", input=f"/join #dev\n/send {source} #dev\n")
    assert sent.returncode == 0, sent.stderr
    assert "sent plan.txt (900 B) to #dev" in sent.stdout, sent.stdout
    line = out.until("shared plan.txt")
    assert "alice shared plan.txt (900 B) — /get 1" in line and "#dev" in line
    bob.stdin.write("/files #dev\n")
    bob.stdin.flush()
    again = out.until("shared plan.txt")  # the room's files again, with the same number to /get
    assert "alice shared plan.txt (900 B) — /get 1" in again
    out.until("1 recent files of #dev")
    bob.stdin.close()
    assert bob.wait(20) == 0


def test_get_fetches_a_file_kept_by_a_cluster_node_on_another_address(make_redis, tmp_path):
    # Two machines, as far as addresses go: the node that takes the file listens on 127.0.0.2 only, the
    # terminal's node on 127.0.0.1. The terminal asks its own server's address first (nothing listens
    # there on that port), then the link's: the node that keeps the file.
    redis = make_redis()
    args = ("--cluster", redis.url, "--cluster-heartbeat", "1", "--rate-limit", "0")
    far, near = ServerProcess(*args, "--host", "127.0.0.2"), ServerProcess(*args)
    viewer = client_process(near.address, "--name", "viewer")
    try:
        out = Lines(viewer)
        out.until("viewer")
        alice = NativeClient(far.port, "alice", host="127.0.0.2")
        body = os.urandom(200_000)
        alice.send_json({"type": "upload", "name": "far.bin", "size": len(body)})
        token = alice.expect(lambda f: f["type"] == "upload_token")
        conn = http.client.HTTPConnection("127.0.0.2", far.web_port, timeout=10)
        conn.request("PUT", token["path"], body=body)
        assert conn.getresponse().status == 201
        out.until("alice shared far.bin (200.0 kB) — /get 1")
        viewer.stdin.write(f"/get 1 {tmp_path}\n")
        viewer.stdin.flush()
        out.until("saved far.bin")
        assert (tmp_path / "far.bin").read_bytes() == body
        viewer.stdin.close()
        assert viewer.wait(20) == 0
    finally:
        if viewer.poll() is None:
            viewer.kill()
        for node in (far, near):
            node.stop()
