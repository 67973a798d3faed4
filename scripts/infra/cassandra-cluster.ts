/**
 * A 3-node Cassandra cluster on 127.0.0.1, .2 and .3 (Linux routes all of 127/8 to lo), for
 * the replication fault test and for trying RF 3 / LOCAL_QUORUM locally:
 *   node dist/scripts/infra/cassandra-cluster.js <dataDir>
 *
 * Every node uses the same native and storage ports on its own address, as a real cluster
 * would. The template has auto_bootstrap: false, so no node streams data when it joins and the
 * "one bootstrapping node at a time" rule does not apply: the three JVMs start in parallel,
 * except that nodes 2 and 3 wait until node 1 (the seed) listens for gossip.
 */
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import cassandra from "cassandra-driver";
import { LOCAL_DATA_CENTER, startCassandra, type CassandraNode } from "./cassandra.js";
import { freePort, isPortOpen, waitFor } from "./process.js";

export const CLUSTER_ADDRESSES = ["127.0.0.1", "127.0.0.2", "127.0.0.3"] as const;

export interface CassandraClusterOptions {
  dataDir: string;
  /** Defaults: ports free on all three addresses. */
  nativePort?: number;
  storagePort?: number;
  /** Per node; three nodes share 2 cores and 24 GiB here. */
  heapInMb?: number;
  /** Delay between the seed listening for gossip and starting the other two nodes. */
  staggerInMs?: number;
}

export interface CassandraCluster {
  nodes: CassandraNode[];
  /** "host:port" of every node, for CHAT_CASSANDRA_CONTACT_POINTS. */
  contactPoints: string[];
  nativePort: number;
  /** Seconds from the first JVM spawn to every node seeing three nodes UP. */
  startSeconds: number;
  /** Stops node `index` (SIGTERM: Cassandra drains), keeping its data dir. */
  stopNode(index: number): Promise<void>;
  /** Starts node `index` again on its data dir. */
  startNode(index: number): Promise<void>;
  stop(): Promise<void>;
}

const DEFAULT_STAGGER_IN_MS = 1000;

export async function startCassandraCluster(options: CassandraClusterOptions): Promise<CassandraCluster> {
  const nativePort = options.nativePort ?? (await portFreeOnAll());
  const storagePort = options.storagePort ?? (await portFreeOnAll(nativePort));
  const seeds = `${CLUSTER_ADDRESSES[0]}:${storagePort}`;
  const optionsOf = (index: number) => {
    const address = CLUSTER_ADDRESSES[index]!;
    const dataDir = join(options.dataDir, `node${index + 1}`);
    return {
      dataDir,
      logFile: join(dataDir, "logs", "stdout.log"),
      listenAddress: address,
      nativePort,
      storagePort,
      seeds,
      heapInMb: options.heapInMb ?? 768,
      startTimeoutInMs: 300_000,
    };
  };
  const started = Date.now();
  const nodes: (CassandraNode | undefined)[] = [undefined, undefined, undefined];
  // Start order, each step as early as it is safe (measured on 2 cores: see docs/durability.md):
  // - node 2 once the seed listens for gossip: a node that finds no seed to gossip with in its
  //   first seconds aborts ("Unable to gossip with any peers");
  // - node 3 once the seed sees node 2's tokens: two nodes that allocate tokens at the same
  //   time see the same ring and pick the same tokens (allocate_tokens_for_local_replication_factor
  //   is deterministic), which happened here when 2 and 3 started together.
  const seed = CLUSTER_ADDRESSES[0];
  const second = CLUSTER_ADDRESSES[1];
  const seedListening = waitFor("seed node listening for gossip", () => isPortOpen(storagePort, seed), {
    timeoutInMs: 300_000,
    intervalInMs: 200,
  });
  const starts = CLUSTER_ADDRESSES.map(async (_, index) => {
    if (index >= 1) {
      await seedListening;
      await sleep(options.staggerInMs ?? DEFAULT_STAGGER_IN_MS);
    }
    if (index === 2)
      await waitFor("node 2 in the ring", () => peersWithTokens(seed, nativePort).then((peers) => peers.includes(second)), {
        timeoutInMs: 300_000,
        intervalInMs: 500,
      });
    nodes[index] = await startCassandra(optionsOf(index));
  });
  const results = await Promise.allSettled(starts);
  const failure = results.find((result): result is PromiseRejectedResult => result.status === "rejected");
  const stopAll = async () => {
    await Promise.allSettled(nodes.map((node) => node?.stop()));
  };
  if (failure) {
    await stopAll();
    throw failure.reason;
  }
  const contactPoints = CLUSTER_ADDRESSES.map((address) => `${address}:${nativePort}`);
  try {
    await waitFor("3 Cassandra nodes UP in the ring", () => allPeersUp(nativePort), { timeoutInMs: 120_000, intervalInMs: 500 });
  } catch (error) {
    await stopAll();
    throw error;
  }
  const startSeconds = (Date.now() - started) / 1000;
  return {
    nodes: nodes as CassandraNode[],
    contactPoints,
    nativePort,
    startSeconds,
    async stopNode(index) {
      await nodes[index]?.stop();
    },
    async startNode(index) {
      nodes[index] = await startCassandra(optionsOf(index));
    },
    stop: stopAll,
  };
}

/** True when every node answers CQL and sees the two others in the ring with their tokens. */
async function allPeersUp(port: number): Promise<boolean> {
  for (const address of CLUSTER_ADDRESSES) {
    if ((await peersWithTokens(address, port)).length < CLUSTER_ADDRESSES.length - 1) return false;
  }
  return true;
}

/** The peers `address` knows with tokens, i.e. that have joined the ring as it sees it. */
async function peersWithTokens(address: string, port: number): Promise<string[]> {
  if (!(await isPortOpen(port, address))) return [];
  const client = new cassandra.Client({
    contactPoints: [address],
    protocolOptions: { port },
    localDataCenter: LOCAL_DATA_CENTER,
    socketOptions: { connectTimeout: 2000, readTimeout: 5000 },
  });
  try {
    const peers = await client.execute("SELECT peer, tokens FROM system.peers_v2");
    return peers.rows.filter((row) => (row["tokens"] as string[] | null)?.length).map((row) => String(row["peer"]));
  } finally {
    await client.shutdown();
  }
}

/** A port free on 127.0.0.1, .2 and .3 (and not `other`): every node listens on it. */
async function portFreeOnAll(other?: number): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await freePort(CLUSTER_ADDRESSES[0]);
    if (port === other) continue;
    const taken = await Promise.all(CLUSTER_ADDRESSES.slice(1).map((address) => isPortOpen(port, address, 500)));
    if (!taken.some(Boolean)) return port;
  }
  throw new Error("no port free on all of 127.0.0.1-3 after 20 attempts");
}

// CLI: start the cluster, print its contact points, stop it on SIGINT/SIGTERM.
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const dataDir = process.argv[2];
  if (!dataDir) {
    console.error("usage: node dist/scripts/infra/cassandra-cluster.js <dataDir>");
    process.exit(2);
  }
  const cluster = await startCassandraCluster({ dataDir });
  console.log(
    `3-node Cassandra cluster up in ${cluster.startSeconds.toFixed(1)} s: CHAT_CASSANDRA_CONTACT_POINTS=${cluster.contactPoints.join(",")}`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await cluster.stop();
}
