/**
 * docs/protocol.md "HTTP API" through the gateway: messages GET/POST with Bearer tokens, the user's
 * rooms, the probes and /metrics, and the error JSON `{ error: { code, message } }` with each
 * status the contract lists (503 is in rolling-restart.integration.test.ts, where the flusher stops).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ChatMessage } from "../../storage/message.js";
import { httpRequest, nextEvent, request, startTestCluster, type HttpAnswer, type TestCluster } from "../fixture.js";
import { mintToken } from "../../scripts/lib/tokens.js";
import { assertOk, fillRoom, uniqueTag, ULID, type Ack, type RoomEntry } from "./helpers.js";

const tag = uniqueTag();
const user = (name: string) => `${name}-${tag}`;
const roomName = (name: string) => `${name}-${tag}`;

let cluster: TestCluster;
before(async () => (cluster = await startTestCluster({ nodeCount: 2 })));
after(async () => cluster?.stop());

/** Asserts a JSON error answer: the status, `{ error: { code, message } }`, and the code. */
function assertHttpError(answer: HttpAnswer, status: number, codes: string | string[], what: string): void {
  const expected = Array.isArray(codes) ? codes : [codes];
  assert.equal(answer.status, status, `${what}: status ${answer.status}, body ${answer.text}`);
  assert.match(answer.headers.get("content-type") ?? "", /application\/json/, `${what}: content-type`);
  assert.equal(typeof answer.body, "object", `${what}: JSON body, got ${answer.text}`);
  assert.ok(
    expected.includes(answer.body?.error?.code),
    `${what}: error.code ${answer.body?.error?.code}, expected ${expected.join(" or ")}; body ${answer.text}`,
  );
  assert.equal(typeof answer.body.error.message, "string", `${what}: error.message`);
}

/** A 401 as README "Protocol notes" gives it: `{ error: { code: "UNAUTHORIZED", message, reason } }`. */
function assertUnauthorized(answer: HttpAnswer, reason: "AUTH_MISSING" | "AUTH_INVALID" | "AUTH_EXPIRED", what: string): void {
  assertHttpError(answer, 401, "UNAUTHORIZED", what);
  assert.equal(answer.body.error.reason, reason, `${what}: error.reason; body ${answer.text}`);
}

const post = (room: string, token: string | undefined, body: unknown) =>
  cluster.http(`/api/rooms/${room}/messages`, { method: "POST", token, body });
const get = (path: string, token?: string) => cluster.http(path, { token });

