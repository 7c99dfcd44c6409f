// The client against a WebSocket the test plays, on a clock the test moves: what an
// app sees when it connects, sends, loses the connection, or is refused.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { AuthError, ConnectionError, InputError, RealtimeChatClient, ServerError } from "../../realtime-chat-client.js";
import { FakeClock, fakeToken, fakeWebSocket, settle } from "../support/fakes.js";

const URL_ = "ws://gateway.test/prod";

function setup(options = {}) {
  const clock = new FakeClock();
  const { FakeWebSocket, sockets, last } = fakeWebSocket();
  const tokenCalls = [];
  const getToken =
    options.getToken ||
    (async ({ fresh }) => {
      tokenCalls.push(fresh);
      return fakeToken({ exp: clock.now() / 1000 + 3600, email: "ada@example.com", n: tokenCalls.length });
    });
  const client = new RealtimeChatClient({
    url: URL_,
    WebSocket: FakeWebSocket,
    clock,
    random: () => 1, // the top of each backoff range
    keepaliveMs: null,
    ...options,
    getToken,
  });
  const events = [];
  for (const name of ["state", "open", "close", "reply", "error", "conversation_deleted"]) {
    client.on(name, (detail) => events.push([name, detail]));
  }
  return { client, clock, sockets, last, tokenCalls, events };
}

async function connected(env) {
  const opened = env.client.connect();
  await settle();
  env.last().open();
  await opened;
  return env.last();
}

const ack = (turn, more = {}) => ({
  type: "message_received",
  conversationId: turn.conversationId,
  clientMessageId: turn.clientMessageId,
  messageId: "user-1",
  ...more,
});
const chunk = (seq, delta, messageId = "reply-1", conversationId = "c-1") => ({
  type: "ai_response_chunk",
  conversationId,
  messageId,
  seq,
  delta,
});
const final = (content, more = {}) => ({
  type: "ai_response",
  conversationId: "c-1",
  messageId: "reply-1",
  content,
  finishReason: "stop",
  ...more,
});

