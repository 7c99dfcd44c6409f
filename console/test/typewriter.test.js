// The typewriter: smooth, never far behind what arrived, never behind the final frame.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Typewriter } from "../typewriter.js";

test("text appears a few characters per frame, not all at once", () => {
  const tw = new Typewriter({ minCharsPerSecond: 60, catchUpMs: 400 });
  tw.set("x".repeat(40)); // one chunk of 40 characters
  tw.tick(16);
  assert.ok(tw.visible.length > 0 && tw.visible.length < 40, tw.visible.length);
  for (let i = 0; i < 30; i += 1) tw.tick(16);
  assert.equal(tw.visible.length, 40); // within 400 ms and a little
  assert.equal(tw.idle, true);
});

test("chunks every 350 ms read as a steady stream: no frame without progress in between", () => {
  const tw = new Typewriter({ minCharsPerSecond: 60, catchUpMs: 400 });
  let arrived = "";
  const shownAt = [];
  for (let frame = 0; frame < 22 * 6; frame += 1) {
    if (frame % 22 === 0) {
      arrived += "word ".repeat(6); // 30 characters every ~350 ms
      tw.set(arrived);
    }
    tw.tick(16);
    shownAt.push(tw.visible.length);
  }
  const stalls = shownAt.filter((n, i) => i > 0 && n === shownAt[i - 1] && n < arrived.length);
  assert.ok(stalls.length < shownAt.length / 4, `stalled ${stalls.length} of ${shownAt.length} frames`);
  // ... and it is never more than one chunk and a bit behind
  assert.ok(arrived.length - shownAt.at(-1) <= 30);
});

test("a big backlog is caught up within catchUpMs", () => {
  const tw = new Typewriter({ minCharsPerSecond: 60, catchUpMs: 400 });
  tw.set("y".repeat(5000));
  for (let t = 0; t < 400 + 16; t += 16) tw.tick(16);
  assert.equal(tw.visible.length, 5000);
});

test("the final frame shows everything at once", () => {
  const tw = new Typewriter();
  tw.set("abc");
  tw.tick(16);
  tw.set("abcdefghijklmnop", { done: true });
  assert.equal(tw.visible, "abcdefghijklmnop");
});

test("a history text is shown as it is; a snapshot that rewrites it keeps the common start", () => {
  const tw = new Typewriter();
  tw.show("hello world");
  assert.equal(tw.visible, "hello world");
  tw.set("hello world, and more");
  assert.equal(tw.visible, "hello world");
  tw.set("hello there");
  assert.equal(tw.visible, "hello ");
});

test("it never stops inside a surrogate pair", () => {
  const tw = new Typewriter({ minCharsPerSecond: 1000, catchUpMs: 100000 });
  tw.set("a😀b");
  tw.tick(2); // two UTF-16 units: "a" and half the emoji
  assert.equal(tw.visible, "a😀");
});
