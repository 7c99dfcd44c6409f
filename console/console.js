// The console page: wires the connection, sign-in, chat thread and debug panel to
// the elements of index.html. Settings come from config.json when the page is
// served by the local stack (or placed beside it), else from what was typed last.

import { signIn, SignInError } from "./cognito.js";
import { Connection } from "./connection.js";
import { hintFor } from "./hints.js";
import { Thread } from "./thread.js";
import { maskTokens, tokenClaims } from "./token.js";

const FRAMES_KEPT = 50;
const PINGS_KEPT = 10;
const KEEPALIVE_MS = 5 * 60_000; // API Gateway closes a connection idle for 10 minutes
const SETTINGS = ["ws-url", "cognito-endpoint", "client-id", "username"];

const $ = (id) => document.getElementById(id);
const thread = new Thread($("messages"));
const session = { mode: null, token: null, servedConfig: false };
let connection = null;
let conversationId = null;
let pingsInFlight = [];
let keepalive = null;

// ------------------------------------------------------------------ settings
async function loadSettings() {
  const config = await readConfig();
  session.servedConfig = Boolean(config);
  if (config) {
    applyConfig(config);
  } else {
    for (const id of SETTINGS) $(id).value = localStorage.getItem(`console.${id}`) || "";
  }
}

async function readConfig() {
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

function applyConfig(config) {
  $("ws-url").value = config.websocketUrl || "";
  $("cognito-endpoint").value = config.cognitoEndpoint || "";
  $("client-id").value = config.userPoolClientId || "";
  if (config.demoUser && !$("username").value) {
    $("username").value = config.demoUser.username;
    $("password").value = config.demoUser.password;
  }
}

function saveSettings() {
  for (const id of SETTINGS) localStorage.setItem(`console.${id}`, $(id).value);
}

// ------------------------------------------------------------------ credentials
async function credentials({ fresh }) {
  if (session.mode === "anonymous") return null;
  if (session.mode === "token") {
    if (fresh) {
      throw new SignInError("The server refused the token (or it expired): sign in again, or paste a fresh one.");
    }
    return session.token;
  }
  const exp = session.token ? tokenClaims(session.token).exp : 0;
  if (!fresh && exp * 1000 > Date.now() + 60_000) return session.token;
  if (session.servedConfig) {
    // The local stack makes a new user pool each time it starts: take its new ids.
    const config = await readConfig();
    if (config) applyConfig(config);
  }
  notice(fresh ? "Signing in again…" : "Signing in…");
  const { idToken } = await signIn({
    endpoint: $("cognito-endpoint").value.trim(),
    clientId: $("client-id").value.trim(),
    username: $("username").value.trim(),
    password: $("password").value,
  });
  session.token = idToken;
  return idToken;
}

function connect(mode, token = null) {
  if (connection) connection.stop();
  saveSettings();
  session.mode = mode;
  session.token = token;
  // Another identity sees other conversations: start from an empty page.
  openConversation(null, null);
  $("conversations").replaceChildren();
  const url = $("ws-url").value.trim();
  if (!url) {
    notice("Enter the WebSocket URL first.");
    return;
  }
  connection = new Connection({ url, credentials });
  connection.addEventListener("state", (e) => onState(e.detail));
  connection.addEventListener("frame", (e) => onFrame(e.detail.frame, e.detail.raw));
  connection.addEventListener("sent", (e) => logFrame("out", e.detail.raw));
  connection.addEventListener("closed", (e) => {
    const { explanation, retryInMs } = e.detail;
    notice(retryInMs === null ? explanation : `${explanation} Reconnecting in ${(retryInMs / 1000).toFixed(1)} s…`);
  });
  connection.start();
}

// ------------------------------------------------------------------ connection state
function onState({ state, token }) {
  const badge = $("badge");
  badge.dataset.state = state;
  clearInterval(keepalive);
  if (state === "open") {
    const claims = token ? tokenClaims(token) : null;
    const who = claims && (claims.email || claims["cognito:username"] || claims.sub);
    badge.textContent = claims ? `Real-time (signed in as ${who})` : "Real-time (anonymous)";
    notice("");
    keepalive = setInterval(ping, KEEPALIVE_MS);
    send({ action: "debug_status" });
    if (claims) {
      send({ action: "list_conversations", data: { limit: 50 } });
      if (conversationId) send({ action: "chat_history", data: { conversationId } });
    }
  } else {
    badge.textContent = state === "connecting" ? "Connecting…" : "Offline";
    pingsInFlight = [];
  }
}

function send(frame) {
  if (connection && connection.send(frame)) return true;
  showError({ code: "NOT_CONNECTED", message: "Not connected: connect first." });
  return false;
}

// ------------------------------------------------------------------ frames in
const HANDLERS = {
  pong: () => {
    const sent = pingsInFlight.shift();
    if (sent !== undefined) recordPing(performance.now() - sent);
  },
  debug_status: (f) => {
    $("debug-output").classList.remove("muted");
    $("debug-output").textContent = JSON.stringify(f, null, 2);
  },
  conversations: (f) => showConversations(f.conversations || []),
  chat_history: (f) => {
    if (f.conversationId === conversationId) thread.showHistory(f.messages || []);
  },
  message_received: (f) => {
    if (f.conversationId === conversationId) thread.received(f.clientMessageId);
  },
  ai_response_chunk: (f) => f.conversationId === conversationId && thread.chunk(f),
  ai_response_snapshot: (f) => f.conversationId === conversationId && thread.snapshot(f),
  ai_response: (f) => {
    if (f.conversationId === conversationId) thread.final(f);
    send({ action: "list_conversations", data: { limit: 50 } });
  },
  reply_stop_requested: (f) => f.conversationId === conversationId && thread.stopping(f.messageId),
  conversation_renamed: () => send({ action: "list_conversations", data: { limit: 50 } }),
  conversation_deleted: (f) => {
    if (f.conversationId === conversationId) openConversation(null, null);
    send({ action: "list_conversations", data: { limit: 50 } });
  },
  error: (f) => {
    if (f.clientMessageId) thread.refused(f.clientMessageId);
    showError(f);
  },
};

function onFrame(frame, raw) {
  logFrame("in", raw);
  const handle = HANDLERS[frame.type];
  if (handle) handle(frame);
  else if (!frame.type && frame.message) {
    // API Gateway's own frames: {"message": "Internal server error", ...}
    showError({ code: "GATEWAY", message: frame.message, requestId: frame.requestId });
  }
  $("stop").hidden = !thread.streaming;
}

// ------------------------------------------------------------------ chat
function showConversations(list) {
  const items = list.map((c) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = c.title || c.conversationId;
    button.title = c.conversationId;
    if (c.conversationId === conversationId) {
      item.setAttribute("aria-current", "true");
      if (c.title) $("conversation-title").textContent = c.title;
    }
    button.addEventListener("click", () => openConversation(c.conversationId, c.title));
    item.append(button);
    return item;
  });
  if (!items.length) {
    const empty = document.createElement("li");
    empty.className = "muted";
    empty.textContent = "No conversations yet.";
    items.push(empty);
  }
  $("conversations").replaceChildren(...items);
}

