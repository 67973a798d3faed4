/**
 * The atomic send, as one Redis script: idempotency check, buffer cap, seq and timestamp
 * assignment, the stream write and the recent-history write happen together or not at all.
 * That is what makes "ok: true" safe to send once the script returns (and, with ack replicas,
 * once WAIT confirmed it): the message is in the stream, and its seq can never be handed out twice.
 *
 * Every key is in the room's shard slot (keys.ts), so the script runs on Redis Cluster too. The
 * sender's rate limit is in another slot: on Redis Cluster it is taken before this script
 * (send-rate.ts), on a single Redis RATED_APPEND_SCRIPT takes it inside, in the same round trip.
 *
 * ts comes from Redis's clock, clamped to never go below the room's previous ts, so ts (and
 * so the Cassandra time bucket) is monotonic in seq within a room.
 *
 * Runs: a Redis that comes back with less than it acknowledged (an older AOF, a promoted
 * replica that missed writes) would hand out seqs again. So the room's meta records the run id
 * of the Redis process that vouched for its seq, and a send is only sequenced by that same
 * process; any other run answers "unseeded", and the node first raises the room's seq to at
 * least Cassandra's latest (SEED_SCRIPT). The run id is cached in the shard's `run` key for a
 * short TTL (ARGV[6]) to spare an INFO per send; the TTL is stored as an absolute time (PXAT,
 * also in the AOF and on replicas), so a restored AOF has it expired, and a replica promoted
 * after cluster-node-timeout (longer than the TTL) finds it expired too and asks INFO.
 *
 * The receipt is kept for the whole idempotency TTL here; once the flusher has written the entry
 * and its receipt to Cassandra it shortens this copy to the receipt window
 * (storage/cassandra/receipts.ts), so an unflushed entry's receipt never leaves Redis early.
 *
 * KEYS: 1 idempotency key, 2 room meta hash, 3 shard stream, 4 room recent zset, 5 shard run key
 * ARGV: 1 message JSON without its closing brace, 2 random part of the id (10 Crockford chars),
 *       3 idempotency TTL ms, 4 max entries in the shard, 5 recent-zset TTL ms, 6 run-key TTL ms,
 *       7 correlation id ("" for none; the entry's field "t", entries.ts)
 * Returns: {"ok", receipt} | {"duplicate", receipt} | {"unseeded"} | {"full"}
 *   where receipt is "<id> <seq> <ts>".
 */
import { TOKEN_BUCKET } from "./send-rate.js";

const CURRENT_RUN = `
local function currentRun(runKey, ttl)
  local run = redis.call('GET', runKey)
  if run then return run end
  run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
  redis.call('SET', runKey, run, 'PX', ttl)
  return run
end
`;

/**
 * Assigns the room's next seq, its ts and id, and stores the message: stream entry, recent
 * history, idempotency receipt. KEYS 1..4 as in APPEND_SCRIPT. Returns "<id> <seq> <ts>".
 * The correlation id goes into the stream entry only (the flusher logs it), never into the JSON.
 */
const SEQUENCE = `
local function sequence(head, idPart, idempotencyTtl, recentTtl, trace)
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local last = tonumber(redis.call('HGET', KEYS[2], 'ts') or '0')
  if now < last then now = last end
  local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
  redis.call('HSET', KEYS[2], 'ts', string.format('%.0f', now))

  -- id: 10 chars of ms time, 6 chars of the room's seq (mod 32^6), then idPart's 10 random chars.
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
  local id = base32(now, 10) .. base32(seq % 1073741824, 6) .. idPart
  local seqText = string.format('%.0f', seq)
  local tsText = string.format('%.0f', now)
  local json = head .. ',"id":"' .. id .. '","seq":' .. seqText .. ',"ts":' .. tsText .. '}'

  if trace and trace ~= '' then
    redis.call('XADD', KEYS[3], '*', 'm', json, 't', trace)
  else
    redis.call('XADD', KEYS[3], '*', 'm', json)
  end
  redis.call('ZADD', KEYS[4], seq, json)
  redis.call('PEXPIRE', KEYS[4], recentTtl)
  local receipt = id .. ' ' .. seqText .. ' ' .. tsText
  redis.call('SET', KEYS[1], receipt, 'PX', idempotencyTtl)
  return receipt
end
`;

