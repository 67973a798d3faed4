/**
 * The socket node's side of a change (edit, delete, react): takes the user's rate token, runs
 * the change script (change-script.ts, the atomicity argument) and returns what to acknowledge.
 * When the room's seq or the target's state is not in Redis, it is seeded from Cassandra first
 * and the script runs again.
 */
import { decodeMessageId, encodeChangeHead, type ChangeReceipt, type ChatChange, type NewChange, type Reaction } from "../change.js";
import { ChangeKeys } from "../change-keys.js";
import type { StreamConfig } from "../config.js";
import type { RedisKeys } from "../keys.js";
import type { RedisClient } from "../redis-client.js";
import { SEED_SCRIPT } from "./append-script.js";
import { CHANGE_SCRIPT, SEED_TARGET_SCRIPT } from "./change-script.js";
import type { LatestSeqSource } from "./producer.js";
import { NotReplicatedError, type AckReplicas } from "./replicated-write.js";
import { SendRateLimiter, type SendRateLimit } from "./send-rate.js";

/** A message's state as Cassandra's read model holds it, to seed Redis with. */
export interface StoredTarget {
  seq: number;
  from: string;
  deleted: boolean;
  /** Set when the message was edited. */
  edited?: { text: string; at: number };
  reactions: Reaction[];
}

/** Where a target older than Redis's recent history is looked up. */
export interface TargetSource {
  /** The message with this id at this seq and ts in the room, or undefined if Cassandra has none. */
  storedTarget(room: string, id: string, seq: number, ts: number): Promise<StoredTarget | undefined>;
}

export type ChangeOutcome =
  | { kind: "stored"; change: ChatChange }
  | { kind: "duplicate"; receipt: ChangeReceipt }
  | { kind: "buffer_full" }
  | { kind: "rate_limited"; retryAfterMs: number }
  | { kind: "not_found" }
  | { kind: "forbidden" }
  | { kind: "too_many_emoji" };

/** What the caller decided before the script: may the user delete others' messages in this room. */
export interface ChangeRequest {
  change: NewChange;
  mayModerate: boolean;
  /** The client action's correlation id (common/trace-id.ts), stored in the stream entry (entries.ts, field "t"). */
  traceId?: string;
}

export interface ChangeLimits {
  /** Distinct emoji one message may hold. */
  maxEmojiPerMessage: number;
}

/** Recent changes and message states of idle rooms expire after this long; the flusher trims active ones. */
const RECENT_TTL_IN_MS = 7 * 24 * 60 * 60 * 1000;
/** A message's state outlives its last change by this much; after that it is seeded from Cassandra again. */
const STATE_TTL_IN_MS = 30 * 24 * 60 * 60 * 1000;
/** As producer.ts: how long a shard's cached Redis run id lives, well below cluster-node-timeout. */
const RUN_KEY_TTL_IN_MS = 500;
/** Seeding and running again is retried this often (seeds racing with trims, a flapping Redis). */
const MAX_SEED_ATTEMPTS = 3;

interface WithChangeScripts {
  chatChange(...keysThenArgs: (string | number)[]): Promise<unknown>;
  chatSeedTarget(...keysThenArgs: (string | number)[]): Promise<unknown>;
  chatSeedRoom(...keysThenArgs: (string | number)[]): Promise<unknown>;
}

type ScriptReply = [string, string?, string?];

