// Replies as they stream: chunks put in `seq` order (a gap is held until the missing
// chunk or a snapshot fills it), duplicates dropped, a snapshot applied after a
// reconnect, and exactly one final frame per reply. No I/O: frames in, updates out.

const STATUS = { stop: "complete", length: "complete", stopped: "stopped", error: "error" };

/**
 * An update, as `apply` returns it and the client emits it as "reply":
 * {conversationId, messageId, text, delta, reset, status, finishReason, done, contentTruncated}
 * - `text` is the whole reply so far; `delta` what was appended to the previous text
 *   (when `reset` is true the text was replaced, by a snapshot or the final frame).
 * - `status` is "streaming" until `done`, then "complete", "stopped" or "error".
 */
export class ReplyStore {
  #replies = new Map(); // messageId -> reply

  /** The current state of a reply, or undefined. */
  get(messageId) {
    const reply = this.#replies.get(messageId);
    return reply && view(reply, "", false);
  }

  /** The replies of a conversation the store knows, oldest first. */
  inConversation(conversationId) {
    return [...this.#replies.values()]
      .filter((r) => r.conversationId === conversationId)
      .map((r) => view(r, "", false));
  }

  /** Forgets a conversation's replies (it was deleted). */
  forget(conversationId) {
    for (const [id, reply] of this.#replies) {
      if (reply.conversationId === conversationId) this.#replies.delete(id);
    }
  }

  /**
   * Applies a frame of type ai_response_chunk, ai_response_snapshot or ai_response;
   * returns the update it made, or null when it changed nothing (a duplicate, a chunk
   * held behind a gap, anything after the final frame).
   */
  apply(frame) {
    const reply = this.#reply(frame);
    if (reply.done) return null;
    if (frame.type === "ai_response_chunk") return this.#chunk(reply, frame);
    if (frame.type === "ai_response_snapshot") return this.#snapshot(reply, frame);
    if (frame.type === "ai_response") return this.#final(reply, frame);
    return null;
  }

  /**
   * Takes a message of a `chat_history` page. A reply still streaming there is known
   * from now on (its text as of the last checkpoint; its `seq` unknown, so chunks wait
   * for the snapshot that follows). Returns the message with the freshest text known.
   */
  fromHistory(conversationId, message) {
    if (message.role !== "assistant") return message;
    const known = this.#replies.get(message.messageId);
    if (known) {
      const fresher = known.done || known.text.length >= String(message.content || "").length;
      if (!fresher) return message;
      return { ...message, content: known.text, status: known.done ? known.status : "streaming" };
    }
    if (message.status !== "streaming") return message;
    this.#replies.set(message.messageId, {
      conversationId,
      messageId: message.messageId,
      text: String(message.content || ""),
      seq: null, // unknown until a snapshot says
      pending: new Map(),
      done: false,
      status: "streaming",
      finishReason: null,
      contentTruncated: false,
    });
    return message;
  }

  #reply(frame) {
    let reply = this.#replies.get(frame.messageId);
    if (!reply) {
      reply = {
        conversationId: frame.conversationId,
        messageId: frame.messageId,
        text: "",
        seq: -1,
        pending: new Map(),
        done: false,
        status: "streaming",
        finishReason: null,
        contentTruncated: false,
      };
      this.#replies.set(frame.messageId, reply);
    }
    return reply;
  }

  #chunk(reply, { seq, delta }) {
    if (!Number.isInteger(seq) || typeof delta !== "string") return null;
    if ((reply.seq !== null && seq <= reply.seq) || reply.pending.has(seq)) return null;
    reply.pending.set(seq, delta);
    const appended = drain(reply);
    return appended ? view(reply, appended, false) : null;
  }

  #snapshot(reply, { seq, content }) {
    if (!Number.isInteger(seq) || typeof content !== "string") return null;
    if (reply.seq !== null && seq < reply.seq) return null; // older than what we have
    const before = reply.text;
    reply.text = content;
    reply.seq = seq;
    for (const s of [...reply.pending.keys()]) if (s <= seq) reply.pending.delete(s);
    drain(reply);
    return changed(reply, before);
  }

  #final(reply, frame) {
    const before = reply.text;
    const content = typeof frame.content === "string" ? frame.content : "";
    // A truncated final frame carries less than the chunks did: keep what streamed.
    if (!frame.contentTruncated || content.length > reply.text.length) reply.text = content;
    reply.done = true;
    reply.pending.clear();
    reply.finishReason = frame.finishReason || "stop";
    reply.status = STATUS[reply.finishReason] || "complete";
    reply.contentTruncated = Boolean(frame.contentTruncated);
    reply.final = frame;
    return changed(reply, before, true);
  }
}

/** Appends the held chunks that follow the text, in order; returns what it appended. */
function drain(reply) {
  if (reply.seq === null) return "";
  let appended = "";
  while (reply.pending.has(reply.seq + 1)) {
    reply.seq += 1;
    appended += reply.pending.get(reply.seq);
    reply.pending.delete(reply.seq);
  }
  reply.text += appended;
  return appended;
}

function changed(reply, before, always = false) {
  if (reply.text.startsWith(before)) {
    const delta = reply.text.slice(before.length);
    return delta || always ? view(reply, delta, false) : null;
  }
  return view(reply, "", true);
}

function view(reply, delta, reset) {
  return {
    conversationId: reply.conversationId,
    messageId: reply.messageId,
    text: reply.text,
    delta,
    reset,
    status: reply.status,
    finishReason: reply.finishReason,
    done: reply.done,
    contentTruncated: reply.contentTruncated,
    ...(reply.final ? { final: reply.final } : {}),
  };
}