/**
 * The sender's token, for RATED_APPEND_SCRIPT: checked after the idempotency check (a retry of an
 * acknowledged send is answered even from an empty bucket) and before the others, so an empty
 * bucket answers "rate_limited" whatever the buffer's state, as the separate take does on Cluster.
 * It is only spent once the message is appended: a refused or unseeded send costs nothing.
 */
const TOKEN_CHECK = `
local rate = tonumber(ARGV[8])
local tokens, now = refilledTokens(KEYS[6], rate, tonumber(ARGV[9]))
if tokens < 1 then return {'rate_limited', waitForToken(tokens, rate)} end
`;
const TOKEN_SPEND = `spendToken(KEYS[6], tokens, now, ARGV[10])`;

function appendScript(rated: boolean): string {
  return `${CURRENT_RUN}${SEQUENCE}${rated ? TOKEN_BUCKET : ""}
local prior = redis.call('GET', KEYS[1])
if prior then return {'duplicate', prior} end
${rated ? TOKEN_CHECK : ""}
if redis.call('HGET', KEYS[2], 'run') ~= currentRun(KEYS[5], ARGV[6]) then return {'unseeded'} end
if redis.call('XLEN', KEYS[3]) >= tonumber(ARGV[4]) then return {'full'} end
${rated ? TOKEN_SPEND : ""}
return {'ok', sequence(ARGV[1], ARGV[2], ARGV[3], ARGV[5], ARGV[7])}
`;
}

export const APPEND_SCRIPT = appendScript(false);

/**
 * APPEND_SCRIPT with the sender's rate token taken in the same step (single Redis only: KEYS[6]
 * is in the user's slot, not the room's).
 *
 * KEYS: 1..5 as APPEND_SCRIPT, 6 the sender's bucket hash (send-rate.ts)
 * ARGV: 1..7 as APPEND_SCRIPT, 8 tokens per second, 9 burst, 10 bucket TTL ms
 * Returns: as APPEND_SCRIPT, or {"rate_limited", waitMs}
 */
export const RATED_APPEND_SCRIPT = appendScript(true);

/**
 * Vouches for a room's seq in this Redis run: raises seq and ts to at least what Cassandra
 * holds (never lowers them: another node may have seeded first, or sends went through) and
 * records the run. Run by the node after the append script answered "unseeded".
 *
 * KEYS: 1 room meta hash, 2 shard run key
 * ARGV: 1 Cassandra's latest seq of the room, 2 its ts, 3 run-key TTL ms
 */
export const SEED_SCRIPT = `${CURRENT_RUN}
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
local ts = tonumber(redis.call('HGET', KEYS[1], 'ts') or '0')
local stored = tonumber(ARGV[1])
local storedTs = tonumber(ARGV[2])
if stored > seq then redis.call('HSET', KEYS[1], 'seq', string.format('%.0f', stored)) end
if storedTs > ts then redis.call('HSET', KEYS[1], 'ts', string.format('%.0f', storedTs)) end
redis.call('HSET', KEYS[1], 'run', currentRun(KEYS[2], ARGV[3]))
return 1
`;

/**
 * Gives a stored message a new seq after the flusher found its seq already taken in Cassandra
 * by another message (a Redis that lost state handed it out again, and the other message's
 * write landed after the room was re-seeded: docs/durability.md, "No seq reused"). In one step:
 * the old entry leaves the stream (XACK + XDEL) and the recent history, the message is appended
 * again with the room's next seq, a new id and ts, and its idempotency record now answers the
 * new receipt. Answers "gone" when the old entry is no longer pending (another flusher did it).
 *
 * KEYS: as APPEND_SCRIPT
 * ARGV: 1 message head (as the append's), 2 random id part, 3 idempotency TTL ms, 4 run-key TTL
 *       ms, 5 recent-zset TTL ms, 6 old entry id, 7 consumer group, 8 old entry's JSON,
 *       9 the old entry's correlation id ("" for none), kept by the new entry
 * Returns: {"ok", receipt} | {"unseeded"} | {"gone"}
 */
export const RESEQUENCE_SCRIPT = `${CURRENT_RUN}${SEQUENCE}
if redis.call('HGET', KEYS[2], 'run') ~= currentRun(KEYS[5], ARGV[4]) then return {'unseeded'} end
if redis.call('XACK', KEYS[3], ARGV[7], ARGV[6]) == 0 then return {'gone'} end
redis.call('XDEL', KEYS[3], ARGV[6])
redis.call('ZREM', KEYS[4], ARGV[8])
return {'ok', sequence(ARGV[1], ARGV[2], ARGV[3], ARGV[5], ARGV[9])}
`;
