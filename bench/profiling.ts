/**
 * `--profile`: the servers' CPU profilers around a measurement, and the summary of a run's
 * profiles (what each server's time went to, heap growth per idle connection).
 */
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MeasuredServer } from "./lib/servers.js";
import type { MemoryRow } from "./scenarios/memory.js";
import { formatCpuSummary, summarizeCpuProfile } from "./profile/cpu-profile.js";
import { formatHeapGrowth, heapGrowthPerConnection } from "./profile/heap-snapshot.js";

/** Runs `measure`, with `servers`' CPU profilers on when profiling. */
export type Profiled = <T>(servers: readonly MeasuredServer[], label: string, measure: () => Promise<T>) => Promise<T>;

/** Without `profileDir`, just `measure`; with it, each server's profile saved as <label>-<server>.cpuprofile there. */
export function profiler(profileDir: string | undefined): Profiled {
  return async (servers, label, measure) => {
    if (!profileDir) return measure();
    await Promise.all(servers.map((server) => server.cpuProfile("start")));
    const result = await measure();
    await Promise.all(servers.map((server) => server.cpuProfile("stop", join(profileDir, `${label}-${server.name}.cpuprofile`))));
    return result;
  };
}

/** Prints the summary of `profileDir` and writes it to `file` below the line `heading`. */
export function writeProfileSummary(profileDir: string, memory: readonly MemoryRow[], heading: string, file: string): void {
  const text = summarizeProfiles(profileDir, memory);
  console.log(`\n${text}`);
  writeFileSync(file, `${heading}\n\n${text}\n`);
}

/** CPU profiles of every server (what its time went to) and the heap growth per idle connection. */
function summarizeProfiles(profileDir: string, memory: readonly MemoryRow[]): string {
  const parts: string[] = [];
  for (const file of readdirSync(profileDir)
    .filter((name) => name.endsWith(".cpuprofile"))
    .sort()) {
    parts.push(formatCpuSummary(file, summarizeCpuProfile(join(profileDir, file))));
  }
  for (const row of memory) {
    const before = join(profileDir, `${row.stack}-before.heapsnapshot`);
    const after = join(profileDir, `${row.stack}-after.heapsnapshot`);
    parts.push(
      formatHeapGrowth(
        `heap growth, ${row.stack}, ${row.connections} idle connections`,
        heapGrowthPerConnection(before, after, row.connections),
      ),
    );
  }
  return parts.join("\n\n");
}
