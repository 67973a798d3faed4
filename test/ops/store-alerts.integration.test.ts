/**
 * Live proof of the store alerts: Redis and Cassandra of their own (Cassandra with the JMX
 * exporter agent, as `CHAT_LOCAL_MONITORING=1 npm start` runs it), watched by the local
 * monitoring stack. Cassandra's metrics must be scraped; then Redis is SIGKILLed and Cassandra
 * stopped, and ChatRedisDown and ChatCassandraDown must fire in Prometheus and reach
 * Alertmanager's webhook receiver. Other test files never see these stores.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { jmxExporterAgentFlag } from "../../scripts/infra/jmx-exporter.js";
import { startMonitoring, type Monitoring } from "../../scripts/infra/monitoring.js";
import { freePort } from "../../scripts/infra/process.js";
import { startStores, type Stores } from "../../scripts/infra/stack.js";
import { activeAlerts, instantQuery, startWebhookReceiver, type WebhookReceiver } from "./prometheus-client.js";

const ALERT_FOR = "2s";

let stores: Stores;
let monitoring: Monitoring;
let webhook: WebhookReceiver;

before(async () => {
  const dir = join(process.env.CHAT_TEST_LOG_DIR ?? tmpdir(), `ops-stores-${Date.now().toString(36)}`);
  mkdirSync(dir, { recursive: true });
  const cassandraMetricsPort = await freePort();
  stores = await startStores({
    dir,
    redisPort: await freePort(),
    cassandraNativePort: await freePort(),
    cassandraStoragePort: await freePort(),
    cassandraJvmArgs: [await jmxExporterAgentFlag(join(dir, "jmx-exporter"), cassandraMetricsPort)],
  });
  webhook = await startWebhookReceiver();
  monitoring = await startMonitoring({
    dir: join(dir, "monitoring"),
    prometheusPort: await freePort(),
    redisUrls: [stores.redis.url],
    redisStreams: ["chat:stream:dead-letter"],
    nodes: [],
    flushers: [],
    cassandraMetricsPort,
    scrapeIntervalInSeconds: 1,
    alertForOverride: ALERT_FOR,
    webhookUrl: webhook.url,
  });
});

after(async () => {
  await monitoring?.stop();
  await stores?.stop();
  await webhook?.close();
});

/** Waits until `alertname` fires in Prometheus and Alertmanager has posted it; returns both delays from `since`. */
async function waitForAlert(alertname: string, since: number): Promise<{ firingAfter: number; receivedAfter: number }> {
  let firingAfter: number | undefined;
  while (Date.now() - since < 60_000) {
    if (
      firingAfter === undefined &&
      (await activeAlerts(monitoring.prometheusUrl)).some((alert) => alert.labels.alertname === alertname && alert.state === "firing")
    )
      firingAfter = Date.now() - since;
    const received = webhook.received.find(
      ({ at, alert }) => at >= since && alert.labels.alertname === alertname && alert.status === "firing",
    );
    if (firingAfter !== undefined && received) return { firingAfter, receivedAfter: received.at - since };
    await sleep(250);
  }
  throw new Error(
    `${alertname}: ${firingAfter === undefined ? "never fired in Prometheus" : "fired, but Alertmanager never posted it"} within 60 s`,
  );
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

test("Cassandra's JMX metrics and Redis's exporter are scraped, and no store alert fires while both are up", async () => {
  let up: string[] = [];
  for (let i = 0; i < 40 && up.length < 2; i++) {
    await sleep(500);
    const result = await instantQuery(
      monitoring.prometheusUrl,
      'up{job=~"redis|cassandra"} == 1 and on(job) (count by (job) ({job="cassandra", __name__=~"org_apache_cassandra_metrics_clientrequest_.*"}) or count by (job) (redis_up == 1))',
    );
    up = (result.data?.result ?? []).map((series) => series.metric.job!).sort();
  }
  assert.deepEqual(up, ["cassandra", "redis"], "both exporters answer with the stores' own metrics");
  const storeAlerts = (await activeAlerts(monitoring.prometheusUrl)).filter((alert) =>
    ["ChatRedisDown", "ChatCassandraDown"].includes(alert.labels.alertname!),
  );
  assert.deepEqual(storeAlerts, []);
  // Nor did one fire and resolve while the stores started: a flapping alert is a false page.
  assert.deepEqual(
    webhook.received.filter(({ alert }) => alert.labels.alertname !== undefined),
    [],
  );
});

test("SIGKILL of Redis fires ChatRedisDown; stopping Cassandra fires ChatCassandraDown", async () => {
  const redisKilledAt = Date.now();
  await stores.redis.process.kill();
  const redis = await waitForAlert("ChatRedisDown", redisKilledAt);
  console.log(
    `ChatRedisDown (SIGKILL of redis-server): firing in Prometheus after ${seconds(redis.firingAfter)}, received from Alertmanager after ${seconds(redis.receivedAfter)} (for: ${ALERT_FOR})`,
  );

  const cassandraStoppedAt = Date.now();
  await stores.cassandra.stop();
  const cassandra = await waitForAlert("ChatCassandraDown", cassandraStoppedAt);
  console.log(
    `ChatCassandraDown (Cassandra stopped): firing in Prometheus after ${seconds(cassandra.firingAfter)}, received from Alertmanager after ${seconds(cassandra.receivedAfter)} (for: ${ALERT_FOR}; the stop itself, a drain, is included)`,
  );
});
