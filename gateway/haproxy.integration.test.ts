/**
 * The local gateway's rules on a real HAProxy (the one `npm start` runs) in front of two fake
 * nodes that answer like uWS (nothing to HTTP/1.0): sid stickiness, a draining node keeping its
 * sessions, redispatch of new sessions when a node is gone, the gateway's own /healthz and /readyz, and no node
 * /metrics from outside. HAProxy's view of each node is read from its stats CSV, not waited for.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startGateway, type Gateway } from "../scripts/infra/haproxy.js";
import { freePort, waitFor } from "../scripts/infra/process.js";
import { LOCAL_BACKEND } from "./haproxy-config.js";

interface FakeNode {
  name: string;
  port: number;
  ready: boolean;
  /** Paths this node was asked for, health checks excluded. */
  seen: string[];
  server: Server;
}

async function startFakeNode(name: string): Promise<FakeNode> {
  const node: FakeNode = { name, port: 0, ready: true, seen: [], server: createServer() };
  node.server.on("request", (req, res) => {
    if (req.httpVersion !== "1.1") {
      req.socket.destroy(); // uWS answers no HTTP/1.0: checks that are not HTTP/1.1 must fail
      return;
    }
    const path = req.url ?? "";
    // HAProxy's health checks send `Host: localhost` (routing.ts); proxied requests keep the client's.
    if (path === "/readyz" && req.headers.host === "localhost") {
      res.writeHead(node.ready ? 200 : 503).end(node.ready ? "ready" : "not ready");
      return;
    }
    node.seen.push(path);
    res.writeHead(200, { "content-type": "text/plain" }).end(name);
  });
  await new Promise<void>((resolve) => node.server.listen(0, "127.0.0.1", resolve));
  const address = node.server.address();
  node.port = typeof address === "object" && address ? address.port : 0;
  return node;
}

const asBackend = (node: FakeNode) => ({ name: node.name, host: "127.0.0.1", port: node.port });

let dir: string;
let nodes: FakeNode[];
let gateway: Gateway;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "chat-gateway-"));
  nodes = await Promise.all(["n1", "n2"].map(startFakeNode));
  gateway = await startGateway(
    { bindHost: "127.0.0.1", bindPort: await freePort(), checkIntervalInMs: 100, backends: nodes.map(asBackend) },
    dir,
    {},
  );
});

after(async () => {
  await gateway?.stop();
  await Promise.all((nodes ?? []).map((n) => new Promise((resolve) => n.server.close(resolve))));
  rmSync(dir, { recursive: true, force: true });
});

const get = async (path: string) => {
  const response = await fetch(`${gateway.url}${path}`);
  return { status: response.status, text: await response.text(), contentType: response.headers.get("content-type") ?? "" };
};

/** A column of server `name`'s row in the local backend of `of`'s stats CSV. */
async function statsField(of: Gateway, name: string, field: string): Promise<string> {
  const lines = (await (await fetch(`${of.statsUrl}/stats;csv`)).text()).split("\n");
  const header = lines[0]!.replace(/^# /, "").split(",");
  const row = lines.map((line) => line.split(",")).find((cols) => cols[0] === LOCAL_BACKEND && cols[1] === name);
  assert.ok(row, `no server ${name} in HAProxy's stats`);
  return row[header.indexOf(field)]!;
}

/** HAProxy's status of server `name` ("UP", "DOWN", "UP 1/2", ...). */
const serverStatus = (name: string) => statsField(gateway, name, "status");

const waitForStatus = (name: string, status: string) =>
  waitFor(`HAProxy sees ${name} ${status}`, async () => (await serverStatus(name)) === status, {
    timeoutInMs: 10_000,
    intervalInMs: 50,
    process: gateway.process,
  });

test("every node passes its GET /readyz over HTTP/1.1 health check", async () => {
  // Servers start "UP 1/2" (assumed up); a passed check makes them plain UP, a failed one DOWN.
  for (const node of nodes) await waitForStatus(node.name, "UP");
});

test("a session sticks to the node its sid names; new sessions reach both nodes", async () => {
  for (const node of nodes) assert.equal((await get(`/socket.io/?EIO=4&transport=polling&sid=${node.name}-AbC`)).text, node.name);
  const placed = new Set<string>();
  for (let i = 0; i < 4; i++) placed.add((await get("/socket.io/?EIO=4&transport=polling")).text);
  assert.deepEqual([...placed].sort(), ["n1", "n2"]);
});

test("the gateway answers /healthz and /readyz itself, and /metrics is 404 JSON that no node sees", async () => {
  const before = nodes.map((n) => n.seen.length);
  assert.deepEqual(await get("/healthz"), { status: 200, text: "ok", contentType: "text/plain" });
  assert.deepEqual(await get("/readyz"), { status: 200, text: "ready", contentType: "text/plain" });
  const metrics = await get("/metrics");
  assert.equal(metrics.status, 404);
  assert.match(metrics.contentType, /application\/json/);
  assert.equal((JSON.parse(metrics.text) as { error: { code: string } }).error.code, "NOT_FOUND");
  assert.deepEqual(
    nodes.map((n) => n.seen.length),
    before,
    "a probe or /metrics request reached a node",
  );
});

test("a draining node gets no new session but keeps its own; with no ready node /readyz is 503", async () => {
  const [n1, n2] = nodes as [FakeNode, FakeNode];
  n1.ready = false;
  await waitForStatus("n1", "DOWN");
  assert.equal((await get("/socket.io/?EIO=4&transport=polling&sid=n1-AbC")).text, "n1");
  for (let i = 0; i < 4; i++) assert.equal((await get("/socket.io/?EIO=4&transport=polling")).text, "n2");
  assert.equal((await get("/readyz")).status, 200, "one ready node is enough");

  n2.ready = false;
  await waitForStatus("n2", "DOWN");
  assert.deepEqual(await get("/readyz"), { status: 503, text: "not ready", contentType: "text/plain" });

  n1.ready = n2.ready = true;
  await waitForStatus("n1", "UP");
  await waitForStatus("n2", "UP");
  assert.equal((await get("/readyz")).status, 200);
});

test("when a node is gone, new sessions are redispatched to the other node and its own sessions get 503", async () => {
  // A gateway of its own whose health checks (every 60 s) will not notice the node going away:
  // round robin keeps picking it, so every second new session has to be redispatched.
  const pair = await Promise.all(["n1", "n2"].map(startFakeNode));
  const [gone, live] = pair as [FakeNode, FakeNode];
  const own = await startGateway(
    { bindHost: "127.0.0.1", bindPort: await freePort(), checkIntervalInMs: 60_000, backends: pair.map(asBackend) },
    join(dir, "redispatch"),
    {},
  );
  try {
    await new Promise((resolve) => gone.server.close(resolve));
    for (let i = 0; i < 4; i++) {
      const answer = await fetch(`${own.url}/socket.io/?EIO=4&transport=polling`);
      assert.deepEqual([answer.status, await answer.text()], [200, live.name]);
    }
    assert.ok(Number(await statsField(own, "n1", "wredis")) >= 1, "no request was redispatched away from n1");
    // force-persist keeps a session on its node even then: no redispatch, 503 after the retries,
    // and the client opens a new session (above).
    const stale = await fetch(`${own.url}/socket.io/?EIO=4&transport=polling&sid=n1-AbC`);
    assert.equal(stale.status, 503);
  } finally {
    await own.stop();
    await new Promise((resolve) => live.server.close(resolve));
  }
});
