/**
 * Item 7: Centrifugo with history, the peer a team would pick instead of us, measured in the same
 * run, on the same machine, with the same message size, by the same measuring code as ours:
 *
 * - fan-out CPU per delivery in rooms of 10, 100 and 1000 (scenarios/fanout.ts: the Centrifugo
 *   stacks are measured interleaved with the others), with the Redis engine (Centrifugo + its
 *   Redis, like ours + ours) and with the memory engine (no Redis);
 * - the maximum acknowledged publishes/s with history (Redis engine; the same closed loop, senders,
 *   channels and in-flight sends as our ingest maximum), and publish ack p50/p99/p99.9 at the
 *   fixed 2000/s and at 50 % of our maximum (scenarios/ingest.ts).
 *
 * Centrifugo gets a Redis of its own (like ours: AOF, everysec), so each Redis's CPU is its
 * stack's alone. Clients are centrifuge-js (load/centrifugo-clients.ts).
 */
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { freePort } from "../../scripts/infra/process.js";
import { startRedis } from "../../scripts/infra/redis.js";
import { CENTRIFUGO_VERSION, ensureCentrifugo } from "../centrifugo/binary.js";
import { CENTRIFUGO_NAMESPACE, centrifugoToken, startCentrifugo, type CentrifugoServer } from "../centrifugo/server.js";
import type { Generator } from "../load/pool.js";
import { connectStack, type ConnectedStack } from "./fanout.js";
import type { OfferedRate } from "./acked-load.js";
import { connectSenders, ingestLoad, measureIngest, type IngestResult, type IngestSettings } from "./ingest.js";

export interface CentrifugoPeers {
  version: string;
  redisEngine: CentrifugoServer;
  memoryEngine: CentrifugoServer;
  redisPid: number;
  /** A connection token per generator. */
  tokens: string[];
}

export interface CentrifugoResults {
  version: string;
  /** Publishes with history, Redis engine: the maximum, and ack latency at the fixed rate and at 50 % of our maximum. */
  ingest: IngestResult;
}

/** Builds (or reuses) the binary, starts Centrifugo's Redis and both engines; `register` gets what to stop. */
export async function startCentrifugoPeers(
  dir: string,
  generatorCount: number,
  log: (line: string) => void,
  register: (stop: () => Promise<void>) => void,
): Promise<CentrifugoPeers> {
  const binary = await ensureCentrifugo(log);
  const hmacSecret = `bench-${randomBytes(16).toString("hex")}`;
  const redis = await startRedis({ dataDir: join(dir, "centrifugo-redis"), port: await freePort() });
  register(() => redis.stop());
  const redisEngine = await startCentrifugo({
    name: "centrifugo-redis-engine",
    binary,
    engine: { type: "redis", redisUrl: redis.url, prefix: `bench-${randomBytes(4).toString("hex")}` },
    hmacSecret,
    logDir: dir,
  });
  register(() => redisEngine.stop());
  const memoryEngine = await startCentrifugo({
    name: "centrifugo-memory-engine",
    binary,
    engine: { type: "memory" },
    hmacSecret,
    logDir: dir,
  });
  register(() => memoryEngine.stop());
  const tokens = await Promise.all(Array.from({ length: generatorCount }, (_, g) => centrifugoToken(hmacSecret, `bench-${g}`)));
  log(`Centrifugo ${CENTRIFUGO_VERSION} up: Redis engine ${redisEngine.url} (Redis ${redis.url}), memory engine ${memoryEngine.url}`);
  return { version: CENTRIFUGO_VERSION, redisEngine, memoryEngine, redisPid: redis.process.child.pid!, tokens };
}

/** Rooms of every size on both engines, joined by centrifuge-js clients (channels `bench:fan-<size>`). */
export async function connectCentrifugoStacks(
  peers: CentrifugoPeers,
  generators: readonly Generator[],
  roomSizes: readonly number[],
): Promise<ConnectedStack[]> {
  const roomPrefix = `${CENTRIFUGO_NAMESPACE}:fan`;
  return [
    await connectStack(
      {
        stack: "centrifugo",
        kind: "centrifugo",
        server: peers.redisEngine,
        url: peers.redisEngine.url,
        tokens: peers.tokens,
        redisPid: peers.redisPid,
      },
      generators,
      roomSizes,
      roomPrefix,
    ),
    await connectStack(
      { stack: "centrifugo-memory", kind: "centrifugo", server: peers.memoryEngine, url: peers.memoryEngine.url, tokens: peers.tokens },
      generators,
      roomSizes,
      roomPrefix,
    ),
  ];
}

/**
 * Centrifugo's publishes with history (Redis engine), driven like our ingest. `ourMaximum`
 * (acked sends/s) adds the point at 50 % of it; without it (ours not measured) only the fixed rate.
 */
export async function measureCentrifugoIngest(
  peers: CentrifugoPeers,
  generators: readonly Generator[],
  settings: IngestSettings,
  ourMaximum: number | undefined,
  log: (line: string) => void,
): Promise<IngestResult> {
  const senders = await connectSenders(generators, peers.redisEngine.url, peers.tokens, settings, "centrifugo");
  const rates = (): OfferedRate[] => [
    { basis: "fixed", offeredPerSecond: settings.fixedRatePerSecond },
    ...(ourMaximum === undefined ? [] : [{ basis: "our maximum" as const, offeredPerSecond: ourMaximum * 0.5 }]),
  ];
  const publishes = ingestLoad(peers.redisEngine, peers.redisPid, generators, senders, settings, log, {
    who: "Centrifugo publish",
    roomPrefix: `${CENTRIFUGO_NAMESPACE}:ing`,
  });
  return measureIngest(publishes, settings, rates);
}
