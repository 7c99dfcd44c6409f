// What the e2e tests know of the running local stack, from the environment the pytest
// wrapper (tests/e2e/test_client_library.py) sets: its stack.json and minted tokens.
import { createPrivateKey, sign } from "node:crypto";

import { RealtimeChatClient } from "../../realtime-chat-client.js";

export const STACK = JSON.parse(process.env.STACK_JSON);
export const WAIT_MS = 30_000; // only catches hangs

/** A fresh ID token of the demo user, from the stack's Cognito (InitiateAuth). */
export async function signIn() {
  const response = await fetch(STACK.awsEndpointUrl, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.1",
      "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
    },
    body: JSON.stringify({
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: STACK.userPoolClientId,
      AuthParameters: { USERNAME: STACK.demoUser.username, PASSWORD: STACK.demoUser.password },
    }),
  });
  if (!response.ok) throw new Error(`sign-in: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()).AuthenticationResult.IdToken;
}

/**
 * The demo user's ID token with some claims changed (`exp`, say), signed with the key
 * the stack's Cognito signs with (SIGNING_KEY, PEM), so the server takes it as its own.
 */
export async function tokenWith(changes) {
  const [header, payload] = (await signIn()).split(".");
  const claims = { ...JSON.parse(Buffer.from(payload, "base64url")), ...changes };
  const body = `${header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  const key = createPrivateKey(process.env.SIGNING_KEY);
  return `${body}.${sign("sha256", Buffer.from(body), key).toString("base64url")}`;
}

/** A client of the stack, closed when the test ends; `calls` records getToken's `fresh`. */
export function client(t, options = {}) {
  const calls = [];
  const chat = new RealtimeChatClient({
    url: STACK.websocketUrl,
    getToken: async ({ fresh }) => {
      calls.push(fresh);
      return options.token ? options.token({ fresh, calls }) : signIn();
    },
    ...options,
  });
  chat.calls = calls;
  t.after(() => chat.close());
  return chat;
}

/** Resolves with the first event `name` for which `predicate` holds; fails after WAIT_MS. */
export function next(chat, name, predicate = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${name} event in ${WAIT_MS} ms`));
    }, WAIT_MS);
    const off = chat.on(name, (detail) => {
      if (!predicate(detail)) return;
      clearTimeout(timer);
      off();
      resolve(detail);
    });
  });
}

/** Bounds a promise by WAIT_MS, so a hang fails the test instead of stalling the run. */
export function within(promise, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing in ${WAIT_MS} ms`)), WAIT_MS);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** Closes a connection from the server side, as an idle timeout or a deploy would. */
export async function dropConnection(connectionId) {
  const base = STACK.websocketUrl.replace(/^ws/, "http");
  const url = `${base}/${STACK.stage}/@connections/${encodeURIComponent(connectionId)}`;
  const response = await fetch(url, { method: "DELETE" });
  if (response.status !== 204) throw new Error(`@connections DELETE: HTTP ${response.status}`);
}

/** The stored messages of a conversation, asked on a connection of its own. */
export async function stored(t, conversationId) {
  const reader = client(t);
  await within(reader.connect(), "connect");
  const page = await within(reader.history(conversationId), "history");
  reader.close();
  return page.messages;
}
