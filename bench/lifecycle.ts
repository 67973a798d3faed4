/**
 * What a bench run owns for its whole life: the log prefix (seconds since the start), the stack
 * of things to stop (newest first, on success, failure and Ctrl-C), the open-files limit, and
 * the removal of its bulky data afterwards.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

export type Log = (line: string) => void;
export type OnCleanup = <T>(value: T, stop: (value: T) => Promise<unknown> | unknown) => T;

/** Log lines prefixed with the seconds since `startedAt` (a performance.now() reading). */
export function runLog(startedAt: number): Log {
  return (line) => console.log(`[bench ${((performance.now() - startedAt) / 1000).toFixed(0).padStart(4)} s] ${line}`);
}

/** Things to stop, newest first, whatever happens: `cleanUp` runs them all; SIGINT/SIGTERM too, then exit 130. */
export function cleanupStack(): { onCleanup: OnCleanup; cleanUp: () => Promise<void> } {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const onCleanup: OnCleanup = (value, stop) => {
    cleanups.push(() => stop(value));
    return value;
  };
  const cleanUp = async () => {
    while (cleanups.length > 0) await Promise.resolve(cleanups.pop()!()).catch((error: unknown) => console.error("cleanup:", error));
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => void cleanUp().then(() => process.exit(130)));
  }
  return { onCleanup, cleanUp };
}

/**
 * 20 000 connections need more descriptors than a 20 000 per-process limit once the server's
 * own are counted; children (servers, generators) inherit a raised limit. Raising it needs
 * CAP_SYS_RESOURCE; without it the memory scenario uses as many connections as fit (it says so).
 */
export function raiseFileLimit(log: Log): void {
  try {
    execFileSync("prlimit", ["--pid", String(process.pid), "--nofile=65536:65536"], { stdio: "pipe" });
  } catch {
    log("could not raise the open-files limit (no CAP_SYS_RESOURCE); the memory scenario is capped by it");
  }
}

/** After a successful run: hundreds of MB of Redis/Cassandra data and heap snapshots go; the logs stay for reading. */
export function removeRunData(runDir: string, profiling: boolean): void {
  for (const data of ["redis", "cassandra", "centrifugo-redis", "redis-cluster"])
    rmSync(join(runDir, data), { recursive: true, force: true });
  for (const file of profiling ? readdirSync(join(runDir, "profiles")).filter((name) => name.endsWith(".heapsnapshot")) : [])
    rmSync(join(runDir, "profiles", file));
}
