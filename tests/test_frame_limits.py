"""Every frame and field the server builds fits the limits its clients enforce."""

from __future__ import annotations

import dataclasses
import json
import queue
import re
import subprocess
import threading
import time
import typing

import msgspec
import pytest
import regex
from helpers import TIMEOUT, NativeClient, client_process, kill_quietly, program, python_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatserver.rules.modes import ack_text
from common import limits
from common import messages as m
from common.framing import DEFAULT_MAX_FRAME, LineFramer
from common.plain import render_plain
from common.rooms import MAX_TOPIC
from common.safetext import neutralise

#: Characters whose JSON form is longest: escaped quotes and controls, 4-byte UTF-8.
WORST = '"\\\x00\x1b\n\U0001f600\U00020000e\u0301'


@pytest.fixture
def ack_server(make_server):
    return make_server("--mode", "ack")


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


# --- lists longer than one frame, on a real server -------------------------------

CROWD = 510


def long_name(i: int, length: int = 32) -> str:
    """A distinct name of ``length`` characters that take 4 bytes each in UTF-8 (CJK Extension B)."""
    return chr(0x20000 + i) + "\U00021000" * (length - 1)


@pytest.fixture
def crowd_server(make_server):
    # (75 rooms made from one address: more than an address may make in an hour by default)
    return make_server("--rate-limit", "0", "--max-clients", "700", "--max-per-ip", "700", "--rooms-per-hour", "100")


def json_size(obj: dict) -> int:
    """Bytes of ``obj`` as one whole frame (what the server would send without cutting)."""
    return len(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode())


class Output:
    """A process's stdout, read by a thread: lines can be awaited with a deadline."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, pred, timeout: float = TIMEOUT) -> list[str]:
        """Lines up to the first that matches ``pred`` (AssertionError if none does in time)."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        try:
            while (line := self.lines.get(timeout=max(0, deadline - time.monotonic()))) is not None:
                seen.append(line)
                if pred(line):
                    return seen
        except queue.Empty:
            pass
        kill_quietly(self.proc)  # (its stderr then ends)
        err = self.proc.stderr.read()[-500:]
        raise AssertionError(f"no such line in {[line[:200] for line in seen]}; stderr: {err!r}")


def test_a_newcomer_joins_a_room_whose_user_list_exceeds_a_frame(crowd_server):
    crowd = [NativeClient(crowd_server.port, long_name(i)) for i in range(CROWD)]
    everyone = {"type": "users", "room": "#lobby", "nicks": [long_name(i) for i in range(CROWD)]}
    assert json_size(everyone) > DEFAULT_MAX_FRAME, "the list would not fit in one frame"
    proc = client_process(crowd_server.address, "--name", "newcomer")
    out = Output(proc)
    try:
        lines = out.until(lambda line: line.startswith(f"* {CROWD + 1} in #lobby:"))
        assert lines[-1].endswith(" more"), lines[-1][-80:]
        listed, more = lines[-1].split(": ", 1)[1].rsplit(" and ", 1)
        assert len(listed.split(", ")) + int(more.split()[0]) == CROWD + 1, "every user is listed or counted"
        crowd[0].say("still here?")
        out.until(lambda line: line.endswith(": still here?"))
        proc.stdin.write("/who\n")
        proc.stdin.flush()
        who = out.until(lambda line: line.startswith(f"* {CROWD + 1} in #lobby:"))[-1]
        assert who.endswith(" more")
    finally:
        proc.stdin.close()
        proc.wait(timeout=TIMEOUT)
        for c in crowd:
            c.close()
    assert proc.returncode == 0, proc.stderr.read()


ROOMS = 75


