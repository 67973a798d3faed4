/**
 * A test-only flusher entry point: the real flusher process (storage/flusher/process.ts), whose
 * rows go through a wrapper that rejects, the way the Cassandra driver rejects a row it cannot
 * encode (a TypeError: an error of the entry's own, storage/flusher/errors.ts), every write
 * holding a message whose clientId starts with CHAT_TEST_REJECT_CLIENT_ID_PREFIX. The flusher
 * then isolates those entries, retries them and dead-letters them, as it would a real poison
 * row; everything else is written as usual. A message the node accepted cannot be made
 * unwritable by what a client sends, hence the hook; the product entry
 * (storage/flusher/main.js) has none.
 */
import type { LogEntry } from "../../storage/change.js";
import type { ProjectedEntry } from "../../storage/cassandra/projection.js";
import type { RowWriter } from "../../storage/flusher/options.js";
import { runFlusherProcess } from "../../storage/flusher/process.js";

const PREFIX_VARIABLE = "CHAT_TEST_REJECT_CLIENT_ID_PREFIX";

class RejectingRows implements RowWriter {
  constructor(
    private readonly rows: RowWriter,
    private readonly clientIdPrefix: string,
  ) {}

  async write(entries: readonly (LogEntry | ProjectedEntry)[]): Promise<void> {
    const rejected = entries.some((item) => {
      const entry = "noop" in item && "entry" in item ? item.entry : item;
      return entry.clientId.startsWith(this.clientIdPrefix);
    });
    if (rejected) throw new TypeError("test flusher: this row is rejected (fault injection)");
    return this.rows.write(entries);
  }
}

const prefix = process.env[PREFIX_VARIABLE];
if (!prefix) throw new Error(`${PREFIX_VARIABLE} must name the clientId prefix of the messages to reject`);
await runFlusherProcess({ wrapRows: (timeline) => new RejectingRows(timeline, prefix) });
