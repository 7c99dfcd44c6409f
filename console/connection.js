// One WebSocket connection to the backend that stays up: reconnects with backoff,
// signs in again when the server refuses the token or it expires, and reports every
// frame in and out. It knows nothing of the page.

import { explainClose } from "./hints.js";
import { tokenClaims } from "./token.js";

const MAX_DELAY_MS = 30_000;
const REFRESH_BEFORE_EXPIRY_MS = 30_000;

/**
 * Events: "state" {state: "offline"|"connecting"|"open", token},
 * "frame" {frame, raw}, "sent" {raw}, "closed" {code, explanation, retryInMs}.
 *
 * credentials({fresh}) resolves to a token, or null for an anonymous connection;
 * with fresh=true it must return a new token or throw (nothing can renew it).
 */
export class Connection extends EventTarget {
  constructor({ url, credentials }) {
    super();
    this.url = url;
    this.credentials = credentials;
    this.state = "offline";
    this.ws = null;
    this.attempt = 0;
    this.stopped = true;
    this.timers = new Set();
  }

  start() {
    this.stopped = false;
    this.attempt = 0;
    this.#connect({ fresh: false });
  }

  stop() {
    this.stopped = true;
    this.#clearTimers();
    if (this.ws) this.ws.close(1000, "closed by the console");
    this.ws = null;
    this.#setState("offline", null);
  }

  /** Sends a frame; false when there is no open connection to send it on. */
  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    const raw = JSON.stringify(frame);
    this.ws.send(raw);
    this.#emit("sent", { raw });
    return true;
  }

  /** Reconnects at once with a new token (after TOKEN_EXPIRED, say). */
  renew() {
    if (this.stopped) return;
    this.#clearTimers();
    const old = this.ws;
    this.ws = null;
    if (old) old.close(1000, "renewing the token");
    this.#connect({ fresh: true });
  }

  async #connect({ fresh }) {
    if (this.stopped) return;
    this.#setState("connecting", null);
    let token;
    try {
      token = await this.credentials({ fresh });
    } catch (err) {
      if (this.stopped) return;
      const retryInMs = err.retryable ? this.#backoff() : null;
      this.#emit("closed", { code: 0, explanation: err.message, retryInMs });
      if (retryInMs === null) this.stop();
      else this.#later(() => this.#connect({ fresh }), retryInMs);
      return;
    }
    if (this.stopped) return;
    const url = new URL(this.url);
    if (token) url.searchParams.set("token", token);
    let ws;
    try {
      ws = new WebSocket(url.href);
    } catch (err) {
      this.#emit("closed", { code: 0, explanation: `Bad WebSocket URL: ${err.message}`, retryInMs: null });
      this.stop();
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.addEventListener("open", () => {
      if (ws !== this.ws) return;
      opened = true;
      this.attempt = 0;
      this.#setState("open", token);
      this.#renewBeforeExpiry(token);
    });
    ws.addEventListener("message", (event) => {
      if (ws !== this.ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        frame = { type: "unreadable", text: String(event.data) };
      }
      this.#emit("frame", { frame, raw: String(event.data) });
      if (frame.type === "error" && frame.code === "TOKEN_EXPIRED" && token) this.renew();
    });
    ws.addEventListener("close", (event) => {
      if (ws !== this.ws) return; // a connection we replaced on purpose
      this.ws = null;
      this.#clearTimers();
      const explanation = explainClose({ code: event.code, opened, hadToken: Boolean(token) });
      if (this.stopped) return;
      // A handshake refused with a token: sign in again before anything else. When
      // nothing can renew the token (a pasted one), say so and stop knocking.
      const refused = !opened && Boolean(token);
      const delay = this.#backoff();
      this.#emit("closed", { code: event.code, explanation, retryInMs: delay });
      this.#setState("connecting", null);
      this.#later(() => this.#connect({ fresh: refused }), delay);
    });
  }

  #backoff() {
    const base = Math.min(MAX_DELAY_MS, 500 * 2 ** this.attempt);
    this.attempt += 1;
    return Math.round(base / 2 + Math.random() * (base / 2));
  }

  #renewBeforeExpiry(token) {
    const exp = token ? tokenClaims(token).exp : null;
    if (typeof exp !== "number") return;
    const wait = Math.max(0, exp * 1000 - Date.now() - REFRESH_BEFORE_EXPIRY_MS);
    // setTimeout overflows past ~24 days; tokens live hours at most.
    if (wait < 2 ** 31) this.#later(() => this.renew(), wait);
  }

  #later(fn, ms) {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  #clearTimers() {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  #setState(state, token) {
    this.state = state;
    this.#emit("state", { state, token });
  }

  #emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}
