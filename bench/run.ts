/**
 * `npm run bench [-- --quick]`: every stack side by side in one run on this machine.
 *
 * Starts Redis + Cassandra (free ports, a tmp dir, a keyspace and key prefix of the run's own),
 * then measures, each against its reference in the same run: fan-out CPU per delivery (ours,
 * raw uWS, socket.io on ws), the two-node cluster, memory per idle connection, durable ingest
 * and ack latency, flusher vs raw Cassandra, end-to-end latency across two nodes, and Centrifugo
 * with history (fan-out CPU with and without Redis, publish maximum and ack latency). Prints
 * the table, writes bench/results.json, bench/results.png and the results section of
 * bench/README.md. Everything it started is stopped on exit, on failure and on Ctrl-C.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { startFlusher } from "../scripts/infra/apps.js";
import { freePort } from "../scripts/infra/process.js";
import { cassandraConfigFor, migrateKeyspace, startStores } from "../scripts/infra/stack.js";
import { mintToken } from "../scripts/lib/tokens.js";
import { createCassandraClient } from "../storage/cassandra/client.js";
import { DEFAULT_STREAM_CONFIG } from "../storage/config.js";
import { RedisKeys } from "../storage/keys.js";
import { measureFlushVsRaw, type FlushResult } from "./flush-vs-raw.js";
import { markdownTable } from "./lib/checks.js";
import { withPlacement, type Placement } from "./lib/cpu-placement.js";
import { FigureRefused } from "./lib/integrity.js";
import { describeMachine } from "./lib/machine.js";
import { readStoredChanges, requireChangesStoredOnce } from "./lib/change-receipts.js";
import { deadLetterCount } from "./lib/read-back.js";
import { storedOnceCheck } from "./lib/receipts.js";
import { loadAverage, startOurNode, startReference, type MeasuredServer } from "./lib/servers.js";
import { Generator } from "./load/pool.js";
import type { ChangeReceipt, Receipt } from "./load/protocol.js";
import { buildChecks, centrifugoChecks, fanoutTable, ingestTable, writeOutputs, type BenchResults } from "./report.js";
import { measureChanges, type ChangesResult } from "./scenarios/changes.js";
import { connectStack, measureCluster, measureFanout, type ConnectedStack } from "./scenarios/fanout.js";
import { connectCentrifugoStacks, measureCentrifugoIngest, startCentrifugoPeers, type CentrifugoResults } from "./scenarios/centrifugo.js";
import { connectSenders, measureEndToEnd, measureIngest, type EndToEndResult, type IngestResult } from "./scenarios/ingest.js";
import { measureMemory, type MemoryRow } from "./scenarios/memory.js";
import { redisModesTable, runRedisModes, startBenchCluster, type RedisModesResult } from "./scenarios/redis-modes.js";
import { FULL, QUICK } from "./settings.js";
import { formatCpuSummary, summarizeCpuProfile } from "./profile/cpu-profile.js";
import { formatHeapGrowth, heapGrowthPerConnection } from "./profile/heap-snapshot.js";

/** Where results.json, results.png and README.md go: the source bench/ folder, not dist/. */
const BENCH_SOURCE_DIR = fileURLToPath(new URL("../../bench/", import.meta.url));
const JWT_SECRET = `bench-${randomBytes(16).toString("hex")}`;
/** The user of generator g's token: its senders' messages are theirs, so they may edit them. */
const userOf = (g: number) => `bench-${g}`;
const ROOM_PATTERNS = ["fan-*", "cl-*", "ing-*", "e2e-*", "rm-*", "chg-*"];

