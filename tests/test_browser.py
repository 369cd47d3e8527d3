"""The chat page in a real headless Chromium (Selenium), against a real server and ``chatclient``.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install chromium
chromium-driver``). Without them these tests skip and say so; with ``CI`` set
in the environment they fail instead, so CI can never pass without them.
Chromium runs with its default pre-connect behaviour. Screenshots go to each
test's temporary directory (``pytest --basetemp DIR`` keeps them in DIR).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import threading
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import pytest
from helpers import TIMEOUT, NativeClient, PlainClient, ServerProcess, client_process, kill_quietly, wait_for

from common.commands import HELP_LINES

INSTALL = "apt-get install chromium chromium-driver"
CHROMIUM = next((p for name in ("chromium", "chromium-browser") if (p := shutil.which(name))), None)
CHROMEDRIVER = shutil.which("chromedriver")

try:
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
except ImportError:  # pragma: no cover - the test extra installs it
    webdriver = None


def _missing() -> str | None:
    if webdriver is None:
        return "selenium is not installed (pip install -e '.[test]')"
    if CHROMIUM is None or CHROMEDRIVER is None:
        return f"Chromium and its driver are not installed: {INSTALL}"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {missing}")
        pytest.skip(f"browser tests skipped: {missing}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1280,800")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(TIMEOUT)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, tmp_path):
    """The browser, reset to a desktop window, with a screenshot helper."""
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    browser.get("about:blank")
    browser.get_log("browser")  # what earlier tests logged is theirs
    return Page(browser, tmp_path)


class Page:
    def __init__(self, driver, shots: Path) -> None:
        self.driver = driver
        self.shots = shots

    def open(self, srv: ServerProcess) -> None:
        """The page, with nothing kept from an earlier page of the same address (its session)."""
        origin = srv.web_url.rstrip("/")
        self.driver.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "local_storage"})
        self.driver.get(srv.web_url)

    def el(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def login(self, nick: str) -> None:
        self.el("#nick").send_keys(nick, Keys.ENTER)
        self.wait(lambda: self.state() == "online")

    def state(self) -> str:
        return self.el("#state").get_attribute("data-state")

    def say(self, text: str) -> None:
        self.el("#input").send_keys(text, Keys.ENTER)

    def messages_text(self) -> str:
        return self.el("#messages").text

    def wait(self, pred, timeout: float = TIMEOUT) -> None:
        def check() -> bool:
            try:
                return bool(pred())
            except WebDriverException:
                return False

        if not wait_for(check, timeout):
            shown = self.driver.find_element(By.TAG_NAME, "body").text
            raise AssertionError(f"the page never got there; it shows:\n{shown}")

    def wait_text(self, text: str, timeout: float = TIMEOUT) -> None:
        self.wait(lambda: text in self.messages_text(), timeout)

    def entry(self, where: str, name: str):
        """The button of ``name`` in the side panel's list ``where`` (``#my-rooms``, ``#privates``...), or None."""
        return self.driver.execute_script(
            "return [...document.querySelectorAll(arguments[0] + ' button')]"
            ".find(b => b.querySelector('.name').textContent === arguments[1]) || null",
            where,
            name,
        )

    def entry_text(self, where: str, name: str) -> str | None:
        button = self.entry(where, name)
        return None if button is None else button.text

    def badge(self, where: str, name: str) -> str:
        """The unread count shown beside ``name`` ("" for none), and "!" after it if we were mentioned there."""
        return self.driver.execute_script(
            "const b = [...document.querySelectorAll(arguments[0] + ' button')]"
            ".find(b => b.querySelector('.name').textContent === arguments[1]);"
            "if (!b) return null;"
            "const n = b.querySelector('.unread');"
            "return (n ? n.textContent : '') + (b.querySelector('.mentioned') ? '!' : '')",
            where,
            name,
        )

    def open_entry(self, where: str, name: str) -> None:
        """Click ``name`` in the list (the list may be drawn anew meanwhile: then its new button)."""

        def click() -> bool:
            button = self.entry(where, name)
            if button is None:
                return False
            button.click()
            return True

        self.wait(click)

    def csp_violations(self) -> list[str]:
        return [e["message"] for e in self.driver.get_log("browser") if "Content Security Policy" in e["message"]]


