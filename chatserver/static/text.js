// The chat page's text: what it shows of a peer's words (never HTML), names' colours, times and dates.
"use strict";

// As the terminal shows them (common/safetext.py): controls, bidi embeddings, overrides and
// isolates, and invisible format characters become a visible <U+XXXX>, so "file \u202egnp.exe"
// cannot pass for "file exe.png". Line breaks stay; their later lines are indented (chat.css).
const UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
export function shown(text) {
  return String(text).replace(UNSAFE, (ch) => {
    const code = ch.charCodeAt(0);
    if (code < 0x20) return "^" + String.fromCharCode(code + 0x40);
    if (code === 0x7f) return "^?";
    return `<U+${code.toString(16).toUpperCase().padStart(4, "0")}>`;
  });
}

// Peer text in its own bidi isolate (<bdi>, direction from its own first strong character):
// right-to-left text reads right, and cannot reorder the time, the name or the next part.
export function isolated(cls, text) {
  const bdi = document.createElement("bdi");
  bdi.className = cls;
  bdi.textContent = shown(text);
  return bdi;
}

// Times as the user's locale writes them (24-hour where it does: "14:05", else "02:05 PM"), the hour in
// two digits (German Chrome wrote "0:35" with "numeric" after midnight); a line found by /search or
// /history has its date too; a date divider starts each day of a log.
export const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
export const DATED = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
export const DAY = new Intl.DateTimeFormat(undefined, { weekday: "long", year: "numeric", month: "long", day: "numeric" });
export const when = (ts) => (ts ? new Date(ts * 1000) : new Date());
export const dayOf = (date) => `${date.getFullYear()}-${date.getMonth() + 1}-${date.getDate()}`;

// A colour per nickname, the terminal's (chatclient/render.py): CRC-32 of its UTF-8 bytes, of 12.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();
const encoder = new TextEncoder();
export function colourOf(nick) {
  let c = 0xffffffff;
  for (const byte of encoder.encode(nick)) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return ((c ^ 0xffffffff) >>> 0) % 12;
}

function mentionPattern(nick) {
  if (!nick) return null;
  const escaped = nick.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(?<![\\p{L}\\p{N}_])${escaped}(?![\\p{L}\\p{N}_])`, "giu");
}

export function mentions(text, nick) {
  const pattern = mentionPattern(nick);
  return pattern !== null && pattern.test(shown(text));
}

// Text with the own name in <mark>: a list of text nodes and marks, never parsed as HTML.
export function withMentions(raw, line, nick) {
  const text = shown(raw);
  const frag = document.createDocumentFragment();
  const pattern = mentionPattern(nick);
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

// The server's /help (or any text in columns aligned with spaces) as a table: a row per line,
// a cell per column (split where two spaces or more follow a word, the spaces kept in the cell),
// in a monospace block, so it reads as a table to a screen reader and looks as it does in a terminal.
// Its text is the server's, unchanged: the page knows no commands.
export function columns(text) {
  const pre = document.createElement("pre");
  pre.setAttribute("role", "table");
  pre.setAttribute("aria-label", "commands");
  text.split("\n").forEach((row, i) => {
    if (i) pre.append("\n");
    const tr = document.createElement("span");
    tr.setAttribute("role", "row");
    for (const cell of row.match(/\s*\S+(?:\s\S+)*\s*/g) || [row]) {
      const td = document.createElement("span");
      td.setAttribute("role", "cell");
      td.textContent = cell;
      tr.append(td);
    }
    pre.append(tr);
  });
  return pre;
}
