/**
 * Redis killed -9 under load and started again on its data dir (AOF), on a Redis of this
 * test's own. Sends while Redis is down are answered UNAVAILABLE, promptly (a socket send and a
 * REST post are probed during the outage, and the load must have felt it), and are retried with
 * the same clientId; no send may go unanswered for the ack timeout: a node that hangs on a dead
 * Redis instead of answering fails here. After the AOF replay the idempotency records, room
 * seqs, streams and the consumer group are back, so lost = 0 and duplicates = 0, seqs 1..N, row
 * by row.
 *
 * appendfsync always: the setting under which an acknowledged send survives a crash of the
 * machine too; docs/durability.md says what everysec and no can lose.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { io as connect } from "socket.io-client";
import { httpRequest, testStores } from "../fixture.js";
import { startRedis, type RedisServer } from "../../scripts/infra/redis.js";
import { cassandraConfigFor } from "../../scripts/infra/stack.js";
import { faultDir, roomsFor, SHARDS, startFaultCluster, startOwnRedis, type FaultCluster } from "./cluster.js";
import { sendKnownSet } from "./known-set.js";
import { assertNothingLost, readRooms, waitForDrain } from "./verify.js";

const COUNT = 3000;
const DOWN_IN_MS = 3000;
/** Ack timeout of the load: an answer, even UNAVAILABLE, must come sooner than this. */
const ACK_TIMEOUT_IN_MS = 5000;
let cluster: FaultCluster | undefined;
let server: RedisServer | undefined;
after(async () => {
  await cluster?.stop();
  await server?.stop();
});

test("Redis killed -9 under load and restarted from its AOF: lost = 0, duplicates = 0", { timeout: 240_000 }, async () => {
  const started = Date.now();
  const dir = faultDir("redis-restart");
  const stores = testStores();
  const redis = await startOwnRedis(dir, "always");
  server = redis.server;
  cluster = await startFaultCluster({
    dir,
    redisUrl: redis.server.url,
    cassandra: cassandraConfigFor(stores.cassandraContactPoint, stores.keyspace),
    nodeCount: 2,
  });
  const rooms = roomsFor("redis-restart", 4);
  // A user of its own, connected before the outage, probes it directly.
  const probeRoom = rooms[0]!;
  const probeToken = await cluster.token(`redis-restart-probe-${Date.now().toString(36)}`, [probeRoom]);
  const probe = connect(cluster.url, { auth: { token: probeToken }, reconnection: false, forceNew: true, transports: ["websocket"] });
  await new Promise<void>((resolve, reject) => (probe.once("connect", resolve), probe.once("connect_error", reject)));
  const outage = { from: 0, to: 0 };
  let restartSeconds = 0;
  let probed: { socket: unknown; rest: { status: number; code: unknown } } | undefined;
  const sent = await sendKnownSet({
    url: cluster.url,
    token: cluster.token,
    rooms,
    users: 4,
    count: COUNT,
    ratePerSecond: 300,
    deadlineInMs: 120_000,
    ackTimeoutInMs: ACK_TIMEOUT_IN_MS,
    onProgress: {
      fraction: 0.3,
      run: async () => {
        outage.from = Date.now();
        await redis.server.process.kill();
        const [socket, rest] = await Promise.all([
          probe
            .timeout(ACK_TIMEOUT_IN_MS)
            .emitWithAck("send", { room: probeRoom, clientId: "probe-during-outage", text: "probe" })
            .catch(() => `no answer within ${ACK_TIMEOUT_IN_MS} ms: the node hung instead of answering UNAVAILABLE`),
          httpRequest(`${cluster!.url}/api/rooms/${probeRoom}/messages`, {
            method: "POST",
            token: probeToken,
            body: { clientId: "probe-rest-during-outage", text: "probe" },
          }).then(
            (answer) => ({ status: answer.status, code: (answer.body as { error?: { code?: unknown } }).error?.code }),
            () => ({ status: 0, code: "no answer within 10 s: the node hung instead of answering 503" }),
          ),
        ]);
        probed = { socket, rest };
        await sleep(Math.max(0, outage.from + DOWN_IN_MS - Date.now()));
        const restart = Date.now();
        server = await startRedis({ dataDir: redis.dataDir, port: redis.port, appendFsync: redis.appendFsync });
        outage.to = Date.now();
        restartSeconds = (outage.to - restart) / 1000;
      },
    },
  });
  probe.disconnect();
  assert.equal(await redis.server.process.exited, "SIGKILL");
  // The outage was felt, as UNAVAILABLE: by the probes sent while Redis was down ...
  assert.equal(
    (probed?.socket as { ok?: unknown } | undefined)?.ok,
    false,
    `a socket send during the outage: ${JSON.stringify(probed?.socket)}`,
  );
  assert.equal(
    (probed?.socket as { error: { code: unknown } }).error.code,
    "UNAVAILABLE",
    `a socket send during the outage: ${JSON.stringify(probed?.socket)}`,
  );
  assert.deepEqual(probed?.rest, { status: 503, code: "UNAVAILABLE" }, "a REST post during the outage");
  // ... and by the load, inside the outage window (an answer already on its way may land just after).
  const duringOutage = sent.failures.filter(
    (failure) => failure.kind === "UNAVAILABLE" && failure.at >= outage.from && failure.at <= outage.to + ACK_TIMEOUT_IN_MS,
  );
  assert.ok(duringOutage.length > 0, `the load saw no UNAVAILABLE during the outage (${sent.unavailable.length} in all)`);
  // A node that waited for Redis instead of answering would show up as sends with no answer.
  assert.equal(
    sent.timeouts,
    0,
    `${sent.timeouts} sends got no answer within ${ACK_TIMEOUT_IN_MS} ms: a node hung instead of answering UNAVAILABLE`,
  );
  await waitForDrain(cluster.redis, cluster.prefix, SHARDS, 60_000);
  assertNothingLost(sent.acks, await readRooms(cluster.cassandra, rooms), COUNT);
  console.log(
    `# redis restart: ${COUNT} messages in ${sent.seconds.toFixed(1)} s, Redis down ${DOWN_IN_MS / 1000} s + ${restartSeconds.toFixed(1)} s AOF start; ` +
      `${sent.unavailable.length} UNAVAILABLE, ${sent.timeouts} timed-out sends retried, ${sent.acks.filter((ack) => ack.duplicate).length} answered duplicate; test ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
});
