/**
 * The supervised local stack (`npm start`'s supervisor over the same bring-up) heals itself:
 * while clients send and resend per the protocol, kill -9 a socket node, the flusher, Redis and
 * HAProxy in turn. Each is restarted by the supervisor within seconds and the gateway's /readyz
 * answers 200 again; then nothing acknowledged is lost, nothing is stored twice, and every member
 * still in a room holds every acknowledged message.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { ManagedProcess } from "../../scripts/infra/process.js";
import { startRedis, type RedisServer } from "../../scripts/infra/redis.js";
import { cassandraConfigFor } from "../../scripts/infra/stack.js";
import { superviseCluster } from "../../scripts/infra/supervise-cluster.js";
import type { Supervisor } from "../../scripts/infra/supervisor.js";
import { eventually, testStores } from "../fixture.js";
import { faultDir, roomsFor, SHARDS, startFaultCluster, startOwnRedis, type FaultCluster } from "../faults/cluster.js";
import { sendKnownSet } from "../faults/known-set.js";
import { assertNothingLost, readRooms, waitForDrain } from "../faults/verify.js";
import { RoomMember } from "./member.js";

const COUNT = 1500;
/** "Back by itself within seconds": from the kill to a restarted process and /readyz 200. */
const BACK_WITHIN_MS = 15_000;

let cluster: FaultCluster | undefined;
let supervisor: Supervisor | undefined;
let redis: { redis: RedisServer; restartRedis(): Promise<RedisServer> } | undefined;
const members: RoomMember[] = [];
after(async () => {
  for (const member of members) member.close();
  await supervisor?.stop();
  await cluster?.stop();
  await redis?.redis.stop();
});

async function readyz(url: string): Promise<number> {
  return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) })).status;
}

test(
  "kill -9 of a node, the flusher, Redis and HAProxy under load: each comes back by itself; lost = 0, duplicates = 0, members hold every ack",
  { timeout: 170_000 },
  async () => {
    const started = Date.now();
    const stores = testStores();
    const dir = faultDir("self-healing");
    // A Redis of its own (this test kills it), restarted on its port and AOF.
    const own = await startOwnRedis(dir, "everysec");
    redis = {
      redis: own.server,
      restartRedis: async () => (redis!.redis = await startRedis({ dataDir: own.dataDir, port: own.port, appendFsync: own.appendFsync })),
    };
    cluster = await startFaultCluster({
      dir,
      redisUrl: own.server.url,
      cassandra: cassandraConfigFor(stores.cassandraContactPoint, stores.keyspace),
      nodeCount: 2,
    });
    const supervisorLines: string[] = [];
    supervisor = superviseCluster(cluster.apps, redis, {
      log: (line) => (supervisorLines.push(line), console.log(`# ${line}`)),
      onCrashLoop: (reason) => assert.fail(`crash loop: ${reason}`),
    });

    const rooms = roomsFor("self-healing", 2);
    for (const room of rooms) {
      for (let m = 0; m < 2; m++) members.push(new RoomMember(cluster.url, await cluster.token(`member-${m}-${room}`, [room]), room));
    }
    await eventually("members joined", async () => (members.every((member) => member.joins > 0) ? true : undefined));

    const c = cluster;
    const victims: { name: string; process: () => ManagedProcess }[] = [
      { name: "n1", process: () => c.apps.nodes[0]!.process },
      { name: "flusher-1", process: () => c.apps.flusher.process },
      { name: "redis", process: () => redis!.redis.process },
      { name: "haproxy gateway", process: () => c.apps.gateway.process },
    ];
    const backAfter: Record<string, number> = {};
    let sendsDone = false;
    const faults = (async () => {
      await sleep(2000);
      for (const victim of victims) {
        assert.ok(!sendsDone, `the sends were still running when ${victim.name} was killed`);
        const killed = victim.process();
        const killedAt = Date.now();
        await killed.kill();
        assert.equal(await killed.exited, "SIGKILL");
        await eventually(
          `${victim.name} restarted and /readyz 200`,
          async () =>
            victim.process() !== killed &&
            supervisor!.restarts.some((r) => r.component === victim.name) &&
            (await readyz(c.url).catch(() => 0)) === 200
              ? true
              : undefined,
          BACK_WITHIN_MS,
        );
        backAfter[victim.name] = (Date.now() - killedAt) / 1000;
        await sleep(1500);
      }
    })();

    const sent = await sendKnownSet({
      url: cluster.url,
      token: cluster.token,
      rooms,
      users: 4,
      count: COUNT,
      ratePerSecond: 50,
      deadlineInMs: 120_000,
    }).finally(() => (sendsDone = true));
    await faults;

    assert.deepEqual(
      supervisor.restarts.map((restart) => restart.component),
      victims.map((victim) => victim.name),
      "each victim restarted once, by the supervisor",
    );
    assert.ok(
      supervisorLines.some((line) => line.includes("redis exited unexpectedly (SIGKILL)")),
      "the restart is logged loudly",
    );
    await waitForDrain(cluster.redis, cluster.prefix, SHARDS, 60_000);
    assertNothingLost(sent.acks, await readRooms(cluster.cassandra, rooms), COUNT);
    await eventually(
      "every member holds every acknowledged message of its room",
      async () => (members.every((member) => member.holdsAll(sent.acks)) ? true : undefined),
      20_000,
    );
    console.log(
      `# self-healing: back after ${JSON.stringify(backAfter)} s; ${COUNT} messages in ${sent.seconds.toFixed(1)} s, ${sent.reconnects} sender reconnects, ` +
        `${sent.timeouts} timed-out sends retried, ${sent.unavailable.length} UNAVAILABLE; member joins ${members.map((m) => m.joins).join(",")}; test ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  },
);
