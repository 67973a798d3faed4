/**
 * The waiting room with real socket nodes and stock socket.io clients: the local cluster's
 * gateway, set from the environment as `npm start` sets it, lets one connection through to each
 * node (CHAT_GATEWAY_NODE_MAXCONN=1); a third client waits in HAProxy's queue, connects as soon as
 * a node frees its slot, and then works like any other. The fake-node test
 * (admission.integration.test.ts) covers the 503 past the queue time.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { waitFor } from "../scripts/infra/process.js";
import { request, startTestCluster, type TestCluster } from "../test/fixture.js";
import { LOCAL_BACKEND } from "./haproxy-config.js";
import { exporterSample } from "./testing.js";

let cluster: TestCluster;

before(async () => {
  // Read by startGateway (gateway/env.ts) when the fixture starts the local gateway.
  process.env.CHAT_GATEWAY_NODE_MAXCONN = "1";
  process.env.CHAT_GATEWAY_QUEUE_TIMEOUT_MS = "30000";
  cluster = await startTestCluster({ nodeCount: 2 });
});

after(async () => {
  await cluster?.stop();
});

test("with every node at its maxconn a socket.io client waits in the gateway's queue and connects when a slot frees", async () => {
  const websocket = { transports: ["websocket"] };
  const first = await cluster.client(await cluster.token("wr-first", ["lobby"]), websocket);
  const second = await cluster.client(await cluster.token("wr-second", ["lobby"]), websocket);

  const queued = `haproxy_backend_current_queue{proxy="${LOCAL_BACKEND}"}`;
  let connected = false;
  const waiting = cluster.client(await cluster.token("wr-third", ["lobby"]), websocket).finally(() => (connected = true));
  await waitFor("the third client in HAProxy's queue", async () => (await exporterSample(cluster.apps.gateway.statsUrl, queued)) === 1, {
    timeoutInMs: 10_000,
    intervalInMs: 50,
  });
  await sleep(500);
  assert.equal(connected, false, "connected while both nodes were at their maxconn");

  const freedAt = Date.now();
  first.disconnect();
  const third = await waiting;
  assert.ok(Date.now() - freedAt < 10_000, `connected ${Date.now() - freedAt} ms after a slot freed`);
  assert.equal(await exporterSample(cluster.apps.gateway.statsUrl, queued), 0);
  const joined = await request<{ ok: boolean }>(third, "join", { room: "lobby" });
  assert.equal(joined.ok, true, JSON.stringify(joined));
  second.disconnect();
});
