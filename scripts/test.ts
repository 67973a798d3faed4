/**
 * `npm test`: starts Redis and Cassandra when none is given (CHAT_TEST_REDIS_URL,
 * CHAT_TEST_CASSANDRA), creates a unique keyspace for this run, then runs every compiled
 * `*.test.js` with node's test runner. Integration tests start their own socket nodes,
 * flusher and HAProxy against these stores, with a unique Redis key prefix each.
 *
 * CHAT_TEST_REDIS=cluster: the apps of the integration tests run on a Redis Cluster instead,
 * the one in CHAT_TEST_REDIS_CLUSTER_NODES (host:port,...) or else a local 3+3 cluster started
 * here. A single Redis given in CHAT_TEST_REDIS_URL stays available to the tests that need one.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, relative } from "node:path";
import { REPO_ROOT } from "./infra/paths.js";
import { freePort } from "./infra/process.js";
import { startRedisCluster } from "./infra/redis-cluster.js";
import { cassandraConfigFor, migrateKeyspace, startClusterStores, startStores } from "./infra/stack.js";

const started = Date.now();
const log = (line: string) => console.log(`[test harness +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);
const filter = process.argv.slice(2);

function findTests(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : findTests(path);
    return entry.name.endsWith(".test.js") ? [path] : [];
  });
}

/**
 * Test files run in parallel, each its own process with its own nodes, flusher and HAProxy. One
 * file per core, less one for the shared Redis and Cassandra (at least 1): on 2 cores the files
 * run one at a time, and a larger machine runs the Cassandra-heavy files side by side.
 * CHAT_TEST_CONCURRENCY overrides it.
 */
function testConcurrency(): number {
  const override = process.env.CHAT_TEST_CONCURRENCY;
  if (override !== undefined) {
    const value = Number(override);
    if (!Number.isInteger(value) || value < 1) throw new Error(`CHAT_TEST_CONCURRENCY must be a positive integer, got "${override}"`);
    return value;
  }
  return Math.max(1, availableParallelism() - 1);
}

const concurrency = testConcurrency();
const tests = findTests(join(REPO_ROOT, "dist")).filter((file) => filter.length === 0 || filter.some((part) => file.includes(part)));
const dir = mkdtempSync(join(tmpdir(), "chat-test-"));
const redisMode = process.env.CHAT_TEST_REDIS ?? "single";
let stores: { stop(): Promise<void> } | undefined;
let exitCode = 1;
try {
  if (redisMode !== "single" && redisMode !== "cluster")
    throw new Error(`CHAT_TEST_REDIS must be "single" or "cluster", got "${redisMode}"`);
  let redisUrl = process.env.CHAT_TEST_REDIS_URL;
  let redisClusterNodes = process.env.CHAT_TEST_REDIS_CLUSTER_NODES;
  let cassandra = process.env.CHAT_TEST_CASSANDRA;
  const storeOptions = { dir, cassandraNativePort: await freePort(), cassandraStoragePort: await freePort(), log };
  if (redisMode === "cluster" && !redisClusterNodes) {
    if (cassandra) {
      // The node timeout startClusterStores uses too: a loaded machine's pauses are not a dead primary.
      const redisCluster = await startRedisCluster({ dir: join(dir, "redis-cluster"), nodeTimeoutInMs: 5000 });
      stores = redisCluster;
      redisClusterNodes = redisCluster.seeds.join(",");
    } else {
      const clusterStores = await startClusterStores(storeOptions);
      stores = clusterStores;
      redisClusterNodes = clusterStores.redisCluster.seeds.join(",");
      cassandra = clusterStores.cassandraContactPoint;
    }
    log(`stores up: Redis Cluster ${redisClusterNodes}, Cassandra ${cassandra}`);
  } else if ((redisMode === "single" && !redisUrl) || !cassandra) {
    const singleStores = await startStores({ ...storeOptions, redisPort: await freePort() });
    stores = singleStores;
    redisUrl ??= singleStores.redis.url;
    cassandra ??= singleStores.cassandraContactPoint;
    log(`stores up: Redis ${redisUrl}, Cassandra ${cassandra}`);
  }
  const keyspace = `chat_test_${Date.now().toString(36)}_${process.pid}`;
  await migrateKeyspace(cassandraConfigFor(cassandra, keyspace));
  log(
    `keyspace ${keyspace} migrated; running ${tests.length} test files, ${concurrency} at a time${redisMode === "cluster" ? ", with the apps on the Redis Cluster" : ""}`,
  );
  exitCode = await new Promise<number>((resolve) => {
    const child = spawn(
      process.execPath,
      [
        "--enable-source-maps",
        "--test",
        `--test-concurrency=${concurrency}`,
        "--test-reporter=spec",
        ...tests.map((file) => relative(REPO_ROOT, file)),
      ],
      {
        cwd: REPO_ROOT,
        stdio: "inherit",
        env: {
          ...process.env,
          CHAT_TEST_REDIS_URL: redisUrl,
          // Unset in single mode, so a value left in the shell does not switch the fixture to a cluster.
          CHAT_TEST_REDIS_CLUSTER_NODES: redisMode === "cluster" ? redisClusterNodes : undefined,
          CHAT_TEST_CASSANDRA: cassandra,
          CHAT_TEST_KEYSPACE: keyspace,
          CHAT_TEST_LOG_DIR: join(dir, "logs"),
        },
      },
    );
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
} catch (error) {
  console.error(error);
} finally {
  await stores?.stop();
  if (exitCode === 0) rmSync(dir, { recursive: true, force: true });
  else log(`logs kept in ${dir}`);
}
log(`done (exit ${exitCode})`);
process.exit(exitCode);
