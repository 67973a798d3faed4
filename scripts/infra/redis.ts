/**
 * Starts a Redis server from Debian's redis-server, with AOF on and a memory cap that can never
 * evict: the write buffer's entries exist nowhere else until the flusher has them in Cassandra.
 */
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
  /** Redis `maxmemory` (`100mb`, `2gb`, bytes); default CHAT_REDIS_MAXMEMORY or DEFAULT_REDIS_MAXMEMORY. */
  maxmemory?: string;
}

/** The local default: far above what a dev cluster holds, far below what the machine has. */
export const DEFAULT_REDIS_MAXMEMORY = "2gb";

/**
 * `maxmemory` with `noeviction`: at the cap every write is refused with OOM (the node answers
 * UNAVAILABLE) and nothing already buffered is ever evicted. `0` means no cap (Redis' default),
 * accepted only when asked for explicitly.
 */
export function memoryArgs(maxmemory = process.env.CHAT_REDIS_MAXMEMORY ?? DEFAULT_REDIS_MAXMEMORY): string[] {
  if (!/^\d+(b|kb|mb|gb)?$/i.test(maxmemory.trim())) {
    throw new Error(`CHAT_REDIS_MAXMEMORY: expected bytes or a size such as 512mb or 2gb, got ${JSON.stringify(maxmemory)}`);
  }
  return ["--maxmemory", maxmemory.trim().toLowerCase(), "--maxmemory-policy", "noeviction"];
}

export interface RedisServer {
  process: ManagedProcess;
  url: string;
  stop(): Promise<void>;
}

export async function startRedis({
  dataDir,
  port,
  appendFsync = "everysec",
  host = "127.0.0.1",
  maxmemory,
}: RedisServerOptions): Promise<RedisServer> {
  mkdirSync(dataDir, { recursive: true });
  const child = startProcess({
    name: "redis",
    command: "redis-server",
    args: [
      "--port",
      String(port),
      "--bind",
      host,
      "--dir",
      dataDir,
      "--appendonly",
      "yes",
      "--appendfsync",
      appendFsync,
      // RDB snapshots off: AOF is the durability mechanism, and snapshots fork a 24 GiB-capable process.
      "--save",
      "",
      ...memoryArgs(maxmemory),
      "--daemonize",
      "no",
      "--protected-mode",
      "no",
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
