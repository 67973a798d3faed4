/**
 * The caps on a real 2-node cluster through the gateway (docs/protocol.md v1.1 "Limits"): rooms per
 * socket, connections per user across the cluster (and after a node dies), token size and
 * pattern counts on socket and REST, `rooms` paging, and every refusal in `/metrics` by reason.
 * Caps are set low (5 rooms, 4 connections, presence TTL 1.5 s) so each shows quickly.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Socket } from "socket.io-client";
import { eventually, httpRequest, nodeOf, request, startTestCluster, type TestCluster } from "../fixture.js";
import { uniqueTag } from "../protocol/helpers.js";

const ROOMS_PER_SOCKET = 5;
const CONNECTIONS_PER_USER = 4;
const NODE_TTL_IN_MS = 1500;

type Reply = { ok: boolean; error?: { code: string; message: string } };
type RoomsReply = Reply & { rooms: { room: string; lastSeq: number; readSeq: number; unread: number }[]; next?: string };
type ConnectError = Error & { data?: { code: string; message: string } };

let cluster: TestCluster;
const tag = uniqueTag();

before(async () => {
  cluster = await startTestCluster({
    env: {
      CHAT_ROOMS_PER_SOCKET: String(ROOMS_PER_SOCKET),
      CHAT_CONNECTIONS_PER_USER: String(CONNECTIONS_PER_USER),
      CHAT_PRESENCE_TTL_MS: String(NODE_TTL_IN_MS),
    },
  });
});
after(async () => cluster.stop());

async function connectError(token: string): Promise<ConnectError> {
  try {
    const socket = await cluster.client(token);
    socket.disconnect();
  } catch (error) {
    return error as ConnectError;
  }
  assert.fail("the connection was accepted");
}

test("a socket joins at most 5 rooms: the 6th is LIMIT_REACHED until it leaves one", async () => {
  const socket = await cluster.client(await cluster.token(`joiner-${tag}`, [`cap-${tag}:*`]));
  for (let i = 0; i < ROOMS_PER_SOCKET; i++) assert.equal((await request<Reply>(socket, "join", { room: `cap-${tag}:${i}` })).ok, true);
  const refused = await request<Reply>(socket, "join", { room: `cap-${tag}:extra` });
  assert.equal(refused.error?.code, "LIMIT_REACHED");
  assert.equal((await request<Reply>(socket, "join", { room: `cap-${tag}:0` })).ok, true, "a room already joined is not a new one");
  assert.equal((await request<Reply>(socket, "leave", { room: `cap-${tag}:0` })).ok, true);
  assert.equal((await request<Reply>(socket, "join", { room: `cap-${tag}:extra` })).ok, true);
});

test("a user holds at most 4 connections across both nodes: the 5th gets connect_error LIMIT_REACHED, and a freed one can be taken again", async () => {
  const token = await cluster.token(`many-${tag}`);
  const sockets: Socket[] = [];
  for (let i = 0; i < CONNECTIONS_PER_USER; i++) sockets.push(await cluster.client(token));
  assert.equal(new Set(sockets.map(nodeOf)).size, 2, "the connections are spread over both nodes");
  const refused = await connectError(token);
  assert.equal(refused.message, "LIMIT_REACHED");
  assert.equal(refused.data?.code, "LIMIT_REACHED");
  sockets.pop()!.disconnect();
  // The release is written after the disconnect; the next connect sees it within moments.
  const again = await eventually("a connection after one was freed", async () => {
    try {
      return await cluster.client(token);
    } catch (error) {
      if ((error as Error).message !== "LIMIT_REACHED") throw error;
      return undefined;
    }
  });
  assert.ok(again.connected);
});

test("30 connections of one user at once, over both nodes: exactly 4 held, the rest LIMIT_REACHED, and once one closes the user gets in again", async () => {
  // The refusals that skip Redis or the token's verification (server/realtime/early-refusal.ts,
  // server/cluster/connection-registry.ts) must neither let a 5th in nor keep refusing a user under the cap.
  const token = await cluster.token(`burst-${tag}`);
  const attempts = await Promise.allSettled(Array.from({ length: 30 }, () => cluster.client(token, { transports: ["websocket"] })));
  const held = attempts.flatMap((attempt) => (attempt.status === "fulfilled" ? [attempt.value] : []));
  const refusals = attempts.flatMap((attempt) => (attempt.status === "rejected" ? [(attempt.reason as ConnectError).data?.code] : []));
  assert.equal(held.length, CONNECTIONS_PER_USER);
  assert.deepEqual(new Set(refusals), new Set(["LIMIT_REACHED"]));
  assert.equal((await connectError(token)).message, "LIMIT_REACHED", "a retry at once is refused the same way");
  held.pop()!.disconnect();
  const again = await eventually("a connection after one was freed", async () => {
    try {
      return await cluster.client(token, { transports: ["websocket"] });
    } catch (error) {
      if ((error as Error).message !== "LIMIT_REACHED") throw error;
      return undefined;
    }
  });
  assert.ok(again.connected);
  assert.equal((await connectError(token)).message, "LIMIT_REACHED", "and the cap holds again");
  for (const socket of held) socket.disconnect();
});

test("tokens over 8 KB or with more than 256 patterns are AUTH_INVALID with the reason, on the socket and on REST", async () => {
  const user = `big-token-${tag}`;
  const huge = await cluster.token(
    user,
    Array.from({ length: 3000 }, (_, i) => `team-${i}:*`),
  );
  const tooBig = await connectError(huge);
  assert.equal(tooBig.message, "UNAUTHORIZED");
  assert.deepEqual(tooBig.data, { code: "AUTH_INVALID", message: "the token is larger than 8192 bytes" });
  const many = await cluster.token(
    user,
    Array.from({ length: 300 }, (_, i) => `r${i}`),
  );
  assert.ok(many.length < 8192);
  const tooMany = await connectError(many);
  assert.deepEqual(tooMany.data, { code: "AUTH_INVALID", message: "the token's rooms claim has more than 256 patterns" });
  const restMany = await cluster.http("/api/me/rooms", { token: many });
  assert.equal(restMany.status, 401);
  assert.deepEqual(restMany.body.error, {
    code: "UNAUTHORIZED",
    message: "the token's rooms claim has more than 256 patterns",
    reason: "AUTH_INVALID",
  });
  // Over 8 KB but under the gateway's request-header limit, so the node answers.
  const nineKb = await cluster.token(
    user,
    Array.from({ length: 200 }, (_, i) => `${"p".repeat(30)}-${i}`),
  );
  assert.ok(nineKb.length > 8192 && nineKb.length < 14_000, `${nineKb.length} bytes`);
  const restBig = await cluster.http("/api/me/rooms", { token: nineKb });
  assert.equal(restBig.status, 401);
  assert.equal(restBig.body.error.message, "the token is larger than 8192 bytes");
});

test("rooms and GET /api/me/rooms come in pages, most recent activity first, with a cursor; without a limit, one page of up to 100", async () => {
  const user = `pager-${tag}`;
  const token = await cluster.token(user, [`page-${tag}:*`]);
  const socket = await cluster.client(token);
  const rooms = Array.from({ length: 5 }, (_, i) => `page-${tag}:${i}`);
  for (const room of rooms) {
    assert.equal((await request<Reply>(socket, "join", { room })).ok, true);
    // Activity is recorded in ms; a pause keeps the order unambiguous.
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  const newestFirst = [...rooms].reverse();
  const everything = await eventually("all five rooms recorded", async () => {
    const reply = await request<RoomsReply>(socket, "rooms", {});
    return reply.rooms.length === 5 ? reply : undefined;
  });
  assert.deepEqual(
    everything.rooms.map(({ room }) => room),
    newestFirst,
  );
  assert.equal(everything.next, undefined);
  const pages: string[][] = [];
  let after: string | undefined;
  do {
    const page: RoomsReply = await request<RoomsReply>(socket, "rooms", after === undefined ? { limit: 2 } : { limit: 2, after });
    assert.equal(page.ok, true, JSON.stringify(page));
    pages.push(page.rooms.map(({ room }) => room));
    after = page.next;
  } while (after !== undefined);
  assert.deepEqual(pages, [newestFirst.slice(0, 2), newestFirst.slice(2, 4), newestFirst.slice(4)]);
  const rest = await cluster.http("/api/me/rooms?limit=2", { token });
  assert.equal(rest.status, 200);
  assert.deepEqual(
    rest.body.rooms.map(({ room }: { room: string }) => room),
    newestFirst.slice(0, 2),
  );
  const restNext = await cluster.http(`/api/me/rooms?limit=2&after=${encodeURIComponent(rest.body.next)}`, { token });
  assert.deepEqual(
    restNext.body.rooms.map(({ room }: { room: string }) => room),
    newestFirst.slice(2, 4),
  );
  assert.equal((await cluster.http("/api/me/rooms?limit=500", { token })).body.error.code, "BAD_REQUEST");
  assert.equal((await request<Reply>(socket, "rooms", { after: "not-a-cursor" })).error?.code, "BAD_REQUEST");
});

test("every refusal above is counted in /metrics by reason", async () => {
  const totals = new Map<string, number>();
  for (const index of cluster.apps.nodes.keys()) {
    const metrics = (await httpRequest(`${cluster.nodeUrl(index)}/metrics`)).text;
    for (const match of metrics.matchAll(/^chat_refusals_total\{[^}]*reason="([a-z_]+)"[^}]*\} (\d+)/gm)) {
      totals.set(match[1]!, (totals.get(match[1]!) ?? 0) + Number(match[2]));
    }
  }
  for (const reason of ["rooms_per_socket", "connections_per_user", "token_too_large", "token_too_many_patterns"]) {
    assert.ok((totals.get(reason) ?? 0) >= 1, `${reason}: ${JSON.stringify([...totals])}`);
  }
});

test("a node that dies does not lock its users out: its connections stop counting after the TTL", async () => {
  const token = await cluster.token(`survivor-${tag}`);
  const sockets: Socket[] = [];
  for (let i = 0; i < CONNECTIONS_PER_USER; i++) sockets.push(await cluster.client(token));
  const victim = cluster.apps.nodes.find((node) => node.process.name === nodeOf(sockets[0]!))!;
  const onVictim = sockets.filter((socket) => nodeOf(socket) === victim.process.name).length;
  await victim.process.kill();
  // The survivor's sockets plus as many new ones as died: the cap again, all on the surviving node.
  const started = Date.now();
  for (let i = 0; i < onVictim; i++) {
    await eventually(
      "a connection in place of one on the dead node",
      async () => {
        try {
          return await cluster.client(token, { transports: ["websocket"] });
        } catch {
          return undefined;
        }
      },
      NODE_TTL_IN_MS * 2 + 5000,
    );
  }
  console.log(
    `# node death: ${onVictim} connection(s) of the dead node replaced after ${Date.now() - started} ms (TTL ${NODE_TTL_IN_MS} ms)`,
  );
  assert.equal((await connectError(token)).message, "LIMIT_REACHED", "and the cap still holds");
});
