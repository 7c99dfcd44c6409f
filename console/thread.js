// The open conversation's messages: history, the user's own sends, and replies that
// type themselves out as they stream (Typewriter), rendered as safe Markdown. The list
// follows the newest text while the reader is at the bottom, and stops following as
// soon as they scroll up (a "Jump to latest" button brings them back).

import { renderMarkdown } from "./markdown.js";
import { Typewriter } from "./typewriter.js";

const NEAR_BOTTOM_PX = 48;
const UP_KEYS = new Set(["ArrowUp", "PageUp", "Home"]);

export class Thread {
  /**
   * @param {HTMLElement} list the scrolling list of messages
   * @param {{onFollowChange?: (following: boolean) => void}} options
   */
  constructor(list, { onFollowChange = () => {} } = {}) {
    this.list = list;
    this.replies = new Map(); // messageId -> {item, body, typewriter, rendered}
    this.sent = new Map(); // clientMessageId -> item
    this.following = true;
    this.onFollowChange = onFollowChange;
    this.animation = null;
    this.lastTick = 0;
    list.addEventListener("scroll", () => this.#setFollowing(this.#atBottom()));
    // A reader moving up stops the following at once: waiting for the scroll event
    // would let the next frame of text pull a smooth scroll back to the bottom.
    list.addEventListener("wheel", (e) => e.deltaY < 0 && this.#setFollowing(false), { passive: true });
    list.addEventListener("touchmove", () => this.#setFollowing(false), { passive: true });
    list.addEventListener("keydown", (e) => UP_KEYS.has(e.key) && this.#setFollowing(false));
  }

  clear() {
    this.list.replaceChildren();
    this.replies.clear();
    this.sent.clear();
    this.#setFollowing(true);
  }

  /** A history page replaces what is shown; a streaming reply carries on from its text. */
  showHistory(messages) {
    this.clear();
    for (const message of messages) {
      if (message.role === "assistant") {
        const reply = this.#reply(message.messageId);
        reply.typewriter.show(message.content || "");
        this.#render(reply);
        setStatus(reply.item, message.status || "complete");
        showVersion(reply.item, message);
      } else {
        const item = this.#add("user", message.content, message.status === "failed" ? "error" : "complete");
        showVersion(item, message);
      }
    }
    this.scrollToEnd();
  }

  addOwn(clientMessageId, text) {
    this.sent.set(clientMessageId, this.#add("user", text, "sending"));
    this.scrollToEnd(); // your own message always brings you to the bottom
  }

  ownStatus(clientMessageId, status) {
    const item = this.sent.get(clientMessageId);
    if (item) setStatus(item, status);
  }

  /** Applies a reply update of the client library (its text is whole and in order). */
  update(update) {
    const reply = this.#reply(update.messageId);
    if (reply.item.dataset.status !== "streaming") return;
    reply.typewriter.set(update.text, { done: update.done });
    if (update.done) {
      this.#render(reply);
      setStatus(reply.item, update.status);
    } else {
      this.#animate();
    }
  }

  stopping(messageId) {
    const reply = this.replies.get(messageId);
    if (reply && reply.item.dataset.status === "streaming") reply.item.dataset.note = "stopping…";
  }

  get streaming() {
    return [...this.replies.values()].some((r) => r.item.dataset.status === "streaming");
  }

  scrollToEnd() {
    this.#setFollowing(true);
    this.list.scrollTop = this.list.scrollHeight;
  }

  #animate() {
    if (this.animation !== null) return;
    this.lastTick = performance.now();
    const step = (now) => {
      const elapsed = Math.min(100, now - this.lastTick); // a hidden tab does not jump
      this.lastTick = now;
      let busy = false;
      for (const reply of this.replies.values()) {
        if (reply.typewriter.tick(elapsed)) this.#render(reply);
        busy ||= !reply.typewriter.idle;
      }
      this.animation = busy ? requestAnimationFrame(step) : null;
    };
    this.animation = requestAnimationFrame(step);
  }

  #render(reply) {
    const text = reply.typewriter.visible;
    if (text === reply.rendered) return;
    reply.rendered = text;
    reply.body.replaceChildren(renderMarkdown(text));
    if (this.following) this.list.scrollTop = this.list.scrollHeight;
  }

  #reply(messageId) {
    let reply = this.replies.get(messageId);
    if (!reply) {
      const item = this.#add("assistant", "", "streaming");
      item.dataset.messageId = messageId;
      reply = { item, body: item.querySelector(".body"), typewriter: new Typewriter(), rendered: "" };
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
    const body = document.createElement("div");
    body.className = "body";
    if (role === "assistant") body.append(renderMarkdown(text));
    else body.textContent = text; // the user's own words, exactly as typed
    item.append(who, body);
    setStatus(item, status);
    this.list.append(item);
    if (this.following) this.list.scrollTop = this.list.scrollHeight;
    return item;
  }

  #atBottom() {
    const { scrollHeight, scrollTop, clientHeight } = this.list;
    return scrollHeight - scrollTop - clientHeight <= NEAR_BOTTOM_PX;
  }

  #setFollowing(following) {
    if (following === this.following) return;
    this.following = following;
    this.onFollowChange(following);
  }
}

/** A regenerated or edited message says which version it is: "v2/2". */
function showVersion(item, message) {
  if (message.versions > 1) item.dataset.version = `${message.version}/${message.versions}`;
}

function setStatus(item, status) {
  item.dataset.status = status;
  if (status !== "streaming") delete item.dataset.note;
}
