// One chat turn as the sender sees it: the message, its acknowledgement, the reply's
// text in order, and one end (the final reply or an error). A Turn is made by
// RealtimeChatClient.send(); the client feeds it frames.

export class Turn {
  #listeners = new Set();
  #settle;
  #acknowledge;
  #known = new Set(); // replies of the conversation that were there before the ack
  #sends = 0;

  constructor({ frame, onSettled = () => {} }) {
    this.frame = frame;
    this.message = frame.data.message;
    this.clientMessageId = frame.data.clientMessageId;
    this.conversationId = frame.data.conversationId || null;
    this.messageId = null; // the user message's id, from message_received
    this.replyId = null; // the reply's messageId, from its first chunk or snapshot
    this.status = "sending"; // "received" | "streaming" | "done" | "failed"
    this.reply = null; // the latest reply update
    this.error = null;
    this.received = new Promise((resolve, reject) => (this.#acknowledge = { resolve, reject }));
    this.done = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    // Nobody has to watch both promises: an unwatched rejection is not a crash.
    this.received.catch(() => {});
    this.done.catch(() => {});
    this.onSettled = onSettled;
  }

  /** Listens to this turn's events: {type: "ack"|"text"|"final"|"error", …}; returns off(). */
  on(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The events as an async iterator, ending after "final" or "error". */
  async *[Symbol.asyncIterator]() {
    const queue = [];
    let wake = null;
    const off = this.on((event) => {
      queue.push(event);
      wake?.();
    });
    try {
      if (this.status === "done") yield { type: "final", reply: this.reply };
      if (this.status === "failed") yield { type: "error", error: this.error };
      if (this.status === "done" || this.status === "failed") return;
      for (;;) {
        while (!queue.length) await new Promise((resolve) => (wake = resolve));
        const event = queue.shift();
        yield event;
        if (event.type === "final" || event.type === "error") return;
      }
    } finally {
      off();
    }
  }

  get finished() {
    return this.status === "done" || this.status === "failed";
  }

  // ---------------------------------------------------------------- fed by the client
  /** The frame went out (again): after a reconnect the turn is a retry. */
  sent() {
    this.#sends += 1;
  }

  acknowledged(frame, replies) {
    if (this.finished) return;
    this.conversationId = frame.conversationId || this.conversationId;
    this.messageId = frame.messageId || this.messageId;
    if (this.status === "sending") this.status = "received";
    // A first send's reply is one that starts after its ack. A retry's may be streaming
    // already (its snapshot can come before the ack): then it is the newest one left.
    const known = replies.inConversation(this.conversationId).filter((r) => !r.done);
    if (this.#sends > 1 && !this.replyId && known.length) this.replyId = known.at(-1).messageId;
    else for (const r of replies.inConversation(this.conversationId)) this.#known.add(r.messageId);
    this.#acknowledge.resolve(frame);
    this.#emit({ type: "ack", frame });
  }

  /** Whether a reply update belongs to this turn (and from now on it does). */
  claims(update) {
    if (this.finished) return false;
    if (this.replyId) return update.messageId === this.replyId;
    if (this.status !== "received" || update.conversationId !== this.conversationId) return false;
    if (this.#known.has(update.messageId)) return false;
    this.replyId = update.messageId;
    return true;
  }

  update(update) {
    this.reply = update;
    if (update.done) {
      this.status = "done";
      this.#emit({ type: "final", reply: update });
      this.#settle.resolve(update);
      this.onSettled(this);
      return;
    }
    this.status = "streaming";
    this.#emit({ type: "text", text: update.text, delta: update.delta, reset: update.reset, reply: update });
  }

  fail(error) {
    if (this.finished) return;
    this.status = "failed";
    this.error = error;
    this.#acknowledge.reject(error);
    this.#emit({ type: "error", error });
    this.#settle.reject(error);
    this.onSettled(this);
  }

  #emit(event) {
    for (const listener of [...this.#listeners]) listener(event);
  }
}
