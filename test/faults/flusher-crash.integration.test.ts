/**
 * kill -9 of the flusher before its Cassandra write, and after it but before XACK. The kill
 * comes from the flusher itself on its first non-empty batch, the only way to land a SIGKILL
 * between two given steps: the cluster's flusher is replaced, before anything is sent, by the
 * test-only entry crashing-flusher.ts (the real flusher, its rows wrapped by the crash).
 * A second flusher, under another consumer name, must then XAUTOCLAIM the dead one's entries
 * and write them: lost = 0 and duplicates = 0, row by row.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { startFlusher } from "../../scripts/infra/apps.js";
import { testStores, eventually } from "../fixture.js";
import { cassandraConfigFor } from "../../scripts/infra/stack.js";
import { startFaultCluster, faultDir, roomsFor, SHARDS, type FaultCluster } from "./cluster.js";
import { sendKnownSet } from "./known-set.js";
import { RedisKeys } from "../../storage/keys.js";
import { assertNothingLost, readRooms, waitForDrain } from "./verify.js";

const COUNT = 600;
/** Compiled from test/faults/crashing-flusher.ts, relative to the repository. */
const CRASHING_FLUSHER = "dist/test/faults/crashing-flusher.js";

for (const crashAt of ["before-write", "before-ack"] as const) {
  test(`flusher killed -9 ${crashAt}: another flusher claims its entries; lost = 0, duplicates = 0`, { timeout: 180_000 }, async () => {
    const started = Date.now();
    const stores = testStores();
    const dir = faultDir(`flusher-${crashAt}`);
    const cluster: FaultCluster = await startFaultCluster({
      dir,
      redisUrl: stores.redisUrl,
      cassandra: cassandraConfigFor(stores.cassandraContactPoint, stores.keyspace),
      nodeCount: 2,
      env: { CHAT_FLUSHER_CLAIM_IDLE_MS: "2000" },
    });
    try {
      // Nothing is sent yet, so the cluster's flusher holds no entry: the crashing one takes its
      // place (and is stopped with the cluster) and is the only consumer when the sends come.
      await cluster.apps.flusher.stop();
      const crashingEnv = { HOST: "127.0.0.1", CHAT_FLUSHER_HTTP_PORT: "0", ...cluster.appEnv, CHAT_TEST_FLUSHER_CRASH_AT: crashAt };
      cluster.apps.flusher = await startFlusher(
        { name: "flusher-crashing", env: crashingEnv, logFile: join(dir, "flusher-crashing.log") },
        CRASHING_FLUSHER,
      );

      const rooms = roomsFor(`flusher-${crashAt}`, 3);
      const sent = await sendKnownSet({ url: cluster.url, token: cluster.token, rooms, users: 3, count: COUNT, deadlineInMs: 60_000 });

      // The flusher died by its own SIGKILL, holding a batch it never acknowledged.
      assert.equal(await cluster.apps.flusher.process.exited, "SIGKILL");
      let pending = 0;
      for (const stream of new RedisKeys(cluster.prefix, SHARDS).streams())
        pending += Number(((await cluster.redis.xpending(stream, "flushers")) as [number])[0]);
      assert.ok(pending > 0, "the dead flusher left entries pending");
      if (crashAt === "before-write") {
        assert.equal((await readRooms(cluster.cassandra, rooms)).length, 0, "killed before its first write: nothing in Cassandra yet");
      } else {
        assert.ok(
          (await readRooms(cluster.cassandra, rooms)).length > 0,
          "killed after its first write: those rows are in Cassandra, still pending in Redis",
        );
      }

      // The replacement has another consumer name: it can only get the entries by XAUTOCLAIM.
      await cluster.startFlusher("flusher-2");
      const drainSeconds = await waitForDrain(cluster.redis, cluster.prefix, SHARDS, 60_000);
      await eventually("no entry pending", async () => {
        let left = 0;
        for (const stream of new RedisKeys(cluster.prefix, SHARDS).streams())
          left += Number(((await cluster.redis.xpending(stream, "flushers")) as [number])[0]);
        return left === 0 ? true : undefined;
      });
      assertNothingLost(sent.acks, await readRooms(cluster.cassandra, rooms), COUNT);
      console.log(
        `# flusher ${crashAt}: ${COUNT} messages, ${pending} pending at the kill, drained by flusher-2 in ${drainSeconds.toFixed(1)} s; test ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    } finally {
      await cluster.stop();
    }
  });
}
