// Where the console's settings and tokens come from: config.json when the page is
// served by the local stack (or placed beside it), else what was typed last; and the
// client library's getToken for each way of connecting (password, pasted token,
// anonymous), renewing the ID token with the refresh token or by signing in again.

import { tokenClaims } from "../client/realtime-chat-client.js";
import { SignInError, refresh, signIn } from "./cognito.js";

const SETTINGS = ["ws-url", "cognito-endpoint", "client-id", "username"];
const $ = (id) => document.getElementById(id);

/** Fills the connection form; resolves to whether the page was given a config.json. */
export async function loadSettings() {
  const config = await readConfig();
  if (config) applyConfig(config);
  else for (const id of SETTINGS) $(id).value = localStorage.getItem(`console.${id}`) || "";
  return Boolean(config);
}

/** Remembers what was typed (never the password or a token). */
export function saveSettings() {
  for (const id of SETTINGS) localStorage.setItem(`console.${id}`, $(id).value);
}

async function readConfig() {
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

function applyConfig(config) {
  $("ws-url").value = config.websocketUrl || "";
  $("cognito-endpoint").value = config.cognitoEndpoint || "";
  $("client-id").value = config.userPoolClientId || "";
  // The demo user of this stack (its password is new each time the stack starts).
  if (config.demoUser && [config.demoUser.username, ""].includes($("username").value)) {
    $("username").value = config.demoUser.username;
    $("password").value = config.demoUser.password;
  }
}

/**
 * The client library's getToken for `session` ({mode, idToken, refreshToken,
 * servedConfig}); it updates the session's tokens and calls `saved()` after each.
 */
export function tokenSource(session, { notice, saved }) {
  return async function getToken({ fresh }) {
    if (session.mode === "anonymous") return null;
    if (session.mode === "token") {
      if (fresh) throw new SignInError("The server refused the token (or it expired): sign in again, or paste a fresh one.");
      return session.idToken;
    }
    const exp = session.idToken ? tokenClaims(session.idToken).exp : 0;
    if (!fresh && exp * 1000 > Date.now() + 60_000) return session.idToken;
    const pool = () => ({ endpoint: $("cognito-endpoint").value.trim(), clientId: $("client-id").value.trim() });
    let result = null;
    if (session.refreshToken) {
      result = await refresh({ ...pool(), refreshToken: session.refreshToken }).catch((err) => {
        if (err.retryable) throw err; // Cognito unreachable: the client backs off and asks again
        return null; // refused (a new user pool after a stack restart): sign in below
      });
    }
    if (!result) {
      if (session.servedConfig) {
        // The local stack makes a new user pool each time it starts: take its new ids.
        const config = await readConfig();
        if (config) applyConfig(config);
      }
      if (!$("password").value) throw new SignInError("Your sign-in ended: enter the password and sign in again.");
      notice(fresh ? "Signing in again…" : "Signing in…");
      const renewing = Boolean(session.idToken);
      const credentials = { ...pool(), username: $("username").value.trim(), password: $("password").value };
      result = await signIn(credentials).catch((err) => {
        // A session that worked is renewed on its own: a pool still starting (a stack
        // restart) or a blip is tried again with backoff. A first sign-in fails at once.
        if (renewing) err.retryable = true;
        throw err;
      });
    }
    session.idToken = result.idToken;
    session.refreshToken = result.refreshToken;
    saved();
    return result.idToken;
  };
}
