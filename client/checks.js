// What the client checks before it sends anything: the protocol's limits
// (docs/protocol.md#limits) and its id format. A check returns an InputError or null;
// it never changes or clears what it was given.

import { InputError } from "./chat-errors.js";

export const LIMITS = Object.freeze({ maxMessageChars: 8000, maxFrameBytes: 32 * 1024 });

const ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const ENCODER = new TextEncoder();

/** The UTF-8 size of a frame as it goes on the wire. */
export function frameBytes(frame) {
  return ENCODER.encode(JSON.stringify(frame)).length;
}

/** Characters as the server counts them (code points, not UTF-16 units). */
export function messageChars(text) {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

export function checkId(value, field) {
  if (value === undefined || value === null) return null;
  if (typeof value === "string" && ID.test(value)) return null;
  return new InputError(`'${field}' is not a valid id: ${JSON.stringify(value)}.`, {
    code: "INVALID_ID",
    field,
  });
}

/** As checkId, and refuses a missing id too. */
export function checkRequiredId(value, field) {
  if (value === undefined || value === null || value === "") {
    return new InputError(`'${field}' is required.`, { code: "INVALID_ID", field });
  }
  return checkId(value, field);
}

/** Why `message` cannot be sent as it is, or null when it can. */
export function checkMessage(message, limits = LIMITS) {
  if (typeof message !== "string" || !message.trim()) {
    return new InputError("The message is empty.", { code: "EMPTY_MESSAGE", field: "message" });
  }
  if (!message.isWellFormed()) {
    return new InputError("The message holds text that is not valid Unicode (a lone surrogate).", {
      code: "INVALID_MESSAGE",
      field: "message",
    });
  }
  const length = messageChars(message);
  if (length > limits.maxMessageChars) {
    return new InputError(
      `The message is ${length.toLocaleString("en")} characters; ` +
        `the limit is ${limits.maxMessageChars.toLocaleString("en")}.`,
      { code: "MESSAGE_TOO_LARGE", field: "message", length, limit: limits.maxMessageChars },
    );
  }
  return null;
}

/** Why a frame cannot be sent (over the gateway's frame limit), or null. */
export function checkFrame(frame, limits = LIMITS) {
  const bytes = frameBytes(frame);
  if (bytes <= limits.maxFrameBytes) return null;
  return new InputError(
    `The frame would be ${bytes.toLocaleString("en")} bytes; the gateway takes at most ` +
      `${limits.maxFrameBytes.toLocaleString("en")} (it would close the connection with 1009).`,
    { code: "FRAME_TOO_LARGE", field: "message", bytes, limit: limits.maxFrameBytes },
  );
}
