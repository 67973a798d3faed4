/**
 * Admission at the gateway (admission.ts) on a real HAProxy, the one `npm start` runs, in front
 * of fake nodes that can hold requests open:
 *  - the waiting room: with every node at its maxconn a new connection waits in HAProxy's queue,
 *    is served when a slot frees, and gets 503 + Retry-After past `timeout queue`;
 *  - per client address limits: 429 + Retry-After past the connection count, the new-connection
 *    rate and the request rate, while /readyz and the connections already held keep working;
 *    twice over a connection limit, dropped at accept;
 *    behind a trusted proxy the limits follow the client address it sets;
 *  - a request whose headers take longer than `timeout http-request` is cut;
 *  - every refusal in HAProxy's Prometheus exporter.
 * Each client is a raw connection from its own loopback address (127.0.0.x), so each test has
 * addresses, and so stick-table entries, of its own.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startGateway, type Gateway } from "../scripts/infra/haproxy.js";
import { freePort, waitFor } from "../scripts/infra/process.js";
import { REFUSED } from "./admission.js";
import type { ClientLimits } from "./haproxy-config.js";
import { LOCAL_BACKEND } from "./haproxy-config.js";
import { exporterSample, RawConnection, startHoldingNode, type HoldingNode, type RawResponse } from "./testing.js";

const QUEUE_TIMEOUT_MS = 1500;
const HTTP_REQUEST_TIMEOUT_MS = 1000;
const LIMITS: ClientLimits = {
  maxConnections: 2,
  newConnectionsPer10s: 5,
  requestsPer10s: 12,
  retryAfterInSeconds: 7,
  trustedProxies: ["127.0.0.60"],
  clientAddressHeader: "X-Forwarded-For",
};

let dir: string;
let nodes: HoldingNode[];
/** Every node takes one connection; no client limits. */
let waitingRoom: Gateway;
/** Client limits (LIMITS) and a short header timeout; no node limit. */
let limited: Gateway;

const backends = () => nodes.map((node) => ({ name: node.name, host: "127.0.0.1", port: node.port }));
const port = (gateway: Gateway) => Number(new URL(gateway.url).port);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "chat-admission-"));
  nodes = await Promise.all(["n1", "n2"].map(startHoldingNode));
  waitingRoom = await startGateway(
    {
      bindHost: "127.0.0.1",
      bindPort: await freePort(),
      checkIntervalInMs: 100,
      backends: backends(),
      waitingRoom: { maxConnectionsPerNode: 1, queueTimeoutInMs: QUEUE_TIMEOUT_MS, retryAfterInSeconds: 3 },
    },
    join(dir, "waiting-room"),
    {},
  );
  limited = await startGateway(
    {
      bindHost: "127.0.0.1",
      bindPort: await freePort(),
      checkIntervalInMs: 100,
      backends: backends(),
      httpRequestTimeoutInMs: HTTP_REQUEST_TIMEOUT_MS,
      waitingRoom: { maxConnectionsPerNode: 0, queueTimeoutInMs: 5000, retryAfterInSeconds: 5 },
      clientLimits: LIMITS,
    },
    join(dir, "limited"),
    {},
  );
});

after(async () => {
  await waitingRoom?.stop();
  await limited?.stop();
  await Promise.all((nodes ?? []).map((node) => node.close()));
  rmSync(dir, { recursive: true, force: true });
});

const heldEverywhere = () =>
  waitFor("every node holds a request", async () => nodes.every((node) => node.held.length === 1), { timeoutInMs: 5000, intervalInMs: 20 });

function assertRefusal(response: RawResponse, status: number, code: string, retryAfter: number): void {
  assert.equal(response.status, status, JSON.stringify(response));
  assert.equal(response.headers["retry-after"], String(retryAfter));
  assert.match(response.headers["content-type"] ?? "", /application\/json/);
  const body = JSON.parse(response.body) as { error: { code: string; message: string } };
  assert.equal(body.error.code, code);
  assert.ok(body.error.message.length > 0);
}

/** Answers to `count` requests, each on a new connection from `address`, one after the other. */
async function onNewConnections(address: string, count: number, path = "/socket.io/?EIO=4&transport=polling"): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    const connection = await RawConnection.open(port(limited), address);
    statuses.push((await connection.request(path)).status);
    connection.close();
  }
  return statuses;
}

