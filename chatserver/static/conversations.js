// The chat page's kept private conversations (issue 23): the server's list of the accounts ours
// has conversations with (a "conversations" frame, answered by "conversation-list"), each put in
// the side panel's Private list, and its history read (/history @NICK) the first time it is opened.
"use strict";

// ``send(frame)``: true if sent; ``view(kind, name)``: a view, made if new; ``showLists()``: the panel.
export function setupConversations({ send, view, showLists }) {
  const listed = new Set(); // keys of the conversations the server listed
  const loaded = new Set(); // keys whose history was asked for

  return {
    // Logged in: which conversations are kept for us?
    ask() {
      send({ type: "conversations" });
    },

    // The server's list (most recent first): a view for each, shown in the panel.
    listed(f) {
      for (const name of Array.isArray(f.names) ? f.names : []) {
        if (typeof name !== "string" || !name) continue;
        listed.add(view("private", name).key);
      }
      showLists();
    },

    // ``v`` is opened: a listed conversation's history is asked for, once; its log is started afresh
    // (what it showed is in the history). True when asked: the answer's first and last lines are unsaid.
    opened(v) {
      if (v.kind !== "private" || !listed.has(v.key) || loaded.has(v.key)) return false;
      if (!send({ type: "history", nick: v.name, count: 200 })) return false;
      loaded.add(v.key);
      v.log.replaceChildren();
      return true;
    },

    // Logged out: nothing is listed any more.
    forget() {
      listed.clear();
      loaded.clear();
    },
  };
}