/** Shows a conversation; `load` asks for its history (not for one we are creating). */
function openConversation(id, title, { load = true } = {}) {
  conversationId = id;
  thread.clear();
  $("conversation-title").textContent = id ? title || id : "New conversation";
  $("stop").hidden = true;
  for (const item of $("conversations").querySelectorAll("li")) {
    const button = item.querySelector("button");
    item.toggleAttribute("aria-current", Boolean(button && button.title === id));
  }
  if (id && load) send({ action: "chat_history", data: { conversationId: id } });
}

function newId(prefix) {
  const random = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
  return `${prefix}_${Date.now()}_${random}`;
}

function sendMessage() {
  const text = $("message").value;
  if (!text.trim()) return;
  const id = conversationId || newId("console");
  const clientMessageId = newId("m");
  const sent = send({ action: "chat_message", data: { conversationId: id, message: text, clientMessageId } });
  if (!sent) return;
  if (!conversationId) openConversation(id, null, { load: false });
  thread.addOwn(clientMessageId, text);
  $("message").value = "";
  $("chat-error").textContent = "";
}

function showError(frame) {
  const hint = hintFor(frame);
  const parts = [`${frame.code}: ${frame.message}`];
  if (hint) parts.push(hint);
  if (frame.requestId) parts.push(`(request ${frame.requestId})`);
  $("chat-error").textContent = parts.join(" ");
  $("chat-error").dataset.code = frame.code;
}

// ------------------------------------------------------------------ debug
function logFrame(direction, raw) {
  const item = document.createElement("li");
  item.className = direction;
  const time = new Date().toISOString().slice(11, 23);
  item.textContent = `${time} ${direction === "in" ? "←" : "→"} ${maskTokens(raw)}`;
  $("frames").prepend(item);
  while ($("frames").children.length > FRAMES_KEPT) $("frames").lastElementChild.remove();
}

function ping() {
  if (send({ action: "ping" })) pingsInFlight.push(performance.now());
}

function recordPing(ms) {
  const item = document.createElement("li");
  item.textContent = `${ms.toFixed(1)} ms`;
  $("pings").prepend(item);
  while ($("pings").children.length > PINGS_KEPT) $("pings").lastElementChild.remove();
}

function notice(text) {
  $("notice").textContent = text;
}

// ------------------------------------------------------------------ wiring
function wire() {
  $("sign-in-form").addEventListener("submit", (e) => {
    e.preventDefault();
    connect("password");
  });
  $("use-token").addEventListener("click", () => {
    const token = $("token").value.trim();
    if (token) connect("token", token);
    else notice("Paste a token first.");
  });
  $("anonymous").addEventListener("click", () => connect("anonymous"));
  $("disconnect").addEventListener("click", () => {
    if (connection) connection.stop();
    notice("Disconnected.");
  });
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    sendMessage();
  });
  $("message").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      sendMessage();
    }
  });
  $("stop").addEventListener("click", () => {
    if (conversationId) send({ action: "stop_reply", data: { conversationId } });
  });
  $("new-conversation").addEventListener("click", () => openConversation(null, null));
  $("refresh-conversations").addEventListener("click", () =>
    send({ action: "list_conversations", data: { limit: 50 } }),
  );
  $("debug-status").addEventListener("click", () => send({ action: "debug_status" }));
  $("ping").addEventListener("click", ping);
}

wire();
await loadSettings();
document.body.dataset.ready = "true";