describe("POST /api/rooms/:room/messages", () => {
  test("201 with the send ack; the message is delivered to sockets in the room", async () => {
    const room = roomName("rest-post");
    const token = await cluster.token(user("rest-poster"), [room]);
    const listener = await cluster.client(await cluster.token(user("rest-listener"), [room]));
    assertOk(await request<Ack>(listener, "join", { room }));
    const delivered = nextEvent<ChatMessage>(listener, "message", (m) => m.room === room);

    const answer = await post(room, token, { clientId: "p-1", text: "from a bot", meta: { via: "rest" } });
    assert.equal(answer.status, 201, answer.text);
    assert.match(answer.headers.get("content-type") ?? "", /application\/json/);
    assert.match(answer.body.id, ULID);
    assert.equal(answer.body.seq, 1);
    assert.equal(typeof answer.body.ts, "number");
    assert.equal(answer.body.duplicate ?? false, false);
    assert.deepEqual(await delivered, {
      id: answer.body.id,
      room,
      seq: 1,
      from: user("rest-poster"),
      clientId: "p-1",
      text: "from a bot",
      meta: { via: "rest" },
      ts: answer.body.ts,
    });
  });

  test("200 with duplicate: true for the same clientId; the same id, seq and ts", async () => {
    const room = roomName("rest-dup");
    const token = await cluster.token(user("rest-dup"), [room]);
    const first = await post(room, token, { clientId: "d-1", text: "once" });
    assert.equal(first.status, 201, first.text);
    const again = await post(room, token, { clientId: "d-1", text: "once" });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.duplicate, true);
    assert.deepEqual([again.body.id, again.body.seq, again.body.ts], [first.body.id, first.body.seq, first.body.ts]);
    // The socket event and REST share the idempotency key (from, room, clientId).
    const socket = await cluster.client(token);
    const viaSocket = await request<Ack<{ id: string; duplicate?: boolean }>>(socket, "send", { room, clientId: "d-1", text: "once" });
    assert.deepEqual(viaSocket, { ok: true, id: first.body.id, seq: first.body.seq, ts: first.body.ts, duplicate: true });
  });

  test("400 for a malformed body, 413 for text or meta above the limits", async () => {
    const room = roomName("rest-bad");
    const token = await cluster.token(user("rest-bad"), [room]);
    assertHttpError(await post(room, token, "{not json"), 400, "BAD_REQUEST", "invalid JSON");
    assertHttpError(await post(room, token, {}), 400, "BAD_REQUEST", "empty object");
    assertHttpError(await post(room, token, { clientId: "x" }), 400, "BAD_REQUEST", "missing text");
    assertHttpError(await post(room, token, { text: "no clientId" }), 400, "BAD_REQUEST", "missing clientId");
    assertHttpError(await post(room, token, { clientId: 5, text: "x" }), 400, "BAD_REQUEST", "numeric clientId");
    assertHttpError(await post(room, token, [{ clientId: "x", text: "y" }]), 400, "BAD_REQUEST", "array body");
    assertHttpError(await post(room, token, "null"), 400, "BAD_REQUEST", "null body");
    assertHttpError(await post(room, token, { clientId: "c".repeat(65), text: "x" }), 400, "BAD_REQUEST", "clientId of 65");
    assertHttpError(await post(room, token, { clientId: "t", text: "a".repeat(4001) }), 413, "TOO_LARGE", "text of 4001");
    assertHttpError(
      await post(room, token, { clientId: "m", text: "x", meta: { k: "x".repeat(2100) } }),
      413,
      "TOO_LARGE",
      "meta above 2 KB",
    );
    assertHttpError(await post(room, token, { clientId: "big", text: "a".repeat(200_000) }), 413, "TOO_LARGE", "a 200 KB body");
    assertHttpError(await post("bad%20room", token, { clientId: "r", text: "x" }), 400, "BAD_REQUEST", "room with a space");
    // None of them was stored.
    const page = await get(`/api/rooms/${room}/messages`, token);
    assert.deepEqual(page.body, { messages: [], more: false });
  });

  test("429 past the rate limit (shared with socket sends)", async () => {
    const room = roomName("rest-rate");
    const token = await cluster.token(user("rest-rate"), [room]);
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => post(room, token, { clientId: `r${i}`, text: `burst ${i}` })));
    const statuses = answers.map((a) => a.status);
    assert.ok(statuses.filter((s) => s === 201).length >= 40, `burst of 40 allowed: ${statuses.join(",")}`);
    const limited = answers.filter((a) => a.status === 429);
    assert.ok(limited.length > 0, `sends past the burst get 429: ${statuses.join(",")}`);
    for (const answer of limited) assertHttpError(answer, 429, "RATE_LIMITED", "rate limited");
    assert.deepEqual([...new Set(statuses)].sort(), [201, 429]);
  });
});

