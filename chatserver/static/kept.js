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

// The kept session, checked: { nick, token, focus (or null), rooms: [{ name, epoch, read (or null) }] }, or null.
export function readKept() {
  let kept = null;
  try { kept = JSON.parse(localStorage.getItem(STORE) || "null"); } catch (e) { return null; }
  if (!kept || typeof kept.nick !== "string" || typeof kept.token !== "string" || !Array.isArray(kept.rooms)) return null;
  const rooms = kept.rooms.filter((r) => r && typeof r.name === "string").map((r) => ({
    name: r.name,
    epoch: typeof r.epoch === "string" ? r.epoch : "",
    read: Number.isSafeInteger(r.read) ? r.read : null,
  }));
  return { nick: kept.nick, token: kept.token, focus: typeof kept.focus === "string" ? kept.focus : null, rooms };
}

// ``url`` (another node's page) with the kept session in its fragment, which never leaves the browser.
export function carried(url) {
  let kept = null;
  try { kept = localStorage.getItem(STORE); } catch (e) { kept = null; }
  return url + (kept ? SESSION + encodeURIComponent(kept) : "");
}

// A session carried here (``carried``): into this page's storage, and out of the address.
export function adoptFromAddress() {
  if (!location.hash.startsWith(SESSION)) return;
  try { localStorage.setItem(STORE, decodeURIComponent(location.hash.slice(SESSION.length))); } catch (e) { /* (readKept checks it) */ }
  history.replaceState(null, "", location.pathname + location.search);
}