class LineClient:
    """``chatclient`` in line mode (stdin a pipe), its stdout collected as it comes."""

    def __init__(self, srv: ServerProcess, name: str) -> None:
        self.proc = client_process(srv.address, "--name", name)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self._reader.start()

    def type(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def close(self) -> None:
        kill_quietly(self.proc)


@pytest.fixture
def srv(make_server):
    return make_server("--rate-limit", "0", "--name", "Office")


def test_nickname_then_real_time_chat_with_a_terminal_client(page, srv):
    term = LineClient(srv, "term")
    try:
        wait_for(lambda: term.saw("Connected"))
        page.open(srv)
        assert page.el("#nick").is_displayed() and not page.el("#input").is_displayed()
        page.shot("1-nickname")
        page.login("webuser")
        assert page.el("#server").text == "Office" and page.el("#room").text == "#lobby"
        page.wait(lambda: "term" in page.el("#people").text)
        wait_for(lambda: term.saw("webuser joined"))
        term.type("hello from the terminal")
        page.wait_text("term: hello from the terminal")
        page.say("hello from the browser")
        assert wait_for(lambda: term.saw("webuser: hello from the browser")), term.lines
        page.wait(lambda: not page.driver.find_elements(By.CSS_SELECTOR, "#messages .pending"))  # acknowledged
        # Shift+Enter is a new line in the message, Enter sends it.
        page.el("#input").send_keys("line one", Keys.SHIFT, Keys.ENTER, Keys.SHIFT, "line two", Keys.ENTER)
        assert wait_for(lambda: term.saw("line two")), term.lines
        assert page.el("#input").get_attribute("value") == ""
        # A /command is parsed as the terminal parses it: /me is an action, /msg is private.
        page.say("/me waves")
        assert wait_for(lambda: term.saw("webuser waves")), term.lines
        page.say("/msg term just for you")
        assert wait_for(lambda: term.saw("just for you")), term.lines
        page.wait_text("[private to term]")  # the server's copy: shown once
        assert page.messages_text().count("[private to term] just for you") == 1
        term.type("/msg webuser psst, webuser")
        page.wait(lambda: "psst" in page.el("#messages .line.private:last-child").text)
        assert "[private from term]" in page.el("#messages .line.private:last-child").text
        page.say("/help")
        page.wait_text("/join #ROOM")
        page.say("/nosuchthing")
        page.wait_text("unknown command /nosuchthing")
        page.shot("2-chatting")
        assert page.csp_violations() == []
    finally:
        term.close()


def test_the_page_and_an_nc_user_get_the_same_help_and_the_same_errors(page, srv):
    """The page has no parser or help of its own: what it shows is the server's, word for word."""
    nc = PlainClient(srv.port, "ncuser")
    page.open(srv)
    page.login("webuser")

    def nc_answer(typed: str, last: str) -> list[str]:
        nc.send(typed.encode() + b"\n")
        return [raw.decode().removeprefix("* ") for raw in nc.expect_line(lambda raw: last.encode() in raw)]

    page.say("/help")
    page.wait(lambda: page.driver.find_elements(By.CSS_SELECTOR, "#messages .line.help pre"))
    help_block = page.el("#messages .line.help pre")
    shown = page.driver.execute_script("return arguments[0].textContent", help_block)
    nc_help = nc_answer("/help", HELP_LINES[-1])
    assert shown.split("\n") == nc_help[nc_help.index(HELP_LINES[0]) :] == list(HELP_LINES)
    # Its columns are aligned with spaces: they line up only in a monospace font.
    font = page.driver.execute_script("return getComputedStyle(arguments[0]).fontFamily", help_block)
    assert "monospace" in font, font
    page.shot("2b-help")
    errors_js = """return [...document.querySelectorAll('#messages .line.error')]
        .map(l => l.textContent.slice(l.querySelector('time').textContent.length))"""
    for typed in ("/join", "/mute bob forever", "/mute bob 99999d", "/history many", "/nosuchthing"):
        before = len(page.driver.execute_script(errors_js))
        page.say(typed)
        page.wait(lambda before=before: len(page.driver.execute_script(errors_js)) > before)
        on_page = page.driver.execute_script(errors_js)[-1]
        assert on_page == nc_answer(typed, "* error:")[-1], typed
    # A command that made a message is shown as the user's own, from its acknowledgement.
    page.say("/me waves")
    page.wait(lambda: "webuser waves" in page.el("#messages .line.mine.action:last-child").text)
    assert nc.expect_line(lambda raw: b"webuser waves" in raw)
    page.say("/rooms")  # a typed /rooms is answered in the log; the page's own lists are not
    page.wait_text("rooms: #lobby (2)")
    assert page.messages_text().count("rooms: #lobby") == 1
    assert not page.driver.find_elements(By.CSS_SELECTOR, "#messages .pending")
    page.say("/quit")  # the server's bye ends the page's session: no reconnecting
    page.wait(lambda: page.state() == "ended")
    assert nc.expect_line(lambda raw: b"webuser left" in raw)


def test_html_from_the_network_is_shown_as_text(page, srv):
    page.open(srv)
    page.login("viewer")
    other = NativeClient(srv.port, "mallory")
    evil = "<img src=x onerror=\"document.title='pwned'\"><b>bold</b><script>alert(1)</script>"
    other.say(evil)
    other.send_json({"type": "topic", "text": "<i>topic</i>"})
    page.wait_text(evil)
    page.wait(lambda: page.el("#topic").text == "— <i>topic</i>")
    messages = page.el("#messages")
    assert messages.find_elements(By.TAG_NAME, "img") == []
    assert messages.find_elements(By.TAG_NAME, "b") == []
    assert messages.find_elements(By.TAG_NAME, "script") == []
    assert page.driver.title != "pwned"
    page.shot("3-injection")


def test_bidi_controls_and_line_breaks_cannot_disguise_a_message(page, srv):
    """A right-to-left override shows as what it is, and a message's second line is indented
    under its text, never starting where a new message's time does."""
    page.open(srv)
    page.login("viewer")
    other = NativeClient(srv.port, "mallory")
    other.say("file \u202egnp.exe")
    other.say("first\n12:00 admin: please send me your password")
    page.wait_text("please send me")
    page.wait_text("file <U+202E>gnp.exe")
    assert "\u202e" not in page.messages_text()
    # Each peer's name and text is its own bidi isolate.
    texts = page.driver.find_elements(By.CSS_SELECTOR, "#messages .line bdi.text")
    assert any("gnp.exe" in t.text for t in texts), [t.text for t in texts]
    assert page.driver.find_elements(By.CSS_SELECTOR, "#messages .line bdi.nick")
    # Where the second line of the two-line message starts, against where its line's time starts.
    lefts = page.driver.execute_script(
        """
        const line = [...document.querySelectorAll('#messages .line')].find(l => l.textContent.includes('please send'));
        const text = line.querySelector('.text').firstChild;
        const range = document.createRange();
        const at = text.data.indexOf('12:00');
        range.setStart(text, at);
        range.setEnd(text, at + 1);
        return [range.getBoundingClientRect().left, line.querySelector('time').getBoundingClientRect().left,
                line.querySelector('time').getBoundingClientRect().right];
        """
    )
    second, time_left, time_right = lefts
    assert second >= time_right, (
        f"the message's second line starts at {second}px, the time spans {time_left}-{time_right}"
    )
    page.shot("3b-bidi-and-breaks")


def test_rooms_topics_history_mentions_and_who_is_here(page, srv):
    dev = NativeClient(srv.port, "devlead")
    dev.send_json({"type": "join", "room": "#dev"})
    dev.expect(lambda f: f["type"] == "joined")
    dev.send_json({"type": "topic", "text": "the build"})
    for text in ("first in dev", "second in dev"):
        dev.say(text)
        dev.expect(lambda f: f["type"] == "accepted")
    page.open(srv)
    page.login("newcomer")
    page.wait(lambda: "#dev" in page.el("#rooms").text)  # the room list
    page.say("/join #dev")
    page.wait(lambda: page.el("#room").text == "#dev")
    assert page.el("#topic").text == "— the build"
    page.wait_text("devlead: first in dev")  # history on joining
    page.wait_text("devlead: second in dev")
    page.say("/topic")  # alone: a question, as in the terminal
    page.wait_text("the topic of #dev: the build")
    page.say("/say #dev named its room")  # the terminal's /say, parsed by the server for the page
    assert dev.expect(lambda f: f["type"] == "message")["text"] == "named its room"
    replayed = page.driver.find_elements(By.CSS_SELECTOR, "#messages .line.replay")
    assert len(replayed) >= 2
    page.wait(lambda: "devlead" in page.el("#people").text and "newcomer" in page.el("#people").text)
    dev.say("newcomer: the build is green")
    page.wait(lambda: page.driver.find_elements(By.CSS_SELECTOR, "#messages .line.mention mark"))
    assert page.el("#messages .line.mention mark").text == "newcomer"
    page.shot("4-room-dev")
    # Keyboard only: the room list's #lobby button, activated with Enter.
    lobby = next(b for b in page.driver.find_elements(By.CSS_SELECTOR, "#rooms button") if "#lobby" in b.text)
    lobby.send_keys(Keys.ENTER)
    page.wait(lambda: page.el("#room").text == "#lobby")
    page.say("/who")
    page.wait_text("here in #lobby: devlead, newcomer")  # (devlead kept the lobby when joining #dev)


def test_password_prompt_when_the_server_wants_one(page, tmp_path):
    secret = tmp_path / "password"
    secret.write_text("open sesame\n")
    srv = ServerProcess("--password-file", str(secret))
    try:
        page.open(srv)
        page.el("#nick").send_keys("guest", Keys.ENTER)
        page.wait(lambda: page.el("#password").is_displayed())
        page.shot("5-password")
        page.el("#password").send_keys("wrong", Keys.ENTER)
        page.wait(lambda: "Wrong password" in page.el("#login-error").text, timeout=15)
        page.el("#password").clear()
        page.el("#password").send_keys("open sesame", Keys.ENTER)
        page.wait(lambda: page.state() == "online", timeout=15)
    finally:
        srv.stop()


def test_an_operator_moderates_from_the_page(page, tmp_path):
    (tmp_path / "oppw").write_text("op secret\n")
    srv = ServerProcess("--rate-limit", "0", "--op", "alice", "--op-password-file", str(tmp_path / "oppw"))
    try:
        victim = NativeClient(srv.port, "loud")
        page.open(srv)
        page.el("#nick").send_keys("alice", Keys.ENTER)
        page.wait(lambda: page.el("#password").is_displayed())
        page.el("#password").send_keys("op secret", Keys.ENTER)
        page.wait(lambda: page.state() == "online", timeout=15)
        page.say("/mute loud 30m calm down")
        told = victim.expect(lambda f: f["type"] == "notice" and f.get("event") == "mute")
        assert "muted by alice for 30 min" in told["text"] and "calm down" in told["text"]
        page.say("/ops")
        page.wait_text("alice (named by --op)")
        page.say("/ban loud 1h")
        page.wait_text("loud was banned by alice for 1 h")
    finally:
        srv.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_reconnect_and_resume_after_a_server_restart(page, tmp_path):
    store, web_port = str(tmp_path / "chat.sqlite3"), str(_free_port())  # the page's address must stay the same
    srv = ServerProcess("--store", store, "--web-port", web_port, "--rate-limit", "0")
    try:
        page.open(srv)
        page.login("phoenix")
        page.say("/join #private")
        page.wait(lambda: page.el("#room").text == "#private")
        page.say("before the restart")
        page.wait(lambda: not page.driver.find_elements(By.CSS_SELECTOR, "#messages .pending"))
        srv.stop(signal.SIGTERM)
        page.wait(lambda: page.state() == "reconnecting")
        page.wait_text("server shutting down")
        page.shot("6-reconnecting")
        srv = ServerProcess("--store", store, "--web-port", web_port, "--rate-limit", "0")
        page.wait(lambda: page.state() == "online", timeout=30)
        page.wait_text("back in #private as phoenix")
        assert page.el("#room").text == "#private"
        watcher = NativeClient(srv.port, "watcher")
        watcher.send_json({"type": "join", "room": "#private"})
        watcher.expect(lambda f: f["type"] == "joined")
        page.say("after the restart")
        got = watcher.expect(lambda f: f["type"] == "message" and f.get("replay") is None)
        assert got["nick"] == "phoenix" and got["text"] == "after the restart" and got["room"] == "#private"
        page.shot("7-back")
    finally:
        srv.stop()


def test_a_phone_sized_screen_in_dark_mode(page, srv):
    page.driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
    )
    page.driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
    )
    other = NativeClient(srv.port, "desk")
    page.open(srv)
    assert page.driver.execute_script("return window.innerWidth") == 390
    page.shot("8-phone-nickname")
    page.login("pocket")
    other.say("a long line from the desk that has to wrap on a narrow phone screen without scrolling sideways " * 2)
    page.wait_text("a long line from the desk")
    page.say("from my phone")
    other.expect(lambda f: f["type"] == "message" and f["text"] == "from my phone")
    width = page.driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways: {width} px wide"
    for css in ("#input", "#send", "#messages", "#room"):
        rect = page.driver.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom]", page.el(css)
        )
        assert rect[0] >= 0 and rect[1] <= 390 and rect[2] >= 0 and rect[3] <= 844, (css, rect)
    assert not page.el("#side").get_attribute("open")  # rooms and people fold away on a phone
    background = page.driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(21, 23, 26)"  # the dark palette
    page.shot("9-phone-dark")


