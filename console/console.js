// The console page: wires the client library (../client/), the credentials, the thread
// and the debug panel to the elements of index.html. The session (how it connected,
// its tokens, the open conversation) survives a reload of the tab.

import { InputError, RealtimeChatClient } from "../client/realtime-chat-client.js";
import { loadSettings, saveSettings, tokenSource } from "./credentials.js";
import { clearSession, loadSession, saveSession } from "./session.js";
import { Thread } from "./thread.js";
import { maskTokens } from "./token.js";

const FRAMES_KEPT = 50;
const PINGS_KEPT = 10;
const TITLE_CHARS = 60; // the server's own title: the first message, up to 60 characters

const $ = (id) => document.getElementById(id);
const thread = new Thread($("messages"), { onFollowChange: (following) => ($("jump").hidden = following) });
const session = { mode: null, idToken: null, refreshToken: null, servedConfig: false };
let client = null;
// The open conversation: its id, and whether the server has it (a new one does not yet).
// lastMessage: the id of the user's last message in it (what Edit and versions name);
// editing: that id while the composer holds its text being edited.
const open = { id: null, stored: false, lastMessage: null, editing: null, model: null };

function remember() {
  saveSession({ ...session, conversationId: open.stored ? open.id : null });
}

// ------------------------------------------------------------------ connection
function connect(mode, { idToken = null, refreshToken = null, conversationId = null } = {}) {
  client?.close();
  client = null;
  saveSettings();
  Object.assign(session, { mode, idToken, refreshToken });
  openConversation(conversationId, null, { stored: Boolean(conversationId), load: false });
  $("conversations").replaceChildren();
  const url = $("ws-url").value.trim();
  if (!url) {
    notice("Enter the WebSocket URL first.", "error");
    return;
  }
  remember();
  try {
    client = new RealtimeChatClient({ url, getToken: tokenSource(session, { notice, saved: remember }) });
  } catch (err) {
    notice(err.message, "error");
    return;
  }
  client.on("state", ({ state }) => onState(state));
  client.on("open", onOpen);
  client.on("close", ({ error, retryInMs }) => {
    if (retryInMs === null) notice(error.message, "error");
    else notice(`${error.message} Reconnecting in ${(retryInMs / 1000).toFixed(1)} s…`, "warn");
  });
  client.on("error", (error) => {
    if (error.code === "SIGN_IN_FAILED") return; // the close notice said it
    if (error.code !== "TOKEN_EXPIRED") showError(error);
  });
  client.on("frame", ({ raw }) => logFrame("in", raw));
  client.on("sent", ({ raw }) => logFrame("out", raw));
  client.on("reply", onReply);
  client.on("reply_stop_requested", (f) => f.conversationId === open.id && thread.stopping(f.messageId));
  client.on("conversation_renamed", () => refreshConversations());
  client.on("conversation_deleted", (f) => {
    if (f.conversationId === open.id) openConversation(null, null);
    refreshConversations();
  });
  client.on("message_received", (f) => {
    if (f.conversationId !== open.id) return;
    open.stored = true;
    open.lastMessage = f.messageId || open.lastMessage;
    // Regenerated or edited (here or in another tab): the thread shows the turn anew.
    if (f.regenerated || f.edited) loadHistory(open.id);
    updateControls();
  });
  client.connect().catch(() => {}); // failures arrive as "close" and "error" events
}

function disconnect() {
  client?.close();
  client = null;
  clearSession();
  notice("Disconnected.", "info");
  $("debug-output").textContent = "Not connected.";
  $("debug-output").classList.add("muted");
  updateControls();
}

function onState(state) {
  const badge = $("badge");
  badge.dataset.state = state;
  if (state !== "open") badge.textContent = state === "connecting" ? "Connecting…" : "Offline";
  updateControls();
}

async function onOpen({ claims }) {
  const who = claims && (claims.email || claims["cognito:username"] || claims.sub);
  $("badge").textContent = claims ? `Real-time (signed in as ${who})` : "Real-time (anonymous)";
  notice("");
  clearError();
  if (window.matchMedia("(max-width: 1000px)").matches) togglePanel("connection", false);
  showDebugStatus();
  if (!claims) return;
  refreshConversations();
  showModels();
  if (open.id && open.stored) loadHistory(open.id);
}

async function showDebugStatus() {
  try {
    const status = await client.debugStatus();
    $("debug-output").classList.remove("muted");
    $("debug-output").textContent = JSON.stringify(status, null, 2);
  } catch (err) {
    showError(err);
  }
}

async function showModels() {
  try {
    const models = await client.listModels();
    const options = models.map((m) => new Option(m.label, m.id));
    $("model").replaceChildren(new Option("Default", ""), ...options);
    $("model-picker").hidden = !models.length;
    $("model").value = open.model || "";
  } catch (err) {
    if (err.code !== "CLOSED") showError(err);
  }
}

