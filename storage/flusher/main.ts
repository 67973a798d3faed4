/**
 * The flusher process: `node dist/storage/flusher/main.js`.
 * Drains the Redis write-buffer streams into Cassandra until SIGTERM/SIGINT; its settings are
 * listed in process.ts.
 */
import { runFlusherProcess } from "./process.js";

await runFlusherProcess();
