--[[
  Registers one chunk of a run's items: initial state, dependency counters, dependents lists and
  one event per item. Chunks are numbered; a chunk at or below the recorded progress is skipped,
  which makes a retried registration idempotent.
  KEYS: 1 meta, 2 items, 3 results, 4 pending, 5 dependents, 6 events
  ARGV: 1 runId, 2 at, 3 chunkIndex, then per item 7 values: itemId, depCount, dependentsCsv,
        job id when the item's job is added parked (to be woken when its last dependency ends;
        '' otherwise), definition hash (what beginItem checks the job's data against), the
        item's job id (for the repair of items whose job vanished), the item's first event
        (encoded; its state is "waiting" when depCount > 0, else "queued")
  Output: number of items registered (0 when the chunk was already done)
]]
--@include emit
local K = runKeys()
local runId, at, chunk = ARGV[1], ARGV[2], tonumber(ARGV[3])
if tonumber(redis.call('HGET', K.meta, 'registered') or '0') > chunk then return 0 end
local n = 0
for i = 4, #ARGV, 7 do
  local id, depCount, dependents, wakeJob, definition, jobId, body = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local state = 'queued'
  if depCount > 0 then
    state = 'waiting'
    redis.call('HSET', K.pending, id, depCount)
    if wakeJob ~= '' then redis.call('HSET', K.pending, 'wake:' .. id, wakeJob) end
  end
  redis.call('HSET', K.items, id, state)
  redis.call('HSET', K.pending, 'def:' .. id, definition, 'job:' .. id, jobId)
  if dependents ~= '' then redis.call('HSET', K.dependents, id, dependents) end
  emit(K.meta, K.events, runId, at, body)
  n = n + 1
end
redis.call('HSET', K.meta, 'registered', chunk + 1)
return n
