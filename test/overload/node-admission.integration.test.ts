/**
 * Admission at a real node (CHAT_MAX_CONNECTIONS, CHAT_CONNECT_RATE): past either, the handshake
 * (polling `open` or WebSocket upgrade) is answered 503 with Retry-After before any socket.io
 * packet, counted in chat_connections_refused_total{reason}; a stock socket.io client retries by
 * itself and gets in once a slot frees.
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, test } from "node:test";
import { io as connect, type Socket } from "socket.io-client";
import { eventually, startTestCluster, type TestCluster } from "../fixture.js";

const clusters: TestCluster[] = [];
const sockets: Socket[] = [];
after(async () => {
  for (const socket of sockets) socket.disconnect();
  await Promise.all(clusters.map((cluster) => cluster.stop()));
});

async function cluster(env: NodeJS.ProcessEnv): Promise<TestCluster> {
  const started = await startTestCluster({ nodeCount: 1, env });
  clusters.push(started);
  return started;
}

function connected(url: string, token: string, options: Parameters<typeof connect>[1] = {}): Promise<Socket> {
  const socket = connect(url, { auth: { token }, forceNew: true, reconnection: false, ...options });
  sockets.push(socket);
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

/** A new polling session's `open` request, as socket.io-client sends it. */
function pollingOpen(nodeUrl: string): Promise<Response> {
  return fetch(`${nodeUrl}/socket.io/?EIO=4&transport=polling&t=${Date.now()}`);
}

/** A direct WebSocket handshake; resolves with the HTTP answer when the server does not switch protocols. */
function websocketOpen(nodeUrl: string): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${nodeUrl}/socket.io/?EIO=4&transport=websocket`, {
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
      },
    });
    request.on("upgrade", (_response, socket) => {
      socket.destroy();
      resolve({ status: 101, retryAfter: undefined, body: "" });
    });
    request.on("response", (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () =>
        resolve({ status: response.statusCode ?? 0, retryAfter: response.headers["retry-after"] as string | undefined, body }),
      );
    });
    request.on("error", reject);
    request.end();
  });
}

async function refusedCount(nodeUrl: string, reason: string): Promise<number> {
  const text = await (await fetch(`${nodeUrl}/metrics`)).text();
  const line = text
    .split("\n")
    .find((candidate) => candidate.startsWith("chat_connections_refused_total{") && candidate.includes(`reason="${reason}"`));
  assert.ok(line, `chat_connections_refused_total{reason="${reason}"} is exported`);
  return Number(line.split(" ").at(-1));
}

test(
  "a node at CHAT_MAX_CONNECTIONS answers new handshakes 503 + Retry-After; a stock client gets in once a slot frees",
  { timeout: 60_000 },
  async () => {
    const node = await cluster({ CHAT_MAX_CONNECTIONS: "2", CHAT_CONNECT_RATE: "0", CHAT_CONNECT_RETRY_AFTER_SECONDS: "3" });
    const nodeUrl = node.nodeUrl(0);
    const token = await node.token("admission-user");
    // Polling first, then the upgrade of that session (it has a sid: not a new connection).
    const first = await connected(nodeUrl, token);
    await connected(nodeUrl, token, { transports: ["websocket"] });
    await eventually(
      "the polling session upgraded to WebSocket",
      async () => (first.io.engine.transport.name === "websocket" ? true : undefined),
      10_000,
    );

    const polling = await pollingOpen(nodeUrl);
    assert.equal(polling.status, 503);
    assert.equal(polling.headers.get("retry-after"), "3");
    const body = (await polling.json()) as { error: { code: string; retryAfterMs: number } };
    assert.equal(body.error.code, "UNAVAILABLE", "a JSON error, not an engine.io open packet");
    assert.equal(body.error.retryAfterMs, 3000);
    const websocket = await websocketOpen(nodeUrl);
    assert.deepEqual({ status: websocket.status, retryAfter: websocket.retryAfter }, { status: 503, retryAfter: "3" });
    assert.match(websocket.body, /"UNAVAILABLE"/);
    assert.equal(await refusedCount(nodeUrl, "max_connections"), 2);

    // Stock client, its own reconnection: refused while the node is full, in once a slot frees.
    const waiting = connect(nodeUrl, { auth: { token }, forceNew: true, reconnectionDelay: 200, reconnectionDelayMax: 500 });
    sockets.push(waiting);
    let refusals = 0;
    waiting.io.on("reconnect_attempt", () => refusals++);
    waiting.on("connect_error", () => refusals === 0 && refusals++);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(waiting.connected, false, "not admitted while the node is full");
    assert.ok(refusals >= 2, `it kept retrying by itself (${refusals} attempts)`);
    first.disconnect();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the waiting client did not get in within 10 s of a slot freeing")), 10_000);
      waiting.once("connect", () => (clearTimeout(timer), resolve()));
    });
    assert.ok((await refusedCount(nodeUrl, "max_connections")) >= 3);
  },
);

test(
  "past CHAT_CONNECT_RATE new handshakes get 503 with the wait for the next token; existing sessions are not affected",
  { timeout: 60_000 },
  async () => {
    const node = await cluster({ CHAT_MAX_CONNECTIONS: "0", CHAT_CONNECT_RATE: "2" });
    const nodeUrl = node.nodeUrl(0);
    const answers = await Promise.all(Array.from({ length: 6 }, () => pollingOpen(nodeUrl)));
    const statuses = answers.map((answer) => answer.status).sort();
    assert.deepEqual(statuses, [200, 200, 503, 503, 503, 503], "a burst of one second's worth, then refused");
    const opened = answers.find((answer) => answer.status === 200)!;
    const open = await opened.text();
    assert.match(open, /^0\{"sid":"n1-/, "an admitted handshake is engine.io's own open packet");
    const sid = (JSON.parse(open.slice(1)) as { sid: string }).sid;
    // The bucket is empty now; a request of an existing session (a pong) still goes through.
    const pong = await fetch(`${nodeUrl}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
      method: "POST",
      body: "3",
      headers: { "Content-Type": "text/plain" },
    });
    assert.deepEqual({ status: pong.status, body: await pong.text() }, { status: 200, body: "ok" });
    for (const refused of answers.filter((answer) => answer.status === 503)) assert.equal(refused.headers.get("retry-after"), "1");
    assert.equal(await refusedCount(nodeUrl, "connect_rate"), 4);
    assert.equal(await refusedCount(nodeUrl, "max_connections"), 0);
  },
);
