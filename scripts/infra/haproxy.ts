/** Starts the HAProxy gateway (Debian's haproxy) in the foreground with a rendered config. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gatewaySettingsFromEnv } from "../../gateway/env.js";
import { renderHaproxyConfig, type GatewayConfig } from "../../gateway/haproxy-config.js";
import { freePort, startProcess, waitFor, type ManagedProcess } from "./process.js";

export interface Gateway {
  process: ManagedProcess;
  /** The public listener: chat traffic, and the gateway's own /healthz and /readyz. */
  url: string;
  /** HAProxy's stats listener: its Prometheus /metrics, /stats and /healthz (not public in the chart). */
  statsUrl: string;
  stop(): Promise<void>;
}

/** statsPort defaults to a free port. */
export type StartGatewayOptions = Omit<GatewayConfig, "statsPort"> & { statsPort?: number };

/**
 * The admission settings (waiting room, client limits, header timeout) come from `env`
 * (gateway/env.ts) unless `options` sets them; tests pass `{}` to be independent of the shell.
 * `extraConfig`: more sections (e.g. the Prometheus exporter's frontend), loaded as a second -f file.
 */
export async function startGateway(
  options: StartGatewayOptions,
  dir: string,
  env: Record<string, string | undefined> = process.env,
  extraConfig?: string,
): Promise<Gateway> {
  const config: GatewayConfig = { ...gatewaySettingsFromEnv(env), ...options, statsPort: options.statsPort ?? (await freePort()) };
  mkdirSync(dir, { recursive: true });
  const configFile = join(dir, "haproxy.cfg");
  writeFileSync(configFile, renderHaproxyConfig(config));
  const extraFiles = extraConfig ? [join(dir, "haproxy-extra.cfg")] : [];
  if (extraConfig) writeFileSync(extraFiles[0]!, extraConfig);
  // -db: stay in the foreground, so the process we supervise is HAProxy itself.
  const child = startProcess({
    name: "haproxy",
    command: "haproxy",
    args: ["-db", "-f", configFile, ...extraFiles.flatMap((file) => ["-f", file])],
    logFile: join(dir, "haproxy.log"),
  });
  const url = `http://${config.bindHost}:${config.bindPort}`;
  // The gateway answers /readyz itself: 200 once a node passes its health check.
  await waitFor("gateway /readyz", async () => (await fetch(`${url}/readyz`)).status === 200, { timeoutInMs: 30_000, process: child });
  return { process: child, url, statsUrl: `http://${config.bindHost}:${config.statsPort}`, stop: () => child.stop() };
}