describe("connecting", () => {
  test("the token goes in the URL, and the state goes connecting then open", async () => {
    const env = setup();
    const socket = await connected(env);
    assert.equal(new URL(socket.url).origin + new URL(socket.url).pathname, URL_);
    assert.equal(socket.token.split(".").length, 3);
    assert.deepEqual(env.tokenCalls, [false]);
    assert.deepEqual(
      env.events.filter(([n]) => n === "state").map(([, d]) => d.state),
      ["connecting", "open"],
    );
    const [, opened] = env.events.find(([n]) => n === "open");
    assert.equal(opened.claims.email, "ada@example.com");
    assert.equal(opened.reconnected, false);
  });

  test("no token means an anonymous connection: no token in the URL", async () => {
    const env = setup({ getToken: async () => null });
    const socket = await connected(env);
    assert.equal(socket.token, null);
  });

  test("failed attempts back off 0.5, 1, 2, 4 s (with jitter), and an open connection resets it", async () => {
    const env = setup({ getToken: async () => null });
    env.client.connect();
    await settle();
    const waits = [];
    for (let i = 0; i < 4; i += 1) {
      env.last().refuse();
      waits.push(env.clock.pending[0]);
      const before = env.sockets.length;
      await env.clock.advance(waits.at(-1) - 1);
      assert.equal(env.sockets.length, before, "no attempt before the wait is over");
      await env.clock.advance(1);
      assert.equal(env.sockets.length, before + 1);
    }
    assert.deepEqual(waits, [500, 1000, 2000, 4000]);
    env.last().open();
    env.last().serverClose(1001);
    assert.equal(env.clock.pending[0], 500);
  });

  test("a handshake refused with a token signs in again at once, then backs off if refused again", async () => {
    const env = setup();
    env.client.connect();
    await settle();
    env.last().refuse();
    assert.deepEqual(env.clock.pending, [0]);
    await env.clock.advance(0);
    assert.deepEqual(env.tokenCalls, [false, true]);
    env.last().refuse();
    assert.deepEqual(env.clock.pending, [500]); // the first wait of the backoff
    await env.clock.advance(500);
    assert.deepEqual(env.tokenCalls, [false, true, true]);
    env.last().open();
    assert.equal(env.client.state, "open");
  });

  test("an error with no close after it counts as a dropped connection; one with a close counts once", async () => {
    const env = setup({ getToken: async () => null });
    env.client.connect();
    await settle();
    env.last().fail();
    await env.clock.advance(0);
    assert.equal(env.client.state, "connecting");
    assert.deepEqual(env.clock.pending, [500]);
    await env.clock.advance(500);
    env.last().fail();
    env.last().refuse(); // the close that follows at once in a browser
    await env.clock.advance(0);
    assert.equal(env.events.filter(([n]) => n === "close").length, 2);
    assert.deepEqual(env.clock.pending, [1000]);
  });

  test("getToken failing for good closes the client with an AuthError; a retryable failure backs off", async () => {
    let calls = 0;
    const env = setup({
      getToken: async () => {
        calls += 1;
        const err = new Error(calls === 1 ? "Cognito unreachable" : "Wrong password");
        err.retryable = calls === 1;
        throw err;
      },
    });
    const opened = env.client.connect();
    await settle();
    assert.deepEqual(env.clock.pending, [500]);
    await env.clock.advance(500);
    await assert.rejects(opened, (err) => err instanceof AuthError && err.message === "Wrong password");
    assert.equal(env.client.state, "closed");
    assert.equal(env.sockets.length, 0);
    assert.equal(env.events.filter(([n]) => n === "error").length, 1);
    assert.deepEqual(env.clock.pending, []);
  });

  test("the token is renewed 30 s before it expires, on a new connection", async () => {
    const env = setup({
      getToken: async ({ fresh }) => {
        env.tokenCalls.push(fresh);
        return fakeToken({ exp: env.clock.now() / 1000 + 60 });
      },
    });
    const first = await connected(env);
    await env.clock.advance(29_999);
    assert.equal(env.sockets.length, 1);
    await env.clock.advance(1);
    assert.deepEqual(env.tokenCalls, [false, true]);
    assert.equal(first.closedBy.code, 1000);
    assert.equal(env.sockets.length, 2);
  });

  test("an idle connection sends a ping every keepalive period", async () => {
    const env = setup({ keepaliveMs: 300_000 });
    const socket = await connected(env);
    await env.clock.advance(300_000);
    assert.deepEqual(socket.actions(), ["ping"]);
    socket.receive({ type: "pong" });
    await env.clock.advance(300_000);
    assert.deepEqual(socket.actions(), ["ping", "ping"]);
  });

  test("close() stops for good: waiting requests fail, nothing reconnects", async () => {
    const env = setup();
    const socket = await connected(env);
    const history = env.client.history("c-1");
    const turn = env.client.send("hi", { conversationId: "c-1" });
    env.client.close();
    await assert.rejects(history, (err) => err instanceof ConnectionError && err.code === "CLOSED");
    await assert.rejects(turn.done, (err) => err.code === "CLOSED");
    assert.equal(socket.closedBy.code, 1000);
    assert.equal(env.client.state, "closed");
    assert.deepEqual(env.clock.pending, []);
    assert.throws(() => env.client.send("again"), (err) => err.code === "NOT_CONNECTED");
  });
});

