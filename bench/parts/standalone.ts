/**
 * Parts 3 and 5 of a run, each on servers of its own once the shared nodes are stopped: memory
 * per idle connection (ours, then socket.io on ws), and the flusher vs raw Cassandra writes.
 */
import { measureFlushVsRaw, type FlushResult } from "../flush-vs-raw.js";
import { startOurNode, startReference } from "../lib/servers.js";
import { measureMemory, type MemoryRow } from "../scenarios/memory.js";
import { socketIoUrl, stopped, type BenchRun, type BenchStack } from "../stack.js";

export async function runMemoryPart(
  { settings, wanted, dir, log, onCleanup, profileDir }: BenchRun,
  { env, tokens }: BenchStack,
): Promise<MemoryRow[]> {
  const memory: MemoryRow[] = [];
  if (!wanted("memory")) return memory;
  log(`3. memory per idle connection at ${settings.memoryConnections} connections`);
  const memoryTokens = tokens.slice(0, settings.memoryGenerators);
  const nodeM = onCleanup(await startOurNode("bench-m", env, dir), stopped);
  memory.push(
    await measureMemory("ours", "socketio", nodeM, socketIoUrl(nodeM.port), memoryTokens, settings.memoryConnections, 1, log, profileDir),
  );
  await nodeM.stop();
  const sioM = onCleanup(await startReference("socketio", dir), stopped);
  memory.push(
    await measureMemory(
      "socketio",
      "socketio",
      sioM,
      socketIoUrl(sioM.port),
      memoryTokens.map(() => ""),
      settings.memoryConnections,
      2,
      log,
      profileDir,
    ),
  );
  await sioM.stop();
  return memory;
}

export async function runFlushPart(
  { settings, wanted, dir, log }: BenchRun,
  { cassandra, stores, prefix, env }: BenchStack,
): Promise<FlushResult | undefined> {
  if (!wanted("flush")) return undefined;
  log("5. flusher vs raw Cassandra writes");
  return measureFlushVsRaw({ cassandra, redisUrl: stores.redis.url, prefix, env, logDir: dir, settings: settings.flush, log });
}
