/**
 * Parts 7 and 8 of a run: the same ingest on other stacks, each with the placement ours had:
 * Centrifugo publishing with history (Redis engine), and our node on one Redis vs a Redis
 * Cluster (3 primaries + 3 replicas) at ack replicas 0 and 1.
 */
import { withPlacement } from "../lib/cpu-placement.js";
import type { MeasuredServer } from "../lib/servers.js";
import { measureCentrifugoIngest, type CentrifugoResults } from "../scenarios/centrifugo.js";
import type { IngestResult } from "../scenarios/ingest.js";
import { redisModesTable, runRedisModes, type RedisModesResult } from "../scenarios/redis-modes.js";
import { socketIoUrl, type BenchRun, type BenchStack } from "../stack.js";

/** `ours` is our ingest, when measured: Centrifugo is also offered 50 % of its maximum. */
export async function runCentrifugoPart(
  { settings, log }: BenchRun,
  { peers, generators, flusher, nodeA, redisPid, stores }: BenchStack,
  nodeB: MeasuredServer,
  ours: IngestResult | undefined,
): Promise<CentrifugoResults | null> {
  if (!peers) return null;
  log("7. Centrifugo publishes with history (Redis engine)");
  // The same placement as ours: Centrifugo and its Redis on the ack path's core, the rest (our idle nodes and Redis too) on the other.
  const placed = await withPlacement(
    {
      measured: [peers.redisEngine.pid, peers.redisPid],
      rest: [...generators.map((g) => g.pid), flusher.process.child.pid!, nodeA.pid, nodeB.pid, redisPid],
      background: [stores.cassandra.process.child.pid!],
    },
    () => measureCentrifugoIngest(peers, generators, settings.ingest, ours?.maxAckedPerSecond, log),
  );
  return { version: peers.version, ingest: placed.result };
}

export async function runRedisModesPart(
  { settings, dir, log, onCleanup }: BenchRun,
  stack: BenchStack,
  nodeB: MeasuredServer,
): Promise<RedisModesResult | null> {
  const { redisCluster, env, prefix, nodeA, urlA, redisPid, redisClient, keys, generators, tokens, flusher, stores, storedOnce } = stack;
  if (!redisCluster) return null;
  log("8. ingest on one Redis vs Redis Cluster (3 primaries + 3 replicas), ack replicas 0 and 1");
  const redisModes = await runRedisModes({
    cluster: redisCluster,
    env,
    clusterPrefix: `${prefix}rc:`,
    dir,
    single: { node: nodeA, url: urlA, redisPid, redis: redisClient, keys },
    urlOf: socketIoUrl,
    generators,
    tokens,
    settings: settings.ingest,
    rest: [flusher.process.child.pid!, nodeB.pid],
    background: [stores.cassandra.process.child.pid!],
    storedOnce,
    onCleanup,
    log,
  });
  console.log(`\n${redisModesTable(redisModes)}\n`);
  return redisModes;
}