def test_several_rooms_each_with_its_own_log_unread_counts_and_a_new_divider(page, srv):
    dev = NativeClient(srv.port, "devlead")
    dev.send_json({"type": "join", "room": "#dev"})
    dev.expect(lambda f: f["type"] == "joined")
    dev.say("before you came")
    dev.expect(lambda f: f["type"] == "accepted")
    page.open(srv)
    page.login("reader")
    page.say("/join #dev")
    page.wait(lambda: page.el("#room").text == "#dev")
    page.wait_text("devlead: before you came")
    page.open_entry("#my-rooms", "#lobby")  # the lobby is kept: /join does not leave it
    page.wait(lambda: page.el("#room").text == "#lobby")
    assert "before you came" not in page.messages_text()  # each room its own log
    dev.say("one")
    dev.say("reader: two")
    page.wait(lambda: page.badge("#my-rooms", "#dev") == "2!")  # two unread, one naming us
    assert page.driver.title.startswith("(2) ") and page.el("#side-unread").text == "(2 unread)"
    assert "one" not in page.messages_text()
    page.shot("10-unread")
    page.open_entry("#my-rooms", "#dev")
    page.wait(lambda: page.el("#room").text == "#dev")
    after_divider = page.driver.execute_script(
        "const d = document.querySelector('#messages .view:not([hidden]) .divider.new');"
        "return d ? d.nextElementSibling.textContent : null"
    )
    assert after_divider is not None and after_divider.endswith("devlead: one"), after_divider
    assert page.badge("#my-rooms", "#dev") == "" and not page.driver.title.startswith("(")
    # Back in #dev after leaving it: its history is not shown twice.
    page.say("/part #dev")
    page.wait(lambda: page.el("#room").text == "#lobby" and page.entry("#my-rooms", "#dev") is None)
    page.say("/join #dev")
    page.wait(lambda: page.el("#room").text == "#dev")
    page.wait_text("now in #dev")
    dev.say("after the rejoin")
    page.wait_text("devlead: after the rejoin")
    shown = page.messages_text()
    for text in ("devlead: before you came", "devlead: one", "reader: two"):
        assert shown.count(text) == 1, (text, shown)
    # A private conversation is listed with its own count, and answered from its own log.
    dev.send_json({"type": "privmsg", "to": "reader", "text": "a word in private"})
    page.wait(lambda: page.badge("#privates", "@devlead") == "1!")  # (a private message is for us)
    assert "a word in private" not in page.messages_text()
    page.open_entry("#privates", "@devlead")
    page.wait_text("[private from devlead] a word in private")
    page.say("and back to you")
    got = dev.expect(lambda f: f["type"] == "private" and f["nick"] == "reader")
    assert got["text"] == "and back to you"
    page.wait_text("[private to devlead] and back to you")
    assert page.badge("#privates", "@devlead") == ""
    page.shot("11-private")


