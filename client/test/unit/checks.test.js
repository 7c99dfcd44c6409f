// The checks before a send: the protocol's 8,000-character message and 32 KB frame.
import assert from "node:assert/strict";
import { test } from "node:test";

import { InputError, LIMITS, checkFrame, checkMessage, frameBytes } from "../../realtime-chat-client.js";

test("a message of exactly 8,000 characters passes; one more is refused, naming both numbers", () => {
  assert.equal(checkMessage("a".repeat(8000)), null);
  const error = checkMessage("a".repeat(8001));
  assert.ok(error instanceof InputError);
  assert.equal(error.code, "MESSAGE_TOO_LARGE");
  assert.equal(error.length, 8001);
  assert.equal(error.limit, 8000);
  assert.match(error.message, /8,001 characters; the limit is 8,000/);
  assert.equal(error.hint, "Shorten the message.");
});

test("characters are counted as the server counts them: an emoji is one", () => {
  assert.equal(checkMessage("😀".repeat(8000)), null); // 16,000 UTF-16 units
  assert.equal(checkMessage("😀".repeat(8001)).code, "MESSAGE_TOO_LARGE");
});

test("empty, blank and not-valid-Unicode messages are refused before sending", () => {
  assert.equal(checkMessage("").code, "EMPTY_MESSAGE");
  assert.equal(checkMessage(" \n ").code, "EMPTY_MESSAGE");
  assert.equal(checkMessage("a\ud800b").code, "INVALID_MESSAGE");
});

test("8,000 four-byte characters still fit one frame; a frame of 32,769 bytes does not", () => {
  const emoji = { action: "chat_message", data: { message: "😀".repeat(8000), clientMessageId: "m-1" } };
  assert.equal(checkFrame(emoji), null); // 32,000 bytes of text and the frame around it
  const frame = { action: "chat_message", data: { message: "" } };
  const overhead = frameBytes(frame);
  frame.data.message = "a".repeat(LIMITS.maxFrameBytes - overhead);
  assert.equal(checkFrame(frame), null);
  frame.data.message += "a";
  const error = checkFrame(frame, { ...LIMITS, maxMessageChars: Infinity });
  assert.ok(error instanceof InputError);
  assert.equal(error.code, "FRAME_TOO_LARGE");
  assert.equal(error.bytes, 32769);
  assert.match(error.message, /1009/);
});

test("JSON escapes count: 6,000 control characters make a frame of 36,000 bytes and more", () => {
  const frame = { action: "chat_message", data: { message: "\u0001".repeat(6000) } };
  assert.equal(checkFrame(frame).code, "FRAME_TOO_LARGE");
});
