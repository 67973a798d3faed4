/**
 * Local monitoring (`CHAT_LOCAL_MONITORING=1 npm start`, and test/ops/): Prometheus scraping the
 * nodes, the flusher, HAProxy's built-in exporter, Redis (through prometheus-redis-exporter) and
 * Cassandra (through the JMX exporter agent), evaluating the chart's alert rules and sending
 * alerts to an Alertmanager. Everything comes from Debian except the agent jar (Maven Central).
 */
import { join } from "node:path";
import { startAlertmanager, type Alertmanager } from "./alertmanager.js";
import { ensureDebianPackages } from "./install.js";
import { freePort, type ManagedProcess } from "./process.js";
import { startProber } from "./prober.js";
import { startPrometheus, type PrometheusServer, type ScrapeTarget } from "./prometheus.js";
import { startRedisExporter, type RedisExporter } from "./redis-exporter.js";

const MONITORING_PACKAGES: Record<string, string> = {
  prometheus: "prometheus",
  promtool: "prometheus",
  "prometheus-alertmanager": "prometheus-alertmanager",
  "prometheus-redis-exporter": "prometheus-redis-exporter",
};

export function ensureMonitoringPackages(): void {
  ensureDebianPackages(Object.keys(MONITORING_PACKAGES), MONITORING_PACKAGES);
}

/** An extra HAProxy frontend serving HAProxy's built-in Prometheus exporter on 127.0.0.1:port/metrics. */
export function gatewayMetricsConfig(port: number): string {
  return [
    "frontend metrics",
    `  bind 127.0.0.1:${port}`,
    "  mode http",
    "  no log",
    "  http-request use-service prometheus-exporter if { path /metrics }",
    "",
  ].join("\n");
}

export interface NamedPort {
  name: string;
  port: number;
}

export interface MonitoringOptions {
  dir: string;
  prometheusPort: number;
  /**
   * Every Redis to watch: the single Redis, or every node of a Redis Cluster (primaries and
   * replicas), each with an exporter of its own so that ChatRedisDown and the memory alerts see
   * each machine, not only the first seed.
   */
  redisUrls: string[];
  /** Stream keys the Redis exporters report on (the dead-letter streams; each node reports those it holds). */
  redisStreams: string[];
  nodes: NamedPort[];
  flushers: NamedPort[];
  /** Port of HAProxy's exporter frontend (gatewayMetricsConfig), when a gateway runs. */
  gatewayMetricsPort?: number;
  /** Port of the JMX exporter agent in Cassandra, when it runs one. */
  cassandraMetricsPort?: number;
  scrapeIntervalInSeconds?: number;
  /** Runs the delivery prober (ops/prober) through this gateway, with a token signed by this secret. */
  probe?: { gatewayUrl: string; jwtSecret: string; intervalInMs?: number };
  /** Shortens every alert's `for:` (tests only). */
  alertForOverride?: string;
  webhookUrl?: string;
}

export interface Monitoring {
  prometheusUrl: string;
  alertmanagerUrl: string;
  processes: ManagedProcess[];
  stop(): Promise<void>;
}

export async function startMonitoring(options: MonitoringOptions): Promise<Monitoring> {
  ensureMonitoringPackages();
  const { dir, scrapeIntervalInSeconds = 5 } = options;
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    await Promise.allSettled(started.reverse().map((part) => part.stop()));
  };
  try {
    if (options.redisUrls.length === 0) throw new Error("startMonitoring needs at least one Redis URL");
    const redisExporters: { exporter: RedisExporter; pod: string }[] = [];
    for (const redisUrl of options.redisUrls) {
      // One Redis keeps the pod name the rules and dashboards have always seen; cluster nodes are named by port.
      const pod = options.redisUrls.length === 1 ? "redis" : `redis-${new URL(redisUrl).port}`;
      const exporter = await startRedisExporter({
        redisUrl,
        port: await freePort(),
        streams: options.redisStreams,
        dir: join(dir, "redis-exporter", pod),
      });
      started.push(exporter);
      redisExporters.push({ exporter, pod });
    }
    const alertmanager: Alertmanager = await startAlertmanager({
      port: await freePort(),
      dir: join(dir, "alertmanager"),
      webhookUrl: options.webhookUrl,
      groupWaitInSeconds: Math.min(scrapeIntervalInSeconds, 10),
    });
    started.push(alertmanager);
    const prober = options.probe ? await startProber({ ...options.probe, dir: join(dir, "prober") }) : undefined;
    if (prober) started.push(prober);
    const targets: ScrapeTarget[] = [
      ...(prober ? [{ job: "prober", address: `127.0.0.1:${prober.port}`, pod: "prober" }] : []),
      ...options.nodes.map(({ name, port }) => ({ job: "node", address: `127.0.0.1:${port}`, pod: name })),
      ...options.flushers.map(({ name, port }) => ({ job: "flusher", address: `127.0.0.1:${port}`, pod: name })),
      ...(options.gatewayMetricsPort ? [{ job: "haproxy", address: `127.0.0.1:${options.gatewayMetricsPort}`, pod: "haproxy" }] : []),
      ...redisExporters.map(({ exporter, pod }) => ({ job: "redis", address: exporter.address, pod })),
      ...(options.cassandraMetricsPort
        ? [{ job: "cassandra", address: `127.0.0.1:${options.cassandraMetricsPort}`, pod: "cassandra" }]
        : []),
    ];
    const prometheus: PrometheusServer = await startPrometheus({
      port: options.prometheusPort,
      dir: join(dir, "prometheus"),
      targets,
      alertmanager: alertmanager.address,
      scrapeIntervalInSeconds,
      alertForOverride: options.alertForOverride,
    });
    started.push(prometheus);
    return {
      prometheusUrl: prometheus.url,
      alertmanagerUrl: alertmanager.url,
      processes: [
        ...redisExporters.map(({ exporter }) => exporter.process),
        alertmanager.process,
        prometheus.process,
        ...(prober ? [prober.process] : []),
      ],
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
