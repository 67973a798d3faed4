/**
 * Where processes run while latency is measured (items 4 and 6).
 *
 * A latency figure taken while the load generators, Cassandra and the flusher compete with the
 * node for the same two cores measures the scheduler's queue, not the code (the last runs had the
 * node's main thread waiting for a CPU 35–65 % of the window). A load engineer runs the load
 * generators on other machines and Cassandra on its own; on this one machine the nearest thing
 * is to give the system on the ack path (the socket node(s) and Redis) one core, and everything
 * else (generators, flusher, Cassandra, this driver) the other. Cassandra also runs at the lowest
 * priority there: it is off the ack path, and at full priority it would delay the generators,
 * whose own delays would count as latency. CPU-time figures (items 1, 2, 5) do not depend on
 * placement and run unplaced.
 */
import { readdirSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { availableParallelism } from "node:os";

export interface Placement {
  /** The ack path: socket nodes and Redis. */
  measured: readonly number[];
  /** Everything else: load generators, flusher, Cassandra (at the lowest priority), the bench driver. */
  rest: readonly number[];
}

/** Moves every thread of each pid to `cpus` (taskset -a: all threads, not only the main one). */
function pin(pids: readonly number[], cpus: string): void {
  for (const pid of pids) execFileSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: "pipe" });
}

/** Sets the nice value of every thread of each pid (a process's nice is per thread on Linux). */
function renice(pids: readonly number[], nice: number): void {
  for (const pid of pids) {
    const threads = readdirSync(`/proc/${pid}/task`);
    execFileSync("renice", ["-n", String(nice), "-p", ...threads], { stdio: "pipe" });
  }
}

/**
 * Places the processes for the duration of `during`, then lets them run anywhere again. On a
 * machine with one CPU there is nothing to separate and `during` runs unplaced (the result says so).
 */
export async function withPlacement<T>(
  placement: { measured: readonly number[]; rest: readonly number[]; background: readonly number[] },
  during: () => Promise<T>,
): Promise<{ result: T; placement: Placement | null }> {
  const cpus = availableParallelism();
  if (cpus < 2) return { result: await during(), placement: null };
  const split = Math.max(1, Math.floor(cpus / 2));
  const chosen: Placement = { measured: range(0, split), rest: range(split, cpus) };
  const all = `0-${cpus - 1}`;
  pin(placement.measured, chosen.measured.join(","));
  pin([...placement.rest, ...placement.background, process.pid], chosen.rest.join(","));
  renice(placement.background, 19);
  try {
    return { result: await during(), placement: chosen };
  } finally {
    renice(placement.background, 0);
    pin([...placement.measured, ...placement.rest, ...placement.background, process.pid], all);
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}
