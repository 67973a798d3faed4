/**
 * Cassandra stopped for 60 s under load, then started again, on a Redis and a Cassandra of this
 * test's own. While Cassandra is down, sends are still acknowledged until the write buffer
 * reaches its cap (CHAT_BUFFER_MAX_ENTRIES); past it they get UNAVAILABLE with retryAfterMs and
 * the clients retry later with the same clientId. When Cassandra is back, the backlog drains by
 * itself; the test logs how long that took. Then lost = 0 and duplicates = 0, row by row.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startCassandra, type CassandraNode } from "../../scripts/infra/cassandra.js";
import {
  faultDir,
  freshKeyspace,
  roomsFor,
  SHARDS,
  startFaultCluster,
  startOwnCassandra,
  startOwnRedis,
  type FaultCluster,
  type OwnRedis,
} from "./cluster.js";
import { sendKnownSet } from "./known-set.js";
import { assertNothingLost, backlog, readRooms, waitForDrain } from "./verify.js";

const OUTAGE_IN_MS = 60_000;
const RATE_PER_SECOND = 100;
/** Reached about 30 s into the outage at RATE_PER_SECOND, so both sides of the cap are seen. */
const BUFFER_CAP = 3000;
const COUNT = 8000;
/** The backlog counts as drained once it is below one second of load. */
const DRAINED_BELOW = RATE_PER_SECOND;

let cluster: FaultCluster | undefined;
let redis: OwnRedis | undefined;
let cassandraNode: CassandraNode | undefined;
after(async () => {
  await cluster?.stop();
  await Promise.allSettled([cassandraNode?.stop(), redis?.server.stop()]);
});

test(
  "Cassandra down for 60 s under load: acks up to the buffer cap, UNAVAILABLE past it, the backlog drains by itself; lost = 0, duplicates = 0",
  { timeout: 600_000 },
  async () => {
    const started = Date.now();
    const dir = faultDir("cassandra-outage");
    const [ownRedis, ownCassandra] = await Promise.all([startOwnRedis(dir, "everysec"), startOwnCassandra(dir)]);
    redis = ownRedis;
    cassandraNode = ownCassandra.node;
    const config = await freshKeyspace([ownCassandra.contactPoint]);
    cluster = await startFaultCluster({
      dir,
      redisUrl: ownRedis.server.url,
      cassandra: config,
      nodeCount: 2,
      env: { CHAT_BUFFER_MAX_ENTRIES: String(BUFFER_CAP) },
    });
    const rooms = roomsFor("outage", 8);
    console.log(`# outage: stores and cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const timeline = { stoppedAt: 0, restartAt: 0, readyAt: 0, drainedAt: 0, backlogAtRestart: 0, maxBacklog: 0 };
    const fault = async () => {
      await sleep(5000);
      await ownCassandra.node.stop();
      timeline.stoppedAt = Date.now();
      const outageEnd = timeline.stoppedAt + OUTAGE_IN_MS;
      while (Date.now() < outageEnd) {
        timeline.maxBacklog = Math.max(timeline.maxBacklog, await backlog(cluster!.redis, cluster!.prefix, SHARDS));
        await sleep(500);
      }
      timeline.restartAt = Date.now();
      timeline.backlogAtRestart = await backlog(cluster!.redis, cluster!.prefix, SHARDS);
      cassandraNode = await startCassandra(ownCassandra.options);
      timeline.readyAt = Date.now();
      for (;;) {
        if ((await backlog(cluster!.redis, cluster!.prefix, SHARDS)) < DRAINED_BELOW) break;
        if (Date.now() - timeline.readyAt > 300_000) throw new Error("backlog not drained 300 s after Cassandra came back");
        await sleep(100);
      }
      timeline.drainedAt = Date.now();
    };
    const [sent] = await Promise.all([
      sendKnownSet({
        url: cluster.url,
        token: cluster.token,
        rooms,
        users: 4,
        count: COUNT,
        ratePerSecond: RATE_PER_SECOND,
        window: 20,
        deadlineInMs: 420_000,
      }),
      fault(),
    ]);
    await waitForDrain(cluster.redis, cluster.prefix, SHARDS, 120_000);

    const ackedDuringOutage = sent.acks.filter((ack) => ack.at > timeline.stoppedAt && ack.at < timeline.restartAt).length;
    const drainSeconds = (timeline.drainedAt - timeline.readyAt) / 1000;
    console.log(
      `# outage: Cassandra down ${((timeline.restartAt - timeline.stoppedAt) / 1000).toFixed(1)} s; ${ackedDuringOutage} sends acknowledged while it was down; ` +
        `${sent.unavailable.length} UNAVAILABLE answers (retryAfterMs ${[...new Set(sent.unavailable)].join(",")}); max backlog ${timeline.maxBacklog} (cap ${BUFFER_CAP}); ` +
        `restart took ${((timeline.readyAt - timeline.restartAt) / 1000).toFixed(1)} s; backlog of ${timeline.backlogAtRestart} drained (below ${DRAINED_BELOW}) ${drainSeconds.toFixed(1)} s after Cassandra answered CQL`,
    );
    assert.ok(ackedDuringOutage > 0, "sends were acknowledged while Cassandra was down");
    assert.ok(sent.unavailable.length > 0, "sends past the buffer cap were refused");
    assert.ok(
      sent.unavailable.every((retryAfterMs) => retryAfterMs > 0),
      "every UNAVAILABLE carried retryAfterMs",
    );
    assert.ok(timeline.maxBacklog <= BUFFER_CAP, `the buffer never exceeded its cap (max ${timeline.maxBacklog})`);
    assertNothingLost(sent.acks, await readRooms(cluster.cassandra, rooms), COUNT);
    console.log(`# outage: test ${((Date.now() - started) / 1000).toFixed(1)} s`);
  },
);
