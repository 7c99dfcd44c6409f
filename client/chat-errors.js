// The client's one error tree, and what a person or a program should do about each
// failure:
//
//   ChatClientError            every failure the client reports; `code`, `retryable`, `hint`
//   ├── InputError             refused before anything was sent (too long, frame too large,
//   │                          a bad id, empty); nothing was sent and nothing was cleared
//   ├── ServerError            an `error` frame of the protocol (docs/protocol.md#errors)
//   ├── ConnectionError        the socket: not connected, closed, 1009, a request timed out
//   └── AuthError              getToken() failed or gave nothing the server would take

const HINTS = {
  AUTH_REQUIRED: "Sign in, then send again.",
  TOKEN_EXPIRED: "The sign-in expired: the client signs in again and reconnects.",
  INVALID_JSON: "The frame was not JSON.",
  INVALID_MESSAGE: "A field was wrong: see the message.",
  MESSAGE_TOO_LARGE: "Shorten the message.",
  FRAME_TOO_LARGE: "Shorten the message: the whole frame must stay under 32 KB.",
  EMPTY_MESSAGE: "Type a message first.",
  INVALID_ID: "Ids are 1-128 letters, digits or _ - . : and start with a letter or digit.",
  UNKNOWN_ACTION: "This backend does not know that action.",
  NOT_FOUND: "It is gone, or it was never yours: refresh the conversation list.",
  AI_NOT_CONFIGURED:
    "An operator must put the AI provider's key into the stack's secret " +
    "(AiApiKeySecret; locally: AI_API_KEY=… make run). Quote the request id.",
  AI_UNAVAILABLE: "The AI provider failed or is busy: send again in a moment.",
  INTERNAL_ERROR: "A fault on the server: quote the request id; a retry is safe when it says so.",
  NOT_CONNECTED: "Connect first.",
  CLOSED: "The client was closed.",
  TIMEOUT: "No answer in time: try again.",
  SIGN_IN_FAILED: "Sign in again.",
};

/** What to do about an error code, in a sentence ("" for a code nobody documented). */
export function hintFor(code, { retryAfter } = {}) {
  if (code === "RATE_LIMITED") {
    const seconds = Number(retryAfter);
    return Number.isFinite(seconds)
      ? `Too many messages: you can send again in ${Math.ceil(seconds)} s.`
      : "Too many messages: wait a little, then send again.";
  }
  return HINTS[code] || "";
}

export class ChatClientError extends Error {
  constructor(message, { code, retryable = false, cause, ...details } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = Boolean(retryable);
    Object.assign(this, details);
    this.hint = hintFor(code, details);
  }
}

export class InputError extends ChatClientError {}

export class ServerError extends ChatClientError {
  /** The `error` frame as an exception, every field of it kept. */
  static fromFrame(frame) {
    const { type: _type, message, code, retryable, ...rest } = frame;
    return new ServerError(String(message || code), { ...rest, code, retryable, frame });
  }
}

export class ConnectionError extends ChatClientError {}

export class AuthError extends ChatClientError {}

/** Plain words for a close, given whether the socket had opened and carried a token. */
export function explainClose({ code, opened, hadToken }) {
  if (!opened && code === 1006) {
    return hadToken
      ? "The server refused the token (or could not be reached): sign in again."
      : "The server refused the connection (or could not be reached): check the URL, " +
          "or sign in if anonymous connections are not allowed.";
  }
  const reasons = {
    1000: "Closed.",
    1001: "The server closed the connection (idle for 10 minutes, or it went away).",
    1006: "The connection dropped.",
    1009: "A frame was over 32 KB, so the gateway closed the connection.",
    1011: "The server hit an error.",
  };
  return reasons[code] || `Closed with code ${code}.`;
}
