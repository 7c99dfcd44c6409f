// The messages of the open conversation: history, the user's sends, and replies
// rendered as they stream (chunks applied in `seq` order, a snapshot after a
// reconnect, the final `ai_response`). Text is always set as text, never as HTML.

const FINISHED = { stop: "complete", length: "complete", stopped: "stopped", error: "error" };

export class Thread {
  constructor(list) {
    this.list = list;
    this.replies = new Map(); // messageId -> {item, body, seq, pending: Map(seq -> delta)}
    this.sent = new Map(); // clientMessageId -> item
  }

  clear() {
    this.list.replaceChildren();
    this.replies.clear();
    this.sent.clear();
  }

  /** History replaces what is shown; a reply still streaming keeps its place. */
  showHistory(messages) {
    this.clear();
    for (const message of messages) {
      if (message.role === "assistant") {
        const reply = this.#reply(message.messageId);
        reply.body.textContent = message.content;
        this.#setStatus(reply.item, message.status || "complete");
      } else {
        this.#add("user", message.content, message.status === "failed" ? "error" : "complete");
      }
    }
  }

  addOwn(clientMessageId, text) {
    this.sent.set(clientMessageId, this.#add("user", text, "sending"));
  }

  received(clientMessageId) {
    const item = this.sent.get(clientMessageId);
    if (item) this.#setStatus(item, "complete");
  }

  refused(clientMessageId) {
    const item = this.sent.get(clientMessageId);
    if (item) this.#setStatus(item, "error");
  }

  chunk({ messageId, seq, delta }) {
    const reply = this.#reply(messageId);
    if (reply.item.dataset.status !== "streaming") return; // already final
    if (seq <= reply.seq) return; // covered by a snapshot
    reply.pending.set(seq, delta);
    this.#drain(reply);
  }

  snapshot({ messageId, seq, content }) {
    const reply = this.#reply(messageId);
    if (reply.item.dataset.status !== "streaming" || seq < reply.seq) return;
    reply.body.textContent = content;
    reply.seq = seq;
    for (const s of [...reply.pending.keys()]) if (s <= seq) reply.pending.delete(s);
    this.#drain(reply);
  }

  final({ messageId, content, finishReason, contentTruncated }) {
    const reply = this.#reply(messageId);
    // A truncated final frame carries less than the chunks did: keep what streamed.
    if (!contentTruncated || content.length > reply.body.textContent.length) {
      reply.body.textContent = content;
    }
    this.#setStatus(reply.item, FINISHED[finishReason] || "complete");
  }

  stopping(messageId) {
    const reply = this.replies.get(messageId);
    if (reply && reply.item.dataset.status === "streaming") reply.item.dataset.note = "stopping…";
  }

  get streaming() {
    return [...this.replies.values()].some((r) => r.item.dataset.status === "streaming");
  }

  /** Appends the chunks that follow what is shown, in order; a gap waits. */
  #drain(reply) {
    let text = "";
    while (reply.pending.has(reply.seq + 1)) {
      reply.seq += 1;
      text += reply.pending.get(reply.seq);
      reply.pending.delete(reply.seq);
    }
    if (text) reply.body.textContent += text;
  }

  #reply(messageId) {
    let reply = this.replies.get(messageId);
    if (!reply) {
      const item = this.#add("assistant", "", "streaming");
      item.dataset.messageId = messageId;
      reply = { item, body: item.querySelector(".body"), seq: -1, pending: new Map() };
      this.replies.set(messageId, reply);
    }
    return reply;
  }

  #add(role, text, status) {
    const item = document.createElement("li");
    item.className = `message ${role}`;
    const who = document.createElement("span");
    who.className = "role";
    who.textContent = role === "assistant" ? "assistant" : "you";
    const body = document.createElement("span");
    body.className = "body";
    body.textContent = text;
    item.append(who, body);
    this.#setStatus(item, status);
    this.list.append(item);
    item.scrollIntoView({ block: "end" });
    return item;
  }

  #setStatus(item, status) {
    item.dataset.status = status;
    if (status !== "streaming") delete item.dataset.note;
  }
}