def test_rooms_topics_people_and_away_update_live(page, srv):
    page.open(srv)
    page.login("watcher")
    assert page.driver.find_elements(By.CSS_SELECTOR, "#refresh-rooms") == []  # nothing to press
    maker = NativeClient(srv.port, "maker")
    page.wait(lambda: "maker" in page.el("#people").text)
    maker.send_json({"type": "join", "room": "#made"})
    maker.expect(lambda f: f["type"] == "joined")
    page.wait(lambda: page.entry("#other-rooms", "#made") is not None)  # a room the page is not in
    maker.send_json({"type": "topic", "text": "fresh <b>topic</b>"})
    page.wait(lambda: "fresh <b>topic</b>" in page.entry_text("#other-rooms", "#made"))
    maker.send_json({"type": "away", "reason": "lunch"})
    page.wait(lambda: "maker (away)" in page.el("#people").text)
    assert [li.text for li in page.driver.find_elements(By.CSS_SELECTOR, "#people li.away")] == ["maker (away)"]
    maker.send_json({"type": "away", "reason": ""})
    page.wait(lambda: "away" not in page.el("#people").text and "maker" in page.el("#people").text)
    third = NativeClient(srv.port, "third")
    page.wait(lambda: "third" in page.el("#people").text and page.entry_text("#my-rooms", "#lobby") == "#lobby (3)")
    third.close()
    page.wait(lambda: "third" not in page.el("#people").text)
    maker.send_json({"type": "part", "room": "#made"})
    page.wait(lambda: page.entry("#other-rooms", "#made") is None)  # emptied: gone from the list
    assert "#made" not in page.messages_text()  # none of it was said in the log


