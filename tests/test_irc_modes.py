"""Room modes, OPER, WHOWAS, LUSERS and USER's names on the IRC port, against a real server on loopback; the modes
are the rules', so native clients are held to them too (issue 21)."""

from __future__ import annotations

import pytest
from helpers import NativeClient, ServerProcess
from irc_helpers import RawIrc, words_of

from chatserver.net.irc.names import mode_params
from chatserver.net.irc.people import People


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """Rooms' makers are their operators; the lobby is quiet; operuser is an operator's name."""
    secret = tmp_path_factory.mktemp("ircmodes") / "oppw"
    secret.write_text("operpassword\n")
    server = ServerProcess(
        "--rate-limit", "0", "--room-operators", "--quiet-lobby", "--max-per-ip", "200",
        "--op", "operuser", "--op-password-file", str(secret),
    )  # fmt: skip
    yield server
    code, err = server.stop()
    assert code == 0, err
    assert "Traceback" not in err, err


def joined(client: RawIrc, room: str, key: str = "") -> list[str]:
    """JOIN ``room``; its NAMES words."""
    client.line(f"JOIN {room} {key}".strip())
    return client.numeric("353")[-1].split()


def native_join(client: NativeClient, room: str, **more) -> dict:
    client.send_json({"type": "join", "room": room, **more})
    return client.expect(lambda f: f["type"] in ("joined", "error"))


def test_a_rooms_maker_is_its_operator_and_its_key_holds_for_native_clients(srv):
    maker = RawIrc(srv.irc_port, "keymaker")
    native = NativeClient(srv.port, "keyless")
    try:
        assert joined(maker, "#keyed") == ["@keymaker"]
        maker.line("MODE #keyed +k beer")
        assert words_of(maker.until(lambda w: w[1:2] == ["MODE"])[-1])[2:] == ["#keyed", "+k", "beer"]
        refused = native_join(native, "#keyed")
        assert refused["type"] == "error" and refused["code"] == "bad_key"
        assert native_join(native, "#keyed", key="wine")["code"] == "bad_key"
        assert native_join(native, "#keyed", key="beer")["type"] == "joined"
        maker.line("MODE #keyed")
        modes = maker.numeric("324")
        assert modes[3:] == ["#keyed", "+nk", "beer"]
        assert maker.numeric("329")[4].isdigit()
    finally:
        maker.close()
        native.close()


def test_a_moderated_room_hears_only_its_operators_and_the_voiced(srv):
    maker = RawIrc(srv.irc_port, "moderator")
    native = NativeClient(srv.port, "speaker")
    try:
        joined(maker, "#hushed")
        assert native_join(native, "#hushed")["type"] == "joined"
        maker.line("MODE #hushed +m")
        maker.until(lambda w: w[1:2] == ["MODE"])
        native.send_json({"type": "say", "text": "may I?", "room": "#hushed"})
        assert native.expect(lambda f: f["type"] == "error")["code"] == "moderated"
        maker.line("MODE #hushed +v speaker")
        assert words_of(maker.until(lambda w: w[1:2] == ["MODE"])[-1])[2:] == ["#hushed", "+v", "speaker"]
        native.send_json({"type": "say", "text": "thank you", "room": "#hushed"})
        heard = maker.numeric("PRIVMSG")
        assert heard[0].startswith(":speaker!") and heard[2:] == ["#hushed", "thank you"]
        maker.line("NAMES #hushed")  # voice is shown as PREFIX=(ov)@+ says
        assert sorted(maker.numeric("353")[-1].split()) == ["+speaker", "@moderator"]
    finally:
        maker.close()
        native.close()


