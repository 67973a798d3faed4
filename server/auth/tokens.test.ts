import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { test } from "node:test";
import { SignJWT } from "jose";
import { mintToken } from "../../scripts/lib/tokens.js";
import { DEFAULT_LIMITS } from "../chat/limits.js";
import { AuthError, TokenVerifier } from "./tokens.js";

const secret = "unit-test-secret-0123456789";
const verifier = TokenVerifier.fromConfig({ secret, publicKeyPem: undefined }, DEFAULT_LIMITS);

async function rejection(token: unknown): Promise<string> {
  try {
    await verifier.verify(token);
  } catch (error) {
    assert.ok(error instanceof AuthError);
    return error.code;
  }
  assert.fail("the token was accepted");
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");

test("a valid token yields the user and room patterns", async () => {
  const principal = await verifier.verify(await mintToken({ secret, userId: "alice", rooms: ["team-7:*"] }));
  assert.equal(principal.userId, "alice");
  assert.equal(principal.rooms.allows("alice", "team-7:general"), true);
  assert.equal(principal.rooms.allows("alice", "team-8:general"), false);
  assert.ok(principal.expiresAt > Date.now());
});

test("missing, forged, expired, not-yet-valid and alg:none tokens are refused with their codes", async () => {
  assert.equal(await rejection(undefined), "AUTH_MISSING");
  assert.equal(await rejection(""), "AUTH_MISSING");
  assert.equal(await rejection("not.a.jwt"), "AUTH_INVALID");
  assert.equal(await rejection(await mintToken({ secret: "another-secret-0123456789", userId: "alice" })), "AUTH_INVALID");
  assert.equal(await rejection(await mintToken({ secret, userId: "alice", ttlInSeconds: -10 })), "AUTH_EXPIRED");
  assert.equal(await rejection(await mintToken({ secret, userId: "alice", notBeforeInSeconds: 3600 })), "AUTH_INVALID");
  const now = Math.floor(Date.now() / 1000);
  assert.equal(await rejection(`${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "alice", exp: now + 60 })}.`), "AUTH_INVALID");
});

test("tokens without exp, with a bad sub or a bad rooms claim are refused", async () => {
  const key = new TextEncoder().encode(secret);
  const noExp = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").sign(key);
  assert.equal(await rejection(noExp), "AUTH_INVALID");
  assert.equal(await rejection(await mintToken({ secret, userId: "bad user!" })), "AUTH_INVALID");
  const badRooms = await new SignJWT({ rooms: "lobby" })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("alice")
    .setExpirationTime("1h")
    .sign(key);
  assert.equal(await rejection(badRooms), "AUTH_INVALID");
});

test("with a public key, RS256 tokens verify and HS256 tokens signed with the key text do not", async () => {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
  const rsa = TokenVerifier.fromConfig({ secret: undefined, publicKeyPem: pem }, DEFAULT_LIMITS);
  const good = await new SignJWT({}).setProtectedHeader({ alg: "RS256" }).setSubject("bob").setExpirationTime("1h").sign(privateKey);
  assert.equal((await rsa.verify(good)).userId, "bob");
  // Algorithm confusion: an HS256 token keyed with the public key's PEM must not pass.
  const confused = await new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("bob")
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(pem));
  await assert.rejects(rsa.verify(confused), (error: unknown) => error instanceof AuthError && error.code === "AUTH_INVALID");
});

/** The AuthError a token gets, with its message and refusal reason. */
async function refusal(token: string): Promise<AuthError> {
  try {
    await verifier.verify(token);
  } catch (error) {
    assert.ok(error instanceof AuthError);
    return error;
  }
  assert.fail("the token was accepted");
}

test("a token over 8 KB, or with more than 256 room or moderator patterns, is AUTH_INVALID with the reason; at the limits it passes", async () => {
  const patterns = (n: number) => Array.from({ length: n }, (_, i) => `r${i}`);
  const atLimit = await mintToken({ secret, userId: "alice", rooms: patterns(256) });
  assert.equal((await verifier.verify(atLimit)).userId, "alice");
  const tooMany = await refusal(await mintToken({ secret, userId: "alice", rooms: patterns(257) }));
  assert.deepEqual([tooMany.code, tooMany.refusal], ["AUTH_INVALID", "token_too_many_patterns"]);
  assert.match(tooMany.message, /rooms claim has more than 256 patterns/);
  const tooManyMod = await refusal(
    await new SignJWT({ rooms: [], mod: patterns(257) })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("alice")
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(secret)),
  );
  assert.match(tooManyMod.message, /mod claim has more than 256 patterns/);
  // 256 patterns of 40 characters: well over 8 KB.
  const big = await mintToken({
    secret,
    userId: "alice",
    rooms: Array.from({ length: 256 }, (_, i) => `${"x".repeat(36)}${String(i).padStart(4, "0")}`),
  });
  assert.ok(big.length > 8192);
  const tooLarge = await refusal(big);
  assert.deepEqual([tooLarge.code, tooLarge.refusal], ["AUTH_INVALID", "token_too_large"]);
  assert.match(tooLarge.message, /larger than 8192 bytes/);
});

test("tokens with the same room patterns share one compiled permission set", async () => {
  const [a, b] = await Promise.all([
    verifier.verify(await mintToken({ secret, userId: "alice", rooms: ["team-7:*", "lobby"] })),
    verifier.verify(await mintToken({ secret, userId: "bob", rooms: ["team-7:*", "lobby"] })),
  ]);
  assert.equal(a.rooms, b.rooms);
  const other = await verifier.verify(await mintToken({ secret, userId: "bob", rooms: ["lobby"] }));
  assert.notEqual(other.rooms, a.rooms);
  assert.equal(other.rooms.allows("bob", "team-7:x"), false);
});
