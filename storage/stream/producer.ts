/**
 * The socket node's side of the write buffer: appends a message to its room's shard stream
 * (with ack replicas: and waits for them), taking the sender's rate token, and returns the
 * receipt to acknowledge. On a single Redis the token is taken inside the append script, one
 * round trip per send; on Redis Cluster the token is in another slot, so a send takes it first
 * (its own round trip), then appends, and gives it back when nothing was stored. See
 * append-script.ts for the atomicity argument, send-rate.ts for the token.
 */
import { randomFillSync } from "node:crypto";
import type { StreamConfig } from "../config.js";
import type { RedisKeys } from "../keys.js";
import { encodeMessageHead, type ChatMessage, type NewMessage, type SendReceipt } from "../message.js";
import { isCluster, type RedisClient } from "../redis-client.js";
import { APPEND_SCRIPT, RATED_APPEND_SCRIPT, RESEQUENCE_SCRIPT, SEED_SCRIPT } from "./append-script.js";
import type { StreamEntry } from "./entries.js";
import { execWithWait, NotReplicatedError, type AckReplicas } from "./replicated-write.js";
import { SendRateLimiter, type SendRateLimit } from "./send-rate.js";

export type { SendRateLimit } from "./send-rate.js";
export { NotReplicatedError, type AckReplicas } from "./replicated-write.js";

/** Where a room's last seq comes from when Redis cannot vouch for it (a new room, or a Redis that may have lost writes). */
export interface LatestSeqSource {
  latestOf(room: string): Promise<{ seq: number; ts: number }>;
}

export type AppendOutcome =
  | { kind: "stored"; message: ChatMessage }
  | { kind: "duplicate"; receipt: SendReceipt }
  | { kind: "buffer_full" }
  | { kind: "rate_limited"; retryAfterMs: number };

/**
 * Where a send takes its rate token: "in-script" in the append script (one round trip; single
 * Redis only), "separate" in its own script first (Redis Cluster: the bucket is in another slot).
 */
export type TokenStep = "in-script" | "separate";

/** Recent-history zsets of idle rooms expire after this long; the flusher trims active ones. */
const RECENT_TTL_IN_MS = 7 * 24 * 60 * 60 * 1000;
/**
 * How long a shard's cached Redis run id lives (append-script.ts, "Runs"). Must stay well
 * below cluster-node-timeout, so a promoted replica never trusts its former primary's run.
 */
const RUN_KEY_TTL_IN_MS = 500;
/** Seeding and appending again is retried this often when the run keeps changing (a flapping Redis). */
const MAX_SEED_ATTEMPTS = 3;

/** ioredis runs a defined command with EVALSHA and falls back to EVAL once after a NOSCRIPT. */
interface WithAppendScripts {
  chatAppend(...keysThenArgs: (string | number)[]): Promise<unknown>;
  chatAppendRated(...keysThenArgs: (string | number)[]): Promise<unknown>;
  chatSeedRoom(...keysThenArgs: (string | number)[]): unknown;
  chatResequence(...keysThenArgs: (string | number)[]): unknown;
}

type ScriptReply = [string, string?];