def test_limit_invite_only_and_invitations(srv):
    maker = RawIrc(srv.irc_port, "doorman")
    guest = RawIrc(srv.irc_port, "guest")
    try:
        joined(maker, "#door")
        maker.line("MODE #door +l 1")
        maker.until(lambda w: w[1:2] == ["MODE"])
        guest.line("JOIN #door")
        assert guest.numeric("471")[3] == "#door"
        maker.line("MODE #door -l+i")
        assert words_of(maker.until(lambda w: w[1:2] == ["MODE"])[-1])[2:] == ["#door", "-l+i"]
        guest.line("JOIN #door")
        assert guest.numeric("473")[3] == "#door"
        maker.line("INVITE guest #door")
        assert maker.numeric("341")[3:5] == ["guest", "#door"]
        invite = guest.numeric("INVITE")
        assert invite[0].startswith(":doorman!") and invite[2:] == ["guest", "#door"]
        assert "guest" in joined(guest, "#door")
        guest.line("MODE #door +o guest")  # not one of its operators
        assert guest.numeric("482")[3] == "#door"
        guest.line("MODE #nobody-here +o guest")
        assert guest.numeric("403")[3] == "#nobody-here"
    finally:
        maker.close()
        guest.close()


def test_topic_by_operators_only_and_cleared(srv):
    maker = RawIrc(srv.irc_port, "topical")
    other = RawIrc(srv.irc_port, "bystand")
    try:
        joined(maker, "#talks")
        joined(other, "#talks")
        maker.line("MODE #talks +t")
        other.until(lambda w: w[1:2] == ["MODE"])
        other.line("TOPIC #talks :mine now")
        assert other.numeric("482")[3] == "#talks"
        maker.line("TOPIC #talks :the agenda")
        assert other.numeric("TOPIC")[2:] == ["#talks", "the agenda"]
        maker.line("TOPIC #talks :")
        assert other.numeric("TOPIC")[2:] == ["#talks", ""]
        other.line("TOPIC #talks")
        assert other.numeric("331")[3] == "#talks"
    finally:
        maker.close()
        other.close()


def test_a_secret_room_is_not_listed_to_those_outside(srv):
    maker = RawIrc(srv.irc_port, "hider")
    native = NativeClient(srv.port, "seeker")
    try:
        joined(maker, "#hideout")
        maker.line("MODE #hideout +s")
        maker.until(lambda w: w[1:2] == ["MODE"])
        native.send_json({"type": "list"})
        listed = native.expect(lambda f: f["type"] == "rooms")
        assert "#hideout" not in listed["names"] and "#lobby" in listed["names"]
        maker.line("LIST")
        assert any(words_of(line)[3:4] == ["#hideout"] for line in maker.until(lambda w: w[1:2] == ["323"]))
    finally:
        maker.close()
        native.close()


def test_part_message_reaches_irc_and_native_members(srv):
    leaver = RawIrc(srv.irc_port, "leaver")
    stayer = RawIrc(srv.irc_port, "stayer")
    native = NativeClient(srv.port, "watcher")
    try:
        joined(leaver, "#exit")
        joined(stayer, "#exit")
        assert native_join(native, "#exit")["type"] == "joined"
        leaver.line("PART #exit :time for tea")
        assert stayer.numeric("PART")[2:] == ["#exit", "time for tea"]
        assert leaver.numeric("PART")[2:] == ["#exit", "time for tea"]  # (its own, as the others see it)
        notice = native.expect(lambda f: f["type"] == "notice" and f.get("event") == "leave")
        assert notice["reason"] == "time for tea" and notice["nick"] == "leaver"
    finally:
        leaver.close()
        stayer.close()
        native.close()