test("with every node at its maxconn a new connection waits in the queue and is served when a slot frees", async () => {
  const holders = await Promise.all(nodes.map(() => RawConnection.open(port(waitingRoom), "127.0.0.10")));
  const holding = holders.map((holder) => holder.request("/hold"));
  await heldEverywhere();

  const newcomer = await RawConnection.open(port(waitingRoom), "127.0.0.11");
  const started = Date.now();
  let answered = false;
  const served = newcomer.request("/socket.io/?EIO=4&transport=polling").finally(() => (answered = true));
  const queued = `haproxy_backend_current_queue{proxy="${LOCAL_BACKEND}"}`;
  await waitFor("the newcomer in HAProxy's queue", async () => (await exporterSample(waitingRoom.statsUrl, queued)) === 1, {
    timeoutInMs: 3000,
    intervalInMs: 20,
  });
  await sleep(300);
  assert.equal(answered, false, "the newcomer was answered while every node was at its maxconn");

  const [freed] = nodes as [HoldingNode, HoldingNode];
  freed.releaseOne();
  const response = await served;
  assert.deepEqual([response.status, response.body], [200, freed.name], "the freed slot went to the newcomer");
  assert.ok(Date.now() - started < QUEUE_TIMEOUT_MS, "served from the queue, not after its timeout");
  assert.ok((await exporterSample(waitingRoom.statsUrl, `haproxy_backend_max_queue{proxy="${LOCAL_BACKEND}"}`)) >= 1);

  // Hold the freed slot again, then a newcomer waits out `timeout queue`: 503 with Retry-After.
  const again = await RawConnection.open(port(waitingRoom), "127.0.0.10");
  const holdingAgain = again.request("/hold");
  await heldEverywhere();
  const errorsBefore = await exporterSample(waitingRoom.statsUrl, `haproxy_backend_connection_errors_total{proxy="${LOCAL_BACKEND}"}`);
  const late = await RawConnection.open(port(waitingRoom), "127.0.0.12");
  const waitStarted = Date.now();
  const refused = await late.request("/socket.io/?EIO=4&transport=polling");
  const waited = Date.now() - waitStarted;
  assertRefusal(refused, 503, "UNAVAILABLE", 3);
  assert.ok(waited >= QUEUE_TIMEOUT_MS - 100, `refused after ${waited} ms, before timeout queue (${QUEUE_TIMEOUT_MS} ms)`);
  assert.ok(waited < QUEUE_TIMEOUT_MS + 2000, `refused only after ${waited} ms`);
  assert.equal(
    await exporterSample(waitingRoom.statsUrl, `haproxy_backend_connection_errors_total{proxy="${LOCAL_BACKEND}"}`),
    errorsBefore + 1,
  );

  for (const node of nodes) node.releaseOne();
  assert.deepEqual(
    (await Promise.all([...holding, holdingAgain])).map((r) => r.status),
    [200, 200, 200],
  );
  for (const connection of [...holders, newcomer, again, late]) connection.close();
});

test("an address over its connection limit gets 429 + Retry-After, while /readyz and its held connections keep working", async () => {
  const deniedBefore = await exporterSample(limited.statsUrl, `haproxy_backend_requests_denied_total{proxy="${REFUSED.connections}"}`);
  const held = [await RawConnection.open(port(limited), "127.0.0.20"), await RawConnection.open(port(limited), "127.0.0.20")];
  for (const connection of held) assert.equal((await connection.request("/socket.io/?EIO=4&transport=polling")).status, 200);

  const extra = await RawConnection.open(port(limited), "127.0.0.20");
  assertRefusal(await extra.request("/socket.io/?EIO=4&transport=polling"), 429, "RATE_LIMITED", LIMITS.retryAfterInSeconds);
  await extra.closed; // the gateway closes a refused connection, which frees its place

  // A third connection again: the gateway's own probes are answered on it, and while it is open
  // (the address over its limit) the connections held before it keep being served.
  const probe = await RawConnection.open(port(limited), "127.0.0.20");
  assert.deepEqual(await probe.request("/readyz").then((r) => [r.status, r.body]), [200, "ready"]);
  assert.deepEqual(await probe.request("/healthz").then((r) => [r.status, r.body]), [200, "ok"]);
  for (const connection of held) assert.equal((await connection.request("/socket.io/?EIO=4&transport=polling&sid=n1-AbC")).status, 200);
  assertRefusal(await probe.request("/socket.io/?EIO=4&transport=polling"), 429, "RATE_LIMITED", LIMITS.retryAfterInSeconds);
  await probe.closed;
  assert.deepEqual(await onNewConnections("127.0.0.21", 1), [200], "another address is not limited by this one");
  assert.equal(
    await exporterSample(limited.statsUrl, `haproxy_backend_requests_denied_total{proxy="${REFUSED.connections}"}`),
    deniedBefore + 2,
  );

  // Once the address holds fewer connections, it is let in again.
  held[0]!.close();
  await held[0]!.closed;
  await sleep(100);
  assert.deepEqual(await onNewConnections("127.0.0.20", 1), [200]);
  held[1]!.close();
});