describe("a chat turn", () => {
  test("the turn gives its ack, its text in seq order, and one final", async () => {
    const env = setup();
    const socket = await connected(env);
    const turn = env.client.send("What is a WebSocket?", { conversationId: "c-1", clientMessageId: "c-0001" });
    assert.deepEqual(socket.sent, [
      { action: "chat_message", data: { message: "What is a WebSocket?", clientMessageId: "c-0001", conversationId: "c-1" } },
    ]);
    const seen = [];
    turn.on((event) => seen.push(event.type === "text" ? event.text : event.type));
    socket.receive(ack(turn));
    socket.receive(chunk(0, "A"));
    socket.receive(chunk(2, " connection"));
    socket.receive(chunk(1, " WebSocket is a"));
    socket.receive(chunk(1, " WebSocket is a")); // a duplicate
    socket.receive(final("A WebSocket is a connection"));
    socket.receive(final("A WebSocket is a connection")); // a second final changes nothing
    assert.deepEqual(seen, ["ack", "A", "A WebSocket is a connection", "final"]);
    const reply = await turn.done;
    assert.equal(reply.text, "A WebSocket is a connection");
    assert.equal(reply.status, "complete");
    assert.equal((await turn.received).messageId, "user-1");
    assert.equal(turn.replyId, "reply-1");
    assert.equal(env.events.filter(([n, d]) => n === "reply" && d.done).length, 1);
    assert.deepEqual(env.client.pendingTurns, []);
  });

  test("a turn is an async iterable of its events", async () => {
    const env = setup();
    const socket = await connected(env);
    const turn = env.client.send("hi", { conversationId: "c-1" });
    const collected = (async () => {
      const types = [];
      for await (const event of turn) types.push(event.type);
      return types;
    })();
    await settle();
    socket.receive(ack(turn));
    socket.receive(chunk(0, "yo"));
    socket.receive(final("yo"));
    assert.deepEqual(await collected, ["ack", "text", "final"]);
  });

  test("replies of other tabs and conversations come as reply events too", async () => {
    const env = setup();
    const socket = await connected(env);
    socket.receive(chunk(0, "elsewhere", "reply-9", "c-9"));
    const [, update] = env.events.find(([n]) => n === "reply");
    assert.equal(update.conversationId, "c-9");
    assert.equal(update.text, "elsewhere");
  });

  test("a reply already streaming in the conversation is not taken for the new turn's", async () => {
    const env = setup();
    const socket = await connected(env);
    socket.receive(chunk(0, "other tab's", "reply-0"));
    const turn = env.client.send("mine", { conversationId: "c-1" });
    socket.receive(ack(turn));
    socket.receive(chunk(1, " answer", "reply-0"));
    socket.receive(chunk(0, "my answer"));
    assert.equal(turn.replyId, "reply-1");
    assert.equal(turn.reply.text, "my answer");
  });

  test("after a drop mid-answer the turn is resent with the same clientMessageId and resumes from the snapshot", async () => {
    // GIVEN a turn whose reply has streamed two chunks
    const env = setup();
    const first = await connected(env);
    const turn = env.client.send("long answer please", { conversationId: "c-1" });
    first.receive(ack(turn));
    first.receive(chunk(0, "one"));
    first.receive(chunk(1, " two"));
    // WHEN the connection drops, and the client comes back after its backoff
    first.serverClose(1006);
    assert.deepEqual(env.clock.pending, [500]);
    await env.clock.advance(500);
    const second = env.last();
    second.open();
    // THEN the same message goes again, same clientMessageId, with the same token
    assert.deepEqual(second.sent, first.sent);
    assert.deepEqual(env.tokenCalls, [false, false]);
    // ... and the snapshot plus later chunks continue the text without gap or repeat
    second.receive({ type: "ai_response_snapshot", conversationId: "c-1", messageId: "reply-1", seq: 3, content: "one two three four" });
    second.receive(ack(turn));
    second.receive(chunk(3, " four"));
    second.receive(chunk(4, " five"));
    second.receive(final("one two three four five"));
    const reply = await turn.done;
    assert.equal(reply.text, "one two three four five");
    const texts = env.events.filter(([n]) => n === "reply").map(([, d]) => d.text);
    assert.deepEqual(texts, ["one", "one two", "one two three four", "one two three four five", "one two three four five"]);
    assert.equal(env.events.find(([n, d]) => n === "open" && d.reconnected)[1].reconnected, true);
  });

  test("a retry whose snapshot comes before its ack still claims that reply", async () => {
    const env = setup();
    const first = await connected(env);
    const turn = env.client.send("hi", { conversationId: "c-1" });
    first.receive(ack(turn)); // acknowledged, no chunk yet
    first.serverClose(1006);
    await env.clock.advance(500);
    const second = env.last();
    second.open();
    second.receive({ type: "ai_response_snapshot", conversationId: "c-1", messageId: "reply-1", seq: 0, content: "so far" });
    second.receive(ack(turn));
    second.receive(chunk(1, " and on"));
    assert.equal(turn.replyId, "reply-1");
    assert.equal(turn.reply.text, "so far and on");
  });

  test("a turn answered while disconnected ends with the stored reply the retry brings", async () => {
    const env = setup();
    const first = await connected(env);
    const turn = env.client.send("hi", { conversationId: "c-1" });
    first.receive(ack(turn));
    first.receive(chunk(0, "par"));
    first.serverClose(1001);
    await env.clock.advance(500);
    env.last().open();
    env.last().receive(ack(turn));
    env.last().receive(final("partial no more"));
    assert.equal((await turn.done).text, "partial no more");
  });

  test("while reconnecting a send waits and goes out on open", async () => {
    const env = setup();
    const first = await connected(env);
    first.serverClose(1006);
    assert.equal(env.client.state, "connecting");
    const turn = env.client.send("queued", { conversationId: "c-1" });
    await env.clock.advance(500);
    env.last().open();
    assert.deepEqual(env.last().actions(), ["chat_message"]);
    assert.equal(turn.status, "sending");
  });

  test("TOKEN_EXPIRED signs in again on a new connection and the turn goes again there", async () => {
    const env = setup();
    const first = await connected(env);
    const turn = env.client.send("hi", { conversationId: "c-1" });
    first.receive({ type: "error", code: "TOKEN_EXPIRED", message: "expired", retryable: true, action: "chat_message", clientMessageId: turn.clientMessageId });
    await settle();
    assert.equal(first.closedBy.code, 1000);
    assert.deepEqual(env.tokenCalls, [false, true]);
    env.last().open();
    assert.deepEqual(env.last().sent, first.sent);
    assert.equal(turn.status, "sending");
  });

  test("an error frame naming the turn fails it with a ServerError that says what to do", async () => {
    const env = setup({ getToken: async () => null });
    const socket = await connected(env);
    const turn = env.client.send("hello?");
    socket.receive({
      type: "error",
      code: "AUTH_REQUIRED",
      message: "Authentication required for chat messages. Please sign in to use real-time chat.",
      action: "chat_message",
      requestId: "r-1",
      clientMessageId: turn.clientMessageId,
    });
    await assert.rejects(turn.done, (err) => {
      assert.ok(err instanceof ServerError);
      assert.equal(err.code, "AUTH_REQUIRED");
      assert.equal(err.requestId, "r-1");
      assert.equal(err.hint, "Sign in, then send again.");
      return true;
    });
    assert.equal(turn.status, "failed");
    assert.equal(env.events.filter(([n]) => n === "error").length, 0); // the turn had it
  });

  test("RATE_LIMITED says when to send again", async () => {
    const env = setup();
    const socket = await connected(env);
    const turn = env.client.send("hi");
    socket.receive({ type: "error", code: "RATE_LIMITED", message: "slow down", retryAfter: 2.5, retryable: true, action: "chat_message", clientMessageId: turn.clientMessageId });
    await assert.rejects(turn.done, (err) => err.retryable && err.hint === "Too many messages: you can send again in 3 s.");
  });
});

