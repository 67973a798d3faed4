/** The write buffer's backlog as a Prometheus gauge, read from Redis at scrape time. */
import type { RedisClient } from "../redis-client.js";
import { Gauge, type Registry } from "prom-client";
import type { RedisKeys } from "../keys.js";

/** Registers `chat_stream_backlog`: entries in all shard streams, i.e. acknowledged but not yet flushed. */
export function registerStreamBacklogGauge(registry: Registry, redis: RedisClient, keys: RedisKeys): void {
  new Gauge({
    name: "chat_stream_backlog",
    help: "Entries in the write-buffer streams not yet flushed (cluster-wide)",
    registers: [registry],
    async collect() {
      const lengths = await Promise.all(keys.streams().map((stream) => redis.xlen(stream)));
      this.set(lengths.reduce((sum, length) => sum + length, 0));
    },
  });
}
