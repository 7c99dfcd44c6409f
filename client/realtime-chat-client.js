// A client for the realtime chat backend (docs/protocol.md) that browser apps and
// Node >= 22 import as it is: one WebSocket that stays up (backoff with jitter, signing
// in again through getToken on a refused handshake or an expired token), turns that
// are resent with the same clientMessageId after a reconnect, replies put in `seq`
// order, requests matched to their answers, and typed errors. No dependencies.

import { AuthError, ConnectionError, InputError, ServerError, explainClose } from "./chat-errors.js";
import { LIMITS, checkFrame, checkId, checkMessage } from "./checks.js";
import { ReplyStore } from "./reply-store.js";
import { BACKOFF, backoffDelay, renewalDelay, tokenClaims } from "./timing.js";
import { Turn } from "./turn.js";

export * from "./chat-errors.js";
export { LIMITS, checkFrame, checkMessage, frameBytes } from "./checks.js";
export { ReplyStore } from "./reply-store.js";
export { BACKOFF, backoffDelay, tokenClaims } from "./timing.js";
export { Turn } from "./turn.js";

const REPLY_FRAMES = new Set(["ai_response_chunk", "ai_response_snapshot", "ai_response"]);
// The frame that answers each request, and whether it names the conversation.
const ANSWERS = {
  ping: ["pong", false],
  debug_status: ["debug_status", false],
  chat_history: ["chat_history", true],
  list_conversations: ["conversations", false],
  rename_conversation: ["conversation_renamed", true],
  delete_conversation: ["conversation_deleted", true],
  stop_reply: ["reply_stop_requested", true],
  chat_typing: ["typing_acknowledged", true],
  user_status: ["status_updated", false],
  subscribe_notifications: ["notifications_subscribed", false],
};
const SYSTEM_CLOCK = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
};

/**
 * Events (`on(name, listener)` returns a function that removes the listener):
 * - "state" {state, attempt}: "idle" | "connecting" | "open" | "closed"
 * - "open" {token, claims, reconnected}
 * - "close" {code, reason, opened, error, retryInMs}: retryInMs null when it gives up
 * - "reply": an update of ReplyStore (snapshots and chunks in order, one final per reply)
 * - "error": a ChatClientError no turn or request was waiting for
 * - "frame" {frame, raw} for every frame in, "sent" {frame, raw} for every frame out
 * - any other frame type under its own name: "message_received", "conversation_renamed",
 *   "conversation_deleted", "user_typing", "user_status_change", …
 */
export class RealtimeChatClient {
  #listeners = new Map();
  #replies = new ReplyStore();
  #turns = new Map(); // clientMessageId -> Turn not yet finished
  #requests = []; // {action, data, answer, conversationId, resolve, reject, timer, sentOn}
  #ws = null;
  #opened = false;
  #token = null;
  #attempt = 0;
  #timers = new Set();
  #lastSent = null; // the turn or request whose frame went out last
  #everOpened = false;
  #firstOpen = null;
  #ids = 0;
  #generation = 0; // each attempt to open; a newer one makes an older one moot

  /**
   * @param {object} options see realtime-chat-client.d.ts
   */
  constructor({
    url,
    getToken = async () => null,
    WebSocket: Socket = globalThis.WebSocket,
    clock = SYSTEM_CLOCK,
    random = Math.random,
    backoff = BACKOFF,
    limits = LIMITS,
    renewBeforeExpiryMs = 30_000,
    requestTimeoutMs = 30_000,
    keepaliveMs = 5 * 60_000,
  } = {}) {
    if (!url) throw new InputError("A WebSocket url is required.", { code: "INVALID_URL", field: "url" });
    if (typeof Socket !== "function") {
      throw new ConnectionError(
        "No WebSocket here: use a browser or Node >= 22, or pass the WebSocket option.",
        { code: "NO_WEBSOCKET" },
      );
    }
    Object.assign(this, { url: String(url), getToken });
    this.options = { Socket, clock, random, backoff, limits, renewBeforeExpiryMs, requestTimeoutMs, keepaliveMs };
    this.state = "idle";
  }