describe("refused before sending", () => {
  test("a message over 8,000 characters throws an InputError and nothing is sent", async () => {
    const env = setup();
    const socket = await connected(env);
    const text = "x".repeat(40_000);
    assert.throws(() => env.client.send(text), (err) => err instanceof InputError && err.code === "MESSAGE_TOO_LARGE");
    assert.deepEqual(socket.sent, []);
    assert.equal(env.client.state, "open");
    assert.deepEqual(env.client.pendingTurns, []);
  });

  test("ids made by the client are unique and of the protocol's form", async () => {
    const env = setup();
    await connected(env);
    const ids = [1, 2, 3].map(() => env.client.send("hi").clientMessageId);
    assert.equal(new Set(ids).size, 3);
    for (const id of ids) assert.match(id, /^m_\d+_[a-z0-9]+$/);
  });

  test("a bad id, an empty message, or no connection are refused the same way", async () => {
    const env = setup();
    assert.throws(() => env.client.send("hi"), (err) => err instanceof ConnectionError && err.code === "NOT_CONNECTED");
    const socket = await connected(env);
    assert.throws(() => env.client.send("hi", { conversationId: "../etc" }), (err) => err.code === "INVALID_ID" && err.field === "conversationId");
    assert.throws(() => env.client.send("   "), (err) => err.code === "EMPTY_MESSAGE");
    assert.deepEqual(socket.sent, []);
  });

  test("a 1009 close fails the frame that caused it, which is never sent again", async () => {
    // GIVEN a client whose own checks were turned off, so a 40 KB frame leaves it
    const env = setup({ limits: { maxMessageChars: Infinity, maxFrameBytes: Infinity } });
    const first = await connected(env);
    const small = env.client.send("small", { conversationId: "c-1" });
    first.receive(ack(small));
    const big = env.client.send("y".repeat(40_000), { conversationId: "c-1" });
    // WHEN the gateway closes with 1009
    first.serverClose(1009, "Message too big");
    // THEN the big turn fails saying why, and the client reconnects
    await assert.rejects(big.done, (err) => err instanceof ConnectionError && err.code === "FRAME_TOO_LARGE" && err.closeCode === 1009);
    const [, closed] = env.events.find(([n]) => n === "close");
    assert.equal(closed.code, 1009);
    assert.match(closed.error.message, /over 32 KB/);
    await env.clock.advance(closed.retryInMs);
    env.last().open();
    // ... and only the small turn, still waiting for its reply, goes again
    assert.deepEqual(env.last().sent.map((f) => f.data.message), ["small"]);
  });
});

