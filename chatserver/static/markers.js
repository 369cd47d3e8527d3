// The chat page's shared read markers (issue 23): logged in to an account, how far the person has
// seen a room or a private conversation is told to the server ("markread" {target, ts}), which tells
// the account's other devices; another device's marker takes what it read off the page's unread counts.
"use strict";

const EVERY = 1000; // ms: one marker a second at most a target (a busy room costs a frame a second)

// ``account()``: the account we are logged in to, or null (account.js holds it: markers are kept for
// accounts only); ``send(frame)``: true if sent; ``shown(v)``: is ``v`` on screen, the page looked at;
// ``find(target)``: the view a marker's target names (a room, or "@ACCOUNT"), or null; ``cleared(v)``: its count went.
export function setupMarkers({ account, send, shown, find, cleared, now = () => Date.now() }) {
  const newest = new Map(); // view key -> time of its newest message (the server's, in seconds)
  const accounts = new Map(); // a private view's key -> the account of whom we talk with there
  const sent = new Map(); // view key -> { target, ts: how far it is marked, at: when last sent, timer, v }

  // The marker's target for ``v``: a room's name; a conversation's "@ACCOUNT" (a guest's has none).
  const targetOf = (v) => (v.kind === "room" ? v.name : accounts.has(v.key) ? `@${accounts.get(v.key)}` : null);

  function mark(m) {
    m.timer = null;
    const ts = newest.get(m.v.key);
    if (!account() || ts === undefined || ts <= m.ts) return;
    const wait = m.at + EVERY - now();
    if (wait > 0) {
      m.timer = setTimeout(() => mark(m), wait); // (the last one of a busy second, a little later)
      return;
    }
    if (send({ type: "markread", target: m.target, ts })) {
      m.ts = ts;
      m.at = now();
    }
  }

  return {
    // A message of ``f`` (a "message" or "private" frame) is in ``v``.
    arrived(v, f) {
      if (typeof f.ts === "number") newest.set(v.key, Math.max(newest.get(v.key) || 0, f.ts));
      if (v.kind === "private" && typeof f.account === "string" && f.account && f.account !== account()) {
        accounts.set(v.key, f.account);
      }
    },

    // ``v``'s newest message may have been seen: if it is shown and the page looked at, marked read.
    read(v) {
      const target = targetOf(v);
      if (!account() || !target || !shown(v)) return;
      const m = sent.get(v.key) || { ts: 0, at: -Infinity, timer: null };
      sent.set(v.key, Object.assign(m, { target, v }));
      if (!m.timer) mark(m);
    },

    // Another device's marker (or, after a login, each kept one): read there, so read here too.
    received(f) {
      if (typeof f.target !== "string" || typeof f.ts !== "number") return;
      const v = find(f.target);
      if (!v) return;
      const m = sent.get(v.key) || { target: f.target, ts: 0, at: -Infinity, timer: null, v };
      sent.set(v.key, m);
      m.ts = Math.max(m.ts, f.ts);
      const ts = newest.get(v.key);
      if (ts !== undefined && ts <= f.ts && (v.unread || v.mention)) cleared(v);
    },
  };
}
