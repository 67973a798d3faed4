/** Minting JWTs for people, tests and load tests (HS256 with the cluster's secret). */
import { SignJWT } from "jose";

// The secret `npm start` uses when CHAT_JWT_SECRET is unset; defined by the node, whose dev sign-in works only with it.
export { DEV_JWT_SECRET } from "../../server/http/dev-sign-in.js";

export interface TokenOptions {
  secret: string;
  userId: string;
  /** Room ids or prefixes ending in "*". */
  rooms?: string[];
  /** Room patterns the user moderates (the `mod` claim, PROTOCOL v1.1). */
  mod?: string[];
  /** Lifetime in seconds (negative for an already expired token, in tests). */
  ttlInSeconds?: number;
  /** Not valid before this many seconds from now. */
  notBeforeInSeconds?: number;
}

export async function mintToken({
  secret,
  userId,
  rooms = [],
  mod,
  ttlInSeconds = 24 * 3600,
  notBeforeInSeconds,
}: TokenOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(mod && mod.length > 0 ? { rooms, mod } : { rooms })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(userId)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlInSeconds);
  if (notBeforeInSeconds !== undefined) jwt.setNotBefore(now + notBeforeInSeconds);
  return jwt.sign(new TextEncoder().encode(secret));
}
