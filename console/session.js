// What the console keeps for this tab across a reload, in sessionStorage (gone when
// the tab closes; never in localStorage): how it connected, the tokens, and the open
// conversation. Never the password.

const KEY = "console.session";

export function loadSession(storage = sessionStorage) {
  try {
    const saved = JSON.parse(storage.getItem(KEY) || "null");
    return saved && typeof saved === "object" && saved.mode ? saved : null;
  } catch {
    return null;
  }
}

export function saveSession(session, storage = sessionStorage) {
  const { mode, idToken = null, refreshToken = null, conversationId = null } = session;
  storage.setItem(KEY, JSON.stringify({ mode, idToken, refreshToken, conversationId }));
}

export function clearSession(storage = sessionStorage) {
  storage.removeItem(KEY);
}
