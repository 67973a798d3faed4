/**
 * Centrifugo as a measured peer: one process on loopback with a free port, configured the way a
 * team would run it for chat with history: JWT auth (HMAC), a namespace `bench` with history
 * (size 1000, a TTL), forced recovery and client-side publish. Option names are those of
 * Centrifugo v6's configuration (internal/configtypes in its source). The Redis engine keeps
 * history in Redis streams and publishes through Redis PUB/SUB; the memory engine keeps both
 * in process (the "without Redis" figure).
 *
 * It is a Go process, so its CPU time comes from /proc (user and system, all threads), the way
 * Redis's does; it has no V8 heap to report.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SignJWT } from "jose";
import { freePort, isPortOpen, startProcess, waitFor } from "../../scripts/infra/process.js";
import type { ProbeReply } from "../lib/probe.js";
import { allThreadsRunQueueWaitInMs, type MeasuredServer } from "../lib/servers.js";

/** Every benchmark channel lives in this namespace: `bench:<room>`. */
export const CENTRIFUGO_NAMESPACE = "bench";

export type CentrifugoEngine = { type: "redis"; redisUrl: string; prefix: string } | { type: "memory" };

export interface CentrifugoOptions {
  name: string;
  binary: string;
  engine: CentrifugoEngine;
  hmacSecret: string;
  logDir: string;
}

/** The configuration file's content (Centrifugo v6 JSON config). */
export function centrifugoConfig(port: number, engine: CentrifugoEngine, hmacSecret: string): object {
  return {
    log: { level: "warn" },
    http_server: { address: "127.0.0.1", port },
    client: {
      token: { hmac_secret_key: hmacSecret },
      // Node's ws sends no Origin header; Centrifugo accepts that with an empty list.
      allowed_origins: [],
    },
    engine: engine.type === "redis" ? { type: "redis", redis: { address: [engine.redisUrl], prefix: engine.prefix } } : { type: "memory" },
    channel: {
      namespaces: [
        {
          name: CENTRIFUGO_NAMESPACE,
          history_size: 1000,
          history_ttl: "300s",
          force_recovery: true,
          allow_subscribe_for_client: true,
          allow_publish_for_client: true,
        },
      ],
    },
  };
}

/** A connection token for Centrifugo: HS256 with `sub`, the way its docs mint one. */
export async function centrifugoToken(hmacSecret: string, userId: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(userId)
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(new TextEncoder().encode(hmacSecret));
}

/** user and system CPU time of a process (all its threads) from /proc/<pid>/stat, in µs (10 ms ticks). */
function procCpu(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const tickInMicros = 1e6 / 100;
  return { user: Number(fields[11]) * tickInMicros, system: Number(fields[12]) * tickInMicros };
}

function procRssInBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

export interface CentrifugoServer extends MeasuredServer {
  /** The websocket endpoint centrifuge-js connects to. */
  url: string;
}

export async function startCentrifugo({ name, binary, engine, hmacSecret, logDir }: CentrifugoOptions): Promise<CentrifugoServer> {
  const port = await freePort();
  const configFile = join(logDir, `${name}.json`);
  writeFileSync(configFile, `${JSON.stringify(centrifugoConfig(port, engine, hmacSecret), null, 2)}\n`);
  const child = startProcess({ name, command: binary, args: ["--config", configFile], logFile: join(logDir, `${name}.log`) });
  await waitFor(name, () => isPortOpen(port), { timeoutInMs: 20_000, process: child });
  const pid = child.child.pid ?? -1;
  const probe = async (): Promise<ProbeReply> => {
    const cpu = procCpu(pid);
    return {
      type: "bench:probe",
      cpuInMicros: cpu.user + cpu.system,
      systemCpuInMicros: cpu.system,
      heapUsedInBytes: Number.NaN,
      rssInBytes: procRssInBytes(pid),
    };
  };
  const cpuProfile = async (): Promise<void> => {
    throw new Error(`${name}: no V8 profiler in a Go process (use Centrifugo's pprof endpoints instead)`);
  };
  return {
    name,
    port,
    pid,
    url: `ws://127.0.0.1:${port}/connection/websocket`,
    probe,
    cpuProfile: cpuProfile as MeasuredServer["cpuProfile"],
    runQueueWaitInMs: () => allThreadsRunQueueWaitInMs(pid),
    stop: () => child.stop(5000),
  };
}
