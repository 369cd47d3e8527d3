// The chat page's lasting session in the browser's storage: name, resume token, rooms, what was read.
// Never the password. What is read back is checked as any input is: only what has the right type is used.
"use strict";

const STORE = "lanchat.session";
const SESSION = "#session=";

export function keep(session) {
  try {
    localStorage.setItem(STORE, JSON.stringify(session));
  } catch (e) { /* (storage full or refused: the session lasts as long as the page) */ }
}

export function forgetKept() {
  try { localStorage.removeItem(STORE); } catch (e) { /* (nothing kept) */ }
}

// A session as kept, checked: { nick, token, focus (or null), rooms: [{ name, epoch, read (or null) }] }, or null.
function checked(raw) {
  let kept = null;
  try { kept = JSON.parse(raw || "null"); } catch (e) { return null; }
  if (!kept || typeof kept.nick !== "string" || typeof kept.token !== "string" || !Array.isArray(kept.rooms)) return null;
  const rooms = kept.rooms.filter((r) => r && typeof r.name === "string").map((r) => ({
    name: r.name,
    epoch: typeof r.epoch === "string" ? r.epoch : "",
    read: Number.isSafeInteger(r.read) ? r.read : null,
  }));
  return { nick: kept.nick, token: kept.token, focus: typeof kept.focus === "string" ? kept.focus : null, rooms };
}

// The kept session, checked (``checked``), or null.
export function readKept() {
  let raw = null;
  try { raw = localStorage.getItem(STORE); } catch (e) { return null; }
  return checked(raw);
}

// ``url`` (another node's page) with the kept session in its fragment, which never leaves the browser.
export function carried(url) {
  let kept = null;
  try { kept = localStorage.getItem(STORE); } catch (e) { kept = null; }
  return url + (kept ? SESSION + encodeURIComponent(kept) : "");
}

// A session carried here (``carried``), checked, and taken out of the address; null if none.
// It is not kept yet: only a page of this cluster may hand one over (``adopt``), since anyone can
// write a link that carries a session, theirs, to sign a visitor in under it.
export function takeFromAddress() {
  if (!location.hash.startsWith(SESSION)) return null;
  let raw = null;
  try { raw = decodeURIComponent(location.hash.slice(SESSION.length)); } catch (e) { raw = null; }
  history.replaceState(null, "", location.pathname + location.search);
  return checked(raw);
}

// A carried session handed over by another node of this cluster: kept, as if made here.
export function adopt(session) {
  keep(session);
}
