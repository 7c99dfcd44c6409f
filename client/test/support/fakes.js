// Test doubles for the client's ports: a clock whose time moves only when a test says
// so, and a WebSocket whose server side the test plays frame by frame.

export class FakeClock {
  constructor(now = 1_800_000_000_000) {
    this.time = now;
    this.timers = new Map();
    this.nextId = 1;
  }

  now = () => this.time;

  setTimeout = (fn, ms) => {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + Math.max(0, ms), fn });
    return id;
  };

  clearTimeout = (id) => {
    this.timers.delete(id);
  };

  /** The delays of the timers waiting now, soonest first. */
  get pending() {
    return [...this.timers.values()].map((t) => t.at - this.time).sort((a, b) => a - b);
  }

  /** Moves time on by `ms`, running every timer that falls due, in order. */
  async advance(ms) {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].fn();
      await settle();
    }
    this.time = end;
    await settle();
  }
}

/** Lets promise callbacks (getToken, awaits in the client) run. */
export async function settle() {
  for (let i = 0; i < 10; i += 1) await Promise.resolve();
}

export function fakeWebSocket() {
  const sockets = [];
  class FakeWebSocket {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSED = 3;

    constructor(url) {
      this.url = url;
      this.readyState = FakeWebSocket.CONNECTING;
      this.sent = [];
      this.listeners = {};
      this.closedBy = null;
      sockets.push(this);
    }

    addEventListener(name, fn) {
      (this.listeners[name] ||= []).push(fn);
    }

    send(raw) {
      if (this.readyState !== FakeWebSocket.OPEN) throw new Error("send on a socket that is not open");
      this.sent.push(JSON.parse(raw));
    }

    close(code = 1000, reason = "") {
      this.closedBy = { code, reason };
      this.readyState = FakeWebSocket.CLOSED;
    }

    get token() {
      return new URL(this.url).searchParams.get("token");
    }

    // ------------------------------------------------ the server's side
    open() {
      this.readyState = FakeWebSocket.OPEN;
      this.#fire("open", {});
    }

    receive(frame) {
      this.#fire("message", { data: typeof frame === "string" ? frame : JSON.stringify(frame) });
    }

    serverClose(code, reason = "") {
      this.readyState = FakeWebSocket.CLOSED;
      this.#fire("close", { code, reason });
    }

    /** An error without the close that should follow it (Node 20 after a refused handshake). */
    fail() {
      this.#fire("error", {});
    }

    /** A refused handshake, as a browser sees it. */
    refuse() {
      this.serverClose(1006);
    }

    actions() {
      return this.sent.map((f) => f.action);
    }

    #fire(name, event) {
      for (const fn of this.listeners[name] || []) fn(event);
    }
  }
  return { FakeWebSocket, sockets, last: () => sockets.at(-1) };
}

/** A JWT-shaped token with these claims (unsigned: only the server verifies). */
export function fakeToken(claims) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${part({ alg: "RS256", kid: "k" })}.${part(claims)}.c2ln`;
}