test("an address twice over its connection limit is dropped at accept, before any HTTP", async () => {
  const deniedBefore = await exporterSample(limited.statsUrl, `haproxy_frontend_denied_connections_total{proxy="chat"}`);
  // Connections that never send a request (they would sit until the header timeout).
  const idle = await Promise.all(Array.from({ length: 2 * LIMITS.maxConnections }, () => RawConnection.open(port(limited), "127.0.0.70")));
  try {
    await sleep(100);
    assert.ok(
      idle.every((connection) => !connection.isClosed),
      "a connection within twice the limit was dropped",
    );
    // HAProxy resets it as soon as it is accepted: the connect itself or the first request fails.
    const outcome = await RawConnection.open(port(limited), "127.0.0.70")
      .then(
        async (dropped) => {
          try {
            return `HTTP ${(await dropped.request("/readyz")).status}`;
          } finally {
            dropped.close();
          }
        },
        (error: Error) => error.message,
      )
      .catch((error: Error) => error.message);
    assert.match(outcome, /ECONNRESET|connection closed before a full response/);
    assert.equal(await exporterSample(limited.statsUrl, `haproxy_frontend_denied_connections_total{proxy="chat"}`), deniedBefore + 1);
    assert.deepEqual(await onNewConnections("127.0.0.71", 1, "/readyz"), [200], "other addresses are served");
  } finally {
    for (const connection of idle) connection.close();
  }
});

test("an address opening connections too fast gets 429 + Retry-After", async () => {
  const statuses = await onNewConnections("127.0.0.30", LIMITS.newConnectionsPer10s + 2);
  assert.deepEqual(statuses, [...Array<number>(LIMITS.newConnectionsPer10s).fill(200), 429, 429]);
  const refused = await RawConnection.open(port(limited), "127.0.0.30");
  assertRefusal(await refused.request("/"), 429, "RATE_LIMITED", LIMITS.retryAfterInSeconds);
  refused.close();
  assert.ok((await exporterSample(limited.statsUrl, `haproxy_backend_requests_denied_total{proxy="${REFUSED.connectRate}"}`)) >= 3);
});

test("an address sending requests too fast gets 429 + Retry-After on every connection", async () => {
  const connection = await RawConnection.open(port(limited), "127.0.0.40");
  const statuses: number[] = [];
  for (let i = 0; i < LIMITS.requestsPer10s; i++) statuses.push((await connection.request("/socket.io/?EIO=4&transport=polling")).status);
  assert.deepEqual(statuses, Array<number>(LIMITS.requestsPer10s).fill(200));
  assertRefusal(await connection.request("/socket.io/?EIO=4&transport=polling"), 429, "RATE_LIMITED", LIMITS.retryAfterInSeconds);
  assert.ok((await exporterSample(limited.statsUrl, `haproxy_backend_requests_denied_total{proxy="${REFUSED.requestRate}"}`)) >= 1);
  connection.close();
});

/** A request through a trusted proxy's connection for `client` (the proxy appended its address). */
const asClientOn = async (proxy: RawConnection, client: string) =>
  (await proxy.request("/socket.io/?EIO=4&transport=polling", { "X-Forwarded-For": `198.51.100.1, ${client}` })).status;

