/**
 * Runs one Cassandra node in the foreground for development:
 *
 *   node dist/scripts/start-cassandra.js [--data-dir DIR]
 *
 * CQL is served on 127.0.0.1:9042; the data stays in DIR (default .data/cassandra) across runs.
 * Ctrl-C (or SIGTERM) stops the node cleanly.
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startCassandra } from "./infra/cassandra.js";

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { "data-dir": { type: "string", default: ".data/cassandra" } } });
  const dataDir = resolve(values["data-dir"]);
  const logFile = join(dataDir, "logs", "stdout.log");

  const startedAt = performance.now();
  const node = await startCassandra({ dataDir, logFile });
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  console.log(
    `Cassandra ready at ${node.host}:${node.port} in ${seconds} s (pid ${node.process.child.pid}, data ${dataDir}, log ${logFile})`,
  );

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping Cassandra ...`);
    await node.stop();
  };
  process.once("SIGINT", (signal) => void stop(signal));
  process.once("SIGTERM", (signal) => void stop(signal));

  const exit = await node.process.exited;
  if (!stopping) throw new Error(`Cassandra exited on its own (${exit}); see ${logFile} and ${join(dataDir, "logs", "system.log")}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
