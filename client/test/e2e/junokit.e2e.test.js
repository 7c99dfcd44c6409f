// Junokit's web client, its own WebSocket class unchanged, against this backend: its
// frame names and the error text its UI expects for an anonymous chat.
import assert from "node:assert/strict";
import { test } from "node:test";

import { JunokitWebSocket } from "./junokit-websocket.js";
import { STACK, WAIT_MS, signIn } from "./support.js";

const url = STACK.websocketUrl;

function event(ws, name) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${name} in ${WAIT_MS} ms`)), WAIT_MS);
    ws.once(name, (data) => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

// Its class logs every frame to the console; keep the test output readable.
function quiet(t) {
  const { log, error } = console;
  console.log = () => {};
  console.error = () => {};
  t.after(() => Object.assign(console, { log, error }));
}

test("signed in, Junokit's class connects, pings, subscribes and gets its chat reply", async (t) => {
  quiet(t);
  const ws = new JunokitWebSocket(url, await signIn());
  t.after(() => ws.disconnect());
  await ws.connect();
  assert.equal(ws.connectionState, "connected");

  const pong = event(ws, "pong");
  await ws.ping();
  assert.equal((await pong).type, "pong");

  const subscribed = event(ws, "notifications_subscribed");
  await ws.subscribeToNotifications(["chat", "system", "ai_response"]);
  assert.deepEqual((await subscribed).type, "notifications_subscribed");

  const typing = event(ws, "typing_acknowledged");
  await ws.sendTypingIndicator("junokit_1764100800000", true);
  assert.equal((await typing).isTyping, true);

  const received = event(ws, "message_received");
  const answered = event(ws, "ai_response");
  await ws.sendChatMessage(`junokit_${Date.now()}`, "hello from Junokit");
  assert.equal((await received).type, "message_received");
  const reply = await answered;
  assert.ok(reply.content.startsWith("You said: hello from Junokit"), reply.content);

  const status = event(ws, "status_updated");
  await ws.updateUserStatus("away");
  assert.equal((await status).status, "away");
});

test("anonymous, Junokit's class gets the exact sign-in error its UI shows", async (t) => {
  quiet(t);
  const ws = new JunokitWebSocket(url);
  t.after(() => ws.disconnect());
  await ws.connect();
  const error = event(ws, "error");
  await ws.sendChatMessage("junokit_1764100800000", "hello?");
  const frame = await error;
  assert.equal(frame.code, "AUTH_REQUIRED");
  assert.equal(frame.message, "Authentication required for chat messages. Please sign in to use real-time chat.");
  assert.deepEqual(
    { userId: frame.debugInfo.userId, requiresAuth: frame.debugInfo.requiresAuth, action: frame.debugInfo.action },
    { userId: "anonymous", requiresAuth: true, action: "chat_message" },
  );
});
