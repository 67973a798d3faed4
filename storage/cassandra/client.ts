/** One cassandra-driver Client per process, configured from StorageConfig. */
import cassandra from "cassandra-driver";
import type { CassandraConfig } from "../config.js";

export type CassandraClient = cassandra.Client;

export function createCassandraClient(config: CassandraConfig, { withKeyspace = true } = {}): CassandraClient {
  const port = sharedPortOf(config.contactPoints);
  return new cassandra.Client({
    contactPoints: config.contactPoints,
    // The driver reaches the peers it discovers at protocolOptions.port (9042 unless set), not
    // at the contact points' port: a cluster on another port would have its peers looked for
    // on 9042, and found there if another Cassandra listens on it.
    ...(port !== undefined ? { protocolOptions: { port } } : {}),
    localDataCenter: config.localDataCenter,
    keyspace: withKeyspace ? config.keyspace : undefined,
    credentials: config.username !== undefined ? { username: config.username, password: config.password ?? "" } : undefined,
    queryOptions: {
      consistency: cassandra.types.consistencies[toDriverConsistencyKey(config.consistency)],
      prepare: true,
    },
    // Fail fast instead of queueing forever while Cassandra is down: the flusher backs off and
    // the write buffer holds the messages; readers answer UNAVAILABLE.
    socketOptions: { connectTimeout: 5000, readTimeout: 12000 },
    policies: {
      // The driver's default schedule backs off to 10 minutes, so after a long outage the
      // flusher's backlog (and readers) would wait minutes for the next attempt.
      reconnection: new cassandra.policies.reconnection.ConstantReconnectionPolicy(1000),
    },
  });
}

function toDriverConsistencyKey(name: CassandraConfig["consistency"]): keyof typeof cassandra.types.consistencies {
  const keys = { ONE: "one", LOCAL_ONE: "localOne", QUORUM: "quorum", LOCAL_QUORUM: "localQuorum", ALL: "all" } as const;
  return keys[name];
}

/** The native port every contact point names ("host:port"), when they all name the same one. */
function sharedPortOf(contactPoints: readonly string[]): number | undefined {
  const ports = new Set(contactPoints.map((point) => /:(\d+)$/.exec(point)?.[1]));
  const [port] = ports;
  return ports.size === 1 && port !== undefined ? Number(port) : undefined;
}
