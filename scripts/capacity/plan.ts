/**
 * The capacity plan: from a peak (concurrent users, sends/s, average room size) to numbers of
 * socket nodes, Redis primaries, flushers and Cassandra nodes with 1.5× headroom, from the
 * per-component figures `npm run bench` writes to bench/results.json. Also derives the node's
 * admission defaults (server/realtime/admission.ts) from the same figures.
 */

/** The parts of bench/results.json the plan reads. */
export interface BenchFigures {
  startedAt: string;
  fanout: { stack: string; roomSize: number; cpuPerDeliveryInMicros: number }[];
  cluster: { roomSize: number; cpuPerDeliveryInMicros: number; oneNodeCpuPerDeliveryInMicros: number }[];
  memory: { stack: string; connections: number; connectSeconds: number }[];
  ingest: { maxAckedPerSecond: number; redisCpuUtilisation: number };
  flush: { flusherRowsPerSecond: number; rawRowsPerSecond: number };
}

export interface Peak {
  users: number;
  sendsPerSecond: number;
  roomSize: number;
}

export const HEADROOM = 1.5;
/** Replicas per row in the chart's Cassandra (each write lands on this many nodes). */
export const CASSANDRA_REPLICATION = 3;

export interface ComponentCapacity {
  /** What one instance takes, and from which figure. */
  perInstance: number;
  unit: string;
  source: string;
}

export interface Plan {
  peak: Peak;
  capacities: {
    nodeDeliveries: ComponentCapacity;
    nodeConnections: ComponentCapacity;
    redisSends: ComponentCapacity;
    flusherRows: ComponentCapacity;
    cassandraRows: ComponentCapacity;
  };
  nodes: number;
  redisPrimaries: number;
  flushers: number;
  cassandraNodes: number;
  /** Why the node count is what it is. */
  nodesBoundBy: "deliveries" | "connections" | "minimum";
}

/** Node CPU per delivery (send included, as users pay it) at a room size: log-interpolated between the measured sizes, times the 2-node cluster's overhead. */
export function cpuPerDeliveryInMicros(figures: BenchFigures, roomSize: number): number {
  const rows = figures.fanout.filter((row) => row.stack === "ours").sort((a, b) => a.roomSize - b.roomSize);
  if (rows.length === 0) throw new Error("bench/results.json has no fan-out rows of our stack: run npm run bench");
  const clusterOverhead = Math.max(1, ...figures.cluster.map((row) => row.cpuPerDeliveryInMicros / row.oneNodeCpuPerDeliveryInMicros));
  const size = Math.max(1, roomSize);
  if (size <= rows[0]!.roomSize) return ((rows[0]!.cpuPerDeliveryInMicros * rows[0]!.roomSize) / size) * clusterOverhead;
  const last = rows.at(-1)!;
  if (size >= last.roomSize) return last.cpuPerDeliveryInMicros * clusterOverhead;
  const upper = rows.findIndex((row) => row.roomSize >= size);
  const [a, b] = [rows[upper - 1]!, rows[upper]!];
  const t = Math.log(size / a.roomSize) / Math.log(b.roomSize / a.roomSize);
  return (a.cpuPerDeliveryInMicros + t * (b.cpuPerDeliveryInMicros - a.cpuPerDeliveryInMicros)) * clusterOverhead;
}

function heldConnections(figures: BenchFigures): { connections: number; connectSeconds: number } {
  const ours = figures.memory.find((row) => row.stack === "ours");
  if (!ours) throw new Error("bench/results.json has no memory row of our stack: run npm run bench");
  return ours;
}

