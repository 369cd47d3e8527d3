// The chat page: a native lanchat client over a WebSocket (one JSON frame per message).
// Everything from the network is text: the DOM is built with textContent only.
"use strict";

(() => {
  const PROTOCOL_VERSION = 1;
  const MAX_TEXT = 8000; // characters in a frame's "text" (common/limits.py)

  const $ = (id) => document.getElementById(id);
  const ui = {
    server: $("server"), room: $("room"), topic: $("topic"), state: $("state"),
    loginView: $("login-view"), login: $("login"), nick: $("nick"), passwordRow: $("password-row"),
    password: $("password"), loginError: $("login-error"), tlsNote: $("tls-note"),
    chatView: $("chat-view"), messages: $("messages"), side: $("side"), rooms: $("rooms"),
    refreshRooms: $("refresh-rooms"), people: $("people"), compose: $("compose"), input: $("input"),
  };

  // What this client knows; kept across reconnects.
  const s = {
    ws: null, nick: "", password: null, token: null, room: null, epoch: null,
    lastSeq: {}, // room -> last seq seen there (per room: an ack names its room)
    users: [], away: new Set(), registered: false, wantOnline: false, ended: false,
    shutdownSeen: false, retry: 0, retryTimer: null, roomList: [],
    held: [], // lines typed while not connected: { text, room }
    pending: {}, // room -> the page's own message lines there, shown before their "accepted"
    quietLists: 0, // "list" frames the page sent itself: their answers refresh the panel, unsaid
  };

  // ---- output: text only ----
  // As the terminal shows them (common/safetext.py): controls, bidi embeddings, overrides and
  // isolates, and invisible format characters become a visible <U+XXXX>, so "file \u202egnp.exe"
  // cannot pass for "file exe.png". Line breaks stay; their later lines are indented (chat.css).
  const UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
  function shown(text) {
    return String(text).replace(UNSAFE, (ch) => {
      const code = ch.charCodeAt(0);
      if (code < 0x20) return "^" + String.fromCharCode(code + 0x40);
      if (code === 0x7f) return "^?";
      return `<U+${code.toString(16).toUpperCase().padStart(4, "0")}>`;
    });
  }

  // Peer text in its own bidi isolate (<bdi>, direction from its own first strong character):
  // right-to-left text reads right, and cannot reorder the time, the name or the next part.
  function isolated(cls, text) {
    const bdi = document.createElement("bdi");
    bdi.className = cls;
    bdi.textContent = shown(text);
    return bdi;
  }

  function clock(ts) {
    const d = ts ? new Date(ts * 1000) : new Date();
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function mentionPattern() {
    if (!s.nick) return null;
    const escaped = s.nick.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp(`(?<![\\p{L}\\p{N}_])${escaped}(?![\\p{L}\\p{N}_])`, "giu");
  }

  // Text with the own name in <mark>: a list of text nodes and marks, never parsed as HTML.
  function withMentions(raw, line) {
    const text = shown(raw);
    const frag = document.createDocumentFragment();
    const pattern = mentionPattern();
    let at = 0;
    if (pattern) {
      for (const match of text.matchAll(pattern)) {
        frag.append(document.createTextNode(text.slice(at, match.index)));
        const mark = document.createElement("mark");
        mark.textContent = match[0];
        frag.append(mark);
        at = match.index + match[0].length;
        line.classList.add("mention");
      }
    }
    frag.append(document.createTextNode(text.slice(at)));
    return frag;
  }

  function addLine(classes, parts, ts) {
    const stick = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
    const line = document.createElement("div");
    line.className = ["line", ...classes].join(" ");
    const time = document.createElement("time");
    time.textContent = clock(ts);
    line.append(time);
    for (const part of parts) {
      if (typeof part === "string") {
        line.append(document.createTextNode(shown(part)));
      } else if (part.pre !== undefined) { // columns aligned with spaces: kept in a monospace block
        const pre = document.createElement("pre");
        pre.textContent = shown(part.pre);
        line.append(pre);
      } else if (part.cls === "text" && part.mention) {
        const bdi = isolated("text", "");
        bdi.append(withMentions(part.text, line));
        line.append(bdi);
      } else {
        line.append(isolated(part.cls, part.text));
      }
    }
    ui.messages.append(line);
    while (ui.messages.childElementCount > 2000) ui.messages.firstElementChild.remove();
    if (stick) ui.messages.scrollTop = ui.messages.scrollHeight;
    return line;
  }

  const system = (text, ts) => addLine(["system"], [text], ts);
  const errorLine = (text) => addLine(["error"], [text]);

  function showMessage(f) {
    const classes = [];
    if (f.replay) classes.push("replay");
    if (f.nick === s.nick) classes.push("mine");
    const mention = f.nick !== s.nick;
    if (f.action) {
      classes.push("action");
      addLine(classes, ["* ", { cls: "nick", text: f.nick }, " ", { cls: "text", text: f.text, mention }], f.ts);
    } else {
      addLine(classes, [{ cls: "nick", text: f.nick }, ": ", { cls: "text", text: f.text, mention }], f.ts);
    }
  }

  function setState(state, text) {
    ui.state.dataset.state = state;
    ui.state.textContent = text;
  }

  function showWhere(topic) {
    ui.room.textContent = s.room || "";
    if (topic !== undefined) ui.topic.replaceChildren(...(topic ? ["— ", isolated("", topic)] : []));
    document.title = s.room ? `${s.room} · LAN chat` : "LAN chat";
    for (const button of ui.rooms.querySelectorAll("button")) {
      button.setAttribute("aria-current", String(button.dataset.room === s.room));
    }
  }

  function showPeople() {
    ui.people.replaceChildren();
    for (const nick of [...s.users].sort((a, b) => a.localeCompare(b))) {
      const li = document.createElement("li");
      li.append(isolated("", nick), s.away.has(nick) ? " (away)" : "");
      if (nick === s.nick) li.className = "me-name";
      else if (s.away.has(nick)) li.className = "away";
      ui.people.append(li);
    }
  }

  function showRooms() {
    ui.rooms.replaceChildren();
    const names = s.roomList.length ? s.roomList : (s.room ? [{ name: s.room, count: s.users.length }] : []);
    for (const entry of names) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.room = entry.name;
      button.append(isolated("", entry.name), ` (${entry.count})`, ...(entry.topic ? [" — ", isolated("", entry.topic)] : []));
      button.setAttribute("aria-current", String(entry.name === s.room));
      button.addEventListener("click", () => { if (entry.name !== s.room) send({ type: "join", room: entry.name }); });
      li.append(button);
      ui.rooms.append(li);
    }
  }

  // ---- the connection ----
  function send(frame) {
    if (!s.ws || s.ws.readyState !== WebSocket.OPEN) return false;
    s.ws.send(JSON.stringify(frame));
    return true;
  }

  // The rooms for the side panel: the answer is not said in the log (a typed /rooms's is).
  function refreshRooms() {
    if (send({ type: "list" })) s.quietLists += 1;
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
    ws.addEventListener("open", () => {
      const hello = { type: "hello", version: PROTOCOL_VERSION, nick: s.nick, client: "lanchat-web" };
      if (s.password !== null) hello.password = s.password;
      if (s.token) hello.resume = s.token;
      if (s.room) {
        hello.room = s.room;
        if (s.epoch) hello.epoch = s.epoch;
        if (s.lastSeq[s.room] !== undefined) hello.last_seq = s.lastSeq[s.room];
      }
      ws.send(JSON.stringify(hello));
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
    ui.loginView.hidden = true;
    ui.chatView.hidden = false;
    ui.input.focus();
  }

  function sendHeld() {
    // Lines typed while away go out only in the room they were typed in.
    const still = [];
    for (const item of s.held) {
      if (item.room === s.room) {
        sendLine(item, true);
      } else {
        still.push(item);
      }
    }
    if (still.length) {
      system(`${still.length} line(s) typed for ${still[0].room} are held: you are in ${s.room}; /join ${still[0].room} to send them`);
    }
    s.held = still;
  }

  function receive(f) {
    switch (f.type) {
      case "welcome": {
        const first = !s.registered && !s.token;
        s.registered = true;
        s.retry = 0;
        s.nick = f.nick;
        s.token = f.token || s.token;
        if (s.room && f.room !== s.room) system(`you are in ${f.room}, not ${s.room}`);
        if (f.room !== s.room || f.epoch !== s.epoch) s.lastSeq[f.room] = s.lastSeq[f.room] ?? 0;
        s.room = f.room;
        s.epoch = f.epoch;
        s.users = f.users || [];
        s.away = new Set();
        ui.server.textContent = f.server || "LAN chat";
        setState("online", `online as ${s.nick}`);
        showChat();
        showWhere(f.topic);
        showPeople();
        system(first ? `Welcome to ${f.server}, ${f.nick}. You are in ${f.room}. Type /help for commands.`
                     : `back in ${f.room} as ${f.nick}`);
        if (f.more) system(`and ${f.more} more here`);
        refreshRooms();
        sendHeld();
        break;
      }
      case "message":
        if (f.room !== s.room) break;  // (a room being left: the page shows one room at a time)
        s.lastSeq[f.room] = Math.max(s.lastSeq[f.room] || 0, f.seq);
        showMessage(f);
        break;
      case "accepted": {
        const room = f.room || s.room;
        s.lastSeq[room] = Math.max(s.lastSeq[room] || 0, f.seq);
        if (typeof f.text === "string") { // a typed command made this message (/me, /say): shown now
          showMessage({ nick: s.nick, text: f.text, action: f.action === true, ts: f.ts });
          break;
        }
        const line = (s.pending[room] || []).shift();
        if (line) line.classList.remove("pending");
        break;
      }
      case "private": {
        const mine = f.nick === s.nick;
        addLine(["private"], [{ cls: "tag", text: mine ? `[private to ${f.to}]` : `[private from ${f.nick}]` }, " ",
          { cls: "text", text: f.text, mention: false }], f.ts);
        break;
      }
      case "notice": notice(f); break;
      case "users":
        if (f.room === s.room) {
          s.users = f.nicks || [];
          s.away = new Set(f.away || []);
          showPeople();
        }
        system(`here in ${f.room}: ${(f.nicks || []).join(", ")}` + (f.more ? ` and ${f.more} more` : ""));
        break;
      case "joined":
        // The server keeps every room joined; the page shows one: it leaves the one it was in.
        if (s.room && s.room !== f.room) send({ type: "part", room: s.room });
        s.room = f.room;
        s.epoch = f.epoch;
        s.lastSeq[f.room] = 0;
        s.users = f.users || [];
        s.away = new Set();
        showWhere(f.topic);
        showPeople();
        system(`now in ${f.room}` + (f.topic ? ` — ${f.topic}` : ""));
        refreshRooms();
        sendHeld();
        break;
      case "rooms":
        s.roomList = (f.names || []).map((name, i) => ({ name, count: (f.counts || [])[i] || 0, topic: (f.topics || [])[i] || "" }));
        showRooms();
        if (s.quietLists > 0) {
          s.quietLists -= 1;
        } else { // the answer to a typed /rooms
          system("rooms: " + s.roomList.map((r) => `${r.name} (${r.count})`).join(", ") + (f.more ? ` and ${f.more} more` : ""));
        }
        break;
      case "parted": s.room = f.focus; break;
      case "focused": s.room = f.room; showWhere(); break;
      case "token": s.token = f.token; break;
      case "reply": addLine([], [{ cls: "text", text: f.text, mention: false }], f.ts); break;
      case "ping": send({ type: "pong", token: f.token || "" }); break;
      case "bye":
        if (!s.shutdownSeen) {  // (after a shutdown notice: back soon, reconnecting)
          if (f.reason) system(`disconnected: ${f.reason}`);
          stop(f.reason ? `disconnected: ${f.reason}` : "disconnected");
        }
        break;
      case "error": error(f); break;
      default: break;
    }
  }

  function notice(f) {
    switch (f.event) {
      case "join":
        if (f.nick && !s.users.includes(f.nick)) s.users.push(f.nick);
        showPeople();
        break;
      case "leave":
        s.users = s.users.filter((n) => n !== f.nick);
        s.away.delete(f.nick);
        showPeople();
        break;
      case "nick":
        s.users = s.users.map((n) => (n === f.previous ? f.nick : n));
        if (f.previous === s.nick) {
          s.nick = f.nick;
          setState("online", `online as ${s.nick}`);
        }
        showPeople();
        break;
      case "topic":
        if (f.topic !== undefined && f.topic !== null) showWhere(f.topic);
        break;
      case "shutdown":
        s.shutdownSeen = true;
        setState("reconnecting", "server restarting…");
        break;
      case "ended":
        stop("the chat has ended");
        break;
      case "help": // the server's help (common/commands.py), its columns aligned with spaces
        addLine(["system", "help"], [{ pre: f.text }], f.ts);
        return;
      default: break;
    }
    const lines = String(f.text).split("\n");
    for (const text of lines) system(text, f.ts);
  }

  function error(f) {
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
  // pending until its "accepted".
  function messageText(line) {
    if (!line.startsWith("/")) return line;
    return line.startsWith("//") ? line.slice(1) : null;
  }

  function sendLine(item, fromHeld) {
    if (!s.registered || !send({ type: "line", text: item.text, room: item.room })) {
      if (!fromHeld) {
        s.held.push(item);
        system("not connected: this line is held and sent when you are back in " + item.room);
      }
      return;
    }
    const text = messageText(item.text);
    if (text !== null) {
      const line = addLine(["mine", "pending"], [{ cls: "nick", text: s.nick }, ": ", { cls: "text", text }]);
      (s.pending[item.room] ||= []).push(line);
    }
  }

  function submitInput() {
    const line = ui.input.value;
    ui.input.value = "";
    resizeInput();
    if (!line.trim()) return;
    const length = [...line].length; // (characters, as the server counts them)
    if (length > MAX_TEXT) {
      errorLine(`not sent: a line holds at most ${MAX_TEXT} characters, this one ${length}`);
      return;
    }
    sendLine({ text: line, room: s.room }, false);
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
  ui.compose.addEventListener("submit", (event) => { event.preventDefault(); submitInput(); ui.input.focus(); });
  ui.refreshRooms.addEventListener("click", refreshRooms);

  ui.login.addEventListener("submit", (event) => {
    event.preventDefault();
    const nick = ui.nick.value.trim();
    if (!nick) { ui.loginError.textContent = "Choose a nickname."; return; }
    if (!ui.passwordRow.hidden) s.password = ui.password.value;
    if (nick !== s.nick) s.token = null;
    s.nick = nick;
    s.ended = false;
    s.wantOnline = true;
    s.retry = 0;
    ui.loginError.textContent = "";
    if (s.ws) s.ws.close();
    connect();
  });

  if (location.protocol === "https:") ui.tlsNote.hidden = false;
  const wide = window.matchMedia("(min-width: 48rem)");
  ui.side.open = wide.matches;
  wide.addEventListener("change", () => { ui.side.open = wide.matches; });
  showLogin("", false);
})();
