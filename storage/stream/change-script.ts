/**
 * The atomic change (edit, delete, react), as one Redis script beside the send's
 * (append-script.ts): the idempotency check, the buffer cap, whether the target exists in the
 * room and is not deleted, whether the user may change it, the 50-emoji cap, the seq and ts,
 * the stream write, the recent-changes write, the receipt and the message's new state all
 * happen together or not at all. So an edit racing a delete is decided by Redis's order: the
 * later one finds the message deleted and is refused; nothing can bring a deleted message back.
 *
 * Every key is the room's (change-keys.ts derives them from keys.ts), so they share the room's
 * slot on Redis Cluster. The user's rate token is taken before, in a step of its own (send-rate.ts).
 * A change is only sequenced by the Redis run that vouched for the room's seq, exactly as a send
 * (append-script.ts, "Runs"): any other run answers "unseeded" and the node seeds the room first.
 *
 * A message's state (change-keys.ts, messageState) is made on its first change: from the recent
 * history when the message is still there (marked `changed` there, so readers know to look), or
 * else seeded from Cassandra by the node (SEED_TARGET_SCRIPT) after the script answered
 * "unknown_target".
 *
 * KEYS: 1 idempotency key, 2 room meta hash, 3 shard stream, 4 room recent zset,
 *       5 room changes zset, 6 target's state hash, 7 shard run key
 * ARGV: 1 change JSON without seq, ts and closing brace, 2 kind, 3 by, 4 target id,
 *       5 target seq, 6 emoji, 7 on ("1"/"0"), 8 by may moderate ("1"/"0"), 9 new text,
 *       10 idempotency TTL ms, 11 max entries in the shard, 12 recent TTL ms, 13 state TTL ms,
 *       14 max distinct emoji, 15 run-key TTL ms, 16 correlation id ("" for none; the entry's
 *       field "t", entries.ts)
 * Returns: {"ok", "<seq> <ts>", noop "1"/"0"} | {"duplicate", "<seq> <ts>"} | {"unseeded"} |
 *   {"full"} | {"unknown_target"} | {"not_found"} | {"forbidden"} | {"too_many_emoji"}
 */
