// The chat page's file sharing: the attach button, drag and drop, a pasted image, the upload's progress,
// and a shared file's line (a picture of a safe type shown inline, scaled; anything else a download link).
// Files travel over HTTP on this page's own address: the WebSocket asks for an upload token ("upload"),
// its answer ("upload_token") says where to PUT the bytes. Nothing received is ever rendered as HTML.
"use strict";

const INLINE = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]); // (never SVG)

export function sizeText(size) {
  if (size < 1000) return `${size} B`;
  let value = size;
  for (const unit of ["kB", "MB", "GB"]) {
    value /= 1000;
    if (value < 999.95) return `${value.toFixed(1)} ${unit}`;
  }
  return `${(value / 1000).toFixed(1)} TB`;
}

// The address of a shared file on this page's server (the message's link may name another address of it).
export function fileAddress(file) {
  return `/f/${encodeURIComponent(file.id)}/${encodeURIComponent(file.name)}`;
}

// A shared file's line: its text part replaced by "shared NAME (SIZE)" with a link, and a picture if safe.
export function showFile(line, file) {
  if (!line || !file || typeof file.id !== "string" || typeof file.name !== "string") return;
  const text = line.querySelector(".text");
  const holder = document.createElement("span");
  holder.className = "text shared-file";
  const link = document.createElement("a");
  link.href = fileAddress(file);
  link.textContent = file.name;
  link.setAttribute("download", file.name);
  link.rel = "noopener";
  holder.append("shared ", link, ` (${sizeText(Number(file.size) || 0)})`);
  if (INLINE.has(file.type)) {
    const img = document.createElement("img");
    img.className = "shared-image";
    img.src = fileAddress(file);
    img.alt = file.name;
    img.loading = "lazy";
    holder.append(document.createElement("br"), img);
  }
  if (text) text.replaceWith(holder);
  else line.append(holder);
}

// Uploads: ``send`` a frame over the WebSocket, ``target()`` where the file goes ({room} or {to}),
// ``say`` a line for the user.
export function setupFiles({ send, target, say }) {
  const $ = (id) => document.getElementById(id);
  const input = $("attach-input");
  const button = $("attach");
  const bar = $("upload-progress");
  const label = $("upload-label");
  const waiting = []; // files asked for, in order: {file}
  let busy = 0;
  let off = false; // the server takes no files (``GET /up`` is 404 there: --max-file-size 0)

  // Whether the server takes files at all: no attach button if it does not.
  fetch("/up", { cache: "no-store" })
    .then((answer) => {
      off = answer.status === 404;
      button.hidden = off;
    })
    .catch(() => { /* (the server says why not at the first upload) */ });

  function offer(file) {
    if (!file) return;
    if (off) {
      say("file sharing is off on this server");
      return;
    }
    const where = target();
    if (!where) return;
    const name = file.name || `pasted-${Date.now()}.${(file.type.split("/")[1] || "bin").replace(/[^a-z0-9]/g, "")}`;
    if (!send({ type: "upload", name, size: file.size, ...where })) {
      say("not connected: the file was not sent");
      return;
    }
    waiting.push({ file, name });
  }

  function progress(done, total, name) {
    bar.hidden = busy === 0;
    label.hidden = busy === 0;
    bar.max = total || 1;
    bar.value = done;
    label.textContent = busy ? `sending ${name}: ${Math.floor((100 * done) / (total || 1))}%` : "";
  }

  // The server's yes: PUT the bytes to the token's address (this page's own origin), with progress.
  function tokenArrived(f) {
    const index = waiting.findIndex((w) => w.name === f.name && w.file.size === f.size);
    const found = index >= 0 ? waiting.splice(index, 1)[0] : waiting.findIndex((w) => w.file.size === f.size) >= 0
      ? waiting.splice(waiting.findIndex((w) => w.file.size === f.size), 1)[0] : null;
    if (!found) return;
    const xhr = new XMLHttpRequest();
    busy += 1;
    xhr.upload.addEventListener("progress", (e) => progress(e.loaded, e.total, f.name));
    xhr.addEventListener("loadend", () => {
      busy -= 1;
      progress(0, 0, "");
      if (xhr.status !== 201) say(`${f.name} was not sent: ${xhr.responseText.trim() || "the connection failed"}`);
    });
    xhr.open("PUT", String(f.path));
    progress(0, f.size, f.name);
    xhr.send(found.file);
  }

  function refused() { // an error frame answering the oldest upload asked
    waiting.shift();
  }

  button.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    for (const file of input.files) offer(file);
    input.value = "";
  });
  const drop = $("chat-view");
  drop.addEventListener("dragover", (e) => {
    if (e.dataTransfer && [...e.dataTransfer.types].includes("Files")) {
      e.preventDefault();
      drop.classList.add("dropping");
    }
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("dropping"));
  drop.addEventListener("drop", (e) => {
    drop.classList.remove("dropping");
    if (!e.dataTransfer || !e.dataTransfer.files.length) return;
    e.preventDefault();
    for (const file of e.dataTransfer.files) offer(file);
  });
  $("input").addEventListener("paste", (e) => {
    const items = e.clipboardData ? [...e.clipboardData.items] : [];
    const images = items.filter((item) => item.kind === "file" && item.type.startsWith("image/"));
    if (!images.length) return; // (text is pasted as text)
    e.preventDefault();
    for (const item of images) offer(item.getAsFile());
  });
  return { tokenArrived, refused, offer };
}
