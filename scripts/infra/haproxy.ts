/** Starts the HAProxy gateway (Debian's haproxy) in the foreground with a rendered config. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderHaproxyConfig, type GatewayConfig } from "../../gateway/haproxy-config.js";
import { startProcess, waitFor, type ManagedProcess } from "./process.js";

export interface Gateway {
  process: ManagedProcess;
  url: string;
  stop(): Promise<void>;
}

/** `extraConfig`: more sections (e.g. the Prometheus exporter's frontend), loaded as a second -f file. */
export async function startGateway(config: GatewayConfig, dir: string, extraConfig?: string): Promise<Gateway> {
  mkdirSync(dir, { recursive: true });
  const configFile = join(dir, "haproxy.cfg");
  writeFileSync(configFile, renderHaproxyConfig(config));
  const extraFiles = extraConfig ? [join(dir, "haproxy-extra.cfg")] : [];
  if (extraConfig) writeFileSync(extraFiles[0]!, extraConfig);
  // -db: stay in the foreground, so the process we supervise is HAProxy itself.
  const child = startProcess({ name: "haproxy", command: "haproxy", args: ["-db", "-f", configFile, ...extraFiles.flatMap((file) => ["-f", file])], logFile: join(dir, "haproxy.log") });
  const url = `http://${config.bindHost}:${config.bindPort}`;
  await waitFor("gateway /readyz", async () => (await fetch(`${url}/readyz`)).status === 200, { timeoutInMs: 30_000, process: child });
  return { process: child, url, stop: () => child.stop() };
}
