/**
 * Per-user send rate limit, cluster-wide: a token bucket in Redis, so a user with sockets on
 * several nodes (or using REST) still gets 20 sends/s with bursts of 40, not that per node.
 */
import type { Redis } from "ioredis";

/**
 * KEYS: 1 bucket hash { tokens, at }.  ARGV: 1 refill per second, 2 burst, 3 TTL ms.
 * Returns 0 when a token was taken, else the ms until one is available.
 * Time comes from Redis so all nodes share one clock.
 */
const TAKE_SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate / 1000)
if tokens < 1 then
  return math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 0
`;

interface RedisWithTake {
  chatTakeToken(key: string, rate: number, burst: number, ttlInMs: number): Promise<number>;
}

export interface RateLimit {
  perSecond: number;
  burst: number;
}

export class SendRateLimiter {
  private readonly scripted: RedisWithTake;

  constructor(
    redis: Redis,
    private readonly keyPrefix: string,
    private readonly limit: RateLimit,
  ) {
    redis.defineCommand("chatTakeToken", { numberOfKeys: 1, lua: TAKE_SCRIPT });
    this.scripted = redis as unknown as RedisWithTake;
  }

  /** Takes one send token for the user; returns 0, or how long to wait before retrying (ms). */
  async take(userId: string): Promise<number> {
    // A full bucket needs burst/rate seconds to refill; after that the key carries no information.
    const ttlInMs = Math.ceil((this.limit.burst / this.limit.perSecond) * 1000) + 1000;
    return this.scripted.chatTakeToken(`${this.keyPrefix}rate:${userId}`, this.limit.perSecond, this.limit.burst, ttlInMs);
  }
}