#: Injected before the page loads: a ``Notification`` that records what it is asked, permission
#: "default" until ``requestPermission`` (which grants it and notes when it was asked).
RECORD_NOTIFICATIONS = """
window.__notes = []; window.__asked = [];
class RecordedNotification {
  constructor(title, options) { window.__notes.push({ title, body: (options || {}).body }); }
  close() {}
  static requestPermission() {
    window.__asked.push(document.getElementById('chat-view') ? !document.getElementById('chat-view').hidden : 'load');
    RecordedNotification.permission = 'granted';
    return Promise.resolve('granted');
  }
}
RecordedNotification.permission = 'default';
window.Notification = RecordedNotification;
"""


def test_mentions_and_private_messages_notify_and_the_title_counts(page, srv):
    injected = page.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_NOTIFICATIONS})
    try:
        page.open(srv)
        page.wait(lambda: page.el("#nick").is_displayed())
        assert page.driver.execute_script("return window.__asked") == []  # never on load
        page.login("reader")
        assert page.driver.execute_script("return window.__asked") == [False]  # on the Join button
        other = NativeClient(srv.port, "talker")
        page.wait(lambda: "talker" in page.el("#people").text)
        notes = lambda: page.driver.execute_script("return window.__notes")  # noqa: E731
        other.say("reader: you are reading this room")  # the room shown, the tab visible: no notification
        page.wait_text("you are reading this room")
        assert page.driver.title == "#lobby · LAN chat"
        page.say("/join #side")
        page.wait(lambda: page.el("#room").text == "#side")
        other.say("not about you")
        page.wait(lambda: page.driver.title == "(1) #side · LAN chat")
        other.say("hey reader, look")
        page.wait(lambda: page.driver.title == "(2) #side · LAN chat")
        other.send_json({"type": "privmsg", "to": "reader", "text": "just us"})
        page.wait(lambda: page.driver.title == "(3) #side · LAN chat")
        page.wait(lambda: len(notes()) == 2)
        assert notes() == [
            {"title": "talker in #lobby", "body": "hey reader, look"},
            {"title": "talker (private)", "body": "just us"},
        ]
        page.open_entry("#my-rooms", "#lobby")
        page.wait(lambda: page.driver.title == "(1) #lobby · LAN chat")  # the private one is left
        page.shot("12-attention")
    finally:
        page.driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": injected["identifier"]})


def _kept(page) -> dict | None:
    return page.driver.execute_script("return JSON.parse(localStorage.getItem('lanchat.session'))")


def test_a_reload_keeps_the_name_rooms_and_position_and_leave_forgets_them(page, srv):
    other = NativeClient(srv.port, "other")
    other.send_json({"type": "join", "room": "#dev"})
    other.expect(lambda f: f["type"] == "joined")
    page.open(srv)
    page.login("stayer")
    page.say("/join #dev")
    page.wait(lambda: page.el("#room").text == "#dev")
    other.say("seen before the reload")
    seen = other.expect(lambda f: f["type"] == "accepted")["seq"]
    page.wait_text("other: seen before the reload")
    page.open_entry("#my-rooms", "#lobby")
    page.wait(lambda: page.el("#room").text == "#lobby")
    other.say("unread across the reload")
    page.wait(lambda: page.badge("#my-rooms", "#dev") == "1")
    page.wait(lambda: (_kept(page) or {}).get("focus") == "#lobby")
    kept = _kept(page)
    assert kept["nick"] == "stayer" and kept["token"] and "password" not in kept
    assert {r["name"]: r["read"] for r in kept["rooms"]}["#dev"] == seen
    page.driver.refresh()
    page.wait(lambda: page.state() == "online")
    assert not page.el("#nick").is_displayed()
    assert page.el("#state").text == "online as stayer" and page.el("#room").text == "#lobby"
    page.wait(lambda: page.badge("#my-rooms", "#dev") == "1")  # what was not read before is still unread
    page.open_entry("#my-rooms", "#dev")
    page.wait(lambda: page.el("#room").text == "#dev")
    lines = page.driver.execute_script(
        "return [...document.querySelectorAll('#messages .view:not([hidden]) > *')]"
        ".map(e => e.className + '|' + e.textContent)"
    )
    divider = next(i for i, line in enumerate(lines) if line.startswith("divider new|"))
    assert lines[divider + 1].endswith("other: unread across the reload"), lines
    assert any(line.endswith("other: seen before the reload") for line in lines[:divider]), lines
    page.shot("13-after-reload")
    page.el("#leave").click()  # leaving forgets the session: a reload asks for a name
    page.wait(lambda: page.el("#nick").is_displayed())
    assert other.expect(lambda f: f.get("event") == "leave" and f.get("nick") == "stayer")
    assert _kept(page) is None
    page.driver.refresh()
    page.wait(lambda: page.el("#nick").is_displayed())
    assert page.state() == "offline"


