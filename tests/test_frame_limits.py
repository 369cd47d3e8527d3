"""Every frame and field the server builds fits the limits its clients enforce."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import regex
from helpers import ServerProcess, program, python_env
from hypothesis import given
from hypothesis import strategies as st

from chatserver.modes import ack_text
from common import messages as m

#: Characters whose JSON form is longest: escaped quotes and controls, 4-byte UTF-8.
WORST = '"\\\x00\x1b\n\U0001f600\U00020000e\u0301'


@pytest.fixture
def ack_server():
    srv = ServerProcess("--mode", "ack")
    yield srv
    srv.stop()


def send_once(address: str, text: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*program("chatclient"), address, "--send", text],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=20,
    )


_ACK = re.compile(r'ACK (\d+): ("(?:[^"\\]|\\.)*")(?: … \(the first (\d+) of (\d+) characters\))?')


def long_text(limit: int) -> st.SearchStrategy[str]:
    """Text up to ``limit`` characters, often the longest, of a repeated worst-case pattern."""
    pattern = st.text(st.sampled_from(WORST) | st.characters(), min_size=1, max_size=6)
    repeated = st.tuples(pattern, st.integers(0, limit) | st.just(limit)).map(lambda t: (t[0] * limit)[: t[1]])
    return repeated | st.text(st.sampled_from(WORST) | st.characters(), max_size=40)


@given(seq=st.integers(0, 2**63), text=long_text(m.MAX_TEXT))
def test_an_ack_fits_a_message_and_quotes_what_it_shows(seq, text):
    reply = ack_text(seq, text)
    assert len(reply) <= m.MAX_TEXT
    match = _ACK.fullmatch(reply)
    assert match, reply[:200]
    shown = json.loads(match.group(2))
    if match.group(3) is None:
        assert shown == text, "what fits is quoted whole"
    else:
        assert text.startswith(shown) and int(match.group(3)) == len(shown) and int(match.group(4)) == len(text)


@given(text=st.text(st.sampled_from(WORST), min_size=1, max_size=300))
def test_a_cut_ack_shows_as_much_as_fits(text):
    limit = 120
    reply = ack_text(7, text, limit=limit)
    assert len(reply) <= limit
    match = _ACK.fullmatch(reply)
    assert match
    if match.group(3) is not None:  # one more grapheme cluster would not have fitted
        shown = json.loads(match.group(2))
        more = shown + regex.match(r"\X", text[len(shown) :]).group()
        longer = f"ACK 7: {json.dumps(more, ensure_ascii=False)} … (the first {len(more)} of {len(text)} characters)"
        assert len(longer) > limit


@pytest.mark.parametrize("text", ["x" * m.MAX_TEXT, '"' * m.MAX_TEXT, "😀" * m.MAX_TEXT], ids=["x", "quotes", "emoji"])
def test_the_ack_of_a_longest_message_reaches_the_client(ack_server, text):
    proc = send_once(ack_server.address, text)
    assert proc.returncode == 0, proc.stderr
    match = _ACK.fullmatch(proc.stdout.rstrip("\n"))
    assert match, proc.stdout[:200]
    shown = json.loads(match.group(2))
    assert len(shown) > m.MAX_TEXT // 2 - 40 and text.startswith(shown)
    assert match.group(4) == str(m.MAX_TEXT), "the reply says it was cut, and from what length"
