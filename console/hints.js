// What to do about each error code of the protocol (docs/protocol.md), and the words
// for what a browser cannot tell: a refused handshake is only close code 1006 here.

const HINTS = {
  AUTH_REQUIRED: "Sign in (Connection, above), then send again.",
  TOKEN_EXPIRED: "Your sign-in expired: the console signs in again and reconnects.",
  INVALID_JSON: "The frame was not JSON.",
  INVALID_MESSAGE: "A field was wrong: see the message.",
  MESSAGE_TOO_LARGE: "Shorten the message.",
  UNKNOWN_ACTION: "This backend does not know that action.",
  NOT_FOUND: "It is gone, or it was never yours: refresh the conversation list.",
  AI_NOT_CONFIGURED:
    "An operator must put the AI provider's key into the stack's secret " +
    "(AiApiKeySecret; locally: AI_API_KEY=… make run). Quote the request id.",
  AI_UNAVAILABLE: "The AI provider failed or is busy: send again in a moment.",
  INTERNAL_ERROR: "A fault on the server: quote the request id; a retry is safe when it says so.",
};

export function hintFor(frame) {
  if (frame.code === "RATE_LIMITED") {
    const seconds = Number(frame.retryAfter);
    return Number.isFinite(seconds)
      ? `Too many messages: you can send again in ${Math.ceil(seconds)} s.`
      : "Too many messages: wait a little, then send again.";
  }
  return HINTS[frame.code] || "";
}

/** Plain words for a close the browser reports, given what we know about the attempt. */
export function explainClose({ code, opened, hadToken }) {
  if (!opened && code === 1006) {
    return hadToken
      ? "The server refused the token (or could not be reached): sign in again."
      : "The server refused the connection (or could not be reached): check the URL, " +
          "or sign in if anonymous connections are not allowed.";
  }
  const reasons = {
    1000: "closed",
    1001: "the server closed the connection (idle for 10 minutes, or it went away)",
    1006: "the connection dropped",
    1009: "a frame was over 32 KB, so the gateway closed the connection",
    1011: "the server hit an error",
  };
  return reasons[code] || `closed with code ${code}`;
}
