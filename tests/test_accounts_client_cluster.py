"""The terminal client's kept login on a cluster (real nodes on a real Redis): kept for each of the
server's addresses, so the client given one node alone later is logged in by itself there."""

from __future__ import annotations

from helpers import kept_logins
from test_accounts_client_server import _quit, _register, _tty


def test_a_login_made_through_one_node_logs_in_by_itself_on_another(make_nodes, tmp_path):
    one, two = make_nodes(2)
    _quit(_register(f"{one.address},{two.address}", tmp_path, "gina"))  # (one server's two nodes)
    kept = kept_logins(tmp_path)
    assert kept[one.address] == kept[two.address] and kept[one.address]["account"] == "gina"
    again = _tty(two.address, tmp_path)  # the second node alone, no name given
    again.wait_text("logged in as gina (remembered for this server")
    again.wait_text("gina>")
    _quit(again)