def test_the_password_field_is_there_before_the_first_join(page, tmp_path):
    (tmp_path / "pw").write_text("sesame\n")
    guarded = ServerProcess("--password-file", str(tmp_path / "pw"))
    try:
        page.open(guarded)
        page.wait(lambda: page.el("#password").is_displayed())  # nothing typed, nothing sent yet
        assert page.state() == "offline"
        page.el("#nick").send_keys("guest")
        page.el("#password").send_keys("sesame", Keys.ENTER)
        page.wait(lambda: page.state() == "online")
    finally:
        guarded.stop()


def test_the_page_moves_to_another_cluster_node_when_its_node_dies(page, redis_server):
    args = ("--cluster", redis_server.url, "--cluster-heartbeat", "1", "--rate-limit", "0")
    first, second = ServerProcess(*args), ServerProcess(*args)
    try:
        status = urllib.request.urlopen(f"{first.web_url}info", timeout=TIMEOUT)
        assert json.load(status)["nodes"] == [second.web_url]
        page.open(first)
        page.login("mover")
        page.say("/join #ops")
        page.wait(lambda: page.el("#room").text == "#ops")
        infos = "return performance.getEntriesByType('resource').filter(e => e.name.endsWith('/info')).length"
        page.wait(lambda: page.driver.execute_script(infos) >= 2)  # asked again once in: the nodes now
        watcher = NativeClient(second.port, "watcher")
        watcher.send_json({"type": "join", "room": "#ops"})
        watcher.expect(lambda f: f["type"] == "joined")
        kill_quietly(first.proc)  # no goodbye: a machine that died
        page.wait(lambda: page.driver.current_url == second.web_url and page.state() == "online", timeout=30)
        assert page.el("#state").text == "online as mover" and page.el("#room").text == "#ops"
        assert page.entry("#my-rooms", "#lobby") is not None
        page.say("said on the other node")
        got = watcher.expect(lambda f: f["type"] == "message" and f.get("replay") is None)
        assert (got["nick"], got["room"], got["text"]) == ("mover", "#ops", "said on the other node")
        page.shot("14-moved-node")
    finally:
        second.stop()
        if first.proc.poll() is None:
            first.stop()


def test_reads_well_colours_times_dates_history_search_and_older_lines_on_scrolling_up(page, tmp_path):
    srv = ServerProcess("--rate-limit", "0", "--history", "40", "--store", str(tmp_path / "chat.sqlite3"))
    try:
        talkers = {name: NativeClient(srv.port, name) for name in ("alice", "bob", "zoë")}
        for i in range(60):
            talkers["alice"].say(f"number {i:03d}")
            talkers["alice"].expect(lambda f: f["type"] == "accepted")
        page.driver.execute_cdp_cmd("Emulation.setLocaleOverride", {"locale": "de-DE"})
        page.open(srv)
        page.login("reader")
        page.wait_text("number 059")
        for name in ("bob", "zoë"):
            talkers[name].say(f"hello from {name}")
        page.wait_text("zoë: hello from zoë")
        # Each name in the terminal's colour for it: the same function of the name.
        colours = page.driver.execute_script(
            "const c = {}; for (const n of document.querySelectorAll('#messages .line .nick'))"
            " c[n.textContent] = [...n.classList].find(k => /^c[0-9]+$/.test(k)); return c"
        )
        for name in ("alice", "bob", "zoë"):
            assert colours[name] == f"c{zlib.crc32(name.encode()) % 12}", (name, colours)
        # Times in the locale's form: 24-hour in German.
        times = page.driver.execute_script(
            "return [...document.querySelectorAll('#messages .line time')].map(t => t.textContent)"
        )
        assert times and all(re.fullmatch(r"\d{2}:\d{2}", t) for t in times), times
        # One date divider for today, before the first line; history marked as history.
        dates = page.driver.find_elements(By.CSS_SELECTOR, "#messages .view:not([hidden]) .divider.date")
        assert len(dates) == 1 and dates[0].text.endswith(str(datetime.date.today().year)), [d.text for d in dates]
        replayed = page.driver.find_elements(By.CSS_SELECTOR, "#messages .line.replay .tag-replay")
        assert len(replayed) == 40 and {r.text.strip() for r in replayed} == {"(history)"}
        # Older messages, from the store by position, as the log is scrolled up: in order, each once.
        log = "return document.getElementById('messages').textContent"
        assert "number 020" in page.driver.execute_script(log) and "number 019" not in page.driver.execute_script(log)
        top = "document.getElementById('messages').scrollTop = 0; " + log
        page.wait(lambda: "number 000" in page.driver.execute_script(top))
        numbers = re.findall(r"number (\d{3})", page.messages_text())
        assert numbers == [f"{i:03d}" for i in range(60)], numbers
        # Search results carry their date.
        page.say("/search number 007")
        page.wait(lambda: page.driver.find_elements(By.CSS_SELECTOR, "#messages .line.found"))
        found = page.el("#messages .line.found time").text
        assert str(datetime.date.today().year) in found and re.search(r"\d{2}:\d{2}$", found), found
        page.shot("15-reads-well")
        page.driver.execute_cdp_cmd("Emulation.setLocaleOverride", {"locale": "en-US"})
        page.driver.refresh()  # (the session resumes: the same lines, the times as en-US writes them)
        page.wait_text("zoë: hello from zoë")
        times = page.driver.execute_script(
            "return [...document.querySelectorAll('#messages .line time')].map(t => t.textContent)"
        )
        assert times and all(re.fullmatch(r"\d{1,2}:\d{2}\s[AP]M", t) for t in times), times
    finally:
        page.driver.execute_cdp_cmd("Emulation.setLocaleOverride", {})
        srv.stop()


