/**
 * A reconnect storm, small: 50 SDK clients in a mix of rooms lose their sessions at the same
 * instant (HAProxy killed -9 and started again), while senders on the nodes keep writing and
 * each client writes one message during the outage. Every client catches up (the SDK's `synced`)
 * holding every message acknowledged before the fault, and ends with every acknowledged message
 * of its rooms once, in seq order, without a gap. The timing is `npm run sdk:storm`'s, not this
 * test's (speed lives in the bench).
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { runStorm } from "../../scripts/sdk-storm/storm.js";
import { startTestCluster, type TestCluster } from "../fixture.js";

let cluster: TestCluster | undefined;
after(async () => {
  await cluster?.stop();
});

test(
  "50 SDK clients cut off at once by a gateway crash: all catch up, nothing lost, nothing twice, no gap",
  { timeout: 120_000 },
  async () => {
    cluster = await startTestCluster();
    const running = cluster;
    const result = await runStorm(
      {
        gatewayUrl: running.url,
        nodeUrls: running.apps.nodes.map((_, i) => running.nodeUrl(i)),
        token: (userId, rooms) => running.token(userId, rooms),
        faultName: "HAProxy killed -9, started again at once",
        async fault() {
          await running.apps.gateway.process.kill();
          await running.apps.restartGateway();
        },
      },
      {
        clients: 50,
        smallRooms: 5,
        bigRooms: 1,
        sendIntervalInMs: 500,
        warmupInMs: 3000,
        boundInMs: 60_000,
        tag: `sdkstorm${Date.now().toString(36)}`,
        log: (line) => console.log(`# ${line}`),
      },
    );
    assert.deepEqual(result.problems, []);
    assert.equal(result.notCaughtUp, 0, "every client caught up");
    assert.equal(result.caughtUpEarly, 0, "no client said caught up before it held every seq acknowledged before the fault");
    assert.equal(result.lost, 0, "no acknowledged message missing");
    assert.equal(result.gaps, 0, "no gap");
    assert.equal(result.duplicates, 0, "no duplicate");
    assert.equal(result.outageSendsAcked, 50, "every send made during the outage acknowledged");
    assert.equal(result.failedSends, 0);
    assert.ok(result.acked > 50, `traffic flowed (${result.acked} acknowledged sends)`);
  },
);