export const CHANGE_SCRIPT = `
local function currentRun(runKey, ttl)
  local run = redis.call('GET', runKey)
  if run then return run end
  run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
  redis.call('SET', runKey, run, 'PX', ttl)
  return run
end
local prior = redis.call('GET', KEYS[1])
if prior then return {'duplicate', prior} end
if redis.call('HGET', KEYS[2], 'run') ~= currentRun(KEYS[7], ARGV[15]) then return {'unseeded'} end
local lastSeq = redis.call('HGET', KEYS[2], 'seq')
if not lastSeq then return {'unseeded'} end
if redis.call('XLEN', KEYS[3]) >= tonumber(ARGV[11]) then return {'full'} end

local targetId = ARGV[4]
local targetSeq = tonumber(ARGV[5])
if targetSeq > tonumber(lastSeq) then return {'not_found'} end
if redis.call('EXISTS', KEYS[6]) == 0 then
  local found = redis.call('ZRANGEBYSCORE', KEYS[4], targetSeq, targetSeq)[1]
  if not found then
    -- The recent history is trimmed from the oldest: if it holds an older seq, or the seq is a
    -- change's, no message has this seq. Otherwise only Cassandra can tell.
    if #redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', targetSeq, 'LIMIT', 0, 1) > 0 then return {'not_found'} end
    if #redis.call('ZRANGEBYSCORE', KEYS[5], targetSeq, targetSeq) > 0 then return {'not_found'} end
    return {'unknown_target'}
  end
  local message = cjson.decode(found)
  if message.id ~= targetId then return {'not_found'} end
  redis.call('HSET', KEYS[6], 'seq', ARGV[5], 'from', message.from, 'deleted', message.deleted and '1' or '0')
  if not message.changed then
    redis.call('ZREMRANGEBYSCORE', KEYS[4], targetSeq, targetSeq)
    redis.call('ZADD', KEYS[4], targetSeq, string.sub(found, 1, -2) .. ',"changed":true}')
  end
end

local state = redis.call('HMGET', KEYS[6], 'seq', 'from', 'deleted', 'emojis')
if state[1] ~= ARGV[5] or state[3] ~= '0' then return {'not_found'} end
local kind = ARGV[2]
local by = ARGV[3]
if kind == 'edit' and by ~= state[2] then return {'forbidden'} end
if kind == 'delete' and by ~= state[2] and ARGV[8] ~= '1' then return {'forbidden'} end

local noop = false
local reactionField = 'r:' .. by .. '\\n' .. ARGV[6]
local emojiField = 'e:' .. ARGV[6]
if kind == 'react' then
  local has = redis.call('HEXISTS', KEYS[6], reactionField) == 1
  if ARGV[7] == '1' then
    if has then
      noop = true
    elseif (tonumber(redis.call('HGET', KEYS[6], emojiField)) or 0) == 0 and (tonumber(state[4]) or 0) >= tonumber(ARGV[14]) then
      return {'too_many_emoji'}
    end
  elseif not has then
    noop = true
  end
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local lastTs = tonumber(redis.call('HGET', KEYS[2], 'ts') or '0')
if now < lastTs then now = lastTs end
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
local seqText = string.format('%.0f', seq)
local tsText = string.format('%.0f', now)
redis.call('HSET', KEYS[2], 'ts', tsText)
local json = ARGV[1] .. ',"seq":' .. seqText .. ',"ts":' .. tsText .. (noop and ',"noop":true' or '') .. '}'
if ARGV[16] and ARGV[16] ~= '' then
  redis.call('XADD', KEYS[3], '*', 'm', json, 't', ARGV[16])
else
  redis.call('XADD', KEYS[3], '*', 'm', json)
end
redis.call('ZADD', KEYS[5], seq, json)
redis.call('PEXPIRE', KEYS[5], ARGV[12])
local receipt = seqText .. ' ' .. tsText
redis.call('SET', KEYS[1], receipt, 'PX', ARGV[10])

if kind == 'edit' then
  redis.call('HSET', KEYS[6], 'text', ARGV[9], 'editedAt', tsText)
elseif kind == 'delete' then
  redis.call('HSET', KEYS[6], 'deleted', '1')
  redis.call('HDEL', KEYS[6], 'text', 'editedAt')
  -- Deletion erases: the recent copy becomes a tombstone, earlier edits lose their text.
  local found = redis.call('ZRANGEBYSCORE', KEYS[4], targetSeq, targetSeq)[1]
  if found then
    local message = cjson.decode(found)
    local tombstone = cjson.encode({ id = message.id, room = message.room, seq = message.seq, from = message.from, clientId = message.clientId, text = '', ts = message.ts, deleted = true, changed = true })
    redis.call('ZREMRANGEBYSCORE', KEYS[4], targetSeq, targetSeq)
    redis.call('ZADD', KEYS[4], targetSeq, tombstone)
  end
  for _, entry in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], targetSeq, '(' .. seqText)) do
    local change = cjson.decode(entry)
    if change.kind == 'edit' and change.target == targetId then
      change.text = ''
      redis.call('ZREM', KEYS[5], entry)
      redis.call('ZADD', KEYS[5], change.seq, cjson.encode(change))
    end
  end
elseif kind == 'react' and not noop then
  if ARGV[7] == '1' then
    redis.call('HSET', KEYS[6], reactionField, seqText)
    if redis.call('HINCRBY', KEYS[6], emojiField, 1) == 1 then redis.call('HINCRBY', KEYS[6], 'emojis', 1) end
  else
    redis.call('HDEL', KEYS[6], reactionField)
    if redis.call('HINCRBY', KEYS[6], emojiField, -1) <= 0 then
      redis.call('HDEL', KEYS[6], emojiField)
      redis.call('HINCRBY', KEYS[6], 'emojis', -1)
    end
  end
end
redis.call('PEXPIRE', KEYS[6], ARGV[13])
return {'ok', receipt, noop and '1' or '0'}
`;

/**
 * Seeds a message's state from what Cassandra holds, for a target older than Redis's recent
 * history, unless the state exists already (another node seeded it, or a change went through).
 *
 * KEYS: 1 the target's state hash
 * ARGV: 1 state TTL ms, 2 seq, 3 from, 4 deleted ("1"/"0"), 5 text ("" = not edited),
 *       6 editedAt ("" = not edited), then reactions as triples user, emoji, seq
 */
export const SEED_TARGET_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'seq', ARGV[2], 'from', ARGV[3], 'deleted', ARGV[4], 'emojis', '0')
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'text', ARGV[5], 'editedAt', ARGV[6]) end
for i = 7, #ARGV, 3 do
  redis.call('HSET', KEYS[1], 'r:' .. ARGV[i] .. '\\n' .. ARGV[i + 1], ARGV[i + 2])
  if redis.call('HINCRBY', KEYS[1], 'e:' .. ARGV[i + 1], 1) == 1 then redis.call('HINCRBY', KEYS[1], 'emojis', 1) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;