describe("requests", () => {
  test("answers are matched by type and conversation, in whatever order they come", async () => {
    const env = setup();
    const socket = await connected(env);
    const a = env.client.history("c-a", { limit: 5 });
    const b = env.client.history("c-b");
    const list = env.client.list({ limit: 20 });
    assert.deepEqual(socket.sent[0], { action: "chat_history", data: { conversationId: "c-a", limit: 5 } });
    socket.receive({ type: "conversations", conversations: [], nextCursor: null });
    socket.receive({ type: "chat_history", conversationId: "c-b", messages: [{ role: "user", content: "b" }] });
    socket.receive({ type: "chat_history", conversationId: "c-a", messages: [{ role: "user", content: "a" }] });
    assert.equal((await a).messages[0].content, "a");
    assert.equal((await b).messages[0].content, "b");
    assert.deepEqual((await list).conversations, []);
  });

  test("an error frame rejects the request of its action with a ServerError", async () => {
    const env = setup();
    const socket = await connected(env);
    const history = env.client.history("gone");
    socket.receive({ type: "error", code: "NOT_FOUND", message: "No conversation 'gone'.", action: "chat_history", requestId: "r-9" });
    await assert.rejects(history, (err) => err instanceof ServerError && err.code === "NOT_FOUND" && err.requestId === "r-9");
  });

  test("a request without an answer in time fails with TIMEOUT", async () => {
    const env = setup({ requestTimeoutMs: 10_000 });
    await connected(env);
    const stop = env.client.stop("c-1");
    await env.clock.advance(10_000);
    await assert.rejects(stop, (err) => err.code === "TIMEOUT" && err.retryable);
  });

  test("a request's time runs from its send, so one asked while offline is not timed out by the wait", async () => {
    // GIVEN a client whose connection dropped, and a request asked while it is down
    const env = setup({ requestTimeoutMs: 10_000 });
    const first = await connected(env);
    first.serverClose(1006);
    const list = env.client.list();
    let settled = false;
    list.then(() => (settled = true), () => (settled = true));
    // WHEN the connection is back only after longer than the timeout
    await env.clock.advance(12_000);
    env.last().open();
    assert.deepEqual(env.last().actions(), ["list_conversations"]);
    await env.clock.advance(9_000);
    // THEN the request still waits for its answer, and gets it
    assert.equal(settled, false);
    env.last().receive({ type: "conversations", conversations: [] });
    assert.deepEqual((await list).conversations, []);
  });

  test("a request waiting across a reconnect is asked again on the new connection", async () => {
    const env = setup();
    const first = await connected(env);
    const list = env.client.list();
    first.serverClose(1006);
    await env.clock.advance(500);
    env.last().open();
    assert.deepEqual(env.last().actions(), ["list_conversations"]);
    env.last().receive({ type: "conversations", conversations: [{ conversationId: "c-1" }] });
    assert.equal((await list).conversations.length, 1);
  });

  test("a request asked when the connection opens goes once, beside those that waited", async () => {
    const env = setup();
    const first = await connected(env);
    const waiting = env.client.list();
    first.serverClose(1006);
    env.client.on("open", () => env.client.history("c-1"));
    await env.clock.advance(500);
    env.last().open();
    assert.deepEqual(env.last().actions(), ["list_conversations", "chat_history"]);
    env.last().receive({ type: "conversations", conversations: [] });
    await waiting;
  });

  test("history gives a streaming reply the freshest text, and its chunks follow the snapshot", async () => {
    const env = setup();
    const socket = await connected(env);
    // the snapshot arrives before the page asked for history (a reload)
    socket.receive({ type: "ai_response_snapshot", conversationId: "c-1", messageId: "reply-1", seq: 9, content: "0123456789" });
    const page = env.client.history("c-1");
    socket.receive({ type: "chat_history", conversationId: "c-1", messages: [{ messageId: "reply-1", role: "assistant", content: "0123", status: "streaming" }] });
    const { messages } = await page;
    assert.equal(messages[0].content, "0123456789");
    socket.receive(chunk(10, "A"));
    assert.equal(env.client.reply("reply-1").text, "0123456789A");
  });

  test("a deletion is emitted and its replies forgotten; gateway and unmatched errors go to 'error'", async () => {
    const env = setup();
    const socket = await connected(env);
    socket.receive(chunk(0, "x"));
    socket.receive({ type: "conversation_deleted", conversationId: "c-1" });
    assert.equal(env.client.reply("reply-1"), undefined);
    assert.equal(env.events.filter(([n]) => n === "conversation_deleted").length, 1);
    socket.receive({ message: "Internal server error", requestId: "gw-1" });
    socket.receive({ type: "error", code: "INVALID_JSON", message: "not JSON", action: null });
    const errors = env.events.filter(([n]) => n === "error").map(([, e]) => e.code);
    assert.deepEqual(errors, ["GATEWAY", "INVALID_JSON"]);
  });
});
