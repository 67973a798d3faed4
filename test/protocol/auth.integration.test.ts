/**
 * docs/protocol.md "Connecting": connect_error "UNAUTHORIZED" with data.code AUTH_MISSING /
 * AUTH_INVALID / AUTH_EXPIRED for every kind of bad token (forged, expired, not yet valid,
 * alg none, claims missing), over both transports and in the raw CONNECT packet; a session
 * ends when its token expires; and the default Origin rule (empty allow-list = same origin only)
 * on the WebSocket upgrade and on polling.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { SignJWT } from "jose";
import { io as connect, type Socket } from "socket.io-client";
import { mintToken } from "../../scripts/lib/tokens.js";
import { nextEvent, request, startTestCluster, TEST_JWT_SECRET, type TestCluster } from "../fixture.js";
import { assertClusterAlive, assertOk, uniqueTag, type Ack } from "./helpers.js";
import { pollingHandshake } from "./polling.js";
import { RawEngineSocket } from "./raw-engine.js";

const tag = uniqueTag();
const user = (name: string) => `${name}-${tag}`;
const room = `auth-room-${tag}`;

let cluster: TestCluster;
before(async () => (cluster = await startTestCluster({ nodeCount: 2 })));
after(async () => cluster?.stop());

type ConnectError = Error & { data?: { code?: string; message?: string } };

/** Connects with `auth` and resolves with the connect_error; fails if the connection is accepted. */
async function refusal(auth: Record<string, unknown>, transport: "websocket" | "polling"): Promise<ConnectError> {
  const socket = connect(cluster.url, { auth, transports: [transport], upgrade: false, reconnection: false, forceNew: true });
  try {
    return await new Promise<ConnectError>((resolve, reject) => {
      socket.once("connect", () => reject(new Error(`a connection with ${JSON.stringify(auth).slice(0, 80)} was accepted`)));
      socket.once("connect_error", resolve);
    });
  } finally {
    socket.disconnect();
  }
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const nowInSeconds = () => Math.floor(Date.now() / 1000);
const secret = new TextEncoder().encode(TEST_JWT_SECRET);

/** Every bad token, with the code the contract names for it. */
async function hostileTokens(): Promise<[string, Record<string, unknown>, "AUTH_MISSING" | "AUTH_INVALID" | "AUTH_EXPIRED"][]> {
  const userId = user("hostile");
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return [
    ["no auth at all", {}, "AUTH_MISSING"],
    ["an empty token", { token: "" }, "AUTH_MISSING"],
    ["not a JWT", { token: "hello" }, "AUTH_INVALID"],
    [
      "signed with another key",
      { token: await mintToken({ secret: "another-secret-0123456789abcdef", userId, rooms: [room] }) },
      "AUTH_INVALID",
    ],
    ["expired", { token: await mintToken({ secret: TEST_JWT_SECRET, userId, rooms: [room], ttlInSeconds: -60 }) }, "AUTH_EXPIRED"],
    [
      "not yet valid (nbf in the future)",
      { token: await mintToken({ secret: TEST_JWT_SECRET, userId, rooms: [room], notBeforeInSeconds: 3600 }) },
      "AUTH_INVALID",
    ],
    [
      "alg: none",
      { token: `${base64url({ alg: "none", typ: "JWT" })}.${base64url({ sub: userId, exp: nowInSeconds() + 3600, rooms: [room] })}.` },
      "AUTH_INVALID",
    ],
    [
      "alg: none with the original signature kept",
      {
        token: `${base64url({ alg: "none", typ: "JWT" })}.${(await mintToken({ secret: TEST_JWT_SECRET, userId, rooms: [room] })).split(".").slice(1).join(".")}`,
      },
      "AUTH_INVALID",
    ],
    [
      "HS512 with the right secret (only HS256 is configured)",
      {
        token: await new SignJWT({ rooms: [room] })
          .setProtectedHeader({ alg: "HS512" })
          .setSubject(userId)
          .setExpirationTime(nowInSeconds() + 3600)
          .sign(secret),
      },
      "AUTH_INVALID",
    ],
    [
      "RS256 with a key of its own",
      {
        token: await new SignJWT({ rooms: [room] })
          .setProtectedHeader({ alg: "RS256" })
          .setSubject(userId)
          .setExpirationTime(nowInSeconds() + 3600)
          .sign(privateKey),
      },
      "AUTH_INVALID",
    ],
    [
      "without exp",
      { token: await new SignJWT({ rooms: [room] }).setProtectedHeader({ alg: "HS256" }).setSubject(userId).sign(secret) },
      "AUTH_INVALID",
    ],
    [
      "without sub",
      {
        token: await new SignJWT({ rooms: [room] })
          .setProtectedHeader({ alg: "HS256" })
          .setExpirationTime(nowInSeconds() + 3600)
          .sign(secret),
      },
      "AUTH_INVALID",
    ],
    [
      "sub that is not a user id",
      { token: await mintToken({ secret: TEST_JWT_SECRET, userId: "bad user!", rooms: [room] }) },
      "AUTH_INVALID",
    ],
    ["a token that is a number", { token: 42 }, "AUTH_MISSING"],
  ];
}

for (const transport of ["websocket", "polling"] as const) {
  describe(`connect errors over ${transport}`, () => {
    test("connect_error UNAUTHORIZED with data { code, message } for every bad token; the cluster stays up", async () => {
      for (const [what, auth, code] of await hostileTokens()) {
        const error = await refusal(auth, transport);
        assert.equal(error.message, "UNAUTHORIZED", `${what}: message`);
        assert.equal(error.data?.code, code, `${what}: data.code, got ${JSON.stringify(error.data)}`);
        assert.equal(typeof error.data?.message, "string", `${what}: data.message`);
      }
      await assertClusterAlive(cluster);
      // A good token still connects.
      const socket = await cluster.client(await cluster.token(user("good"), [room]), { transports: [transport], upgrade: false });
      assertOk(await request<Ack>(socket, "join", { room }));
      socket.disconnect();
    });
  });
}

test("the raw CONNECT packet 40{token} is answered 44{message, data} for a bad token and 40{sid} for a good one", async () => {
  const expired = await mintToken({ secret: TEST_JWT_SECRET, userId: user("raw"), rooms: [room], ttlInSeconds: -60 });
  const outcome = await RawEngineSocket.upgrade(cluster.url);
  assert.equal(outcome.kind, "open");
  if (outcome.kind !== "open") return;
  const raw = outcome.socket;
  raw.send(`40${JSON.stringify({ token: expired })}`);
  const refused = await raw.next((frame) => frame.startsWith("4"));
  assert.ok(refused.startsWith("44"), `expected CONNECT_ERROR, got ${refused}`);
  const body = JSON.parse(refused.slice(2)) as { message: string; data: { code: string; message: string } };
  assert.equal(body.message, "UNAUTHORIZED");
  assert.equal(body.data.code, "AUTH_EXPIRED");
  raw.close();

  const rawRoom = `auth-raw-${tag}`;
  const good = await RawEngineSocket.connect(cluster.url, await cluster.token(user("raw"), [rawRoom]));
  assert.deepEqual(await good.request(1, "join", { room: rawRoom }), { ok: true, room: rawRoom, seq: 0 });
  good.close();
});

test("a session is disconnected when its token expires", async () => {
  const token = await cluster.token(user("short"), [room], { ttlInSeconds: 2 });
  const exp = (JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { exp: number }).exp * 1000;
  const socket: Socket = await cluster.client(token);
  assertOk(await request<Ack>(socket, "join", { room }));
  const reason = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("still connected 5 s after the token expired")), exp - Date.now() + 5_000);
    socket.once("disconnect", (why) => {
      clearTimeout(timer);
      resolve(why);
    });
  });
  assert.equal(reason, "io server disconnect");
  assert.ok(Date.now() >= exp - 100, `disconnected ${exp - Date.now()} ms before the token expired`);
  // The same token cannot come back.
  const error = await refusal({ token }, "websocket");
  assert.equal(error.data?.code, "AUTH_EXPIRED");
});

