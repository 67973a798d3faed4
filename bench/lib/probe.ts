/**
 * Preloaded into every measured server process (`node --import <this file>`, or imported by the
 * reference servers): answers { type: "bench:probe", gc } over IPC with the process's own CPU
 * time and memory. Asking the process itself gives microsecond CPU resolution (/proc/<pid>/stat
 * counts 10 ms ticks) and the V8 heap, which /proc cannot see.
 */
import { Session } from "node:inspector";
import { writeFileSync } from "node:fs";
import { runInNewContext } from "node:vm";
import { setFlagsFromString, writeHeapSnapshot } from "node:v8";

export interface ProbeReply {
  type: "bench:probe";
  /** user + system CPU time of the process since it started, in microseconds. */
  cpuInMicros: number;
  /** The kernel's share of cpuInMicros: on loopback, a send() also runs the receiver's TCP path. */
  systemCpuInMicros: number;
  heapUsedInBytes: number;
  rssInBytes: number;
}

// A full collection before reading the heap, so the figure is live objects, not garbage.
// --expose-gc cannot go in NODE_OPTIONS on Node 20; setting the flag at run time and fetching
// `gc` from a fresh context is the documented work-around.
setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

process.on("message", (message: { type?: string; gc?: boolean; heapSnapshotPath?: string }) => {
  if (message?.type !== "bench:probe") return;
  if (message.gc) {
    collectGarbage();
    collectGarbage();
  }
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  // After the figures are read: writing a snapshot allocates, and must not show in them.
  if (message.heapSnapshotPath) writeHeapSnapshot(message.heapSnapshotPath);
  const reply: ProbeReply = {
    type: "bench:probe",
    cpuInMicros: cpu.user + cpu.system,
    systemCpuInMicros: cpu.system,
    heapUsedInBytes: memory.heapUsed,
    rssInBytes: memory.rss,
  };
  process.send?.(reply);
});
/**
 * { type: "bench:cpu-profile", action: "start" } starts V8's sampling profiler in-process (the
 * window the bench cares about, not the whole life); { action: "stop", path } writes the
 * .cpuprofile. --cpu-prof would do the whole life, and Node refuses it in NODE_OPTIONS.
 */
let session: Session | undefined;
process.on("message", (message: { type?: string; action?: "start" | "stop"; path?: string }) => {
  if (message?.type !== "bench:cpu-profile") return;
  const reply = (error?: unknown) => process.send?.({ type: "bench:cpu-profile", error: error ? String(error) : undefined });
  if (message.action === "start") {
    session = new Session();
    session.connect();
    session.post("Profiler.enable", () =>
      session!.post("Profiler.setSamplingInterval", { interval: 200 }, () =>
        session!.post("Profiler.start", (error) => reply(error ?? undefined)),
      ),
    );
  } else if (session && message.path) {
    const path = message.path;
    session.post("Profiler.stop", (error, result) => {
      if (!error) writeFileSync(path, JSON.stringify(result.profile));
      session?.disconnect();
      session = undefined;
      reply(error ?? undefined);
    });
  } else reply("no profile running");
});

// The IPC channel must not keep a server alive that wants to exit on SIGTERM.
process.channel?.unref();
