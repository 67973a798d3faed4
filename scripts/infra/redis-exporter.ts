/** Debian's prometheus-redis-exporter in front of one Redis: INFO metrics and the dead-letter stream's length. */
import { join } from "node:path";
import { startProcess, waitFor, type ManagedProcess } from "./process.js";

export interface RedisExporterOptions {
  redisUrl: string;
  port: number;
  /** Stream keys whose length, groups and consumers are exported (redis_stream_length{stream=...}). */
  streams: string[];
  dir: string;
}

export interface RedisExporter {
  process: ManagedProcess;
  /** host:port it serves /metrics on. */
  address: string;
  stop(): Promise<void>;
}

export async function startRedisExporter({ redisUrl, port, streams, dir }: RedisExporterOptions): Promise<RedisExporter> {
  const address = `127.0.0.1:${port}`;
  const child = startProcess({
    name: "redis-exporter",
    command: "prometheus-redis-exporter",
    args: ["-redis.addr", redisUrl, "-web.listen-address", address, "-check-single-streams", streams.join(",")],
    logFile: join(dir, "redis-exporter.log"),
  });
  await waitFor("redis exporter /metrics", async () => (await fetch(`http://${address}/metrics`)).ok, {
    timeoutInMs: 15_000,
    process: child,
  });
  return { process: child, address, stop: () => child.stop() };
}
