/**
 * The local cluster's sign-in for the web chat: `POST /dev/sign-in` `{ user }` answers
 * `{ user, token }`, a token for every room signed with the node's own secret. It exists only
 * when that secret is DEV_JWT_SECRET (what `npm start` uses unless CHAT_JWT_SECRET is set): on
 * any other key the route answers 404 like any unknown path, so a production node, whatever
 * its settings, never mints a token for a name someone typed. `GET /dev/sign-in` tells the page
 * whether it is there.
 */
import { SignJWT } from "jose";
import type { TemplatedApp } from "uWebSockets.js";
import { USER_ID } from "../chat/names.js";
import type { JwtConfig } from "../config.js";
import { sendError, sendJson } from "./json.js";

/** The secret `npm start` uses when CHAT_JWT_SECRET is unset. Printed at start; never for production. */
export const DEV_JWT_SECRET = "dev-secret-change-me-before-production";

const DEV_TOKEN_TTL_SECONDS = 12 * 3600;
const MAX_BODY_BYTES = 1024;

export function isDevSecret(jwt: JwtConfig): boolean {
  return jwt.publicKeyPem === undefined && jwt.secret === DEV_JWT_SECRET;
}

/** Mounts the dev sign-in when the node runs on the dev secret; otherwise mounts nothing (the 404 catch-all answers). */
export function mountDevSignIn(app: TemplatedApp, jwt: JwtConfig): boolean {
  if (!isDevSecret(jwt)) return false;
  const key = new TextEncoder().encode(DEV_JWT_SECRET);
  app.get("/dev/sign-in", (res) => sendJson(res, 200, { available: true }));
  app.post("/dev/sign-in", (res) => {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      size += chunk.byteLength;
      if (size > MAX_BODY_BYTES) {
        if (!aborted) sendError(res, 413, "TOO_LARGE", `the body must be at most ${MAX_BODY_BYTES} bytes`);
        aborted = true;
        return;
      }
      // uWS reuses the chunk's memory after this callback returns: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk).slice()));
      if (!isLast || aborted) return;
      const user = userOf(Buffer.concat(chunks).toString("utf8"));
      if (user === undefined)
        return sendError(res, 400, "BAD_REQUEST", "the body must be JSON { user } with a user name of 1-64 letters, digits or _.@-");
      const now = Math.floor(Date.now() / 1000);
      new SignJWT({ rooms: ["*"] })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject(user)
        .setIssuedAt(now)
        .setExpirationTime(now + DEV_TOKEN_TTL_SECONDS)
        .sign(key)
        .then(
          (token) => !aborted && res.cork(() => sendJson(res, 200, { user, token })),
          () => !aborted && res.cork(() => sendError(res, 500, "INTERNAL", "could not sign a token")),
        );
    });
  });
  return true;
}

function userOf(text: string): string | undefined {
  try {
    const body: unknown = JSON.parse(text);
    const user = typeof body === "object" && body !== null ? (body as { user?: unknown }).user : undefined;
    return typeof user === "string" && USER_ID.test(user) ? user : undefined;
  } catch {
    return undefined;
  }
}
