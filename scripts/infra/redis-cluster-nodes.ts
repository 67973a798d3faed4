/**
 * The nodes of the local Redis Cluster (scripts/infra/redis-cluster.ts) as the cluster itself
 * describes them: who is primary or replica of which slots (CLUSTER NODES) and INFO fields.
 * Pure parsing, unit-tested in redis-cluster.test.ts.
 */
import type { ManagedProcess } from "./process.js";

export type ClusterRole = "primary" | "replica";

export interface RedisClusterNode {
  readonly port: number;
  /** The cluster bus port, set explicitly: port + 10000 may be taken or beyond 65535. */
  readonly busPort: number;
  /** host:port */
  readonly address: string;
  readonly dataDir: string;
  /** Replaced by restartNode. */
  process: ManagedProcess;
  /** The cluster's node id (stable across restarts: it lives in nodes.conf). */
  id: string;
  /** As of the last topology() call (every helper below refreshes it). */
  role: ClusterRole;
  /** Set by kill and pause, cleared by restartNode and resume: such a node is not asked anything. */
  state: "running" | "killed" | "paused";
}

export interface SlotOwner {
  primary: RedisClusterNode;
  replicas: RedisClusterNode[];
}

export interface ParsedOwner extends SlotOwner {
  slots: Array<[number, number]>;
}

/**
 * CLUSTER NODES lines: `<id> <ip:port@cport[,hostname]> <flags> <primary-id|-> <ping> <pong> <epoch> <link> <slot>...`.
 * Sets each node's id and role; a node flagged `fail` owns no slots for our purposes.
 */
export function parseClusterNodes(text: string, nodes: RedisClusterNode[]): ParsedOwner[] {
  const lines = text
    .trim()
    .split("\n")
    .map((line) => line.trim().split(" "));
  const nodeAt = (field: string) => {
    const address = field.split("@")[0];
    return nodes.find((node) => node.address === address);
  };
  for (const [id, address, flags] of lines) {
    const node = address ? nodeAt(address) : undefined;
    if (!node || !id || !flags) continue;
    node.id = id;
    node.role = flags.split(",").includes("master") ? "primary" : "replica";
  }
  const owners: ParsedOwner[] = [];
  for (const [id, address, flags, , , , , , ...slotFields] of lines) {
    const node = address ? nodeAt(address) : undefined;
    if (!node || !flags || !flags.split(",").includes("master") || flags.split(",").includes("fail")) continue;
    const slots = slotFields
      .filter((field) => !field.startsWith("[")) // migrating/importing markers, not ownership
      .map((field): [number, number] => {
        const [from, to = from] = field.split("-");
        return [Number(from), Number(to)];
      });
    if (slots.length === 0) continue;
    const replicas = lines
      .filter((line) => line[3] === id && !(line[2] ?? "").split(",").includes("fail"))
      .map((line) => nodeAt(line[1] ?? ""))
      .filter((replica): replica is RedisClusterNode => replica !== undefined);
    owners.push({ primary: node, replicas, slots });
  }
  return owners;
}

export function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split("\r\n").join("\n").split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return fields;
}
