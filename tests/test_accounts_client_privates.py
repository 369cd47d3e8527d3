"""``/privates`` (issue 23): the accounts one has private conversations with, the most recent first, for the
terminal client (logged in by its kept token) and nc users; a guest is told conversations are kept between
accounts. A real server and a real client process."""

from __future__ import annotations

import subprocess

from helpers import PASSWORD, NativeClient, PlainClient, ServerProcess, client_env, program, register, wait_for
from test_accounts_client_throttle import remember
from test_accounts_server import answer
from test_reconnect import read_until


def test_privates_lists_the_kept_conversations_for_the_terminal_and_nc(tmp_path):
    srv = ServerProcess("--rate-limit", "0", "--accounts", "optional")
    try:
        remember(tmp_path, srv.port, "dora", register(srv.port, "dora").token)
        ed = NativeClient(srv.port, "ed")
        ed.send_json({"type": "register", "password": PASSWORD})
        assert answer(ed, "loggedin")["type"] == "loggedin"
        proc = subprocess.Popen(
            [*program("chatclient"), srv.address],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=client_env(tmp_path),
        )  # fmt: skip
        try:
            read_until(proc, "Connected to the server.")
            proc.stdin.write("/privates\n")
            proc.stdin.flush()
            assert "no private conversation kept yet" in read_until(proc, "private conversation")[-1]
            ed.send_json({"type": "privmsg", "to": "dora", "text": "hi dora"})
            read_until(proc, "hi dora")
            proc.stdin.write("/msg nobody-registered hello\n/privates\n")
            proc.stdin.flush()
            listed = read_until(proc, "private conversations, the most recent first")[-1]
            assert "@ed (/history @NICK reads one)" in listed, listed
        finally:
            proc.stdin.close()
            proc.wait(10)
        guest = PlainClient(srv.port, "guesty")
        guest.send(b"/privates\n")
        assert b"log in first" in guest.expect_line(lambda line: b"log in first" in line)[-1]
        guest.close()
        ed.close()
    finally:
        code, err = srv.stop()
    assert code == 0, err


def test_privates_on_a_cluster_lists_what_was_said_through_another_node(make_nodes):
    """The index is kept as conversations are, in the cluster's Redis: written on one node, listed on another."""
    one, two = make_nodes(2, "--rate-limit", "0")
    hal = NativeClient(one.port, "hal")
    hal.send_json({"type": "register", "password": PASSWORD})
    assert answer(hal, "loggedin")["type"] == "loggedin"
    ivy = NativeClient(two.port, "ivy")
    ivy.send_json({"type": "register", "password": PASSWORD})
    assert answer(ivy, "loggedin")["type"] == "loggedin"
    hal.send_json({"type": "privmsg", "to": "ivy", "text": "across nodes"})
    assert ivy.expect(lambda f: f["type"] == "private")["text"] == "across nodes"
    seen: list[dict] = []

    def listed(client: NativeClient, name: str) -> bool:
        client.send_json({"type": "conversations"})
        seen.append(answer(client, "conversation-list"))
        return seen[-1].get("names") == [name]

    assert wait_for(lambda: listed(ivy, "hal")), seen[-1]  # (the cluster's store commits in batches)
    assert wait_for(lambda: listed(hal, "ivy")), seen[-1]
    hal.close()
    ivy.close()
