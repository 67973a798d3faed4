/**
 * kill -9 of a socket node while its clients send. Sends in flight on the dead node get no ack;
 * the clients reconnect through the gateway (to the surviving node) and send those messages
 * again with the same clientId. Every acknowledged message is stored exactly once, seqs 1..N.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { testStores } from "../fixture.js";
import { cassandraConfigFor } from "../../scripts/infra/stack.js";
import { startFaultCluster, faultDir, roomsFor, SHARDS, type FaultCluster } from "./cluster.js";
import { sendKnownSet } from "./known-set.js";
import { assertNothingLost, readRooms, waitForDrain } from "./verify.js";

const COUNT = 2000;
let cluster: FaultCluster | undefined;
after(async () => cluster?.stop());

test("a socket node killed -9 while its clients send: lost = 0, duplicates = 0", { timeout: 180_000 }, async () => {
  const started = Date.now();
  const stores = testStores();
  cluster = await startFaultCluster({
    dir: faultDir("node-kill"),
    redisUrl: stores.redisUrl,
    cassandra: cassandraConfigFor(stores.cassandraContactPoint, stores.keyspace),
    nodeCount: 2,
  });
  const rooms = roomsFor("node-kill", 4);
  let victim: (typeof cluster.apps.nodes)[number] | undefined;
  let killedAt = 0;
  const sent = await sendKnownSet({
    url: cluster.url,
    token: cluster.token,
    rooms,
    users: 6,
    count: COUNT,
    ratePerSecond: 400,
    deadlineInMs: 90_000,
    onProgress: {
      fraction: 0.3,
      // The node of the first user: round-robin cannot leave the victim without clients.
      run: async (nodesOfUsers) => {
        victim = cluster!.apps.nodes.find((node) => node.process.name === nodesOfUsers[0]);
        assert.ok(victim, `user 0 is on no known node (${nodesOfUsers[0]})`);
        killedAt = Date.now();
        await victim.process.kill();
      },
    },
  });
  assert.ok(victim, "the fault was injected");
  assert.equal(await victim.process.exited, "SIGKILL");
  assert.ok(killedAt > 0);
  // At least user 0 was on the victim: its socket died and came back.
  assert.ok(sent.reconnects > 0, "some clients lost their node and reconnected");
  await waitForDrain(cluster.redis, cluster.prefix, SHARDS, 60_000);
  assertNothingLost(sent.acks, await readRooms(cluster.cassandra, rooms), COUNT);
  const duplicatesAnswered = sent.acks.filter((ack) => ack.duplicate).length;
  console.log(
    `# node kill: ${COUNT} messages in ${sent.seconds.toFixed(1)} s, ${sent.reconnects} reconnects, ${sent.timeouts} timed-out sends retried, ${duplicatesAnswered} retries answered duplicate; test ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
});
