// The client's sense of time, kept pure so tests can drive it: reconnect backoff with
// jitter, and when a token must be renewed.

export const BACKOFF = Object.freeze({ baseMs: 500, maxMs: 30_000 });

/**
 * The wait before reconnect attempt `attempt` (0 for the first): the cap doubles from
 * `baseMs` to `maxMs`, and the wait is a random point in its upper half ("equal
 * jitter"), so clients that lost the server together do not come back together.
 */
export function backoffDelay(attempt, { baseMs = BACKOFF.baseMs, maxMs = BACKOFF.maxMs } = {}, random = Math.random) {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(cap / 2 + random() * (cap / 2));
}

/** A JWT's claims, for expiry and display only (the server verifies it); {} if unreadable. */
export function tokenClaims(token) {
  try {
    const part = String(token).split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : {};
  } catch {
    return {};
  }
}

/** Milliseconds from `nowMs` until the token should be renewed, or null (no `exp`). */
export function renewalDelay(token, nowMs, beforeExpiryMs) {
  const exp = tokenClaims(token).exp;
  if (typeof exp !== "number" || beforeExpiryMs === null) return null;
  const wait = Math.max(0, exp * 1000 - nowMs - beforeExpiryMs);
  return wait < 2 ** 31 ? wait : null; // timers overflow past ~24 days
}
