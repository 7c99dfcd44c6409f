// One WebSocket that stays up until stopped: reconnects with backoff and jitter, asks
// getToken for a fresh token when a handshake carrying one is refused, renews the
// token ahead of its expiry, and calls `keepalive` while open. It knows nothing of
// the protocol's frames: RealtimeChatClient gives it handlers.

import { AuthError, ConnectionError, explainClose } from "./chat-errors.js";
import { backoffDelay, renewalDelay, tokenClaims } from "./timing.js";

/**
 * handlers: state(state, attempt), open({token, claims, reconnected}), message(data),
 * close({code, reason, opened, error, retryInMs}) (retryInMs null: it gave up),
 * giveUp(error), keepalive().
 */
export class Connection {
  #ws = null;
  #opened = false;
  #token = null;
  #attempt = 0;
  #timers = new Set();
  #everOpened = false;
  #generation = 0; // each attempt to open; a newer one makes an older one moot

  constructor({ url, getToken, Socket, clock, random, backoff, renewBeforeExpiryMs, keepaliveMs, handlers }) {
    Object.assign(this, { url, getToken, Socket, clock, random, backoff, renewBeforeExpiryMs, keepaliveMs, handlers });
    this.state = "idle";
  }

  /** The token of the current connection (null: anonymous). */
  get token() {
    return this.#token;
  }

  start() {
    this.#attempt = 0;
    this.#open({ fresh: false });
  }

  stop() {
    this.#generation += 1;
    this.#clearTimers();
    const ws = this.#ws;
    this.#ws = null;
    if (ws) ws.close(1000, "closed by the client");
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

  /** Sends a text frame; false when there is no open connection to send it on. */
  send(raw) {
    if (this.state !== "open" || !this.#ws) return false;
    this.#ws.send(raw);
    return true;
  }

  async #open({ fresh }) {
    const generation = ++this.#generation;
    this.#setState("connecting");
    let token;
    try {
      token = await this.getToken({ fresh });
    } catch (err) {
      if (generation !== this.#generation) return; // stopped or renewed meanwhile
      const error = new AuthError(err?.message || "Could not get a token.", {
        code: "SIGN_IN_FAILED",
        retryable: Boolean(err?.retryable),
        cause: err,
      });
      const retryInMs = error.retryable ? this.#nextDelay() : null;
      this.handlers.close({ code: 0, reason: error.message, opened: false, error, retryInMs });
      if (retryInMs === null) this.#giveUp(error);
      else this.#later(() => this.#open({ fresh }), retryInMs);
      return;
    }
    if (generation !== this.#generation) return;
    const url = new URL(this.url);
    if (token) url.searchParams.set("token", token);
    let ws;
    try {
      ws = new this.Socket(url.href);
    } catch (err) {
      this.#giveUp(new ConnectionError(`Cannot open ${this.url}: ${err.message}`, { code: "INVALID_URL", cause: err }));
      return;
    }
    this.#ws = ws;
    this.#opened = false;
    this.#token = token || null;
    ws.addEventListener("open", () => ws === this.#ws && this.#onOpen());
    ws.addEventListener("message", (event) => ws === this.#ws && this.handlers.message(event.data));
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
    const wait = token ? renewalDelay(token, this.clock.now(), this.renewBeforeExpiryMs) : null;
    if (wait !== null) this.#later(() => this.renew(), wait);
    if (this.keepaliveMs) this.#keepalive();
    this.handlers.open({ token, claims: token ? tokenClaims(token) : null, reconnected });
  }

  #keepalive() {
    this.#later(() => {
      if (this.state !== "open") return;
      this.handlers.keepalive();
      this.#keepalive();
    }, this.keepaliveMs);
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
    // A handshake refused with a token: sign in again, at once the first time.
    const refused = !opened && hadToken;
    const retryInMs = refused && !fresh ? 0 : this.#nextDelay();
    this.handlers.close({ code, reason: event.reason || "", opened, error, retryInMs });
    this.#setState("connecting");
    this.#later(() => this.#open({ fresh: refused }), retryInMs);
  }

  #nextDelay() {
    return backoffDelay(this.#attempt++, this.backoff, this.random);
  }

  #giveUp(error) {
    this.#clearTimers();
    this.#ws = null;
    this.#setState("closed");
    this.handlers.giveUp(error);
  }

  #setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.handlers.state(state, this.#attempt);
  }

  #later(fn, ms) {
    const timer = this.clock.setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }

  #clearTimers() {
    for (const timer of this.#timers) this.clock.clearTimeout(timer);
    this.#timers.clear();
  }
}
