/**
 * CHAT_JWT_PUBLIC_KEY end to end: a cluster verifying RS256 (an RSA public key) and one
 * verifying ES256 (a P-256 public key), each through the gateway on the socket and on REST.
 * Tokens signed with the matching private key are accepted; tokens signed with another key of
 * the same kind, HS256 tokens with the test secret, and HS256 tokens keyed with the public PEM
 * itself (the algorithm-confusion attack) are refused with AUTH_INVALID.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { SignJWT } from "jose";
import type { ChatMessage } from "../../storage/message.js";
import { nextEvent, request, startTestCluster, TEST_JWT_SECRET, type TestCluster } from "../fixture.js";
import { mintToken } from "../../scripts/lib/tokens.js";
import { assertOk, send, uniqueTag, type Ack, type RoomEntry } from "./helpers.js";

const tag = uniqueTag();

type Algorithm = "RS256" | "ES256";

function keyPair(algorithm: Algorithm): { publicKey: KeyObject; privateKey: KeyObject } {
  return algorithm === "RS256" ? generateKeyPairSync("rsa", { modulusLength: 2048 }) : generateKeyPairSync("ec", { namedCurve: "P-256" });
}

async function sign(algorithm: Algorithm, privateKey: KeyObject, userId: string, rooms: string[]): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ rooms })
    .setProtectedHeader({ alg: algorithm, typ: "JWT" })
    .setSubject(userId)
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(privateKey);
}

/** The connect_error's `data.code` (UNAUTHORIZED's reason) for `token`. */
async function refusal(cluster: TestCluster, token: string): Promise<string> {
  const error = await cluster.client(token).then(
    () => assert.fail("the connection was accepted"),
    (reason: unknown) => reason as Error & { data?: { code?: string } },
  );
  assert.equal(error.message, "UNAUTHORIZED");
  return error.data?.code ?? "(no code)";
}

for (const algorithm of ["RS256", "ES256"] as const) {
  describe(`CHAT_JWT_PUBLIC_KEY with ${algorithm}`, () => {
    const { publicKey, privateKey } = keyPair(algorithm);
    const publicPem = publicKey.export({ type: "spki", format: "pem" }).toString();
    const room = `pk-${algorithm.toLowerCase()}-${tag}`;
    const user = (name: string) => `${name}-${algorithm.toLowerCase()}-${tag}`;
    let cluster: TestCluster;
    before(async () => {
      // The fixture's HS256 secret stays set: the public key must take precedence over it.
      cluster = await startTestCluster({ nodeCount: 2, env: { CHAT_JWT_PUBLIC_KEY: publicPem } });
    });
    after(async () => cluster?.stop());

    test("a token signed with the private key works on the socket and on REST", async () => {
      const alice = await cluster.client(await sign(algorithm, privateKey, user("alice"), [room]));
      assertOk(await request<Ack>(alice, "join", { room }));
      const echoed = nextEvent<ChatMessage>(alice, "message", (m) => m.room === room);
      const ack = assertOk(await send(alice, room, "s1", "over the socket"));
      assert.equal((await echoed).id, ack.id);

      const bobToken = await sign(algorithm, privateKey, user("bob"), [room]);
      const posted = await cluster.http(`/api/rooms/${room}/messages`, {
        method: "POST",
        token: bobToken,
        body: { clientId: "r1", text: "over REST" },
      });
      assert.equal(posted.status, 201, posted.text);
      assert.equal(posted.body.seq, ack.seq + 1);
      const read = await cluster.http(`/api/rooms/${room}/messages`, { token: bobToken });
      assert.equal(read.status, 200, read.text);
      assert.deepEqual(
        (read.body.messages as ChatMessage[]).map((m) => m.clientId),
        ["s1", "r1"],
      );
      const rooms = await cluster.http("/api/me/rooms", { token: bobToken });
      assert.equal(rooms.status, 200, rooms.text);
      assert.deepEqual(
        (rooms.body.rooms as RoomEntry[]).map((r) => r.room),
        [room],
      );
    });

    test("tokens not signed by the key are refused with AUTH_INVALID, on the socket and on REST", async () => {
      const other = keyPair(algorithm).privateKey;
      const forged: [string, string][] = [
        [`${algorithm} with another key`, await sign(algorithm, other, user("mallory"), [room])],
        ["HS256 with the cluster's old secret", await mintToken({ secret: TEST_JWT_SECRET, userId: user("mallory"), rooms: [room] })],
        [
          "HS256 keyed with the public key's PEM",
          await new SignJWT({ rooms: [room] })
            .setProtectedHeader({ alg: "HS256", typ: "JWT" })
            .setSubject(user("mallory"))
            .setExpirationTime("1h")
            .sign(new TextEncoder().encode(publicPem)),
        ],
      ];
      for (const [what, token] of forged) {
        assert.equal(await refusal(cluster, token), "AUTH_INVALID", `${what}: socket`);
        const answer = await cluster.http("/api/me/rooms", { token });
        assert.equal(answer.status, 401, `${what}: REST status`);
        assert.deepEqual(
          [answer.body?.error?.code, answer.body?.error?.reason],
          ["UNAUTHORIZED", "AUTH_INVALID"],
          `${what}: REST body ${answer.text}`,
        );
      }
    });
  });
}
