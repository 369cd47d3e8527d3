"""Accounts on the chat page, in the real browser the suite uses (headless Chromium, Selenium), against
a real server with accounts: register from the form, the login token kept in the browser's storage
and sent at hello (a later visit is logged in by itself), "Leave" forgetting and revoking it, a refused
token forgotten, and a password the server asks for on the next line never shown."""

from __future__ import annotations

import pytest
from helpers import NativeClient, hello
from selenium.webdriver.common.keys import Keys
from test_browser import browser, page  # noqa: F401 - (the browser and its page: fixtures)

#: How the server is started with accounts (guests welcome).
ACCOUNTS = ("--accounts", "optional")
SECRET = "page secret 42"


@pytest.fixture
def srv(make_server):
    return make_server("--rate-limit", "0", *ACCOUNTS)


def _login(page) -> dict | None:  # noqa: F811
    return page.driver.execute_script("return JSON.parse(localStorage.getItem('lanchat.login'))")


def _register(page, srv, nick: str) -> dict:  # noqa: F811
    """Register ``nick`` from the form: the account part opened, a password, "new account" ticked."""
    page.open(srv)
    page.el("#nick").send_keys(nick)
    page.el("#account summary").click()
    page.el("#account-password").send_keys(SECRET)
    page.el("#account-register").click()
    page.el("#join").click()
    page.wait(lambda: page.state() == "online")
    page.wait_text(f"account registered; logged in as {nick}")
    page.wait(lambda: _login(page) is not None)
    return _login(page)


def _refused(srv, token: str) -> dict:
    """What the server answers a hello carrying ``token``."""
    client = hello(srv.port, nick="someone", login_token=token)
    try:
        return client.expect(lambda f: f["type"] in ("error", "loggedin"))
    finally:
        client.close()


def test_register_on_the_page_keeps_a_token_that_logs_in_by_itself_and_leave_forgets_it(page, srv):  # noqa: F811
    kept = _register(page, srv, "alice")
    assert kept["account"] == "alice" and kept["token"]
    stored = page.driver.execute_script("return JSON.stringify(Object.assign({}, localStorage))")
    assert SECRET not in stored  # the password is kept nowhere
    assert page.el("#account-password").get_attribute("value") == ""
    # A fresh visit: no session kept (as after a browser restart), only the login: in by itself.
    page.driver.execute_script("localStorage.removeItem('lanchat.session')")
    watcher = NativeClient(srv.port, "watcher")
    page.driver.refresh()
    page.wait(lambda: page.state() == "online")
    page.wait_text("logged in as alice (remembered in this browser")
    assert page.el("#state").text == "online as alice"
    watcher.expect(lambda f: f.get("event") == "join" and f.get("nick") == "alice")
    # Leave: the server revokes the token and the browser forgets it.
    page.el("#leave").click()
    page.wait(lambda: page.el("#nick").is_displayed())
    assert _login(page) is None
    assert _refused(srv, kept["token"])["code"] == "bad_login"
    page.driver.refresh()
    page.wait(lambda: page.el("#nick").is_displayed())
    assert page.state() == "offline"


def test_a_refused_token_is_forgotten_and_the_page_says_so(page, srv):  # noqa: F811
    page.open(srv)
    page.driver.execute_script(
        "localStorage.setItem('lanchat.login', JSON.stringify({account: 'mallory', token: 'forged-token'}))"
    )
    page.driver.refresh()
    page.wait(lambda: page.state() == "online")  # (mallory is no account: on as a guest of that name)
    page.wait_text("the remembered login for mallory was refused")
    assert _login(page) is None
    assert page.el("#state").text == "online as mallory"


def test_a_registered_name_asks_for_its_account_password(page, srv):  # noqa: F811
    kept = _register(page, srv, "carol")
    page.el("#leave").click()
    page.wait(lambda: page.el("#nick").is_displayed())
    page.driver.refresh()  # (the account part closed again, as on a first visit)
    page.wait(lambda: page.el("#nick").is_displayed())
    assert not page.el("#account-password").is_displayed()
    page.el("#nick").send_keys("carol", Keys.ENTER)
    page.wait(lambda: "is registered" in page.el("#login-error").text)  # the server's words, and ours
    assert "type its account password, or choose another name" in page.el("#login-error").text
    assert page.el("#account-password").is_displayed()  # opened for it
    page.el("#account-password").send_keys(SECRET, Keys.ENTER)
    page.wait(lambda: page.state() == "online")
    page.wait_text("logged in as carol: this browser stays logged in")
    assert _login(page)["account"] == "carol" and _login(page)["token"] != kept["token"]
    # (last: a refused token holds this address's next login back a moment)
    assert _refused(srv, kept["token"])["code"] == "bad_login"  # Leave revoked the first one


def test_a_password_asked_on_the_next_line_is_masked_and_never_shown(page, srv):  # noqa: F811
    page.open(srv)
    page.login("dave")
    page.say("/register")
    page.wait(lambda: "secret" in page.el("#input").get_attribute("class"))
    assert page.el("#input").get_attribute("spellcheck") == "false"  # (no spelling service sees it)
    page.say(SECRET)
    page.wait_text("logged in as dave")
    assert SECRET not in page.messages_text()
    assert "secret" not in page.el("#input").get_attribute("class")
    assert _login(page)["account"] == "dave"
    page.say("/logout")
    page.wait_text("logged out of dave")
    assert _login(page) is None
