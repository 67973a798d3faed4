/**
 * Live proof of the monitoring (issue 18): a real cluster (socket nodes, flusher, HAProxy on the
 * harness's Redis and Cassandra) with the local monitoring stack of `CHAT_LOCAL_MONITORING=1
 * npm start` (Prometheus with the chart's alert rules, Alertmanager, the Redis exporter,
 * HAProxy's exporter). While load runs, every query of the Grafana dashboard must return data;
 * then a socket node is SIGKILLed and ChatNodeDown must fire in Prometheus and reach a webhook
 * receiver through Alertmanager. Only the rules' `for:` and the scrape/evaluation interval are
 * shortened (1 s), so the test waits seconds where production waits a minute.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { io as connect, type Socket } from "socket.io-client";
import { startMonitoring, gatewayMetricsConfig, type Monitoring } from "../../scripts/infra/monitoring.js";
import { freePort } from "../../scripts/infra/process.js";
import { LOCAL_NAMESPACE } from "../../scripts/infra/prometheus.js";
import { startApps, type Apps } from "../../scripts/infra/stack.js";
import { mintToken } from "../../scripts/lib/tokens.js";
import { request, TEST_JWT_SECRET, testStores, uniquePrefix } from "../fixture.js";
import {
  activeAlerts,
  dashboardQueries,
  instantQuery,
  labelValues,
  startWebhookReceiver,
  withGrafanaVariables,
  type WebhookReceiver,
} from "./prometheus-client.js";

const SCRAPE_INTERVAL_IN_SECONDS = 1;
const ALERT_FOR = "2s";

let apps: Apps;
let monitoring: Monitoring;
let webhook: WebhookReceiver;
const sockets: Socket[] = [];

before(async () => {
  const stores = testStores();
  const prefix = uniquePrefix();
  const dir = join(process.env.CHAT_TEST_LOG_DIR ?? tmpdir(), `ops-${prefix.slice(0, -1)}`);
  const gatewayMetricsPort = await freePort();
  apps = await startApps({
    dir,
    nodeCount: 2,
    gatewayPort: await freePort(),
    gatewayExtraConfig: gatewayMetricsConfig(gatewayMetricsPort),
    env: {
      CHAT_REDIS_URL: stores.redisUrl,
      CHAT_REDIS_PREFIX: prefix,
      CHAT_CASSANDRA_CONTACT_POINTS: stores.cassandraContactPoint,
      CHAT_CASSANDRA_KEYSPACE: stores.keyspace,
      CHAT_JWT_SECRET: TEST_JWT_SECRET,
    },
  });
  webhook = await startWebhookReceiver();
  monitoring = await startMonitoring({
    dir: join(dir, "monitoring"),
    prometheusPort: await freePort(),
    redisUrls: [stores.redisUrl],
    redisStreams: [`${prefix}stream:dead-letter`],
    nodes: apps.nodes.map((node, i) => ({ name: `n${i + 1}`, port: node.port })),
    flushers: [{ name: "flusher-1", port: apps.flusher.port }],
    gatewayMetricsPort,
    scrapeIntervalInSeconds: SCRAPE_INTERVAL_IN_SECONDS,
    alertForOverride: ALERT_FOR,
    webhookUrl: webhook.url,
    probe: { gatewayUrl: apps.gateway.url, jwtSecret: TEST_JWT_SECRET, intervalInMs: 200 },
  });
});

after(async () => {
  for (const socket of sockets) socket.disconnect();
  await monitoring?.stop();
  await apps?.stop();
  await webhook?.close();
});

async function client(user: string, rooms: string[]): Promise<Socket> {
  const token = await mintToken({ secret: TEST_JWT_SECRET, userId: user, rooms });
  const socket = connect(apps.gateway.url, { auth: { token }, reconnection: false, forceNew: true, transports: ["websocket"] });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return socket;
}

/** Sends from a few users until `stop` aborts, a forbidden one now and then (the errors panel needs errors). */
async function runLoad(stop: AbortSignal): Promise<{ accepted: number; refused: number }> {
  const room = `ops-${uniquePrefix().slice(1, -1)}`;
  const senders = await Promise.all(["ops-a", "ops-b", "ops-c"].map((user) => client(user, [room])));
  const counts = { accepted: 0, refused: 0 };
  let n = 0;
  while (!stop.aborted) {
    await Promise.all(
      senders.map(async (socket, i) => {
        const forbidden = i === 0 && n % 5 === 0;
        const ack = await request<{ ok: boolean }>(socket, "send", {
          room: forbidden ? "not-allowed" : room,
          clientId: `c${i}-${n}`,
          text: `load ${n}`,
        });
        if (ack.ok) counts.accepted++;
        else counts.refused++;
      }),
    );
    n++;
    await sleep(100);
  }
  return counts;
}