def test_help_is_a_table_of_the_servers_own_lines(page, srv):
    page.open(srv)
    page.login("reader")
    page.say("/help")
    page.wait(lambda: page.driver.find_elements(By.CSS_SELECTOR, "#messages .line.help pre[role=table]"))
    rows = page.driver.execute_script(
        "return [...document.querySelectorAll('#messages .line.help [role=row]')]"
        ".map(r => [...r.querySelectorAll('[role=cell]')].map(c => c.textContent.trim()))"
    )
    assert len(rows) == len(HELP_LINES)
    assert ["/who", "who is here"] in rows and ["/msg NICK TEXT", "private message to NICK"] in rows, rows
    assert rows[0] == ["Commands:"]
    # The cells line up: each row's second column starts at the same place.
    lefts = page.driver.execute_script(
        "return [...document.querySelectorAll('#messages .line.help [role=row]')].slice(1, 6)"
        ".map(r => r.querySelectorAll('[role=cell]')[1].getBoundingClientRect().left)"
    )
    assert len(set(lefts)) == 1, lefts


def test_hostile_names_topics_and_messages_are_text_in_the_panel_and_notifications(page, srv):
    injected = page.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_NOTIFICATIONS})
    evil = "<img src=x onerror=\"document.title='pwned'\">"
    try:
        page.open(srv)
        page.login("victim")
        mallory = NativeClient(srv.port, "mallory")
        mallory.send_json({"type": "join", "room": "#trap"})
        mallory.expect(lambda f: f["type"] == "joined")
        mallory.send_json({"type": "topic", "text": evil})
        page.wait(lambda: evil in (page.entry_text("#other-rooms", "#trap") or ""))
        mallory.send_json({"type": "privmsg", "to": "victim", "text": evil + " victim"})
        page.wait(lambda: page.badge("#privates", "@mallory") == "1!")
        page.wait(lambda: page.driver.execute_script("return window.__notes.length") == 1)
        assert page.driver.execute_script("return window.__notes[0].body") == evil + " victim"
        page.open_entry("#privates", "@mallory")
        page.wait_text(evil + " victim")
        assert page.driver.find_elements(By.CSS_SELECTOR, "#side img, #messages img") == []
        assert page.driver.title != "pwned"
    finally:
        page.driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": injected["identifier"]})


def test_a_forged_session_in_the_address_is_only_text(page, srv):
    """A link carrying a session (as a node's page hands one to another) but sent from elsewhere
    signs nobody in by itself: it is offered, its name shown as text, and taken only when Join is
    pressed; then what it names goes to the server as names (its token is not the server's: a session
    of the visitor's own), a room the server does not give back is not listed, and nothing in it runs."""
    forged = {"nick": "<b>x</b>", "token": "forged", "focus": "<i>", "rooms": [{"name": "<script>", "read": "x"}, 5]}
    page.driver.execute_cdp_cmd(
        "Storage.clearDataForOrigin", {"origin": srv.web_url.rstrip("/"), "storageTypes": "local_storage"}
    )
    page.driver.get(srv.web_url + "#session=" + urllib.parse.quote(json.dumps(forged)))
    page.wait(lambda: "offers to go on as <b>x</b>" in page.el("#login-error").text)
    assert "#session" not in page.driver.current_url
    assert page.state() != "online" and page.el("#nick").get_attribute("value") == "<b>x</b>"
    page.el("#nick").send_keys(Keys.ENTER)
    page.wait(lambda: page.state() == "online")
    assert page.el("#state").text == "online as <b>x</b>"  # (a name this server allows, shown as typed)
    page.wait(lambda: page.entry("#my-rooms", "#lobby") is not None)
    assert page.entry("#my-rooms", "<script>") is None
    assert page.driver.find_elements(By.CSS_SELECTOR, "b, i, #messages script, #side script") == []
    stored = "return localStorage.getItem('lanchat.session')"
    page.wait(lambda: page.driver.execute_script(stored))
    assert json.loads(page.driver.execute_script(stored))["token"] not in ("", "forged")