describe("GET /api/rooms/:room/messages", () => {
  test("{ messages, more } as history, with beforeSeq and limit", async () => {
    const room = roomName("rest-history");
    const acks = await fillRoom(cluster, room, 60, user("rest-hist-writer"));
    const token = await cluster.token(user("rest-reader"), [room]);
    const newest = await get(`/api/rooms/${room}/messages`, token);
    assert.equal(newest.status, 200, newest.text);
    assert.match(newest.headers.get("content-type") ?? "", /application\/json/);
    assert.deepEqual(Object.keys(newest.body).sort(), ["messages", "more"]);
    assert.deepEqual(
      newest.body.messages.map((m: ChatMessage) => m.seq),
      Array.from({ length: 50 }, (_, i) => i + 11),
    );
    assert.equal(newest.body.more, true);
    assert.deepEqual(
      newest.body.messages.map((m: ChatMessage) => m.id),
      acks.slice(10).map((a) => a.id),
    );

    const older = await get(`/api/rooms/${room}/messages?beforeSeq=11&limit=4`, token);
    assert.deepEqual(
      older.body.messages.map((m: ChatMessage) => m.seq),
      [7, 8, 9, 10],
    );
    assert.equal(older.body.more, true);
    const oldest = await get(`/api/rooms/${room}/messages?beforeSeq=3&limit=100`, token);
    assert.deepEqual(
      oldest.body.messages.map((m: ChatMessage) => m.seq),
      [1, 2],
    );
    assert.equal(oldest.body.more, false);

    // Same answer as the socket event.
    const socket = await cluster.client(token);
    const viaSocket = await request<Ack<{ messages: ChatMessage[]; more: boolean }>>(socket, "history", { room, beforeSeq: 11, limit: 4 });
    assert.deepEqual(viaSocket, { ok: true, ...older.body });
  });

  test("400 for bad beforeSeq or limit", async () => {
    const room = roomName("rest-history-bad");
    const token = await cluster.token(user("rest-bad-reader"), [room]);
    for (const query of ["limit=0", "limit=101", "limit=abc", "limit=1.5", "limit=-1", "beforeSeq=-1", "beforeSeq=x", "beforeSeq=1e400"]) {
      assertHttpError(await get(`/api/rooms/${room}/messages?${query}`, token), 400, "BAD_REQUEST", query);
    }
  });
});

describe("GET /api/me/rooms", () => {
  test("as the rooms event", async () => {
    const room = roomName("rest-me");
    const token = await cluster.token(user("rest-me"), [room]);
    const socket = await cluster.client(token);
    assertOk(await request<Ack>(socket, "join", { room }));
    assertOk(await request<Ack>(socket, "send", { room, clientId: "m-1", text: "one" }));
    assertOk(await request<Ack>(socket, "send", { room, clientId: "m-2", text: "two" }));
    assertOk(await request<Ack>(socket, "read", { room, seq: 1 }));
    const answer = await get("/api/me/rooms", token);
    assert.equal(answer.status, 200, answer.text);
    const expected: RoomEntry[] = [{ room, lastSeq: 2, readSeq: 1, unread: 1 }];
    assert.deepEqual(answer.body, { rooms: expected });
    assert.deepEqual(await request(socket, "rooms", {}), { ok: true, rooms: expected });
  });
});

describe("authentication and permission on every request", () => {
  const room = roomName("rest-auth");
  const requests: [string, (token: string | undefined, target: string) => Promise<HttpAnswer>][] = [
    ["GET messages", (token, target) => get(`/api/rooms/${target}/messages`, token)],
    ["POST messages", (token, target) => post(target, token, { clientId: "a", text: "x" })],
    ["GET me/rooms", (token) => get("/api/me/rooms", token)],
  ];

  for (const [what, call] of requests) {
    test(`${what}: 401 without a token, with a bad or expired one`, async () => {
      assertUnauthorized(await call(undefined, room), "AUTH_MISSING", `${what} without a token`);
      assertUnauthorized(await call("not-a-jwt", room), "AUTH_INVALID", `${what} with garbage`);
      const expired = await cluster.token(user("rest-expired"), [room], { ttlInSeconds: -60 });
      assertUnauthorized(await call(expired, room), "AUTH_EXPIRED", `${what} expired`);
      const forged = await mintToken({ secret: "another-secret-0123456789abcdef", userId: user("rest-forged"), rooms: [room] });
      assertUnauthorized(await call(forged, room), "AUTH_INVALID", `${what} signed with another key`);
      // Not a Bearer token at all: no token was given.
      const basic = await cluster.http(what === "GET me/rooms" ? "/api/me/rooms" : `/api/rooms/${room}/messages`, {
        headers: { authorization: `Basic ${Buffer.from("a:b").toString("base64")}` },
      });
      assertUnauthorized(basic, "AUTH_MISSING", `${what} with Basic auth`);
    });
  }

  test("403 for rooms outside the claim, on GET and POST", async () => {
    const amy = `amy-${tag}`;
    const token = await cluster.token(amy, [room, `team-${tag}:*`]);
    for (const target of [roomName("rest-other"), `team-${tag}`, `dm:${amy}:Zed-${tag}`, `dm:${amy}:${amy}`]) {
      assertHttpError(await get(`/api/rooms/${target}/messages`, token), 403, "FORBIDDEN", `GET ${target}`);
      assertHttpError(await post(target, token, { clientId: "f", text: "x" }), 403, "FORBIDDEN", `POST ${target}`);
    }
    for (const target of [`team-${tag}:ok`, `dm:Zed-${tag}:${amy}`]) {
      assert.equal((await get(`/api/rooms/${target}/messages`, token)).status, 200, `GET ${target}`);
      assert.equal((await post(target, token, { clientId: "f", text: "x" })).status, 201, `POST ${target}`);
    }
  });

  test("404 with the error JSON for an unknown API route", async () => {
    const token = await cluster.token(user("rest-404"), [room]);
    assertHttpError(await get("/api/nothing-here", token), 404, "NOT_FOUND", "unknown route");
    assertHttpError(await get(`/api/rooms/${room}`, token), 404, "NOT_FOUND", "room without /messages");
  });
});