const FLAGS = ["--quick", "--profile"];
/** `--only=fanout,flush`: run just these parts (to iterate on one); prints figures, writes nothing. */
const PARTS = ["fanout", "cluster", "ingest", "changes", "memory", "flush", "centrifugo", "redis-cluster"] as const;
type Part = (typeof PARTS)[number];
const onlyArg = process.argv.slice(2).find((arg) => arg.startsWith("--only="));
const only = onlyArg ? new Set(onlyArg.slice("--only=".length).split(",")) : undefined;
const unknown = process.argv.slice(2).filter((arg) => !FLAGS.includes(arg) && arg !== onlyArg);
const unknownParts = [...(only ?? [])].filter((part) => !(PARTS as readonly string[]).includes(part));
if (unknown.length > 0 || unknownParts.length > 0) {
  console.error(
    `unknown argument ${[...unknown, ...unknownParts].join(" ")}\nusage: npm run bench [-- --quick] [-- --profile] [-- --only=${PARTS.join(",")}]`,
  );
  process.exit(2);
}
const wanted = (part: Part) => only === undefined || only.has(part);
const settings = process.argv.includes("--quick") ? QUICK : FULL;
/** --profile: CPU profiles of the servers and heap snapshots around the memory scenario (slower; figures perturbed). */
const profiling = process.argv.includes("--profile");
const runStarted = performance.now();
const log = (line: string) => console.log(`[bench ${((performance.now() - runStarted) / 1000).toFixed(0).padStart(4)} s] ${line}`);

/** Things to stop, newest first, whatever happens. */
const cleanups: (() => Promise<unknown> | unknown)[] = [];
function onCleanup<T>(value: T, stop: (value: T) => Promise<unknown> | unknown): T {
  cleanups.push(() => stop(value));
  return value;
}
async function cleanUp(): Promise<void> {
  while (cleanups.length > 0) await Promise.resolve(cleanups.pop()!()).catch((error: unknown) => console.error("cleanup:", error));
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void cleanUp().then(() => process.exit(130)));
}

/**
 * 20 000 connections need more descriptors than a 20 000 per-process limit once the server's
 * own are counted; children (servers, generators) inherit a raised limit. Raising it needs
 * CAP_SYS_RESOURCE; without it the memory scenario uses as many connections as fit (it says so).
 */
function raiseFileLimit(): void {
  try {
    execFileSync("prlimit", ["--pid", String(process.pid), "--nofile=65536:65536"], { stdio: "pipe" });
  } catch {
    log("could not raise the open-files limit (no CAP_SYS_RESOURCE); the memory scenario is capped by it");
  }
}

/** For onCleanup: stopping a server that was already stopped is harmless. */
const stopped = (server: MeasuredServer) => server.stop();

function socketIoUrl(port: number): string {
  return `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`;
}

