/** The local Alertmanager (Debian's prometheus-alertmanager), single instance, optional webhook receiver. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startProcess, waitFor, type ManagedProcess } from "./process.js";

export interface AlertmanagerConfigOptions {
  /** Where every alert is posted (Alertmanager's webhook format); none: alerts are only shown in its UI. */
  webhookUrl?: string;
  /** group_wait: how long the first notification of a group waits for more alerts. */
  groupWaitInSeconds: number;
}

export function renderAlertmanagerConfig({ webhookUrl, groupWaitInSeconds }: AlertmanagerConfigOptions): string {
  return JSON.stringify(
    {
      route: {
        receiver: "local",
        group_by: ["alertname", "instance"],
        group_wait: `${groupWaitInSeconds}s`,
        group_interval: "30s",
        repeat_interval: "4h",
      },
      receivers: [webhookUrl ? { name: "local", webhook_configs: [{ url: webhookUrl, send_resolved: true }] } : { name: "local" }],
    },
    null,
    2,
  );
}

export interface AlertmanagerOptions extends AlertmanagerConfigOptions {
  port: number;
  dir: string;
}

export interface Alertmanager {
  process: ManagedProcess;
  url: string;
  /** host:port, for Prometheus's alerting config. */
  address: string;
  stop(): Promise<void>;
}

export async function startAlertmanager({ port, dir, ...config }: AlertmanagerOptions): Promise<Alertmanager> {
  mkdirSync(dir, { recursive: true });
  const configFile = join(dir, "alertmanager.yml");
  writeFileSync(configFile, renderAlertmanagerConfig(config));
  const address = `127.0.0.1:${port}`;
  const child = startProcess({
    name: "alertmanager",
    command: "prometheus-alertmanager",
    // An empty cluster address: one instance, no gossip port to collide on.
    args: [
      `--config.file=${configFile}`,
      `--storage.path=${join(dir, "data")}`,
      `--web.listen-address=${address}`,
      "--cluster.listen-address=",
    ],
    logFile: join(dir, "alertmanager.log"),
  });
  const url = `http://${address}`;
  await waitFor("alertmanager /-/ready", async () => (await fetch(`${url}/-/ready`)).ok, { timeoutInMs: 30_000, process: child });
  return { process: child, url, address, stop: () => child.stop() };
}
