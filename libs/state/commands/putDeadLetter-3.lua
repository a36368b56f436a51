--[[
  Writes one dead-letter record, once per id, and keeps the dead-letter queue bounded.
  The runner writes the full record (with the worker's output tails) as an item fails; the
  scheduler writes, when the run ends, the records still missing (an item failed by a script, by
  the repair, or by a runner that crashed before writing). A runner's record replaces the
  scheduler's (it knows more); nothing else replaces a record, so a repeat is a no-op.
  KEYS: 1 the letter's hash, 2 the index (sorted set by time), 3 the run's set of letters
  ARGV: 1 id, 2 record (JSON), 3 source ('runner' | 'scheduler'), 4 now (ms),
        5 most records kept, 6 the dead-letter key prefix (to drop the oldest records' keys)
  Output: 1 written new, 0 already there (replaced when a runner's record met a scheduler's)
]]
local id, record, source, now, maxRecords, prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
if redis.call('EXISTS', KEYS[1]) == 1 then
  if source == 'runner' and redis.call('HGET', KEYS[1], 'source') == 'scheduler' then
    redis.call('HSET', KEYS[1], 'record', record, 'source', source)
  end
  return 0
end
redis.call('HSET', KEYS[1], 'record', record, 'source', source)
redis.call('ZADD', KEYS[2], now, id)
redis.call('SADD', KEYS[3], id)
-- Retention: past the cap, the oldest records go (their run sets lose them too). Their keys
-- share this script's hash tag (`prefix` holds it), so this stays in one slot on a cluster.
local over = redis.call('ZCARD', KEYS[2]) - maxRecords
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #old, 2 do
    local oid = old[i]
    redis.call('DEL', prefix .. 'letter:' .. oid)
    local dot = string.find(oid, '.', 1, true)
    if dot then redis.call('SREM', prefix .. 'run:' .. string.sub(oid, 1, dot - 1), oid) end
  end
end
return 1
