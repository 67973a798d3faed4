/**
 * A local Redis Cluster from Debian's redis-server: N primaries with R replicas each on
 * loopback, AOF on, created with `redis-cli --cluster create`. `npm start` in cluster mode, the
 * test harness's cluster mode and the failover tests use it; the fault helpers (kill -9 the
 * primary of a slot, pause a replica, wait for a failover) act on real processes only.
 */
import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { freePort, startProcess, waitFor } from "./process.js";
import { memoryArgs, type AppendFsync } from "./redis.js";
import { parseClusterNodes, parseInfo, type ParsedOwner, type RedisClusterNode, type SlotOwner } from "./redis-cluster-nodes.js";

export type { ClusterRole, RedisClusterNode, SlotOwner } from "./redis-cluster-nodes.js";

const run = promisify(execFile);

export interface RedisClusterOptions {
  /** Each node keeps its AOF, nodes.conf and log in `dir/<port>`. */
  dir: string;
  primaries?: number;
  replicasPerPrimary?: number;
  /** Client ports, one per node (primaries × (1 + replicasPerPrimary)); free ports when absent. */
  ports?: number[];
  /** Cluster bus ports, one per node; free ports when absent (port + 10000 may be taken or beyond 65535). */
  busPorts?: number[];
  appendFsync?: AppendFsync;
  /** cluster-node-timeout: how long a primary must be unreachable before its replica takes over. */
  nodeTimeoutInMs?: number;
  host?: string;
  /** Each node's `maxmemory` (noeviction); default CHAT_REDIS_MAXMEMORY, as for the single Redis. */
  maxmemory?: string;
  /** How long creation, sync and failovers may take. */
  readyTimeoutInMs?: number;
}