def test_rooms_lists_what_fits_and_counts_the_rest(crowd_server):
    topic = "\U0001f600" * MAX_TOPIC
    members = []
    for i in range(ROOMS):
        c = NativeClient(crowd_server.port, f"member{i}")
        c.send_json({"type": "join", "room": "#" + long_name(i)})
        c.send_json({"type": "topic", "text": topic})
        c.expect(lambda f: f["type"] == "notice" and f.get("event") == "topic")
        members.append(c)
    names = ["#lobby"] + ["#" + long_name(i) for i in range(ROOMS)]
    assert json_size({"type": "rooms", "names": names, "counts": [1] * len(names), "topics": [topic] * len(names)}) > (
        DEFAULT_MAX_FRAME
    )
    proc = client_process(crowd_server.address, "--name", "newcomer")
    out = Output(proc)
    try:
        out.until(lambda line: line.startswith("* ") and " in #lobby: " in line)  # (the members kept the lobby)
        proc.stdin.write("/rooms\n")
        proc.stdin.flush()
        line = out.until(lambda line: line.startswith("* rooms: "))[-1]
        found = re.search(r"; and (\d+) more \(/rooms (#\S+)\)$", line)  # (and how to ask for them)
        assert found, line[-80:]
        listed = line.count(f" {topic}")
        more = int(found.group(1))
        assert line.count(f"{found.group(2)} (1)") == 1, "the next page starts after the last listed"
        assert listed + more == ROOMS, "every room with a topic is listed or counted"
    finally:
        proc.stdin.close()
        proc.wait(timeout=TIMEOUT)
        for c in members:
            c.close()
    assert proc.returncode == 0, proc.stderr.read()


# --- every frame the server builds, at its worst ----------------------------------

SERVER_TYPES = sorted(m.SERVER_TYPES, key=lambda cls: cls.TYPE)


def _base(tp):
    """``X`` of ``X | None``, and whether None is allowed."""
    args = typing.get_args(tp)
    if type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return tp, False


