// The chat page's account: the login form's account part, and the login token kept in the browser's
// storage (never the password), sent at hello so a later visit is logged in by itself. "Leave",
// /logout and a token the server refuses forget it. What is read back is checked as any input is.
"use strict";

const STORE = "lanchat.login";

// The login kept: { account, token }, or null.
export function keptLogin() {
  let kept = null;
  try { kept = JSON.parse(localStorage.getItem(STORE) || "null"); } catch (e) { return null; }
  if (!kept || typeof kept.account !== "string" || typeof kept.token !== "string" || !kept.token) return null;
  return { account: kept.account, token: kept.token };
}

function keepLogin(account, token) {
  try {
    localStorage.setItem(STORE, JSON.stringify({ account, token }));
  } catch (e) { /* (storage full or refused: logged in for as long as the page lasts) */ }
}

export function forgetLogin() {
  try { localStorage.removeItem(STORE); } catch (e) { /* (nothing kept) */ }
}

const same = (a, b) => String(a).normalize("NFKC").toLowerCase() === String(b).normalize("NFKC").toLowerCase();

// The account part of the login form and what the server's account frames do.
// ``form``: { password (the account password field), register (the "new account" checkbox) };
// ``send(frame)``: to the server once welcomed; ``say(text)``: a line in the log.
export function setupAccount({ form, send, say }) {
  let pending = null; // what the next welcome is followed by: { register: password } (a new account)
  let sentToken = null; // the kept token a hello carried, until the server takes it or refuses it
  let account = null; // the account we are logged in to: held here only (markers.js asks)

  return {
    // The account we are logged in to, or null (a guest).
    account() { return account; },

    // The hello's account fields for ``nick``: the kept token (its account's name asked for), or
    // the account's password typed in the form (not kept: sent once, then the field is emptied).
    hello(nick) {
      const fields = {};
      const kept = keptLogin();
      const typed = form.password.value;
      if (typed && !form.register.checked) {
        fields.account_password = typed;
      } else if (kept && same(kept.account, nick)) {
        fields.login_token = kept.token;
        sentToken = kept.token;
      }
      pending = typed && form.register.checked ? { register: typed } : null;
      form.password.value = "";
      return fields;
    },

    welcomed() {
      if (pending && pending.register) send({ type: "register", password: pending.register });
      pending = null;
    },

    loggedIn(f) {
      const automatic = sentToken !== null && sentToken === f.token;
      sentToken = null;
      account = String(f.account);
      keepLogin(account, String(f.token));
      form.register.checked = false;
      say(automatic ? `logged in as ${account} (remembered in this browser; Leave or /logout forgets it)`
                    : `${f.registered ? "account registered; " : ""}logged in as ${account}: this browser stays logged in (Leave or /logout forgets it)`);
    },

    loggedOut(f) {
      account = null;
      sentToken = null;
      forgetLogin();
      const why = { unregistered: "the account is deleted", dropped: "an operator deleted the account" }[f.reason]
        || "this browser's login is forgotten";
      say(`logged out of ${f.account}${f.all ? " on every device" : ""}: ${why}; you go on as a guest`);
    },

    // A login refused (``bad_login``): true if it was the kept token (forgotten now, and said).
    refused(f) {
      if (sentToken === null) return false;
      const kept = keptLogin();
      sentToken = null;
      account = null; // (a reconnect's hello carried it: the server took us back as a guest)
      forgetLogin();
      say(`the remembered login${kept ? ` for ${kept.account}` : ""} was refused (${f.message}): forgotten; you are a guest`);
      return true;
    },

    // "Leave" and /logout: the token is revoked on the server (when connected) and forgotten here.
    forget(connected) {
      if (connected && (account || keptLogin())) send({ type: "logout" });
      account = null;
      sentToken = null;
      forgetLogin();
    },
  };
}