test("behind a trusted proxy the limits follow the client address it sets, and spoofed headers from others are ignored", async () => {
  const proxy = await RawConnection.open(port(limited), LIMITS.trustedProxies[0]!);
  const asClient = (client: string) => asClientOn(proxy, client);
  const first: number[] = [];
  for (let i = 0; i < LIMITS.requestsPer10s + 1; i++) first.push(await asClient("203.0.113.9"));
  assert.deepEqual(first, [...Array<number>(LIMITS.requestsPer10s).fill(200), 429], "keyed on the last address of the header");
  assert.equal(await asClient("203.0.113.10"), 200, "the proxy's other clients are not limited by the first one");
  proxy.close();

  // The proxy's own address is not limited: it opened more connections than one address may hold.
  const proxied = await Promise.all(
    Array.from({ length: LIMITS.maxConnections + 1 }, () => RawConnection.open(port(limited), LIMITS.trustedProxies[0]!)),
  );
  for (const [i, connection] of proxied.entries()) {
    assert.equal((await connection.request("/", { "X-Forwarded-For": `203.0.113.${100 + i}` })).status, 200);
  }
  for (const connection of proxied) connection.close();

  // The connection count follows the header too: requests in flight of one client behind the proxy.
  const behind = { "X-Forwarded-For": "203.0.113.20" };
  const holding = await Promise.all(
    Array.from({ length: LIMITS.maxConnections }, () => RawConnection.open(port(limited), LIMITS.trustedProxies[0]!)),
  );
  const held = holding.map((connection) => connection.request("/hold", behind));
  const heldCount = () => nodes.reduce((sum, node) => sum + node.held.length, 0);
  await waitFor("the client's requests held by the nodes", async () => heldCount() === LIMITS.maxConnections, {
    timeoutInMs: 5000,
    intervalInMs: 20,
  });
  const over = await RawConnection.open(port(limited), LIMITS.trustedProxies[0]!);
  assertRefusal(await over.request("/", behind), 429, "RATE_LIMITED", LIMITS.retryAfterInSeconds);
  assert.equal(await asClientOn(over, "203.0.113.21"), 200, "the proxy's connection stays open for its other clients");
  for (const node of nodes) while (node.held.length > 0) node.releaseOne();
  assert.deepEqual(
    (await Promise.all(held)).map((r) => r.status),
    Array<number>(LIMITS.maxConnections).fill(200),
  );
  for (const connection of [...holding, over]) connection.close();

  // An untrusted address that sends the header is still limited by its own address.
  const spoofer = await RawConnection.open(port(limited), "127.0.0.61");
  const spoofed: number[] = [];
  for (let i = 0; i < LIMITS.requestsPer10s + 1; i++)
    spoofed.push((await spoofer.request("/", { "X-Forwarded-For": `203.0.113.${i}` })).status);
  assert.equal(spoofed.at(-1), 429, `spoofed X-Forwarded-For escaped the limit: ${spoofed.join(" ")}`);
  spoofer.close();
});

test("a request whose headers take longer than timeout http-request is cut with 408, and counted", async () => {
  const errorsBefore = await exporterSample(limited.statsUrl, `haproxy_frontend_request_errors_total{proxy="chat"}`);
  const slow = await RawConnection.open(port(limited), "127.0.0.50");
  const started = Date.now();
  slow.write("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: gateway\r\n");
  // A slowloris client: a header line now and then, never the blank line that ends them.
  const drip = setInterval(() => !slow.isClosed && slow.write(`X-Drip-${Date.now()}: 1\r\n`), 200);
  try {
    const response = await Promise.race([slow.readResponse(), sleep(HTTP_REQUEST_TIMEOUT_MS + 3000).then(() => undefined)]);
    const elapsed = Date.now() - started;
    assert.equal(response?.status, 408, `the slow request was not cut within ${elapsed} ms`);
    assert.ok(elapsed >= HTTP_REQUEST_TIMEOUT_MS - 100, `cut after ${elapsed} ms, before the timeout`);
    await slow.closed;
  } finally {
    clearInterval(drip);
    slow.close();
  }
  assert.equal(await exporterSample(limited.statsUrl, `haproxy_frontend_request_errors_total{proxy="chat"}`), errorsBefore + 1);
});
