// Signing in against a Cognito user pool from the browser: the InitiateAuth API with
// USER_PASSWORD_AUTH (the app client must allow that flow), and REFRESH_TOKEN_AUTH to
// renew the ID token without the password. Cognito answers CORS requests; so does the
// local stack's embedded Cognito.

import { tokenClaims } from "../client/realtime-chat-client.js";

const TARGET = "AWSCognitoIdentityProviderService.InitiateAuth";

export class SignInError extends Error {
  constructor(message, { retryable = false } = {}) {
    super(message);
    this.retryable = retryable; // the pool could not be reached: try again later
  }
}

const EXPLAINED = {
  NotAuthorizedException: "Wrong username or password (or the user is disabled).",
  UserNotFoundException: "No such user in this user pool.",
  UserNotConfirmedException: "The user has not confirmed their account yet.",
  PasswordResetRequiredException: "The user must reset their password first.",
  ResourceNotFoundException: "No such app client in this user pool: check the app client id.",
  InvalidParameterException:
    "The app client does not allow USER_PASSWORD_AUTH, or a field is missing.",
  TooManyRequestsException: "Cognito is throttling sign-ins: wait a moment and try again.",
};

/** Signs in; resolves to {idToken, refreshToken, claims} or rejects with a SignInError. */
export function signIn({ endpoint, clientId, username, password }) {
  return initiateAuth(endpoint, clientId, "USER_PASSWORD_AUTH", { USERNAME: username, PASSWORD: password });
}

/** A new ID token from a refresh token (Cognito keeps the same refresh token). */
export async function refresh({ endpoint, clientId, refreshToken }) {
  const result = await initiateAuth(endpoint, clientId, "REFRESH_TOKEN_AUTH", { REFRESH_TOKEN: refreshToken });
  return { ...result, refreshToken: result.refreshToken || refreshToken };
}

async function initiateAuth(endpoint, clientId, flow, parameters) {
  if (!endpoint || !clientId) {
    throw new SignInError("Set the user pool's Cognito endpoint and app client id first.");
  }
  let response;
  try {
    response = await fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET },
      body: JSON.stringify({ AuthFlow: flow, ClientId: clientId, AuthParameters: parameters }),
    });
  } catch {
    throw new SignInError(`Cannot reach Cognito at ${endpoint} (is it running, is it the right endpoint?)`, {
      retryable: true,
    });
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const kind = String(body.__type || "").split("#").pop();
    const why = EXPLAINED[kind] || body.message || `HTTP ${response.status}`;
    throw new SignInError(`Sign-in refused: ${why}`, { retryable: response.status >= 500 });
  }
  if (body.ChallengeName) {
    throw new SignInError(
      `Cognito asks for ${body.ChallengeName} before this user can sign in ` +
        "(an admin-created user must set a new password first).",
    );
  }
  const idToken = body.AuthenticationResult?.IdToken;
  if (!idToken) throw new SignInError("Cognito's answer carried no ID token.");
  return { idToken, refreshToken: body.AuthenticationResult.RefreshToken || null, claims: tokenClaims(idToken) };
}
