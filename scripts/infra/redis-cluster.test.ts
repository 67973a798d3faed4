import assert from "node:assert/strict";
import { test } from "node:test";
import { parseClusterNodes, type RedisClusterNode } from "./redis-cluster-nodes.js";
import type { ManagedProcess } from "./process.js";

function node(port: number): RedisClusterNode {
  return {
    port,
    busPort: port + 10000,
    address: `127.0.0.1:${port}`,
    dataDir: "",
    process: {} as ManagedProcess,
    id: "",
    role: "primary",
    state: "running",
  };
}

// CLUSTER NODES while the primary on 7001 is marked failed and its replica 7004 not yet promoted;
// 7002 owns a range and a single slot.
const text = [
  "aaa 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [5461->-bbb]",
  "bbb 127.0.0.1:7001@17001 master,fail - 1 1 2 disconnected 5461-10922",
  "ccc 127.0.0.1:7002@17002 master - 0 1 3 connected 10923-15999 16000",
  "ddd 127.0.0.1:7003@17003 slave aaa 0 1 1 connected",
  "eee 127.0.0.1:7004@17004 slave bbb 0 1 2 connected",
  "fff 127.0.0.1:7005@17005 slave ccc 0 1 3 connected",
].join("\n");

test("CLUSTER NODES: ids and roles set, slot ranges per live primary; a failed primary owns nothing (its slots wait for the failover), migration markers are not ownership", () => {
  const nodes = [7000, 7001, 7002, 7003, 7004, 7005].map(node);
  const owners = parseClusterNodes(text, nodes);
  assert.deepEqual(
    nodes.map((n) => [n.id, n.role]),
    [
      ["aaa", "primary"],
      ["bbb", "primary"],
      ["ccc", "primary"],
      ["ddd", "replica"],
      ["eee", "replica"],
      ["fff", "replica"],
    ],
  );
  assert.deepEqual(
    owners.map((owner) => [owner.primary.port, owner.slots, owner.replicas.map((replica) => replica.port)]),
    [
      [7000, [[0, 5460]], [7003]],
      [
        7002,
        [
          [10923, 15999],
          [16000, 16000],
        ],
        [7005],
      ],
    ],
  );
});
