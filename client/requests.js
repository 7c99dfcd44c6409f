// Requests waiting for their answers: each action's answer frame is known, and
// answers may come in any order (API Gateway runs each frame independently), so an
// answer goes to the oldest waiting request of its type and conversation.

import { ConnectionError } from "./chat-errors.js";

// The frame that answers each action, and whether it names the conversation.
const ANSWERS = {
  ping: ["pong", false],
  debug_status: ["debug_status", false],
  chat_history: ["chat_history", true],
  list_conversations: ["conversations", false],
  rename_conversation: ["conversation_renamed", true],
  delete_conversation: ["conversation_deleted", true],
  stop_reply: ["reply_stop_requested", true],
  list_models: ["models", false],
  message_versions: ["message_versions", true],
  chat_typing: ["typing_acknowledged", true],
  user_status: ["status_updated", false],
  subscribe_notifications: ["notifications_subscribed", false],
};

export class Requests {
  #waiting = [];

  /** @param {{clock: {setTimeout, clearTimeout}, timeoutMs: number}} options (0: no timeout) */
  constructor({ clock, timeoutMs }) {
    this.clock = clock;
    this.timeoutMs = timeoutMs;
  }

  /**
   * A new waiting request for `frame`, and the promise of its answer frame. The
   * request's `succeed(frame)` and `fail(error)` settle it once; `sent()` (called on
   * each send) starts the time its answer has; an action whose
   * answer is unknown has `answer` null (the caller settles it when it was sent).
   */
  add(frame) {
    const [answer, named] = ANSWERS[frame.action] || [null, false];
    let request;
    const promise = new Promise((resolve, reject) => {
      const settle = () => {
        const index = this.#waiting.indexOf(request);
        if (index < 0) return false;
        this.#waiting.splice(index, 1);
        this.clock.clearTimeout(request.timer);
        return true;
      };
      request = {
        action: frame.action,
        frame,
        answer,
        conversationId: named ? frame.data?.conversationId : undefined,
        succeed: (value) => settle() && resolve(value),
        fail: (error) => settle() && reject(error),
      };
    });
    // The wait is timed from each send, not from the ask: a request asked while
    // offline (or resent after a reconnect) has the whole time for its answer.
    request.sent = () => {
      if (!this.timeoutMs) return;
      this.clock.clearTimeout(request.timer);
      const error = new ConnectionError(`No answer to ${frame.action} in time.`, { code: "TIMEOUT", retryable: true });
      request.timer = this.clock.setTimeout(() => request.fail(error), this.timeoutMs);
    };
    this.#waiting.push(request);
    return { request, promise };
  }

  /** The requests still waiting, oldest first. */
  all() {
    return [...this.#waiting];
  }

  /** Settles the oldest request this frame answers; false when none waits for it. */
  answer(frame) {
    const request = this.#waiting.find(
      (r) => r.answer === frame.type && (!r.conversationId || r.conversationId === frame.conversationId),
    );
    request?.succeed(frame);
    return Boolean(request);
  }

  /** Fails the oldest request of the action an error frame names; false when none. */
  refuse(action, error) {
    const request = action && this.#waiting.find((r) => r.action === action);
    request?.fail(error);
    return Boolean(request);
  }

  failAll(error) {
    for (const request of this.all()) request.fail(error);
  }
}