describe("probes and metrics", () => {
  test("/healthz and /readyz answer 200 through the gateway and on each node", async () => {
    assert.equal((await get("/healthz")).status, 200);
    assert.equal((await get("/readyz")).status, 200);
    for (const index of cluster.apps.nodes.keys()) {
      assert.equal((await httpRequest(`${cluster.nodeUrl(index)}/healthz`)).status, 200);
      assert.equal((await httpRequest(`${cluster.nodeUrl(index)}/readyz`)).status, 200);
    }
  });

  test("/metrics is Prometheus text with the chat metrics, and counts what happened", async () => {
    const room = roomName("rest-metrics");
    /** Each node's /metrics text. */
    const scrape = async (): Promise<string[]> => {
      const texts: string[] = [];
      for (const index of cluster.apps.nodes.keys()) {
        const answer = await httpRequest(`${cluster.nodeUrl(index)}/metrics`);
        assert.equal(answer.status, 200);
        assert.match(answer.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
        texts.push(answer.text);
      }
      return texts;
    };
    /** A metric summed over every node's samples whose labels contain `labels`. */
    const sum = (texts: string[], name: string, labels = "") =>
      texts.reduce((total, text) => {
        const pattern = new RegExp(`^${name}(?:\\{[^}]*${labels}[^}]*\\})? ([0-9.e+]+)$`, "gm");
        return total + [...text.matchAll(pattern)].reduce((s, m) => s + Number(m[1]), 0);
      }, 0);
    // Earlier tests already moved these counters: what this test shows is the change it causes.
    const before = await scrape();
    const socket = await cluster.client(await cluster.token(user("rest-metrics"), [room]));
    assertOk(await request<Ack>(socket, "send", { room, clientId: "m", text: "counted" }));
    await request(socket, "join", { room: "bad room" });
    const texts = await scrape();
    // Node metrics are for Prometheus scraping each node; the gateway does not serve them.
    assertHttpError(await get("/metrics"), 404, "NOT_FOUND", "/metrics through the gateway");

    for (const text of texts) {
      for (const [name, type] of [
        ["chat_connections", "gauge"],
        ["chat_messages_in_total", "counter"],
        ["chat_messages_out_total", "counter"],
        ["chat_ack_latency_seconds", "histogram"],
        ["chat_errors_total", "counter"],
        ["nodejs_eventloop_lag_seconds", "gauge"],
      ]) {
        assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, "m"), `metric ${name} (${type})`);
      }
      // Every sample line is "name{labels} value". prom-client writes an empty histogram's mean
      // as "Nan"; Prometheus parses NaN in any case (Go's strconv.ParseFloat).
      for (const line of text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))) {
        assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (-?[0-9.e+-]+|[Nn]a[Nn]|[+-]Inf)$/, `sample line: ${line}`);
      }
    }
    const delta = (name: string, labels = "") => sum(texts, name, labels) - sum(before, name, labels);
    assert.equal(delta("chat_messages_in_total"), 1, "chat_messages_in_total counts the one send");
    assert.equal(delta("chat_connections"), 1, "chat_connections counts the one socket opened");
    assert.equal(delta("chat_errors_total", 'code="BAD_REQUEST"'), 1, "chat_errors_total counts the one BAD_REQUEST");
    assert.equal(delta("chat_errors_total", 'event="join"'), 1, "the BAD_REQUEST is counted under its event");
  });
});
