/**
 * The local Prometheus (Debian's `prometheus`): its configuration, rendered from the cluster's
 * targets, and the alert rules of the chart (helm/chat/rules), so local alerts and production
 * alerts are the same rules. Only their `for:` durations may be shortened, for tests.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./paths.js";
import { startProcess, waitFor, type ManagedProcess } from "./process.js";

/** The one source of the alert rules, shared with the chart's PrometheusRule. */
export const ALERT_RULES_FILE = join(REPO_ROOT, "helm", "chat", "rules", "chat-alerts.yaml");

/** What the namespace label says locally: the dashboard's queries filter on namespace and pod. */
export const LOCAL_NAMESPACE = "local";

export interface ScrapeTarget {
  /** The job, as the rules expect it: node, flusher, haproxy, redis, cassandra. */
  job: string;
  /** host:port serving /metrics. */
  address: string;
  /** The `pod` label, as Kubernetes would set it: the process's name. */
  pod: string;
}

export interface PrometheusConfigOptions {
  targets: ScrapeTarget[];
  /** host:port of Alertmanager. */
  alertmanager: string;
  rulesFile: string;
  scrapeIntervalInSeconds: number;
}

/** prometheus.yml as JSON (a YAML subset Prometheus reads as is). */
export function renderPrometheusConfig({ targets, alertmanager, rulesFile, scrapeIntervalInSeconds }: PrometheusConfigOptions): string {
  const interval = `${scrapeIntervalInSeconds}s`;
  const jobs = [...new Set(targets.map((target) => target.job))];
  return JSON.stringify(
    {
      global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
      rule_files: [rulesFile],
      alerting: { alertmanagers: [{ static_configs: [{ targets: [alertmanager] }] }] },
      scrape_configs: jobs.map((job) => ({
        job_name: job,
        ...slowJobTiming(job, scrapeIntervalInSeconds),
        static_configs: targets
          .filter((target) => target.job === job)
          .map((target) => ({ targets: [target.address], labels: { namespace: LOCAL_NAMESPACE, pod: target.pod } })),
      })),
    },
    null,
    2,
  );
}

/**
 * Cassandra's JMX exporter walks MBeans on every scrape (≈0.5 s here, more under load): a
 * 1-second test interval would time its scrapes out and fire ChatCassandraDown while Cassandra
 * is up. Its job gets at least 5 s for both.
 */
const MIN_SCRAPE_INTERVAL_IN_SECONDS: Record<string, number> = { cassandra: 5 };

function slowJobTiming(job: string, scrapeIntervalInSeconds: number): { scrape_interval?: string; scrape_timeout?: string } {
  const minimum = MIN_SCRAPE_INTERVAL_IN_SECONDS[job];
  if (minimum === undefined || minimum <= scrapeIntervalInSeconds) return {};
  return { scrape_interval: `${minimum}s`, scrape_timeout: `${minimum}s` };
}

/**
 * The chart's rules, with every `for:` replaced by `forOverride` when given: a test cannot wait
 * the minutes production waits before an alert fires. Without it the rules are copied as they are.
 */
export function localAlertRules(source: string, forOverride?: string): string {
  if (!forOverride) return source;
  if (!/^\d+(ms|s|m)$/.test(forOverride))
    throw new Error(`alert 'for' override must be a Prometheus duration like 5s, got ${JSON.stringify(forOverride)}`);
  return source.replace(/^(\s*for:\s*)\S+\s*$/gm, `$1${forOverride}`);
}

export interface PrometheusOptions extends Omit<PrometheusConfigOptions, "rulesFile"> {
  port: number;
  dir: string;
  alertForOverride?: string;
}

export interface PrometheusServer {
  process: ManagedProcess;
  url: string;
  stop(): Promise<void>;
}

export async function startPrometheus({ port, dir, alertForOverride, ...config }: PrometheusOptions): Promise<PrometheusServer> {
  mkdirSync(dir, { recursive: true });
  const rulesFile = join(dir, "chat-alerts.yaml");
  writeFileSync(rulesFile, localAlertRules(readFileSync(ALERT_RULES_FILE, "utf8"), alertForOverride));
  const configFile = join(dir, "prometheus.yml");
  writeFileSync(configFile, renderPrometheusConfig({ ...config, rulesFile }));
  const child = startProcess({
    name: "prometheus",
    command: "prometheus",
    args: [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      "--storage.tsdb.retention.time=2d",
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    logFile: join(dir, "prometheus.log"),
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor("prometheus /-/ready", async () => (await fetch(`${url}/-/ready`)).ok, { timeoutInMs: 30_000, process: child });
  return { process: child, url, stop: () => child.stop() };
}