def test_a_date_divider_where_the_day_changes(page, tmp_path):
    store = tmp_path / "chat.sqlite3"
    srv = ServerProcess("--rate-limit", "0", "--store", str(store))
    writer = NativeClient(srv.port, "writer")
    for text in ("said two days ago", "also two days ago", "said today"):
        writer.say(text)
        writer.expect(lambda f: f["type"] == "accepted")
    writer.close()
    srv.stop()
    with sqlite3.connect(store) as db:  # (the store's own file, as a server two days older would have left it)
        db.execute("UPDATE messages SET ts = ts - 2 * 86400 WHERE text LIKE '%two days ago'")
    srv = ServerProcess("--rate-limit", "0", "--store", str(store))
    try:
        page.open(srv)
        page.login("reader")
        page.wait_text("writer: said today")
        shown = page.driver.execute_script(
            "return [...document.querySelectorAll('#messages .view:not([hidden]) > .divider.date, "
            "#messages .view:not([hidden]) > .line.replay')].map(e => e.className.startsWith('divider') ? "
            "'divider ' + e.textContent : e.querySelector('.text').textContent)"
        )
        today, before = datetime.date.today(), datetime.date.today() - datetime.timedelta(days=2)
        # (the first divider is the welcome line's, today: the history is shown after it, as in the terminal)
        replay = shown[shown.index("said two days ago") - 1 :]
        assert [line.split(" ")[0] for line in replay] == ["divider", "said", "also", "divider", "said"], shown
        assert str(before.day) in replay[0] and str(today.day) in replay[3] and replay[0] != replay[3], shown
    finally:
        srv.stop()


def test_a_private_conversation_follows_a_rename(page, srv):
    page.open(srv)
    page.login("reader")
    friend = NativeClient(srv.port, "friend")
    friend.send_json({"type": "privmsg", "to": "reader", "text": "before my new name"})
    page.wait(lambda: page.badge("#privates", "@friend") == "1!")
    friend.send_json({"type": "nick", "nick": "renamed"})
    page.wait(lambda: page.entry("#privates", "@renamed") is not None and page.entry("#privates", "@friend") is None)
    page.open_entry("#privates", "@renamed")
    page.wait_text("[private from friend] before my new name")  # (the conversation's log came along)
    page.say("to your new name")
    got = friend.expect(lambda f: f["type"] == "private" and f["nick"] == "reader")
    assert (got["nick"], got["to"], got["text"]) == ("reader", "renamed", "to your new name")


#: Injected before the page loads: whether the tab is hidden is the test's to say.
HIDDEN_TAB = """
window.__hidden = false;
Object.defineProperty(Document.prototype, 'hidden', { get: () => window.__hidden, configurable: true });
Object.defineProperty(Document.prototype, 'visibilityState',
  { get: () => (window.__hidden ? 'hidden' : 'visible'), configurable: true });
window.__show = (hidden) => { window.__hidden = hidden; document.dispatchEvent(new Event('visibilitychange')); };
"""


def test_the_room_being_read_counts_and_notifies_while_the_tab_is_hidden(page, srv):
    scripts = [
        page.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})["identifier"]
        for source in (RECORD_NOTIFICATIONS, HIDDEN_TAB)
    ]
    try:
        page.open(srv)
        page.login("reader")
        other = NativeClient(srv.port, "talker")
        page.wait(lambda: "talker" in page.el("#people").text)
        page.driver.execute_script("window.__show(true)")  # another tab in front
        other.say("reader, are you there?")
        page.wait(lambda: page.driver.title == "(1) #lobby · LAN chat")
        page.wait(lambda: page.driver.execute_script("return window.__notes.length") == 1)
        assert page.driver.execute_script("return window.__notes[0]") == {
            "title": "talker in #lobby",
            "body": "reader, are you there?",
        }
        page.driver.execute_script("window.__show(false)")  # back: read now, under the divider
        page.wait(lambda: page.driver.title == "#lobby · LAN chat")
        following = page.driver.execute_script(
            "const d = document.querySelector('#messages .view:not([hidden]) .divider.new');"
            "return d ? d.nextElementSibling.textContent : null"
        )
        assert following is not None and following.endswith("talker: reader, are you there?"), following
    finally:
        for identifier in scripts:
            page.driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": identifier})


def test_the_side_panel_works_from_the_keyboard(page, srv):
    """Rooms are switched without a mouse: Tab reaches each room's entry in the side panel, and
    Enter on it shows that room, as a click does."""
    page.open(srv)
    page.login("keys")
    page.say("/join #dev")
    page.wait(lambda: page.el("#room").text == "#dev" and page.entry("#my-rooms", "#lobby") is not None)
    reached = False
    for _ in range(60):  # (bounded: the page has far fewer stops than this)
        focused = page.driver.switch_to.active_element
        if focused == page.entry("#my-rooms", "#lobby"):
            reached = True
            break
        focused.send_keys(Keys.TAB)
    assert reached, "Tab never reached the #lobby entry of the side panel"
    page.driver.switch_to.active_element.send_keys(Keys.ENTER)
    page.wait(lambda: page.el("#room").text == "#lobby")
    assert page.entry("#my-rooms", "#dev") is not None  # (switching leaves no room)
