/**
 * kill -9 of the flusher before its Cassandra write, and after it but before XACK. The kill
 * comes from the flusher itself (CHAT_FLUSHER_CRASH_AT, a fault-injection hook that is off by
 * default) on its first non-empty batch: the only way to land a SIGKILL between two given steps.
 * A second flusher, under another consumer name, must then XAUTOCLAIM the dead one's entries
 * and write them: lost = 0 and duplicates = 0, row by row.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { testStores, eventually } from "../fixture.js";
import { cassandraConfigFor } from "../../scripts/infra/stack.js";
import { startFaultCluster, faultDir, roomsFor, SHARDS, type FaultCluster } from "./cluster.js";
import { sendKnownSet } from "./known-set.js";
import { assertNothingLost, readRooms, waitForDrain } from "./verify.js";

const COUNT = 600;
for (const crashAt of ["before-write", "before-ack"] as const) {
  test(`flusher killed -9 ${crashAt}: another flusher claims its entries; lost = 0, duplicates = 0`, { timeout: 180_000 }, async () => {
    const started = Date.now();
    const stores = testStores();
    const cluster: FaultCluster = await startFaultCluster({
      dir: faultDir(`flusher-${crashAt}`),
      redisUrl: stores.redisUrl,
      cassandra: cassandraConfigFor(stores.cassandraContactPoint, stores.keyspace),
      nodeCount: 2,
      env: { CHAT_FLUSHER_CRASH_AT: crashAt, CHAT_FLUSHER_CLAIM_IDLE_MS: "2000" },
    });
    try {
      const rooms = roomsFor(`flusher-${crashAt}`, 3);
      const sent = await sendKnownSet({ url: cluster.url, token: cluster.token, rooms, users: 3, count: COUNT, deadlineInMs: 60_000 });

      // The flusher died by its own SIGKILL, holding a batch it never acknowledged.
      assert.equal(await cluster.apps.flusher.process.exited, "SIGKILL");
      let pending = 0;
      for (let shard = 0; shard < SHARDS; shard++) pending += Number(((await cluster.redis.xpending(`${cluster.prefix}stream:${shard}`, "flushers")) as [number])[0]);
      assert.ok(pending > 0, "the dead flusher left entries pending");
      if (crashAt === "before-write") {
        assert.equal((await readRooms(cluster.cassandra, rooms)).length, 0, "killed before its first write: nothing in Cassandra yet");
      } else {
        assert.ok((await readRooms(cluster.cassandra, rooms)).length > 0, "killed after its first write: those rows are in Cassandra, still pending in Redis");
      }

      // The replacement has another consumer name: it can only get the entries by XAUTOCLAIM.
      await cluster.startFlusher("flusher-2", { CHAT_FLUSHER_CRASH_AT: "" });
      const drainSeconds = await waitForDrain(cluster.redis, cluster.prefix, SHARDS, 60_000);
      await eventually("no entry pending", async () => {
        let left = 0;
        for (let shard = 0; shard < SHARDS; shard++) left += Number(((await cluster.redis.xpending(`${cluster.prefix}stream:${shard}`, "flushers")) as [number])[0]);
        return left === 0 ? true : undefined;
      });
      assertNothingLost(sent.acks, await readRooms(cluster.cassandra, rooms), COUNT);
      console.log(`# flusher ${crashAt}: ${COUNT} messages, ${pending} pending at the kill, drained by flusher-2 in ${drainSeconds.toFixed(1)} s; test ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      await cluster.stop();
    }
  });
}
