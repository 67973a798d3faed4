/**
 * Item 8: the write path on one Redis vs a Redis Cluster of 3 primaries with a replica each
 * (scripts/infra/redis-cluster.ts, Debian's redis-server), the cluster with CHAT_ACK_REPLICAS 0
 * (acknowledged once the shard's primary has the message) and 1 (and once WAIT confirmed a
 * replica has it). Each mode gets a socket node of its own and item 4's code: the closed-loop
 * maximum of acknowledged sends/s, then ack latency open loop at one offered rate for all three,
 * 50 % of the slowest mode's maximum. Redis CPU is the sum over its processes (the cluster: all
 * six, replicas included: applying the replication stream is part of what a send costs).
 *
 * The placement is item 4's: the mode's node and its Redis process(es) on one core, everything
 * else on the other. On one machine the cluster has no more CPU than the single Redis: this
 * measures what the cluster and the replica acknowledgement cost per send, not how it scales out.
 *
 * Every acknowledged send of every mode is read back from Cassandra afterwards (lib/receipts.ts):
 * each mode's node writes through its own flusher (the single Redis's is the run's flusher).
 */
import { join } from "node:path";
import { Cluster, type Redis } from "ioredis";
import { startFlusher, type AppProcess } from "../../scripts/infra/apps.js";
import { startRedisCluster, type RedisCluster } from "../../scripts/infra/redis-cluster.js";
import type { Generator } from "../load/pool.js";
import type { Receipt } from "../load/protocol.js";
import { withPlacement, type Placement } from "../lib/cpu-placement.js";
import { startOurNode, type MeasuredServer } from "../lib/servers.js";
import type { StoredOnce } from "../lib/receipts.js";
import { DEFAULT_STREAM_CONFIG } from "../../storage/config.js";
import { RedisKeys } from "../../storage/keys.js";
import { connectSenders, ingestLoad, measureIngest, type IngestResult, type IngestSettings } from "./ingest.js";
import { measureAckLatency, type AckedLoad, type LoadPoint } from "./acked-load.js";

export const CLUSTER_PRIMARIES = 3;
export const CLUSTER_REPLICAS_PER_PRIMARY = 1;

/** One Redis mode to measure: the node that writes through it and the Redis processes behind it. */
export interface RedisModeTarget {
  label: string;
  mode: "single" | "cluster";
  ackReplicas: number;
  node: MeasuredServer;
  url: string;
  redisPids: readonly number[];
  /** Its rooms' prefix, of its own: the modes share the Cassandra keyspace. */
  roomPrefix: string;
}

export interface RedisModeRow {
  label: string;
  mode: "single" | "cluster";
  ackReplicas: number;
  redisProcesses: number;
  maxAckedPerSecond: number;
  nodeCpuPerSendInMicros: number;
  /** Redis CPU (all its processes) per acknowledged send at the maximum. */
  redisCpuPerSendInMicros: number;
  redisCpuUtilisation: number;
  /** Ack latency at the common offered rate (50 % of the slowest mode's maximum). */
  latency: LoadPoint;
  /** Acknowledged sends read back from Cassandra, each once with its seq and id (all of them, or no figure). */
  storedReadBack: number;
  acknowledged: number;
}

export interface RedisModesResult {
  primaries: number;
  replicasPerPrimary: number;
  /** The offered rate of every mode's latency point. */
  offeredPerSecond: number;
  placement: Placement | null;
  rows: RedisModeRow[];
}

export interface ClusterTargets {
  cluster: RedisCluster;
  /** The cluster's settings for our processes (seeds and key prefix). */
  env: NodeJS.ProcessEnv;
  flusher: AppProcess;
  ackZero: MeasuredServer;
  ackOne: MeasuredServer;
  stop(): Promise<void>;
}

/** The local Redis Cluster (3 primaries + 3 replicas, AOF everysec as the single Redis), started while Cassandra boots. */
export function startBenchCluster(dir: string): Promise<RedisCluster> {
  return startRedisCluster({
    dir: join(dir, "redis-cluster"),
    primaries: CLUSTER_PRIMARIES,
    replicasPerPrimary: CLUSTER_REPLICAS_PER_PRIMARY,
    appendFsync: "everysec",
    // As `npm start`'s cluster stores: a loaded machine's pauses are not taken for a dead primary.
    nodeTimeoutInMs: 5000,
  });
}