def test_oper_who_whowas_and_lusers(srv):
    me = RawIrc(srv.irc_port)
    gone = RawIrc(srv.irc_port)
    try:
        me.register("asker")
        gone.line("NICK goner")
        gone.line("USER gnome 0 * :Gone Fishing")
        gone.until(lambda w: w[1:2] == ["366"])
        me.line("WHO goner")
        who = me.numeric("352")
        assert who[4] == "gnome" and who[-1] == "0 Gone Fishing"
        me.line("WHOIS goner")
        assert me.numeric("311")[4:] == ["gnome", "lanchat", "*", "Gone Fishing"]
        gone.line("QUIT :bye")
        gone.until(lambda w: w[0] == "ERROR")
        me.line("WHOWAS goner")
        lines = [words_of(x) for x in me.until(lambda w: w[1:2] == ["369"])]
        assert ["314", "asker", "goner", "gnome", "lanchat", "*", "Gone Fishing"] in [w[1:] for w in lines]
        me.line("WHOWAS nobody-ever")
        assert me.numeric("406")[3] == "nobody-ever"
        me.line("OPER operuser wrong")
        assert me.numeric("464")
        me.line("OPER someone operpassword")
        assert me.numeric("491")
        me.line("OPER operuser operpassword")
        assert me.numeric("381")[2] == "asker"
        assert me.numeric("MODE")[2:] == ["asker", "+o"]
        me.line("WHO asker")
        assert me.numeric("352")[8].startswith("H*")
        me.line("LUSERS")
        counts = me.until(lambda w: w[1:2] == ["266"])
        assert any(words_of(line)[1] == "251" for line in counts)
    finally:
        me.close()
        gone.close()


def test_the_quiet_lobby_is_not_told_of_arrivals(srv):
    observer = RawIrc(srv.irc_port, "observer")
    native = NativeClient(srv.port, "arriver")
    try:
        observer.line("PING :after-arrival")  # (answered after anything queued for it before)
        seen = observer.until(lambda w: w[1:2] == ["PONG"])
        assert not any(words_of(line)[0].startswith(":arriver!") for line in seen)
        observer.line("NAMES #lobby")
        assert "arriver" in observer.numeric("353")[-1].split()
    finally:
        observer.close()
        native.close()


def test_mode_params_show_names_as_nicks_and_keys_as_they_are():
    assert mode_params("+o", "a b") == ["+o", "a`20b"]
    assert mode_params("+kl-i key 5", None) == ["+kl-i", "key", "5"]


def test_whowas_is_bounded_and_newest_first():
    clock = iter(range(100)).__next__
    people = People(clock=lambda: float(clock()), keep=3)
    for i in range(5):
        people.came("twin", f"u{i}", "Twin")
        people.left("twin")
    assert [s.user for s in people.was("TWIN", 0)] == ["u4", "u3", "u2"]
    assert [s.user for s in people.was("twin", 1)] == ["u4"]
    people.came("nick", "me", "Me")
    people.renamed("nick", "newnick")
    assert people.of("newnick").user == "me" and people.was("nick", 0)[0].user == "me"
    assert people.of("stranger").user == "stranger"


def test_a_notice_stays_a_notice_and_is_never_answered(srv):
    sender = RawIrc(srv.irc_port, "noticer")
    hearer = RawIrc(srv.irc_port, "hearer")
    native = NativeClient(srv.port, "reader")
    try:
        joined(sender, "#notes")
        joined(hearer, "#notes")
        assert native_join(native, "#notes")["type"] == "joined"
        sender.line("NOTICE #notes :hello there")
        heard = hearer.numeric("NOTICE")
        assert heard[0].startswith(":noticer!") and heard[2:] == ["#notes", "hello there"]
        message = native.messages(1)[0]
        assert message["text"] == "hello there" and message["notice"] is True
        sender.line("NOTICE hearer :psst")
        assert hearer.numeric("NOTICE")[2:] == ["hearer", "psst"]
        sender.line("NOTICE #nowhere-at-all :anyone?")
        sender.line("NOTICE nobody-at-all :anyone?")
        sender.line("PING :done")
        seen = sender.until(lambda w: w[1:2] == ["PONG"])
        answers = [words_of(line)[1] for line in seen]
        assert not [x for x in answers if x.startswith("4") or x == "NOTICE"], answers  # (no error, no notice)
    finally:
        sender.close()
        hearer.close()
        native.close()


