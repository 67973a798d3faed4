/**
 * The per-sender send rate limit: a token bucket per user, on Redis's clock so every node
 * shares it. It lives in the user's own hash slot, which decides how a send takes its token:
 * - single Redis: inside the append script itself (RATED_APPEND_SCRIPT, append-script.ts), one
 *   round trip per send; the token is only spent when the message is appended, so a duplicate,
 *   a full buffer or an "unseeded" answer costs none;
 * - Redis Cluster: the bucket's slot is not the room's, so it cannot be part of the append script
 *   (CROSSSLOT, even when both slots sit on one node): a send takes its token here first, then
 *   appends, and a send that turns out not to need it (a duplicate, a full buffer) gives it back.
 * Either way a retry of an acknowledged send stays free and a refused send costs nothing.
 */
import type { RedisClient } from "../redis-client.js";

/** A sender's allowance: `perSecond` sends per second with bursts of `burst`. */
export interface SendRateLimit {
  perSecond: number;
  burst: number;
}

/**
 * The bucket as Lua functions, shared by TAKE_SCRIPT and RATED_APPEND_SCRIPT. A bucket is a hash
 * { tokens, at }; a missing one is full.
 * - refilledTokens(key, rate, burst) → tokens, now: what the bucket holds now (read only)
 * - waitForToken(tokens, rate) → ms until it holds one token, as text
 * - spendToken(key, tokens, now, ttl): stores tokens - 1 as of now
 */
export const TOKEN_BUCKET = `
local function refilledTokens(key, rate, burst)
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local bucket = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(bucket[1]) or burst
  local at = tonumber(bucket[2]) or now
  return math.min(burst, tokens + math.max(0, now - at) * rate / 1000), now
end
local function waitForToken(tokens, rate)
  return tostring(math.ceil((1 - tokens) * 1000 / rate))
end
local function spendToken(key, tokens, now, ttl)
  redis.call('HSET', key, 'tokens', tostring(tokens - 1), 'at', string.format('%.0f', now))
  redis.call('PEXPIRE', key, ttl)
end
`;

/**
 * KEYS: 1 the user's bucket hash { tokens, at }
 * ARGV: 1 tokens per second, 2 burst, 3 bucket TTL ms
 * Returns {"ok"} | {"rate_limited", waitMs}
 */
const TAKE_SCRIPT = `${TOKEN_BUCKET}
local rate = tonumber(ARGV[1])
local tokens, now = refilledTokens(KEYS[1], rate, tonumber(ARGV[2]))
if tokens < 1 then return {'rate_limited', waitForToken(tokens, rate)} end
spendToken(KEYS[1], tokens, now, ARGV[3])
return {'ok'}
`;

/** Gives one token back, up to the burst; a bucket that expired meanwhile is full anyway. ARGV: 1 burst */
const REFUND_SCRIPT = `
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens == nil then return 0 end
redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(tonumber(ARGV[1]), tokens + 1)))
return 1
`;

interface RedisWithRateScripts {
  chatTakeSendToken(key: string, perSecond: number, burst: number, ttlInMs: number): Promise<[string, string?]>;
  chatRefundSendToken(key: string, burst: number): Promise<number>;
}

export type TakeOutcome = { kind: "taken" } | { kind: "rate_limited"; retryAfterMs: number };

export class SendRateLimiter {
  private readonly scripted: RedisWithRateScripts;
  /** A full bucket refills in burst/rate seconds; after that its key carries no information. */
  readonly ttlInMs: number;

  constructor(
    redis: RedisClient,
    readonly limit: SendRateLimit,
  ) {
    if (!(limit.perSecond > 0) || !(limit.burst >= 1))
      throw new Error(`a send rate needs perSecond > 0 and burst >= 1, got ${limit.perSecond}/${limit.burst}`);
    redis.defineCommand("chatTakeSendToken", { numberOfKeys: 1, lua: TAKE_SCRIPT });
    redis.defineCommand("chatRefundSendToken", { numberOfKeys: 1, lua: REFUND_SCRIPT });
    this.scripted = redis as unknown as RedisWithRateScripts;
    this.ttlInMs = Math.ceil((limit.burst / limit.perSecond) * 1000) + 1000;
  }

  async take(bucketKey: string): Promise<TakeOutcome> {
    const [verdict, waitMs] = await this.scripted.chatTakeSendToken(bucketKey, this.limit.perSecond, this.limit.burst, this.ttlInMs);
    if (verdict === "ok") return { kind: "taken" };
    if (verdict === "rate_limited") return { kind: "rate_limited", retryAfterMs: Number(waitMs) };
    throw new Error(`send-rate script answered ${JSON.stringify(verdict)}`);
  }

  async refund(bucketKey: string): Promise<void> {
    await this.scripted.chatRefundSendToken(bucketKey, this.limit.burst);
  }
}
