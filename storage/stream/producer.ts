/**
 * The socket node's side of the write buffer: appends a message to its room's shard stream and
 * returns the receipt to acknowledge. See append-script.ts for the atomicity argument.
 */
import { randomFillSync } from "node:crypto";
import type { Redis } from "ioredis";
import type { StreamConfig } from "../config.js";
import type { RedisKeys } from "../keys.js";
import { encodeMessageHead, type ChatMessage, type NewMessage, type SendReceipt } from "../message.js";
import { APPEND_SCRIPT } from "./append-script.js";

/** Where a room's last seq comes from when Redis has none (a new room, or Redis lost it). */
export interface LatestSeqSource {
  latestOf(room: string): Promise<{ seq: number; ts: number }>;
}

export type AppendOutcome =
  | { kind: "stored"; message: ChatMessage }
  | { kind: "duplicate"; receipt: SendReceipt }
  | { kind: "buffer_full" }
  | { kind: "rate_limited"; retryAfterMs: number };

/** A sender's allowance: `perSecond` sends per second with bursts of `burst`. */
export interface SendRateLimit {
  perSecond: number;
  burst: number;
}

/** Recent-history zsets of idle rooms expire after this long; the flusher trims active ones. */
const RECENT_TTL_IN_MS = 7 * 24 * 60 * 60 * 1000;

/** ioredis runs a defined command with EVALSHA and falls back to EVAL once after a NOSCRIPT. */
interface RedisWithAppend {
  chatAppend(...keysThenArgs: (string | number)[]): Promise<unknown>;
}

export class MessageBuffer {
  private readonly scripted: RedisWithAppend;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly config: StreamConfig,
    private readonly latestSeqs: LatestSeqSource,
    /** Per-sender limit, cluster-wide; none when absent (tools that fill the buffer). */
    private readonly sendRate?: SendRateLimit,
  ) {
    redis.defineCommand("chatAppend", { numberOfKeys: 5, lua: APPEND_SCRIPT });
    this.scripted = redis as unknown as RedisWithAppend;
  }

  async append(message: NewMessage): Promise<AppendOutcome> {
    const head = encodeMessageHead(message);
    let reply = await this.runScript(message, head);
    if (reply[0] === "unseeded") {
      // First send to this room since Redis started empty: continue the room's seq from what
      // Cassandra holds, so seq never restarts at 1 for a room that has history.
      await this.seedRoom(message.room);
      reply = await this.runScript(message, head);
    }
    switch (reply[0]) {
      case "ok": {
        const receipt = parseReceipt(reply[1]);
        return { kind: "stored", message: { ...message, ...receipt } };
      }
      case "duplicate":
        return { kind: "duplicate", receipt: parseReceipt(reply[1]) };
      case "full":
        return { kind: "buffer_full" };
      case "rate_limited":
        return { kind: "rate_limited", retryAfterMs: Number(reply[1]) };
      default:
        throw new Error(`append script answered ${JSON.stringify(reply)}`);
    }
  }

  private async runScript(message: NewMessage, head: string): Promise<[string, string?]> {
    const keys = [
      this.keys.idempotency(message.from, message.room, message.clientId),
      this.keys.roomMeta(message.room),
      this.keys.streamOf(message.room),
      this.keys.roomRecent(message.room),
      this.keys.sendRate(message.from),
    ];
    const rate = this.sendRate ?? { perSecond: 0, burst: 0 };
    // A full bucket refills in burst/rate seconds; after that its key carries no information.
    const rateTtlInMs = rate.perSecond > 0 ? Math.ceil((rate.burst / rate.perSecond) * 1000) + 1000 : 1;
    const args = [head, randomIdPart(), this.config.idempotencyTtlInMs, this.config.maxEntriesPerShard, RECENT_TTL_IN_MS, rate.perSecond, rate.burst, rateTtlInMs];
    return (await this.scripted.chatAppend(...keys, ...args)) as [string, string?];
  }

  private async seedRoom(room: string): Promise<void> {
    const latest = await this.latestSeqs.latestOf(room);
    // HSETNX: if another node seeded the room meanwhile, or a send already went through, keep it.
    await this.redis.multi().hsetnx(this.keys.roomMeta(room), "seq", latest.seq).hsetnx(this.keys.roomMeta(room), "ts", latest.ts).exec();
  }
}

function parseReceipt(text: string | undefined): SendReceipt {
  const [id, seq, ts] = (text ?? "").split(" ");
  if (!id || !seq || !ts) throw new Error(`malformed receipt "${text}"`);
  return { id, seq: Number(seq), ts: Number(ts) };
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** Random bytes are drawn 4 KB at a time: one call into the CSPRNG per ~400 ids, not per id. */
const randomPool = Buffer.alloc(4096);
let randomPoolOffset = randomPool.length;

/** The 50 random bits of a message id, as 10 Crockford base-32 characters (see append-script.ts). */
function randomIdPart(): string {
  if (randomPoolOffset + 10 > randomPool.length) {
    randomFillSync(randomPool);
    randomPoolOffset = 0;
  }
  let out = "";
  for (let i = 0; i < 10; i++) out += CROCKFORD[randomPool[randomPoolOffset + i]! & 31];
  randomPoolOffset += 10;
  return out;
}
