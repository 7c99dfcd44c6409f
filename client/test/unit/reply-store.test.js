// Replies put together from chunks, snapshots and final frames, in every order the
// network can deliver them.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { ReplyStore } from "../../reply-store.js";

const C = "conv-1";
const M = "reply-1";
const chunk = (seq, delta) => ({ type: "ai_response_chunk", conversationId: C, messageId: M, seq, delta });
const snapshot = (seq, content) => ({ type: "ai_response_snapshot", conversationId: C, messageId: M, seq, content });
const final = (content, more = {}) => ({
  type: "ai_response",
  conversationId: C,
  messageId: M,
  content,
  finishReason: "stop",
  ...more,
});

describe("chunks", () => {
  test("in order: each appends its delta", () => {
    const store = new ReplyStore();
    assert.equal(store.apply(chunk(0, "A")).text, "A");
    const update = store.apply(chunk(1, " WebSocket"));
    assert.equal(update.text, "A WebSocket");
    assert.equal(update.delta, " WebSocket");
    assert.equal(update.status, "streaming");
    assert.equal(update.done, false);
  });

  test("a gap is held until the missing chunk comes, then all of it appears in order", () => {
    const store = new ReplyStore();
    store.apply(chunk(0, "a"));
    assert.equal(store.apply(chunk(2, "c")), null);
    assert.equal(store.apply(chunk(3, "d")), null);
    assert.equal(store.get(M).text, "a");
    const update = store.apply(chunk(1, "b"));
    assert.equal(update.text, "abcd");
    assert.equal(update.delta, "bcd");
  });

  test("duplicates are dropped, whether already applied or still held", () => {
    const store = new ReplyStore();
    store.apply(chunk(0, "a"));
    assert.equal(store.apply(chunk(0, "a")), null);
    store.apply(chunk(2, "c"));
    assert.equal(store.apply(chunk(2, "c")), null);
    assert.equal(store.apply(chunk(1, "b")).text, "abc");
  });

  test("a reply first seen mid-way waits for a snapshot instead of showing a hole", () => {
    const store = new ReplyStore();
    assert.equal(store.apply(chunk(5, "f")), null);
    const update = store.apply(snapshot(4, "abcde"));
    assert.equal(update.text, "abcdef");
  });
});

describe("snapshots", () => {
  test("a snapshot replaces the text, and later chunks follow it without gap or repeat", () => {
    const store = new ReplyStore();
    store.apply(chunk(0, "a"));
    store.apply(chunk(4, "e")); // held behind the gap 1..3
    const update = store.apply(snapshot(3, "abcd"));
    assert.equal(update.text, "abcde");
    assert.equal(store.apply(chunk(3, "d")), null); // covered by the snapshot
    assert.equal(store.apply(chunk(5, "f")).text, "abcdef");
  });

  test("an older snapshot than the text shown is ignored", () => {
    const store = new ReplyStore();
    for (const [i, d] of ["a", "b", "c"].entries()) store.apply(chunk(i, d));
    assert.equal(store.apply(snapshot(1, "ab")), null);
    assert.equal(store.get(M).text, "abc");
  });

  test("a snapshot before the first chunk (seq -1) starts an empty reply", () => {
    const store = new ReplyStore();
    store.apply(snapshot(-1, ""));
    assert.equal(store.apply(chunk(0, "x")).text, "x");
  });
});

describe("the final frame", () => {
  test("ends the reply once: later chunks, snapshots and a repeated final change nothing", () => {
    const store = new ReplyStore();
    store.apply(chunk(0, "ab"));
    const update = store.apply(final("abc"));
    assert.equal(update.text, "abc");
    assert.equal(update.done, true);
    assert.equal(update.status, "complete");
    assert.equal(store.apply(final("abc")), null);
    assert.equal(store.apply(chunk(1, "zzz")), null);
    assert.equal(store.apply(snapshot(9, "other")), null);
    assert.equal(store.get(M).text, "abc");
  });

  test("finishReason says how it ended: stopped, error", () => {
    const store = new ReplyStore();
    assert.equal(store.apply(final("ab", { finishReason: "stopped" })).status, "stopped");
    const other = new ReplyStore();
    assert.equal(other.apply(final("ab", { finishReason: "error" })).status, "error");
  });

  test("a truncated final frame keeps the longer text the chunks carried", () => {
    const store = new ReplyStore();
    store.apply(chunk(0, "a".repeat(100)));
    const update = store.apply(final("a".repeat(40), { contentTruncated: true }));
    assert.equal(update.text.length, 100);
    assert.equal(update.contentTruncated, true);
  });

  test("a final frame that arrives before the chunks still ends the reply whole", () => {
    const store = new ReplyStore();
    store.apply(chunk(0, "a"));
    const update = store.apply(final("abc"));
    assert.equal(update.text, "abc");
    assert.equal(update.delta, "bc");
  });
});

describe("history", () => {
  test("a reply streaming in history is picked up by the snapshot that follows, chunks held meanwhile", () => {
    // GIVEN a history page with the reply at its last checkpoint (805 characters)
    const store = new ReplyStore();
    const checkpoint = "x".repeat(805);
    const message = { messageId: M, role: "assistant", content: checkpoint, status: "streaming" };
    store.fromHistory(C, message);
    // WHEN chunks arrive whose seq the page cannot place
    assert.equal(store.apply(chunk(178, "y")), null);
    // THEN the snapshot brings the text up to date and the held chunk follows
    const update = store.apply(snapshot(177, checkpoint + "z".repeat(300)));
    assert.equal(update.text, checkpoint + "z".repeat(300) + "y");
    assert.equal(store.apply(chunk(179, "w")).text.endsWith("yw"), true);
  });

  test("a history page older than what streamed gives back the fresher text", () => {
    const store = new ReplyStore();
    store.apply(snapshot(3, "abcd"));
    const message = { messageId: M, role: "assistant", content: "ab", status: "streaming" };
    assert.equal(store.fromHistory(C, message).content, "abcd");
    store.apply(final("abcdef"));
    const shown = store.fromHistory(C, message);
    assert.equal(shown.content, "abcdef");
    assert.equal(shown.status, "complete");
  });

  test("finished messages and the user's own pass through untouched", () => {
    const store = new ReplyStore();
    const user = { messageId: "u", role: "user", content: "hi", status: "complete" };
    assert.equal(store.fromHistory(C, user), user);
    const done = { messageId: "r", role: "assistant", content: "yo", status: "complete" };
    assert.equal(store.fromHistory(C, done), done);
    assert.equal(store.get("r"), undefined);
  });
});
