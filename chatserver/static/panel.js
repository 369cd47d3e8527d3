// The chat page's side panel: its lists of rooms and conversations, each entry with its counts.
"use strict";

import { isolated } from "/text.js";

// One entry of the side panel: the name, its unread count and a mention marker. ``sig`` says
// all it shows: a list is drawn anew only when one of its entries changed (a button being
// used keeps its focus).
export function entry({ key, label, detail = "", topic = "", unread = 0, mention = false, current = false, onClick }) {
  const make = () => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.key = key;
    button.append(isolated("name", label));
    if (detail) button.append(" ", detail);
    if (topic) button.append(" — ", isolated("topic", topic));
    if (unread) {
      const badge = document.createElement("span");
      badge.className = "unread";
      badge.textContent = String(unread);
      badge.setAttribute("aria-label", `${unread} unread`);
      button.append(" ", badge);
    }
    if (mention) {
      const mark = document.createElement("span");
      mark.className = "mentioned";
      mark.textContent = "!";
      mark.setAttribute("aria-label", "you were mentioned");
      button.append(mark);
    }
    button.setAttribute("aria-current", String(current));
    button.addEventListener("click", onClick);
    li.append(button);
    return li;
  };
  return { sig: [key, label, detail, topic, unread, mention, current], make };
}

export function fill(list, entries) {
  const sig = JSON.stringify(entries.map((e) => e.sig));
  if (list.dataset.sig === sig) return;
  const active = document.activeElement;
  const focused = active && list.contains(active) ? active.dataset.key : null;
  list.replaceChildren(...entries.map((e) => e.make()));
  list.dataset.sig = sig;
  const again = focused && [...list.querySelectorAll("button")].find((b) => b.dataset.key === focused);
  if (again) again.focus();
}