test("a session with a long-lived token stays connected and keeps working", async () => {
  const socket = await cluster.client(await cluster.token(user("long"), [room]));
  assertOk(await request<Ack>(socket, "join", { room }));
  const echoed = nextEvent(socket, "message");
  assertOk(await request<Ack>(socket, "send", { room, clientId: "l-1", text: "still here" }));
  await echoed;
  assert.equal(socket.connected, true);
});

describe("Origin with an empty allow-list: same origin only", () => {
  const foreign = "https://evil.example";

  test("a foreign Origin is refused on the WebSocket upgrade and on polling", async () => {
    const upgrade = await RawEngineSocket.upgrade(cluster.url, { headers: { origin: foreign } });
    assert.equal(upgrade.kind, "refused", "the upgrade from a foreign origin should be refused");
    if (upgrade.kind === "refused") assert.ok(upgrade.status >= 400 && upgrade.status < 500, `status ${upgrade.status}`);
    const polling = await pollingHandshake(cluster.url, { origin: foreign });
    assert.ok(polling.status >= 400 && polling.status < 500, `polling from a foreign origin: ${polling.status} ${polling.body}`);
    assert.ok(!polling.body.startsWith("0{"), "no session was opened");
    await assertClusterAlive(cluster);
  });

  test("the gateway's own origin and no Origin at all (non-browser clients) are accepted", async () => {
    const own = new URL(cluster.url).origin;
    const originRoom = `auth-origin-${tag}`;
    for (const headers of [{ origin: own }, {}] as Record<string, string>[]) {
      const polling = await pollingHandshake(cluster.url, headers);
      assert.equal(polling.status, 200, `polling with ${JSON.stringify(headers)}: ${polling.body}`);
      assert.ok(polling.body.startsWith("0{"), polling.body);
      const socket = await RawEngineSocket.connect(cluster.url, await cluster.token(user("origin"), [originRoom]), { headers });
      assert.deepEqual(await socket.request(7, "join", { room: originRoom }), { ok: true, room: originRoom, seq: 0 });
      socket.close();
    }
  });
});
