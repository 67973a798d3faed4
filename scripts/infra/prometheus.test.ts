import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { renderAlertmanagerConfig } from "./alertmanager.js";
import { gatewayMetricsConfig } from "./monitoring.js";
import { ALERT_RULES_FILE, localAlertRules, renderPrometheusConfig } from "./prometheus.js";

const source = readFileSync(ALERT_RULES_FILE, "utf8");

test("the local rules are the chart's rules, with only the for: durations shortened when asked", () => {
  assert.equal(localAlertRules(source), source);
  const shortened = localAlertRules(source, "2s");
  const durations = [...shortened.matchAll(/^\s*for:\s*(\S+)\s*$/gm)].map((match) => match[1]);
  assert.ok(durations.length >= 10, `every alert has a for: (${durations.length})`);
  assert.ok(durations.every((duration) => duration === "2s"));
  // Nothing but the for: lines changed.
  const withoutFor = (text: string) => text.split("\n").filter((line) => !/^\s*for:/.test(line));
  assert.deepEqual(withoutFor(shortened), withoutFor(source));
});

test("a malformed for: override is refused with its value named", () => {
  assert.throws(() => localAlertRules(source, "2 seconds"), /"2 seconds"/);
  assert.throws(() => localAlertRules(source, "1h"), /duration like 5s/);
});

test("the Prometheus config scrapes every target under its job, labelled like Kubernetes pods, and alerts to Alertmanager", () => {
  const config = JSON.parse(
    renderPrometheusConfig({
      targets: [
        { job: "node", address: "127.0.0.1:3001", pod: "n1" },
        { job: "node", address: "127.0.0.1:3002", pod: "n2" },
        { job: "redis", address: "127.0.0.1:9121", pod: "redis" },
        { job: "cassandra", address: "127.0.0.1:7070", pod: "cassandra" },
      ],
      alertmanager: "127.0.0.1:9093",
      rulesFile: "/tmp/rules.yaml",
      scrapeIntervalInSeconds: 1,
    }),
  ) as {
    global: Record<string, string>;
    rule_files: string[];
    alerting: unknown;
    scrape_configs: { job_name: string; static_configs: { targets: string[]; labels: Record<string, string> }[] }[];
  };
  assert.deepEqual(config.global, { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" });
  assert.deepEqual(config.rule_files, ["/tmp/rules.yaml"]);
  assert.deepEqual(config.alerting, { alertmanagers: [{ static_configs: [{ targets: ["127.0.0.1:9093"] }] }] });
  assert.deepEqual(
    config.scrape_configs.map((job) => [
      job.job_name,
      job.static_configs.map((group) => `${group.targets[0]} ${group.labels.pod} ${group.labels.namespace}`),
    ]),
    [
      ["node", ["127.0.0.1:3001 n1 local", "127.0.0.1:3002 n2 local"]],
      ["redis", ["127.0.0.1:9121 redis local"]],
      ["cassandra", ["127.0.0.1:7070 cassandra local"]],
    ],
  );
  // Cassandra's JMX scrapes are slow: never scraped (or timed out) faster than every 5 s.
  const cassandra = config.scrape_configs.find((job) => job.job_name === "cassandra") as unknown as Record<string, string>;
  assert.equal(cassandra.scrape_interval, "5s");
  assert.equal(cassandra.scrape_timeout, "5s");
  assert.equal((config.scrape_configs[0] as unknown as Record<string, string>).scrape_interval, undefined);
});

test("Alertmanager posts to the webhook when one is given, and has a silent receiver otherwise", () => {
  const withHook = JSON.parse(renderAlertmanagerConfig({ webhookUrl: "http://127.0.0.1:1/alerts", groupWaitInSeconds: 1 })) as {
    route: Record<string, unknown>;
    receivers: unknown[];
  };
  assert.equal(withHook.route.receiver, "local");
  assert.equal(withHook.route.group_wait, "1s");
  assert.deepEqual(withHook.receivers, [{ name: "local", webhook_configs: [{ url: "http://127.0.0.1:1/alerts", send_resolved: true }] }]);
  const silent = JSON.parse(renderAlertmanagerConfig({ groupWaitInSeconds: 5 })) as { receivers: unknown[] };
  assert.deepEqual(silent.receivers, [{ name: "local" }]);
});

test("HAProxy's exporter frontend serves /metrics on loopback", () => {
  const config = gatewayMetricsConfig(8404);
  assert.match(config, /^frontend metrics$/m);
  assert.match(config, /bind 127\.0\.0\.1:8404/);
  assert.match(config, /http-request use-service prometheus-exporter if \{ path \/metrics \}/);
});
