/**
 * Idempotency receipts in Cassandra (`receipts_by_client_id`, migration 3): the first ack of a
 * (user, room, clientId), kept idempotencyTtl after the entry's ts, so Redis need only hold a
 * receipt for a short window once its entry is flushed (docs/security.md "Memory").
 *
 * Who writes what, in which order (the argument that a receipt is always somewhere):
 * 1. the append or change script stores the receipt in Redis for idempotencyTtl, with the entry;
 * 2. the flusher writes the receipt row here in the same write as the entry's rows (Timeline);
 * 3. only after that write succeeded does the flusher shorten the Redis receipt to the window W
 *    (storage/flusher/acknowledger.ts, `PEXPIRE … LT`, which never lengthens one).
 * So until its entry is in Cassandra a receipt is in Redis for the full TTL, however long the
 * flusher is away; afterwards it is here, and in Redis for W more.
 *
 * Reads and writes use the configured consistency (CHAT_CASSANDRA_CONSISTENCY): with LOCAL_ONE
 * and a replication factor above 1 a lookup can reach a replica that missed the write; the row
 * was written at least W earlier (Redis answers until then), time for hinted handoff to deliver
 * it. LOCAL_QUORUM on both sides removes the gap.
 *
 * A row's TTL is counted from the entry's ts, rounded up to the second (CQL TTLs are seconds);
 * the read checks ts + idempotencyTtl itself, so a receipt answers exactly as long as Redis's
 * would have. An entry flushed after its receipt's time is over writes no row.
 */
import type { ChangeReceipt, LogEntry } from "../change.js";
import { isChange } from "../change.js";
import type { SendReceipt } from "../message.js";
import type { CassandraClient } from "./client.js";
import { receiptPartition } from "./partitions.js";
import type { Statement } from "./projection.js";
import { bigintToNumber } from "./values.js";

const Q = {
  write: `INSERT INTO receipts_by_client_id (user_id, room, client_id, scope, id, seq, ts) VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?`,
  read: `SELECT id, seq, ts FROM receipts_by_client_id WHERE user_id = ? AND room = ? AND client_id = ? AND scope = ?`,
} as const;

/** A user's sends and changes keep separate clientIds (as in Redis: storage/change-keys.ts). */
type Scope = "send" | "change";

/**
 * A lookup waits at most this long: it sits on the send path, and when Cassandra does not
 * answer the send goes on to Redis (server/chat/receipts.ts) rather than wait for the driver's
 * 12 s read timeout.
 */
const LOOKUP_TIMEOUT_IN_MS = 1000;

/** The receipt rows of `entries`, with TTLs ending `ttlInMs` after each entry's ts; none for an entry already past it. */
export function receiptStatements(entries: readonly LogEntry[], ttlInMs: number, now: number): Statement[] {
  const statements: Statement[] = [];
  for (const entry of entries) {
    const ttlInSeconds = Math.ceil((entry.ts + ttlInMs - now) / 1000);
    if (ttlInSeconds <= 0) continue;
    const user = isChange(entry) ? entry.by : entry.from;
    const scope: Scope = isChange(entry) ? "change" : "send";
    // Unset, not null, for a change: a null would write a tombstone cell.
    const id = isChange(entry) ? undefined : entry.id;
    statements.push({
      query: Q.write,
      params: [user, entry.room, entry.clientId, scope, id, entry.seq, new Date(entry.ts), ttlInSeconds],
      partition: receiptPartition(user, entry.room),
    });
  }
  return statements;
}

/** Reads receipts the flusher wrote; fills server/chat/ports.ts StoredReceipts. */
export class StoredReceipts {
  constructor(
    private readonly client: CassandraClient,
    /** The idempotency TTL (CHAT_IDEMPOTENCY_TTL_MS): a receipt answers until ts + this. */
    private readonly ttlInMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async sendReceipt(from: string, room: string, clientId: string): Promise<SendReceipt | undefined> {
    const row = await this.read(from, room, clientId, "send");
    return row && row.id !== null ? { id: row.id, seq: row.seq, ts: row.ts } : undefined;
  }

  async changeReceipt(by: string, room: string, clientId: string): Promise<ChangeReceipt | undefined> {
    const row = await this.read(by, room, clientId, "change");
    return row ? { seq: row.seq, ts: row.ts } : undefined;
  }

  private async read(user: string, room: string, clientId: string, scope: Scope) {
    const row = (
      await this.client.execute(Q.read, [user, room, clientId, scope], { prepare: true, readTimeout: LOOKUP_TIMEOUT_IN_MS })
    ).first();
    if (!row) return undefined;
    const ts = (row["ts"] as Date).getTime();
    // The TTL was rounded up to the second: the promise ends at ts + TTL exactly, as in Redis.
    if (ts + this.ttlInMs <= this.now()) return undefined;
    return { id: row["id"] as string | null, seq: bigintToNumber(row["seq"]), ts };
  }
}