async function main(): Promise<void> {
  raiseFileLimit();
  const startedAt = new Date().toISOString();
  const loadAtStart = loadAverage();
  const dir = mkdtempSync(join(tmpdir(), "chat-bench-"));
  runDir = dir;
  log(`${settings.mode} run${profiling ? " with profiling" : ""}; logs and data in ${dir}`);
  const profileDir = profiling ? join(dir, "profiles") : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  /** Runs `measure` with the servers' CPU profilers on when profiling, saving <label>-<server>.cpuprofile. */
  const profiled = async <T>(servers: readonly MeasuredServer[], label: string, measure: () => Promise<T>): Promise<T> => {
    if (!profileDir) return measure();
    await Promise.all(servers.map((server) => server.cpuProfile("start")));
    const result = await measure();
    await Promise.all(servers.map((server) => server.cpuProfile("stop", join(profileDir, `${label}-${server.name}.cpuprofile`))));
    return result;
  };
  // Centrifugo (item 7) starts while Cassandra boots: it needs none of the stores. Both are
  // awaited to the end (allSettled) so that whatever did start is registered for cleanup.
  // The Redis Cluster of item 8 likewise.
  const [storesStarted, peersStarted, clusterStarted] = await Promise.allSettled([
    startStores({
      dir,
      redisPort: await freePort(),
      cassandraNativePort: await freePort(),
      cassandraStoragePort: await freePort(),
      log,
    }).then((started) => onCleanup(started, (s) => s.stop())),
    wanted("centrifugo") ? startCentrifugoPeers(dir, 2, log, (stop) => onCleanup(undefined, stop)) : Promise.resolve(undefined),
    wanted("redis-cluster") ? startBenchCluster(dir).then((started) => onCleanup(started, (c) => c.stop())) : Promise.resolve(undefined),
  ]);
  if (storesStarted.status === "rejected") throw storesStarted.reason;
  if (peersStarted.status === "rejected") throw peersStarted.reason;
  if (clusterStarted.status === "rejected") throw clusterStarted.reason;
  const redisCluster = clusterStarted.value;
  if (redisCluster) log(`Redis Cluster up: ${redisCluster.seeds.join(",")} (3 primaries + 3 replicas)`);
  const stores = storesStarted.value;
  const peers = peersStarted.value;
  const keyspace = `bench_${randomBytes(4).toString("hex")}`;
  const cassandra = cassandraConfigFor(stores.cassandraContactPoint, keyspace);
  await migrateKeyspace(cassandra);
  const prefix = `bench-${randomBytes(4).toString("hex")}:`;
  const redisPid = stores.redis.process.child.pid!;
  // Read-backs of acknowledged sends (lib/receipts.ts) and dead letters of the run's keys.
  const readBackClient = onCleanup(createCassandraClient(cassandra), (client) => client.shutdown());
  await readBackClient.connect();
  const redisClient = onCleanup(new Redis(stores.redis.url), (client) => client.disconnect());
  const storedOnce = storedOnceCheck(readBackClient);
  const env: NodeJS.ProcessEnv = {
    CHAT_REDIS_URL: stores.redis.url,
    CHAT_REDIS_PREFIX: prefix,
    CHAT_CASSANDRA_CONTACT_POINTS: stores.cassandraContactPoint,
    CHAT_CASSANDRA_KEYSPACE: keyspace,
    CHAT_JWT_SECRET: JWT_SECRET,
    CHAT_DRAIN_DEADLINE_MS: "1000",
    // The per-user send limit protects a real cluster from one user; the bench drives many
    // sends per user on purpose, so it is lifted (its cost, one Redis script call, remains).
    CHAT_SENDS_PER_SECOND: "1000000",
    CHAT_SEND_BURST: "1000000",
    // Likewise the per-user event budget and connection cap: a few bench users hold every socket.
    CHAT_EVENTS_PER_SECOND: "1000000",
    CHAT_EVENT_BURST: "1000000",
    CHAT_CONNECTIONS_PER_USER: "1000000",
    LOG_LEVEL: "warn",
  };
  const tokens = await Promise.all(
    Array.from({ length: Math.max(2, settings.memoryGenerators) }, (_, g) =>
      mintToken({ secret: JWT_SECRET, userId: userOf(g), rooms: ROOM_PATTERNS }),
    ),
  );
  log(`stores up: Redis ${stores.redis.url}, Cassandra ${stores.cassandraContactPoint}, keyspace ${keyspace}, prefix ${prefix}`);

  const generators: [Generator, Generator] = [
    onCleanup(Generator.start("gen-0"), (g) => g.stop()),
    onCleanup(Generator.start("gen-1"), (g) => g.stop()),
  ];
  const flusher = onCleanup(
    await startFlusher({ name: "flusher-1", env: { ...env, CHAT_FLUSHER_HTTP_PORT: "0" }, logFile: join(dir, "flusher-1.log") }),
    (f) => f.stop(),
  );
  const nodeA = onCleanup(await startOurNode("bench-a", env, dir), stopped);
  const urlA = socketIoUrl(nodeA.port);

  // 1. Fan-out: all three stacks connected at once, measured interleaved (see scenarios/fanout.ts).
  let fanout: BenchResults["fanout"] = [];
  let oneNode: Awaited<ReturnType<typeof connectStack>> | undefined;
  if (wanted("fanout") || wanted("cluster")) {
    const sizes = wanted("fanout") ? settings.fanout.roomSizes : settings.clusterRoomSizes;
    oneNode = await connectStack({ stack: "ours", kind: "socketio", server: nodeA, url: urlA, tokens, redisPid }, generators, sizes, "fan");
  }
  if (wanted("fanout") || peers) {
    log(`1. fan-out CPU per delivery${peers ? `, ${wanted("fanout") ? "with " : ""}Centrifugo (7)` : ""}`);
    const sizes = settings.fanout.roomSizes;
    const stacks: ConnectedStack[] = [];
    const references: MeasuredServer[] = [];
    if (wanted("fanout")) {
      const uws = onCleanup(await startReference("uws", dir), stopped);
      const sio = onCleanup(await startReference("socketio", dir), stopped);
      references.push(uws, sio);
      stacks.push(
        await connectStack({ stack: "uws", kind: "uws", server: uws, url: `ws://127.0.0.1:${uws.port}/` }, generators, sizes, "fan"),
        await connectStack({ stack: "socketio", kind: "socketio", server: sio, url: socketIoUrl(sio.port) }, generators, sizes, "fan"),
        oneNode!,
      );
    }
    if (peers) stacks.push(...(await connectCentrifugoStacks(peers, generators, sizes)));
    fanout = await profiled([...references, ...(wanted("fanout") ? [nodeA] : [])], "1-fanout", () =>
      measureFanout(stacks, generators, settings.fanout, log),
    );
    await Promise.all([...references, ...(peers ? [peers.memoryEngine] : [])].map((server) => server.stop()));
  }

  const nodeB = onCleanup(await startOurNode("bench-b", env, dir), stopped);
  const urlB = socketIoUrl(nodeB.port);
  let cluster: BenchResults["cluster"] = [];
  if (wanted("cluster")) {
    log("2. cluster fan-out (two nodes through Redis)");
    const clusterSettings = { ...settings.fanout, roomSizes: settings.clusterRoomSizes };
    const twoNodes = await connectStack(
      { stack: "ours", kind: "socketio", server: nodeA, url: urlA, tokens, redisPid },
      generators,
      clusterSettings.roomSizes,
      "cl",
      [urlA, urlB],
    );
    cluster = await profiled([nodeA, nodeB], "2-cluster", () =>
      measureCluster(twoNodes, oneNode!, [nodeA, nodeB], generators, clusterSettings, log),
    );
  }

  let ingest: IngestResult | undefined;
  let endToEnd: EndToEndResult | undefined;
  let changes: ChangesResult | undefined;
  let latencyPlacement: Placement | null = null;
  if (wanted("ingest") || wanted("changes")) {
    log(wanted("ingest") ? "4. durable ingest on one node" : "4. message changes on one node");
    const ingestReceipts: Receipt[] = [];
    const changeReceipts: ChangeReceipt[] = [];
    const senders = await connectSenders(generators, urlA, tokens, settings.ingest);
    // Latency is measured with the ack path on a core of its own (see lib/cpu-placement.ts).
    const placed = await withPlacement(
      {
        measured: [nodeA.pid, nodeB.pid, redisPid],
        rest: [...generators.map((g) => g.pid), flusher.process.child.pid!],
        background: [stores.cassandra.process.child.pid!],
      },
      async () => {
        let ingestResult: IngestResult | undefined;
        let endToEndResult: EndToEndResult | undefined;
        if (wanted("ingest")) {
          ingestResult = await profiled([nodeA], "4-ingest", () =>
            measureIngest(nodeA, redisPid, generators, senders, settings.ingest, log, { receipts: ingestReceipts }),
          );
          log("6. end to end, sent on node A, received on node B, at 50 % load");
          endToEndResult = await measureEndToEnd(
            generators[0],
            senders,
            generators[1],
            urlB,
            tokens[1]!,
            ingestResult.maxAckedPerSecond * 0.5,
            settings.ingest,
            { nodeA: nodeA.pid, nodeB: nodeB.pid, redis: redisPid },
            log,
            ingestReceipts,
          );
        }
        let changesResult: ChangesResult | undefined;
        if (wanted("changes")) {
          log("4. message changes (edits and reactions) on one node, beside the sends");
          changesResult = await profiled([nodeA], "4-changes", () =>
            measureChanges(
              nodeA,
              redisPid,
              generators,
              senders,
              settings.ingest,
              settings.changes,
              generators.map((_, g) => userOf(g)),
              log,
              {
                sends: ingestReceipts,
                changes: changeReceipts,
              },
            ),
          );
        }
        return { ingestResult, endToEndResult, changesResult };
      },
    );
    ({ ingestResult: ingest, endToEndResult: endToEnd, changesResult: changes } = placed.result);
    latencyPlacement = placed.placement;
    if (latencyPlacement)
      log(`  (ack path on CPU ${latencyPlacement.measured.join(",")}, everything else on CPU ${latencyPlacement.rest.join(",")})`);
    const keys = new RedisKeys(prefix, DEFAULT_STREAM_CONFIG.shards);
    const stored = await storedOnce(
      [...(ingest ? ["ingest and end to end"] : []), ...(changes ? ["the messages changes were made to"] : [])].join(", "),
      ingestReceipts,
      redisClient,
      keys,
    );
    log(`  every acknowledged send stored once: ${stored} rows read back from Cassandra`);
    if (changes) {
      const readBackResult = await requireChangesStoredOnce({
        where: "changes",
        changes: changeReceipts,
        sends: ingestReceipts,
        read: (expected) => readStoredChanges(readBackClient, expected, ingestReceipts, DEFAULT_STREAM_CONFIG.bucketWidthInMs),
        deadLettered: () => deadLetterCount(redisClient, keys),
        timeoutInMs: 60_000,
      });
      changes.storedReadBack = readBackResult.found;
      log(
        `  every acknowledged change stored once: ${readBackResult.found} of ${changes.acknowledged} room_log entries read back, the edited texts and reactions of ${changes.targets} messages as the acks leave them`,
      );
    }
  }
  let centrifugo: CentrifugoResults | null = null;
  if (peers) {
    log("7. Centrifugo publishes with history (Redis engine)");
    // The same placement as ours: Centrifugo and its Redis on the ack path's core, the rest (our idle nodes and Redis too) on the other.
    const placed = await withPlacement(
      {
        measured: [peers.redisEngine.pid, peers.redisPid],
        rest: [...generators.map((g) => g.pid), flusher.process.child.pid!, nodeA.pid, nodeB.pid, redisPid],
        background: [stores.cassandra.process.child.pid!],
      },
      () => measureCentrifugoIngest(peers, generators, settings.ingest, ingest?.maxAckedPerSecond, log),
    );
    centrifugo = { version: peers.version, ingest: placed.result };
  }
  let redisModes: RedisModesResult | null = null;
  if (redisCluster) {
    log("8. ingest on one Redis vs Redis Cluster (3 primaries + 3 replicas), ack replicas 0 and 1");
    redisModes = await runRedisModes({
      cluster: redisCluster,
      env,
      clusterPrefix: `${prefix}rc:`,
      dir,
      single: { node: nodeA, url: urlA, redisPid, redis: redisClient, keys: new RedisKeys(prefix, DEFAULT_STREAM_CONFIG.shards) },
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
  }
  await Promise.all(generators.map((g) => g.close()));
  generators.forEach((g) => g.stop());
  await Promise.all([nodeA.stop(), nodeB.stop(), flusher.stop()]);

  const memory: MemoryRow[] = [];
  if (wanted("memory")) {
    log(`3. memory per idle connection at ${settings.memoryConnections} connections`);
    const memoryTokens = tokens.slice(0, settings.memoryGenerators);
    const nodeM = onCleanup(await startOurNode("bench-m", env, dir), stopped);
    memory.push(
      await measureMemory("ours", "socketio", nodeM, socketIoUrl(nodeM.port), memoryTokens, settings.memoryConnections, 1, log, profileDir),
    );
    await nodeM.stop();
    const sioM = onCleanup(await startReference("socketio", dir), stopped);
    memory.push(
      await measureMemory(
        "socketio",
        "socketio",
        sioM,
        socketIoUrl(sioM.port),
        memoryTokens.map(() => ""),
        settings.memoryConnections,
        2,
        log,
        profileDir,
      ),
    );
    await sioM.stop();
  }

  let flush: FlushResult | undefined;
  if (wanted("flush")) {
    log("5. flusher vs raw Cassandra writes");
    flush = await measureFlushVsRaw({ cassandra, redisUrl: stores.redis.url, prefix, env, logDir: dir, settings: settings.flush, log });
  }

  if (only) {
    // A partial run has no table: its figures are the lines logged above, and Centrifugo's
    // ratios to whatever of ours was measured with it (e.g. --only=fanout,ingest,centrifugo).
    if (centrifugo) {
      const partial = centrifugoChecks(fanout, ingest, centrifugo);
      if (partial.length > 0) console.log(`\n${markdownTable(partial)}\n`);
    }
    if (ingest || changes) console.log(`\n${ingestTable(ingest, changes ?? null, centrifugo)}\n`);
    if (profileDir) writeProfileSummary(profileDir, memory, startedAt);
    return;
  }
  const results: BenchResults = {
    mode: settings.mode,
    startedAt,
    durationInSeconds: (performance.now() - runStarted) / 1000,
    machine: describeMachine(),
    loadAverages: { atStart: loadAtStart, atEnd: loadAverage() },
    fanout,
    cluster,
    memory,
    ingest: ingest!,
    endToEnd: endToEnd!,
    flush: flush!,
    latencyPlacement,
    centrifugo,
    redisModes,
    changes: changes ?? null,
  };
  const checks = buildChecks(results);
  console.log(
    `\n${markdownTable(checks)}\n\n${ingestTable(results.ingest, results.changes ?? null, results.centrifugo)}\n\n${fanoutTable(results)}\n`,
  );
  log(`${checks.filter((c) => c.met).length}/${checks.length} targets met`);
  // A profiled run's figures are perturbed by the profiler: they do not replace the published ones.
  if (!profileDir) {
    writeOutputs(results, checks, {
      json: join(BENCH_SOURCE_DIR, "results.json"),
      png: join(BENCH_SOURCE_DIR, "results.png"),
      readme: join(BENCH_SOURCE_DIR, "README.md"),
    });
    log("wrote bench/results.json, bench/results.png, bench/README.md");
  }
  if (profileDir) writeProfileSummary(profileDir, memory, startedAt);
}

function writeProfileSummary(profileDir: string, memory: readonly MemoryRow[], startedAt: string): void {
  const text = summarizeProfiles(profileDir, memory);
  console.log(`\n${text}`);
  writeFileSync(
    join(BENCH_SOURCE_DIR, "profile.txt"),
    `${settings.mode} run ${startedAt} with --profile${only ? ` (--only=${[...only].join(",")})` : ""}\n\n${text}\n`,
  );
  log("wrote bench/profile.txt");
}

/** CPU profiles of every server (what its time went to) and the heap growth per idle connection. */
function summarizeProfiles(profileDir: string, memory: readonly MemoryRow[]): string {
  const parts: string[] = [];
  for (const file of readdirSync(profileDir)
    .filter((name) => name.endsWith(".cpuprofile"))
    .sort()) {
    parts.push(formatCpuSummary(file, summarizeCpuProfile(join(profileDir, file))));
  }
  for (const row of memory) {
    const before = join(profileDir, `${row.stack}-before.heapsnapshot`);
    const after = join(profileDir, `${row.stack}-after.heapsnapshot`);
    parts.push(
      formatHeapGrowth(
        `heap growth, ${row.stack}, ${row.connections} idle connections`,
        heapGrowthPerConnection(before, after, row.connections),
      ),
    );
  }
  return parts.join("\n\n");
}

/** The run's directory, once created: its store data is removed after a successful run, its logs kept. */
let runDir: string | undefined;

try {
  await main();
} catch (error) {
  // A refused figure is a finding about the server, not a bench crash: its message names the
  // check and the window, and no table, results.json or chart is written.
  if (error instanceof FigureRefused) console.error(`bench refused to report figures from a broken run: ${error.message}`);
  else console.error("bench failed:", error);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
if (runDir && process.exitCode !== 1) {
  // Hundreds of MB of Redis/Cassandra data and heap snapshots per run; the logs stay for reading.
  for (const data of ["redis", "cassandra", "centrifugo-redis", "redis-cluster"])
    rmSync(join(runDir, data), { recursive: true, force: true });
  for (const file of profiling ? readdirSync(join(runDir, "profiles")).filter((name) => name.endsWith(".heapsnapshot")) : [])
    rmSync(join(runDir, "profiles", file));
}
