/** Starts a Redis server from Debian's redis-server, with AOF on. */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { startProcess, waitFor, type ManagedProcess } from "./process.js";

export type AppendFsync = "always" | "everysec" | "no";

export interface RedisServerOptions {
  dataDir: string;
  port: number;
  /** AOF fsync policy: what a crash of the machine can lose (README "Durability"). */
  appendFsync?: AppendFsync;
  host?: string;
}

export interface RedisServer {
  process: ManagedProcess;
  url: string;
  stop(): Promise<void>;
}

export async function startRedis({ dataDir, port, appendFsync = "everysec", host = "127.0.0.1" }: RedisServerOptions): Promise<RedisServer> {
  mkdirSync(dataDir, { recursive: true });
  const child = startProcess({
    name: "redis",
    command: "redis-server",
    args: [
      "--port", String(port),
      "--bind", host,
      "--dir", dataDir,
      "--appendonly", "yes",
      "--appendfsync", appendFsync,
      // RDB snapshots off: AOF is the durability mechanism, and snapshots fork a 24 GiB-capable process.
      "--save", "",
      "--daemonize", "no",
      "--protected-mode", "no",
    ],
    logFile: join(dataDir, "redis.log"),
  });
  const url = `redis://${host}:${port}`;
  await waitFor("redis", () => ping(url), { timeoutInMs: 15_000, process: child });
  return { process: child, url, stop: () => child.stop() };
}

async function ping(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on("error", () => undefined);
  try {
    await client.connect();
    // LOADING while the AOF is replayed: not ready yet.
    return (await client.ping()) === "PONG";
  } finally {
    client.disconnect();
  }
}