/** A flusher and two socket nodes on the cluster, one per ack-replica setting, on a key prefix of their own. */
export async function startClusterTargets(
  cluster: RedisCluster,
  env: NodeJS.ProcessEnv,
  prefix: string,
  dir: string,
): Promise<ClusterTargets> {
  const clusterEnv: NodeJS.ProcessEnv = {
    ...env,
    CHAT_REDIS_URL: undefined,
    CHAT_REDIS_CLUSTER_NODES: cluster.seeds.join(","),
    CHAT_REDIS_PREFIX: prefix,
  };
  const started: { stop(): Promise<void> }[] = [];
  const stop = async () => {
    await Promise.allSettled(started.splice(0).map((process) => process.stop()));
  };
  try {
    const flusher = await startFlusher({
      name: "flusher-cluster",
      env: { ...clusterEnv, CHAT_FLUSHER_HTTP_PORT: "0" },
      logFile: join(dir, "flusher-cluster.log"),
    });
    started.push({ stop: () => flusher.stop() });
    const ackZero = await startOurNode("bench-rc-ack0", { ...clusterEnv, CHAT_ACK_REPLICAS: "0" }, dir);
    started.push(ackZero);
    const ackOne = await startOurNode("bench-rc-ack1", { ...clusterEnv, CHAT_ACK_REPLICAS: "1" }, dir);
    started.push(ackOne);
    return { cluster, env: clusterEnv, flusher, ackZero, ackOne, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Two passes over the targets, each target placed on the ack path's core with its own Redis
 * processes: first each one's closed-loop maximum, then each one's ack latency at one offered
 * rate, 50 % of the slowest mode's maximum (a rate above a mode's own maximum would measure its
 * queue, not its latency). Every acknowledged send's receipt goes to `receipts[target.label]`
 * for the read-back.
 */
export async function measureRedisModes(options: {
  targets: readonly RedisModeTarget[];
  generators: readonly Generator[];
  tokens: readonly string[];
  settings: IngestSettings;
  /** Pinned beside the generators while a target is measured: flushers, the other nodes. */
  rest: readonly number[];
  background: readonly number[];
  receipts: Map<string, Receipt[]>;
  log: (line: string) => void;
}): Promise<Omit<RedisModesResult, "rows"> & { rows: Omit<RedisModeRow, "storedReadBack" | "acknowledged">[] }> {
  const { targets, generators, tokens, settings, rest, background, receipts, log } = options;
  let placement: Placement | null = null;
  const placed = async <T>(target: RedisModeTarget, measure: () => Promise<T>): Promise<T> => {
    const otherNodes = targets.filter((other) => other.node !== target.node).map((other) => other.node.pid);
    const otherRedis = targets.flatMap((other) => other.redisPids).filter((pid) => !target.redisPids.includes(pid));
    const done = await withPlacement(
      {
        measured: [target.node.pid, ...target.redisPids],
        rest: [...generators.map((g) => g.pid), ...rest, ...new Set([...otherNodes, ...otherRedis])],
        background,
      },
      measure,
    );
    placement = done.placement;
    return done.result;
  };
  const measured: { target: RedisModeTarget; sends: AckedLoad; ingest: IngestResult }[] = [];
  for (const target of targets) {
    const senders = await connectSenders(generators, target.url, tokens, settings);
    const kept: Receipt[] = [];
    receipts.set(target.label, kept);
    const sends = ingestLoad(target.node, target.redisPids, generators, senders, settings, log, {
      who: target.label,
      roomPrefix: target.roomPrefix,
      receipts: kept,
    });
    // No latency point yet: every mode's is taken at 50 % of the slowest mode's maximum, below.
    const ingest = await placed(target, () => measureIngest(sends, settings, () => []));
    measured.push({ target, sends, ingest });
  }
  const offeredPerSecond = Math.min(...measured.map(({ ingest }) => ingest.maxAckedPerSecond)) * 0.5;
  const rows: Omit<RedisModeRow, "storedReadBack" | "acknowledged">[] = [];
  for (const { target, sends, ingest } of measured) {
    const latency = await placed(target, () =>
      measureAckLatency(
        sends,
        { basis: "slowest mode's maximum", offeredPerSecond },
        ingest.maxAckedPerSecond,
        settings.latencyDurationInMs,
      ),
    );
    rows.push({
      label: target.label,
      mode: target.mode,
      ackReplicas: target.ackReplicas,
      redisProcesses: target.redisPids.length,
      maxAckedPerSecond: ingest.maxAckedPerSecond,
      nodeCpuPerSendInMicros: ingest.nodeCpuPerSendInMicros,
      redisCpuPerSendInMicros: (ingest.redisCpuUtilisation * 1e6) / ingest.maxAckedPerSecond,
      redisCpuUtilisation: ingest.redisCpuUtilisation,
      latency,
    });
  }
  return { primaries: CLUSTER_PRIMARIES, replicasPerPrimary: CLUSTER_REPLICAS_PER_PRIMARY, offeredPerSecond, placement, rows };
}

/**
 * Item 8 whole: the cluster's flusher and nodes, the three modes measured, every acknowledged
 * send of each read back from Cassandra (the single Redis's through `single.keys`, the
 * cluster's through a Cluster client on `clusterPrefix`), the cluster's processes stopped.
 */
export async function runRedisModes(options: {
  cluster: RedisCluster;
  env: NodeJS.ProcessEnv;
  clusterPrefix: string;
  dir: string;
  single: { node: MeasuredServer; url: string; redisPid: number; redis: Pick<Redis, "xlen">; keys: RedisKeys };
  urlOf: (port: number) => string;
  generators: readonly Generator[];
  tokens: readonly string[];
  settings: IngestSettings;
  rest: readonly number[];
  background: readonly number[];
  storedOnce: StoredOnce;
  onCleanup: <T>(value: T, stop: (value: T) => Promise<unknown> | unknown) => T;
  log: (line: string) => void;
}): Promise<RedisModesResult> {
  const { cluster, env, clusterPrefix, dir, single, urlOf, storedOnce, onCleanup, log } = options;
  const targets = onCleanup(await startClusterTargets(cluster, env, clusterPrefix, dir), (t) => t.stop());
  const clusterPids = cluster.nodes.map((node) => node.process.child.pid!);
  const onCluster = (ackReplicas: number, node: MeasuredServer): RedisModeTarget => ({
    label: `Redis Cluster, ack replicas ${ackReplicas}`,
    mode: "cluster",
    ackReplicas,
    node,
    url: urlOf(node.port),
    redisPids: clusterPids,
    roomPrefix: `rm-c${ackReplicas}`,
  });
  const modes: RedisModeTarget[] = [
    {
      label: "single Redis",
      mode: "single",
      ackReplicas: 0,
      node: single.node,
      url: single.url,
      redisPids: [single.redisPid],
      roomPrefix: "rm-s",
    },
    onCluster(0, targets.ackZero),
    onCluster(1, targets.ackOne),
  ];
  const receipts = new Map<string, Receipt[]>();
  const measured = await measureRedisModes({
    ...options,
    targets: modes,
    rest: [...options.rest, targets.flusher.process.child.pid!],
    receipts,
  });
  const clusterClient = onCleanup(new Cluster(cluster.nodes.map((node) => ({ host: "127.0.0.1", port: node.port }))), (client) =>
    client.disconnect(),
  );
  clusterClient.on("error", (error: Error) => log(`  redis cluster client: ${error.message}`));
  const clusterKeys = new RedisKeys(clusterPrefix, DEFAULT_STREAM_CONFIG.shards);
  const rows: RedisModeRow[] = [];
  for (const row of measured.rows) {
    const kept = receipts.get(row.label)!;
    const stored =
      row.mode === "single"
        ? await storedOnce(row.label, kept, single.redis, single.keys)
        : await storedOnce(row.label, kept, clusterClient, clusterKeys);
    rows.push({ ...row, storedReadBack: stored, acknowledged: kept.length });
  }
  log(`  every acknowledged send stored once: ${rows.map((row) => `${row.label} ${row.storedReadBack}`).join(", ")}`);
  clusterClient.disconnect();
  await targets.stop();
  return { ...measured, rows };
}

export function redisModesTable(result: RedisModesResult): string {
  const ms = (value: number) => value.toFixed(2);
  const lines = [
    `| Redis | max acked sends/s (closed loop) | ack p50 / p99 / p99.9 ms at ${result.offeredPerSecond.toFixed(0)} sends/s | node CPU µs/send | Redis CPU µs/send (processes) | acked sends read back once |`,
    "|---|---|---|---|---|---|",
    ...result.rows.map(
      (row) =>
        `| ${row.label} | ${row.maxAckedPerSecond.toFixed(0)} | ${ms(row.latency.ack.p50InMs)} / ${ms(row.latency.ack.p99InMs)} / ${ms(row.latency.ack.p999InMs)} | ${row.nodeCpuPerSendInMicros.toFixed(1)} | ${row.redisCpuPerSendInMicros.toFixed(1)} (${row.redisProcesses}) | ${row.storedReadBack} / ${row.acknowledged} |`,
    ),
  ];
  return lines.join("\n");
}
