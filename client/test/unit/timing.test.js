// Backoff with jitter, and when a token is renewed.
import assert from "node:assert/strict";
import { test } from "node:test";

import { backoffDelay, tokenClaims } from "../../realtime-chat-client.js";
import { renewalDelay } from "../../timing.js";
import { fakeToken } from "../support/fakes.js";

test("the cap doubles from 0.5 s to 30 s and the wait is in its upper half", () => {
  const low = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(n, undefined, () => 0));
  const high = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(n, undefined, () => 1));
  assert.deepEqual(high, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  assert.deepEqual(low, [250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  assert.equal(backoffDelay(1000, undefined, () => 1), 30000); // no overflow
});

test("jitter spreads clients that lost the server together", () => {
  const waits = [0.1, 0.5, 0.9].map((r) => backoffDelay(3, undefined, () => r));
  assert.deepEqual(waits, [2200, 3000, 3800]);
});

test("the base and the cap are options", () => {
  assert.equal(backoffDelay(2, { baseMs: 100, maxMs: 300 }, () => 1), 300);
});

test("a token is renewed the given time before its exp; one without exp is not", () => {
  const now = 1_800_000_000_000;
  const token = fakeToken({ exp: now / 1000 + 3600, email: "ada@example.com" });
  assert.equal(renewalDelay(token, now, 30_000), 3_570_000);
  assert.equal(renewalDelay(token, now + 3_590_000, 30_000), 0);
  assert.equal(renewalDelay(fakeToken({}), now, 30_000), null);
  assert.equal(renewalDelay(token, now, null), null);
  assert.equal(tokenClaims(token).email, "ada@example.com");
  assert.deepEqual(tokenClaims("not a token"), {});
});
