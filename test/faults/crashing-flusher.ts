/**
 * A test-only flusher entry point: the real flusher process (storage/flusher/process.ts), whose
 * rows go through a wrapper that SIGKILLs the process at CHAT_TEST_FLUSHER_CRASH_AT on its first non-empty batch:
 *   before-write  when the batch's rows are handed to Cassandra, before any is sent;
 *   before-ack    once Cassandra confirmed them, before the flusher can XACK them.
 * A kill from inside is the only way to land it reliably between two given steps. The product
 * entry (storage/flusher/main.js) has no such hook; test/faults/flusher-crash starts this one.
 */
import { writeSync } from "node:fs";
import type { ChatMessage } from "../../storage/message.js";
import type { RowWriter } from "../../storage/flusher/options.js";
import { runFlusherProcess } from "../../storage/flusher/process.js";

const CRASH_POINTS = ["before-write", "before-ack"] as const;
type CrashPoint = (typeof CRASH_POINTS)[number];
/** Where this entry reads its crash point from (a test's setting: the product has none). */
const CRASH_AT_VARIABLE = "CHAT_TEST_FLUSHER_CRASH_AT";

/** Rows go to `rows`, but the process kills itself at `crashAt` of the first non-empty write. */
class CrashingRows implements RowWriter {
  private armed = true;

  constructor(
    private readonly rows: RowWriter,
    private readonly crashAt: CrashPoint,
  ) {}

  async write(messages: readonly ChatMessage[]): Promise<void> {
    if (!this.armed || messages.length === 0) return this.rows.write(messages);
    this.armed = false;
    if (this.crashAt === "before-write") this.crash();
    await this.rows.write(messages);
    // The flusher acknowledges a batch only after this promise resolved: it never gets to.
    this.crash();
  }

  private crash(): never {
    // Written synchronously: pino's asynchronous line would die with the process.
    const line = {
      level: 40,
      time: Date.now(),
      consumer: process.env.CHAT_FLUSHER_NAME,
      crashAt: this.crashAt,
      msg: "test flusher: SIGKILL (fault injection)",
    };
    writeSync(2, `${JSON.stringify(line)}\n`);
    process.kill(process.pid, "SIGKILL");
    throw new Error("unreachable: SIGKILL did not stop the process");
  }
}

function crashPoint(): CrashPoint {
  const value = process.env[CRASH_AT_VARIABLE];
  const point = CRASH_POINTS.find((candidate) => candidate === value);
  if (point === undefined) throw new Error(`${CRASH_AT_VARIABLE} must be one of ${CRASH_POINTS.join(", ")}, not ${JSON.stringify(value)}`);
  return point;
}

const crashAt = crashPoint();
await runFlusherProcess({ wrapRows: (timeline) => new CrashingRows(timeline, crashAt) });