  // ------------------------------------------------------------------ events
  on(name, listener) {
    if (!this.#listeners.has(name)) this.#listeners.set(name, new Set());
    this.#listeners.get(name).add(listener);
    return () => this.#listeners.get(name)?.delete(listener);
  }

  #emit(name, detail) {
    for (const listener of [...(this.#listeners.get(name) || [])]) {
      try {
        listener(detail);
      } catch (err) {
        queueMicrotask(() => {
          throw err; // a listener's bug is reported, never swallowed, never ours to stop on
        });
      }
    }
  }

  // ------------------------------------------------------------------ connection
  /**
   * Starts connecting (and keeps the connection up until close()). Resolves at the
   * first open; rejects with an AuthError when getToken fails for good.
   */
  connect() {
    if (this.state === "open") return Promise.resolve();
    if (!this.#firstOpen) {
      let resolve, reject;
      const promise = new Promise((res, rej) => ((resolve = res), (reject = rej)));
      promise.catch(() => {});
      this.#firstOpen = { promise, resolve, reject };
    }
    if (this.state === "idle" || this.state === "closed") {
      this.#attempt = 0;
      this.#open({ fresh: false });
    }
    return this.#firstOpen.promise;
  }

  /** Closes for good (until connect() again); waiting turns and requests are rejected. */
  close() {
    this.#generation += 1;
    this.#clearTimers();
    const ws = this.#ws;
    this.#ws = null;
    if (ws) ws.close(1000, "closed by the client");
    this.#failEverything(new ConnectionError("The client was closed.", { code: "CLOSED" }));
    this.#setState("closed");
  }

  /** Reconnects at once with a fresh token (as after TOKEN_EXPIRED). */
  renew() {
    if (this.state === "idle" || this.state === "closed") return;
    this.#clearTimers();
    const ws = this.#ws;
    this.#ws = null;
    if (ws) ws.close(1000, "renewing the token");
    this.#open({ fresh: true });
  }

  async #open({ fresh }) {
    const generation = ++this.#generation;
    this.#setState("connecting");
    let token;
    try {
      token = await this.getToken({ fresh });
    } catch (err) {
      if (generation !== this.#generation) return; // closed or renewed meanwhile
      const error = new AuthError(err?.message || "Could not get a token.", {
        code: "SIGN_IN_FAILED",
        retryable: Boolean(err?.retryable),
        cause: err,
      });
      if (error.retryable) {
        const retryInMs = this.#nextDelay();
        this.#emit("close", { code: 0, reason: error.message, opened: false, error, retryInMs });
        this.#later(() => this.#open({ fresh }), retryInMs);
      } else {
        this.#emit("close", { code: 0, reason: error.message, opened: false, error, retryInMs: null });
        this.#giveUp(error);
      }
      return;
    }
    if (generation !== this.#generation) return;
    const url = new URL(this.url);
    if (token) url.searchParams.set("token", token);
    let ws;
    try {
      ws = new this.options.Socket(url.href);
    } catch (err) {
      this.#giveUp(new ConnectionError(`Cannot open ${this.url}: ${err.message}`, { code: "INVALID_URL", cause: err }));
      return;
    }
    this.#ws = ws;
    this.#opened = false;
    this.#token = token || null;
    ws.addEventListener("open", () => ws === this.#ws && this.#onOpen(fresh));
    ws.addEventListener("message", (event) => ws === this.#ws && this.#onMessage(event.data));
    ws.addEventListener("close", (event) => ws === this.#ws && this.#onClose(event, fresh));
    // Browsers follow "error" with "close" at once; some runtimes (Node 20's) never send
    // that close after a failed handshake. Without it the client would wait forever.
    ws.addEventListener("error", () => {
      this.#later(() => {
        if (ws !== this.#ws) return;
        try {
          ws.close();
        } catch {
          // already closing
        }
        this.#onClose({ code: 1006, reason: "" }, fresh);
      }, 0);
    });
  }

  #onOpen() {
    this.#opened = true;
    this.#attempt = 0;
    const reconnected = this.#everOpened;
    this.#everOpened = true;
    this.#setState("open");
    const token = this.#token;
    const wait = token ? renewalDelay(token, this.options.clock.now(), this.options.renewBeforeExpiryMs) : null;
    if (wait !== null) this.#later(() => this.renew(), wait);
    if (this.options.keepaliveMs) this.#keepalive();
    // What was waiting, in the order it was asked: resent with the same ids (idempotent),
    // before listeners of "open" ask anything new (which must go once, not twice).
    for (const turn of [...this.#turns.values()]) this.#transmit(turn.frame, turn);
    for (const request of [...this.#requests]) this.#transmit(request.frame, request);
    this.#emit("open", { token, claims: token ? tokenClaims(token) : null, reconnected });
    this.#firstOpen?.resolve();
    this.#firstOpen = null;
  }

  #keepalive() {
    this.#later(() => {
      if (this.state !== "open") return;
      this.ping().catch(() => {});
      this.#keepalive();
    }, this.options.keepaliveMs);
  }

  #onClose(event, fresh) {
    this.#ws = null;
    this.#clearTimers();
    const opened = this.#opened;
    const hadToken = Boolean(this.#token);
    const code = event.code;
    const error = new ConnectionError(explainClose({ code, opened, hadToken }), {
      code: code === 1009 ? "FRAME_TOO_LARGE" : "CLOSED",
      closeCode: code,
      retryable: true,
    });
    if (code === 1009 && this.#lastSent) {
      // The gateway refused the last frame: fail it, never send it again.
      this.#lastSent.fail(error);
    }
    // A handshake refused with a token: sign in again, at once the first time.
    const refused = !opened && hadToken;
    const retryInMs = refused && !fresh ? 0 : this.#nextDelay();
    this.#emit("close", { code, reason: event.reason || "", opened, error, retryInMs });
    this.#setState("connecting");
    this.#later(() => this.#open({ fresh: refused }), retryInMs);
  }

  #nextDelay() {
    return backoffDelay(this.#attempt++, this.options.backoff, this.options.random);
  }

  #giveUp(error) {
    this.#clearTimers();
    this.#ws = null;
    this.#failEverything(error);
    this.#setState("closed");
    this.#emit("error", error);
    this.#firstOpen?.reject(error);
    this.#firstOpen = null;
  }

  #failEverything(error) {
    for (const turn of [...this.#turns.values()]) turn.fail(error);
    for (const request of [...this.#requests]) request.fail(error);
  }

  #setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.#emit("state", { state, attempt: this.#attempt });
  }

  // ------------------------------------------------------------------ frames in
  #onMessage(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      frame = { type: "unreadable", text: String(data) };
    }
    if (!frame || typeof frame !== "object") frame = { type: "unreadable", text: String(data) };
    this.#emit("frame", { frame, raw: String(data) });
    const type = frame.type;
    if (REPLY_FRAMES.has(type)) return this.#onReply(frame);
    if (type === "message_received") this.#turns.get(frame.clientMessageId)?.acknowledged(frame, this.#replies);
    if (type === "error") return this.#onError(frame);
    if (!type && frame.message) {
      // API Gateway's own frames: {"message": "Internal server error", ...}
      const error = new ServerError(frame.message, { code: "GATEWAY", requestId: frame.requestId, frame });
      return this.#emit("error", error);
    }
    if (type === "conversation_deleted") this.#replies.forget(frame.conversationId);
    this.#answer(frame);
    if (type) this.#emit(type, frame);
  }

  #onReply(frame) {
    const update = this.#replies.apply(frame);
    if (!update) return;
    for (const turn of this.#turns.values()) {
      if (turn.claims(update)) {
        turn.update(update);
        if (update.done) this.#turns.delete(turn.clientMessageId);
        break;
      }
    }
    this.#emit("reply", update);
  }

  #onError(frame) {
    const error = ServerError.fromFrame(frame);
    if (frame.code === "TOKEN_EXPIRED") {
      // Whatever it refused stays waiting and goes again on the renewed connection.
      this.#emit("error", error);
      if (this.#token) this.renew();
      return;
    }
    const turn = frame.clientMessageId && this.#turns.get(frame.clientMessageId);
    if (turn) return turn.fail(error);
    const request = frame.action && this.#requests.find((r) => r.action === frame.action);
    if (request) return request.fail(error);
    this.#emit("error", error);
  }

  #answer(frame) {
    const request = this.#requests.find(
      (r) => r.answer === frame.type && (!r.conversationId || r.conversationId === frame.conversationId),
    );
    request?.succeed(frame);
  }

  // ------------------------------------------------------------------ frames out
  #transmit(frame, owner) {
    if (this.state !== "open" || !this.#ws) return false;
    const raw = JSON.stringify(frame);
    this.#ws.send(raw);
    this.#lastSent = owner || null;
    owner?.sent?.();
    this.#emit("sent", { frame, raw });
    return true;
  }

  #checkUsable() {
    if (this.state === "open" || this.state === "connecting") return;
    throw new ConnectionError("Not connected: call connect() first.", { code: "NOT_CONNECTED" });
  }

