// The chat page: a native lanchat client over a WebSocket (one JSON frame per message).
// Everything from the network is text: the DOM is built with textContent only (text.js).
"use strict";

import { adopt, carried, forgetKept, keep, readKept, takeFromAddress } from "/kept.js";
import { keptLogin, setupAccount } from "/account.js";
import { setupConversations } from "/conversations.js";
import { setupFiles, showFile } from "/files.js";
import { setupMarkers } from "/markers.js";
import { entry, fill } from "/panel.js";
import { DATED, DAY, TIME, columns, colourOf, dayOf, isolated, mentions, shown, when, withMentions } from "/text.js";

{
  const PROTOCOL_VERSION = 1;
  const MAX_TEXT = 8000; // characters in a frame's "text" (common/limits.py)
  const KEPT_LINES = 2000; // lines kept per room's log

  const $ = (id) => document.getElementById(id);
  const ui = {
    server: $("server"), room: $("room"), topic: $("topic"), state: $("state"),
    loginView: $("login-view"), login: $("login"), nick: $("nick"), passwordRow: $("password-row"),
    password: $("password"), loginError: $("login-error"), tlsNote: $("tls-note"),
    chatView: $("chat-view"), messages: $("messages"), side: $("side"), rooms: $("my-rooms"),
    otherRooms: $("other-rooms"), privates: $("privates"), people: $("people"),
    compose: $("compose"), input: $("input"), leave: $("leave"), sideUnread: $("side-unread"),
    account: $("account"), accountPassword: $("account-password"), accountRegister: $("account-register"),
  };

  // What this client knows; kept across reconnects.
  const s = {
    ws: null, nick: "", password: null, token: null, registered: false, wantOnline: false, ended: false,
    shutdownSeen: false, retry: 0, retryTimer: null,
    views: new Map(), // key -> view: each room we are in and each private conversation, with its own log
    active: null, // the view shown
    focus: null, // the room the server takes as focused (where /topic, /who, /history go)
    rejoining: new Set(), // keys of rooms a reconnect asked back: their "joined" does not switch the view
    roomList: [], // the server's rooms (/rooms): name, count, topic
    held: [], // lines typed while not connected: { text, view }
    quietLists: 0, // "list" frames the page sent itself: their answers refresh the panel, unsaid
    quietWho: 0, // "who" frames the page sent itself: their answers mark who is away, unsaid
    placedTop: 0, // where the log was last scrolled, by the page or the reader
    quietHistory: 0, // "history" frames the page sent itself (older lines on scrolling up)
    lookBack: null, // between a /history or /search answer's first and last notice: "typed" or "quiet"
    nodes: [], // the page's addresses on the cluster's other nodes (/info): where to go if this one dies
    secretNext: false, // the server asked for a password on the next line (an account command's): not shown
    notes: [], // lines to say once welcomed (a kept login refused before the welcome)
  };

  // ---- views: a room's or a conversation's own log ----
  const keyOf = (kind, name) => (kind === "private" ? "@" : "") + String(name).normalize("NFKC").toLowerCase();

  function view(kind, name) {
    const key = keyOf(kind, name);
    let v = s.views.get(key);
    if (!v) {
      const log = document.createElement("div");
      log.className = "view";
      log.dataset.view = key;
      log.hidden = true;
      ui.messages.append(log);
      v = {
        key, kind, name, log,
        joined: kind === "private", // (a room: while we are in it)
        wanted: false, // a room to ask back on connecting (kept from before a reload)
        seen: new Set(), // seq of each message shown (in ``epoch``): a replay shows none twice
        epoch: "", lastSeq: 0,
        unread: 0, mention: false, firstUnread: null, divider: null, scrollTop: null,
        topic: "", users: [], away: new Set(), pending: [],
        more: 0, // people here besides ``users`` (a big room's welcome, "joined" or "users" names the first)
        readSeq: 0, // the last seq read here (kept in the browser's storage: a reload starts there)
        restoredRead: null, // after a reload: what was read before it; the history after it is unread
        replayLeft: 0, // replayed messages still to come after a welcome or "joined"
      };
      s.views.set(key, v);
    }
    return v;
  }

  const roomView = (name) => s.views.get(keyOf("room", name));
  const activeView = () => s.active || roomView(s.focus) || null;

  // Put the log at ``top`` (clamped by the browser), remembered as where the page put it.
  function scrollLog(top) {
    ui.messages.scrollTop = top;
    s.placedTop = ui.messages.scrollTop;
  }

  function addLine(v, classes, parts, ts, seq, dated) {
    v = v || activeView();
    if (!v) return null;
    const showing = v === s.active && !ui.chatView.hidden;
    const stick = showing && ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
    const line = document.createElement("div");
    line.className = ["line", ...classes].join(" ");
    const date = when(ts);
    const time = document.createElement("time");
    time.dateTime = date.toISOString();
    time.textContent = (dated ? DATED : TIME).format(date);
    line.append(time);
    for (const part of parts) {
      if (typeof part === "string") {
        line.append(document.createTextNode(shown(part)));
      } else if (part.pre !== undefined) { // columns aligned with spaces: kept in a monospace block
        line.append(columns(shown(part.pre)));
      } else if (part.cls === "text" && part.mention) {
        const bdi = isolated("text", "");
        bdi.append(withMentions(part.text, line, s.nick));
        line.append(bdi);
      } else if (part.cls === "nick") {
        const bdi = isolated("nick", part.text);
        bdi.classList.add(`c${colourOf(part.text)}`);
        line.append(bdi);
      } else if (part.tag !== undefined) { // "(history)", as the terminal marks a replayed line
        const tag = document.createElement("span");
        tag.className = "tag-replay";
        tag.textContent = `(${part.tag}) `;
        line.append(tag);
      } else {
        line.append(isolated(part.cls, part.text));
      }
    }
    line.dataset.day = dayOf(date);
    if (seq !== undefined) line.dataset.seq = String(seq);
    // In the order of the room's numbering: history asked for later goes above what is shown
    // (the view kept where it was: what is read does not move).
    const older = seq !== undefined && seq < v.lastSeq;
    // (right after the line numbered just below it; older than all: at the top)
    const numbered = older ? [...v.log.querySelectorAll(".line[data-seq]")] : [];
    const next = numbered.findIndex((l) => Number(l.dataset.seq) > seq);
    let after = null;
    if (next === 0) after = v.log.querySelector(".line");
    else if (next > 0) after = numbered[next - 1].nextElementSibling;
    const height = ui.messages.scrollHeight;
    place(v, line, after, date);
    while (v.log.childElementCount > KEPT_LINES) v.log.firstElementChild.remove();
    if (stick) scrollLog(ui.messages.scrollHeight);
    else if (after && showing) scrollLog(ui.messages.scrollTop + ui.messages.scrollHeight - height);
    return line;
  }

  // ``line`` into its log, before ``after`` (or last), under a date divider if its day is not the previous line's.
  function place(v, line, after, date) {
    const day = line.dataset.day;
    if (after) {
      const above = after.previousElementSibling;
      const at = above && above.classList.contains("date") && above.dataset.day !== day ? above : after; // (that day's divider stays with it)
      v.log.insertBefore(line, at);
    } else {
      v.log.append(line);
    }
    let previous = line.previousElementSibling;
    while (previous && !previous.classList.contains("line") && !previous.classList.contains("date")) previous = previous.previousElementSibling;
    if (previous && previous.dataset.day === day) return;
    const divider = document.createElement("div");
    divider.className = "divider date";
    divider.setAttribute("role", "separator");
    divider.dataset.day = day;
    divider.textContent = DAY.format(date);
    v.log.insertBefore(divider, line);
  }

  const system = (text, ts, v) => addLine(v, ["system"], [text], ts);
  const errorLine = (text) => addLine(null, ["error"], [text]);

  // Is this view's new line unseen: another view shown, or the page not looked at?
  const unseenIn = (v) => v !== s.active || document.hidden || ui.chatView.hidden;

  function counted(v, line, mentioned, from, text, restored) {
    if (!restored && !unseenIn(v)) return false;
    v.unread += 1;
    if (mentioned) {
      v.mention = true;
      notify(v, from, text);
    }
    if (!v.firstUnread) v.firstUnread = line;
    showLists();
    return true;
  }

  // ---- a session that lasts: name, token, rooms and what was read, in the browser's storage ----
  // (Never the password.) A reload or a phone that dropped the page comes back there; "Leave",
  // /quit or the server's goodbye forgets it.
  let saveTimer = null;

  function save() {
    clearTimeout(saveTimer);
    saveTimer = null;
    if (!s.token || !s.nick) return;
    const rooms = [...s.views.values()].filter((v) => v.kind === "room" && v.joined)
      .map((v) => ({ name: v.name, epoch: v.epoch, read: v.readSeq }));
    keep({ nick: s.nick, token: s.token, focus: s.focus, rooms });
  }

  const saveSoon = () => { if (saveTimer === null) saveTimer = setTimeout(save, 500); };

  function forget() {
    clearTimeout(saveTimer);
    saveTimer = null;
    forgetKept();
  }

  // To another node of the cluster (its own page: the session goes along in the address's fragment,
  // which never leaves the browser, and is put in that page's storage and taken out of the address).
  function moveToNode() {
    const same = s.nodes.find((url) => new URL(url).hostname === location.hostname);
    const url = same || s.nodes[0];
    save();
    setState("reconnecting", "moving to another node…");
    // (a link that tells its origin, which the page's own no-referrer policy would not: the node
    // arrived at takes the session only from a page of the cluster's machines)
    const go = document.createElement("a");
    go.href = carried(url);
    go.referrerPolicy = "origin";
    document.body.append(go);
    go.click();
  }

  // The session kept by an earlier page, if any: its rooms, and the connection it resumes.
  function restore() {
    const kept = readKept();
    if (!kept) return false;
    s.nick = kept.nick;
    s.token = kept.token;
    ui.nick.value = kept.nick;
    for (const r of kept.rooms) {
      const v = view("room", r.name);
      v.wanted = true; // (in the list once the server has us back in it)
      v.epoch = r.epoch;
      v.restoredRead = r.read;
      v.readSeq = r.read || 0;
    }
    s.focus = kept.focus;
    s.wantOnline = true;
    connect();
    return true;
  }

  // ---- attention: a mention or a private message not being read raises a notification ----
  // Asked for on the user's own gesture (the "Join" button), never on load.
  function askToNotify() {
    if (!("Notification" in window) || Notification.permission !== "default") return;
    try {
      Promise.resolve(Notification.requestPermission()).catch(() => {});
    } catch (e) { /* (an old browser's callback form: nothing to do) */ }
  }

  function notify(v, from, text) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const where = v.kind === "private" ? `${shown(from)} (private)` : `${shown(from)} in ${shown(v.name)}`;
    try {
      const note = new Notification(where, { body: shown(text).slice(0, 200), tag: v.key });
      note.onclick = () => {
        window.focus();
        switchTo(v);
        note.close();
      };
    } catch (e) { /* (a browser that wants a service worker for it: the title and the list still say it) */ }
  }

  function showMessage(v, f, extra, found) {
    const classes = [...(extra || [])];
    if (f.replay) classes.push("replay");
    if (f.nick === s.nick) classes.push("mine");
    if (f.action) classes.push("action");
    const mention = f.nick !== s.nick;
    const text = { cls: "text", text: f.text, mention };
    const parts = f.action ? ["* ", { cls: "nick", text: f.nick }, " ", text] : [{ cls: "nick", text: f.nick }, ": ", text];
    if (f.replay) parts.unshift({ tag: f.replay });
    // A line found by /search or a typed /history: shown where asked, with its date, apart from the log's order.
    const line = found ? addLine(v, classes, parts, f.ts, undefined, true) : addLine(v, classes, parts, f.ts, f.seq);
    if (f.file) showFile(line, f.file); // a shared file: its link, or its picture (files.js)
    return line;
  }

  function setState(state, text) {
    ui.state.dataset.state = state;
    ui.state.textContent = text;
  }

  // ---- what is shown beside the log ----
  function showWhere() {
    const v = activeView();
    ui.room.textContent = v ? (v.kind === "private" ? `@${v.name}` : v.name) : "";
    ui.topic.replaceChildren(...(v && v.topic ? ["— ", isolated("", v.topic)] : []));
    showTitle();
  }

  function showTitle() {
    const v = activeView();
    let unread = 0;
    for (const each of s.views.values()) unread += each.unread;
    const where = v ? (v.kind === "private" ? `@${v.name}` : v.name) : "";
    document.title = (unread ? `(${unread}) ` : "") + (where ? `${where} · LAN chat` : "LAN chat");
    ui.sideUnread.textContent = unread ? `(${unread} unread)` : ""; // (on a phone the panel is folded)
  }

  function showPeople() {
    const v = activeView();
    ui.people.replaceChildren();
    if (!v || v.kind !== "room") return;
    for (const nick of [...v.users].sort((a, b) => a.localeCompare(b))) {
      const li = document.createElement("li");
      li.append(isolated("", nick), v.away.has(nick) ? " (away)" : "");
      if (nick === s.nick) li.className = "me-name";
      else if (v.away.has(nick)) li.className = "away";
      ui.people.append(li);
    }
    const more = headcount(v) - v.users.length;
    if (more > 0) { // a big room: its first names, and how many more (chatserver/rules/crowd.py)
      const li = document.createElement("li");
      li.textContent = `and ${more} more`;
      ui.people.append(li);
    }
  }

  // How many are in room view ``v``: the server's room list says (kept fresh by its "rooms"
  // notices), as a big room's joins and leaves are not announced (chatserver/rules/crowd.py).
  function headcount(v) {
    const listed = s.roomList.find((r) => keyOf("room", r.name) === v.key);
    return listed ? Math.max(listed.count, v.users.length) : v.users.length + v.more;
  }

  function showLists() {
    const ours = [...s.views.values()].filter((v) => v.kind === "room" && v.joined);
    const counts = (v) => ({ unread: v.unread, mention: v.mention, current: v === s.active });
    fill(ui.rooms, ours.map((v) => entry({ key: v.key, label: v.name, detail: `(${headcount(v)})`, ...counts(v), onClick: () => switchTo(v) })));
    const others = s.roomList.filter((r) => !ours.some((v) => v.key === keyOf("room", r.name)));
    fill(ui.otherRooms, others.map((r) => entry({
      key: `join:${keyOf("room", r.name)}`, label: r.name, detail: `(${r.count})`, topic: r.topic,
      onClick: () => send({ type: "join", room: r.name }),
    })));
    const privates = [...s.views.values()].filter((v) => v.kind === "private");
    fill(ui.privates, privates.map((v) => entry({ key: v.key, label: `@${v.name}`, ...counts(v), onClick: () => switchTo(v) })));
    showTitle();
  }

  // Show ``v``'s log, at its first unread line under a "new" divider (or where it was left).
  function switchTo(v) {
    const was = s.active;
    if (was && was !== v) {
      was.scrollTop = ui.messages.scrollTop;
      was.log.hidden = true;
    }
    s.active = v;
    v.log.hidden = false;
    if (v.divider) { v.divider.remove(); v.divider = null; }
    const first = v.firstUnread && v.firstUnread.isConnected ? v.firstUnread : null;
    if (first) {
      v.divider = document.createElement("div");
      v.divider.className = "divider new";
      v.divider.setAttribute("role", "separator");
      v.divider.textContent = "new";
      v.log.insertBefore(v.divider, first);
    }
    v.unread = 0;
    v.mention = false;
    v.firstUnread = null;
    v.readSeq = Math.max(v.readSeq, v.lastSeq);
    markers.read(v);
    saveSoon();
    if (v.kind === "room" && v.name !== s.focus) {
      send({ type: "join", room: v.name }); // (focused on the server too: /topic, /who and /history are about it)
      s.focus = v.name;
    }
    if (conversations.opened(v)) s.quietHistory += 1; // (a kept conversation's history, the first time)
    showWhere();
    showPeople();
    showLists();
    if (first) {
      v.divider.scrollIntoView({ block: "start" });
      scrollLog(ui.messages.scrollTop);
    } else if (v.scrollTop !== null && was !== v) scrollLog(v.scrollTop);
    else scrollLog(ui.messages.scrollHeight);
  }

  // ---- the connection ----
  function send(frame) {
    if (!s.ws || s.ws.readyState !== WebSocket.OPEN || !s.registered) return false;
    s.ws.send(JSON.stringify(frame));
    return true;
  }

  // The rooms for the side panel: the answer is not said in the log (a typed /rooms's is).
  function refreshRooms() {
    if (send({ type: "list" })) s.quietLists += 1;
  }

  // Who of the focused room is away (a welcome and a "joined" do not say), unsaid.
  function askAway() {
    if (send({ type: "who" })) s.quietWho += 1;
  }

  function hello() {
    const frame = { type: "hello", version: PROTOCOL_VERSION, nick: s.nick, client: "lanchat-web" };
    if (s.password !== null) frame.password = s.password;
    if (s.token) frame.resume = s.token;
    Object.assign(frame, account.hello(s.nick)); // (a kept login's token, or an account's password)
    const focused = s.focus ? roomView(s.focus) : null;
    if (focused) {
      frame.room = focused.name;
      if (focused.epoch) frame.epoch = focused.epoch;
      if (focused.seen.size) frame.last_seq = focused.lastSeq;
    }
    const others = [...s.views.values()].filter((v) => v.kind === "room" && (v.joined || v.wanted) && v !== focused);
    if (others.length) {
      frame.rooms = others.map((v) => v.name);
      frame.epochs = others.map((v) => v.epoch);
      frame.last_seqs = others.map((v) => (v.seen.size ? v.lastSeq : -1));
    }
    s.rejoining = new Set(others.map((v) => v.key));
    return frame;
  }

  function connect() {
    clearTimeout(s.retryTimer);
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    setState(s.registered || s.token ? "reconnecting" : "connecting", s.token ? "reconnecting…" : "connecting…");
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    s.ws = ws;
    s.shutdownSeen = false;
    s.quietLists = 0;
    s.quietWho = 0;
    s.quietHistory = 0;
    s.lookBack = null;
    let opened = false;
    ws.addEventListener("open", () => {
      opened = true;
      ws.send(JSON.stringify(hello()));
    });
    ws.addEventListener("message", (event) => {
      if (typeof event.data !== "string") return;
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame && typeof frame.type === "string") receive(frame);
    });
    ws.addEventListener("close", () => {
      if (s.ws !== ws) return;
      s.ws = null;
      const wasRegistered = s.registered;
      s.registered = false;
      if (s.ended || !s.wantOnline) {
        if (!s.ended) setState("offline", "not connected");
        return;
      }
      if (wasRegistered && !s.shutdownSeen) system("connection lost");
      if (!opened && !wasRegistered && s.nodes.length) {
        moveToNode(); // this node does not answer: another of the cluster's nodes does, as the terminal client goes
        return;
      }
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    const delay = Math.min(10, 2 ** s.retry) * 1000 * (0.75 + Math.random() * 0.5);
    s.retry = Math.min(s.retry + 1, 4);
    setState("reconnecting", `reconnecting in ${Math.round(delay / 1000)} s…`);
    s.retryTimer = setTimeout(connect, delay);
  }

  function stop(reason) {
    s.ended = true;
    s.wantOnline = false;
    clearTimeout(s.retryTimer);
    setState("ended", reason || "disconnected");
  }

  function showLogin(message, needPassword) {
    ui.leave.hidden = true;
    ui.chatView.hidden = true;
    ui.loginView.hidden = false;
    ui.loginError.textContent = message || "";
    if (needPassword) {
      ui.passwordRow.hidden = false;
      ui.password.focus();
    } else {
      ui.nick.focus();
    }
  }

  function showChat() {
    ui.leave.hidden = false;
    ui.loginView.hidden = true;
    ui.chatView.hidden = false;
    ui.input.focus();
  }

  function sendHeld() {
    // Lines typed while away go out only where they were typed.
    const still = [];
    for (const item of s.held) {
      if (item.view.kind === "private" || item.view.joined) sendLine(item, true);
      else still.push(item);
    }
    if (still.length) {
      system(`${still.length} line(s) typed for ${still[0].view.name} are held: /join ${still[0].view.name} to send them`);
    }
    s.held = still;
  }

  // A room we are in now (a welcome's or a "joined"): its log kept, its numbering checked.
  function entered(name, epoch, users, topic, replay, more) {
    const v = view("room", name);
    v.replayLeft = replay || 0;
    if (!v.replayLeft) v.restoredRead = null;
    if (v.epoch && epoch && v.epoch !== epoch) { // numbered afresh: old numbers mean nothing now
      v.seen.clear();
      v.lastSeq = 0;
    }
    v.epoch = epoch || v.epoch;
    v.users = users || [];
    v.more = more || 0;
    v.away = new Set();
    v.topic = topic || "";
    v.joined = true;
    v.wanted = false;
    return v;
  }

  // A room's replay is over: what came after the reading position is under the "new" divider.
  function replayed(v) {
    v.restoredRead = null;
    if (v === s.active && v.firstUnread) switchTo(v);
  }

  function receive(f) {
    switch (f.type) {
      case "welcome": {
        const first = !s.registered && !s.token;
        s.registered = true;
        s.retry = 0;
        s.nick = f.nick;
        s.token = f.token || s.token;
        const wanted = s.focus;
        for (const key of s.rejoining) { // asked back: each is ours again with its "joined", if it can be had
          const asked = s.views.get(key);
          asked.joined = false;
          asked.wanted = false;
        }
        const v = entered(f.room, f.epoch, f.users, f.topic, f.replay, f.more);
        s.focus = f.room;
        ui.server.textContent = f.server || "LAN chat";
        setState("online", `online as ${s.nick}`);
        showChat();
        if (!s.active || s.active.kind === "room" && s.active !== v) switchTo(v);
        else { showWhere(); showPeople(); showLists(); }
        if (wanted && keyOf("room", wanted) !== v.key) system(`you are in ${f.room}, not ${wanted}`, undefined, v);
        system(first ? `Welcome to ${f.server}, ${f.nick}. You are in ${f.room}. Type /help for commands.`
                     : `back in ${f.room} as ${f.nick}`, undefined, v);
        if (f.more) system(`and ${f.more} more here`, undefined, v);
        for (const note of s.notes.splice(0)) system(note, undefined, v);
        refreshRooms();
        askAway();
        sendHeld();
        save();
        learn(); // (the cluster's nodes now)
        account.welcomed();
        break;
      }
      case "loggedin": account.loggedIn(f); conversations.ask(); break;
      case "loggedout": account.loggedOut(f); conversations.forget(); break;
      case "markread": markers.received(f); break; // (another device of the account read that far)
      case "conversation-list": conversations.listed(f); break;
      case "message": {
        const v = roomView(f.room);
        if (v && (f.replay === "search" || f.replay === "files" || (f.replay === "history" && s.lookBack === "typed"))) {
          showMessage(v, f, ["found"], true);
          break;
        }
        if (!v || v.seen.has(f.seq)) break; // (a room being left; or shown already: a replay of what we saw)
        const line = showMessage(v, f);
        v.seen.add(f.seq);
        v.lastSeq = Math.max(v.lastSeq, f.seq);
        // New to us: live, missed while away, or history after what was read before a reload.
        const unread = !f.replay || f.replay === "missed";
        const afterReload = f.replay === "history" && v.restoredRead !== null && f.seq > v.restoredRead;
        const isCounted = f.nick !== s.nick && (unread || afterReload)
          && counted(v, line, unread && mentions(f.text, s.nick), f.nick, f.text, afterReload);
        if (!isCounted && f.replay !== "search") v.readSeq = Math.max(v.readSeq, f.seq);
        markers.arrived(v, f);
        if (!isCounted) markers.read(v);
        if (f.replay && v.replayLeft > 0 && --v.replayLeft === 0) replayed(v);
        saveSoon();
        break;
      }
      case "accepted": {
        const v = roomView(f.room || s.focus);
        if (!v) break;
        v.seen.add(f.seq);
        v.lastSeq = Math.max(v.lastSeq, f.seq);
        v.readSeq = Math.max(v.readSeq, f.seq);
        if (typeof f.text === "string") { // a typed command made this message (/me, /say): shown now
          showMessage(v, { nick: s.nick, text: f.text, action: f.action === true, ts: f.ts, seq: f.seq });
          break;
        }
        const line = v.pending.shift();
        if (line) {
          line.classList.remove("pending");
          line.dataset.seq = String(f.seq);
        }
        break;
      }
      case "private": {
        const mine = f.nick === s.nick;
        const old = f.replay === "history"; // (a kept conversation's, read as it is opened)
        const v = view("private", mine ? f.to : f.nick);
        const line = addLine(v, ["private"], [{ cls: "tag", text: mine ? `[private to ${f.to}]` : `[private from ${f.nick}]` }, " ",
          { cls: "text", text: f.text, mention: false }], f.ts);
        if (f.file) showFile(line, f.file);
        markers.arrived(v, f);
        if (mine && !old) switchTo(v); // (a /msg typed here opens its conversation)
        else if (!old && !counted(v, line, true, f.nick, f.text)) markers.read(v);
        showLists();
        break;
      }
      case "notice": notice(f); break;
      case "users": {
        const v = roomView(f.room);
        if (v) {
          v.users = f.nicks || [];
          v.more = f.more || 0;
          v.away = new Set(f.away || []);
          if (v === activeView()) showPeople();
          showLists();
        }
        if (s.quietWho > 0) {
          s.quietWho -= 1;
          break;
        }
        system(`here in ${f.room}: ${(f.nicks || []).join(", ")}` + (f.more ? ` and ${f.more} more` : ""), undefined, v);
        break;
      }
      case "joined": {
        const v = entered(f.room, f.epoch, f.users, f.topic, f.replay, f.more);
        const back = s.rejoining.delete(v.key);
        system(`now in ${f.room}` + (f.topic ? ` — ${f.topic}` : ""), undefined, v);
        if (!back) {
          s.focus = f.room;
          switchTo(v);
          askAway();
        }
        refreshRooms();
        sendHeld();
        save();
        break;
      }
      case "rooms":
        s.roomList = (f.names || []).map((name, i) => ({ name, count: (f.counts || [])[i] || 0, topic: (f.topics || [])[i] || "" }));
        showLists();
        if (s.quietLists > 0) {
          s.quietLists -= 1;
        } else { // the answer to a typed /rooms
          system("rooms: " + s.roomList.map((r) => `${r.name} (${r.count})`).join(", ") + (f.more ? ` and ${f.more} more` : ""));
        }
        break;
      case "parted": {
        const v = roomView(f.room);
        if (v) {
          v.joined = false;
          system(`you left ${f.room}`, undefined, v);
        }
        s.focus = f.focus;
        const next = roomView(f.focus);
        if (next && next.joined && (s.active === v || !s.active)) switchTo(next);
        showLists();
        save();
        break;
      }
      case "focused": {
        s.focus = f.room;
        const v = roomView(f.room);
        if (v && v !== s.active) switchTo(v);
        break;
      }
      case "token": s.token = f.token; save(); break;
      case "reply": addLine(null, [], [{ cls: "text", text: f.text, mention: false }], f.ts); break;
      case "ping": send({ type: "pong", token: f.token || "" }); break;
      case "bye":
        if (!s.shutdownSeen) {  // (after a shutdown notice: back soon, reconnecting)
          if (f.reason) system(`disconnected: ${f.reason}`);
          forget(); // (the session is over: a reload asks for a name again)
          stop(f.reason ? `disconnected: ${f.reason}` : "disconnected");
        }
        break;
      case "error": if (["file_refused", "no_files"].includes(f.code)) files.refused(); error(f); break;
      case "upload_token": files.tokenArrived(f); break;
      default: break;
    }
  }

  function notice(f) {
    const v = f.room ? roomView(f.room) : null;
    switch (f.event) {
      case "join":
        if (v && f.nick && !v.users.includes(f.nick)) v.users.push(f.nick);
        break;
      case "leave":
        if (v) {
          v.users = v.users.filter((n) => n !== f.nick);
          v.away.delete(f.nick);
        }
        break;
      case "nick": {
        if (v) v.users = v.users.map((n) => (n === f.previous ? f.nick : n));
        const talk = f.previous ? s.views.get(keyOf("private", f.previous)) : null;
        if (talk && !s.views.has(keyOf("private", f.nick))) { // the conversation follows the person
          s.views.delete(talk.key);
          talk.key = keyOf("private", f.nick);
          talk.name = f.nick;
          talk.log.dataset.view = talk.key;
          s.views.set(talk.key, talk);
          showLists();
          if (talk === s.active) showWhere();
        }
        if (f.previous === s.nick) {
          s.nick = f.nick;
          setState("online", `online as ${s.nick}`);
        }
        break;
      }
      case "topic":
        if (v && f.topic !== undefined && f.topic !== null) v.topic = f.topic;
        break;
      case "away": // (the notice says who, and "NICK is back" when no longer away)
        if (v && f.nick) {
          if (f.text === `${f.nick} is back`) v.away.delete(f.nick);
          else v.away.add(f.nick);
        }
        break;
      case "crowd": // a room crossed the announce limit (chatserver/rules/crowd.py): who is here, asked anew
        askAway();
        break;
      case "rooms": // the server's rooms changed (chatserver/net/roomwatch.py): the list, asked anew
        refreshRooms();
        return;
      case "shutdown":
        s.shutdownSeen = true;
        setState("reconnecting", "server restarting…");
        break;
      case "ended":
        stop("the chat has ended");
        break;
      case "account": // ours, told to our rooms for the others: "loggedin"/"loggedout" said it to us
        if (f.nick === s.nick) return;
        break;
      case "password": // an account command typed without its password: the next line is it, not shown
        secret(true);
        break;
      case "help": // the server's help (common/commands.py), its columns aligned with spaces
        addLine(null, ["system", "help"], [{ pre: f.text }], f.ts);
        return;
      case "history":
      case "search": { // the first and last lines of an answer to /history or /search
        const quiet = s.lookBack === "quiet";
        if (String(f.text).startsWith("end of ")) {
          s.lookBack = null;
          if (quiet) return;
          break;
        }
        const none = /^(0 |the last 0 )|: none found$/.test(String(f.text));
        if (f.event === "history" && s.quietHistory > 0) { // older lines for scrolling up: unsaid
          s.quietHistory -= 1;
          s.lookBack = none ? null : "quiet";
          return;
        }
        s.lookBack = none ? null : "typed";
        break;
      }
      default: break;
    }
    if (v === activeView()) { showWhere(); showPeople(); }
    if (v) showLists();
    const lines = String(f.text).split("\n");
    for (const text of lines) system(text, f.ts, v || undefined);
  }

  function error(f) {
    if (f.code === "bad_login" && account.refused(f)) { // the kept login: forgotten; on as a guest
      if (!s.registered && s.wantOnline) {
        if (s.ws) s.ws.close();
        connect();
      }
      return;
    }
    if (!s.registered && ["name_registered", "accounts_required", "bad_login", "throttled"].includes(f.code)) {
      s.wantOnline = false; // (the name is an account's: its password, or another name)
      ui.account.open = true;
      showLogin(f.message + (f.code === "name_registered" ? ": type its account password, or choose another name" : ""), false);
      ui.accountPassword.focus();
      if (s.ws) s.ws.close();
      setState("offline", "log in or choose another nickname");
      return;
    }
    if (!s.registered) {
      if (f.code === "password_required" || f.code === "bad_password") {
        s.wantOnline = false;
        s.password = null;
        showLogin(f.code === "bad_password" ? "Wrong password." : f.message, true);
        if (s.ws) s.ws.close();
        setState("offline", "password needed");
        return;
      }
      if (["nick_taken", "nick_reserved", "invalid_nick", "bad_nick"].includes(f.code) || f.code.startsWith("nick")) {
        s.wantOnline = false;
        s.token = null;
        forget();
        showLogin(f.message + (f.suggestion ? ` (try ${f.suggestion})` : ""), !ui.passwordRow.hidden);
        if (s.ws) s.ws.close();
        setState("offline", "choose another nickname");
        return;
      }
      if (!ui.loginView.hidden) ui.loginError.textContent = f.message;
    }
    errorLine(`error: ${f.message}` + (f.suggestion ? ` (try ${f.suggestion})` : ""));
  }

  // ---- input ----
  // A line goes to the server as typed ("line" frame), which parses it as it does an nc
  // user's (common/commands.py) and answers /help and mistakes itself. All the page knows:
  // a line not starting with "/" (or starting with "//") is a message, shown at once as
  // pending until its "accepted"; in a private conversation, a message goes to its person.
  function messageText(line) {
    if (!line.startsWith("/")) return line;
    return line.startsWith("//") ? line.slice(1) : null;
  }

  function sendLine(item, fromHeld) {
    const v = item.view;
    const text = messageText(item.text);
    const frame = v.kind === "private" && text !== null
      ? { type: "privmsg", to: v.name, text } // (the server's copy comes back: shown then)
      : { type: "line", text: item.text, ...(v.kind === "room" ? { room: v.name } : {}) };
    if (!send(frame)) {
      if (!fromHeld) {
        s.held.push(item);
        system(`not connected: this line is held and sent when you are back in ${v.name}`);
      }
      return;
    }
    if (text !== null && v.kind === "room") {
      const line = addLine(v, ["mine", "pending"], [{ cls: "nick", text: s.nick }, ": ", { cls: "text", text }]);
      v.pending.push(line);
    }
  }

  // The input masked (a password asked for on the next line) or back as it was.
  function secret(on) {
    s.secretNext = on;
    ui.input.classList.toggle("secret", on);
    ui.input.spellcheck = !on; // (a spelling service is never handed a password)
    ui.input.placeholder = on ? "Password (not shown)" : "Message, or /help";
  }

  function submitInput() {
    const line = ui.input.value;
    ui.input.value = "";
    resizeInput();
    if (s.secretNext) { // the password the server asked for: sent as a line, shown nowhere, kept nowhere
      secret(false);
      if (!send({ type: "line", text: line })) errorLine("not connected: the password was not sent");
      return;
    }
    if (!line.trim()) return;
    if (/^\/logout(\s|$)/i.test(line.trim())) account.forget(false); // (at once; the server is told by the line)
    const length = [...line].length; // (characters, as the server counts them)
    if (length > MAX_TEXT) {
      errorLine(`not sent: a line holds at most ${MAX_TEXT} characters, this one ${length}`);
      return;
    }
    const v = activeView();
    if (v) sendLine({ text: line, view: v }, false);
  }

  function resizeInput() {
    ui.input.rows = Math.min(6, Math.max(1, ui.input.value.split("\n").length));
  }

  ui.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitInput();
    }
  });
  ui.input.addEventListener("input", resizeInput);

  // Scrolled up to the top of a room: its older messages, from the store, by position. Only a
  // move up from where the page last put the log counts (a log that just outgrew its box is put at
  // its bottom, a few pixels from the top: that is no reader asking for more).
  ui.messages.addEventListener("scroll", () => {
    const top = ui.messages.scrollTop;
    const up = top < s.placedTop;
    s.placedTop = top;
    const v = s.active;
    if (!up || !v || v.kind !== "room" || v.name !== s.focus || top > 80) return;
    const first = v.log.querySelector(".line[data-seq]");
    const before = first ? Number(first.dataset.seq) : 0;
    if (before <= 1 || v.olderAsked === before) return; // (asked already: nothing older came, or it is coming)
    if (send({ type: "history", count: 50, before })) {
      v.olderAsked = before;
      s.quietHistory += 1;
    }
  });
  ui.compose.addEventListener("submit", (event) => { event.preventDefault(); submitInput(); ui.input.focus(); });

  ui.login.addEventListener("submit", (event) => {
    event.preventDefault();
    const nick = ui.nick.value.trim();
    if (!nick) { ui.loginError.textContent = "Choose a nickname."; return; }
    if (!ui.passwordRow.hidden) s.password = ui.password.value;
    const accepted = offered !== null && offered.nick === nick ? offered : null;
    offered = null;
    if (accepted) { // (the session a link carried, taken on the user's word)
      ui.loginError.textContent = "";
      askToNotify();
      adopt(accepted);
      restore();
      return;
    }
    if (nick !== s.nick) s.token = null;
    s.nick = nick;
    s.ended = false;
    s.wantOnline = true;
    s.retry = 0;
    ui.loginError.textContent = "";
    askToNotify();
    if (s.ws) s.ws.close();
    connect();
  });

  // Back to the page: what came in the room shown while away from it is read now, under its divider.
  // A phone that locked its screen may have dropped the connection: back at once, not at the next retry.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) return;
    if (s.active && s.active.unread) switchTo(s.active);
    if (s.wantOnline && !s.ws) {
      s.retry = 0;
      connect();
    }
  });

  // "Leave": the server is told, and the browser forgets the session (a reload asks for a name).
  ui.leave.addEventListener("click", () => {
    account.forget(true); // (this browser's login too: the server revokes its token)
    send({ type: "quit" });
    forget();
    stop("you left");
    s.token = null;
    s.focus = null;
    s.active = null;
    for (const v of s.views.values()) v.log.remove();
    s.views.clear();
    s.roomList = [];
    showLists();
    if (s.ws) s.ws.close();
    showLogin("", !ui.passwordRow.hidden);
  });

  // Before the first join: the server's name, and whether it wants a password (``/info``).
  function learn() {
    return fetch("/info", { cache: "no-store" })
      .then((answer) => (answer.ok ? answer.json() : null))
      .then((info) => {
        if (!info) return;
        if (typeof info.name === "string" && !s.registered) ui.server.textContent = info.name;
        if (info.password === true && !s.registered) ui.passwordRow.hidden = false;
        const nodes = Array.isArray(info.nodes) ? info.nodes : [];
        s.nodes = nodes.filter((url) => typeof url === "string" && /^https?:\/\/[^/]+\/$/.test(url));
      })
      .catch(() => { /* (an older server: the password is asked for when it says so) */ });
  }

  // The account: the form's account fields, the kept login (account.js).
  const account = setupAccount({
    form: { password: ui.accountPassword, register: ui.accountRegister },
    send,
    say: (text) => (s.registered ? system(text) : s.notes.push(text)), // (before a welcome: said after it)
  });
  const conversations = setupConversations({ send, view, showLists });
  // Read markers shared with the account's other devices (markers.js).
  const markers = setupMarkers({
    account: () => account.account(),
    send,
    shown: (v) => !unseenIn(v),
    find: (target) => (target.startsWith("@") ? s.views.get(keyOf("private", target.slice(1))) : roomView(target)) || null,
    cleared: (v) => {
      Object.assign(v, { unread: 0, mention: false, firstUnread: null, readSeq: Math.max(v.readSeq, v.lastSeq) });
      saveSoon();
      showLists();
    },
  });

  // Files: the attach button, drops and pasted pictures go to the view shown (files.js).
  const files = setupFiles({
    send,
    target: () => {
      const v = activeView();
      return !v ? null : v.kind === "private" ? { to: v.name } : { room: v.name };
    },
    say: (text) => errorLine(text),
  });

  if (location.protocol === "https:") ui.tlsNote.hidden = false;
  const wide = window.matchMedia("(min-width: 48rem)");
  ui.side.open = wide.matches;
  wide.addEventListener("change", () => { ui.side.open = wide.matches; });
  showLogin("", false);
  const learned = learn().catch(() => {});
  setInterval(() => { if (s.registered) learn(); }, 30000); // (nodes come and go)
  // A session carried in the address goes on by itself only when a page of this cluster's machines
  // sent the browser here (a node's page moves it when its node dies; the dead node is no longer
  // listed, but its machine usually is). From anywhere else, a link anyone could write, it is only
  // offered: its name is filled in, and it goes on if Join is pressed with that name.
  let offered = null; // a session a link carried, not yet taken (see the login's submit)
  const handed = takeFromAddress();
  if (handed === null) {
    if (!restore() && keptLogin()) { // no session kept, a login kept: in by itself, as that account
      s.nick = keptLogin().account;
      ui.nick.value = s.nick;
      s.wantOnline = true;
      connect();
    }
  } else {
    learned.then(() => {
      let from = "";
      try { from = document.referrer ? new URL(document.referrer).origin + "/" : ""; } catch (e) { from = ""; }
      const machines = new Set([location.hostname, ...s.nodes.map((url) => new URL(url).hostname)]);
      if (from && (s.nodes.includes(from) || machines.has(new URL(from).hostname))) {
        adopt(handed);
        restore();
      } else if (!s.registered) {
        offered = handed;
        ui.nick.value = handed.nick;
        showLogin(`A link offers to go on as ${handed.nick}, in its rooms: press Join to do so, or choose another name.`,
          !ui.passwordRow.hidden);
      }
    });
  }
}
