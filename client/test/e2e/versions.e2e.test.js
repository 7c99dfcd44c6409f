// regenerate(), edit() and versions() in Node against `make run`'s stack over real
// sockets: a second tab sees the new answer too, and history and versions agree.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ServerError } from "../../realtime-chat-client.js";
import { client, stored, within } from "./support.js";

function newConversation() {
  return `node_${Date.now()}_${Math.floor(Math.random() * 1e9).toString(36)}`;
}

test("a regenerate and an edit answer the last message again; versions keep what they replaced", async (t) => {
  // GIVEN an answered message, and a second tab of the same user
  const chat = client(t);
  const other = client(t);
  await within(Promise.all([chat.connect(), other.connect()]), "connect");
  const conversationId = newConversation();
  const first = await within(chat.send("Name a bird", { conversationId }).done, "the first reply");
  const question = (await stored(t, conversationId))[0].messageId;

  // WHEN it is regenerated
  const seenByOther = new Promise((resolve) => other.on("reply", (u) => u.done && u.messageId !== first.messageId && resolve(u)));
  const again = await within(chat.regenerate(conversationId).done, "the regenerated reply");

  // THEN the new answer is another message, and the other tab got it whole
  assert.notEqual(again.messageId, first.messageId);
  assert.equal((await within(seenByOther, "the other tab's copy")).text, again.text);

  // WHEN the message is edited
  const edited = await within(chat.edit(conversationId, question, "Name a fish").done, "the edited reply");
  assert.ok(edited.text.startsWith("You said: Name a fish"), edited.text);

  // THEN history shows the edited text and the newest answer, each as its newest version
  const page = await chat.history(conversationId);
  assert.deepEqual(
    page.messages.map((m) => [m.role, m.content.slice(0, 22), m.version, m.versions]),
    [
      ["user", "Name a fish", 2, 2],
      ["assistant", edited.text.slice(0, 22), 3, 3],
    ],
  );
  // ... and versions lists the old text and both earlier answers, oldest first
  const { texts, answers } = await chat.versions(conversationId, question);
  assert.deepEqual(texts.map((v) => v.content), ["Name a bird"]);
  assert.deepEqual(answers.map((v) => v.messageId), [first.messageId, again.messageId]);
});

test("editing a message other than the last is refused naming the one that can be", async (t) => {
  const chat = client(t);
  await within(chat.connect(), "connect");
  const conversationId = newConversation();
  await within(chat.send("one", { conversationId }).done, "the first reply");
  await within(chat.send("two", { conversationId }).done, "the second reply");
  const [firstQuestion, , lastQuestion] = await stored(t, conversationId);
  const turn = chat.edit(conversationId, firstQuestion.messageId, "changed");
  await assert.rejects(
    within(turn.done, "the refusal"),
    (err) => err instanceof ServerError && err.field === "messageId" && err.message.includes(lastQuestion.messageId),
  );
});
