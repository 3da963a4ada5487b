// The web chat page (webchat.html). A file of its own, not inline, so that the page's
// Content-Security-Policy (bot/channels/web_security.py) allows only scripts of the gateway.
"use strict";
const log = document.getElementById("log");
const input = document.getElementById("text");

function addUser(text) {
  const el = document.createElement("div");
  el.className = "msg user";
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
  body.innerHTML = reply.html;  // escaped and rendered by the server (bot/render.py)
  el.appendChild(body);
  if (reply.buttons.length) {
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
}

async function send(text, shown) {
  addUser(shown === undefined ? text : shown);
  const typing = document.createElement("div");
  typing.className = "msg bot typing";
  typing.textContent = "…";
  log.appendChild(typing);
  try {
    const resp = await fetch("api/webchat/messages", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({text: text, button: shown !== undefined}),
    });
    const data = await resp.json();
    typing.remove();
    for (const r of data.replies || []) addBot(r);
    if (!resp.ok && data.error) addBot({html: data.error, language: "en", dir: "ltr", buttons: []});
  } catch (e) {
    typing.remove();
    addBot({html: "⚠ Network error", language: "en", dir: "ltr", buttons: []});
  }
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
