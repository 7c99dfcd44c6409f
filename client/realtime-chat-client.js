// A client for the realtime chat backend (docs/protocol.md) that browser apps and
// Node >= 22 import as it is: one WebSocket that stays up (backoff with jitter, signing
// in again through getToken on a refused handshake or an expired token), turns that
// are resent with the same clientMessageId after a reconnect, replies put in `seq`
// order, requests matched to their answers, and typed errors. No dependencies.

import { ConnectionError, InputError, ServerError } from "./chat-errors.js";
import { LIMITS, checkFrame, checkId, checkMessage, checkRequiredId } from "./checks.js";
import { Connection } from "./connection.js";
import { ReplyStore } from "./reply-store.js";
import { Requests } from "./requests.js";
import { BACKOFF } from "./timing.js";
import { Turn } from "./turn.js";

export * from "./chat-errors.js";
export { LIMITS, checkFrame, checkMessage, frameBytes } from "./checks.js";
export { ReplyStore } from "./reply-store.js";
export { BACKOFF, backoffDelay, tokenClaims } from "./timing.js";
export { Turn } from "./turn.js";

const REPLY_FRAMES = new Set(["ai_response_chunk", "ai_response_snapshot", "ai_response"]);
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
  #requests; // waiting for their answers
  #connection;
  #lastSent = null; // the turn or request whose frame went out last
  #firstOpen = null;
  #ids = 0;

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
    this.url = String(url);
    this.options = { clock, random, limits };
    this.#requests = new Requests({ clock, timeoutMs: requestTimeoutMs });
    this.#connection = new Connection({
      url: this.url,
      getToken,
      Socket,
      clock,
      random,
      backoff,
      renewBeforeExpiryMs,
      keepaliveMs,
      handlers: {
        state: (state, attempt) => this.#emit("state", { state, attempt }),
        open: (opened) => this.#onOpen(opened),
        message: (data) => this.#onMessage(data),
        close: (closed) => this.#onClose(closed),
        giveUp: (error) => this.#giveUp(error),
        keepalive: () => this.ping().catch(() => {}),
      },
    });
  }

  /** "idle" | "connecting" | "open" | "closed" */
  get state() {
    return this.#connection.state;
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
    if (this.state === "idle" || this.state === "closed") this.#connection.start();
    return this.#firstOpen.promise;
  }

  /** Closes for good (until connect() again); waiting turns and requests are rejected. */
  close() {
    this.#connection.stop();
    this.#failEverything(new ConnectionError("The client was closed.", { code: "CLOSED" }));
  }

  /** Reconnects at once with a fresh token (as after TOKEN_EXPIRED). */
  renew() {
    this.#connection.renew();
  }

  #onOpen(opened) {
    // What was waiting, in the order it was asked: resent with the same ids (idempotent),
    // before listeners of "open" ask anything new (which must go once, not twice).
    for (const turn of [...this.#turns.values()]) this.#transmit(turn.frame, turn);
    for (const request of this.#requests.all()) this.#transmit(request.frame, request);
    this.#emit("open", opened);
    this.#firstOpen?.resolve();
    this.#firstOpen = null;
  }

  #onClose(closed) {
    // The gateway refused the last frame (over 32 KB): fail it, never send it again.
    if (closed.code === 1009) this.#lastSent?.fail(closed.error);
    this.#emit("close", closed);
  }

  #giveUp(error) {
    this.#failEverything(error);
    this.#emit("error", error);
    this.#firstOpen?.reject(error);
    this.#firstOpen = null;
  }

  #failEverything(error) {
    for (const turn of [...this.#turns.values()]) turn.fail(error);
    this.#requests.failAll(error);
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
    this.#requests.answer(frame);
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
      if (this.#connection.token) this.renew();
      return;
    }
    const turn = frame.clientMessageId && this.#turns.get(frame.clientMessageId);
    if (turn) return turn.fail(error);
    if (!this.#requests.refuse(frame.action, error)) this.#emit("error", error);
  }

  // ------------------------------------------------------------------ frames out
  #transmit(frame, owner) {
    const raw = JSON.stringify(frame);
    if (!this.#connection.send(raw)) return false;
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
  send(message, { conversationId, clientMessageId, model } = {}) {
    const refused =
      checkMessage(message, this.options.limits) ||
      checkId(conversationId, "conversationId") ||
      checkId(clientMessageId, "clientMessageId");
    if (refused) throw refused;
    return this.#turn("chat_message", { message, conversationId, model }, clientMessageId);
  }

  /**
   * Answers the conversation's last message again; returns its Turn, as send() does.
   * The new answer becomes current; the earlier ones are in versions(). Refused by the
   * server (INVALID_MESSAGE) while that message's reply still streams: stop() it first.
   */
  regenerate(conversationId, { clientMessageId, model } = {}) {
    const refused =
      checkRequiredId(conversationId, "conversationId") ||
      checkId(clientMessageId, "clientMessageId");
    if (refused) throw refused;
    return this.#turn("regenerate_reply", { conversationId, model }, clientMessageId);
  }

  /**
   * Replaces the text of the conversation's last message (messageId: its id) and answers
   * it again; returns its Turn. Any other message is refused by the server
   * (INVALID_MESSAGE, field "messageId"). The old text and answer are in versions().
   */
  edit(conversationId, messageId, message, { clientMessageId, model } = {}) {
    const refused =
      checkMessage(message, this.options.limits) ||
      checkRequiredId(conversationId, "conversationId") ||
      checkRequiredId(messageId, "messageId") ||
      checkId(clientMessageId, "clientMessageId");
    if (refused) throw refused;
    return this.#turn("edit_message", { conversationId, messageId, message, model }, clientMessageId);
  }

  #turn(action, fields, clientMessageId) {
    const id = clientMessageId || this.newId("m");
    const frame = { action, data: { ...clean(fields), clientMessageId: id } };
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
    const { request, promise } = this.#requests.add(frame);
    this.#transmit(frame, request);
    if (!request.answer) request.succeed(undefined); // an action whose answer we cannot tell
    return promise;
  }

  /** Resolves to the models a conversation may use: [{id, label}] (empty: no choice). */
  async listModels() {
    const frame = await this.request("list_models");
    return frame.models || [];
  }

  /**
   * The earlier versions of a turn, named by its user message's id: resolves to
   * {texts, answers}, each oldest first with its `version` number.
   */
  async versions(conversationId, messageId) {
    const frame = await this.request("message_versions", { conversationId, messageId });
    return { texts: frame.texts || [], answers: frame.answers || [] };
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
