/**
 * Where the first ack of a repeated clientId can be: in Redis (the log's script finds it, as
 * part of the append) or, once the receipt window W has passed since its entry was flushed, in
 * Cassandra only (storage/cassandra/receipts.ts). Asking Cassandra on every send would put a
 * read on the send path; this decides, from the clientId alone, when Redis is enough.
 *
 * The rule. A clientId that is a UUIDv7 (RFC 9562) carries the millisecond its client made it,
 * t, by the client's clock. Let N be the node's clock now, a = N − t the id's apparent age,
 * W' = min(W, idempotency TTL) and S the allowed client clock skew. If −S ≤ a < W' − S, the log
 * alone decides (one Redis round trip, today's path); otherwise Cassandra is asked first.
 *
 * Why that is enough. Assume a client's clock runs at most S ahead of true time (the servers'
 * clocks, NTP-synchronised, are taken as true time; their milliseconds of error are inside S). The
 * id was made at true time c ≥ t − S. Any earlier send with this id was acknowledged at A ≥ c
 * (nothing sends an id before making it). Its receipt then stays in Redis until at least
 * A + W': the script stores it for the TTL ≥ W'; the flusher, at F ≥ A, only shortens it to
 * F + W (PEXPIRE … LT never lengthens). So at N < c + W' Redis still has the receipt of every
 * earlier send of this id, and N < t − S + W' ≤ c + W' is exactly a < W' − S. A clock behind
 * true time only makes ids look older, so it only sends more of them to Cassandra. The lower
 * bound: an id more than S in the future (a < −S) comes from a clock more than S ahead, where
 * the argument does not hold, so Cassandra is asked.
 *
 * And when Cassandra is asked and has nothing: the log's script still runs and finds a receipt
 * Redis holds (an in-window or unflushed duplicate). A receipt leaves Redis only W after its
 * row reached Cassandra, so a lookup that missed the row and a script that also misses it would
 * need W between them. When the lookup fails (Cassandra unreachable) the send goes on to Redis:
 * sends keep being acknowledged through a Cassandra outage (docs/durability.md), and only a
 * retry of a send acknowledged more than W earlier could then be stored twice.
 */
import type { ChangeReceipt } from "../../storage/change.js";
import type { SendReceipt } from "../../storage/message.js";
import type { ChatLogger, StoredReceipts } from "./ports.js";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** The millisecond a UUIDv7 was made (its first 48 bits), by its maker's clock; undefined for any other string. */
export function uuidV7Millis(clientId: string): number | undefined {
  if (!UUID_V7.test(clientId)) return undefined;
  return parseInt(clientId.slice(0, 8) + clientId.slice(9, 13), 16);
}

export interface ReceiptWindow {
  /** W: how long Redis keeps a receipt after its entry was flushed (CHAT_RECEIPT_WINDOW_MS). */
  windowInMs: number;
  /** The idempotency TTL (CHAT_IDEMPOTENCY_TTL_MS): no receipt lives longer, in Redis or Cassandra. */
  idempotencyTtlInMs: number;
  /** S: how far ahead a client's clock may run (CHAT_CLIENT_CLOCK_SKEW_MS). */
  clientClockSkewInMs: number;
}

/** True when a repeat of `clientId` could have a first ack that only Cassandra still holds (the rule above). */
export function mustAskStoredReceipts(clientId: string, now: number, window: ReceiptWindow): boolean {
  const made = uuidV7Millis(clientId);
  if (made === undefined) return true;
  const age = now - made;
  const redisWindow = Math.min(window.windowInMs, window.idempotencyTtlInMs);
  return !(age >= -window.clientClockSkewInMs && age < redisWindow - window.clientClockSkewInMs);
}

/** The first acks of clientIds that may be older than Redis's window, for the send and change paths. */
export class PriorReceipts {
  constructor(
    private readonly stored: StoredReceipts,
    private readonly window: ReceiptWindow,
    private readonly logger: ChatLogger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The first ack of this send when Cassandra has it and Redis may not; undefined means "ask the log". */
  ofSend(from: string, room: string, clientId: string): Promise<SendReceipt | undefined> {
    return this.lookup(clientId, () => this.stored.sendReceipt(from, room, clientId));
  }

  /** As ofSend, for edit, delete and react (their clientIds are their own namespace). */
  ofChange(by: string, room: string, clientId: string): Promise<ChangeReceipt | undefined> {
    return this.lookup(clientId, () => this.stored.changeReceipt(by, room, clientId));
  }

  private async lookup<T>(clientId: string, read: () => Promise<T | undefined>): Promise<T | undefined> {
    if (!mustAskStoredReceipts(clientId, this.now(), this.window)) return undefined;
    try {
      return await read();
    } catch (error) {
      // The log still catches every duplicate Redis holds; see the file comment for what is left.
      this.logger.warn({ err: error, what: "stored receipt" }, "receipt lookup failed; the log alone decides whether this is a duplicate");
      return undefined;
    }
  }
}