export class ChangeBuffer {
  private readonly scripted: WithChangeScripts;
  private readonly changeKeys: ChangeKeys;
  private readonly rateLimiter: SendRateLimiter | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly config: StreamConfig,
    private readonly latestSeqs: LatestSeqSource,
    private readonly targets: TargetSource,
    private readonly limits: ChangeLimits,
    /** The same per-user limit as sends, in the same bucket; none when absent. */
    sendRate?: SendRateLimit,
    /** CHAT_ACK_REPLICAS: a change is acknowledged once that many replicas have it, as a send. */
    private readonly ackReplicas: AckReplicas = { count: 0, timeoutInMs: 0 },
  ) {
    redis.defineCommand("chatChange", { numberOfKeys: 7, lua: CHANGE_SCRIPT });
    redis.defineCommand("chatSeedRoom", { numberOfKeys: 2, lua: SEED_SCRIPT });
    redis.defineCommand("chatSeedTarget", { numberOfKeys: 1, lua: SEED_TARGET_SCRIPT });
    this.scripted = redis as unknown as WithChangeScripts;
    this.changeKeys = new ChangeKeys(keys);
    this.rateLimiter = sendRate && sendRate.perSecond > 0 ? new SendRateLimiter(redis, sendRate) : undefined;
  }

  async append(request: ChangeRequest): Promise<ChangeOutcome> {
    const { change } = request;
    const bucket = this.keys.sendRate(change.by);
    if (this.rateLimiter) {
      const token = await this.rateLimiter.take(bucket);
      if (token.kind === "rate_limited") {
        // A retry of an acknowledged change is free, even from an empty bucket.
        const prior = await this.redis.get(this.changeKeys.idempotency(change.by, change.room, change.clientId));
        return prior === null ? token : { kind: "duplicate", receipt: parseReceipt(prior) };
      }
    }
    const outcome = await this.appendWithSeeding(request);
    if (this.rateLimiter && (outcome.kind === "duplicate" || outcome.kind === "buffer_full")) {
      // Stored nothing new: the token goes back, as for sends (producer.ts).
      await this.rateLimiter.refund(bucket).catch(() => undefined);
    }
    return outcome;
  }

  private async appendWithSeeding(request: ChangeRequest): Promise<ChangeOutcome> {
    const head = encodeChangeHead(request.change);
    for (let attempt = 0; ; attempt++) {
      const reply = await this.runScript(request, head);
      switch (reply[0]) {
        case "ok": {
          const receipt = parseReceipt(reply[1]);
          return { kind: "stored", change: { ...withoutUndefined(request.change), ...receipt } };
        }
        case "duplicate":
          return { kind: "duplicate", receipt: parseReceipt(reply[1]) };
        case "full":
          return { kind: "buffer_full" };
        case "not_found":
          return { kind: "not_found" };
        case "forbidden":
          return { kind: "forbidden" };
        case "too_many_emoji":
          return { kind: "too_many_emoji" };
        case "unseeded":
          if (attempt >= MAX_SEED_ATTEMPTS) throw new Error("the room's seq could not be seeded");
          await this.seedRoom(request.change.room);
          break;
        case "unknown_target": {
          if (attempt >= MAX_SEED_ATTEMPTS) throw new Error("the target's state could not be seeded");
          if (!(await this.seedTarget(request.change))) return { kind: "not_found" };
          break;
        }
        default:
          throw new Error(`change script answered ${JSON.stringify(reply)}`);
      }
    }
  }

  private async runScript({ change, mayModerate, traceId }: ChangeRequest, head: string): Promise<ScriptReply> {
    const keys = [
      this.changeKeys.idempotency(change.by, change.room, change.clientId),
      this.keys.roomMeta(change.room),
      this.keys.streamOf(change.room),
      this.keys.roomRecent(change.room),
      this.changeKeys.roomChanges(change.room),
      this.changeKeys.messageState(change.room, change.target),
      this.keys.shardRun(this.keys.shardOf(change.room)),
    ];
    const args = [
      head,
      change.kind,
      change.by,
      change.target,
      change.targetSeq,
      change.emoji ?? "",
      change.on ? "1" : "0",
      mayModerate ? "1" : "0",
      change.text ?? "",
      this.config.idempotencyTtlInMs,
      this.config.maxEntriesPerShard,
      RECENT_TTL_IN_MS,
      STATE_TTL_IN_MS,
      this.limits.maxEmojiPerMessage,
      RUN_KEY_TTL_IN_MS,
      traceId ?? "",
    ];
    if (this.ackReplicas.count === 0) return (await this.scripted.chatChange(...keys, ...args)) as ScriptReply;
    // WAIT in the same pipeline goes to the script's slot's primary (see producer.ts, runAppend);
    // a duplicate waits too, so a receipt is only handed out once replicated.
    const pipeline = this.redis.pipeline();
    void (pipeline as unknown as WithChangeScripts).chatChange(...keys, ...args);
    pipeline.call("wait", this.ackReplicas.count, this.ackReplicas.timeoutInMs);
    const results = await pipeline.exec();
    if (results === null) throw new Error("Redis pipeline aborted");
    const [[scriptError, reply], [waitError, replicas]] = results as [[Error | null, ScriptReply], [Error | null, number]];
    if (scriptError) throw scriptError;
    if (waitError) throw waitError;
    if ((reply[0] === "ok" || reply[0] === "duplicate") && replicas < this.ackReplicas.count)
      throw new NotReplicatedError(replicas, this.ackReplicas.count);
    return reply;
  }

  /** The target from Cassandra into Redis; false when Cassandra has no such message. */
  private async seedTarget(change: NewChange): Promise<boolean> {
    const decoded = decodeMessageId(change.target);
    if (!decoded) return false;
    const stored = await this.targets.storedTarget(change.room, change.target, change.targetSeq, decoded.ts);
    if (!stored) return false;
    const reactions = stored.reactions.flatMap((r) => [r.user, r.emoji, r.seq]);
    const edited = stored.edited;
    await this.scripted.chatSeedTarget(
      this.changeKeys.messageState(change.room, change.target),
      STATE_TTL_IN_MS,
      stored.seq,
      stored.from,
      stored.deleted ? "1" : "0",
      edited?.text ?? "",
      edited ? edited.at : "",
      ...reactions,
    );
    return true;
  }

  private async seedRoom(room: string): Promise<void> {
    // As producer.ts: raise the room's seq to at least Cassandra's and vouch for it in this run.
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

function parseReceipt(text: string | undefined): ChangeReceipt {
  const [seq, ts] = (text ?? "").split(" ");
  if (!seq || !ts) throw new Error(`malformed change receipt "${text}"`);
  return { seq: Number(seq), ts: Number(ts) };
}

function withoutUndefined(change: NewChange): NewChange {
  return Object.fromEntries(Object.entries(change).filter(([, value]) => value !== undefined)) as NewChange;
}
