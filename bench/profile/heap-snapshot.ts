/**
 * Compares two V8 heap snapshots of one process (before and after opening N idle connections)
 * by constructor name: the retained growth per connection, biggest first. This is what a
 * per-connection memory figure is made of.
 */
import { readFileSync } from "node:fs";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Self size and count per "type:name" (e.g. "object:Socket", "closure:onMessage", "string"). */
function aggregate(path: string): Map<string, { bytes: number; count: number }> {
  const heap = JSON.parse(readFileSync(path, "utf8")) as Snapshot;
  const fields = heap.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const types = heap.snapshot.meta.node_types[0];
  const out = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < heap.nodes.length; i += width) {
    const type = types[heap.nodes[i + typeAt]!]!;
    // Strings, numbers and code are grouped by type; objects and closures by constructor/function name.
    const key = type === "object" || type === "closure" || type === "native" ? `${type}:${heap.strings[heap.nodes[i + nameAt]!]}` : type;
    const entry = out.get(key) ?? { bytes: 0, count: 0 };
    entry.bytes += heap.nodes[i + sizeAt]!;
    entry.count += 1;
    out.set(key, entry);
  }
  return out;
}

export interface HeapGrowth {
  name: string;
  bytesPerConnection: number;
  countPerConnection: number;
}

export function heapGrowthPerConnection(
  beforePath: string,
  afterPath: string,
  connections: number,
  count = 15,
): { totalBytesPerConnection: number; top: HeapGrowth[] } {
  const before = aggregate(beforePath);
  const after = aggregate(afterPath);
  const growth: HeapGrowth[] = [];
  let total = 0;
  for (const [name, { bytes, count: n }] of after) {
    const base = before.get(name) ?? { bytes: 0, count: 0 };
    const delta = bytes - base.bytes;
    total += delta;
    growth.push({ name, bytesPerConnection: delta / connections, countPerConnection: (n - base.count) / connections });
  }
  growth.sort((a, b) => b.bytesPerConnection - a.bytesPerConnection);
  return { totalBytesPerConnection: total / connections, top: growth.slice(0, count) };
}

export function formatHeapGrowth(title: string, growth: ReturnType<typeof heapGrowthPerConnection>): string {
  const lines = [`${title}: ${growth.totalBytesPerConnection.toFixed(0)} B of heap objects per connection (snapshot diff)`];
  for (const g of growth.top)
    lines.push(`  ${g.bytesPerConnection.toFixed(0).padStart(6)} B  ${g.countPerConnection.toFixed(2).padStart(6)} ×  ${g.name}`);
  return lines.join("\n");
}