def test_quit_message_reaches_the_rooms_and_kick_names_a_missing_room(srv):
    quitter = RawIrc(srv.irc_port, "quitter")
    stayer = RawIrc(srv.irc_port, "remainer")
    native = NativeClient(srv.port, "lookout")
    try:
        joined(quitter, "#bye")
        joined(stayer, "#bye")
        assert native_join(native, "#bye")["type"] == "joined"
        stayer.line("MODE #bye +s")  # (not its operator: refused)
        assert stayer.numeric("482")[3] == "#bye"
        quitter.line("MODE #bye +s")
        stayer.numeric("MODE")
        stayer.line("NAMES #bye")
        assert stayer.numeric("353")[3] == "@"  # (a secret room's names)
        quitter.line("QUIT :qux out")
        quit_line = stayer.numeric("QUIT")
        assert quit_line[0].startswith(":quitter!") and quit_line[2] == "qux out"
        notice = native.expect(lambda f: f["type"] == "notice" and f.get("event") == "leave")
        assert notice["reason"] == "qux out"
        stayer.line("KICK #never-made someone")
        assert stayer.numeric("403")[3] == "#never-made"
    finally:
        quitter.close()
        stayer.close()
        native.close()


def test_kill_is_a_kick_for_server_operators_only_and_info_answers(srv):
    op = RawIrc(srv.irc_port, "killer")
    victim = RawIrc(srv.irc_port, "victim2")
    try:
        victim.line("KILL killer :no")
        assert victim.numeric("481")
        op.line("INFO")
        info = op.until(lambda w: w[1:2] == ["374"])
        assert [words_of(line)[1] for line in info].count("371") >= 1
        op.line("OPER operuser operpassword")
        op.numeric("381")
        op.line("KILL victim2 :enough")
        assert victim.until(lambda w: w[0] == "ERROR")
    finally:
        op.close()
        victim.close()


def test_native_mode_in_the_lobby_is_irc_mode_there_and_says_why_its_modes_do_not_change(srv):
    """``/mode`` is read by the same parser as IRC's ``MODE``: the lobby's o and b are /op and /ban."""
    op = NativeClient(srv.port)
    op.send_json({"type": "hello", "version": 1, "nick": "operuser", "password": "operpassword"})
    assert op.expect(lambda f: f["type"] in ("welcome", "error"))["type"] == "welcome"
    deputy = NativeClient(srv.port, "deputy")
    watcher = RawIrc(srv.irc_port, "lobbywatch")
    try:
        op.send_json({"type": "line", "text": "/mode"})
        shown = op.expect(lambda f: f.get("event") == "modes")["text"]
        assert shown.startswith("modes of #lobby: +n") and "do not change" in shown and "/op" in shown, shown
        op.send_json({"type": "line", "text": "/mode +t"})
        refused = op.expect(lambda f: f["type"] == "error")
        assert refused["code"] == "unknown_mode" and "no modes but o and b" in refused["message"]
        op.send_json({"type": "line", "text": "/mode +o deputy"})
        assert op.expect(lambda f: f.get("event") == "op")["nick"] == "deputy"
        watcher.line("WHOIS deputy")
        assert "operator" in watcher.numeric("313")[-1], "a server operator now, as MODE #lobby +o makes one"
        op.send_json({"type": "line", "text": "/mode #lobby +b nobodyatall"})
        op.send_json({"type": "line", "text": "/mode #lobby +b"})
        listed = op.expect(lambda f: f.get("event") == "bans" and "server" in f["text"])["text"]
        assert "nobodyatall" in listed, listed
        watcher.line("MODE #lobby +x")
        assert watcher.numeric("472")[3] == "x", "IRC's MODE: the same refusal, as a numeric"
    finally:
        op.send_json({"type": "line", "text": "/unban nobodyatall"})
        op.close()
        deputy.close()
        watcher.close()