export class MessageBuffer {
  private readonly scripted: WithAppendScripts;
  private readonly rateLimiter: SendRateLimiter | undefined;
  private readonly tokenInScript: boolean;
  /** ARGV 8..10 of RATED_APPEND_SCRIPT, the same for every send. */
  private readonly rateArgs: (string | number)[] = [];

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly config: StreamConfig,
    private readonly latestSeqs: LatestSeqSource,
    /** Per-sender limit, cluster-wide; none when absent (tools that fill the buffer). */
    sendRate?: SendRateLimit,
    private readonly ackReplicas: AckReplicas = { count: 0, timeoutInMs: 0 },
    /** Follows the client; a single Redis can be told "separate" (tests of the Cluster way). */
    tokenStep: TokenStep = isCluster(redis) ? "separate" : "in-script",
  ) {
    if (tokenStep === "in-script" && isCluster(redis))
      throw new Error("on Redis Cluster the rate token cannot be taken in the append script");
    redis.defineCommand("chatAppend", { numberOfKeys: 5, lua: APPEND_SCRIPT });
    redis.defineCommand("chatSeedRoom", { numberOfKeys: 2, lua: SEED_SCRIPT });
    redis.defineCommand("chatResequence", { numberOfKeys: 5, lua: RESEQUENCE_SCRIPT });
    this.scripted = redis as unknown as WithAppendScripts;
    this.rateLimiter = sendRate && sendRate.perSecond > 0 ? new SendRateLimiter(redis, sendRate) : undefined;
    this.tokenInScript = this.rateLimiter !== undefined && tokenStep === "in-script";
    if (this.tokenInScript && this.rateLimiter) {
      redis.defineCommand("chatAppendRated", { numberOfKeys: 6, lua: RATED_APPEND_SCRIPT });
      this.rateArgs = [this.rateLimiter.limit.perSecond, this.rateLimiter.limit.burst, this.rateLimiter.ttlInMs];
    }
  }

  /**
   * `traceId`: the correlation id of the client action (common/trace-id.ts), stored in the
   * stream entry beside the message (entries.ts, field "t") for the flusher's log lines.
   */
  append(message: NewMessage, traceId = ""): Promise<AppendOutcome> {
    // Not async: the one-trip path (no limiter, or its token in the script) is one async step.
    if (this.rateLimiter === undefined || this.tokenInScript) return this.appendWithSeeding(message, traceId);
    return this.appendAfterTakingToken(message, traceId, this.rateLimiter);
  }

  /** The Redis Cluster way: the token first, in its own round trip; given back when nothing was stored. */
  private async appendAfterTakingToken(message: NewMessage, traceId: string, limiter: SendRateLimiter): Promise<AppendOutcome> {
    const bucket = this.keys.sendRate(message.from);
    const token = await limiter.take(bucket);
    if (token.kind === "rate_limited") {
      // A retry of an acknowledged send is free, even from an empty bucket.
      const receipt = await this.priorReceipt(message);
      return receipt ? { kind: "duplicate", receipt } : token;
    }
    const outcome = await this.appendWithSeeding(message, traceId);
    if (outcome.kind === "duplicate" || outcome.kind === "buffer_full") {
      // Stored nothing new: give the token back. If this fails the user lost one token (refilled
      // within 1/rate s); not worth failing a send whose answer is already known.
      await limiter.refund(bucket).catch(() => undefined);
    }
    return outcome;
  }

  private async appendWithSeeding(message: NewMessage, traceId: string): Promise<AppendOutcome> {
    const keysThenArgs = this.appendKeysThenArgs(message, encodeMessageHead(message), randomIdPart(), traceId);
    for (let attempt = 0; ; attempt++) {
      const reply = await this.runAppend(keysThenArgs);
      switch (reply[0]) {
        case "ok": {
          const [id, seq, ts] = splitReceipt(reply[1]);
          return { kind: "stored", message: { ...message, id, seq, ts } };
        }
        case "duplicate":
          return { kind: "duplicate", receipt: parseReceipt(reply[1]) };
        case "full":
          return { kind: "buffer_full" };
        case "rate_limited":
          return { kind: "rate_limited", retryAfterMs: Number(reply[1]) };
        case "unseeded":
          // This Redis run has not vouched for the room's seq (a new room, a restart, a promoted
          // replica): continue from what Cassandra holds, so no seq is handed out twice.
          if (attempt >= MAX_SEED_ATTEMPTS) throw new Error("the room's seq could not be seeded: the Redis run kept changing");
          await this.seedRoom(message.room);
          break;
        default:
          throw new Error(`append script answered ${JSON.stringify(reply)}`);
      }
    }
  }

  /** KEYS then ARGV of APPEND_SCRIPT, or of RATED_APPEND_SCRIPT when the token is taken in the script. */
  private appendKeysThenArgs(message: NewMessage, head: string, idPart: string, traceId: string): (string | number)[] {
    const keysThenArgs: (string | number)[] = this.scriptKeys(message);
    if (this.tokenInScript) keysThenArgs.push(this.keys.sendRate(message.from));
    keysThenArgs.push(
      head,
      idPart,
      this.config.idempotencyTtlInMs,
      this.config.maxEntriesPerShard,
      RECENT_TTL_IN_MS,
      RUN_KEY_TTL_IN_MS,
      traceId,
    );
    if (this.tokenInScript) keysThenArgs.push(...this.rateArgs);
    return keysThenArgs;
  }

  /**
   * The script, and with ack replicas WAIT in the same pipeline: both go to the connection of
   * the script's slot, so WAIT counts the replicas of the primary that has the write (a bare
   * WAIT through a Cluster client goes to an arbitrary primary and can acknowledge falsely).
   * A duplicate waits too: the first attempt may have been answered UNAVAILABLE for want of
   * replicas, and its receipt is only handed out once they have it.
   */
  private runAppend(keysThenArgs: (string | number)[]): Promise<ScriptReply> {
    if (this.ackReplicas.count === 0) return this.callAppend(this.scripted, keysThenArgs);
    return this.runAppendWithWait(keysThenArgs);
  }

  private async runAppendWithWait(keysThenArgs: (string | number)[]): Promise<ScriptReply> {
    const [reply, replicas] = (await execWithWait(this.redis, () => {
      const pipeline = this.redis.pipeline();
      void this.callAppend(pipeline as unknown as WithAppendScripts, keysThenArgs);
      return pipeline.call("wait", this.ackReplicas.count, this.ackReplicas.timeoutInMs);
    })) as [ScriptReply, number];
    const stored = reply[0] === "ok" || reply[0] === "duplicate";
    if (stored && replicas < this.ackReplicas.count) throw new NotReplicatedError(replicas, this.ackReplicas.count);
    return reply;
  }

  private callAppend(target: WithAppendScripts, keysThenArgs: (string | number)[]): Promise<ScriptReply> {
    return (this.tokenInScript ? target.chatAppendRated(...keysThenArgs) : target.chatAppend(...keysThenArgs)) as Promise<ScriptReply>;
  }

  /**
   * The flusher's way out of a seq conflict (RESEQUENCE_SCRIPT): the message stored in `entry`
   * is appended again under the room's next seq and the old entry leaves the stream (pending in
   * `group`); the new entry keeps the old one's correlation id. Resolves with the new receipt, or undefined when the entry was already gone.
   */
  async resequence(entry: StreamEntry, message: ChatMessage, group: string): Promise<SendReceipt | undefined> {
    const head = encodeMessageHead(message);
    const keys = this.scriptKeys(message);
    for (let attempt = 0; ; attempt++) {
      const args = [
        head,
        randomIdPart(),
        this.config.idempotencyTtlInMs,
        RUN_KEY_TTL_IN_MS,
        RECENT_TTL_IN_MS,
        entry.id,
        group,
        entry.payload ?? "",
        entry.traceId ?? "",
      ];
      const reply = (await this.scripted.chatResequence(...keys, ...args)) as ScriptReply;
      if (reply[0] === "ok") return parseReceipt(reply[1]);
      if (reply[0] === "gone") return undefined;
      if (reply[0] !== "unseeded" || attempt >= MAX_SEED_ATTEMPTS) throw new Error(`resequence script answered ${JSON.stringify(reply)}`);
      await this.seedRoom(message.room);
    }
  }

  /** KEYS 1..5 of the append and resequence scripts; the room's shard hashed once. */
  private scriptKeys(message: NewMessage): string[] {
    const { room, from } = message;
    const shard = this.keys.shardOf(room);
    return [
      this.keys.idempotency(from, room, message.clientId),
      this.keys.roomMeta(room),
      this.keys.stream(shard),
      this.keys.roomRecent(room),
      this.keys.shardRun(shard),
    ];
  }

  /** The first receipt of this (from, room, clientId), once replicated as required; undefined if never stored. */
  private async priorReceipt(message: NewMessage): Promise<SendReceipt | undefined> {
    const key = this.keys.idempotency(message.from, message.room, message.clientId);
    if (this.ackReplicas.count === 0) {
      const text = await this.redis.get(key);
      return text === null ? undefined : parseReceipt(text);
    }
    const [text, replicas] = (await execWithWait(this.redis, () =>
      this.redis.pipeline().get(key).call("wait", this.ackReplicas.count, this.ackReplicas.timeoutInMs),
    )) as [string | null, number];
    if (text === null) return undefined;
    if (replicas < this.ackReplicas.count) throw new NotReplicatedError(replicas, this.ackReplicas.count);
    return parseReceipt(text);
  }

  private async seedRoom(room: string): Promise<void> {
    const latest = await this.latestSeqs.latestOf(room);
    await this.scripted.chatSeedRoom(
      this.keys.roomMeta(room),
      this.keys.shardRun(this.keys.shardOf(room)),
      latest.seq,
      latest.ts,
      RUN_KEY_TTL_IN_MS,
    );
  }
}

function parseReceipt(text: string | undefined): SendReceipt {
  const [id, seq, ts] = splitReceipt(text);
  return { id, seq, ts };
}

/** "<id> <seq> <ts>" as the script writes it. */
function splitReceipt(text: string | undefined): [id: string, seq: number, ts: number] {
  const [id, seq, ts] = (text ?? "").split(" ");
  if (!id || !seq || !ts) throw new Error(`malformed receipt "${text}"`);
  return [id, Number(seq), Number(ts)];
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
