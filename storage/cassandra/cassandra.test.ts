/**
 * Starts a real Cassandra 5.0 node (scripts/infra/cassandra.ts) and checks that it stores and
 * returns a row, then that stopping it leaves no process behind.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import cassandra from "cassandra-driver";
import { LOCAL_DATA_CENTER, startCassandra } from "../../scripts/infra/cassandra.js";
import { freePort } from "../../scripts/infra/process.js";

/** True while any process of the group (the JVM was started as a group leader) is alive. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("a Cassandra node writes and reads a row, and stops completely", { timeout: 10 * 60_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "cassandra-test-"));
  const node = await startCassandra({
    dataDir,
    logFile: join(dataDir, "logs", "stdout.log"),
    nativePort: await freePort(),
    storagePort: await freePort(),
  });
  const pid = node.process.child.pid;
  assert.ok(pid);

  const client = new cassandra.Client({
    contactPoints: [node.host],
    protocolOptions: { port: node.port },
    localDataCenter: LOCAL_DATA_CENTER,
  });
  const keyspace = `test_${randomUUID().replaceAll("-", "")}`;
  try {
    await client.execute(`CREATE KEYSPACE ${keyspace} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`);
    await client.execute(`CREATE TABLE ${keyspace}.messages (room text, id timeuuid, body text, PRIMARY KEY (room, id))`);
    const id = cassandra.types.TimeUuid.now();
    await client.execute(`INSERT INTO ${keyspace}.messages (room, id, body) VALUES (?, ?, ?)`, ["lobby", id, "hello"], { prepare: true });

    const result = await client.execute(`SELECT id, body FROM ${keyspace}.messages WHERE room = ?`, ["lobby"], { prepare: true });
    assert.equal(result.rowLength, 1);
    assert.equal(result.first().get("body"), "hello");
    assert.equal(result.first().get("id").toString(), id.toString());
  } finally {
    await client.shutdown();
    await node.stop();
  }

  // 143 = 128 + SIGTERM: the JVM ran Cassandra's shutdown hook and exited, it was not SIGKILLed.
  assert.equal(await node.process.exited, 143);
  assert.equal(groupAlive(pid), false, `Cassandra process group ${pid} is still alive after stop()`);
  // Kept when the test fails above, so its logs can be read.
  await rm(dataDir, { recursive: true, force: true });
});