test("every dashboard query and SLI recording rule returns data from the live Prometheus while load runs", async () => {
  const stop = new AbortController();
  const load = runLoad(stop.signal);
  try {
    const sliQueries = ["chat:send_errors:ratio_rate5m", "chat:ack_slow:ratio_rate5m", "chat:delivery_slow:ratio_rate5m"].map((expr) => ({
      panel: "SLI recording rule",
      expr,
    }));
    const queries = [...dashboardQueries(), ...sliQueries];
    assert.ok(queries.length >= 18, `the dashboard has its queries (${queries.length})`);
    let failing: string[] = [];
    const deadline = Date.now() + 45_000;
    do {
      await sleep(2000);
      failing = [];
      for (const { panel, expr } of queries) {
        const result = await instantQuery(
          monitoring.prometheusUrl,
          withGrafanaVariables(expr, { namespace: LOCAL_NAMESPACE, rateInterval: "10s" }),
        );
        if (result.status !== "success") failing.push(`${panel}: ${expr}: ${result.error}`);
        else if ((result.data?.result.length ?? 0) === 0) failing.push(`${panel}: ${expr}: no data`);
      }
    } while (failing.length > 0 && Date.now() < deadline);
    assert.deepEqual(failing, [], "dashboard queries without data or in error");
    // The delivery prober's messages arrive, and the SLO recording rules are computed from live data.
    const delivered = await instantQuery(monitoring.prometheusUrl, 'sum(chat_probe_delivery_seconds_bucket{le="0.5"})');
    assert.ok(Number(delivered.data?.result[0]?.value[1]) > 0, `probes delivered within 500 ms: ${JSON.stringify(delivered.data?.result)}`);
    // The dashboard's template variables (Grafana's label_values) resolve too.
    assert.deepEqual(await labelValues(monitoring.prometheusUrl, "namespace", "chat_connections"), [LOCAL_NAMESPACE]);
    const pods = await labelValues(monitoring.prometheusUrl, "pod", `{namespace="${LOCAL_NAMESPACE}", __name__=~"chat_.*"}`);
    assert.deepEqual(pods.sort(), ["flusher-1", "n1", "n2", "prober"]);
  } finally {
    stop.abort();
  }
  const { accepted, refused } = await load;
  assert.ok(accepted > 0 && refused > 0, `load ran (${accepted} accepted, ${refused} refused)`);
});

test("a killed socket node fires ChatNodeDown in Prometheus and reaches Alertmanager's receiver", async () => {
  const isNodeDown = (labels: Record<string, string>) => labels.alertname === "ChatNodeDown";
  assert.deepEqual(
    (await activeAlerts(monitoring.prometheusUrl)).filter((alert) => isNodeDown(alert.labels)),
    [],
    "no node is down before the kill",
  );
  const victim = apps.nodes[1]!;
  const killedAt = Date.now();
  await victim.process.kill();

  let firing: Awaited<ReturnType<typeof activeAlerts>> = [];
  while (Date.now() - killedAt < 60_000) {
    firing = (await activeAlerts(monitoring.prometheusUrl)).filter((alert) => isNodeDown(alert.labels) && alert.state === "firing");
    if (firing.length > 0) break;
    await sleep(250);
  }
  const firingAfter = Date.now() - killedAt;
  assert.equal(firing.length, 1, "ChatNodeDown fires, for one node only");
  assert.equal(firing[0]!.labels.pod, "n2");
  assert.equal(firing[0]!.labels.severity, "critical");

  while (Date.now() - killedAt < 60_000 && !webhook.received.some(({ alert }) => isNodeDown(alert.labels) && alert.status === "firing"))
    await sleep(250);
  const notification = webhook.received.find(({ alert }) => isNodeDown(alert.labels) && alert.status === "firing");
  assert.ok(notification, "Alertmanager posted ChatNodeDown to the webhook receiver");
  assert.equal(notification.alert.labels.pod, "n2");
  console.log(
    `ChatNodeDown (SIGKILL of socket node n2): firing in Prometheus after ${(firingAfter / 1000).toFixed(1)} s, received from Alertmanager after ${((notification.at - killedAt) / 1000).toFixed(1)} s (for: ${ALERT_FOR}, scrape/evaluation every ${SCRAPE_INTERVAL_IN_SECONDS} s)`,
  );
});
