// The web chat page (webchat.html). A file of its own, not inline, so that the page's
// Content-Security-Policy (bot/channels/web_security.py) allows only scripts of the gateway.
//
// Direct replies come back in the response to the message's POST; everything else for
// the chat (reminders, an answer that took longer than the request waited) arrives on
// the event stream, GET api/webchat/events (bot/channels/webchat.py).
"use strict";
const log = document.getElementById("log");
const input = document.getElementById("text");

// Waits before sending a message again after a network error (then the error is shown).
const RETRY_DELAYS_MS = [500, 1500];
// The ids of the stream's events this tab has shown, newest last. sessionStorage is per
// tab and survives a reload: after one, the stream starts after the newest of them, and
// an event sent again (a reconnect, another tab's) is not shown twice.
const SEEN_KEY = "webchat-seen:" + location.pathname;
const SEEN_MAX = 200;
let seen = loadSeen();
let stream = null;

function loadSeen() {
  try {
    const ids = JSON.parse(sessionStorage.getItem(SEEN_KEY) || "[]");
    return Array.isArray(ids) ? ids.filter(Number.isSafeInteger) : [];
  } catch (e) {
    return [];  // storage disabled or garbled: start afresh
  }
}

function remember(id) {
  seen.push(id);
  if (seen.length > SEEN_MAX) seen = seen.slice(-SEEN_MAX);
  try {
    sessionStorage.setItem(SEEN_KEY, JSON.stringify(seen));
  } catch (e) { /* storage disabled or full: this tab still remembers in memory */ }
}

function addUser(text, kind) {
  const el = document.createElement("div");
  el.className = "msg user" + (kind ? " " + kind : "");
  el.dir = "auto";
  el.textContent = text;  // the user's own text is never interpreted as HTML
  log.appendChild(el);
  el.scrollIntoView({block: "end"});
}

function addBot(reply) {
  const el = document.createElement("div");
  el.className = "msg bot";
  el.lang = reply.language;
  el.dir = reply.dir;
  const body = document.createElement("div");
  body.innerHTML = reply.html;  // escaped and rendered by the server (bot/answers/render.py)
  el.appendChild(body);
  if (reply.buttons && reply.buttons.length) {
    const row = document.createElement("div");
    row.className = "buttons";
    for (const b of reply.buttons) {
      const btn = document.createElement("button");
      btn.type = "button";
      btn.textContent = b.title;
      btn.addEventListener("click", () => send(b.payload, b.title));
      row.appendChild(btn);
    }
    el.appendChild(row);
  }
  log.appendChild(el);
  el.scrollIntoView({block: "end"});
  return el;
}

function addNotice(text) {
  const el = document.createElement("div");
  el.className = "msg bot notice";
  el.textContent = text;
  log.appendChild(el);
  el.scrollIntoView({block: "end"});
}

function messageId() {
  // randomUUID exists only in secure contexts (https, localhost); getRandomValues everywhere.
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function post(body) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetch("api/webchat/messages", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: body,
      });
    } catch (e) {
      // A network error: the message may have been stored, even answered, before the
      // connection broke. The same body (the same id) again gets that answer, never a
      // second one.
      if (attempt >= RETRY_DELAYS_MS.length) throw e;
      await sleep(RETRY_DELAYS_MS[attempt]);
    }
  }
}

// The session first: a first message sent again after a network error must carry the
// session it was stored under, or it would be a new chat's message, answered twice.
const session = fetch("api/webchat/session", {
  method: "POST",
  headers: {"Content-Type": "application/json"},
  body: "{}",
}).catch(() => null);

// The log is aria-busy while a message of this page waits for its answer: screen readers
// wait for the answer before reading the region, and so can a test.
let inFlight = 0;
function busy(delta) {
  inFlight += delta;
  log.setAttribute("aria-busy", inFlight > 0 ? "true" : "false");
}