export interface RedisCluster {
  nodes: RedisClusterNode[];
  /** host:port of every node, the form CHAT_REDIS_CLUSTER_NODES takes. */
  seeds: string[];
  /** redis://host:port of every node. */
  seedUrls: string[];
  /** Reads CLUSTER NODES from a running node and refreshes each node's role. */
  topology(): Promise<SlotOwner[]>;
  /** The hash slot of a key, as the server computes it (hash tags included). */
  slotOf(key: string): Promise<number>;
  ownerOfSlot(slot: number): Promise<SlotOwner>;
  ownerOfKey(key: string): Promise<SlotOwner>;
  /** kill -9 the primary that owns `slot`; returns it. Its replica is promoted after the node timeout. */
  killPrimaryOfSlot(slot: number): Promise<RedisClusterNode>;
  kill(node: RedisClusterNode): Promise<void>;
  /** SIGSTOP / SIGCONT: the node keeps its sockets but answers nothing (a replica that falls behind). */
  pause(node: RedisClusterNode): void;
  resume(node: RedisClusterNode): void;
  /** Starts a killed node again on its port with its own data; it rejoins (as a replica if it was failed over). */
  restartNode(node: RedisClusterNode): Promise<void>;
  /** Resolves with the new primary of `slot` once a node other than `formerPrimary` owns it and the cluster is ok. */
  waitForFailover(slot: number, formerPrimary: RedisClusterNode, timeoutInMs?: number): Promise<RedisClusterNode>;
  /** cluster_state:ok on every running node and every running replica linked and synced. */
  waitUntilHealthy(timeoutInMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedisCluster(options: RedisClusterOptions): Promise<RedisCluster> {
  const {
    dir,
    primaries = 3,
    replicasPerPrimary = 1,
    appendFsync = "everysec",
    nodeTimeoutInMs = 2000,
    host = "127.0.0.1",
    readyTimeoutInMs = 30_000,
  } = options;
  const count = primaries * (1 + replicasPerPrimary);
  const memory = memoryArgs(options.maxmemory);
  if (primaries < 3) throw new Error(`a Redis Cluster needs at least 3 primaries, got ${primaries}`);
  for (const [name, given] of [
    ["ports", options.ports],
    ["busPorts", options.busPorts],
  ] as const) {
    if (given && given.length !== count)
      throw new Error(`${name}: ${count} needed (${primaries} primaries × ${1 + replicasPerPrimary}), got ${given.length}`);
  }
  const taken = new Set<number>([...(options.ports ?? []), ...(options.busPorts ?? [])]);
  const ports = options.ports ?? (await distinctFreePorts(count, taken, host));
  const busPorts = options.busPorts ?? (await distinctFreePorts(count, taken, host));

  const launch = (port: number, busPort: number, dataDir: string) =>
    startProcess({
      name: `redis-${port}`,
      command: "redis-server",
      args: [
        "--port",
        String(port),
        "--bind",
        host,
        "--dir",
        dataDir,
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-port",
        String(busPort),
        "--cluster-node-timeout",
        String(nodeTimeoutInMs),
        "--appendonly",
        "yes",
        "--appendfsync",
        appendFsync,
        // RDB snapshots off, as for the single Redis: AOF is the durability mechanism.
        "--save",
        "",
        ...memory,
        "--daemonize",
        "no",
        "--protected-mode",
        "no",
      ],
      logFile: join(dataDir, "redis.log"),
    });

  const nodes: RedisClusterNode[] = ports.map((port, i) => {
    const dataDir = join(dir, String(port));
    mkdirSync(dataDir, { recursive: true });
    return {
      port,
      busPort: busPorts[i]!,
      address: `${host}:${port}`,
      dataDir,
      process: launch(port, busPorts[i]!, dataDir),
      id: "",
      role: "primary",
      state: "running",
    };
  });

  const stop = async () => {
    // A stopped process holds SIGTERM pending: continue it first so it can shut down cleanly.
    for (const node of nodes) if (node.state === "paused") resumeNode(node);
    await Promise.allSettled(nodes.map((node) => node.process.stop()));
  };

  const running = () => nodes.filter((node) => node.state === "running");

  async function topology(): Promise<ParsedOwner[]> {
    let lastError: unknown;
    for (const node of running()) {
      try {
        const text = await ask(node, (client) => client.call("cluster", "nodes") as Promise<string>);
        return parseClusterNodes(text, nodes);
      } catch (error) {
        lastError = error;
      }
    }
    throw new Error(`no running cluster node answered CLUSTER NODES: ${String(lastError)}`);
  }

  async function ownerOfSlot(slot: number): Promise<SlotOwner> {
    const owners = await topology();
    const owner = owners.find((candidate) => candidate.slots.some(([from, to]) => slot >= from && slot <= to));
    if (!owner) throw new Error(`no primary owns slot ${slot}`);
    return { primary: owner.primary, replicas: owner.replicas };
  }

  async function slotOf(key: string): Promise<number> {
    const node = running()[0];
    if (!node) throw new Error("no running cluster node");
    return Number(await ask(node, (client) => client.call("cluster", "keyslot", key)));
  }

  async function healthy(): Promise<boolean> {
    const live = running();
    const checks = await Promise.all(
      live.map((node) =>
        ask(node, async (client) => {
          const info = parseInfo((await client.call("cluster", "info")) as string);
          if (info.cluster_state !== "ok" || info.cluster_slots_assigned !== "16384" || info.cluster_slots_fail !== "0") return false;
          const replication = parseInfo(await client.info("replication"));
          if (replication.role === "slave") return replication.master_link_status === "up" && replication.master_sync_in_progress === "0";
          return true;
        }),
      ),
    );
    return checks.every(Boolean);
  }

  const cluster: RedisCluster = {
    nodes,
    seeds: nodes.map((node) => node.address),
    seedUrls: nodes.map((node) => `redis://${node.address}`),
    topology: async () => (await topology()).map(({ primary, replicas }) => ({ primary, replicas })),
    slotOf,
    ownerOfSlot,
    ownerOfKey: async (key) => ownerOfSlot(await slotOf(key)),
    async killPrimaryOfSlot(slot) {
      const { primary } = await ownerOfSlot(slot);
      await cluster.kill(primary);
      return primary;
    },
    async kill(node) {
      if (node.state === "paused") resumeNode(node);
      node.state = "killed";
      await node.process.kill();
    },
    pause(node) {
      if (node.state !== "running") throw new Error(`${node.address} is ${node.state}, cannot pause it`);
      signal(node, "SIGSTOP");
      node.state = "paused";
    },
    resume: resumeNode,
    async restartNode(node) {
      if (node.state !== "killed") throw new Error(`${node.address} is ${node.state}; kill it before restarting it`);
      node.process = launch(node.port, node.busPort, node.dataDir);
      node.state = "running";
      await waitFor(`redis ${node.address}`, () => ask(node, async (client) => (await client.ping()) === "PONG"), {
        timeoutInMs: readyTimeoutInMs,
        process: node.process,
      });
    },
    async waitForFailover(slot, formerPrimary, timeoutInMs = readyTimeoutInMs) {
      let promoted: RedisClusterNode | undefined;
      await waitFor(
        `failover of slot ${slot} away from ${formerPrimary.address}`,
        async () => {
          const { primary } = await ownerOfSlot(slot);
          promoted = primary;
          return primary !== formerPrimary && primary.state === "running" && (await healthyEnough());
        },
        { timeoutInMs },
      );
      return promoted!;
    },
    async waitUntilHealthy(timeoutInMs = readyTimeoutInMs) {
      await waitFor("redis cluster healthy", healthy, { timeoutInMs });
    },
    stop,
  };

  /** After a failover the dead primary is still known (as failed): only running nodes must agree the state is ok. */
  async function healthyEnough(): Promise<boolean> {
    const states = await Promise.all(
      running().map((node) => ask(node, async (client) => parseInfo((await client.call("cluster", "info")) as string).cluster_state)),
    );
    return states.every((state) => state === "ok");
  }

  function resumeNode(node: RedisClusterNode): void {
    if (node.state !== "paused") return;
    signal(node, "SIGCONT");
    node.state = "running";
  }

  try {
    await Promise.all(
      nodes.map((node) =>
        waitFor(`redis ${node.address}`, () => ask(node, async (client) => (await client.ping()) === "PONG"), {
          timeoutInMs: readyTimeoutInMs,
          process: node.process,
        }),
      ),
    );
    // Restarted on the data of an earlier run (npm start again): nodes.conf already holds the cluster.
    const known = await Promise.all(
      nodes.map((node) =>
        ask(node, async (client) => Number(parseInfo((await client.call("cluster", "info")) as string).cluster_known_nodes)),
      ),
    );
    if (known.every((n) => n === 1)) {
      await run("redis-cli", ["--cluster", "create", ...cluster.seeds, "--cluster-replicas", String(replicasPerPrimary), "--cluster-yes"], {
        timeout: readyTimeoutInMs,
      });
    } else if (!known.every((n) => n === count)) {
      throw new Error(
        `the Redis nodes in ${dir} hold parts of different clusters (known nodes: ${known.join(", ")}); delete that directory to start afresh`,
      );
    }
    await cluster.waitUntilHealthy().catch((error: Error) => {
      const hint = known.every((n) => n === count)
        ? `; the cluster was restored from ${dir}: if an earlier run used other ports, delete that directory`
        : "";
      throw new Error(`${error.message}${hint}`);
    });
    // Every node must see the whole cluster (ids and roles) before anyone relies on the topology.
    await waitFor(
      "redis cluster topology",
      async () => {
        const owners = await topology();
        return (
          owners.length === primaries &&
          owners.every((owner) => owner.replicas.length === replicasPerPrimary) &&
          nodes.every((node) => node.id !== "")
        );
      },
      { timeoutInMs: readyTimeoutInMs },
    );
    return cluster;
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One short-lived connection to one node (not a cluster client: the question is about that node). */
async function ask<T>(node: RedisClusterNode, question: (client: Redis) => Promise<T>): Promise<T> {
  const [host, port] = node.address.split(":");
  const client = new Redis({
    host,
    port: Number(port),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    commandTimeout: 2000,
    connectTimeout: 2000,
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    return await question(client);
  } finally {
    client.disconnect();
  }
}

function signal(node: RedisClusterNode, name: "SIGSTOP" | "SIGCONT"): void {
  const pid = node.process.child.pid;
  if (pid === undefined) throw new Error(`${node.address} has no pid`);
  process.kill(pid, name);
}

async function distinctFreePorts(count: number, taken: Set<number>, host: string): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort(host);
    if (taken.has(port)) continue;
    taken.add(port);
    ports.push(port);
  }
  return ports;
}
