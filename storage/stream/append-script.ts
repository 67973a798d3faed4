/**
 * The atomic send, as one Redis script: idempotency check, buffer cap, seq and timestamp
 * assignment, the stream write and the recent-history write happen together or not at all.
 * That is what makes "ok: true" safe to send as soon as the script returns: the message is in
 * the stream (durable as Redis's AOF is), and its seq can never be handed out twice.
 *
 * ts comes from Redis's clock, clamped to never go below the room's previous ts, so ts (and
 * so the Cassandra time bucket) is monotonic in seq within a room.
 *
 * KEYS: 1 idempotency key, 2 room meta hash, 3 shard stream, 4 room recent zset
 * ARGV: 1 message JSON without its closing brace, 2 random part of the id (16 Crockford chars),
 *       3 idempotency TTL ms, 4 max entries in the shard, 5 recent-zset TTL ms
 * Returns: {"ok", receipt} | {"duplicate", receipt} | {"unseeded"} | {"full"}
 *   where receipt is "<id> <seq> <ts>".
 */
export const APPEND_SCRIPT = `
local prior = redis.call('GET', KEYS[1])
if prior then return {'duplicate', prior} end
if redis.call('HEXISTS', KEYS[2], 'seq') == 0 then return {'unseeded'} end
if redis.call('XLEN', KEYS[3]) >= tonumber(ARGV[4]) then return {'full'} end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local last = tonumber(redis.call('HGET', KEYS[2], 'ts') or '0')
if now < last then now = last end
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('HSET', KEYS[2], 'ts', string.format('%.0f', now))

local alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
local timePart = {}
local rest = now
for i = 10, 1, -1 do
  local digit = rest % 32
  timePart[i] = string.sub(alphabet, digit + 1, digit + 1)
  rest = (rest - digit) / 32
end
local id = table.concat(timePart) .. ARGV[2]
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
