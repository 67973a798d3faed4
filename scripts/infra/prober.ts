/** Starts the delivery prober (ops/prober) against a gateway, for local monitoring and tests. */
import { join } from "node:path";
import { REPO_ROOT } from "./paths.js";
import { freePort, startProcess, waitFor, type ManagedProcess } from "./process.js";

export interface ProberOptions {
  gatewayUrl: string;
  jwtSecret: string;
  dir: string;
  intervalInMs?: number;
}

export interface Prober {
  process: ManagedProcess;
  port: number;
  stop(): Promise<void>;
}

export async function startProber({ gatewayUrl, jwtSecret, dir, intervalInMs = 1000 }: ProberOptions): Promise<Prober> {
  const port = await freePort();
  const child = startProcess({
    name: "prober",
    command: process.execPath,
    args: ["--enable-source-maps", join(REPO_ROOT, "dist/ops/prober/main.js")],
    env: {
      ...process.env,
      CHAT_PROBE_URL: gatewayUrl,
      CHAT_JWT_SECRET: jwtSecret,
      CHAT_PROBE_HTTP_PORT: String(port),
      CHAT_PROBE_INTERVAL_MS: String(intervalInMs),
      CHAT_PROBE_NAME: "prober",
    },
    logFile: join(dir, "prober.log"),
  });
  await waitFor("prober /metrics", async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).ok, {
    timeoutInMs: 30_000,
    process: child,
  });
  return { process: child, port, stop: () => child.stop() };
}