export function plan(figures: BenchFigures, peak: Peak): Plan {
  const perDelivery = cpuPerDeliveryInMicros(figures, peak.roomSize);
  const held = heldConnections(figures);
  const capacities: Plan["capacities"] = {
    // A node is one event loop: one core's second of CPU.
    nodeDeliveries: {
      perInstance: 1e6 / perDelivery,
      unit: "deliveries/s",
      source: `fan-out CPU per delivery at room ${peak.roomSize}: ${perDelivery.toFixed(2)} µs (bench fanout "ours", log-interpolated, × the 2-node cluster overhead)`,
    },
    nodeConnections: {
      perInstance: held.connections,
      unit: "connections",
      source: `idle connections one node held (bench memory, ${held.connections}; capped by the open-files limit)`,
    },
    // The ingest bench drove Redis to this share of a core at the node's maximum: a primary's one core takes sends/share.
    redisSends: {
      perInstance: figures.ingest.maxAckedPerSecond / figures.ingest.redisCpuUtilisation,
      unit: "sends/s",
      source: `ingest: ${Math.round(figures.ingest.maxAckedPerSecond)} acked sends/s used ${(figures.ingest.redisCpuUtilisation * 100).toFixed(0)} % of Redis's core`,
    },
    flusherRows: {
      perInstance: figures.flush.flusherRowsPerSecond,
      unit: "rows/s",
      source: "flush: the flusher's rows/s into one Cassandra node",
    },
    cassandraRows: {
      perInstance: figures.flush.rawRowsPerSecond,
      unit: "replica writes/s",
      source: `flush: raw cassandra-driver rows/s into one node; each message is written to ${CASSANDRA_REPLICATION} replicas`,
    },
  };
  const need = (load: number, capacity: number) => Math.ceil((load * HEADROOM) / capacity);
  const byDeliveries = need(peak.sendsPerSecond * peak.roomSize, capacities.nodeDeliveries.perInstance);
  const byConnections = need(peak.users, capacities.nodeConnections.perInstance);
  // Two of each stateless part, so one can die or roll; Cassandra at least its replication factor.
  const nodes = Math.max(2, byDeliveries, byConnections);
  return {
    peak,
    capacities,
    nodes,
    nodesBoundBy:
      nodes === byDeliveries && byDeliveries >= byConnections && byDeliveries >= 2
        ? "deliveries"
        : nodes === byConnections && byConnections >= 2
          ? "connections"
          : "minimum",
    redisPrimaries: Math.max(1, need(peak.sendsPerSecond, capacities.redisSends.perInstance)),
    flushers: Math.max(2, need(peak.sendsPerSecond, capacities.flusherRows.perInstance)),
    cassandraNodes: Math.max(
      CASSANDRA_REPLICATION,
      need(peak.sendsPerSecond * CASSANDRA_REPLICATION, capacities.cassandraRows.perInstance),
    ),
  };
}

/**
 * The node's admission defaults from the same figures: the connections a node held over the
 * headroom, rounded down to a thousand; half the rate it accepted them at (the other half of
 * the core stays with the users already in during a reconnect storm), rounded down to a hundred.
 */
export function admissionDefaults(figures: BenchFigures): { maxConnections: number; connectRatePerSecond: number } {
  const held = heldConnections(figures);
  return {
    maxConnections: Math.floor(held.connections / HEADROOM / 1000) * 1000,
    connectRatePerSecond: Math.floor(held.connections / held.connectSeconds / 2 / 100) * 100,
  };
}

/**
 * The chart's defaults from the same figures (helm/chat/values.yaml; plan.test.ts keeps them in
 * step). The HPA adds a node when the average node holds the admission limit over the headroom,
 * so a node at the target can still take a 1.5× spike while a new pod starts; rounded down to a
 * thousand. The gateway's waiting room admits up to the node's own limit per node: HAProxy
 * queues a newcomer exactly where the node would otherwise have to refuse it.
 */
export function chartDefaults(figures: BenchFigures): { hpaConnectionsPerPod: number; gatewayMaxConnectionsPerNode: number } {
  const { maxConnections } = admissionDefaults(figures);
  return {
    hpaConnectionsPerPod: Math.floor(maxConnections / HEADROOM / 1000) * 1000,
    gatewayMaxConnectionsPerNode: maxConnections,
  };
}
