// Regenerate, edit, versions and the model list, as an app sees them: a regenerate or an
// edit is a Turn like send()'s (ack, its own reply, one end, resent after a drop), and
// the answers of list_models and message_versions are matched like any request's.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { InputError, RealtimeChatClient, ServerError } from "../../realtime-chat-client.js";
import { FakeClock, fakeToken, fakeWebSocket, settle } from "../support/fakes.js";

function setup() {
  const clock = new FakeClock();
  const { FakeWebSocket, last } = fakeWebSocket();
  const client = new RealtimeChatClient({
    url: "ws://gateway.test/prod",
    WebSocket: FakeWebSocket,
    clock,
    random: () => 1,
    keepaliveMs: null,
    getToken: async () => fakeToken({ exp: clock.now() / 1000 + 3600 }),
  });
  return { client, clock, last };
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
  conversationId: "c-1",
  clientMessageId: turn.clientMessageId,
  messageId: "user-1",
  ...more,
});
const chunk = (seq, delta, messageId) => ({ type: "ai_response_chunk", conversationId: "c-1", messageId, seq, delta });
const final = (content, messageId) => ({
  type: "ai_response",
  conversationId: "c-1",
  messageId,
  content,
  finishReason: "stop",
});

describe("regenerate and edit", () => {
  test("a regenerate is a turn that takes the new reply, never the old one", async () => {
    // GIVEN an answered reply-1 in the conversation
    const env = setup();
    const socket = await connected(env);
    socket.receive(final("old answer", "reply-1"));
    // WHEN the app regenerates with a chosen model
    const turn = env.client.regenerate("c-1", { clientMessageId: "r-1", model: "deep" });
    // THEN the frame names the conversation, the id and the model
    assert.deepEqual(socket.sent, [
      { action: "regenerate_reply", data: { conversationId: "c-1", model: "deep", clientMessageId: "r-1" } },
    ]);
    // AND the turn ends with the new reply's text
    socket.receive(ack(turn, { regenerated: true }));
    socket.receive(chunk(0, "new", "reply-2"));
    socket.receive(final("new answer", "reply-2"));
    const reply = await turn.done;
    assert.equal(reply.text, "new answer");
    assert.equal(turn.replyId, "reply-2");
    assert.equal((await turn.received).regenerated, true);
  });

  test("an edit sends the new text for the message it names, and is resent after a drop", async () => {
    const env = setup();
    const first = await connected(env);
    const turn = env.client.edit("c-1", "user-1", "better question", { clientMessageId: "e-1" });
    assert.deepEqual(first.sent, [
      {
        action: "edit_message",
        data: { conversationId: "c-1", messageId: "user-1", message: "better question", clientMessageId: "e-1" },
      },
    ]);
    assert.equal(turn.message, "better question");
    // WHEN the connection drops before the ack, THEN the same edit goes again on reconnect
    first.serverClose(1006);
    await env.clock.advance(500);
    const second = env.last();
    second.open();
    assert.deepEqual(second.sent, first.sent);
    second.receive(ack(turn, { edited: true, message: "better question" }));
    second.receive(final("answer to the better question", "reply-2"));
    assert.equal((await turn.done).text, "answer to the better question");
  });

  test("a regenerate refused by the server fails its turn with what to do", async () => {
    const env = setup();
    const socket = await connected(env);
    const turn = env.client.regenerate("c-1", { clientMessageId: "r-2" });
    socket.receive({
      type: "error",
      code: "INVALID_MESSAGE",
      field: "conversationId",
      message: "The last turn is still being answered: stop the reply (stop_reply) or wait for its end.",
      action: "regenerate_reply",
      clientMessageId: "r-2",
    });
    await assert.rejects(turn.done, (err) => err instanceof ServerError && err.field === "conversationId");
    assert.deepEqual(env.client.pendingTurns, []);
  });

  test("a missing conversation or message id, or an empty text, is refused before sending", async () => {
    const env = setup();
    const socket = await connected(env);
    assert.throws(() => env.client.regenerate(undefined), (err) => err instanceof InputError && err.field === "conversationId");
    assert.throws(() => env.client.edit("c-1", "", "x"), (err) => err instanceof InputError && err.field === "messageId");
    assert.throws(() => env.client.edit("c-1", "user-1", "  "), (err) => err.code === "EMPTY_MESSAGE");
    assert.deepEqual(socket.sent, []);
  });
});

describe("models and versions", () => {
  test("listModels resolves to the ids and labels; send carries the chosen model", async () => {
    const env = setup();
    const socket = await connected(env);
    const models = env.client.listModels();
    assert.deepEqual(socket.sent, [{ action: "list_models" }]);
    socket.receive({ type: "models", models: [{ id: "fast", label: "Fast" }] });
    assert.deepEqual(await models, [{ id: "fast", label: "Fast" }]);
    env.client.send("hi", { conversationId: "c-1", clientMessageId: "m-1", model: "fast" });
    assert.deepEqual(socket.sent[1].data, { message: "hi", conversationId: "c-1", model: "fast", clientMessageId: "m-1" });
  });

  test("versions resolves to the earlier texts and answers of the named turn", async () => {
    const env = setup();
    const socket = await connected(env);
    const other = env.client.versions("c-2", "user-9");
    const versions = env.client.versions("c-1", "user-1");
    assert.deepEqual(socket.sent[1], { action: "message_versions", data: { conversationId: "c-1", messageId: "user-1" } });
    const answer = { messageId: "reply-1", role: "assistant", content: "old", version: 1 };
    socket.receive({ type: "message_versions", conversationId: "c-1", messageId: "user-1", texts: [], answers: [answer] });
    assert.deepEqual(await versions, { texts: [], answers: [answer] });
    socket.receive({ type: "message_versions", conversationId: "c-2", messageId: "user-9", texts: [], answers: [] });
    assert.deepEqual(await other, { texts: [], answers: [] });
  });
});
