// The client library in Node against `make run`'s stack over real sockets: a whole
// turn, a connection dropped mid-answer, Stop, an expired token, and the 1009 close.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ConnectionError, InputError } from "../../realtime-chat-client.js";
import { client, dropConnection, next, signIn, stored, tokenWith, within } from "./support.js";

function newConversation() {
  return `node_${Date.now()}_${Math.floor(Math.random() * 1e9).toString(36)}`;
}

test("a turn's text arrives in order and ends as the stored reply", async (t) => {
  const chat = client(t);
  await within(chat.connect(), "connect");
  const conversationId = newConversation();
  const turn = chat.send("What is a WebSocket?", { conversationId });
  const texts = [];
  turn.on((event) => event.type === "text" && texts.push(event.text));
  const reply = await within(turn.done, "the reply");
  assert.equal(reply.status, "complete");
  assert.ok(reply.text.startsWith("You said: What is a WebSocket?"), reply.text);
  assert.ok(texts.length >= 2, "the reply streamed in several steps");
  assert.ok(texts.every((text) => reply.text.startsWith(text)), "each step is the start of the final text");
  const [, answer] = await stored(t, conversationId);
  assert.equal(answer.content, reply.text);
});

test("a connection dropped mid-answer comes back and the reply resumes to the stored word", async (t) => {
  // GIVEN a reply streaming on a connection
  const chat = client(t);
  await within(chat.connect(), "connect");
  const first = (await chat.debugStatus()).connectionInfo.connectionId;
  const conversationId = newConversation();
  const turn = chat.send("A long answer, please", { conversationId });
  const texts = [];
  turn.on((event) => event.type === "text" && texts.push(event.text));
  await within(new Promise((resolve) => turn.on((e) => e.type === "text" && e.text.length > 40 && resolve())), "text");
  const reopened = next(chat, "open", (e) => e.reconnected);

  // WHEN the server closes that connection
  await dropConnection(first);

  // THEN the client reconnects on its own, on a new connection
  await within(reopened, "the reconnect");
  const second = (await chat.debugStatus()).connectionInfo.connectionId;
  assert.notEqual(second, first);
  // ... and the reply ends whole: no gap, no repeat, exactly what was stored
  const reply = await within(turn.done, "the reply");
  assert.ok(texts.every((text) => reply.text.startsWith(text)));
  const messages = await stored(t, conversationId);
  assert.deepEqual(
    messages.map((m) => m.role),
    ["user", "assistant"],
    "the retry with the same clientMessageId stored nothing twice",
  );
  assert.equal(messages[1].content, reply.text);
});

test("stop ends a streaming reply as stopped, with the text so far stored", async (t) => {
  const chat = client(t);
  await within(chat.connect(), "connect");
  const conversationId = newConversation();
  const turn = chat.send("Go on for a while", { conversationId });
  await within(turn.received, "message_received");
  const requested = await within(chat.stop(conversationId), "reply_stop_requested");
  assert.equal(requested.type, "reply_stop_requested");
  const reply = await within(turn.done, "the reply");
  assert.equal(reply.status, "stopped");
  assert.equal(reply.finishReason, "stopped");
  const [, answer] = await stored(t, conversationId);
  assert.equal(answer.status, "stopped");
  assert.equal(answer.content, reply.text);
});

test("an expired token is refused at the handshake, and getToken is asked for a fresh one", async (t) => {
  const expired = await tokenWith({ exp: Math.floor(Date.now() / 1000) - 60 });
  const chat = client(t, { token: ({ fresh }) => (fresh ? signIn() : expired) });
  await within(chat.connect(), "connect");
  assert.deepEqual(chat.calls, [false, true]);
  const status = await chat.debugStatus();
  assert.equal(status.connectionInfo.isAuthenticated, true);
});

test("a token that expires while connected: TOKEN_EXPIRED, a fresh token, and the turn still answered", async (t) => {
  // GIVEN a connection whose token expires soon (and no renewal ahead of time)
  const exp = Math.floor(Date.now() / 1000) + 8; // long enough to connect on a busy CI, short to wait for
  const short = await tokenWith({ exp });
  const chat = client(t, {
    token: ({ fresh }) => (fresh ? signIn() : short),
    renewBeforeExpiryMs: null,
  });
  await within(chat.connect(), "connect");
  // ... and the token's expiry passes (the server allows no leeway)
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, exp * 1000 - Date.now() + 1_500)));

  // WHEN a message is sent
  const expired = next(chat, "error", (e) => e.code === "TOKEN_EXPIRED");
  const turn = chat.send("still there?", { conversationId: newConversation() });

  // THEN the server says the token expired, the client signs in again and resends
  const error = await within(expired, "TOKEN_EXPIRED");
  assert.equal(error.retryable, true);
  const reply = await within(turn.done, "the reply");
  assert.ok(reply.text.startsWith("You said: still there?"));
  assert.deepEqual(chat.calls, [false, true]);
});

test("a frame over 32 KB: refused before sending by default; the gateway's 1009 when forced", async (t) => {
  const big = "x".repeat(40_000);
  // GIVEN the default client: nothing leaves it, the connection stays
  const careful = client(t);
  await within(careful.connect(), "connect");
  const before = (await careful.debugStatus()).connectionInfo.connectionId;
  assert.throws(() => careful.send(big), (err) => err instanceof InputError && err.code === "MESSAGE_TOO_LARGE");
  assert.equal((await careful.debugStatus()).connectionInfo.connectionId, before);

  // GIVEN a client whose checks are off, so the frame goes
  const forced = client(t, { limits: { maxMessageChars: Infinity, maxFrameBytes: Infinity } });
  await within(forced.connect(), "connect");
  const closed = next(forced, "close");
  const reopened = next(forced, "open", (e) => e.reconnected);
  const turn = forced.send(big, { conversationId: newConversation() });

  // THEN the gateway closes with 1009, the turn fails saying why, and is not sent again
  await assert.rejects(
    within(turn.done, "the failure"),
    (err) => err instanceof ConnectionError && err.code === "FRAME_TOO_LARGE" && err.closeCode === 1009,
  );
  assert.equal((await closed).code, 1009);
  await within(reopened, "the reconnect");
  assert.deepEqual(forced.pendingTurns, []);
  // ... and the connection is usable again
  const after = forced.send("small again", { conversationId: newConversation() });
  assert.ok((await within(after.done, "the reply")).text.startsWith("You said: small again"));
});