def worst_string(limit: int) -> st.SearchStrategy[str]:
    """Strings up to a little over ``limit``, mostly at it, of characters that take the most bytes in JSON."""
    pattern = st.text(st.sampled_from(WORST) | st.characters(codec="utf-8"), min_size=1, max_size=4)
    length = st.sampled_from([limit, limit + 1, limit + 20]) | st.integers(0, limit)
    return st.tuples(pattern, length).map(lambda t: (t[0] * (t[1] // len(t[0]) + 1))[: t[1]])


def worst_record(tp: type) -> object:
    """A nested record (a shared file's ``FileRef``) with every field at its worst: each string at
    its type's cap in the costliest character, each number at its longest."""
    info = msgspec.inspect.type_info(tp)
    values = {}
    for f in info.fields:
        kind = f.type.types[0] if isinstance(f.type, msgspec.inspect.UnionType) else f.type
        if isinstance(kind, msgspec.inspect.StrType):
            values[f.name] = "\x00" * (kind.max_length or limits.MAX_FIELD)
        elif isinstance(kind, msgspec.inspect.IntType):
            values[f.name] = -(2**63) + 1
        else:  # pragma: no cover - a new field type: teach this test about it
            raise AssertionError(f"{tp.__name__}.{f.name}: {kind}")
    return tp(**values)


def _is_record(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


@st.composite
def server_message(draw, cls):
    """``cls`` built with worst-case contents: every string near its field's cap, lists of
    one length (parallel lists stay parallel) from none to far more than a frame holds."""
    hints = typing.get_type_hints(cls)
    count = draw(st.integers(0, 1200) | st.just(1200))
    kwargs = {}
    for f in dataclasses.fields(cls):
        tp, optional = _base(hints[f.name])
        if optional and draw(st.booleans()):
            kwargs[f.name] = None
            continue
        if f.name == "more":
            kwargs[f.name] = draw(st.integers(0, 10_000))
        elif tp is str:
            kwargs[f.name] = draw(worst_string(limits.field_limit(f.name)))
        elif tp is bool:
            kwargs[f.name] = draw(st.booleans())
        elif tp is int:
            kwargs[f.name] = draw(st.integers(m.INT_MIN, m.INT_MAX))
        elif tp is float:
            kwargs[f.name] = draw(st.floats(allow_nan=False, allow_infinity=False))
        elif typing.get_args(tp) == (str,):
            pool = draw(st.lists(worst_string(limits.MAX_FIELD), min_size=1, max_size=3))
            kwargs[f.name] = [pool[i % len(pool)] for i in range(count)]
        elif typing.get_args(tp) == (int,):
            kwargs[f.name] = [draw(st.integers(m.INT_MIN, m.INT_MAX))] * count
        elif typing.get_args(tp) == (bool,):
            kwargs[f.name] = [draw(st.booleans())] * count
        elif _is_record(tp):
            kwargs[f.name] = worst_record(tp)
        else:  # pragma: no cover - a new field type: teach this test about it
            raise AssertionError(f"{cls.__name__}.{f.name}: {tp}")
    return kwargs


def assert_fits(cls, kwargs) -> None:
    msg = limits.fit(cls(**kwargs))  # (as the server builds a frame)
    frame = m.encode(msg)
    assert len(frame) <= DEFAULT_MAX_FRAME, f"{cls.TYPE}: {len(frame)} bytes"
    framer = LineFramer()  # what every client reads with
    framer.receive_data(frame)
    assert m.decode(framer.next_line()) == msg, "every field within its limit: the receiver takes it as it is"
    for f in dataclasses.fields(cls):
        given_value, kept = kwargs[f.name], getattr(msg, f.name)
        if isinstance(given_value, str):
            limit = limits.field_limit(f.name)
            assert kept == (given_value if len(given_value) <= limit else given_value[: limit - 1] + "…")
    if cls.PAGED:
        first = cls.PAGED[0]
        listed = getattr(msg, first)
        assert listed == [limits.clip(v, limits.MAX_FIELD) for v in kwargs[first][: len(listed)]], "a prefix, in order"
        assert len(listed) + msg.more == len(kwargs[first]) + kwargs["more"], "every entry listed or counted"
        if msg.more > kwargs["more"]:
            assert len(frame) > DEFAULT_MAX_FRAME // 2, "only what does not fit is left out"


@pytest.mark.parametrize("cls", SERVER_TYPES, ids=lambda cls: cls.TYPE)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_every_server_frame_fits_whatever_it_holds(cls, data):
    assert_fits(cls, data.draw(server_message(cls)))


@pytest.mark.parametrize("cls", SERVER_TYPES, ids=lambda cls: cls.TYPE)
def test_every_server_frame_fits_with_every_field_at_its_worst(cls):
    """The bound itself: every string at its cap in the costliest character
    (6 bytes in JSON), lists many times longer than one frame holds."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        tp, _ = _base(hints[f.name])
        if f.name == "more":
            kwargs[f.name] = 2**62
        elif tp is str:
            kwargs[f.name] = "\x00" * limits.field_limit(f.name)
        elif tp in (int, float):
            kwargs[f.name] = tp(-(2**63) + 1)
        elif tp is bool:
            kwargs[f.name] = False
        elif typing.get_args(tp) == (str,):
            kwargs[f.name] = ["\x00" * (limits.MAX_FIELD - 3) + str(i) for i in range(1000)]
        elif typing.get_args(tp) == (bool,):
            kwargs[f.name] = [False] * 1000
        elif _is_record(tp):
            kwargs[f.name] = worst_record(tp)
        else:
            kwargs[f.name] = [-(2**63) + 1] * 1000
    assert_fits(cls, kwargs)


def test_a_list_that_is_not_cut_to_fit_keeps_a_few_entries():
    welcome = limits.fit(m.Welcome(1, "s", "me", "#lobby", ["me"], exit_words=[f"word{i}" for i in range(100)]))
    assert welcome.exit_words == [f"word{i}" for i in range(limits.MAX_SHORT_LIST)]


def test_who_keeps_the_away_marks_of_those_it_lists():
    nicks = [long_name(i) for i in range(CROWD)]
    users = limits.fit(m.Users("#lobby", nicks, away=nicks[::3]))
    assert users.more and len(users.nicks) + users.more == CROWD
    assert users.away == users.nicks[::3], "the away marks of those listed"
    assert render_plain(users).startswith(f"* {CROWD} in #lobby: {neutralise(nicks[0])} (away), ")
    assert render_plain(users).endswith(f" and {users.more} more")


def test_no_character_takes_more_bytes_in_a_frame_than_the_worst_case_assumes():
    """Why "\\x00" at every cap is the largest frame: no character encodes longer."""
    encode_one = json.JSONEncoder(ensure_ascii=False).encode
    sizes = {len(encode_one(chr(c)).encode()) - 2 for c in range(0x110000) if not 0xD800 <= c < 0xE000}
    assert max(sizes) == limits.WORST_BYTES_PER_CHAR == len(encode_one("\x00")) - 2