async function send(text, shown) {
  busy(+1);
  try {
    await sendNow(text, shown);
  } finally {
    busy(-1);
  }
}

async function sendNow(text, shown) {
  addUser(shown === undefined ? text : shown);
  await session;
  const typing = document.createElement("div");
  typing.className = "msg bot typing";
  typing.textContent = "…";
  log.appendChild(typing);
  const body = JSON.stringify({id: messageId(), text: text, button: shown !== undefined});
  let resp, data;
  try {
    resp = await post(body);
    data = await resp.json();
  } catch (e) {
    typing.remove();
    addNotice("⚠ Network error");
    return;
  }
  typing.remove();
  // With "pending", the only reply is a notice: the answer comes on the event stream.
  for (const r of data.replies || []) addBot(r);
  if (!resp.ok && data.error) addNotice(data.error);
  // The first message made the session cookie (httpOnly: the page cannot tell), and a
  // stream opened without one was answered 204 and closed: open it now.
  if (resp.ok) {
    chatSince = performance.now();
    openStream();
  }
}

// Photos and documents for a complaint: one request per file, raw bytes, each with its
// own id like a message (sent again after a network error, it is kept once).
async function upload(file) {
  addUser(file.name, "file");  // the user's own bubble: the name of what they sent
  await session;
  const typing = document.createElement("div");
  typing.className = "msg bot typing";
  typing.textContent = "…";
  log.appendChild(typing);
  const id = messageId();
  let resp, data;
  for (let attempt = 0; ; attempt++) {
    try {
      resp = await fetch("api/webchat/upload", {
        method: "POST",
        headers: {
          "Content-Type": "application/octet-stream",
          "X-Message-Id": id,
          "X-File-Name": encodeURIComponent(file.name),
        },
        body: file,
      });
      data = await resp.json();
      break;
    } catch (e) {
      if (attempt >= RETRY_DELAYS_MS.length) {
        typing.remove();
        addNotice("⚠ Network error");
        return;
      }
      await sleep(RETRY_DELAYS_MS[attempt]);
    }
  }
  typing.remove();
  for (const r of data.replies || []) addBot(r);
  if (!resp.ok && data.error) addNotice(data.error);
}

const fileInput = document.getElementById("file");
document.getElementById("attach").addEventListener("click", () => fileInput.click());
fileInput.addEventListener("change", async () => {
  const files = Array.from(fileInput.files || []);
  fileInput.value = "";
  for (const file of files) await upload(file);  // in order, one at a time
});

// When the current stream was opened, and when a message last went through (from then on
// the session cookie exists).
let streamBorn = 0;
let chatSince = -1;

function openStream() {
  if (!window.EventSource || (stream && stream.readyState !== EventSource.CLOSED)) return;
  // A reconnect of this EventSource sends Last-Event-ID by itself; "after" is for a new one.
  const after = seen.length ? Math.max(...seen) : 0;
  stream = new EventSource("api/webchat/events" + (after ? "?after=" + after : ""));
  streamBorn = performance.now();
  stream.onerror = () => {
    // Opened at page load without a chat, the stream is answered 204 and closed. When
    // the first message's answer came before that 204, openStream() above found the
    // stream still connecting and did nothing: open it again now, with the session.
    if (stream.readyState === EventSource.CLOSED && chatSince >= streamBorn) {
      setTimeout(openStream, 0);
    }
  };
  stream.onmessage = (ev) => {
    const id = Number(ev.lastEventId);
    // Shown already: sent again after a reconnect, or because marking it delivered was
    // cut short when the page went away.
    if (seen.includes(id)) return;
    let reply;
    try {
      reply = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    remember(id);
    const el = addBot(reply);
    el.dataset.eventId = String(id);
    el.dataset.kind = reply.kind;
  };
}

document.getElementById("form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = input.value;
  input.value = "";
  send(text);
});
input.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); document.getElementById("send").click(); }
});
// With the session, the stream: what arrived for this chat while the page was closed.
session.then(openStream);
