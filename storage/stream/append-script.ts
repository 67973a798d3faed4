/**
 * The atomic send, as one Redis script: idempotency check, the sender's rate limit, buffer cap,
 * seq and timestamp assignment, the stream write and the recent-history write happen together
 * or not at all. (The rate limit lives here rather than in a script of its own to save a Redis
 * round trip and a command per send: the send path is the product's hot path.)
 * That is what makes "ok: true" safe to send as soon as the script returns: the message is in
 * the stream (durable as Redis's AOF is), and its seq can never be handed out twice.
 *
 * ts comes from Redis's clock, clamped to never go below the room's previous ts, so ts (and
 * so the Cassandra time bucket) is monotonic in seq within a room.
 *
 * Rate limit: a token bucket per sender, refilled at ARGV[6] tokens/s up to ARGV[7], on Redis's
 * clock so all nodes share it. A duplicate is answered before it (a retry of an acknowledged
 * send is free); a refused send (unseeded, full) takes no token.
 *
 * KEYS: 1 idempotency key, 2 room meta hash, 3 shard stream, 4 room recent zset, 5 sender's
 *       rate bucket hash { tokens, at }
 * ARGV: 1 message JSON without its closing brace, 2 random part of the id (10 Crockford chars),
 *       3 idempotency TTL ms, 4 max entries in the shard, 5 recent-zset TTL ms,
 *       6 sends per second (0 = no limit), 7 burst, 8 rate-bucket TTL ms
 * Returns: {"ok", receipt} | {"duplicate", receipt} | {"unseeded"} | {"full"} | {"rate_limited", waitMs}
 *   where receipt is "<id> <seq> <ts>".
 */
export const APPEND_SCRIPT = `
local prior = redis.call('GET', KEYS[1])
if prior then return {'duplicate', prior} end
if redis.call('HEXISTS', KEYS[2], 'seq') == 0 then return {'unseeded'} end
if redis.call('XLEN', KEYS[3]) >= tonumber(ARGV[4]) then return {'full'} end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local rate = tonumber(ARGV[6])
if rate > 0 then
  local burst = tonumber(ARGV[7])
  local bucket = redis.call('HMGET', KEYS[5], 'tokens', 'at')
  local tokens = tonumber(bucket[1]) or burst
  local at = tonumber(bucket[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
  if tokens < 1 then return {'rate_limited', tostring(math.ceil((1 - tokens) * 1000 / rate))} end
  redis.call('HSET', KEYS[5], 'tokens', tostring(tokens - 1), 'at', string.format('%.0f', now))
  redis.call('PEXPIRE', KEYS[5], ARGV[8])
end
local last = tonumber(redis.call('HGET', KEYS[2], 'ts') or '0')
if now < last then now = last end
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('HSET', KEYS[2], 'ts', string.format('%.0f', now))

-- id: 10 chars of ms time, 6 chars of the room's seq (mod 32^6), then ARGV[2]'s 10 random chars.
-- Within a room, ts never decreases and seq increases, so ids sort in send order even inside
-- one millisecond, which random bits alone would not give.
local alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
local function base32(value, width)
  local digits = {}
  for i = width, 1, -1 do
    local digit = value % 32
    digits[i] = string.sub(alphabet, digit + 1, digit + 1)
    value = (value - digit) / 32
  end
  return table.concat(digits)
end
local id = base32(now, 10) .. base32(seq % 1073741824, 6) .. ARGV[2]
local seqText = string.format('%.0f', seq)
local tsText = string.format('%.0f', now)
local json = ARGV[1] .. ',"id":"' .. id .. '","seq":' .. seqText .. ',"ts":' .. tsText .. '}'

redis.call('XADD', KEYS[3], '*', 'm', json)
redis.call('ZADD', KEYS[4], seq, json)
redis.call('PEXPIRE', KEYS[4], ARGV[5])
local receipt = id .. ' ' .. seqText .. ' ' .. tsText
redis.call('SET', KEYS[1], receipt, 'PX', ARGV[3])
return {'ok', receipt}
`;
