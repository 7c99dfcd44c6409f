// Reading a JWT for display and expiry only (the server verifies it), and keeping
// tokens out of anything the console shows.

const JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]+/g;

export function tokenClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : {};
  } catch {
    return {};
  }
}

export function maskTokens(text) {
  return text.replace(JWT, (jwt) => `${jwt.slice(0, 8)}…(token masked)`);
}
