/**
 * Where the client gets its JWT: a fixed string, or a provider the client calls again when the
 * server refuses an expired token and ahead of the token's own expiry.
 */
export type TokenProvider = () => string | Promise<string>;

/** The token's `exp` in ms since the epoch, or undefined when it is not a JWT with a numeric `exp`. */
export function tokenExpiry(token: string): number | undefined {
  const claims = tokenClaims(token);
  return typeof claims?.["exp"] === "number" ? claims["exp"] * 1000 : undefined;
}

/** The token's `sub` (the user id), when readable. */
export function tokenSubject(token: string): string | undefined {
  const sub = tokenClaims(token)?.["sub"];
  return typeof sub === "string" ? sub : undefined;
}

/** The JWT's claims, read without verifying (the server verifies; the client only schedules). */
function tokenClaims(token: string): Record<string, unknown> | undefined {
  const part = token.split(".")[1];
  if (!part) return undefined;
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      Array.from(
        atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), "=")),
        (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
      ).join(""),
    );
    const claims: unknown = JSON.parse(json);
    return claims && typeof claims === "object" ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