/** The chosen model for a turn: undefined keeps the conversation's own. */
function chosenModel() {
  return $("model").value || undefined;
}

// ------------------------------------------------------------------ conversations
async function refreshConversations() {
  if (!client) return;
  try {
    const page = await client.list({ limit: 50 });
    showConversations(page.conversations || []);
  } catch (err) {
    if (err.code !== "CLOSED") showError(err);
  }
}

function showConversations(list) {
  const items = list.map((c) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = c.title || c.conversationId;
    button.title = c.conversationId;
    button.dataset.conversationId = c.conversationId;
    if (c.conversationId === open.id) {
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

/** Shows a conversation; `load` asks for its history (not for one not stored yet). */
function openConversation(id, title, { stored = true, load = true } = {}) {
  open.id = id;
  open.stored = Boolean(id) && stored;
  open.lastMessage = null;
  open.model = null; // known from its history
  cancelEdit();
  $("model").value = "";
  $("versions").hidden = true;
  thread.clear();
  $("conversation-title").textContent = id ? title || "Loading…" : "New conversation";
  for (const item of $("conversations").querySelectorAll("li")) {
    const button = item.querySelector("button");
    item.toggleAttribute("aria-current", Boolean(button && button.dataset.conversationId === id));
  }
  if (client) remember();
  updateControls();
  if (id && load) loadHistory(id);
}

async function loadHistory(id) {
  try {
    const page = await client.history(id);
    if (open.id !== id) return; // another conversation was opened meanwhile
    thread.showHistory(page.messages || []);
    open.model = page.model || null; // the picker shows the model the conversation uses
    if ([...$("model").options].some((o) => o.value === (open.model || ""))) $("model").value = open.model || "";
    const mine = (page.messages || []).filter((m) => m.role === "user");
    if (mine.length) open.lastMessage = mine.at(-1).messageId;
    // Own messages still on their way (resent after a reconnect) stay in view.
    const shown = new Set((page.messages || []).map((m) => m.messageId));
    for (const turn of client.pendingTurns) {
      if (turn.conversationId === id && !shown.has(turn.messageId)) thread.addOwn(turn.clientMessageId, turn.message);
    }
    const current = $("conversations").querySelector(`li[aria-current] button`);
    if (current) $("conversation-title").textContent = current.textContent;
    else if ($("conversation-title").textContent === "Loading…") $("conversation-title").textContent = titleOf(page.messages);
  } catch (err) {
    if (open.id !== id) return;
    if (err.code === "NOT_FOUND") {
      // Deleted elsewhere, or the local stack restarted with empty tables: start afresh.
      openConversation(null, null);
      notice("That conversation is no longer on the server; this is a new one.", "info");
    } else if (err.code !== "CLOSED") {
      showError(err);
    }
  }
  updateControls();
}

function titleOf(messages = []) {
  const first = messages.find((m) => m.role === "user");
  return first ? first.content.slice(0, TITLE_CHARS) : "Conversation";
}

// ------------------------------------------------------------------ chat
function onReply(update) {
  if (update.conversationId !== open.id) {
    if (update.done) refreshConversations();
    return;
  }
  thread.update(update);
  if (update.done) refreshConversations();
  updateControls();
}

function sendMessage() {
  const box = $("message");
  const text = box.value;
  if (!text.trim()) return; // nothing to send: not an error
  if (!client || client.state !== "open") {
    showError({ code: "NOT_CONNECTED", message: "Not connected: connect first (your text is kept)." });
    return;
  }
  const conversationId = open.id || client.newId("console");
  const editing = open.editing;
  let turn;
  try {
    turn = editing
      ? client.edit(conversationId, editing, text, { model: chosenModel() })
      : client.send(text, { conversationId, model: chosenModel() });
  } catch (err) {
    showError(err); // refused before sending: the text box keeps every character
    if (err instanceof InputError) box.focus();
    return;
  }
  if (!open.id) {
    openConversation(conversationId, null, { stored: false, load: false });
    $("conversation-title").textContent = text.trim().slice(0, TITLE_CHARS);
  }
  if (editing) cancelEdit();
  else thread.addOwn(turn.clientMessageId, text);
  box.value = "";
  clearError();
  turn.received.then(
    () => {
      open.stored = open.stored || turn.conversationId === open.id;
      remember();
      thread.ownStatus(turn.clientMessageId, "complete");
      refreshConversations();
    },
    () => {},
  );
  turn.done.catch((err) => {
    if (turn.conversationId !== open.id) return;
    thread.ownStatus(turn.clientMessageId, turn.messageId ? "complete" : "error");
    if (err.code !== "CLOSED") showError(err); // CLOSED: the developer disconnected
    if (!turn.messageId && !box.value) box.value = text; // refused: the text comes back to edit
    updateControls();
  });
}

/** Answers the last message again; the thread shows the turn anew once acknowledged. */
function regenerate() {
  if (!client || !open.id || !open.stored) return;
  let turn;
  try {
    turn = client.regenerate(open.id, { model: chosenModel() });
  } catch (err) {
    showError(err);
    return;
  }
  clearError();
  turn.done.catch((err) => err.code !== "CLOSED" && showError(err));
}

/** Puts the last message's text in the composer; Send then saves it and answers it again. */
function editLast() {
  if (!open.lastMessage) return;
  const own = [...$("messages").querySelectorAll(".message.user .body")].at(-1);
  open.editing = open.lastMessage;
  $("message").value = own ? own.textContent : "";
  $("send").textContent = "Save and answer";
  $("cancel-edit").hidden = false;
  $("message").focus();
}

function cancelEdit() {
  open.editing = null;
  $("send").textContent = "Send";
  $("cancel-edit").hidden = true;
}

async function showVersions() {
  if (!client || !open.lastMessage) return;
  try {
    const { texts, answers } = await client.versions(open.id, open.lastMessage);
    const items = [
      ...texts.map((v) => [`your text v${v.version}`, v.content]),
      ...answers.map((v) => [`answer v${v.version}`, v.content]),
    ].map(([label, content]) => {
      const item = document.createElement("li");
      item.textContent = `${label}: ${content}`; // as text: never rendered as markup
      return item;
    });
    if (!items.length) items.push(Object.assign(document.createElement("li"), { textContent: "No earlier versions." }));
    $("versions").replaceChildren(...items);
    $("versions").hidden = false;
  } catch (err) {
    showError(err);
  }
}

function stopReply() {
  if (!client || !open.id || !thread.streaming) return;
  client.stop(open.id).catch((err) => showError(err));
}

function updateControls() {
  const online = Boolean(client && client.state === "open");
  $("send").disabled = !online;
  $("send").title = online ? "" : "Not connected";
  $("stop").hidden = !thread.streaming;
  // The last turn's buttons: once it is stored and its reply has ended.
  $("last-turn").hidden = !online || !open.stored || !open.lastMessage || thread.streaming;
}

// ------------------------------------------------------------------ messages to the user
function showError(error) {
  const parts = [`${error.code}: ${error.message}`];
  if (error.hint) parts.push(error.hint);
  if (error.requestId) parts.push(`(request ${error.requestId})`);
  $("chat-error").textContent = parts.join(" ");
  $("chat-error").dataset.code = error.code;
}

function clearError() {
  $("chat-error").textContent = "";
  delete $("chat-error").dataset.code;
}

/** A line under the connection form; kind: "info", "warn" or "error". */
function notice(text, kind = "info") {
  $("notice").textContent = text;
  $("notice").dataset.kind = kind;
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

async function ping() {
  if (!client) return showError({ code: "NOT_CONNECTED", message: "Not connected: connect first." });
  try {
    const { rttMs } = await client.ping();
    const item = document.createElement("li");
    item.textContent = `${rttMs.toFixed(1)} ms`;
    $("pings").prepend(item);
    while ($("pings").children.length > PINGS_KEPT) $("pings").lastElementChild.remove();
  } catch (err) {
    showError(err);
  }
}

// ------------------------------------------------------------------ layout
function togglePanel(name, show) {
  const panel = $(name);
  const visible = show ?? panel.hidden;
  panel.hidden = !visible;
  $(`toggle-${name}`).setAttribute("aria-expanded", String(visible));
}

// ------------------------------------------------------------------ wiring
function wire() {
  $("sign-in-form").addEventListener("submit", (e) => {
    e.preventDefault();
    connect("password");
  });
  $("use-token").addEventListener("click", () => {
    const token = $("token").value.trim();
    if (token) connect("token", { idToken: token });
    else notice("Paste a token first.", "error");
  });
  $("anonymous").addEventListener("click", () => connect("anonymous"));
  $("disconnect").addEventListener("click", disconnect);
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    sendMessage();
  });
  $("message").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sendMessage();
    }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && thread.streaming) {
      e.preventDefault();
      stopReply();
    }
  });
  $("stop").addEventListener("click", stopReply);
  $("regenerate").addEventListener("click", regenerate);
  $("edit-last").addEventListener("click", editLast);
  $("cancel-edit").addEventListener("click", cancelEdit);
  $("show-versions").addEventListener("click", showVersions);
  $("jump").addEventListener("click", () => thread.scrollToEnd());
  $("new-conversation").addEventListener("click", () => openConversation(null, null));
  $("refresh-conversations").addEventListener("click", refreshConversations);
  $("debug-status").addEventListener("click", () => (client ? showDebugStatus() : showError({ code: "NOT_CONNECTED", message: "Not connected: connect first." })));
  $("ping").addEventListener("click", ping);
  for (const name of ["connection", "debug"]) $(`toggle-${name}`).addEventListener("click", () => togglePanel(name));
}

wire();
updateControls();
session.servedConfig = await loadSettings();
const saved = loadSession();
if (saved) connect(saved.mode, saved); // a reload: carry on where the tab was
document.body.dataset.ready = "true";
