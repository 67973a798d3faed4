/**
 * Item 3: memory per idle connection. A fresh server, its heap and RSS after a full GC with no
 * clients, then with `connections` connected (and, for ours, authenticated) idle clients; the
 * difference divided by the connection count. Clients are spread over several generator
 * processes and source addresses (127.0.x.y) so no single process or address runs out of file
 * descriptors or ephemeral ports.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Generator, totalTally } from "../load/pool.js";
import { requireOpenConnections } from "../lib/integrity.js";
import type { WireKind } from "../load/protocol.js";
import type { MeasuredServer } from "../lib/servers.js";

export interface MemoryRow {
  stack: "ours" | "socketio";
  /** Connections measured: the requested count, or fewer when the server's open-files limit is lower. */
  connections: number;
  requestedConnections: number;
  /** Why fewer than requested, when so. */
  cappedBy?: string;
  heapPerConnectionInBytes: number;
  rssPerConnectionInBytes: number;
  baseline: { heapUsedInBytes: number; rssInBytes: number };
  loaded: { heapUsedInBytes: number; rssInBytes: number };
  connectSeconds: number;
}

/** Headroom left under the open-files limit for the descriptors a server opens while loaded. */
const FD_HEADROOM = 40;

/** How many client sockets the server process can hold: its open-files limit minus what it has open. */
function socketCapacity(pid: number): { capacity: number; limit: number } {
  const limits = readFileSync(`/proc/${pid}/limits`, "utf8");
  const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1] ?? Number.POSITIVE_INFINITY);
  const open = readdirSync(`/proc/${pid}/fd`).length;
  return { capacity: soft - open - FD_HEADROOM, limit: soft };
}

export async function measureMemory(
  stack: MemoryRow["stack"],
  kind: WireKind,
  server: MeasuredServer,
  url: string,
  tokens: readonly string[],
  requestedConnections: number,
  sourceSubnet: number,
  log: (line: string) => void,
  heapSnapshotDir?: string,
): Promise<MemoryRow> {
  const { capacity, limit } = socketCapacity(server.pid);
  const connections = Math.min(requestedConnections, capacity);
  const cappedBy =
    connections < requestedConnections ? `the server's open-files limit (${limit}, not raisable without CAP_SYS_RESOURCE)` : undefined;
  if (cappedBy) log(`  memory ${stack}: ${connections} connections instead of ${requestedConnections}: capped by ${cappedBy}`);
  const generators = tokens.map((_, g) => Generator.start(`mem-${stack}-${g}`));
  try {
    const snapshot = (when: string) => (heapSnapshotDir ? join(heapSnapshotDir, `${stack}-${when}.heapsnapshot`) : undefined);
    const baseline = await server.probe({ gc: true, heapSnapshotPath: snapshot("before") });
    const perGenerator = Math.ceil(connections / generators.length);
    const started = performance.now();
    await Promise.all(
      generators.map((generator, g) =>
        generator.connect(kind, url, Math.min(perGenerator, connections - g * perGenerator), {
          token: tokens[g],
          localAddresses: [`127.0.${sourceSubnet}.${g + 1}`],
          concurrency: 32,
        }),
      ),
    );
    const connectSeconds = (performance.now() - started) / 1000;
    // Let the handshakes' garbage and timers settle before the measuring GC.
    await sleep(2000);
    const loaded = await server.probe({ gc: true, heapSnapshotPath: snapshot("after") });
    // The figure divides by `connections`: every one must still be open when the heap was read.
    requireOpenConnections(`memory ${stack} at ${connections} connections`, await totalTally(generators), connections);
    const row: MemoryRow = {
      stack,
      connections,
      requestedConnections,
      cappedBy,
      heapPerConnectionInBytes: (loaded.heapUsedInBytes - baseline.heapUsedInBytes) / connections,
      rssPerConnectionInBytes: (loaded.rssInBytes - baseline.rssInBytes) / connections,
      baseline: { heapUsedInBytes: baseline.heapUsedInBytes, rssInBytes: baseline.rssInBytes },
      loaded: { heapUsedInBytes: loaded.heapUsedInBytes, rssInBytes: loaded.rssInBytes },
      connectSeconds,
    };
    log(
      `  memory ${stack} at ${connections}: ${(row.heapPerConnectionInBytes / 1024).toFixed(2)} KB heap, ${(row.rssPerConnectionInBytes / 1024).toFixed(2)} KB RSS per connection (connected in ${connectSeconds.toFixed(1)} s)`,
    );
    await Promise.all(generators.map((generator) => generator.close()));
    return row;
  } finally {
    for (const generator of generators) generator.stop();
  }
}