  /**
   * Sends a chat message; returns its Turn (ack, ordered text, final, error). Throws an
   * InputError (too long, frame over 32 KB, a bad id) or a ConnectionError (not
   * connected) before anything is sent. While reconnecting the turn waits, and it is
   * resent with the same clientMessageId on every reconnect until its reply is final.
   */
  send(message, { conversationId, clientMessageId } = {}) {
    const refused =
      checkMessage(message, this.options.limits) ||
      checkId(conversationId, "conversationId") ||
      checkId(clientMessageId, "clientMessageId");
    if (refused) throw refused;
    const id = clientMessageId || this.newId("m");
    const data = { message, clientMessageId: id };
    if (conversationId) data.conversationId = conversationId;
    const frame = { action: "chat_message", data };
    const tooBig = checkFrame(frame, this.options.limits);
    if (tooBig) throw tooBig;
    this.#checkUsable();
    if (this.#turns.has(id)) return this.#turns.get(id);
    const turn = new Turn({ frame, onSettled: () => this.#turns.delete(id) });
    this.#turns.set(id, turn);
    this.#transmit(frame, turn);
    return turn;
  }

  /** A new id of the protocol's form: `<prefix>_<ms>_<random>`. */
  newId(prefix = "m") {
    const random = Math.floor(this.options.random() * 36 ** 6).toString(36);
    this.#ids += 1; // unique within this client even if the clock and random repeat
    return `${prefix}_${this.options.clock.now()}_${random}${this.#ids.toString(36)}`;
  }

  /** Sends any action and resolves to its answer frame (rejects with a ChatClientError). */
  request(action, data = undefined) {
    const frame = data === undefined ? { action } : { action, data };
    const tooBig = checkFrame(frame, this.options.limits);
    if (tooBig) return Promise.reject(tooBig);
    try {
      this.#checkUsable();
    } catch (err) {
      return Promise.reject(err);
    }
    const [answer, named] = ANSWERS[action] || [null, false];
    return new Promise((resolve, reject) => {
      const request = {
        action,
        frame,
        answer,
        conversationId: named ? data?.conversationId : undefined,
        succeed: (value) => done() && resolve(value),
        fail: (error) => done() && reject(error),
      };
      const done = () => {
        const index = this.#requests.indexOf(request);
        if (index < 0) return false;
        this.#requests.splice(index, 1);
        this.options.clock.clearTimeout(request.timer);
        return true;
      };
      if (this.options.requestTimeoutMs) {
        request.timer = this.options.clock.setTimeout(
          () => request.fail(new ConnectionError(`No answer to ${action} in time.`, { code: "TIMEOUT", retryable: true })),
          this.options.requestTimeoutMs,
        );
      }
      this.#requests.push(request);
      this.#transmit(frame, request);
      if (!answer) request.succeed(undefined); // an action whose answer we cannot tell
    });
  }

  /** Asks the reply streaming in a conversation to stop; the reply ends as "stopped". */
  stop(conversationId) {
    return this.request("stop_reply", { conversationId });
  }

  /**
   * A page of a conversation's messages, oldest first. A reply still streaming is
   * given with the freshest text known, and its later chunks come as "reply" events.
   */
  async history(conversationId, { limit, before } = {}) {
    const frame = await this.request("chat_history", clean({ conversationId, limit, before }));
    const messages = (frame.messages || []).map((m) => this.#replies.fromHistory(conversationId, m));
    return { ...frame, messages };
  }

  list({ limit, cursor } = {}) {
    return this.request("list_conversations", clean({ limit, cursor }));
  }

  rename(conversationId, title) {
    return this.request("rename_conversation", { conversationId, title });
  }

  delete(conversationId) {
    return this.request("delete_conversation", { conversationId });
  }

  typing(conversationId, isTyping) {
    return this.request("chat_typing", { conversationId, isTyping: Boolean(isTyping) });
  }

  setStatus(status) {
    return this.request("user_status", { status });
  }

  subscribe(notificationTypes) {
    return this.request("subscribe_notifications", { notificationTypes });
  }

  debugStatus() {
    return this.request("debug_status");
  }

  /** Resolves to {rttMs, frame}. */
  async ping() {
    const started = this.options.clock.now();
    const frame = await this.request("ping");
    return { rttMs: this.options.clock.now() - started, frame };
  }

  /** The current state of a reply this client has seen (snapshots and chunks applied). */
  reply(messageId) {
    return this.#replies.get(messageId);
  }

  /** The turns sent and not yet finished (their reply not final). */
  get pendingTurns() {
    return [...this.#turns.values()];
  }

  // ------------------------------------------------------------------ timers
  #later(fn, ms) {
    const timer = this.options.clock.setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }

  #clearTimers() {
    for (const timer of this.#timers) this.options.clock.clearTimeout(timer);
    this.#timers.clear();
  }
}

/** Shorthand: a client that starts connecting at once. */
export function connect(options) {
  const client = new RealtimeChatClient(options);
  client.connect().catch(() => {});
  return client;
}

function clean(data) {
  return Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined && v !== null));
}
